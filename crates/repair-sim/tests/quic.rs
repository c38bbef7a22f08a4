//! The loss-repair simulation over the real repair connection ([`RepairTransport::Quic`]):
//! quinn-proto with the project's transport configuration, its UDP packets lost and delayed on
//! seeded links, in virtual time.

use repair_sim::{run, Length, Loss, Outage, RepairTransport, SimConfig, SimReport};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// RTT 100 ms, 5 % random loss on the data link and on each way of the QUIC path.
fn quic_config(packets: u64) -> SimConfig {
    let rtt = 100 * MS;
    SimConfig {
        seed: 7,
        rtt,
        data_loss: Loss::Random(0.05),
        repair_loss: 0.05,
        playout_deadline: (rtt * 4).max(200 * MS) + 50 * MS,
        length: Length::Packets(packets),
        repair_transport: RepairTransport::Quic,
        ..SimConfig::default()
    }
}

fn assert_integrity(report: &SimReport) {
    assert_eq!(report.tags_mismatched, 0, "{:?}", report.first_mismatch);
    assert_eq!(report.flag_mismatches, 0);
    assert_eq!(report.broken_tags, 0);
    assert!(!report.stalled, "the run did not drain");
    assert_eq!(report.nack_names_out_of_range, 0);
    assert_eq!(report.undecodable_answers, 0);
    assert!(report.end_of_stream_received);
}

#[test]
fn five_percent_loss_each_way_at_100_ms_recovers_everything() {
    let report = run(&quic_config(20_000));
    println!("{report}");
    let quic = report.quic.as_ref().expect("QUIC counters");
    assert_integrity(&report);
    assert_eq!(quic.connection_lost, None);
    assert!(report.lost_on_data_link > 500, "the data link lost packets");
    assert_eq!(report.unrecovered, 0, "every lost packet repaired");
    assert_eq!(
        report.reassembly.lost, 0,
        "no hole given up at the deadline"
    );
    assert_eq!(report.tags_missing, 0);
    assert!(
        quic.edge.udp_packets_lost_on_link > 10 && quic.cloud.udp_packets_lost_on_link > 10,
        "both ways of the QUIC path lost packets: {quic:?}"
    );
    assert!(quic.cloud.datagrams_sent > 0);
}

/// The same config gives the same report, QUIC counters included: quinn-proto's endpoints are
/// seeded, the cloud's Ed25519 certificate comes from the seed and its signatures are
/// deterministic; rustls's random values (client random, key shares, ticket contents) change
/// bytes but never a packet's size, so no timing or loss draw depends on them.
#[test]
fn same_seed_same_report() {
    let config = SimConfig {
        rtt: 50 * MS,
        data_loss: Loss::Random(0.10),
        repair_loss: 0.10,
        repair_jitter: 2 * MS,
        ..quic_config(5_000)
    };
    let first = run(&config);
    let second = run(&config);
    assert!(first
        .quic
        .as_ref()
        .is_some_and(|q| q.udp_packets_lost() > 0));
    assert_eq!(first, second);
    let other = run(&SimConfig { seed: 8, ..config });
    assert_ne!(first.quic, other.quic, "another seed, other draws");
}

/// What the message-level model cannot show: answers that do not fit a QUIC datagram. With
/// 1600-byte media datagrams a repair copy of a full packet is longer than the largest QUIC
/// datagram (≈1414 B at the 1452-byte MTU quinn discovers), so it goes alone on a
/// unidirectional stream, as `channel::send_unordered` does, and QUIC retransmits what the link
/// loses; only the short last packets of messages still fit a datagram. Every lost packet is
/// repaired and every answer sent on a stream arrives.
#[test]
fn answers_too_long_for_a_datagram_go_on_streams() {
    let config = SimConfig {
        max_datagram: 1600,
        ..quic_config(10_000)
    };
    let report = run(&config);
    println!("{report}");
    let quic = report.quic.as_ref().expect("QUIC counters");
    assert_integrity(&report);
    assert_eq!(quic.connection_lost, None);
    assert!(report.lost_on_data_link > 200);
    assert_eq!(report.unrecovered, 0);
    assert!(
        quic.cloud.streams_opened > report.repairs_sent / 2,
        "most answers went on streams: {quic:?}"
    );
    assert_eq!(
        quic.cloud.streams_opened + quic.cloud.datagrams_queued,
        quic.cloud.messages_sent
    );
    assert!(quic.cloud.udp_packets_lost_on_link > 0);
    assert_eq!(
        quic.edge.streams_received, quic.cloud.streams_opened,
        "stream data is retransmitted"
    );
    assert!(quic.edge.datagrams_queued > 0, "NACKs still fit datagrams");
}

/// Another case the model cannot show: a burst. A 400 ms outage of the data link, no loss
/// otherwise: the edge asks for the 122 lost packets at once when the stream resumes, and the
/// cloud's ≈140 kB of answers go out through a connection that has carried almost nothing
/// before. The model delivers them all one RTT after the NACK; BBR's window and pacing spread
/// them over tens of milliseconds more, which the receiver's RTT estimate shows. Nothing is
/// dropped by the datagram send buffer and every hole is still filled.
#[test]
fn a_burst_of_answers_after_an_outage_is_paced() {
    let config = |repair_transport| SimConfig {
        seed: 1,
        rtt: 100 * MS,
        data_loss: Loss::None,
        repair_loss: 0.0,
        playout_deadline: 1500 * MS,
        outage: Some(Outage {
            start: Duration::from_secs(3),
            length: 400 * MS,
        }),
        length: Length::Duration(Duration::from_secs(10)),
        repair_transport,
        ..SimConfig::default()
    };
    let model = run(&config(RepairTransport::Model));
    let quic = run(&config(RepairTransport::Quic));
    println!("=== model\n{model}\n=== QUIC\n{quic}");
    assert_integrity(&quic);
    let counters = quic.quic.as_ref().expect("QUIC counters");
    assert_eq!(quic.lost_on_data_link, model.lost_on_data_link);
    assert!(quic.lost_on_data_link > 100);
    assert_eq!(quic.unrecovered, 0);
    assert_eq!(quic.reassembly.lost, 0);
    assert_eq!(counters.cloud.datagrams_unsent, 0);
    assert_eq!(counters.cloud.datagrams_sent, quic.repairs_sent);
    assert_eq!(model.final_srtt, 100 * MS);
    assert!(
        quic.final_srtt > model.final_srtt + 10 * MS,
        "answers spread out by the congestion controller: SRTT {:?}",
        quic.final_srtt
    );
}
