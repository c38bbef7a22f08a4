//! Recording on the cloud (`enable_record`): one FLV file per publish that plays like the
//! source, survives `kill -9` up to its last tag, is closed by SIGTERM, and a `record_dir` that
//! cannot be used stops the cloud at start.

use crate::{logs, LIVE_TIMEOUT};
use e2e_tests::flv::{self, Flv};
use e2e_tests::media::{compare_packets, ffprobe_duration, framemd5, run_ffmpeg};
use e2e_tests::process::Proc;
use e2e_tests::util::{free_port, poll_until, relay_bin};
use e2e_tests::{Cloud, CloudConfig, Media, Publisher, TestDir};
use rml_amf0::Amf0Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How far the last recorded timestamp may be from the time published before the cloud
/// stopped: ffmpeg's start-up, the polling step and scheduling on a loaded machine.
const CUT_TOLERANCE_S: f64 = 1.5;

/// A cloud that records into `record` under the test directory (its working directory: the
/// default `record_dir` is relative) and sends RTP to a port nobody listens on.
fn recording_cloud(dir: &TestDir) -> Cloud {
    let mut config = CloudConfig::new(dir.path(), vec![format!("127.0.0.1:{}", free_port())]);
    config.extra.push("enable_record: true".into());
    Cloud::start(dir.path(), config)
}

/// The recordings of app `live`.
fn recordings(dir: &TestDir) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("record").join("live")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
}

/// The only recording, parsed; panics with the cloud's log otherwise.
fn the_recording(dir: &TestDir, cloud: &Proc) -> (PathBuf, Vec<u8>, Flv) {
    let files = recordings(dir);
    assert_eq!(files.len(), 1, "recordings: {files:?}\n{}", logs(&[cloud]));
    let bytes = std::fs::read(&files[0]).expect("read the recording");
    let parsed = flv::parse(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", files[0].display(), logs(&[cloud])));
    (files[0].clone(), bytes, parsed)
}

/// Starts a recording cloud and a publish of the 10 s source to `live/<name>`, and returns
/// `seconds` into the publish, with the moment it started. That is taken to be when the file
/// first holds media (ffmpeg `-re` sends the first tags at once).
fn publish_for(dir: &TestDir, name: &str, seconds: u64) -> (Cloud, Publisher, Instant) {
    let cloud = recording_cloud(dir);
    let publisher = Publisher::start(dir, "publisher", Media::long(), &cloud.rtmp_url(name));
    let started = poll_until(LIVE_TIMEOUT, Duration::from_millis(10), || {
        let file = recordings(dir).pop()?;
        let parsed = flv::parse(&std::fs::read(file).ok()?).ok()?;
        let has_media = parsed.media().next().is_some();
        has_media.then(Instant::now)
    })
    .unwrap_or_else(|| {
        panic!(
            "no media recorded within {LIVE_TIMEOUT:?}\n{}",
            logs(&[&cloud.proc, &publisher.proc])
        )
    });
    std::thread::sleep(Duration::from_secs(seconds).saturating_sub(started.elapsed()));
    (cloud, publisher, started)
}

/// `duration` and `filesize` of the file's first tag, which must be its `onMetaData`.
fn duration_and_filesize(parsed: &Flv) -> (f64, f64) {
    let first = parsed.tags.first().expect("a tag");
    assert_eq!(
        first.script_name().as_deref(),
        Some("onMetaData"),
        "first tag {first:?}"
    );
    let values = rml_amf0::deserialize(&mut std::io::Cursor::new(&first.data))
        .unwrap_or_else(|e| panic!("onMetaData is not AMF0: {e:?}"));
    let properties = values
        .get(1)
        .cloned()
        .and_then(Amf0Value::get_object_properties)
        .expect("onMetaData properties");
    let number = |key: &str| match properties.get(key) {
        Some(Amf0Value::Number(n)) => *n,
        other => panic!("onMetaData {key} is {other:?}: {properties:?}"),
    };
    (number("duration"), number("filesize"))
}

/// The largest timestamp of the file's audio and video, in seconds.
fn last_media_time(parsed: &Flv) -> f64 {
    let last = parsed.media().map(|t| t.ts).max().expect("media tags");
    f64::from(last) / 1000.0
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A 10 s publish: one file at `record/live/<name>-<start>.flv`, whose start second is within
/// the publish, whose duration and size are patched in, and whose packets are the source's.
#[test]
fn a_publish_is_recorded_to_one_file() {
    let media = Media::long();
    let dir = TestDir::new("record");
    let mut cloud = recording_cloud(&dir);
    let before = unix_now().floor() as u64;
    let mut publisher = Publisher::start(&dir, "publisher", media, &cloud.rtmp_url("rec"));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&[&cloud.proc]));
    }
    let after = unix_now().ceil() as u64;
    let closed = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        (!cloud.proc.log_lines("recording finished").is_empty()).then_some(())
    });
    assert!(
        closed.is_some(),
        "the recording was not closed after the publish\n{}",
        logs(&[&cloud.proc])
    );
    let (path, bytes, parsed) = the_recording(&dir, &cloud.proc);
    let file_name = path.file_name().and_then(|n| n.to_str()).expect("name");
    let start: u64 = file_name
        .strip_prefix("rec-")
        .and_then(|rest| rest.strip_suffix(".flv"))
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("file name {file_name:?} is not rec-<unix seconds>.flv"));
    assert!(
        (before..=after).contains(&start),
        "start second {start} is outside the publish ({before}..={after})"
    );
    assert_eq!(
        parsed.trailing, 0,
        "a closed recording ends with a whole tag"
    );
    let (duration, filesize) = duration_and_filesize(&parsed);
    assert_eq!(filesize, bytes.len() as f64, "onMetaData filesize");
    assert_eq!(duration, last_media_time(&parsed), "onMetaData duration");
    let source = ffprobe_duration(&media.path).expect("ffprobe the source");
    let recorded = ffprobe_duration(&path).expect("ffprobe the recording");
    eprintln!("duration: source {source:.3} s, recording {recorded:.3} s");
    assert!(
        (recorded - source).abs() <= 0.5,
        "ffprobe duration {recorded} s, source {source} s"
    );
    let got = framemd5(&path).expect("framemd5 of the recording");
    if let Err(e) = media.check_identity(&got) {
        panic!("the recording's packets: {e}\n{}", logs(&[&cloud.proc]));
    }
    cloud.proc.assert_running("after the recording");
    let stat = cloud.livestat();
    assert_eq!(stat["status"], 200, "{stat}");
}

/// `kill -9` about 5 s into a publish: the file plays to where it was cut.
#[test]
fn a_killed_cloud_leaves_a_playable_recording() {
    let media = Media::long();
    let dir = TestDir::new("record-kill");
    let (mut cloud, publisher, started) = publish_for(&dir, "kill", 5);
    cloud.proc.assert_running("before the kill");
    let published = started.elapsed().as_secs_f64();
    cloud.proc.kill();
    drop(publisher);
    let (path, _, parsed) = the_recording(&dir, &cloud.proc);
    // Never closed: the metadata is as first written.
    assert_eq!(duration_and_filesize(&parsed), (0.0, 0.0));
    let last = last_media_time(&parsed);
    eprintln!("kill -9: last recorded {last:.3} s, published {published:.3} s");
    assert!(
        (last - published).abs() <= CUT_TOLERANCE_S,
        "last recorded time {last} s, published for {published:.3} s before the kill"
    );
    // The complete tags are the source's first packets, exactly.
    let got = framemd5(&path).expect("framemd5 of the recording");
    for kind in ["video", "audio"] {
        let source = media.md5.of_kind(kind);
        let recorded = got.of_kind(kind);
        assert!(
            recorded.len() > 10,
            "{} {kind} packets recorded",
            recorded.len()
        );
        // ffmpeg hands out a cut last tag as a short packet.
        let whole = recorded.len().min(source.len()) - usize::from(parsed.trailing > 0);
        compare_packets(kind, &source[..whole], &recorded[..whole])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // It decodes to the end; errors are tolerated only for a cut tag at the very end.
    let p = path.to_str().expect("utf-8 path");
    let (status, _, err) = run_ffmpeg(
        &["-v", "error", "-i", p, "-f", "null", "-"],
        Duration::from_secs(60),
    )
    .expect("run ffmpeg");
    assert!(status.success(), "decoding the recording: {status}\n{err}");
    if parsed.trailing == 0 {
        assert!(err.trim().is_empty(), "decode errors: {err}");
    } else {
        assert!(
            err.lines().count() <= 2,
            "decode errors beyond the cut tag: {err}"
        );
    }
}

/// SIGTERM during a publish: the cloud exits 0 after closing the recording, whose duration
/// is patched to the time published.
#[test]
fn sigterm_closes_the_recording() {
    let dir = TestDir::new("record-term");
    let (mut cloud, publisher, started) = publish_for(&dir, "term", 3);
    let published = started.elapsed().as_secs_f64();
    cloud.proc.signal("TERM");
    let status = cloud.proc.wait_exit(Duration::from_secs(10));
    assert!(
        status.success(),
        "cloud exited with {status}\n{}",
        logs(&[&cloud.proc])
    );
    drop(publisher);
    let (_, bytes, parsed) = the_recording(&dir, &cloud.proc);
    let (duration, filesize) = duration_and_filesize(&parsed);
    assert_eq!(filesize, bytes.len() as f64, "onMetaData filesize");
    assert_eq!(duration, last_media_time(&parsed), "onMetaData duration");
    eprintln!("SIGTERM: duration {duration:.3} s, published {published:.3} s");
    assert!(
        duration > 0.0 && (duration - published).abs() <= CUT_TOLERANCE_S,
        "duration {duration} s, published for {published:.3} s before SIGTERM"
    );
}

/// A `record_dir` under a regular file cannot be created: the cloud does not start, and says
/// which key is wrong.
#[test]
fn an_unusable_record_dir_stops_the_cloud_at_start() {
    let dir = TestDir::new("record-baddir");
    std::fs::write(dir.join("plain"), b"not a directory").expect("write a file");
    let mut config = CloudConfig::new(dir.path(), vec![format!("127.0.0.1:{}", free_port())]);
    config.extra.push("enable_record: true".into());
    config.extra.push("record_dir: \"plain/record\"".into());
    let config_path = dir.join("cloud.yaml");
    std::fs::write(&config_path, config.yaml()).expect("write config");
    let mut cmd = Command::new(relay_bin("cloud"));
    cmd.arg("-f").arg(&config_path).current_dir(dir.path());
    let mut cloud = Proc::spawn("cloud", cmd, &dir.join("cloud.log"));
    let status = cloud.wait_exit(Duration::from_secs(10));
    assert!(
        !status.success(),
        "the cloud started with an unusable record_dir"
    );
    assert!(
        cloud.log().contains("cloud.record_dir"),
        "the error does not name cloud.record_dir:\n{}",
        cloud.log_tail(10)
    );
}
