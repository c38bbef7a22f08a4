//! The one YAML file both nodes read, each its own section.

use crate::NodeError;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The shipped `config.yaml`: written out when the file named on the command line is missing, so
/// a first start works and leaves a documented file to edit.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config.yaml");

/// `-f PATH` / `--config PATH`, default `./config.yaml`.
#[derive(Debug, clap::Parser)]
pub struct CommandLine {
    /// YAML config file with `cloud:` and `edge:` sections; written with defaults if missing.
    #[arg(short = 'f', long = "config", default_value = "config.yaml")]
    pub config: PathBuf,
    /// Check the config file and exit: status 0 and "config OK" when the node would start with
    /// it, status 1 and the error otherwise. Nothing is bound or written (a missing file is an
    /// error here).
    #[arg(long)]
    pub check_config: bool,
}

/// Reads `section` of the YAML file at `path` into `T`, writing the default file first if there
/// is none. Keys left out take `T`'s defaults; unknown keys and sections are refused by name.
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
    let io_error = |source| NodeError::Io {
        path: path.to_owned(),
        source,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if write_missing && error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(path, DEFAULT_CONFIG).map_err(io_error)?;
            tracing::info!(path = %path.display(), "config file was missing; wrote the defaults");
            DEFAULT_CONFIG.to_owned()
        }
        Err(error) => return Err(io_error(error)),
    };
    parse_section(path, &text, section)
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
    fn missing_file_is_written_with_defaults() {
        let dir = std::env::temp_dir().join(format!("relay-node-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.yaml");
        let _ = std::fs::remove_file(&path);
        let loaded: serde_yaml::Value = load_section(&path, "edge").unwrap();
        assert!(loaded.is_mapping());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), DEFAULT_CONFIG);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
