//! Recording counters, shared by the connection tasks and the writer threads, read by whatever
//! reports them. Atomics only, so neither side ever waits for the other.

use std::sync::atomic::{AtomicU64, Ordering};

/// Totals since start. Every recording ends exactly once, as finished or failed, so
/// `started == finished + failed + open`.
#[derive(Debug, Default)]
pub struct RecordingStats {
    /// Recordings begun: one per publish while `cloud.enable_record` is on.
    pub started: AtomicU64,
    /// Recordings closed normally, with `duration` and `filesize` patched.
    pub finished: AtomicU64,
    /// Recordings that could not be opened or written, or were closed early by a queue
    /// overrun (also counted in `overruns`).
    pub failed: AtomicU64,
    /// Bytes written to recording files.
    pub bytes_written: AtomicU64,
    /// Tags of recorded publishes that did not reach the file: the one that found the queue
    /// full and every later one of that publish, or those after a disk error.
    pub tags_dropped: AtomicU64,
    /// Recordings closed because the disk did not keep up with the stream.
    pub overruns: AtomicU64,
    /// Recordings open now (a gauge: goes down as they close).
    pub open: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingStatsSnapshot {
    pub started: u64,
    pub finished: u64,
    pub failed: u64,
    pub bytes_written: u64,
    pub tags_dropped: u64,
    pub overruns: u64,
    pub open: u64,
}

impl RecordingStats {
    /// Reads every counter once (relaxed loads; the values are not one atomic cut).
    pub fn snapshot(&self) -> RecordingStatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RecordingStatsSnapshot {
            started: get(&self.started),
            finished: get(&self.finished),
            failed: get(&self.failed),
            bytes_written: get(&self.bytes_written),
            tags_dropped: get(&self.tags_dropped),
            overruns: get(&self.overruns),
            open: get(&self.open),
        }
    }
}
