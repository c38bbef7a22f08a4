//! The media plane under attack from another host: forged announcements, media and
//! end-of-stream packets, replayed datagrams, and floods of forged SSRCs change nothing for the
//! real stream, are dropped and counted, and cost the edge no memory.

use crate::{expect_attached, expect_capture, logs, publish_and_check, start_capture};
use e2e_tests::checks::Join;
use e2e_tests::cluster::Pair;
use e2e_tests::forger::{Attack, Forger};
use e2e_tests::prometheus::{scrape, Scrape};
use e2e_tests::tap::Tap;
use e2e_tests::util::{poll_until, vm_rss_kib};
use e2e_tests::{http, Cloud, CloudConfig, Edge, EdgeConfig, Media, Publisher, TestDir};
use std::net::SocketAddr;
use std::time::Duration;

/// The edge's count of datagrams dropped for `reason`.
pub fn dropped(scrape: &Scrape, reason: &str) -> u64 {
    scrape
        .get(
            "liverelay_edge_datagrams_dropped_total",
            &[("reason", reason)],
        )
        .unwrap_or_else(|| panic!("no datagrams_dropped_total{{reason={reason}}}")) as u64
}

/// While a real ffmpeg stream plays, another socket announces the same name under fresh SSRCs
/// (a newer epoch and the largest one, from before the publish on), forges media and
/// end-of-stream packets with the real SSRC and next sequence numbers, and replays datagrams the
/// cloud sent. The player from the start still gets exactly the source's packets; every forged
/// datagram is counted as dropped; no forged stream was ever served.
#[test]
fn forged_and_replayed_datagrams_change_nothing() {
    let media = Media::standard();
    let dir = TestDir::new("forgery");
    let tap = Tap::start();
    let mut cloud_cfg = CloudConfig::new(dir.path(), Vec::new());
    let edge_cfg = EdgeConfig::unicast(&cloud_cfg);
    let edge_udp: SocketAddr = edge_cfg.unicast_target().parse().expect("edge address");
    cloud_cfg.client_addr_list = vec![edge_cfg.unicast_target(), tap.addr.to_string()];
    let mut edge = Edge::start(dir.path(), "edge", edge_cfg);
    let mut cloud = Cloud::start(dir.path(), cloud_cfg);
    let name = "forged";
    let full_name = format!("live/{name}");

    // Squatting before the publish: the name announced with epoch now and 2^64-1.
    let squatter = Forger::start(
        "127.0.0.2:0",
        edge_udp,
        Attack {
            squat_name: Some(full_name.clone()),
            fresh_ssrcs: 64,
            rate: 2_000,
            ..Attack::default()
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let squat = http::request(
        edge.flv_addr(),
        "GET",
        &Edge::play_path(name),
        Duration::from_secs(5),
    )
    .expect("edge answers");
    assert_eq!(
        squat.status, 404,
        "a forged announcement made the name live"
    );

    let mut capture = start_capture(&edge, "player", name, media);
    let mut publisher = Publisher::start(&dir, "publisher", media, &cloud.rtmp_url(name));
    expect_attached(&mut capture, &[&cloud.proc, &edge.proc, &publisher.proc]);
    let captured = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        let seen = tap.snapshot();
        (seen.packets.len() >= 200).then_some(seen)
    })
    .unwrap_or_else(|| {
        panic!(
            "the tap saw no stream\n{}",
            logs(&[&cloud.proc, &edge.proc])
        )
    });
    let ssrc = captured.ssrc.expect("the tap knows the SSRC");
    let next_seq = captured.newest_seq().expect("packets") + 1;
    let forger = Forger::start(
        "127.0.0.3:0",
        edge_udp,
        Attack {
            real_stream: Some((ssrc, next_seq)),
            replay: captured.packets.values().cloned().collect(),
            rate: 3_000,
            ..Attack::default()
        },
    );
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&[&cloud.proc, &edge.proc]));
    }
    let procs = [&cloud.proc, &edge.proc];
    let got = expect_capture(capture, media, &dir, Join::Start, &procs);
    assert_eq!(got.first_video_ts, 0, "the player missed the start");
    let forged = forger.finish();
    let squatted = squatter.finish();
    assert!(
        forged.real_ssrc > 100 && forged.replayed > 100 && squatted.fresh_ssrc > 100,
        "the attack hardly ran: {forged:?} {squatted:?}"
    );

    // Every forged datagram was dropped, each under its reason; the replays as replays.
    // (Replays that arrive after the stream ended count as of an unknown stream.)
    let attacked = forged.real_ssrc + forged.replayed + squatted.fresh_ssrc;
    let scrape = poll_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let scrape = scrape(edge.flv_addr());
        let counted = ["bad_tag", "unknown_stream", "replayed"]
            .iter()
            .map(|reason| dropped(&scrape, reason))
            .sum::<u64>();
        (counted >= attacked).then_some(scrape)
    })
    .unwrap_or_else(|| {
        let scrape = scrape(edge.flv_addr());
        panic!(
            "drops not counted: bad_tag {}, unknown_stream {}, replayed {} for {forged:?} \
             {squatted:?}\n{}",
            dropped(&scrape, "bad_tag"),
            dropped(&scrape, "unknown_stream"),
            dropped(&scrape, "replayed"),
            logs(&procs)
        )
    });
    assert!(
        dropped(&scrape, "bad_tag") > 0 && dropped(&scrape, "replayed") > 0,
        "forged packets of the real SSRC or replays were not seen as such"
    );
    assert_eq!(
        scrape.get("liverelay_edge_streams_total", &[]),
        Some(1.0),
        "the edge served a stream besides the real one"
    );
    cloud.proc.assert_running("after the attack");
    edge.proc.assert_running("after the attack");
}

/// 2 000 forged SSRCs, each announcing a stream, cost the edge no state: its memory stays
/// within 16 MiB of where it was, and a real publish that starts during the flood plays at
/// once, packet for packet.
#[test]
fn a_flood_of_forged_ssrcs_holds_no_state() {
    let media = Media::standard();
    let dir = TestDir::new("ssrcflood");
    let mut pair = Pair::start(dir.path());
    let target: SocketAddr = pair
        .edge
        .config
        .unicast_target()
        .parse()
        .expect("edge address");
    // Settled: the repair connection is up and the first allocations are made.
    std::thread::sleep(Duration::from_secs(1));
    let before = vm_rss_kib(pair.edge.proc.pid()).expect("edge RSS") << 10;
    let flood = Forger::start(
        "127.0.0.2:0",
        target,
        Attack {
            squat_name: Some("live/flooded".into()),
            fresh_ssrcs: 2_000,
            rate: 20_000,
            ..Attack::default()
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let during = vm_rss_kib(pair.edge.proc.pid()).expect("edge RSS") << 10;
    assert!(
        during < before + (16 << 20),
        "the flood grew the edge from {before} to {during} bytes"
    );
    let Pair { cloud, edge } = &mut pair;
    publish_and_check(&dir, cloud, edge, "flooded", media);
    let sent = flood.finish();
    let scrape = scrape(pair.edge.flv_addr());
    assert!(
        dropped(&scrape, "unknown_stream") >= sent.fresh_ssrc * 9 / 10,
        "the flood's datagrams were not counted: {} of {sent:?}",
        dropped(&scrape, "unknown_stream")
    );
    assert_eq!(scrape.get("liverelay_edge_streams_total", &[]), Some(1.0));
}
