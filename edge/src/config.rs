//! The `edge:` section of the config file.

use relay_control::HttpLimits;
use relay_node::{
    parse_addr, parse_multicast_if, parse_optional_addr, LogKeys, NodeConfig, NodeError,
    DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES,
};
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
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
    pub cloud_quic_addr: String,
    pub cloud_server_name: String,
    pub cloud_cert_file: String,
    pub cloud_cert_fingerprint: String,
    pub cloud_ca_file: String,
    pub edge_token: String,
    pub edge_name: String,
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
            cloud_quic_addr: "127.0.0.1:4242".into(),
            cloud_server_name: "liverelay-cloud".into(),
            cloud_cert_file: "cloud-cert.pem".into(),
            cloud_cert_fingerprint: String::new(),
            cloud_ca_file: String::new(),
            edge_token: "dev-token-change-me".into(),
            edge_name: String::new(),
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
    /// `None`: repair is off (`cloud_quic_addr: ""`).
    pub repair: Option<RepairSettings>,
    /// Limits of `flv_addr`, and of `metrics_addr` when set.
    pub http_limits: HttpLimits,
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
        let repair = self.repair_settings()?;
        Ok(EdgeSettings {
            udp_addr,
            multicast_if: parse_multicast_if("edge.multicast_if", &self.multicast_if)?,
            flv_addr: parse_addr("edge.flv_addr", &self.flv_addr)?,
            metrics_addr: parse_optional_addr("edge.metrics_addr", &self.metrics_addr)?,
            playout_deadline: Duration::from_millis(self.playout_deadline_ms),
            player_queue_bytes: self.player_queue_bytes,
            udp_recv_buffer: self.udp_recv_buffer,
            repair,
            http_limits: relay_control::http_keys_of!(self)
                .limits()
                .map_err(|(key, reason)| NodeError::bad_value(&format!("edge.{key}"), reason))?,
        })
    }

    fn log_keys(&self) -> LogKeys<'_> {
        relay_node::log_keys_of!(self)
    }
}

impl EdgeConfig {
    fn repair_settings(&self) -> Result<Option<RepairSettings>, NodeError> {
        if self.cloud_quic_addr.is_empty() {
            return Ok(None);
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
            return Err(NodeError::bad_value(
                "edge.edge_token",
                "must not be empty when repair is on",
            ));
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
        Ok(Some(RepairSettings {
            cloud_addr,
            server_name: self.cloud_server_name.clone(),
            trust,
            token: self.edge_token.clone(),
            edge_name,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_holds_the_defaults() {
        let document: serde_yaml::Value = serde_yaml::from_str(relay_node::DEFAULT_CONFIG).unwrap();
        let shipped: EdgeConfig = serde_yaml::from_value(document["edge"].clone()).unwrap();
        assert_eq!(
            format!("{shipped:?}"),
            format!("{:?}", EdgeConfig::default())
        );
        shipped.validate().unwrap();
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
