use thiserror::Error;

/// Why a cloud task stopped.
#[derive(Debug, Error)]
pub enum CloudError {
    #[error(transparent)]
    Config(#[from] relay_node::NodeError),
    #[error(transparent)]
    Io(#[from] relay_node::IoError),
    #[error("RTMP handshake failed: {0}")]
    Handshake(String),
    #[error("RTMP session error: {0}")]
    Session(String),
    #[error("the RTMP library panicked on this session's input: {0}")]
    SessionPanicked(String),
    /// An RTMP connection closed at one of its bounds (`rtmp_*` keys).
    #[error("closed: {0}")]
    Bound(crate::rtmp::Bound),
    #[error(transparent)]
    Proto(#[from] relay_proto::ProtoError),
    #[error("repair server: {0}")]
    Repair(String),
    #[error("stream keys: {0}")]
    StreamKeys(String),
    #[error("rooms: {0}")]
    Rooms(String),
}

impl CloudError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        CloudError::Io(relay_node::IoError::new(what, source))
    }
}
