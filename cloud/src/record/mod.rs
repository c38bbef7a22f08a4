//! Recording on the cloud: one FLV file per publish, `<record_dir>/<app>/<name>-<unix start
//! seconds>.flv`, when `cloud.enable_record` is on.
//!
//! - [`name`]: the file's path, from stream names it does not trust.
//! - [`metadata`]: the file's `onMetaData`, with `duration` and `filesize` patchable in place.
//! - [`file`]: the recording format over any `Write + Seek` (header, metadata, rebased tags,
//!   the patch at close).
//! - [`recorder`]: the I/O: a bounded queue and a writer thread per recording, its drop policy,
//!   and waiting for every recording to close at shutdown.
//! - [`stats`]: the counters.

mod file;
mod metadata;
mod name;
mod recorder;
mod stats;

pub use recorder::{Recorder, Recording};
pub use stats::RecordingStats;
