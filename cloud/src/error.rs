//! The cloud's error type, [`CloudError`]: what ends a task, a connection or the start.

use thiserror::Error;

/// Why a cloud task stopped.
#[derive(Debug, Error)]
pub enum CloudError {
    /// The config file cannot be read or parsed, or a key's value is refused (out of range,
    /// a placeholder secret beyond loopback, ...); names the file or the key.
    #[error(transparent)]
    Config(#[from] relay_node::NodeError),
    /// An I/O operation failed: binding a listener, a file of the data or record directory,
    /// a socket; carries what was being done.
    #[error(transparent)]
    Io(#[from] relay_node::IoError),
    /// The RTMP handshake bytes from the peer were invalid.
    #[error("RTMP handshake failed: {0}")]
    Handshake(String),
    /// The RTMP session rejected the peer's input or was asked for something out of order
    /// (such as a request before the handshake finished).
    #[error("RTMP session error: {0}")]
    Session(String),
    /// The RTMP library panicked on this connection's input; the panic message. Only this
    /// session ends.
    #[error("the RTMP library panicked on this session's input: {0}")]
    SessionPanicked(String),
    /// An RTMP connection closed at one of its bounds (`rtmp_*` keys).
    #[error("closed: {0}")]
    Bound(crate::rtmp::Bound),
    /// The publication engine refused a stream or a tag while packetizing a publish.
    #[error(transparent)]
    Proto(#[from] relay_proto::ProtoError),
    /// The QUIC repair server could not start: its certificate or key could not be loaded or
    /// created, or its endpoint could not be bound.
    #[error("repair server: {0}")]
    Repair(String),
    /// `stream_keys.json` in `data_dir` could not be parsed or encoded.
    #[error("stream keys: {0}")]
    StreamKeys(String),
    /// The room service could not start: its database (`database_url`), shared live state
    /// (`redis_url`), webhook sender (`callback_addr`) or payment client (`gift_addr`) failed
    /// to open.
    #[error("rooms: {0}")]
    Rooms(String),
}

impl CloudError {
    /// An [`CloudError::Io`] for `source`, saying `what` was being done when it failed.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        CloudError::Io(relay_node::IoError::new(what, source))
    }
}
