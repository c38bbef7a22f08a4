//! Recording's I/O layer: one writer thread per recording, fed by a bounded queue.
//!
//! The connection task hands every tag of a recorded publish to [`Recording::push`], which
//! only clones the tag (a handle to its body, never the bytes) into the recording's queue and
//! never waits. A thread of the recording's own opens the file, drains the queue into
//! [`FlvRecording`] and closes the file when the publish ends (the [`Recording`] is dropped).
//!
//! # Drop policy
//!
//! The queue holds at most [`QUEUE_TAGS`] tags and [`QUEUE_BYTES`] bytes of bodies (a single
//! tag larger than that is taken when the queue is empty). When a tag does not fit, the disk
//! has fallen behind the stream: rather than writing a file with a hole in it, the recording
//! is closed there. That tag and every later one of the publish are dropped (counted in
//! `tags_dropped`), the overrun is logged and counted (`overruns`, `failed`), and the writer
//! still writes what was queued and patches the file, so it is a valid FLV that ends early.
//! A disk error stops the recording the same way (logged with the path, counted in
//! `failed`). The live stream never waits for the disk and never sees its errors.

use super::file::{Closed, FlvRecording};
use super::name::{app_dir, file_name};
use super::stats::RecordingStats;
use crate::error::CloudError;
use flv::Tag;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Most tags queued per recording: about a minute of a typical stream's tags, so the byte
/// bound is the one that acts.
pub const QUEUE_TAGS: usize = 4096;
/// Most body bytes queued per recording: about 20 s of a 3 Mb/s stream, the longest a disk may
/// stall before the recording is given up.
pub const QUEUE_BYTES: usize = 8 << 20;
/// File names tried for one recording (`-1`, `-2`, ... for republishes within a second).
const NAME_ATTEMPTS: u32 = 100;

#[derive(Debug, Clone, Copy)]
struct QueueLimits {
    tags: usize,
    bytes: usize,
}

/// Starts recordings and knows when they have all closed. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    /// `None` when recording is off.
    dir: Option<Arc<Path>>,
    shared: Arc<Shared>,
    limits: QueueLimits,
}

/// What the writer threads report to.
struct Shared {
    stats: Arc<RecordingStats>,
    /// Signalled whenever a recording has closed, for [`Recorder::wait_closed`].
    closed: Notify,
}

/// The queue between one recording's connection task and its writer.
#[derive(Default)]
struct QueueState {
    bytes: AtomicUsize,
    /// Set before the queue is abandoned because it was full, so the writer counts the
    /// recording as failed.
    overrun: AtomicBool,
}

impl Recorder {
    /// Records into `dir` (created now; an error names `cloud.record_dir`), or nothing when
    /// `dir` is `None`.
    pub fn new(dir: Option<PathBuf>, stats: Arc<RecordingStats>) -> Result<Self, CloudError> {
        if let Some(dir) = &dir {
            prepare_dir(dir)?;
        }
        Ok(Recorder {
            dir: dir.map(Arc::from),
            shared: Arc::new(Shared {
                stats,
                closed: Notify::new(),
            }),
            limits: QueueLimits {
                tags: QUEUE_TAGS,
                bytes: QUEUE_BYTES,
            },
        })
    }

    /// Begins recording the publish of `app/name` that started at `start_secs` (Unix
    /// seconds), or `None` when recording is off. The file is opened by the writer thread, not
    /// here, so a slow disk does not hold up the publish.
    pub fn start(&self, app: &str, name: &str, start_secs: u64) -> Option<Recording> {
        let app_dir = app_dir(self.dir.as_ref()?, app);
        let file_stem = name.to_owned();
        Some(self.spawn(format!("{app}/{name}"), move || {
            create_file(&app_dir, &file_stem, start_secs)
        }))
    }

    /// The counters of every recording this recorder started.
    pub fn stats(&self) -> &Arc<RecordingStats> {
        &self.shared.stats
    }

    /// Waits until no recording is open, at most `timeout`; whether none is.
    pub async fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let closed = self.shared.closed.notified();
            tokio::pin!(closed);
            // Registered before the count is read, so a close in between is not missed.
            closed.as_mut().enable();
            if self.shared.stats.open.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, closed).await.is_err() {
                return self.shared.stats.open.load(Ordering::Acquire) == 0;
            }
        }
    }

    fn spawn<W, F>(&self, stream: String, open: F) -> Recording
    where
        W: Write + Seek,
        F: FnOnce() -> Result<(W, PathBuf), CloudError> + Send + 'static,
    {
        let stats = &self.shared.stats;
        stats.started.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::AcqRel);
        let (sender, receiver) = sync_channel(self.limits.tags);
        let state = Arc::new(QueueState::default());
        let shared = self.shared.clone();
        let writer_state = state.clone();
        let spawned = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || run_writer(open, receiver, &writer_state, &shared));
        let queue = match spawned {
            Ok(_) => Some(sender),
            Err(error) => {
                tracing::error!(stream, %error, "recording not started: cannot start its writer thread");
                stats.failed.fetch_add(1, Ordering::Relaxed);
                stats.open.fetch_sub(1, Ordering::AcqRel);
                None
            }
        };
        Recording {
            stream,
            queue,
            state,
            limits: self.limits,
            stats: stats.clone(),
        }
    }
}

/// Creates the recording directory at start and checks that files can be made in it.
fn prepare_dir(dir: &Path) -> Result<(), CloudError> {
    let fail = |what: &str, error| {
        CloudError::io(format!("cloud.record_dir: {what} {}", dir.display()), error)
    };
    std::fs::create_dir_all(dir).map_err(|error| fail("creating", error))?;
    let probe = dir.join(format!(".liverelay-write-check-{}", std::process::id()));
    File::create(&probe).map_err(|error| fail("cannot write in", error))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Opens a new file for the recording, never over an existing one.
fn create_file(app_dir: &Path, name: &str, start_secs: u64) -> Result<(File, PathBuf), CloudError> {
    std::fs::create_dir_all(app_dir).map_err(|error| {
        CloudError::io(
            format!("creating recording directory {}", app_dir.display()),
            error,
        )
    })?;
    let mut attempt = 0;
    loop {
        let path = app_dir.join(file_name(name, start_secs, attempt));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(error)
                if error.kind() == io::ErrorKind::AlreadyExists && attempt + 1 < NAME_ATTEMPTS =>
            {
                attempt += 1
            }
            Err(error) => {
                return Err(CloudError::io(
                    format!("creating recording {}", path.display()),
                    error,
                ))
            }
        }
    }
}

/// The writer thread: open, write until the publish ends, close, report.
fn run_writer<W, F>(open: F, tags: Receiver<Tag>, state: &QueueState, shared: &Shared)
where
    W: Write + Seek,
    F: FnOnce() -> Result<(W, PathBuf), CloudError>,
{
    let stats = &shared.stats;
    let outcome = open().and_then(|(file, path)| {
        tracing::info!(path = %path.display(), "recording started");
        write_recording(file, tags, state, stats)
            .map(|closed| (closed, path.clone()))
            .map_err(|error| CloudError::io(format!("writing recording {}", path.display()), error))
    });
    match outcome {
        Ok((closed, path)) if !state.overrun.load(Ordering::Acquire) => {
            stats.finished.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                path = %path.display(),
                duration_s = f64::from(closed.duration_ms) / 1000.0,
                bytes = closed.size,
                "recording finished"
            );
        }
        Ok((closed, path)) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                path = %path.display(),
                duration_s = f64::from(closed.duration_ms) / 1000.0,
                "recording closed early: the disk did not keep up with the stream (its queue was full); the file ends there"
            );
        }
        Err(error) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, "recording stopped");
        }
    }
    stats.open.fetch_sub(1, Ordering::AcqRel);
    shared.closed.notify_waiters();
}

/// Writes every queued tag until the queue's sender is dropped, then closes the file. After
/// a write error the rest of the queue is dropped (and counted), and the close is still tried
/// so that whatever was written gets its `duration` and `filesize`.
fn write_recording<W: Write + Seek>(
    file: W,
    tags: Receiver<Tag>,
    state: &QueueState,
    stats: &RecordingStats,
) -> io::Result<Closed> {
    let mut recording = FlvRecording::new(file);
    let mut counted = 0;
    let mut failure = None;
    for tag in tags.iter() {
        state.bytes.fetch_sub(tag.body.len(), Ordering::AcqRel);
        let written = recording.write_tag(&tag);
        stats
            .bytes_written
            .fetch_add(recording.size() - counted, Ordering::Relaxed);
        counted = recording.size();
        if let Err(error) = written {
            failure = Some(error);
            break;
        }
    }
    // The handle sees the queue gone and stops queuing.
    let lost = tags.try_iter().count() as u64;
    drop(tags);
    stats.tags_dropped.fetch_add(lost, Ordering::Relaxed);
    let closed = recording.finish();
    if let Ok((closed, _)) = &closed {
        stats
            .bytes_written
            .fetch_add(closed.size - counted, Ordering::Relaxed);
    }
    match failure {
        Some(error) => Err(error),
        None => closed.map(|(closed, _)| closed),
    }
}

/// One publish's recording, owned by its connection task. Dropping it ends the recording: the
/// writer writes what is queued and closes the file.
pub struct Recording {
    stream: String,
    /// `None` once the recording has stopped.
    queue: Option<SyncSender<Tag>>,
    state: Arc<QueueState>,
    limits: QueueLimits,
    stats: Arc<RecordingStats>,
}

impl Recording {
    /// Queues `tag` for the file without waiting; see the module's drop policy for a full
    /// queue.
    pub fn push(&mut self, tag: &Tag) {
        if let Some(queue) = &self.queue {
            let len = tag.body.len();
            let queued = self.state.bytes.load(Ordering::Acquire);
            let sent = if queued > 0 && queued + len > self.limits.bytes {
                Err(TrySendError::Full(()))
            } else {
                self.state.bytes.fetch_add(len, Ordering::AcqRel);
                queue.try_send(tag.clone()).map_err(|error| {
                    self.state.bytes.fetch_sub(len, Ordering::AcqRel);
                    match error {
                        TrySendError::Full(_) => TrySendError::Full(()),
                        TrySendError::Disconnected(_) => TrySendError::Disconnected(()),
                    }
                })
            };
            match sent {
                Ok(()) => return,
                Err(TrySendError::Full(())) => {
                    self.state.overrun.store(true, Ordering::Release);
                    self.stats.overruns.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        stream = %self.stream,
                        "recording stopped: the disk is not keeping up with the stream; the stream goes on"
                    );
                }
                // The writer stopped on an error and has logged it.
                Err(TrySendError::Disconnected(())) => {}
            }
            self.queue = None;
        }
        self.stats.tags_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::stats::RecordingStatsSnapshot;
    use super::*;
    use bytes::Bytes;
    use flv::{TagReader, TagType};
    use std::io::{Cursor, SeekFrom};
    use std::sync::Mutex;

    /// An in-memory file the test can read while the writer owns a handle to it.
    #[derive(Clone, Default)]
    struct SharedFile {
        bytes: Arc<Mutex<Cursor<Vec<u8>>>>,
        failing: Arc<AtomicBool>,
    }

    impl Write for SharedFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.failing.load(Ordering::Acquire) {
                return Err(io::Error::other("no space left"));
            }
            self.bytes.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for SharedFile {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.bytes.lock().unwrap().seek(to)
        }
    }

    impl SharedFile {
        fn tags(&self) -> Vec<Tag> {
            let mut reader = TagReader::new();
            reader.push(self.bytes.lock().unwrap().get_ref());
            std::iter::from_fn(|| reader.next_tag().unwrap()).collect()
        }

        fn len(&self) -> u64 {
            self.bytes.lock().unwrap().get_ref().len() as u64
        }
    }

    fn recorder(tags: usize, bytes: usize) -> Recorder {
        Recorder {
            dir: None,
            shared: Arc::new(Shared {
                stats: Arc::default(),
                closed: Notify::new(),
            }),
            limits: QueueLimits { tags, bytes },
        }
    }

    fn audio(timestamp: u32, len: usize) -> Tag {
        Tag::new(TagType::Audio, timestamp, Bytes::from(vec![0xaf; len]))
    }

    /// A recording whose file cannot be opened until `gate` is released (a stalled disk).
    fn stalled(recorder: &Recorder, file: &SharedFile) -> (Recording, std::sync::mpsc::Sender<()>) {
        let (gate, stall) = std::sync::mpsc::channel::<()>();
        let file = file.clone();
        let recording = recorder.spawn("live/test".into(), move || {
            let _ = stall.recv();
            Ok((file, PathBuf::from("test.flv")))
        });
        (recording, gate)
    }

    async fn closed(recorder: &Recorder) -> RecordingStatsSnapshot {
        assert!(recorder.wait_closed(Duration::from_secs(10)).await);
        recorder.shared.stats.snapshot()
    }

    #[tokio::test]
    async fn a_full_queue_closes_the_recording_without_holes() {
        let recorder = recorder(4, 1 << 20);
        let file = SharedFile::default();
        let (mut recording, gate) = stalled(&recorder, &file);
        for index in 0..10 {
            recording.push(&audio(index * 20, 10));
        }
        let during = recorder.shared.stats.snapshot();
        assert_eq!(
            (during.overruns, during.tags_dropped, during.open),
            (1, 6, 1)
        );
        // The file is closed at once, not at the end of the publish, which goes on.
        drop(gate);
        let stats = closed(&recorder).await;
        assert_eq!(
            stats,
            RecordingStatsSnapshot {
                started: 1,
                finished: 0,
                failed: 1,
                bytes_written: file.len(),
                tags_dropped: 6,
                overruns: 1,
                open: 0,
            }
        );
        recording.push(&audio(200, 10));
        assert_eq!(recorder.stats().snapshot().tags_dropped, 7);
        // The four queued tags, in order and whole; the duration is theirs.
        let tags = file.tags();
        let times: Vec<u32> = tags[1..].iter().map(|t| t.timestamp).collect();
        assert_eq!(times, [0, 20, 40, 60]);
        assert!(tags[0].is_metadata());
        let meta = rml_amf0::deserialize(&mut Cursor::new(tags[0].body.to_vec())).unwrap();
        let properties = meta[1].clone().get_object_properties().unwrap();
        assert_eq!(properties["duration"], rml_amf0::Amf0Value::Number(0.06));
    }

    #[tokio::test]
    async fn the_byte_bound_acts_but_one_large_tag_fits_an_empty_queue() {
        let recorder = recorder(100, 1000);
        let file = SharedFile::default();
        let (mut recording, gate) = stalled(&recorder, &file);
        recording.push(&audio(0, 5000));
        assert_eq!(recorder.shared.stats.snapshot().overruns, 0);
        recording.push(&audio(20, 1));
        recording.push(&audio(40, 1));
        let during = recorder.shared.stats.snapshot();
        assert_eq!((during.overruns, during.tags_dropped), (1, 2));
        drop(gate);
        drop(recording);
        let stats = closed(&recorder).await;
        assert_eq!((stats.failed, stats.finished), (1, 0));
        let tags = file.tags();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[1].body.len(), 5000);
    }

    #[tokio::test]
    async fn a_disk_error_stops_the_recording_and_the_stream_goes_on() {
        let recorder = recorder(100, 1 << 20);
        let file = SharedFile::default();
        let (mut recording, gate) = stalled(&recorder, &file);
        drop(gate);
        recording.push(&audio(0, 10));
        tokio::time::timeout(Duration::from_secs(10), async {
            while file.tags().len() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        file.failing.store(true, Ordering::Release);
        recording.push(&audio(20, 10));
        let stats = closed(&recorder).await;
        assert_eq!((stats.failed, stats.finished, stats.open), (1, 0, 0));
        // Pushing into a stopped recording costs nothing and is counted.
        recording.push(&audio(40, 10));
        recording.push(&audio(60, 10));
        let stats = recorder.shared.stats.snapshot();
        assert_eq!(stats.tags_dropped, 2);
        assert_eq!(stats.overruns, 0);
        assert_eq!(file.tags().len(), 2, "the head and the first tag");
    }

    fn temp_dir(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("liverelay-recorder-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn files_are_named_by_stream_and_start_and_never_overwritten() {
        let dir = temp_dir("names");
        let recorder = Recorder::new(Some(dir.clone()), Arc::default()).unwrap();
        for _ in 0..2 {
            let mut recording = recorder.start("live", "cam", 1_700_000_000).unwrap();
            recording.push(&audio(0, 10));
        }
        let stats = closed(&recorder).await;
        assert_eq!((stats.started, stats.finished, stats.failed), (2, 2, 0));
        let mut names: Vec<String> = std::fs::read_dir(dir.join("live"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["cam-1700000000-1.flv", "cam-1700000000.flv"]);
        let sizes: u64 = names
            .iter()
            .map(|name| {
                std::fs::metadata(dir.join("live").join(name))
                    .unwrap()
                    .len()
            })
            .sum();
        assert_eq!(stats.bytes_written, sizes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unusable_record_dir_is_refused_by_its_key() {
        let dir = temp_dir("unusable");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, b"x").unwrap();
        let error = Recorder::new(Some(file.join("record")), Arc::default())
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("cloud.record_dir: "), "{error}");
        assert!(Recorder::new(None, Arc::default())
            .unwrap()
            .start("a", "b", 0)
            .is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
