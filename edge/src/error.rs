//! The edge's error type: what stops it at start or ends a task with a failure.

use thiserror::Error;

/// Why the edge could not start or a task stopped.
#[derive(Debug, Error)]
pub enum EdgeError {
    /// The config file could not be read or written, or a key holds a bad value (the message names
    /// the key).
    #[error(transparent)]
    Config(#[from] relay_node::NodeError),
    /// The play checks could not be set up (the message names the key).
    #[error("{0}")]
    Play(String),
    /// A socket could not be set up: creating or binding the RTP socket or joining its multicast
    /// group, or binding `flv_addr` or `metrics_addr` (the message says which).
    #[error(transparent)]
    Io(#[from] relay_node::IoError),
}

impl EdgeError {
    /// An [`EdgeError::Io`] for the failure `source` of `what`, e.g. `"edge.flv_addr: binding
    /// 0.0.0.0:7001"`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EdgeError::Io(relay_node::IoError::new(what, source))
    }
}
