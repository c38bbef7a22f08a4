use thiserror::Error;

/// Why the edge could not start or a task stopped.
#[derive(Debug, Error)]
pub enum EdgeError {
    #[error(transparent)]
    Config(#[from] relay_node::NodeError),
    /// The play checks could not be set up (the message names the key).
    #[error("{0}")]
    Play(String),
    #[error(transparent)]
    Io(#[from] relay_node::IoError),
}

impl EdgeError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EdgeError::Io(relay_node::IoError::new(what, source))
    }
}
