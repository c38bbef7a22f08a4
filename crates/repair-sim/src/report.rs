//! What a simulation measured.

use relay_proto::{ReassemblerStats, RecoveryStats};
use std::fmt;
use std::time::Duration;

/// A sorted list of durations (nanoseconds) with counts under bounds.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Durations {
    sorted_ns: Vec<u64>,
}

impl Durations {
    pub(crate) fn from_unsorted(mut ns: Vec<u64>) -> Self {
        ns.sort_unstable();
        Durations { sorted_ns: ns }
    }

    /// How many durations there are.
    pub fn len(&self) -> u64 {
        self.sorted_ns.len() as u64
    }

    /// True when no duration was recorded.
    pub fn is_empty(&self) -> bool {
        self.sorted_ns.is_empty()
    }

    /// How many are at most `bound`.
    pub fn within(&self, bound: Duration) -> u64 {
        let bound = bound.as_nanos() as u64;
        self.sorted_ns.partition_point(|&t| t <= bound) as u64
    }

    /// The `q` quantile (0.0..=1.0), nearest rank.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.sorted_ns.is_empty() {
            return None;
        }
        let rank =
            ((q * self.sorted_ns.len() as f64).ceil() as usize).clamp(1, self.sorted_ns.len());
        Some(Duration::from_nanos(self.sorted_ns[rank - 1]))
    }

    /// The largest duration, `None` when empty.
    pub fn max(&self) -> Option<Duration> {
        self.sorted_ns.last().map(|&t| Duration::from_nanos(t))
    }
}

impl fmt::Debug for Durations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "n=0");
        }
        let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        write!(
            f,
            "n={} p50={:.1}ms p90={:.1}ms p99={:.1}ms p99.9={:.1}ms max={:.1}ms",
            self.len(),
            ms(self.quantile(0.5)),
            ms(self.quantile(0.9)),
            ms(self.quantile(0.99)),
            ms(self.quantile(0.999)),
            ms(self.max()),
        )
    }
}

/// The repair-time bounds of the loss-recovery criteria, for an RTT.
pub fn repair_bounds(rtt: Duration) -> [(&'static str, Duration); 7] {
    let ms = Duration::from_millis;
    [
        ("1 RTT", rtt),
        ("2 RTT", rtt * 2),
        ("3 RTT", rtt * 3),
        ("RTT+20ms", rtt + ms(20)),
        ("3RTT+50ms", rtt * 3 + ms(50)),
        ("max(4RTT,200ms)+50ms", (rtt * 4).max(ms(200)) + ms(50)),
        ("6 RTT", rtt * 6),
    ]
}

/// What happened around a data-link outage ([`crate::Outage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutageReport {
    /// Packets the outage dropped.
    pub packets_dropped: u64,
    /// Tags sent while the link was down.
    pub tags_during: u64,
    /// Of those, tags the edge emitted (repaired) and delivered to players.
    pub tags_during_emitted: u64,
    /// Of the tags sent during the outage, how many passed the keyframe rule and reached players.
    pub tags_during_delivered: u64,
    /// The first keyframe sent at or after the end of the outage: its send time since the start.
    pub next_keyframe_sent_at: Option<Duration>,
    /// The first video tag delivered (after the keyframe rule) among those sent at or after the
    /// start of the outage: its send time since the start, whether it is a keyframe, and when it
    /// was emitted since the start.
    pub first_video_delivered: Option<(Duration, bool, Duration)>,
    /// Tags sent after [`next_keyframe_sent_at`](Self::next_keyframe_sent_at) (measured part),
    /// and how many of them were delivered.
    pub tags_after_resume: u64,
    /// Of the tags sent after the resuming keyframe (measured part), how many were delivered to
    /// players.
    pub tags_after_resume_delivered: u64,
}

/// Everything one [`crate::run`] measured. Packets and tags are counted over the measured part of
/// the stream (the asked length); the stream then runs on for a short tail so that losses at the
/// very end are noticed, and the tail is not counted (except in the receiver's own counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The configured round-trip time ([`crate::SimConfig::rtt`]).
    pub rtt: Duration,
    /// The configured reassembly deadline ([`crate::SimConfig::playout_deadline`]).
    pub playout_deadline: Duration,
    /// Virtual time the run took.
    pub virtual_duration: Duration,

    // --- data path (measured packets) ---
    /// Packets the cloud sent on the data link in the measured part (sync packets excluded).
    pub packets_sent: u64,
    /// Datagram bytes (headers included) the cloud sent on the data link.
    pub media_bytes: u64,
    /// Measured packets the data link never delivered (outage included).
    pub lost_on_data_link: u64,
    /// Packets sent before the first one the edge received (the edge joins there: by design it
    /// never asks for them); not counted as lost.
    pub before_join: u64,
    /// Lost packets of which at least one repair copy reached the edge.
    pub repaired: u64,
    /// Lost packets of which no repair copy ever reached the edge.
    pub unrecovered: u64,
    /// Per repaired packet: first repair copy's arrival − (send time + one-way delay).
    pub repair_times: Durations,
    /// Per lost packet that was asked for: first NACK naming it − (send time + one-way delay).
    pub detection_delays: Durations,
    /// Lost packets asked for by no NACK at all.
    pub never_asked: u64,
    /// Repaired packets by the number of NACKs that had named them when the first copy came
    /// (index = NACK count, the last bucket holds that many or more).
    pub attempts_repaired: Vec<u64>,
    /// Unrecovered packets by the number of NACKs that named them.
    pub attempts_unrecovered: Vec<u64>,

    // --- repair path (whole run) ---
    /// Sync packets the cloud sent after silences (on the data link).
    pub syncs_sent: u64,
    /// NACK requests the edge's receiver produced, whole run (each one datagram on the NACK link).
    pub nack_requests: u64,
    /// Sequence numbers named in NACKs (one per name, retries included).
    pub nack_names: u64,
    /// Encoded bytes of all NACK requests sent on the NACK link.
    pub nack_bytes: u64,
    /// NACK requests the edge → cloud link dropped (the message-level model only; on the QUIC
    /// path the links drop UDP packets, counted in [`SimReport::quic`]).
    pub nacks_lost: u64,
    /// Repair answers (packet copies) the cloud sent and their encoded bytes.
    pub repairs_sent: u64,
    /// Encoded bytes of the repair answers the cloud sent.
    pub repair_bytes_sent: u64,
    /// Repair answers (packet copies) that reached the edge and decoded.
    pub repairs_received: u64,
    /// Encoded bytes of the repair answers that reached the edge.
    pub repair_bytes_received: u64,
    /// Answers of any kind the cloud → edge link dropped (the message-level model only).
    pub answers_lost: u64,
    /// Repair copies that reached the edge for a packet it already had (from the data link or
    /// an earlier copy).
    pub redundant_repairs: u64,
    /// Packets the data link did deliver but a NACK still named.
    pub spurious_nacked: u64,
    /// `Evicted` answers the cloud sent: the packet asked for had left its retransmit cache.
    pub evicted_answers: u64,
    /// `NotSent` answers the cloud sent: the packet asked for was beyond the newest one sent.
    pub not_sent_answers: u64,
    /// NACK names that were no packet ever sent (a receiver bug if non-zero).
    pub nack_names_out_of_range: u64,
    /// Answers from the cloud that did not decode at the edge (dropped; a bug if non-zero).
    pub undecodable_answers: u64,

    // --- receiver ---
    /// The receiver's reassembly counters at the end of the run (tail included).
    pub reassembly: ReassemblerStats,
    /// The receiver's loss-recovery counters at the end of the run (tail included).
    pub recovery: RecoveryStats,
    /// Gap events the receiver reported: each one a place where it dropped messages.
    pub gap_events: u64,
    /// The receiver's smoothed RTT estimate when the run ended (RFC 6298 SRTT).
    pub final_srtt: Duration,
    /// The receiver's NACK retry interval when the run ended, derived from its RTT estimate.
    pub final_retry_interval: Duration,

    // --- integrity (measured tags) ---
    /// Tags the cloud sent in the measured part.
    pub tags_sent: u64,
    /// Tags the receiver emitted that are identical to the original at their place in order.
    pub tags_emitted: u64,
    /// Tags never emitted.
    pub tags_missing: u64,
    /// Tags passed on after the keyframe rule (video dropped after a gap until a keyframe).
    pub tags_delivered: u64,
    /// Inter frames emitted but not delivered, because video after a gap waits for a keyframe.
    pub skipped_after_gap: u64,
    /// Emitted tags that match no original after the previous one (wrong bytes, order or
    /// timestamp); over the whole run. Must be 0.
    pub tags_mismatched: u64,
    /// Emitted tags whose keyframe/config flags disagree with their bytes. Must be 0.
    pub flag_mismatches: u64,
    /// Delivered inter frames whose previous video frame was not delivered: a picture that
    /// would decode broken. Must be 0.
    pub broken_tags: u64,
    /// Times video resumed at a keyframe after a gap.
    pub resumptions: u64,
    /// Emission time − (send time + one-way delay), the largest over emitted tags.
    pub max_playout_latency: Duration,
    /// Emitted tags later than the playout deadline by that measure.
    pub tags_late: u64,
    /// A description of the first mismatched tag (time, type, timestamp, length, first bytes and
    /// the next expected original), for debugging; `None` when every tag matched.
    pub first_mismatch: Option<String>,
    /// Tail tags (after the measured part): sent and emitted.
    pub tail_tags_sent: u64,
    /// Tail tags the receiver emitted intact.
    pub tail_tags_emitted: u64,
    /// Whether the receiver emitted the end-of-stream message.
    pub end_of_stream_received: bool,
    /// The run hit its safety limit instead of draining (a bug if true).
    pub stalled: bool,

    /// What happened around the outage; `None` when the config has no outage.
    pub outage: Option<OutageReport>,
    /// QUIC-level counters; `None` unless the repair path was real QUIC.
    pub quic: Option<crate::QuicReport>,
}

impl SimReport {
    /// Lost packets whose first repair copy arrived within `bound`.
    pub fn repaired_within(&self, bound: Duration) -> u64 {
        self.repair_times.within(bound)
    }

    /// Lost packets not repaired within `bound` (never repaired included).
    pub fn unrecovered_within(&self, bound: Duration) -> u64 {
        self.lost_on_data_link - self.repaired_within(bound)
    }

    /// Share of lost packets repaired within `bound` (1.0 when nothing was lost).
    pub fn share_within(&self, bound: Duration) -> f64 {
        if self.lost_on_data_link == 0 {
            return 1.0;
        }
        self.repaired_within(bound) as f64 / self.lost_on_data_link as f64
    }

    /// Repair answers the cloud sent, in bytes, per media byte.
    pub fn repair_overhead(&self) -> f64 {
        ratio(self.repair_bytes_sent, self.media_bytes)
    }

    /// UDP bytes the cloud sent on the QUIC repair connection (answers with their QUIC headers
    /// and AEAD tags, plus ACKs, keep-alives, the handshake and retransmitted stream data) per
    /// media byte; `None` on the message-level model.
    pub fn quic_overhead(&self) -> Option<f64> {
        self.quic
            .as_ref()
            .map(|q| ratio(q.cloud.udp_bytes_sent, self.media_bytes))
    }

    /// Repair answers that reached the edge, in bytes, per media byte.
    pub fn repair_overhead_received(&self) -> f64 {
        ratio(self.repair_bytes_received, self.media_bytes)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |a: u64, b: u64| 100.0 * ratio(a, b);
        writeln!(
            f,
            "RTT {:.0} ms, playout deadline {:.0} ms, {:.1} s of virtual time",
            ms(self.rtt),
            ms(self.playout_deadline),
            self.virtual_duration.as_secs_f64()
        )?;
        writeln!(
            f,
            "data:   {} packets sent ({} bytes), {} lost on the data link ({:.3} %), {} before join",
            self.packets_sent,
            self.media_bytes,
            self.lost_on_data_link,
            pct(self.lost_on_data_link, self.packets_sent),
            self.before_join
        )?;
        writeln!(
            f,
            "repair: {} repaired, {} never repaired, {} never asked for",
            self.repaired, self.unrecovered, self.never_asked
        )?;
        for (name, bound) in repair_bounds(self.rtt) {
            writeln!(
                f,
                "  within {name:<22} ({:>5.0} ms): {:>8} = {:>8.4} %   unrecovered {}",
                ms(bound),
                self.repaired_within(bound),
                100.0 * self.share_within(bound),
                self.unrecovered_within(bound)
            )?;
        }
        writeln!(f, "  repair times:     {:?}", self.repair_times)?;
        writeln!(f, "  detection delays: {:?}", self.detection_delays)?;
        writeln!(
            f,
            "  NACKs before the first copy (repaired):    {:?}",
            self.attempts_repaired
        )?;
        writeln!(
            f,
            "  NACKs naming never-repaired packets:       {:?}",
            self.attempts_unrecovered
        )?;
        writeln!(
            f,
            "nacks:  {} requests naming {} packets ({} bytes), {} lost; {} spurious; {} out of range; {} syncs sent",
            self.nack_requests,
            self.nack_names,
            self.nack_bytes,
            self.nacks_lost,
            self.spurious_nacked,
            self.nack_names_out_of_range,
            self.syncs_sent
        )?;
        writeln!(
            f,
            "answers: {} copies sent ({} bytes, overhead {:.3} %), {} received ({} bytes, {:.3} %), {} lost, {} redundant; {} evicted, {} not sent, {} undecodable",
            self.repairs_sent,
            self.repair_bytes_sent,
            100.0 * self.repair_overhead(),
            self.repairs_received,
            self.repair_bytes_received,
            100.0 * self.repair_overhead_received(),
            self.answers_lost,
            self.redundant_repairs,
            self.evicted_answers,
            self.not_sent_answers,
            self.undecodable_answers
        )?;
        writeln!(
            f,
            "receiver: {} gap events, {} packets lost (given up), {} discarded, {} duplicates, {} late, {} malformed; SRTT {:.2} ms, retry {:.2} ms",
            self.gap_events,
            self.reassembly.lost,
            self.reassembly.discarded,
            self.reassembly.duplicates,
            self.reassembly.late,
            self.reassembly.malformed,
            ms(self.final_srtt),
            ms(self.final_retry_interval)
        )?;
        let r = &self.recovery;
        writeln!(
            f,
            "  recovery stats: holes {} nacks {} requested {} repaired {} late {} evicted {} redundant {}; latency buckets {:?}",
            r.holes,
            r.nacks_sent,
            r.packets_requested,
            r.repaired,
            r.late_arrivals,
            r.evicted,
            r.redundant_repairs,
            r.repair_latency.counts()
        )?;
        writeln!(
            f,
            "tags:   {} sent, {} emitted identical, {} missing, {} delivered, {} skipped after a gap, {} resumptions",
            self.tags_sent,
            self.tags_emitted,
            self.tags_missing,
            self.tags_delivered,
            self.skipped_after_gap,
            self.resumptions
        )?;
        writeln!(
            f,
            "  integrity: {} mismatched, {} flag mismatches, {} broken; max playout latency {:.1} ms, {} late; tail {}/{}; end {}; stalled {}",
            self.tags_mismatched,
            self.flag_mismatches,
            self.broken_tags,
            ms(self.max_playout_latency),
            self.tags_late,
            self.tail_tags_emitted,
            self.tail_tags_sent,
            self.end_of_stream_received,
            self.stalled
        )?;
        if let Some(mismatch) = &self.first_mismatch {
            writeln!(f, "  first mismatch: {mismatch}")?;
        }
        if let Some(o) = &self.outage {
            writeln!(f, "outage: {o:?}")?;
        }
        if let Some(q) = &self.quic {
            write!(f, "{q}")?;
        }
        Ok(())
    }
}
