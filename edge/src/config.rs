//! The `edge:` section of the config file.

use relay_control::auth::{Credentials, ReadAuth, SecretKey};
use relay_control::HttpLimits;
use relay_node::{
    parse_addr, parse_multicast_if, parse_optional_addr, refuse_placeholders, LogKeys, NodeConfig,
    NodeError, DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES, PLACEHOLDER_API_TOKEN,
    PLACEHOLDER_EDGE_TOKEN,
};
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// As written in YAML; every key documented in the shipped `config.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    pub udp_addr: String,
    pub multicast_if: String,
    pub flv_addr: String,
    pub metrics_addr: String,
    pub playout_deadline_ms: u64,
    pub player_queue_bytes: usize,
    pub udp_recv_buffer: usize,
    pub max_streams: usize,
    pub shutdown_grace_ms: u64,
    pub play_auth: String,
    pub play_key: String,
    pub on_play: String,
    pub on_play_secret: String,
    pub on_play_timeout_ms: u64,
    pub on_play_cache_s: u64,
    pub cloud_quic_addr: String,
    pub cloud_server_name: String,
    pub cloud_cert_file: String,
    pub cloud_cert_fingerprint: String,
    pub cloud_ca_file: String,
    pub edge_token: String,
    pub edge_name: String,
    pub api_read_auth: ReadAuth,
    pub api_token: String,
    pub log_level: String,
    pub enable_log_file: bool,
    pub log_file: String,
    pub log_max_bytes: u64,
    pub log_max_files: u32,
    pub http_max_connections: usize,
    pub http_max_connections_per_ip: usize,
    pub http_header_timeout_ms: u64,
    pub http_max_header_bytes: usize,
    pub http_max_body_bytes: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            udp_addr: ":5222".into(),
            multicast_if: String::new(),
            flv_addr: ":7001".into(),
            metrics_addr: String::new(),
            playout_deadline_ms: 300,
            player_queue_bytes: 4 << 20,
            udp_recv_buffer: 8 << 20,
            max_streams: 1024,
            shutdown_grace_ms: 5000,
            play_auth: "none".into(),
            play_key: String::new(),
            on_play: String::new(),
            on_play_secret: String::new(),
            on_play_timeout_ms: 2000,
            on_play_cache_s: 10,
            cloud_quic_addr: "127.0.0.1:4242".into(),
            cloud_server_name: "liverelay-cloud".into(),
            cloud_cert_file: "cloud-cert.pem".into(),
            cloud_cert_fingerprint: String::new(),
            cloud_ca_file: String::new(),
            edge_token: PLACEHOLDER_EDGE_TOKEN.into(),
            edge_name: String::new(),
            api_read_auth: ReadAuth::Auto,
            api_token: PLACEHOLDER_API_TOKEN.into(),
            log_level: "info".into(),
            enable_log_file: false,
            log_file: "edge.log".into(),
            log_max_bytes: DEFAULT_LOG_MAX_BYTES,
            log_max_files: DEFAULT_LOG_MAX_FILES,
            http_max_connections: 4096,
            http_max_connections_per_ip: 256,
            http_header_timeout_ms: 10_000,
            http_max_header_bytes: 16 << 10,
            http_max_body_bytes: 64 << 10,
        }
    }
}

/// Checked and parsed settings.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    pub udp_addr: SocketAddr,
    pub multicast_if: Option<Ipv4Addr>,
    pub flv_addr: SocketAddr,
    /// `/metrics` and `/status` on a listener of their own; `None`: on `flv_addr`.
    pub metrics_addr: Option<SocketAddr>,
    pub playout_deadline: Duration,
    pub player_queue_bytes: usize,
    pub udp_recv_buffer: usize,
    /// Streams served at once; the cloud announcing more is refused (counted).
    pub max_streams: usize,
    /// How long shutdown waits for the edge's tasks (stream tasks, players' responses, the
    /// repair connection's close) once they are told to stop.
    pub shutdown_grace: Duration,
    /// The repair connection, which also brings every stream's media key.
    pub repair: RepairSettings,
    pub play: PlaySettings,
    pub api_read_auth: ReadAuth,
    /// The API token reads need where `api_read_auth` closes them; `None` when it closes none.
    pub api_credentials: Option<Arc<Credentials>>,
    /// Limits of `flv_addr`, and of `metrics_addr` when set.
    pub http_limits: HttpLimits,
}

/// Who may play: signed play URLs and the `on_play` hook, each optional.
#[derive(Debug, Clone, Default)]
pub struct PlaySettings {
    /// `play_auth: expiry`: play URLs must be signed with this key.
    pub play_key: Option<String>,
    /// `on_play`: the app's URL and the secret its requests are signed with.
    pub on_play: Option<(String, String)>,
    pub on_play_timeout: Duration,
    pub on_play_cache: Duration,
}

/// Shortest `api_token`: it is guessed online, one request per try, but a short one soon is.
const MIN_TOKEN_LEN: usize = 16;

impl EdgeSettings {
    /// The listeners reads are served on, by key.
    fn read_listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut listeners = vec![("edge.flv_addr", self.flv_addr)];
        listeners.extend(self.metrics_addr.map(|addr| ("edge.metrics_addr", addr)));
        listeners
    }

    /// Whether `api_read_auth` closes reads on any listener, so the API token is in use.
    fn reads_closed(&self) -> bool {
        self.read_listeners()
            .iter()
            .any(|(_, addr)| self.api_read_auth.closed_on(*addr))
    }
}

/// How the edge reaches and recognises the cloud's repair server.
#[derive(Debug, Clone)]
pub struct RepairSettings {
    pub cloud_addr: SocketAddr,
    pub server_name: String,
    pub trust: TrustSource,
    pub token: String,
    pub edge_name: String,
}

/// Where the cloud's identity comes from; files are read at every connection attempt, so an
/// edge may start before the cloud has made its certificate.
#[derive(Debug, Clone)]
pub enum TrustSource {
    Fingerprint([u8; 32]),
    CertFile(PathBuf),
    CaFile(PathBuf),
}

impl NodeConfig for EdgeConfig {
    const SECTION: &'static str = "edge";
    type Settings = EdgeSettings;

    fn validate(&self) -> Result<EdgeSettings, NodeError> {
        if !(10..=60_000).contains(&self.playout_deadline_ms) {
            return Err(NodeError::bad_value(
                "edge.playout_deadline_ms",
                "must be 10 to 60000",
            ));
        }
        if self.player_queue_bytes < 65_536 {
            return Err(NodeError::bad_value(
                "edge.player_queue_bytes",
                "must be at least 65536",
            ));
        }
        let udp_addr = parse_addr("edge.udp_addr", &self.udp_addr)?;
        if udp_addr.ip().is_multicast() && !udp_addr.is_ipv4() {
            return Err(NodeError::bad_value(
                "edge.udp_addr",
                "only IPv4 multicast groups are supported",
            ));
        }
        if !(1..=65_536).contains(&self.max_streams) {
            return Err(NodeError::bad_value(
                "edge.max_streams",
                "must be 1 to 65536",
            ));
        }
        if !(100..=600_000).contains(&self.shutdown_grace_ms) {
            return Err(NodeError::bad_value(
                "edge.shutdown_grace_ms",
                "must be 100 to 600000",
            ));
        }
        let repair = self.repair_settings()?;
        let play = self.play_settings()?;
        let mut settings = EdgeSettings {
            udp_addr,
            multicast_if: parse_multicast_if("edge.multicast_if", &self.multicast_if)?,
            flv_addr: parse_addr("edge.flv_addr", &self.flv_addr)?,
            metrics_addr: parse_optional_addr("edge.metrics_addr", &self.metrics_addr)?,
            playout_deadline: Duration::from_millis(self.playout_deadline_ms),
            player_queue_bytes: self.player_queue_bytes,
            udp_recv_buffer: self.udp_recv_buffer,
            max_streams: self.max_streams,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            repair,
            play,
            api_read_auth: self.api_read_auth,
            api_credentials: None,
            http_limits: relay_control::http_keys_of!(self)
                .limits()
                .map_err(|(key, reason)| NodeError::bad_value(&format!("edge.{key}"), reason))?,
        };
        if settings.reads_closed() {
            settings.api_credentials = Some(self.api_credentials()?);
        }
        Ok(settings)
    }

    /// The HTTP listeners, and the cloud the edge token goes to: the RTP input is left out, as
    /// no secret is taken or given there (and a multicast group is no interface to bind).
    fn check_secrets(&self, settings: &EdgeSettings) -> Result<(), NodeError> {
        let mut listeners = settings.read_listeners();
        listeners.push(("edge.cloud_quic_addr", settings.repair.cloud_addr));
        refuse_placeholders(
            &listeners,
            &[
                ("edge.edge_token", self.edge_token == PLACEHOLDER_EDGE_TOKEN),
                (
                    "edge.api_token",
                    settings.api_credentials.is_some() && self.api_token == PLACEHOLDER_API_TOKEN,
                ),
            ],
        )
    }

    fn log_keys(&self) -> LogKeys<'_> {
        relay_node::log_keys_of!(self)
    }
}

impl EdgeConfig {
    fn api_credentials(&self) -> Result<Arc<Credentials>, NodeError> {
        if self.api_token.len() < MIN_TOKEN_LEN {
            return Err(NodeError::bad_value(
                "edge.api_token",
                format!(
                    "must be at least {MIN_TOKEN_LEN} characters while api_read_auth closes reads"
                ),
            ));
        }
        SecretKey::new(self.api_token.as_bytes())
            .ok()
            .and_then(|token| Credentials::new(Some(token), None))
            .map(Arc::new)
            .ok_or_else(|| NodeError::bad_value("edge.api_token", "cannot be used as a token"))
    }

    fn play_settings(&self) -> Result<PlaySettings, NodeError> {
        let play_key = match self.play_auth.as_str() {
            "none" => None,
            "expiry" if self.play_key.len() >= 16 => Some(self.play_key.clone()),
            "expiry" => {
                return Err(NodeError::bad_value(
                    "edge.play_key",
                    "must be 16 characters or more with play_auth: expiry",
                ))
            }
            _ => {
                return Err(NodeError::bad_value(
                    "edge.play_auth",
                    "must be none or expiry",
                ))
            }
        };
        let on_play = if self.on_play.is_empty() {
            None
        } else {
            relay_control::outbound::parse_url("edge.on_play", &self.on_play).map_err(
                |reason| {
                    let reason = reason.trim_start_matches("edge.on_play: ");
                    NodeError::bad_value("edge.on_play", reason)
                },
            )?;
            if self.on_play_secret.len() < 16 {
                return Err(NodeError::bad_value(
                    "edge.on_play_secret",
                    "must be 16 characters or more when on_play is set",
                ));
            }
            Some((self.on_play.clone(), self.on_play_secret.clone()))
        };
        if !(100..=60_000).contains(&self.on_play_timeout_ms) {
            return Err(NodeError::bad_value(
                "edge.on_play_timeout_ms",
                "must be 100 to 60000",
            ));
        }
        if self.on_play_cache_s > 3600 {
            return Err(NodeError::bad_value(
                "edge.on_play_cache_s",
                "must be 0 to 3600",
            ));
        }
        Ok(PlaySettings {
            play_key,
            on_play,
            on_play_timeout: Duration::from_millis(self.on_play_timeout_ms),
            on_play_cache: Duration::from_secs(self.on_play_cache_s),
        })
    }

    fn repair_settings(&self) -> Result<RepairSettings, NodeError> {
        if self.cloud_quic_addr.is_empty() {
            return Err(NodeError::bad_value(
                "edge.cloud_quic_addr",
                "must name the cloud (\"host:port\"): every stream's media key comes over this connection",
            ));
        }
        let cloud_addr = parse_addr("edge.cloud_quic_addr", &self.cloud_quic_addr)?;
        if cloud_addr.ip().is_unspecified() {
            return Err(NodeError::bad_value(
                "edge.cloud_quic_addr",
                "needs the cloud's host, not \":port\"",
            ));
        }
        let trust = if !self.cloud_cert_fingerprint.is_empty() {
            let fingerprint = repair_quic::identity::parse_fingerprint(
                &self.cloud_cert_fingerprint,
            )
            .ok_or_else(|| {
                NodeError::bad_value(
                    "edge.cloud_cert_fingerprint",
                    "must be 64 hex digits (SHA-256)",
                )
            })?;
            TrustSource::Fingerprint(fingerprint)
        } else if !self.cloud_ca_file.is_empty() {
            TrustSource::CaFile(PathBuf::from(&self.cloud_ca_file))
        } else if !self.cloud_cert_file.is_empty() {
            TrustSource::CertFile(PathBuf::from(&self.cloud_cert_file))
        } else {
            return Err(NodeError::bad_value(
                "edge.cloud_cert_fingerprint",
                "repair needs one of cloud_cert_fingerprint, cloud_ca_file or cloud_cert_file",
            ));
        };
        if self.edge_token.is_empty() {
            return Err(NodeError::bad_value("edge.edge_token", "must not be empty"));
        }
        if self.cloud_server_name.is_empty() {
            return Err(NodeError::bad_value(
                "edge.cloud_server_name",
                "must not be empty",
            ));
        }
        let edge_name = if self.edge_name.is_empty() {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "edge".into())
        } else {
            self.edge_name.clone()
        };
        Ok(RepairSettings {
            cloud_addr,
            server_name: self.cloud_server_name.clone(),
            trust,
            token: self.edge_token.clone(),
            edge_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_holds_the_defaults() {
        let document: serde_yaml::Value = serde_yaml::from_str(relay_node::DEFAULT_CONFIG).unwrap();
        let shipped: EdgeConfig = serde_yaml::from_value(document["edge"].clone()).unwrap();
        // The shipped file binds loopback, where its placeholder secrets are allowed.
        let defaults = EdgeConfig::default();
        assert_eq!(shipped.flv_addr, format!("127.0.0.1{}", defaults.flv_addr));
        let widened = EdgeConfig {
            flv_addr: defaults.flv_addr.clone(),
            ..shipped.clone()
        };
        assert_eq!(format!("{widened:?}"), format!("{defaults:?}"));
        let settings = shipped.validate().unwrap();
        assert!(
            settings.api_credentials.is_none(),
            "reads are open on loopback"
        );
        shipped.check_secrets(&settings).unwrap();
    }

    #[test]
    fn placeholders_are_refused_when_used_beyond_loopback() {
        let check = |config: &EdgeConfig| {
            config
                .validate()
                .and_then(|settings| config.check_secrets(&settings))
                .map_err(|error| error.to_string())
        };
        let defaults = EdgeConfig::default();
        let error = check(&defaults).unwrap_err();
        assert!(
            error.starts_with("edge.edge_token: holds the shipped placeholder"),
            "{error}"
        );
        let own_token = EdgeConfig {
            edge_token: "own-edge-token-0123456789".into(),
            ..defaults.clone()
        };
        let error = check(&own_token).unwrap_err();
        assert!(error.starts_with("edge.api_token: "), "{error}");
        let open_reads = EdgeConfig {
            api_read_auth: ReadAuth::None,
            ..own_token.clone()
        };
        assert_eq!(
            check(&open_reads),
            Ok(()),
            "an unused placeholder is no risk"
        );
        // The placeholder token goes only to a cloud on loopback, the players' port too.
        let all_loopback = EdgeConfig {
            flv_addr: "127.0.0.1:7001".into(),
            cloud_quic_addr: "127.0.0.1:4242".into(),
            ..defaults.clone()
        };
        assert_eq!(check(&all_loopback), Ok(()));
        let short = EdgeConfig {
            api_token: "short".into(),
            ..own_token
        };
        assert!(check(&short)
            .unwrap_err()
            .starts_with("edge.api_token: must be"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                EdgeConfig {
                    playout_deadline_ms: 0,
                    ..Default::default()
                },
                "edge.playout_deadline_ms",
            ),
            (
                EdgeConfig {
                    player_queue_bytes: 10,
                    ..Default::default()
                },
                "edge.player_queue_bytes",
            ),
            (
                EdgeConfig {
                    udp_addr: "nope".into(),
                    ..Default::default()
                },
                "edge.udp_addr",
            ),
            (
                EdgeConfig {
                    flv_addr: ":x".into(),
                    ..Default::default()
                },
                "edge.flv_addr",
            ),
            (
                EdgeConfig {
                    multicast_if: "eth0".into(),
                    ..Default::default()
                },
                "edge.multicast_if",
            ),
            (
                EdgeConfig {
                    shutdown_grace_ms: 0,
                    ..Default::default()
                },
                "edge.shutdown_grace_ms",
            ),
            (
                EdgeConfig {
                    http_header_timeout_ms: 0,
                    ..Default::default()
                },
                "edge.http_header_timeout_ms",
            ),
            (
                EdgeConfig {
                    http_max_connections: 0,
                    ..Default::default()
                },
                "edge.http_max_connections",
            ),
        ];
        for (config, key) in cases {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with(key), "{error}");
        }
    }
}
