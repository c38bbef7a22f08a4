//! 3. One cloud sending to a multicast group on loopback, two edges joined to it.

use crate::{expect_attached, expect_capture, logs, start_capture, END_TIMEOUT, LIVE_TIMEOUT};
use e2e_tests::checks::Join;
use e2e_tests::http;
use e2e_tests::media::FfmpegPlayer;
use e2e_tests::util::free_port;
use e2e_tests::{Cloud, CloudConfig, Edge, EdgeConfig, Media, Publisher, TestDir};
use rand::Rng;

#[test]
fn multicast_two_edges() {
    let media = Media::standard();
    let dir = TestDir::new("multicast");
    let mut rng = rand::rng();
    let group = format!(
        "239.255.{}.{}",
        rng.random_range(0..=255u8),
        rng.random_range(1..=254u8)
    );
    let target = format!("{group}:{}", free_port());
    let mut cloud_cfg = CloudConfig::new(dir.path(), vec![target.clone()]);
    cloud_cfg.multicast_if = "127.0.0.1".into();
    let edge_cfg = || {
        let mut c = EdgeConfig::with_udp_addr(target.clone(), &cloud_cfg);
        c.multicast_if = "127.0.0.1".into();
        c
    };
    let mut edge_a = Edge::start(dir.path(), "edge-a", edge_cfg());
    let mut edge_b = Edge::start(dir.path(), "edge-b", edge_cfg());
    let mut cloud = Cloud::start(dir.path(), cloud_cfg);

    let name = "mc";
    let mut capture = start_capture(&edge_a, "player-a", name, media);
    let mut publisher = Publisher::start(&dir, "publisher", media, &cloud.rtmp_url(name));
    let procs = [&cloud.proc, &edge_a.proc, &edge_b.proc];
    expect_attached(&mut capture, &procs);
    http::wait_live(edge_b.flv_addr(), &Edge::play_path(name), LIVE_TIMEOUT)
        .unwrap_or_else(|e| panic!("edge-b ({target}): {e}\n{}", logs(&procs)));
    let mut player_b = FfmpegPlayer::start(&dir, "player-b", &edge_b.play_url(name));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&procs));
    }
    expect_capture(capture, media, &dir, Join::Start, &procs);
    if let Err(e) = player_b.expect_identity(media, END_TIMEOUT) {
        panic!("edge-b: {e}\n{}", logs(&procs));
    }
    cloud.proc.assert_running("after the stream");
    edge_a.proc.assert_running("after the stream");
    edge_b.proc.assert_running("after the stream");
}
