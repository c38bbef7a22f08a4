//! Where a recording goes: `<record_dir>/<app>/<name>-<unix start seconds>.flv`.
//!
//! Stream names reach the recorder already validated (letters, digits, `_`, `-`, `.`), but a
//! path on disk is built from them here, so this module does not rely on that check: whatever
//! it is given becomes one harmless path component.

use std::path::{Path, PathBuf};

/// Longest component kept, in characters: leaves room for `-<seconds>-<n>.flv` within the
/// 255-byte file name limit of common file systems.
const MAX_COMPONENT: usize = 128;

/// `raw` as a single path component: ASCII letters, digits, `_`, `-` and `.` are kept and every
/// other character (separators, NUL, spaces, non-ASCII) becomes `_`; a leading `.` becomes `_`,
/// so the result is never `.`, `..` or a hidden file; an empty name becomes `_`.
pub fn sanitize_component(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(MAX_COMPONENT)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.replace_range(..out.len().min(1), "_");
    }
    out
}

/// The directory of an app's recordings.
pub fn app_dir(record_dir: &Path, app: &str) -> PathBuf {
    record_dir.join(sanitize_component(app))
}

/// The file name of a recording. `attempt` 0 is the plain name; a later attempt (the same
/// stream published again within the same second) appends `-<attempt>`, so an earlier
/// recording is never overwritten.
pub fn file_name(name: &str, start_secs: u64, attempt: u32) -> String {
    let name = sanitize_component(name);
    if attempt == 0 {
        format!("{name}-{start_secs}.flv")
    } else {
        format!("{name}-{start_secs}-{attempt}.flv")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    #[test]
    fn valid_names_are_kept() {
        assert_eq!(sanitize_component("live"), "live");
        assert_eq!(sanitize_component("cam-1_a.b"), "cam-1_a.b");
        assert_eq!(file_name("cam", 1_700_000_000, 0), "cam-1700000000.flv");
        assert_eq!(file_name("cam", 1_700_000_000, 2), "cam-1700000000-2.flv");
    }

    #[test]
    fn hostile_names_become_one_plain_component() {
        let cases = [
            ("..", "_."),
            (".", "_"),
            ("", "_"),
            (".hidden", "_hidden"),
            ("../../etc/passwd", "_._.._etc_passwd"),
            ("/abs", "_abs"),
            ("a\\b", "a_b"),
            ("a\0b", "a_b"),
            ("a b\nc", "a_b_c"),
            ("ünï", "_n_"),
            ("C:x", "C_x"),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_component(raw), want, "{raw:?}");
        }
        let long = "x".repeat(10_000);
        assert_eq!(sanitize_component(&long).len(), MAX_COMPONENT);
        for raw in ["..", "../x", "/", "a/../../b", ".", "\0", "ü/.."] {
            let dir = app_dir(Path::new("rec"), raw);
            let path = dir.join(file_name(raw, 1, 0));
            let components: Vec<Component> = path.components().collect();
            assert_eq!(components.len(), 3, "{raw:?} gave {path:?}");
            assert!(
                components.iter().all(|c| matches!(c, Component::Normal(_))),
                "{raw:?} gave {path:?}"
            );
            assert!(path.starts_with("rec"), "{path:?}");
        }
    }
}
