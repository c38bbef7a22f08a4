//! The acceptance criteria of loss recovery, measured by the discrete-event simulation.
//!
//! Each test prints its full report (`cargo test -p repair-sim -- --nocapture`) and checks every
//! criterion before failing, so one run shows all the figures that miss.

use repair_sim::{recovery_table, run, Length, Loss, Outage, SimConfig, SimReport};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);
const MILLION: u64 = 1_000_000;

/// Criteria checked together: every failure is listed, then the test fails.
struct Checks {
    name: &'static str,
    failures: Vec<String>,
}

impl Checks {
    fn new(name: &'static str, report: &SimReport) -> Self {
        println!("=== {name} ===\n{report}");
        Checks {
            name,
            failures: Vec::new(),
        }
    }

    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }

    fn eq(&mut self, what: &str, actual: u64, expected: u64) {
        self.check(
            actual == expected,
            format!("{what}: {actual}, want {expected}"),
        );
    }

    /// Every tag the edge emitted is the original, and no picture decodes broken.
    fn integrity(&mut self, report: &SimReport) {
        self.check(
            report.tags_mismatched == 0,
            format!(
                "{} emitted tags differ from the originals; first: {:?}",
                report.tags_mismatched, report.first_mismatch
            ),
        );
        self.eq("flag mismatches", report.flag_mismatches, 0);
        self.eq(
            "delivered inter frames lacking their reference (broken tags)",
            report.broken_tags,
            0,
        );
        self.check(!report.stalled, "the run did not drain");
        self.eq("NACK names out of range", report.nack_names_out_of_range, 0);
        self.eq("undecodable answers", report.undecodable_answers, 0);
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{}: {} criteria not met:\n  - {}",
            self.name,
            self.failures.len(),
            self.failures.join("\n  - ")
        );
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// 5 % random loss on the data path and on each way of the repair path, RTT 20 ms, 3 Mb/s,
/// a million packets: >= 90 % of lost packets repaired within RTT + 20 ms, >= 99.9 % within
/// 3 RTT + 50 ms, none unrecovered within max(4 RTT, 200 ms) + 50 ms: with that playout deadline
/// (250 ms), no gap and every tag emitted, identical.
#[test]
fn five_percent_loss_a_million_packets() {
    let rtt = 20 * MS;
    let deadline = (rtt * 4).max(200 * MS) + 50 * MS;
    let config = SimConfig {
        seed: 0x5eed_0005,
        rtt,
        data_loss: Loss::Random(0.05),
        repair_loss: 0.05,
        playout_deadline: deadline,
        length: Length::Packets(MILLION),
        ..SimConfig::default()
    };
    let report = run(&config);
    let mut c = Checks::new("5 % loss, RTT 20 ms, 1M packets", &report);
    c.check(report.packets_sent >= MILLION, "a million packets sent");
    let lost = report.lost_on_data_link;
    c.check(
        lost > MILLION * 45 / 1000,
        format!("{lost} lost, want ~5 %"),
    );

    let within = report.repaired_within(rtt + 20 * MS);
    c.check(
        within * 100 >= lost * 90,
        format!(
            "{within} of {lost} lost packets repaired within RTT + 20 ms ({:.3} %), want >= 90 %",
            percent(within, lost)
        ),
    );
    let within = report.repaired_within(rtt * 3 + 50 * MS);
    c.check(
        within * 1000 >= lost * 999,
        format!(
            "{within} of {lost} lost packets repaired within 3 RTT + 50 ms ({:.4} %), want >= 99.9 %",
            percent(within, lost)
        ),
    );
    c.eq(
        "lost packets unrecovered within max(4 RTT, 200 ms) + 50 ms",
        report.unrecovered_within(deadline),
        0,
    );
    c.eq("lost packets never repaired", report.unrecovered, 0);
    c.eq("gap events", report.gap_events, 0);
    c.eq("packets the receiver gave up", report.reassembly.lost, 0);
    c.integrity(&report);
    c.eq("tags never emitted", report.tags_missing, 0);
    c.eq(
        "tags emitted identical",
        report.tags_emitted,
        report.tags_sent,
    );
    c.eq("tags delivered", report.tags_delivered, report.tags_sent);
    c.finish();
}

/// 10 % loss on the data path and each way of the repair path, RTT 20 ms, playout deadline
/// 6 RTT: at most 1 in 100 000 packets unrecovered (given up by the receiver), over a million.
#[test]
fn ten_percent_loss_at_most_one_in_100k_unrecovered_within_6_rtt() {
    let rtt = 20 * MS;
    let config = SimConfig {
        seed: 0x5eed_0010,
        rtt,
        data_loss: Loss::Random(0.10),
        repair_loss: 0.10,
        playout_deadline: rtt * 6,
        length: Length::Packets(MILLION),
        ..SimConfig::default()
    };
    let report = run(&config);
    let mut c = Checks::new("10 % loss, RTT 20 ms, deadline 6 RTT, 1M packets", &report);
    c.check(report.packets_sent >= MILLION, "a million packets sent");
    c.check(
        report.lost_on_data_link > MILLION * 9 / 100,
        "~10 % lost on the data link",
    );
    let given_up = report.reassembly.lost;
    c.check(
        given_up * 100_000 <= report.packets_sent,
        format!(
            "{given_up} packets unrecovered within 6 RTT of {} sent ({:.2} per 100 000), want <= 1",
            report.packets_sent,
            given_up as f64 * 100_000.0 / report.packets_sent as f64
        ),
    );
    c.integrity(&report);
    c.finish();
}

/// The data link drops everything for 1 s, four times the playout deadline: output resumes at
/// the next keyframe, no tag is broken, and the stream goes on to its end.
#[test]
fn outage_longer_than_the_deadline_resumes_at_the_next_keyframe() {
    let outage = Outage {
        start: Duration::from_millis(20_500),
        length: Duration::from_secs(1),
    };
    let config = SimConfig {
        seed: 0x5eed_b0b0,
        rtt: 20 * MS,
        data_loss: Loss::Random(0.01),
        repair_loss: 0.01,
        playout_deadline: 250 * MS,
        length: Length::Duration(Duration::from_secs(40)),
        outage: Some(outage),
        ..SimConfig::default()
    };
    let report = run(&config);
    let mut c = Checks::new("1 s outage, deadline 250 ms", &report);
    let o = report.outage.clone().expect("outage report");
    c.check(o.packets_dropped > 250, format!("{o:?}"));
    c.integrity(&report);
    c.check(report.end_of_stream_received, "end of stream received");

    match (o.next_keyframe_sent_at, o.first_video_delivered) {
        (Some(next_keyframe), Some((first_sent, is_keyframe, emitted_at))) => c.check(
            is_keyframe && first_sent == next_keyframe,
            format!(
                "video resumed with a{} sent at {first_sent:?} (emitted at {emitted_at:?}); the \
                 next keyframe after the outage was sent at {next_keyframe:?}",
                if is_keyframe {
                    " keyframe"
                } else {
                    "n inter frame"
                },
            ),
        ),
        other => c.check(false, format!("no video after the outage: {other:?}")),
    }
    c.check(
        o.tags_during_delivered == 0,
        format!(
            "{} of the {} tags sent during the outage were played, up to {:?} after their time \
             ({} tags later than the playout deadline)",
            o.tags_during_delivered, o.tags_during, report.max_playout_latency, report.tags_late
        ),
    );
    c.check(report.gap_events >= 1, "a gap event");
    c.check(
        report.resumptions >= 1,
        "video resumed at a keyframe after a gap",
    );
    // The stream goes on: (nearly) everything from the resumption on is delivered.
    c.check(
        o.tags_after_resume > 0
            && o.tags_after_resume_delivered * 1000 >= o.tags_after_resume * 999,
        format!("the stream goes on: {o:?}"),
    );
    c.check(report.tail_tags_emitted > 0, "the tail is emitted");
    c.finish();
}

/// The same seed gives the same report; another seed gives another.
#[test]
fn same_seed_same_report() {
    let config = SimConfig {
        seed: 42,
        data_loss: Loss::Random(0.10),
        repair_loss: 0.10,
        length: Length::Packets(50_000),
        data_jitter: 2 * MS,
        data_reorder: 0.01,
        data_reorder_delay: 15 * MS,
        repair_jitter: 3 * MS,
        ..SimConfig::default()
    };
    let a = run(&config);
    let b = run(&config);
    assert_eq!(a, b);
    assert!(a.lost_on_data_link > 0 && a.repairs_received > 0);
    let c = run(&SimConfig { seed: 43, ..config });
    assert_ne!(a, c);
    let mut checks = Checks::new("determinism (seed 42, jitter and reordering)", &a);
    checks.integrity(&a);
    checks.finish();
}

/// No loss: no NACK, every tag emitted identical and on time.
#[test]
fn lossless_link_needs_no_repair() {
    let report = run(&SimConfig {
        data_loss: Loss::None,
        repair_loss: 0.0,
        length: Length::Packets(20_000),
        ..SimConfig::default()
    });
    let mut c = Checks::new("no loss", &report);
    c.eq("lost", report.lost_on_data_link, 0);
    c.eq("NACKs", report.nack_requests, 0);
    c.eq("repairs", report.repairs_sent, 0);
    c.eq("tags emitted", report.tags_emitted, report.tags_sent);
    c.eq("tags delivered", report.tags_delivered, report.tags_sent);
    c.check(
        report.max_playout_latency == Duration::ZERO,
        "no playout latency",
    );
    c.integrity(&report);
    c.finish();
}

/// Crossing the 48-bit sequence wrap must not change recovery: the retransmit cache, the NACK
/// ranges and the receiver's evicted/end handling all work on unwrapped numbers inside.
#[test]
fn sequence_wrap_changes_nothing() {
    let config = |first_seq| SimConfig {
        seed: 3,
        data_loss: Loss::None,
        repair_loss: 0.0,
        length: Length::Duration(Duration::from_secs(20)),
        // ~330 packets/s: with the first number 1000 below the wrap, the wrap comes ~3 s in.
        outage: Some(Outage {
            start: Duration::from_millis(2_500),
            length: Duration::from_secs(1),
        }),
        first_seq,
        ..SimConfig::default()
    };
    let far = run(&config(None));
    let near = run(&config(Some((1 << 48) - 1000)));
    let mut c = Checks::new("outage across the sequence wrap", &near);
    c.integrity(&near);
    c.eq("never repaired", near.unrecovered, far.unrecovered);
    c.eq("given up", near.reassembly.lost, far.reassembly.lost);
    c.eq("not sent answers", near.not_sent_answers, 0);
    c.finish();
}

/// The table for the bench: 12 rows of figures.
#[test]
fn recovery_table_has_a_row_per_loss_and_rtt() {
    let table = recovery_table(5_000, 7);
    println!("{table}");
    assert_eq!(table.lines().count(), 1 + 12);
    assert!(table.lines().nth(1).unwrap().trim_start().starts_with("0%"));
}
