//! 1. identity from the start, 2. late join.

use crate::{expect_attached, expect_capture, logs, start_capture, END_TIMEOUT, LIVE_TIMEOUT};
use e2e_tests::checks::Join;
use e2e_tests::cluster::Pair;
use e2e_tests::http::{self, Capture};
use e2e_tests::media::FfmpegPlayer;
use e2e_tests::{Edge, Media, Publisher, TestDir};
use std::time::Duration;

/// Two players attach as publishing starts (within the first GOP): a raw HTTP capture and an
/// ffmpeg player. Both must receive every packet of the source (framemd5 equal), decode
/// clean, and the ffmpeg player must exit by itself when the publisher stops.
#[test]
fn identity_from_start() {
    let media = Media::standard();
    let dir = TestDir::new("identity");
    let mut pair = Pair::start(dir.path());
    let name = "identity";
    let mut capture = start_capture(&pair.edge, "raw-player", name, media);
    let mut publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    expect_attached(
        &mut capture,
        &[&pair.cloud.proc, &pair.edge.proc, &publisher.proc],
    );
    let mut player = FfmpegPlayer::start(&dir, "ffmpeg-player", &pair.edge.play_url(name));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", pair.logs());
    }
    let procs = [&pair.cloud.proc, &pair.edge.proc];
    let got = expect_capture(capture, media, &dir, Join::Start, &procs);
    assert_eq!(got.first_video_ts, 0);
    if let Err(e) = player.expect_identity(media, END_TIMEOUT) {
        panic!("{e}\n{}", logs(&procs));
    }
    pair.cloud.proc.assert_running("after the stream");
    pair.edge.proc.assert_running("after the stream");
}

/// A player that joins ~4.5 s into the stream gets onMetaData and the sequence headers
/// first, then the cached GOP from a keyframe after the first one, then live tags: exactly
/// the source's packets from that keyframe on (per stream), decoding clean.
#[test]
fn late_join_starts_at_a_keyframe() {
    let media = Media::standard();
    let dir = TestDir::new("latejoin");
    let mut pair = Pair::start(dir.path());
    let name = "late";
    let mut publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    let live_at = http::wait_live(pair.edge.flv_addr(), &Edge::play_path(name), LIVE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", pair.logs()));
    // Between the third keyframe (4000 ms) and the fourth (6000 ms) of the source.
    let join_at = live_at + Duration::from_millis(4500);
    std::thread::sleep(join_at.saturating_duration_since(std::time::Instant::now()));
    publisher
        .proc
        .assert_running("before the late player joined (source too short?)");
    let mut capture = Capture::start(
        "late-player",
        pair.edge.flv_addr(),
        &Edge::play_path(name),
        Duration::from_secs(5),
        crate::capture_timeout(media),
    );
    expect_attached(&mut capture, &[&pair.cloud.proc, &pair.edge.proc]);
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", pair.logs());
    }
    let got = expect_capture(
        capture,
        media,
        &dir,
        Join::Late,
        &[&pair.cloud.proc, &pair.edge.proc],
    );
    let keys = media.keyframe_times();
    assert!(
        got.first_video_ts >= keys[1],
        "late player started at {} ms, expected a keyframe at or after {} ms (keyframes {keys:?})",
        got.first_video_ts,
        keys[1]
    );
    pair.edge.proc.assert_running("after the stream");
}
