//! The `cloud:` section of the config file: its YAML shape ([`file`]), checked into the
//! settings the node runs with ([`CloudSettings`]); the live-room keys in [`rooms`].

mod file;
mod rooms;

pub use file::{CloudConfig, ServerKey};

use relay_control::auth::{
    Credentials, KeyPair, KeyRing, PushKeys, PushScheme, ReadAuth, SecretKey, ServerAuth,
};
use relay_control::{ConnectionLimits, HttpLimits};
use relay_node::{
    parse_addr, parse_multicast_if, parse_optional_addr, refuse_placeholders, LogKeys, NodeConfig,
    NodeError, PLACEHOLDER_API_TOKEN, PLACEHOLDER_EDGE_TOKEN, PLACEHOLDER_JWT_KEY,
    PLACEHOLDER_SECRET_KEY,
};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Shortest publish key, secret key or API token accepted: a short HMAC key can be guessed
/// offline from one signed URL, a short token online.
const MIN_SECRET_LEN: usize = 16;

/// Checked and parsed settings.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// RTMP listen address, from `rtmp_addr`.
    pub rtmp_addr: SocketAddr,
    /// HTTP API listen address, from `api_addr`.
    pub api_addr: SocketAddr,
    /// `/metrics` and `/status` on a listener of their own; `None`: on `api_addr`.
    pub metrics_addr: Option<SocketAddr>,
    /// Directory of the cloud's state (stream keys, default rooms database), from `data_dir`.
    pub data_dir: PathBuf,
    /// Where RTP is sent: IPv4 unicast edges and multicast groups from `client_addr_list`,
    /// at least one, none with an unspecified host or port 0.
    pub destinations: Vec<SocketAddrV4>,
    /// Interface multicast leaves by, from `multicast_if`; `None` lets the kernel choose.
    pub multicast_if: Option<Ipv4Addr>,
    /// TTL of multicast datagrams, 1–255, from `multicast_ttl`.
    pub multicast_ttl: u32,
    /// Largest UDP datagram sent, headers included, 64–65507 bytes, from `rtp_max_datagram`.
    pub rtp_max_datagram: usize,
    /// UDP address of the QUIC repair server, from `quic_addr`.
    pub quic_addr: SocketAddr,
    /// PEM certificate of the repair server, from `quic_cert_file`.
    pub quic_cert_file: PathBuf,
    /// PEM private key of the repair server, from `quic_key_file`.
    pub quic_key_file: PathBuf,
    /// Tokens accepted from edges on the repair connection, from `edge_tokens`: at least
    /// one, each 1–1024 characters.
    pub edge_tokens: Vec<String>,
    /// RTP packets kept per stream for repair, 16–1000000, from `rtp_cache_size`.
    pub rtp_cache_size: usize,
    /// Payload bytes kept per stream for repair, at least 1 MiB, from `rtp_cache_bytes`.
    pub rtp_cache_bytes: usize,
    /// Packets answered per second on one edge's repair connection.
    pub nack_budget_pps: u64,
    /// How long shutdown waits for the tasks and recordings still running.
    pub shutdown_grace: Duration,
    /// Where recordings go; `None` when recording is off.
    pub record_dir: Option<PathBuf>,
    /// How RTMP publish URLs are authenticated, from `publish_auth`; its key is in
    /// `push_keys`.
    pub publish_auth: PushScheme,
    /// `publish_key` and the `server_keys` ring that sign and verify push URLs; the ring also
    /// verifies server-signed API requests.
    pub push_keys: PushKeys,
    /// What the control API's writes, and its reads when closed, accept.
    pub api_credentials: Arc<Credentials>,
    /// Whether the read routes (stats, streams, `/metrics`, `/status`) need credentials, from
    /// `api_read_auth`.
    pub api_read_auth: ReadAuth,
    /// GET on `/control/*` creates, resets and deletes keys as in livego (with credentials).
    pub livego_compat_get: bool,
    /// The live-room API's checked settings (database, keys, presence, webhooks, gifts).
    pub rooms: relay_rooms_api::RoomsSettings,
    /// The Redis server the rooms' live state is shared through (`redis_*` keys); `None`:
    /// this node's memory.
    pub redis: Option<relay_rooms_api::RedisConfig>,
    /// Bounds of the RTMP listener: connections, timeouts and unpublished bytes
    /// (`rtmp_*` keys).
    pub rtmp_limits: crate::rtmp::RtmpLimits,
    /// Limits of `api_addr`, and of `metrics_addr` when set.
    pub http_limits: HttpLimits,
    /// The origins whose pages may call `/client/*`, from `cors_allow_origins`; `None`: no
    /// CORS headers.
    pub cors: Option<crate::cors::ClientCors>,
    /// HTTPS on `api_addr` and `metrics_addr`, from `cert_file` and `key_file`; `None`: HTTP.
    pub tls: Option<std::sync::Arc<relay_control::tls::TlsFiles>>,
}

impl NodeConfig for CloudConfig {
    const SECTION: &'static str = "cloud";
    type Settings = CloudSettings;

    fn validate(&self) -> Result<CloudSettings, NodeError> {
        let mut destinations = Vec::with_capacity(self.client_addr_list.len());
        for value in &self.client_addr_list {
            match parse_addr("cloud.client_addr_list", value)? {
                SocketAddr::V4(addr) if !addr.ip().is_unspecified() && addr.port() != 0 => {
                    destinations.push(addr)
                }
                _ => {
                    return Err(NodeError::bad_value(
                        "cloud.client_addr_list",
                        format!("{value:?} must be an IPv4 host:port with a host and a port"),
                    ))
                }
            }
        }
        if destinations.is_empty() {
            return Err(NodeError::bad_value(
                "cloud.client_addr_list",
                "needs at least one edge or multicast group",
            ));
        }
        if !(1..=255).contains(&self.multicast_ttl) {
            return Err(NodeError::bad_value(
                "cloud.multicast_ttl",
                "must be 1 to 255",
            ));
        }
        if !(64..=65_507).contains(&self.rtp_max_datagram) {
            return Err(NodeError::bad_value(
                "cloud.rtp_max_datagram",
                "must be 64 to 65507",
            ));
        }
        if self.edge_tokens.is_empty()
            || self
                .edge_tokens
                .iter()
                .any(|t| t.is_empty() || t.len() > 1024)
        {
            return Err(NodeError::bad_value(
                "cloud.edge_tokens",
                "needs at least one token, each 1 to 1024 characters",
            ));
        }
        if !(16..=1_000_000).contains(&self.rtp_cache_size) {
            return Err(NodeError::bad_value(
                "cloud.rtp_cache_size",
                "must be 16 to 1000000 packets",
            ));
        }
        if self.rtp_cache_bytes < 1 << 20 {
            return Err(NodeError::bad_value(
                "cloud.rtp_cache_bytes",
                "must be at least 1048576",
            ));
        }
        if !(100..=10_000_000).contains(&self.nack_budget_pps) {
            return Err(NodeError::bad_value(
                "cloud.nack_budget_pps",
                "must be 100 to 10000000 packets a second",
            ));
        }
        if !(100..=600_000).contains(&self.shutdown_grace_ms) {
            return Err(NodeError::bad_value(
                "cloud.shutdown_grace_ms",
                "must be 100 to 600000",
            ));
        }
        for (key, value) in [
            ("cloud.quic_cert_file", &self.quic_cert_file),
            ("cloud.quic_key_file", &self.quic_key_file),
            ("cloud.data_dir", &self.data_dir),
        ] {
            if value.is_empty() {
                return Err(NodeError::bad_value(key, "must name a file"));
            }
        }
        let push_keys = self.push_keys()?;
        let api_credentials = self.api_credentials(&push_keys.key_ring)?;
        let record_dir = if self.enable_record {
            Some(check_record_dir(&self.record_dir)?)
        } else {
            None
        };
        Ok(CloudSettings {
            rtmp_addr: parse_addr("cloud.rtmp_addr", &self.rtmp_addr)?,
            api_addr: parse_addr("cloud.api_addr", &self.api_addr)?,
            metrics_addr: parse_optional_addr("cloud.metrics_addr", &self.metrics_addr)?,
            data_dir: PathBuf::from(&self.data_dir),
            destinations,
            multicast_if: parse_multicast_if("cloud.multicast_if", &self.multicast_if)?,
            multicast_ttl: self.multicast_ttl,
            rtp_max_datagram: self.rtp_max_datagram,
            quic_addr: parse_addr("cloud.quic_addr", &self.quic_addr)?,
            quic_cert_file: PathBuf::from(&self.quic_cert_file),
            quic_key_file: PathBuf::from(&self.quic_key_file),
            edge_tokens: self.edge_tokens.clone(),
            rtp_cache_size: self.rtp_cache_size,
            rtp_cache_bytes: self.rtp_cache_bytes,
            nack_budget_pps: self.nack_budget_pps,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            record_dir,
            publish_auth: self.publish_auth,
            api_credentials,
            api_read_auth: self.api_read_auth,
            livego_compat_get: self.livego_compat_get,
            rooms: rooms::rooms_settings(self, &push_keys)?,
            redis: rooms::redis_settings(self)?,
            push_keys,
            rtmp_limits: self.rtmp_limits()?,
            http_limits: self.http_limits()?,
            cors: crate::cors::ClientCors::parse(
                "cloud.cors_allow_origins",
                &self.cors_allow_origins,
            )?,
            tls: relay_control::tls::TlsFiles::from_keys(&self.cert_file, &self.key_file)
                .map_err(|(key, reason)| NodeError::bad_value(&format!("cloud.{key}"), reason))?,
        })
    }

    fn check_secrets(&self, settings: &CloudSettings) -> Result<(), NodeError> {
        let mut listeners = vec![
            ("cloud.rtmp_addr", settings.rtmp_addr),
            ("cloud.api_addr", settings.api_addr),
            ("cloud.quic_addr", settings.quic_addr),
        ];
        listeners.extend(
            settings
                .metrics_addr
                .map(|addr| ("cloud.metrics_addr", addr)),
        );
        refuse_placeholders(
            &listeners,
            &[
                (
                    "cloud.edge_tokens",
                    self.edge_tokens.iter().any(|t| t == PLACEHOLDER_EDGE_TOKEN),
                ),
                (
                    "cloud.server_keys",
                    self.server_keys
                        .iter()
                        .any(|k| k.secret_key == PLACEHOLDER_SECRET_KEY),
                ),
                ("cloud.jwt_key", self.jwt_key == PLACEHOLDER_JWT_KEY),
                ("cloud.api_token", self.api_token == PLACEHOLDER_API_TOKEN),
            ],
        )
    }

    fn log_keys(&self) -> LogKeys<'_> {
        relay_node::log_keys_of!(self)
    }
}

impl CloudConfig {
    /// The API token and the server keys: one of them must be there, or no one could ever
    /// change anything through the control API.
    fn api_credentials(&self, key_ring: &KeyRing) -> Result<Arc<Credentials>, NodeError> {
        let token = optional_secret("cloud.api_token", &self.api_token)?;
        let server = (!key_ring.is_empty()).then(|| ServerAuth::new(key_ring.clone()));
        Credentials::new(token, server).map(Arc::new).ok_or_else(|| {
            NodeError::bad_value(
                "cloud.api_token",
                "is empty and cloud.server_keys has no pair: nothing could authorise the control API",
            )
        })
    }

    fn rtmp_limits(&self) -> Result<crate::rtmp::RtmpLimits, NodeError> {
        let connections =
            ConnectionLimits::checked(self.rtmp_max_connections, self.rtmp_max_connections_per_ip)
                .map_err(|reason| {
                    let key = match self.rtmp_max_connections {
                        0 => "cloud.rtmp_max_connections",
                        _ => "cloud.rtmp_max_connections_per_ip",
                    };
                    NodeError::bad_value(key, reason)
                })?;
        let seconds = |key: &str, value: u64| match value {
            1..=3600 => Ok(Duration::from_secs(value)),
            _ => Err(NodeError::bad_value(key, "must be 1 to 3600 s")),
        };
        if self.rtmp_max_unpublished_bytes < 4096 {
            return Err(NodeError::bad_value(
                "cloud.rtmp_max_unpublished_bytes",
                "must be at least 4096 (connect and publish commands fit in that)",
            ));
        }
        if !(10..=60_000).contains(&self.rtmp_publish_decision_timeout_ms) {
            return Err(NodeError::bad_value(
                "cloud.rtmp_publish_decision_timeout_ms",
                "must be 10 to 60000",
            ));
        }
        Ok(crate::rtmp::RtmpLimits {
            connections,
            handshake_timeout: seconds(
                "cloud.rtmp_handshake_timeout_s",
                self.rtmp_handshake_timeout_s,
            )?,
            publish_timeout: seconds("cloud.rtmp_publish_timeout_s", self.rtmp_publish_timeout_s)?,
            idle_timeout: seconds("cloud.rtmp_idle_timeout_s", self.rtmp_idle_timeout_s)?,
            max_unpublished_bytes: self.rtmp_max_unpublished_bytes,
            decision_timeout: Duration::from_millis(self.rtmp_publish_decision_timeout_ms),
        })
    }

    fn http_limits(&self) -> Result<HttpLimits, NodeError> {
        relay_control::http_keys_of!(self)
            .limits()
            .map_err(|(key, reason)| NodeError::bad_value(&format!("cloud.{key}"), reason))
    }

    /// The keys publish URLs are signed with; the scheme in `publish_auth` must have its key.
    fn push_keys(&self) -> Result<PushKeys, NodeError> {
        let publish_key = optional_secret("cloud.publish_key", &self.publish_key)?;
        let mut pairs = Vec::with_capacity(self.server_keys.len());
        for key in &self.server_keys {
            if key.secret_key.len() < MIN_SECRET_LEN {
                return Err(NodeError::bad_value(
                    "cloud.server_keys",
                    format!(
                        "the secret_key of {:?} must be at least {MIN_SECRET_LEN} characters",
                        key.access_key
                    ),
                ));
            }
            let pair = SecretKey::new(key.secret_key.as_bytes())
                .and_then(|secret| KeyPair::new(key.access_key.clone(), secret))
                .map_err(|e| NodeError::bad_value("cloud.server_keys", e.to_string()))?;
            pairs.push(pair);
        }
        let key_ring = KeyRing::new(pairs)
            .map_err(|e| NodeError::bad_value("cloud.server_keys", e.to_string()))?;
        match self.publish_auth {
            PushScheme::Expiry if publish_key.is_none() => Err(NodeError::bad_value(
                "cloud.publish_auth",
                "expiry needs cloud.publish_key",
            )),
            PushScheme::ExpirySk if key_ring.is_empty() => Err(NodeError::bad_value(
                "cloud.publish_auth",
                "expiry_sk needs at least one pair in cloud.server_keys",
            )),
            _ => Ok(PushKeys {
                publish_key,
                key_ring,
            }),
        }
    }
}

/// A secret that may be left empty (none), and otherwise is long enough not to be guessed.
fn optional_secret(key: &str, value: &str) -> Result<Option<SecretKey>, NodeError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() < MIN_SECRET_LEN {
        return Err(NodeError::bad_value(
            key,
            format!("must be at least {MIN_SECRET_LEN} characters, or \"\" for none"),
        ));
    }
    SecretKey::new(value.as_bytes())
        .map(Some)
        .map_err(|e| NodeError::bad_value(key, e.to_string()))
}

/// What can be known about `cloud.record_dir` without writing anything (`--check-config` runs
/// this too): it is named, and the nearest part of it that exists is a directory. Creating it
/// and writing in it are tried at start.
fn check_record_dir(value: &str) -> Result<PathBuf, NodeError> {
    const KEY: &str = "cloud.record_dir";
    if value.is_empty() || value.contains('\0') {
        return Err(NodeError::bad_value(
            KEY,
            "must name a directory while cloud.enable_record is on",
        ));
    }
    let dir = PathBuf::from(value);
    for existing in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        match std::fs::metadata(existing) {
            Ok(found) if found.is_dir() => break,
            Ok(_) => {
                return Err(NodeError::bad_value(
                    KEY,
                    format!("{value:?}: {} is not a directory", existing.display()),
                ))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(NodeError::bad_value(KEY, format!("{value:?}: {error}"))),
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_holds_the_defaults() {
        let shipped: CloudConfig = serde_yaml::from_value(
            serde_yaml::from_str::<serde_yaml::Value>(relay_node::DEFAULT_CONFIG).unwrap()["cloud"]
                .clone(),
        )
        .unwrap();
        // The shipped file binds loopback, where its placeholder secrets are allowed.
        let defaults = CloudConfig::default();
        for (shipped, default) in [
            (&shipped.rtmp_addr, &defaults.rtmp_addr),
            (&shipped.api_addr, &defaults.api_addr),
            (&shipped.quic_addr, &defaults.quic_addr),
        ] {
            assert_eq!(format!("127.0.0.1{default}"), *shipped);
        }
        let widened = CloudConfig {
            rtmp_addr: defaults.rtmp_addr.clone(),
            api_addr: defaults.api_addr.clone(),
            quic_addr: defaults.quic_addr.clone(),
            ..shipped.clone()
        };
        assert_eq!(format!("{widened:?}"), format!("{defaults:?}"));
        let settings = shipped.validate().unwrap();
        shipped.check_secrets(&settings).unwrap();
    }

    #[test]
    fn placeholders_are_refused_beyond_loopback() {
        let defaults = CloudConfig::default();
        let error = defaults
            .check_secrets(&defaults.validate().unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("cloud.edge_tokens: "), "{error}");
        type Change = fn(&mut CloudConfig);
        let own: [(Change, &str); 4] = [
            (
                |c| c.edge_tokens = vec!["own-edge-token-0123456789".into()],
                "cloud.server_keys",
            ),
            (
                |c| c.server_keys[0].secret_key = "own-secret-0123456789".into(),
                "cloud.jwt_key",
            ),
            (
                |c| c.jwt_key = "own-jwt-key-0123456789".into(),
                "cloud.api_token",
            ),
            (|c| c.api_token = "own-api-token-0123456789".into(), ""),
        ];
        let mut config = CloudConfig::default();
        for (change, next) in own {
            change(&mut config);
            let result = config.check_secrets(&config.validate().unwrap());
            match result {
                Ok(()) => assert_eq!(next, ""),
                Err(error) => assert!(error.to_string().starts_with(next), "{error}"),
            }
        }
    }

    #[test]
    fn api_credentials_are_checked() {
        let cases = [
            ("short", true, Some("cloud.api_token: must be at least")),
            ("", false, Some("nothing could authorise")),
            ("", true, None),
        ];
        for (api_token, with_server_keys, error) in cases {
            let config = CloudConfig {
                api_token: api_token.into(),
                server_keys: CloudConfig::default()
                    .server_keys
                    .into_iter()
                    .filter(|_| with_server_keys)
                    .collect(),
                server_auth: with_server_keys,
                ..Default::default()
            };
            match (config.validate(), error) {
                (Ok(_), None) => {}
                (Err(found), Some(needle)) => {
                    assert!(found.to_string().contains(needle), "{found}")
                }
                (result, _) => panic!("{api_token:?} {with_server_keys}: {result:?}"),
            }
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                CloudConfig {
                    client_addr_list: vec![],
                    ..Default::default()
                },
                "cloud.client_addr_list",
            ),
            (
                CloudConfig {
                    client_addr_list: vec![":5222".into()],
                    ..Default::default()
                },
                "cloud.client_addr_list",
            ),
            (
                CloudConfig {
                    multicast_ttl: 0,
                    ..Default::default()
                },
                "cloud.multicast_ttl",
            ),
            (
                CloudConfig {
                    shutdown_grace_ms: 99,
                    ..Default::default()
                },
                "cloud.shutdown_grace_ms",
            ),
            (
                CloudConfig {
                    rtp_max_datagram: 10,
                    ..Default::default()
                },
                "cloud.rtp_max_datagram",
            ),
            (
                CloudConfig {
                    rtmp_addr: "x".into(),
                    ..Default::default()
                },
                "cloud.rtmp_addr",
            ),
            (
                CloudConfig {
                    multicast_if: "lo".into(),
                    ..Default::default()
                },
                "cloud.multicast_if",
            ),
            (
                CloudConfig {
                    rtmp_max_connections_per_ip: 2000,
                    ..Default::default()
                },
                "cloud.rtmp_max_connections_per_ip",
            ),
            (
                CloudConfig {
                    rtmp_publish_timeout_s: 0,
                    ..Default::default()
                },
                "cloud.rtmp_publish_timeout_s",
            ),
            (
                CloudConfig {
                    rtmp_max_unpublished_bytes: 100,
                    ..Default::default()
                },
                "cloud.rtmp_max_unpublished_bytes",
            ),
            (
                CloudConfig {
                    http_max_header_bytes: 100,
                    ..Default::default()
                },
                "cloud.http_max_header_bytes",
            ),
        ];
        for (config, key) in cases {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with(key), "{error}");
        }
    }

    #[test]
    fn publish_auth_needs_its_key() {
        let pair = |secret: &str| ServerKey {
            access_key: "ak-1".into(),
            secret_key: secret.into(),
        };
        let cases = [
            (
                PushScheme::Expiry,
                "",
                vec![],
                Some("cloud.publish_auth: expiry needs"),
            ),
            (
                PushScheme::Expiry,
                "short",
                vec![],
                Some("cloud.publish_key: must be at least"),
            ),
            (PushScheme::Expiry, "0123456789abcdef", vec![], None),
            (
                PushScheme::ExpirySk,
                "",
                vec![],
                Some("cloud.publish_auth: expiry_sk needs"),
            ),
            (
                PushScheme::ExpirySk,
                "",
                vec![pair("short")],
                Some("cloud.server_keys: "),
            ),
            (
                PushScheme::ExpirySk,
                "",
                vec![pair("0123456789abcdef"), pair("0123456789abcdef")],
                Some("cloud.server_keys: "),
            ),
            (
                PushScheme::ExpirySk,
                "",
                vec![pair("0123456789abcdef")],
                None,
            ),
            (PushScheme::None, "", vec![], None),
        ];
        for (scheme, key, pairs, error) in cases {
            let config = CloudConfig {
                publish_auth: scheme,
                publish_key: key.into(),
                server_keys: pairs,
                server_auth: false,
                ..Default::default()
            };
            match (config.validate(), error) {
                (Ok(settings), None) => assert_eq!(settings.publish_auth, scheme),
                (Err(e), Some(prefix)) => assert!(e.to_string().starts_with(prefix), "{e}"),
                (result, _) => panic!("{scheme:?} {key:?}: {result:?}"),
            }
        }
    }

    #[test]
    fn room_keys_are_checked() {
        type Change = fn(&mut CloudConfig);
        let cases: [(Change, &str); 19] = [
            (|c| c.jwt_key = "short".into(), "cloud.jwt_key: "),
            (
                |c| c.database_url = "mysql://x".into(),
                "cloud.database_url: ",
            ),
            (|c| c.server_keys.clear(), "cloud.server_auth: "),
            (
                |c| c.publish_base_url = "http://x/live".into(),
                "cloud.publish_base_url: ",
            ),
            (
                |c| c.publish_base_url = "rtmp://x".into(),
                "cloud.publish_base_url: ",
            ),
            (
                |c| c.play_base_urls = vec!["ftp://x/live".into()],
                "cloud.play_base_urls: ",
            ),
            (|c| c.presence_expire_s = 5, "cloud.presence_expire_s: "),
            (
                |c| c.callback_addr = "http://app/hook".into(),
                "cloud.callback_secret: ",
            ),
            (
                |c| {
                    c.callback_addr = "app/hook".into();
                    c.callback_secret = "0123456789abcdef".into();
                },
                "cloud.callback_addr: ",
            ),
            (
                |c| c.gift_addr = "http://app/pay".into(),
                "cloud.callback_secret: ",
            ),
            (
                |c| {
                    c.gift_addr = "app/pay".into();
                    c.callback_secret = "0123456789abcdef".into();
                },
                "cloud.gift_addr: ",
            ),
            (|c| c.gift_timeout_ms = 50, "cloud.gift_timeout_ms: "),
            (
                |c| c.gift_max_custom_amount = 0,
                "cloud.gift_max_custom_amount: ",
            ),
            (|c| c.gift_reconcile_s = 0, "cloud.gift_reconcile_s: "),
            (|c| c.events_token_ttl_s = 0, "cloud.events_token_ttl_s: "),
            (
                |c| c.events_token_ttl_s = 3601,
                "cloud.events_token_ttl_s: ",
            ),
            (
                |c| c.callback_dead_after_s = 30 * 86_400 + 1,
                "cloud.callback_dead_after_s: ",
            ),
            (
                |c| c.cors_allow_origins = vec!["app.example".into()],
                "cloud.cors_allow_origins: ",
            ),
            (
                |c| c.cors_allow_origins = vec!["https://app.example/page".into()],
                "cloud.cors_allow_origins: ",
            ),
        ];
        for (change, prefix) in cases {
            let mut config = CloudConfig::default();
            change(&mut config);
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with(prefix), "{error}");
        }
        let settings = CloudConfig::default().validate().unwrap();
        assert_eq!(settings.rooms.database_url, "sqlite://data/rooms.db");
        assert_eq!(settings.rooms.publish_app, "live");
        assert!(
            settings.rooms.gift_payment.is_none(),
            "gifts are off by default"
        );
        let config = CloudConfig {
            gift_addr: "http://127.0.0.1:9/pay".into(),
            callback_secret: "0123456789abcdef".into(),
            gift_timeout_ms: 1500,
            gift_reconcile_s: 2,
            ..CloudConfig::default()
        };
        let rooms = config.validate().unwrap().rooms;
        let payment = rooms.gift_payment.expect("gift_addr set");
        assert_eq!(payment.timeout, std::time::Duration::from_millis(1500));
        assert_eq!(payment.retry.first, std::time::Duration::from_secs(2));
        assert_eq!(rooms.gift_reconcile, std::time::Duration::from_secs(2));
        let seconds = std::time::Duration::from_secs;
        let webhooks = |dead_after_s| {
            let config = CloudConfig {
                callback_addr: "http://127.0.0.1:9/hook".into(),
                callback_secret: "0123456789abcdef".into(),
                callback_dead_after_s: dead_after_s,
                ..CloudConfig::default()
            };
            config
                .validate()
                .unwrap()
                .rooms
                .callback
                .expect("callback_addr set")
        };
        assert_eq!(webhooks(86_400).dead_after, Some(seconds(86_400)));
        assert_eq!(webhooks(0).dead_after, None, "0 never gives up");
        let defaults = CloudConfig::default().validate().unwrap();
        assert_eq!(defaults.rooms.events_token_ttl, seconds(60));
        assert!(defaults.cors.is_none(), "no CORS by default");
    }

    #[test]
    fn redis_keys_are_checked() {
        let shared = |change: fn(&mut CloudConfig)| {
            let mut config = CloudConfig {
                database_url: "postgres://db/rooms".into(),
                redis_url: "redis://127.0.0.1:6379/0".into(),
                ..CloudConfig::default()
            };
            change(&mut config);
            config.validate()
        };
        type Change = fn(&mut CloudConfig);
        let cases: [(Change, &str); 5] = [
            (|c| c.redis_url = "http://x".into(), "cloud.redis_url: "),
            (|c| c.redis_url = "redis://".into(), "cloud.redis_url: "),
            (|c| c.database_url = String::new(), "cloud.redis_url: "),
            (|c| c.redis_prefix = "a b".into(), "cloud.redis_prefix: "),
            (|c| c.redis_timeout_ms = 10, "cloud.redis_timeout_ms: "),
        ];
        for (change, prefix) in cases {
            let error = shared(change).unwrap_err().to_string();
            assert!(error.starts_with(prefix), "{error}");
        }
        let redis = shared(|_| {}).unwrap().redis.expect("redis_url set");
        assert_eq!(redis.prefix, "liverelay:");
        assert_eq!(redis.timeout, std::time::Duration::from_millis(500));
        assert!(CloudConfig::default().validate().unwrap().redis.is_none());
    }

    #[test]
    fn record_dir_is_checked_only_when_recording() {
        let file = std::env::temp_dir().join(format!("liverelay-config-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let under_file = file.join("record").to_string_lossy().into_owned();
        for (enable_record, record_dir, error) in [
            (true, "", Some("cloud.record_dir: must name a directory")),
            (true, under_file.as_str(), Some("cloud.record_dir: ")),
            (true, "not/there/yet", None),
            (false, under_file.as_str(), None),
        ] {
            let config = CloudConfig {
                enable_record,
                record_dir: record_dir.into(),
                ..Default::default()
            };
            match (config.validate(), error) {
                (Ok(settings), None) => assert_eq!(
                    settings.record_dir,
                    enable_record.then(|| PathBuf::from(record_dir))
                ),
                (Err(found), Some(error)) => {
                    assert!(found.to_string().starts_with(error), "{found}")
                }
                (result, _) => panic!("{record_dir:?}: {result:?}"),
            }
        }
        std::fs::remove_file(&file).unwrap();
    }
}
