//! An authenticated edge that floods the cloud with NACKs gets no more answers than its budget,
//! and the other edges' repairs go on.

use crate::{expect_attached, expect_capture, logs, start_capture};
use e2e_tests::checks::Join;
use e2e_tests::lossy::{Forwarder, LossModel};
use e2e_tests::prometheus::scrape;
use e2e_tests::repair_probe::{run_async, Greeting, RepairProbe};
use e2e_tests::tap::Tap;
use e2e_tests::util::{loopback, poll_until};
use e2e_tests::{Cloud, CloudConfig, Edge, EdgeConfig, Media, Publisher, TestDir};
use relay_proto::{CloudMessage, NackRange, NackRequest};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Packets one edge connection may be answered per second in this test.
const BUDGET: u64 = 2_000;

/// What the flooding client sent and got.
#[derive(Debug, Default)]
struct Flood {
    requests: u64,
    asked: u64,
    repairs: u64,
    throttled: u64,
    elapsed: Duration,
}

/// For `duration`, every 5 ms: a NACK for 100 cached packets, 3 copies each (300 answers), and
/// every 50 ms one for 64 ranges of 65 packets (4 160): over ten times the budget.
async fn flood(
    quic: SocketAddr,
    cert: std::path::PathBuf,
    ssrc: u32,
    seqs: Vec<u64>,
    duration: Duration,
) -> Result<Flood, String> {
    let token = "dev-token-change-me";
    let mut probe = RepairProbe::connect(quic, &cert, token, None).await?;
    if probe.greeting != Greeting::Welcome {
        return Err(format!(
            "the flooder was not welcomed: {:?}",
            probe.greeting
        ));
    }
    let mut out = Flood::default();
    let started = Instant::now();
    let mut round = 0usize;
    while started.elapsed() < duration {
        let id = probe.id();
        let (named, copies) = if round.is_multiple_of(10) {
            (&seqs[..seqs.len().min(64 * 65)], 1)
        } else {
            let from = (round * 100) % seqs.len().saturating_sub(100).max(1);
            (&seqs[from..(from + 100).min(seqs.len())], 3)
        };
        let request = NackRequest {
            ssrc,
            id,
            copies,
            ranges: NackRange::pack(named),
        };
        out.asked += named.len() as u64 * u64::from(copies);
        // A datagram when it fits, else a stream, as an edge sends them.
        let encoded = relay_proto::EdgeMessage::Nack(request).encode();
        let sent = if probe
            .connection
            .max_datagram_size()
            .is_some_and(|max| encoded.len() <= max)
        {
            probe.datagram(encoded)
        } else {
            probe.uni(&encoded).await
        };
        sent?;
        out.requests += 1;
        round += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Answers still in flight count too.
    probe.wait_until(0, Duration::from_secs(1), |_| false).await;
    out.elapsed = started.elapsed();
    for received in &probe.log {
        match received.message {
            CloudMessage::Repair(_) => out.repairs += 1,
            CloudMessage::Throttled { .. } => out.throttled += 1,
            _ => {}
        }
    }
    probe.close();
    Ok(out)
}

/// A real edge on a lossy path (3 % of datagrams dropped) plays a stream while another client
/// with the edge token floods the cloud with NACKs for over ten times `nack_budget_pps`. The flooder
/// gets at most the budget (a second's worth saved up, then `BUDGET` a second) and "throttled"
/// for the rest, counted on the cloud; the real edge's repairs all arrive and its player gets
/// every packet of the source.
#[test]
fn a_nack_flood_is_held_to_the_budget() {
    let media = Media::standard();
    let dir = TestDir::new("nackflood");
    let tap = Tap::start();
    let mut cloud_cfg = CloudConfig::new(dir.path(), Vec::new());
    cloud_cfg.extra = vec![format!("nack_budget_pps: {BUDGET}")];
    let edge_cfg = EdgeConfig::unicast(&cloud_cfg);
    let edge_udp: SocketAddr = edge_cfg.unicast_target().parse().expect("edge address");
    let data = Forwarder::start(edge_udp, LossModel::lossy(0x0f_100d, 0.03));
    cloud_cfg.client_addr_list = vec![data.listen.to_string(), tap.addr.to_string()];
    let mut edge = Edge::start(dir.path(), "edge", edge_cfg);
    let mut cloud = Cloud::start(dir.path(), cloud_cfg);
    let name = "nackflood";
    let mut capture = start_capture(&edge, "player", name, media);
    let mut publisher = Publisher::start(&dir, "publisher", media, &cloud.rtmp_url(name));
    expect_attached(&mut capture, &[&cloud.proc, &edge.proc, &publisher.proc]);
    let seen = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        let seen = tap.snapshot();
        (seen.packets.len() >= 500).then_some(seen)
    })
    .unwrap_or_else(|| {
        panic!(
            "the tap saw no stream\n{}",
            logs(&[&cloud.proc, &edge.proc])
        )
    });
    let ssrc = seen.ssrc.expect("the tap knows the SSRC");
    let seqs: Vec<u64> = seen.packets.keys().copied().collect();
    let quic = loopback(cloud.config.quic_port);
    let cert = cloud.config.quic_cert_file.clone();
    let flooder = std::thread::spawn(move || {
        run_async(async move { flood(quic, cert, ssrc, seqs, Duration::from_secs(3)).await })
    });
    let flooded = flooder
        .join()
        .expect("flooder thread")
        .unwrap_or_else(|e| panic!("flooder: {e}\n{}", logs(&[&cloud.proc, &edge.proc])));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&[&cloud.proc, &edge.proc]));
    }
    let procs = [&cloud.proc, &edge.proc];
    expect_capture(capture, media, &dir, Join::Start, &procs);
    eprintln!("nackflood: {flooded:?}");

    let most = BUDGET + (flooded.elapsed.as_secs_f64() * BUDGET as f64).ceil() as u64;
    assert!(
        flooded.asked > 10 * most,
        "the flood asked for too little to test the budget: {flooded:?}"
    );
    assert!(
        flooded.repairs <= most,
        "the flooder got {} repairs in {:?}; the budget allows {most}",
        flooded.repairs,
        flooded.elapsed
    );
    assert!(
        flooded.repairs >= BUDGET,
        "the flooder was not answered even within its budget: {flooded:?}"
    );
    assert!(flooded.throttled > 0, "nothing was throttled: {flooded:?}");
    let cloud_metrics = scrape(cloud.api_addr());
    let throttled = cloud_metrics
        .get("liverelay_cloud_repair_nacks_throttled_total", &[])
        .unwrap_or(0.0) as u64;
    assert!(
        throttled >= flooded.throttled,
        "the cloud counted {throttled} throttled NACKs, the flooder got {}",
        flooded.throttled
    );
    let edge_metrics = scrape(edge.flv_addr());
    let repaired = edge_metrics
        .get("liverelay_edge_repaired_total", &[])
        .unwrap_or(0.0);
    assert!(
        repaired > 0.0,
        "the real edge repaired nothing on a lossy path"
    );
    assert_eq!(
        edge_metrics.get("liverelay_edge_nacks_throttled_total", &[]),
        Some(0.0),
        "the real edge was throttled by another client's flood"
    );
    let stats = data.stop();
    assert!(
        stats.forward.dropped > 10,
        "the data path dropped too little"
    );
    cloud.proc.assert_running("after the flood");
    edge.proc.assert_running("after the flood");
}
