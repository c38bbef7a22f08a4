use thiserror::Error;

/// Why the edge could not start or a task stopped.
#[derive(Debug, Error)]
pub enum EdgeError {
    #[error(transparent)]
    Config(#[from] relay_node::NodeError),
    /// The play checks could not be set up (the message names the key).
    #[error("{0}")]
    Play(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl EdgeError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EdgeError::Io {
            what: what.into(),
            source,
        }
    }
}
