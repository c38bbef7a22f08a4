//! The `edge:` section of the config file.

use relay_control::auth::{Credentials, PlayKeyRefusal, ReadAuth, SecretKey};
use relay_control::tls::TlsFiles;
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
    /// `udp_addr`, default `":5222"`: where RTP comes in; `":port"` or `"host:port"` for unicast,
    /// an IPv4 group such as `"239.0.0.1:5222"` to join it (IPv6 groups are refused).
    pub udp_addr: String,
    /// `multicast_if`, default `""` (the system chooses): IPv4 address of the interface multicast
    /// groups are joined on.
    pub multicast_if: String,
    /// `flv_addr`, default `":7001"` (`"127.0.0.1:7001"` in the shipped file): the HTTP-FLV
    /// listener, which also serves the API, and `/metrics` and `/status` unless `metrics_addr`
    /// is set.
    pub flv_addr: String,
    /// `metrics_addr`, default `""` (none): a listener of its own for `/metrics` and `/status`.
    pub metrics_addr: String,
    /// `playout_deadline_ms`, default 300, 10–60000 ms: how long a missing packet is waited for
    /// before the tags it broke are dropped and video resumes at the next keyframe.
    pub playout_deadline_ms: u64,
    /// `playout_deadline_rtts`, default 8, 0–100: the deadline is at least this many round trips
    /// of the repair connection (at most 5 s), so a far edge gets as many tries at a loss as a
    /// near one; 0 keeps `playout_deadline_ms` alone.
    pub playout_deadline_rtts: u32,
    /// `player_queue_bytes`, default 4194304, at least 65536: bytes queued per player before it
    /// loses non-key video (and, staying behind, is disconnected).
    pub player_queue_bytes: usize,
    /// `merge_write_ms`, default 0, 0–1000 ms: how long a player's tags may wait to go out
    /// together (SRS's `mw_latency`, ZLMediaKit's `mergeWriteMS`). 0 sends what each stream tick
    /// brought at once (tags that complete together still share one write and one wake-up);
    /// more trades up to that much delay for fewer writes and wake-ups per player.
    pub merge_write_ms: u64,
    /// `udp_recv_buffer`, default 8388608 bytes: kernel receive buffer asked for on the RTP socket;
    /// the size granted is logged, with a warning when smaller.
    pub udp_recv_buffer: usize,
    /// `max_streams`, default 1024, 1–65536: streams served at once; announcements beyond are
    /// refused and counted.
    pub max_streams: usize,
    /// `shutdown_grace_ms`, default 5000, 100–600000 ms: how long shutdown waits for the edge's
    /// tasks before it exits anyway.
    pub shutdown_grace_ms: u64,
    /// `play_auth`, default `none` (anyone may play), or `expiry` (play URLs must be signed with
    /// `play_key`).
    pub play_auth: String,
    /// `play_key`, default `""`: the key play URLs are signed with; 16 characters or more with
    /// `play_auth: expiry`.
    pub play_key: String,
    /// `on_play`, default `""` (no hook): `http://` or `https://` URL of the app, asked before
    /// every player is served.
    pub on_play: String,
    /// `on_play_secret`, default `""`: the secret `on_play` requests are signed with; 16 characters
    /// or more when `on_play` is set.
    pub on_play_secret: String,
    /// `on_play_timeout_ms`, default 2000, 100–60000 ms: how long the app may take to answer; no
    /// answer in time refuses the player.
    pub on_play_timeout_ms: u64,
    /// `on_play_cache_s`, default 10, 0–3600 s: how long an answer is kept per stream and query
    /// (0: the app is asked every time).
    pub on_play_cache_s: u64,
    /// `cloud_quic_addr`, default `"127.0.0.1:4242"`, required: the cloud's repair server as
    /// `"host:port"` (not `":port"`); repairs and every stream's media key come over it.
    pub cloud_quic_addr: String,
    /// `cloud_server_name`, default `liverelay-cloud`, not empty: the TLS server name asked for,
    /// checked when the cloud's certificate is CA-issued.
    pub cloud_server_name: String,
    /// `cloud_cert_file`, default `cloud-cert.pem`: a copy of the cloud's certificate, pinned; used
    /// when `cloud_cert_fingerprint` and `cloud_ca_file` are empty.
    pub cloud_cert_file: String,
    /// `cloud_cert_fingerprint`, default `""`: SHA-256 of the cloud's certificate, 64 hex digits
    /// (`:` allowed), pinned; when set it is used before the two files.
    pub cloud_cert_fingerprint: String,
    /// `cloud_ca_file`, default `""`: PEM of the CA that issued the cloud's certificate; used when
    /// no fingerprint is set, before `cloud_cert_file`.
    pub cloud_ca_file: String,
    /// `edge_token`, default the placeholder `dev-token-change-me`, not empty: presented to the
    /// cloud, which must list it in its `edge_tokens`; the placeholder is refused beyond loopback.
    pub edge_token: String,
    /// `edge_name`, default `""` (the host name, from `/etc/hostname`, else `edge`): this edge's
    /// name in the cloud's logs.
    pub edge_name: String,
    /// `api_read_auth`, default `auto` (open while the listener is on loopback), `none` or `token`:
    /// who may read `/api/v1/streams`, `/metrics` and `/status`.
    pub api_read_auth: ReadAuth,
    /// `api_token`, default the placeholder `dev-api-token-change-me`: the bearer token closed
    /// reads need, 16 characters or more when `api_read_auth` closes any.
    pub api_token: String,
    /// `log_level`, default `info`: `error`, `warn`, `info`, `debug` or `trace` (`RUST_LOG`
    /// overrides it).
    pub log_level: String,
    /// `enable_log_file`, default `false`: log to `log_file` instead of stderr.
    pub enable_log_file: bool,
    /// `log_file`, default `edge.log`: the log file, relative to the working directory unless
    /// absolute.
    pub log_file: String,
    /// `log_max_bytes`, default 67108864, at least 65536: the log file is rotated when the next
    /// line would take it past this many bytes.
    pub log_max_bytes: u64,
    /// `log_max_files`, default 5, 0–1000: rotated log files kept (`edge.log.1` newest); 0 empties
    /// the file when it is full.
    pub log_max_files: u32,
    /// `http_max_connections`, default 4096, at least 1: HTTP connections (players and API) held at
    /// once by `flv_addr`, and apart by `metrics_addr`; one over is closed at once and counted.
    pub http_max_connections: usize,
    /// `http_max_connections_per_ip`, default 256, 1 to `http_max_connections`: the same limit for
    /// one source address.
    pub http_max_connections_per_ip: usize,
    /// `http_header_timeout_ms`, default 10000, 100–600000 ms: a request head not complete this
    /// long after the connection or the previous response closes the connection.
    pub http_header_timeout_ms: u64,
    /// `http_max_header_bytes`, default 16384, 8192–1048576: a larger request head is answered 431
    /// and the connection closed.
    pub http_max_header_bytes: usize,
    /// `http_max_body_bytes`, default 65536, at least 1024: a larger request body is answered 413.
    pub http_max_body_bytes: usize,
    /// `cert_file`, default `""`: PEM certificate chain; with `key_file`, `flv_addr`,
    /// `metrics_addr` and `hls_addr` serve HTTPS (and WSS) instead of HTTP. Reloaded when it changes.
    pub cert_file: String,
    /// `key_file`, default `""`: the PEM private key of `cert_file`.
    pub key_file: String,
    /// `enable_hls`, default `true`: package every stream for HLS and LL-HLS (`/APP/NAME.m3u8`);
    /// `false`: no packager is built and HLS URLs answer 404.
    pub enable_hls: bool,
    /// `hls_addr`, default `""` (none): a listener of its own for HLS too; HLS is always served
    /// on `flv_addr`.
    pub hls_addr: String,
    /// `hls_segment_ms`, default 4000, 1000–30000 ms: segment target; segments are cut at the
    /// first keyframe past it (`EXT-X-TARGETDURATION` is it rounded up to seconds).
    pub hls_segment_ms: u32,
    /// `hls_part_ms`, default 500, 100–5000 ms and at most a third of `hls_segment_ms`: the
    /// LL-HLS part target (`PART-TARGET`).
    pub hls_part_ms: u32,
    /// `hls_segments`, default 6, 3–60: complete segments kept per stream, the playlist window
    /// and the bound on the memory HLS takes.
    pub hls_segments: usize,
    /// `player_dir`, default `"web"`: the directory `npm ci` installed the player page's
    /// libraries in (its `node_modules/mpegts.js` and `node_modules/hls.js`).
    pub player_dir: String,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            udp_addr: ":5222".into(),
            multicast_if: String::new(),
            flv_addr: ":7001".into(),
            metrics_addr: String::new(),
            playout_deadline_ms: 300,
            playout_deadline_rtts: 8,
            player_queue_bytes: 4 << 20,
            merge_write_ms: 0,
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
            cert_file: String::new(),
            key_file: String::new(),
            enable_hls: true,
            hls_addr: String::new(),
            hls_segment_ms: 4000,
            hls_part_ms: 500,
            hls_segments: 6,
            player_dir: "web".into(),
        }
    }
}

/// Checked and parsed settings.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// The RTP input socket's address; a multicast one is always IPv4.
    pub udp_addr: SocketAddr,
    /// Interface groups are joined on; `None`: any (`0.0.0.0`).
    pub multicast_if: Option<Ipv4Addr>,
    /// The HTTP-FLV and API listener.
    pub flv_addr: SocketAddr,
    /// `/metrics` and `/status` on a listener of their own; `None`: on `flv_addr`.
    pub metrics_addr: Option<SocketAddr>,
    /// How long reassembly waits for a missing packet (10 ms to 60 s), from `playout_deadline_ms`.
    pub playout_deadline: Duration,
    /// The deadline is at least this many repair-path RTTs (0: off), from
    /// `playout_deadline_rtts`.
    pub playout_deadline_rtts: u32,
    /// Byte limit of each player's queue, at least 65536.
    pub player_queue_bytes: usize,
    /// How long offered tags may wait before players are woken to send them, from
    /// `merge_write_ms` (zero: at the end of each stream tick).
    pub merge_write: Duration,
    /// Receive buffer size asked of the kernel for the RTP socket, in bytes.
    pub udp_recv_buffer: usize,
    /// Streams served at once; the cloud announcing more is refused (counted).
    pub max_streams: usize,
    /// How long shutdown waits for the edge's tasks (stream tasks, players' responses, the
    /// repair connection's close) once they are told to stop.
    pub shutdown_grace: Duration,
    /// The repair connection, which also brings every stream's media key.
    pub repair: RepairSettings,
    /// Who may play: `play_auth`, `play_key` and the `on_play` hook.
    pub play: PlaySettings,
    /// Which listeners' reads (`/api/v1/streams`, `/metrics`, `/status`) need the API token.
    pub api_read_auth: ReadAuth,
    /// The API token reads need where `api_read_auth` closes them; `None` when it closes none.
    pub api_credentials: Option<Arc<Credentials>>,
    /// Limits of `flv_addr`, and of `metrics_addr` when set.
    pub http_limits: HttpLimits,
    /// HTTPS on `flv_addr` and `metrics_addr`, from `cert_file` and `key_file`; `None`: HTTP.
    pub tls: Option<Arc<TlsFiles>>,
    /// HLS packaging and its listener: `None` when `enable_hls` is false.
    pub hls: Option<HlsSettings>,
    /// Where the player page's libraries are, from `player_dir`.
    pub player_dir: std::path::PathBuf,
}

/// HLS packaging of every stream, from the `hls_*` keys.
#[derive(Debug, Clone)]
pub struct HlsSettings {
    /// A listener of its own for HLS (`hls_addr`); `None`: on `flv_addr` only.
    pub addr: Option<SocketAddr>,
    /// Segment target in ms (`hls_segment_ms`).
    pub segment_ms: u32,
    /// Part target in ms (`hls_part_ms`).
    pub part_ms: u32,
    /// Complete segments kept per stream (`hls_segments`).
    pub segments: usize,
}

/// Who may play: signed play URLs and the `on_play` hook, each optional.
#[derive(Debug, Clone, Default)]
pub struct PlaySettings {
    /// `play_auth: expiry`: play URLs must be signed with this key.
    pub play_key: Option<SecretKey>,
    /// `on_play`: the app's URL and the secret its requests are signed with.
    pub on_play: Option<(String, String)>,
    /// How long the `on_play` app may take to answer (100 ms to 60 s) before the player is refused.
    pub on_play_timeout: Duration,
    /// How long an `on_play` answer is reused for the same stream and query (0 to 3600 s; zero:
    /// never).
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
    /// The cloud's repair (QUIC) server, from `cloud_quic_addr`; never an unspecified host.
    pub cloud_addr: SocketAddr,
    /// TLS server name asked of the cloud, from `cloud_server_name`.
    pub server_name: String,
    /// How the cloud's certificate is recognised.
    pub trust: TrustSource,
    /// The edge token presented to the cloud (`edge_token`).
    pub token: String,
    /// The name the edge gives the cloud: `edge_name`, or the host name when that is empty.
    pub edge_name: String,
}

/// Where the cloud's identity comes from; files are read at every connection attempt, so an
/// edge may start before the cloud has made its certificate.
#[derive(Debug, Clone)]
pub enum TrustSource {
    /// Pin the certificate whose SHA-256 is this (`cloud_cert_fingerprint`).
    Fingerprint([u8; 32]),
    /// Pin the certificate held in this PEM file (`cloud_cert_file`).
    CertFile(PathBuf),
    /// Accept a certificate for `server_name` issued by the CA in this PEM file (`cloud_ca_file`).
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
        if self.playout_deadline_rtts > 100 {
            return Err(NodeError::bad_value(
                "edge.playout_deadline_rtts",
                "must be 0 to 100",
            ));
        }
        if self.player_queue_bytes < 65_536 {
            return Err(NodeError::bad_value(
                "edge.player_queue_bytes",
                "must be at least 65536",
            ));
        }
        if self.merge_write_ms > 1000 {
            return Err(NodeError::bad_value(
                "edge.merge_write_ms",
                "must be 0 to 1000",
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
        let hls = self.hls_settings()?;
        let mut settings = EdgeSettings {
            udp_addr,
            multicast_if: parse_multicast_if("edge.multicast_if", &self.multicast_if)?,
            flv_addr: parse_addr("edge.flv_addr", &self.flv_addr)?,
            metrics_addr: parse_optional_addr("edge.metrics_addr", &self.metrics_addr)?,
            playout_deadline: Duration::from_millis(self.playout_deadline_ms),
            playout_deadline_rtts: self.playout_deadline_rtts,
            player_queue_bytes: self.player_queue_bytes,
            merge_write: Duration::from_millis(self.merge_write_ms),
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
            tls: TlsFiles::from_keys(&self.cert_file, &self.key_file)
                .map_err(|(key, reason)| NodeError::bad_value(&format!("edge.{key}"), reason))?,
            hls,
            player_dir: self.player_dir.clone().into(),
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
    /// The `hls_*` keys, checked; `None` when `enable_hls` is false.
    fn hls_settings(&self) -> Result<Option<HlsSettings>, NodeError> {
        if !(1000..=30_000).contains(&self.hls_segment_ms) {
            return Err(NodeError::bad_value(
                "edge.hls_segment_ms",
                "must be 1000 to 30000",
            ));
        }
        if !(100..=5000).contains(&self.hls_part_ms) || self.hls_part_ms * 3 > self.hls_segment_ms {
            return Err(NodeError::bad_value(
                "edge.hls_part_ms",
                "must be 100 to 5000 and at most a third of hls_segment_ms",
            ));
        }
        if !(3..=60).contains(&self.hls_segments) {
            return Err(NodeError::bad_value("edge.hls_segments", "must be 3 to 60"));
        }
        let addr = parse_optional_addr("edge.hls_addr", &self.hls_addr)?;
        Ok(self.enable_hls.then_some(HlsSettings {
            addr,
            segment_ms: self.hls_segment_ms,
            part_ms: self.hls_part_ms,
            segments: self.hls_segments,
        }))
    }

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
        let play_key =
            relay_control::auth::play_key(&self.play_auth, &self.play_key).map_err(|refusal| {
                let key = match refusal {
                    PlayKeyRefusal::Scheme => "edge.play_auth",
                    PlayKeyRefusal::Key => "edge.play_key",
                };
                NodeError::bad_value(key, refusal.to_string())
            })?;
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
                    playout_deadline_rtts: 101,
                    ..Default::default()
                },
                "edge.playout_deadline_rtts",
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
                    merge_write_ms: 1001,
                    ..Default::default()
                },
                "edge.merge_write_ms",
            ),
            (
                EdgeConfig {
                    hls_segments: 2,
                    ..Default::default()
                },
                "edge.hls_segments",
            ),
            (
                EdgeConfig {
                    hls_part_ms: 2000,
                    ..Default::default()
                },
                "edge.hls_part_ms",
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
