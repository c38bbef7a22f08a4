//! `tracing` set-up from the logging keys both sections share: `log_level`, `enable_log_file`,
//! `log_file`, `log_max_bytes` and `log_max_files`.

use crate::rotating_file::RotatingFile;
use crate::NodeError;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// Levels accepted by `log_level`; `RUST_LOG`, when set, overrides it.
const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// `log_max_bytes` by default: a few days of a busy node's info-level log per file.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 64 << 20;
/// The smallest `log_max_bytes`: below it a file would hold too few lines to be of use, and a
/// slip of the pen (a size in KiB written as bytes) would rotate on every few events.
pub const MIN_LOG_MAX_BYTES: u64 = 64 << 10;
/// `log_max_files` by default.
pub const DEFAULT_LOG_MAX_FILES: u32 = 5;
/// The largest `log_max_files`: a rotation renames each kept file, so keep that bounded.
pub const MAX_LOG_MAX_FILES: u32 = 1000;

/// A node's logging keys as written, borrowed from its section (see
/// [`NodeConfig::log_keys`](crate::NodeConfig::log_keys)).
#[derive(Debug, Clone, Copy)]
pub struct LogKeys<'a> {
    /// `log_level`: one of `error`, `warn`, `info`, `debug`, `trace` (`RUST_LOG` overrides it).
    pub log_level: &'a str,
    /// `enable_log_file`: log to the rotated file `log_file` instead of stderr.
    pub enable_log_file: bool,
    /// `log_file`: path of the log file; must be non-empty even when the file is off.
    pub log_file: &'a str,
    /// `log_max_bytes`: size in bytes at which the log file is rotated; at least 64 KiB.
    pub log_max_bytes: u64,
    /// `log_max_files`: rotated files kept besides the current one, 0 to 1000 (0: the file is
    /// truncated in place).
    pub log_max_files: u32,
}

/// The [`LogKeys`] of a section struct whose logging fields are named as the keys are
/// (`log_level`, `enable_log_file`, `log_file`, `log_max_bytes`, `log_max_files`): both nodes
/// map them the same way, by name, so a key cannot be wired to another's field in one of them.
#[macro_export]
macro_rules! log_keys_of {
    ($config:expr) => {
        $crate::LogKeys {
            log_level: &$config.log_level,
            enable_log_file: $config.enable_log_file,
            log_file: &$config.log_file,
            log_max_bytes: $config.log_max_bytes,
            log_max_files: $config.log_max_files,
        }
    };
}

/// Checked logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `cloud` or `edge`, for the keys named in errors.
    pub section: String,
    /// The checked `log_level`, used as the tracing filter unless `RUST_LOG` is set.
    pub level: String,
    /// `None`: logs go to stderr.
    pub file: Option<LogFile>,
}

/// Where the log file is and how it rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Size in bytes at which the file is rotated (an event never straddles two files).
    pub max_bytes: u64,
    /// Rotated files kept (`NAME.1` newest); 0 keeps none.
    pub max_files: u32,
}

impl LogKeys<'_> {
    /// Checks every key, also those of a log file that is not enabled, so a mistake is found
    /// when it is made and not when the file is turned on.
    pub fn validate(&self, section: &str) -> Result<LogSettings, NodeError> {
        let key = |name: &str| format!("{section}.{name}");
        if !LEVELS.contains(&self.log_level) {
            return Err(NodeError::bad_value(
                &key("log_level"),
                format!("{:?} is not one of {}", self.log_level, LEVELS.join(", ")),
            ));
        }
        if self.log_file.is_empty() {
            return Err(NodeError::bad_value(&key("log_file"), "must name a file"));
        }
        if self.log_max_bytes < MIN_LOG_MAX_BYTES {
            return Err(NodeError::bad_value(
                &key("log_max_bytes"),
                format!("must be at least {MIN_LOG_MAX_BYTES}"),
            ));
        }
        if self.log_max_files > MAX_LOG_MAX_FILES {
            return Err(NodeError::bad_value(
                &key("log_max_files"),
                format!("must be 0 to {MAX_LOG_MAX_FILES}"),
            ));
        }
        Ok(LogSettings {
            section: section.to_owned(),
            level: self.log_level.to_owned(),
            file: self.enable_log_file.then(|| LogFile {
                path: PathBuf::from(self.log_file),
                max_bytes: self.log_max_bytes,
                max_files: self.log_max_files,
            }),
        })
    }
}

/// Starts logging to stderr, or to the rotated log file when one is enabled. A file that
/// cannot be opened stops the node at start, naming `log_file`.
pub fn init_logging(settings: &LogSettings) -> Result<(), NodeError> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match &settings.file {
        Some(log) => {
            let file =
                RotatingFile::open(&log.path, log.max_bytes, log.max_files).map_err(|error| {
                    NodeError::bad_value(
                        &format!("{}.log_file", settings.section),
                        format!("cannot open {}: {error}", log.path.display()),
                    )
                })?;
            builder.with_ansi(false).with_writer(file).init();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> LogKeys<'static> {
        LogKeys {
            log_level: "info",
            enable_log_file: false,
            log_file: "edge.log",
            log_max_bytes: DEFAULT_LOG_MAX_BYTES,
            log_max_files: DEFAULT_LOG_MAX_FILES,
        }
    }

    #[test]
    fn defaults_log_to_stderr_and_a_file_when_enabled() {
        assert_eq!(keys().validate("edge").unwrap().file, None);
        let enabled = LogKeys {
            enable_log_file: true,
            log_max_files: 0,
            ..keys()
        };
        assert_eq!(
            enabled.validate("edge").unwrap().file,
            Some(LogFile {
                path: PathBuf::from("edge.log"),
                max_bytes: 64 << 20,
                max_files: 0,
            })
        );
    }

    #[test]
    fn bad_values_name_their_key_even_with_the_file_off() {
        let cases = [
            (
                LogKeys {
                    log_level: "loud",
                    ..keys()
                },
                "edge.log_level: \"loud\" is not one of",
            ),
            (
                LogKeys {
                    log_file: "",
                    ..keys()
                },
                "edge.log_file:",
            ),
            (
                LogKeys {
                    log_max_bytes: MIN_LOG_MAX_BYTES - 1,
                    ..keys()
                },
                "edge.log_max_bytes: must be at least 65536",
            ),
            (
                LogKeys {
                    log_max_files: MAX_LOG_MAX_FILES + 1,
                    ..keys()
                },
                "edge.log_max_files:",
            ),
        ];
        for (keys, expected) in cases {
            let error = keys.validate("edge").unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
        }
        let smallest = LogKeys {
            log_max_bytes: MIN_LOG_MAX_BYTES,
            log_max_files: MAX_LOG_MAX_FILES,
            ..keys()
        };
        assert!(smallest.validate("edge").is_ok());
    }
}
