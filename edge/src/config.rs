//! The `edge:` section of the config file.

use relay_node::{parse_addr, parse_multicast_if, NodeError};
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// As written in YAML; every key documented in the shipped `config.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    pub udp_addr: String,
    pub multicast_if: String,
    pub flv_addr: String,
    pub playout_deadline_ms: u64,
    pub player_queue_bytes: usize,
    pub udp_recv_buffer: usize,
    pub log_level: String,
    pub enable_log_file: bool,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            udp_addr: ":5222".into(),
            multicast_if: String::new(),
            flv_addr: ":7001".into(),
            playout_deadline_ms: 300,
            player_queue_bytes: 4 << 20,
            udp_recv_buffer: 8 << 20,
            log_level: "info".into(),
            enable_log_file: false,
        }
    }
}

/// Checked and parsed settings.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    pub udp_addr: SocketAddr,
    pub multicast_if: Option<Ipv4Addr>,
    pub flv_addr: SocketAddr,
    pub playout_deadline: Duration,
    pub player_queue_bytes: usize,
    pub udp_recv_buffer: usize,
}

impl EdgeConfig {
    pub fn validate(&self) -> Result<EdgeSettings, NodeError> {
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
        Ok(EdgeSettings {
            udp_addr,
            multicast_if: parse_multicast_if("edge.multicast_if", &self.multicast_if)?,
            flv_addr: parse_addr("edge.flv_addr", &self.flv_addr)?,
            playout_deadline: Duration::from_millis(self.playout_deadline_ms),
            player_queue_bytes: self.player_queue_bytes,
            udp_recv_buffer: self.udp_recv_buffer,
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
        ];
        for (config, key) in cases {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with(key), "{error}");
        }
    }
}
