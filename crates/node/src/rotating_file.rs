//! A log file rotated by size, for `enable_log_file`.
//!
//! Nodes run for months under supervisord, so their own log file must not grow until the disk
//! is full. `NAME` is the file written; when the next event would take it past `max_bytes` it
//! is renamed `NAME.1`, the older ones shift up (`NAME.1` -> `NAME.2` ...), `NAME.<max_files>`
//! is overwritten (so exactly `max_files` rotated files are kept) and a new `NAME` is started.
//! With `max_files` 0 nothing is kept: `NAME` is truncated in place.
//!
//! Rotation happens only between lines, never inside one, so every file holds whole lines. An
//! event larger than `max_bytes` goes whole into a file of its own.
//!
//! Logging must never stop or crash the node: when rotation fails (the directory became
//! read-only, say) the node keeps writing to the file it has, says so once on stderr and tries
//! again every [`RETRY_INTERVAL`]; when a write fails (disk full) the event is dropped, also
//! said once.

use parking_lot::{Mutex, MutexGuard};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::MakeWriter;

/// How long after a failed rotation the next attempt waits: often enough to recover soon
/// after the cause is fixed, rarely enough that a lasting failure costs nothing per event.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// The log file, shared by every thread that logs. Implements [`MakeWriter`], so it can be
/// handed to `tracing_subscriber::fmt().with_writer(..)`.
pub struct RotatingFile {
    state: Mutex<State>,
}

struct State {
    path: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: File,
    /// Bytes in `file`: its size when opened plus what was written since.
    size: u64,
    /// Whether the last byte written ended a line. A rotation that falls due in the middle of
    /// a line waits for the line's end.
    at_line_start: bool,
    /// Set while rotation fails: no attempt before this instant.
    retry_at: Option<Instant>,
    /// Whether the current run of failed writes was reported.
    write_failing: bool,
    /// Messages written to stderr, counted for the tests.
    reports: u32,
}

impl RotatingFile {
    /// Opens (or creates) `path` for appending; the existing size counts toward `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64, max_files: u32) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            state: Mutex::new(State {
                path: path.to_owned(),
                max_bytes,
                max_files,
                file,
                size,
                // A line a previous process left unfinished is not ours to finish.
                at_line_start: true,
                retry_at: None,
                write_failing: false,
                reports: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Writes one event (tracing's formatter hands over a whole event in one write), rotating
    /// first when it would take the file past `max_bytes`. Never fails: failures are reported
    /// on stderr instead, so a logging problem cannot become the node's problem.
    fn write_event(&self, buf: &[u8]) -> usize {
        let mut state = self.lock();
        if state.rotation_due(buf.len() as u64) {
            state.try_rotate();
        }
        match state.file.write_all(buf) {
            Ok(()) => {
                state.size += buf.len() as u64;
                if state.write_failing {
                    state.write_failing = false;
                    let message = format!("{}: writing works again", state.path.display());
                    state.report(&message);
                }
            }
            Err(error) => {
                // Part of it may have been written; the file's size is what counts.
                state.size = state.file.metadata().map_or(state.size, |m| m.len());
                if !state.write_failing {
                    state.write_failing = true;
                    let message = format!(
                        "{}: cannot write ({error}); log events are dropped until it works again",
                        state.path.display()
                    );
                    state.report(&message);
                }
            }
        }
        if let Some(last) = buf.last() {
            state.at_line_start = *last == b'\n';
        }
        buf.len()
    }
}

impl State {
    fn rotation_due(&self, incoming: u64) -> bool {
        self.size > 0
            && self.size.saturating_add(incoming) > self.max_bytes
            && self.at_line_start
            && self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    fn try_rotate(&mut self) {
        match self.rotate() {
            Ok(()) => {
                if self.retry_at.take().is_some() {
                    let message = format!("{}: rotation works again", self.path.display());
                    self.report(&message);
                }
            }
            Err(error) => {
                if self.retry_at.is_none() {
                    let message = format!(
                        "{}: cannot rotate ({error}); writing on to the current file, trying \
                         again every {} s",
                        self.path.display(),
                        RETRY_INTERVAL.as_secs()
                    );
                    self.report(&message);
                }
                self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
            }
        }
    }

    /// One rotation. On an error the current file stays where it is and is written on.
    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.max_files;
        // Files beyond the limit (left by a larger `log_max_files` before a restart).
        let mut extra = keep + 1;
        while remove_if_present(&self.numbered(extra))? {
            extra += 1;
        }
        if keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        // Shift only the run that exists, newest last, so nothing is overwritten but the oldest.
        let mut present = 0;
        while present < keep - 1 && self.numbered(present + 1).exists() {
            present += 1;
        }
        for n in (1..=present).rev() {
            std::fs::rename(self.numbered(n), self.numbered(n + 1))?;
        }
        let first = self.numbered(1);
        let moved = match std::fs::rename(&self.path, &first) {
            Ok(()) => true,
            // Someone else moved or removed the file: what is written goes nowhere anyone
            // looks, so start a new file under the name.
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(error) => return Err(error),
        };
        match open_append(&self.path) {
            Ok(file) => {
                self.file = file;
                self.size = 0;
                Ok(())
            }
            Err(error) => {
                // Put the file back under its name, so the next attempt starts from where this
                // one did instead of shifting the files again.
                if moved {
                    let _ = std::fs::rename(&first, &self.path);
                }
                Err(error)
            }
        }
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn report(&mut self, message: &str) {
        self.reports += 1;
        eprintln!("log file {message}");
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Removes `path`; `Ok(false)` when there was nothing to remove.
fn remove_if_present(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// What [`RotatingFile`] hands to tracing for one event.
pub struct RotatingWriter<'a>(&'a RotatingFile);

impl Write for RotatingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.0.write_event(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        // Every write goes straight to the file; there is no buffer to flush.
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = RotatingWriter<'a>;

    fn make_writer(&'a self) -> RotatingWriter<'a> {
        RotatingWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str) -> TempDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "relay-node-rotation-{label}-{}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn log(&self) -> PathBuf {
            self.0.join("node.log")
        }

        fn read(&self, name: &str) -> Option<String> {
            std::fs::read_to_string(self.0.join(name)).ok()
        }

        /// The names of the files in the directory, sorted.
        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write(file: &RotatingFile, text: &str) {
        file.make_writer().write_all(text.as_bytes()).unwrap();
    }

    /// A 10-byte line numbered `n`.
    fn line(n: u32) -> String {
        format!("line {n:04}\n")
    }

    /// Lines `from` to `to`, both included.
    fn lines(from: u32, to: u32) -> String {
        (from..=to).map(line).collect()
    }

    /// The directory holds exactly these files, with these contents.
    fn assert_files(dir: &TempDir, expected: &[(&str, &str)]) {
        let names: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
        assert_eq!(dir.names(), names);
        for (name, text) in expected {
            assert_eq!(dir.read(name).unwrap(), *text, "{name}");
        }
    }

    #[test]
    fn rotates_at_the_boundary_counting_what_the_file_held() {
        // The first two lines written through the writer, or left by an earlier run: a node
        // restarted on its file rotates where it would have without the restart.
        for left_by_earlier_run in [false, true] {
            let dir = TempDir::new("boundary");
            if left_by_earlier_run {
                std::fs::write(dir.log(), lines(0, 1)).unwrap();
            }
            let file = RotatingFile::open(&dir.log(), 30, 3).unwrap();
            if !left_by_earlier_run {
                write(&file, &lines(0, 1));
            }
            write(&file, &line(2));
            // Exactly max_bytes is allowed.
            assert_files(&dir, &[("node.log", &lines(0, 2))]);
            // One more byte would pass it.
            write(&file, &line(3));
            assert_files(
                &dir,
                &[("node.log", &line(3)), ("node.log.1", &lines(0, 2))],
            );
        }
    }

    #[test]
    fn keeps_exactly_max_files_newest_first() {
        let dir = TempDir::new("keep");
        let file = RotatingFile::open(&dir.log(), 20, 3).unwrap();
        // Two lines a file: lines 0 to 13 would make node.log.6 ... node.log.1 and node.log
        // if all were kept.
        for n in 0..14 {
            write(&file, &line(n));
        }
        assert_files(
            &dir,
            &[
                ("node.log", &lines(12, 13)),
                ("node.log.1", &lines(10, 11)),
                ("node.log.2", &lines(8, 9)),
                ("node.log.3", &lines(6, 7)),
            ],
        );
    }

    #[test]
    fn never_splits_a_line() {
        let dir = TempDir::new("lines");
        let file = RotatingFile::open(&dir.log(), 26, 2).unwrap();
        write(&file, &lines(0, 1));
        // A line written in pieces: the rotation due at its second piece waits for its end.
        write(&file, "piece ");
        write(&file, "by piece\n");
        let pieces = lines(0, 1) + "piece by piece\n";
        assert_files(&dir, &[("node.log", &pieces)]);
        write(&file, &line(2));
        assert_files(&dir, &[("node.log", &line(2)), ("node.log.1", &pieces)]);
        // An event of several lines, larger than max_bytes, stays whole in a file of its own.
        write(&file, &lines(3, 5));
        assert_files(
            &dir,
            &[
                ("node.log", &lines(3, 5)),
                ("node.log.1", &line(2)),
                ("node.log.2", &pieces),
            ],
        );
    }

    #[test]
    fn removes_files_beyond_a_smaller_limit_and_fills_gaps() {
        let dir = TempDir::new("leftovers");
        // Left by a run with a larger log_max_files; .3 is missing.
        for n in [1, 2, 4, 5, 6] {
            std::fs::write(dir.0.join(format!("node.log.{n}")), format!("old {n}\n")).unwrap();
        }
        std::fs::write(dir.log(), line(0)).unwrap();
        let file = RotatingFile::open(&dir.log(), 10, 3).unwrap();
        write(&file, &line(1));
        assert_files(
            &dir,
            &[
                ("node.log", &line(1)),
                ("node.log.1", &line(0)),
                ("node.log.2", "old 1\n"),
                ("node.log.3", "old 2\n"),
            ],
        );
    }

    #[test]
    fn a_file_removed_by_someone_else_is_started_again_at_the_next_rotation() {
        let dir = TempDir::new("removed");
        let file = RotatingFile::open(&dir.log(), 20, 2).unwrap();
        write(&file, &line(0));
        std::fs::remove_file(dir.log()).unwrap();
        write(&file, &lines(1, 2));
        assert_files(&dir, &[("node.log", &lines(1, 2))]);
        write(&file, &line(3));
        assert_files(
            &dir,
            &[("node.log", &line(3)), ("node.log.1", &lines(1, 2))],
        );
        assert_eq!(file.lock().reports, 0);
    }

    #[test]
    fn zero_files_truncates_in_place() {
        let dir = TempDir::new("zero");
        std::fs::write(dir.0.join("node.log.1"), "old\n").unwrap();
        let file = RotatingFile::open(&dir.log(), 20, 0).unwrap();
        write(&file, &lines(0, 1));
        write(&file, &line(2));
        assert_files(&dir, &[("node.log", &line(2))]);
    }

    /// A directory the process cannot write to; `None` where permissions are not enforced
    /// (running as root), so the failure cannot be made this way.
    fn make_read_only(dir: &Path) -> Option<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = dir.join("probe");
        if std::fs::write(&probe, "").is_ok() {
            let _ = std::fs::remove_file(&probe);
            make_writable(dir);
            return None;
        }
        Some(())
    }

    fn make_writable(dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_failed_rotation_writes_on_and_reports_once() {
        let dir = TempDir::new("failure");
        let file = RotatingFile::open(&dir.log(), 20, 1).unwrap();
        write(&file, &line(0));
        write(&file, &line(1));
        let read_only = make_read_only(&dir.0).is_some();
        let blocker = dir.0.join("node.log.1");
        if !read_only {
            // Root ignores the mode bits: make the rename fail instead with a non-empty
            // directory where the rotated file goes.
            std::fs::create_dir(&blocker).unwrap();
            std::fs::write(blocker.join("x"), "").unwrap();
        }
        for n in 2..6 {
            write(&file, &line(n));
        }
        {
            let state = file.lock();
            assert_eq!(state.reports, 1, "one report for the whole failure");
            assert!(state.retry_at.is_some());
        }
        // Everything went on into the current file.
        let all = lines(0, 5);
        assert_eq!(dir.read("node.log").unwrap(), all);
        // Once the cause is gone, the next attempt (made due now here) rotates.
        if read_only {
            make_writable(&dir.0);
        } else {
            std::fs::remove_dir_all(&blocker).unwrap();
        }
        file.lock().retry_at = Some(Instant::now());
        write(&file, &line(6));
        assert_eq!(dir.read("node.log.1").unwrap(), all);
        assert_eq!(dir.read("node.log").unwrap(), line(6));
        let state = file.lock();
        assert_eq!(state.reports, 2, "the failure and the recovery");
        assert!(state.retry_at.is_none());
    }

    #[test]
    fn a_failed_write_is_reported_once_and_never_returned() {
        // Every write to /dev/full fails with "no space left on device".
        let file = RotatingFile::open(Path::new("/dev/full"), 64 << 10, 1).unwrap();
        let mut writer = file.make_writer();
        for n in 0..3 {
            writer.write_all(line(n).as_bytes()).unwrap();
        }
        assert_eq!(file.lock().reports, 1);
    }

    #[test]
    fn many_threads_never_interleave_within_a_line() {
        let dir = TempDir::new("threads");
        let file = std::sync::Arc::new(RotatingFile::open(&dir.log(), 4096, 50).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let file = file.clone();
                std::thread::spawn(move || {
                    for n in 0..500 {
                        write(
                            &file,
                            &format!("thread {t} event {n:03} {}\n", "x".repeat(40)),
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut lines = 0;
        for name in dir.names() {
            let text = dir.read(&name).unwrap();
            assert!(text.len() <= 4096, "{name} has {} bytes", text.len());
            for l in text.lines() {
                assert!(
                    l.starts_with("thread ") && l.ends_with(&"x".repeat(40)),
                    "{name}: {l:?}"
                );
                lines += 1;
            }
        }
        assert_eq!(lines, 2000);
    }
}
