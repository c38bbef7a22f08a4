//! What the cloud and edge binaries share: the config file, addresses, logging and shutdown.

#![warn(missing_docs)]

mod addr;
mod config_file;
mod logging;
mod rotating_file;
mod secrets;
mod start;
mod tasks;

pub use addr::{parse_addr, parse_multicast_if, parse_optional_addr};
pub use config_file::{load_section, CommandLine, DEFAULT_CONFIG};
pub use logging::{
    init_logging, LogFile, LogKeys, LogSettings, DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES,
};
pub use secrets::{
    refuse_placeholders, PLACEHOLDER_ACCESS_KEY, PLACEHOLDER_API_TOKEN, PLACEHOLDER_EDGE_TOKEN,
    PLACEHOLDER_JWT_KEY, PLACEHOLDER_SECRET_KEY,
};
pub use start::{run_node, NodeConfig};
pub use tasks::Tasks;

use std::path::PathBuf;
use thiserror::Error;

/// Everything that stops a node from starting.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The config file could not be read, or, when it was missing, a fresh one could not be
    /// written.
    #[error(transparent)]
    Io(IoError),
    /// The config file is not valid YAML, its top level is not a mapping of `cloud:` and
    /// `edge:`, or the node's section does not deserialize into its settings (e.g. a wrong type).
    #[error("{path}: {message}")]
    Yaml {
        /// The config file's path.
        path: PathBuf,
        /// The parser's description, with the line and column where it has one.
        message: String,
    },
    /// A key parsed but its value is refused (out of range, a bad address, a placeholder secret
    /// on a public address, a log file that cannot be opened, ...).
    #[error("{key}: {reason}")]
    BadValue {
        /// The key as written in the config file, with its section (e.g. `edge.log_max_bytes`).
        key: String,
        /// Why the value is refused, for the operator.
        reason: String,
    },
}

impl NodeError {
    /// A [`NodeError::BadValue`] for `key` (`section.name`) with `reason`.
    pub fn bad_value(key: &str, reason: impl Into<String>) -> Self {
        NodeError::BadValue {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// An I/O operation that failed, with what it was doing (a file, an address, a socket option),
/// so the log line names the thing without a second message. The one I/O error shape of the
/// cloud's and the edge's error enums.
#[derive(Debug, Error)]
#[error("{what}: {source}")]
pub struct IoError {
    /// What was being done, e.g. "bind 0.0.0.0:1935" or a file path.
    pub what: String,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// The failure of `what` with `source`.
    pub fn new(what: impl Into<String>, source: std::io::Error) -> Self {
        IoError {
            what: what.into(),
            source,
        }
    }
}

/// Resolves when the process gets SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the node");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
