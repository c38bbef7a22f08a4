//! The one YAML file both nodes read, each its own section.

use crate::secrets::FreshSecrets;
use crate::{IoError, NodeError};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The shipped `config.yaml`: written out, with fresh secrets, when the file named on the command
/// line is missing, so a first start works and leaves a documented file to edit.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config.yaml");

/// `-f PATH` / `--config PATH`, default `./config.yaml`.
#[derive(Debug, clap::Parser)]
pub struct CommandLine {
    /// YAML config file with `cloud:` and `edge:` sections; written with defaults and fresh
    /// secrets if missing.
    #[arg(short = 'f', long = "config", default_value = "config.yaml")]
    pub config: PathBuf,
    /// Check the config file and exit: status 0 and "config OK" when the node would start with
    /// it, status 1 and the error otherwise. Nothing is bound or written (a missing file is an
    /// error here).
    #[arg(long)]
    pub check_config: bool,
}

/// Reads `section` of the YAML file at `path` into `T`, writing the default file with fresh
/// secrets first if there is none (see `write_fresh`). Keys left out take `T`'s defaults; unknown keys and sections are refused by name.
pub fn load_section<T: DeserializeOwned>(path: &Path, section: &str) -> Result<T, NodeError> {
    load(path, section, true)
}

/// Reads `section` without writing anything: for `--check-config`.
pub fn check_section<T: DeserializeOwned>(path: &Path, section: &str) -> Result<T, NodeError> {
    load(path, section, false)
}

fn load<T: DeserializeOwned>(
    path: &Path,
    section: &str,
    write_missing: bool,
) -> Result<T, NodeError> {
    let io_error = |source| NodeError::Io(IoError::new(path.display().to_string(), source));
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if write_missing && error.kind() == std::io::ErrorKind::NotFound => {
            write_fresh(path).map_err(io_error)?
        }
        Err(error) => return Err(io_error(error)),
    };
    parse_section(path, &text, section)
}

/// Writes the shipped file with fresh secrets to `path` and returns its text, printing the
/// secrets once on stderr (logging is not set up yet, and this is for the operator's eyes).
///
/// The file appears whole or not at all: it is written under a temporary name (mode 0600, it
/// holds secrets) and linked into place, which fails if another node (the edge of a pair
/// started together) got there first; then that node's file, and its secrets, are used.
fn write_fresh(path: &Path) -> std::io::Result<String> {
    use std::io::Write;
    let secrets = FreshSecrets::generate();
    let text = secrets
        .render(DEFAULT_CONFIG)
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
        })
        .and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match written {
        Ok(()) => {
            eprint!("{}", secrets.announcement(path));
            Ok(text)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path)
        }
        Err(error) => Err(error),
    }
}

fn parse_section<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    section: &str,
) -> Result<T, NodeError> {
    let yaml_error = |message: String| NodeError::Yaml {
        path: path.to_owned(),
        message,
    };
    let document: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|error| yaml_error(error.to_string()))?;
    let sections = match document {
        serde_yaml::Value::Null => serde_yaml::Mapping::new(),
        serde_yaml::Value::Mapping(mapping) => mapping,
        _ => {
            return Err(yaml_error(
                "the top level must be a mapping with cloud: and edge:".into(),
            ))
        }
    };
    for key in sections.keys() {
        match key.as_str() {
            Some("cloud" | "edge") => {}
            _ => {
                return Err(yaml_error(format!(
                    "unknown top-level key {key:?}; expected cloud or edge"
                )))
            }
        }
    }
    let body = match sections.get(section) {
        None | Some(serde_yaml::Value::Null) => serde_yaml::Value::Mapping(Default::default()),
        Some(value) => value.clone(),
    };
    serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        let key = if path == "." {
            section.to_owned()
        } else {
            format!("{section}.{path}")
        };
        yaml_error(format!("{key}: {}", error.into_inner()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        port: u16,
    }

    impl Default for Sample {
        fn default() -> Self {
            Sample { port: 7 }
        }
    }

    fn parse(text: &str) -> Result<Sample, NodeError> {
        parse_section(Path::new("c.yaml"), text, "edge")
    }

    #[test]
    fn sections_defaults_and_errors() {
        assert_eq!(parse("").unwrap(), Sample { port: 7 });
        assert_eq!(
            parse("edge:\n  port: 9\ncloud:\n  x: 1\n").unwrap(),
            Sample { port: 9 }
        );
        let unknown = parse("edge:\n  prot: 9\n").unwrap_err().to_string();
        assert!(
            unknown.contains("edge.prot: unknown field `prot`"),
            "{unknown}"
        );
        let bad = parse("edge:\n  port: 99999\n").unwrap_err().to_string();
        assert!(bad.contains("edge.port: invalid value"), "{bad}");
        let section = parse("edges:\n  port: 1\n").unwrap_err().to_string();
        assert!(section.contains("unknown top-level key"), "{section}");
        assert!(parse("- 1\n").is_err());
    }

    #[test]
    fn missing_file_is_written_with_fresh_secrets() {
        let dir = std::env::temp_dir().join(format!("relay-node-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.yaml");
        let _ = std::fs::remove_file(&path);
        let loaded: serde_yaml::Value = load_section(&path, "edge").unwrap();
        assert!(loaded.is_mapping());
        let written = std::fs::read_to_string(&path).unwrap();
        assert_ne!(written, DEFAULT_CONFIG);
        assert!(!written.contains(crate::PLACEHOLDER_API_TOKEN), "{written}");
        assert_eq!(loaded["api_token"].as_str().map(str::len), Some(32));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second start reads the file; nothing is written again.
        let again: serde_yaml::Value = load_section(&path, "edge").unwrap();
        assert_eq!(again, loaded);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
