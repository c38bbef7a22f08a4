//! `tracing` set-up from the `log_level` and `enable_log_file` keys.

use crate::NodeError;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// Levels accepted by `log_level`; `RUST_LOG`, when set, overrides it.
const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Starts logging to stderr, or appending to `log_file` when one is given.
pub fn init_logging(key: &str, level: &str, log_file: Option<&Path>) -> Result<(), NodeError> {
    if !LEVELS.contains(&level) {
        return Err(NodeError::bad_value(
            key,
            format!("{level:?} is not one of {}", LEVELS.join(", ")),
        ));
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| NodeError::Io {
                    path: path.to_owned(),
                    source,
                })?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .init();
        }
        None => {
            use std::io::IsTerminal;
            // Colours only for a person at a terminal, never in files or supervisord's logs.
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .init()
        }
    }
    Ok(())
}
