//! The edge's side of one stream: reassembly plus loss recovery.
//!
//! Loss is noticed two ways: by reordering (a later packet arrives, so the ones between are
//! holes) and by time (the last packet of a message is overdue: the fragments a message still
//! needs follow from its length, so a lost tail is found without waiting for the next message).
//! A hole is first asked for after a reordering window (RFC 8985 §6.2: a packet is deemed lost
//! only once it is later than the path's measured reordering), then again about once per
//! measured RTT until the playout deadline, when the reassembler gives it up and video resumes
//! at the next keyframe. A path never seen to reorder has no window, so its losses are asked
//! for at once. From the first late arrival on, the window is the larger of the recent
//! displacement of late arrivals (decaying) and a multiple of the interarrival jitter (RFC 3550
//! §6.4.1), so a jittery path that reorders but loses nothing costs a request or two, not one
//! per late packet; it is at most half the retry interval (or an eighth of the playout deadline
//! where that is more), so a real loss is still asked for in good time, and it closes after a
//! run of repairs with no reordering between them.
//!
//! Redundancy where it is cheap: every request is sent twice (a NACK is a few dozen bytes and
//! the cloud drops the second copy by its id, so a lost NACK rarely costs a round trip), and
//! retries ask for two copies of each packet (a packet lost twice is likely on a bad path).
//! The sender's sync packets (sent after a few milliseconds of silence, naming its newest
//! packet) reveal a lost packet that nothing follows for a while, such as the last audio tag
//! before a pause, without waiting for the stream to go on.

use crate::histogram::LatencyHistogram;
use crate::jitter::JitterEstimator;
use crate::packet::{MessageKind, Packet};
use crate::reassembler::{
    PushOutcome, Reassembler, ReassemblerConfig, ReassemblerEvent, ReassemblerStats,
};
use crate::repair::{NackRange, NackRequest, MAX_NACK_RANGES};
use crate::rtt::RttEstimator;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Tuning of a [`Receiver`].
#[derive(Debug, Clone, Copy)]
pub struct ReceiverConfig {
    /// Tuning of the reassembler inside: its deadline is the playout deadline after which a hole is
    /// given up.
    pub reassembly: ReassemblerConfig,
    /// Ask for holes at all (off: reordering is still absorbed up to the deadline).
    pub nack: bool,
    /// The RTT assumed until one is measured.
    pub initial_rtt: Duration,
    /// How long the rest of a message may trail its last packet before it counts as lost.
    pub tail_grace: Duration,
    /// The playout deadline is at least this many smoothed RTTs of the repair path (at most
    /// [`MAX_RTT_DEADLINE`]), so a far edge gets as many round trips to repair a loss as a near
    /// one does; 0: the reassembly deadline alone.
    pub deadline_rtts: u32,
}

/// The most the RTT-scaled deadline grows to: a repair path this slow is better given up for the
/// next keyframe than waited for.
pub const MAX_RTT_DEADLINE: Duration = Duration::from_secs(5);

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            reassembly: ReassemblerConfig::default(),
            nack: true,
            initial_rtt: Duration::from_millis(50),
            tail_grace: Duration::from_millis(10),
            deadline_rtts: 0,
        }
    }
}

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Received on the data path (multicast or unicast UDP); feeds the jitter estimate.
    Network,
    /// A repair copy from the cloud over the repair connection; counts as an answer of the path and
    /// may give an RTT sample.
    Repair,
}

/// Loss-recovery counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Holes noticed (packets found missing).
    pub holes: u64,
    /// NACK requests made (each sent twice), and the packets they named (retries included).
    pub nacks_sent: u64,
    /// Sync packets received (the sender's newest sequence number after a silence).
    pub syncs: u64,
    /// Sequence numbers named in those requests, once per request (the doubled copy not counted).
    pub packets_requested: u64,
    /// Holes filled by a repair.
    pub repaired: u64,
    /// Holes filled by the original packet arriving late (reordering).
    pub late_arrivals: u64,
    /// Answers "evicted" (the cloud no longer had the packet).
    pub evicted: u64,
    /// Repairs that arrived for packets already present or passed.
    pub redundant_repairs: u64,
    /// Repairs whose original arrived afterwards on the data path: the hole was reordering, asked
    /// for too early (each one widens the reordering window).
    pub spurious_repairs: u64,
    /// From noticing a hole to its repair.
    pub repair_latency: LatencyHistogram,
}

#[derive(Debug, Clone, Copy)]
struct Hole {
    noticed: Instant,
    nacks: u32,
    last_nack: Option<Instant>,
}

/// The jitter floor of the reordering window, in multiples of the interarrival jitter estimate:
/// J is a mean deviation, and with uniform jitter of width W (J ≈ W/3) the largest displacement
/// is W, so 4 J covers the spread with margin.
const JITTER_MULTIPLE: u32 = 4;

/// Bounds of [`Receiver::repeat_spacing`].
const MIN_REPEAT_SPACING: Duration = Duration::from_millis(2);
const MAX_REPEAT_SPACING: Duration = Duration::from_millis(20);
/// Second copies waiting to be sent; a request made while this many wait drops the oldest
/// copy (its first copy went, and the hole is retried anyway).
const MAX_PENDING_REPEATS: usize = 64;

/// Repaired holes remembered to notice a spurious repair: the original arriving after its repair
/// means the hole was reordering (RFC 8985 §7.2's detection of spurious retransmissions, by the
/// duplicate instead of a DSACK). Bounded; older repairs are forgotten.
const RECENT_REPAIRS: usize = 64;

/// Repairs of real losses after which, with no reordering seen in between, the path is taken to
/// be in order again and the window closes (RFC 8985 §6.2.4 keeps a widened window for 16 loss
/// recoveries). A path never seen to reorder has no window at all, so its losses are asked for
/// as soon as a later packet shows them.
const REORDERING_PERSIST: u32 = 16;

/// When the repair path answers nothing at all (a cut link), retries past the second wait
/// twice as long each time, up to this many retry intervals, so the path is not flooded with
/// requests that would all be answered at once when it comes back (RFC 6298 §5.5 backs off the
/// same way). While answers flow, a lossy path is retried at the full rate.
const MAX_BACKOFF_FACTOR: u32 = 8;

impl Hole {
    /// When to ask again, given the retry interval and the last answer of any kind; `None`
    /// before the first ask.
    fn next_ask(&self, retry: Duration, last_answer: Option<Instant>) -> Option<Instant> {
        let asked = self.last_nack?;
        let path_answers = last_answer.is_some_and(|answer| answer >= asked);
        let doublings = if path_answers {
            0
        } else {
            self.nacks
                .saturating_sub(2)
                .min(MAX_BACKOFF_FACTOR.trailing_zeros())
        };
        Some(asked + retry * (1 << doublings))
    }
}

#[derive(Debug, Clone, Copy)]
struct TailCheck {
    at: Instant,
    highest: u64,
    through: u64,
}

/// One stream's receiver at an edge: a [`Reassembler`] plus loss detection, NACK scheduling (RFC
/// 4585-style generic NACKs, retried on an RFC 6298 RTT estimate) and repair accounting. Sans-IO:
/// feed it packets and timeouts, drain [`Receiver::poll_nack`] and [`Receiver::poll_event`].
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    reassembler: Reassembler,
    holes: BTreeMap<u64, Hole>,
    rtt: RttEstimator,
    tail: Option<TailCheck>,
    next_request_id: u32,
    /// Second copies of requests made, each with when it is due, oldest first (at most
    /// [`MAX_PENDING_REPEATS`]).
    repeats: VecDeque<(Instant, NackRequest)>,
    jitter: JitterEstimator,
    /// When the repair path last answered anything (a repair or "evicted").
    last_answer: Option<Instant>,
    /// The measured part of the reordering window: the largest recent displacement of a late
    /// arrival, decaying (see [`Receiver::reorder_window`]).
    reorder_window: Duration,
    /// Repairs of real losses still to go before the window closes; set to
    /// [`REORDERING_PERSIST`] whenever reordering is seen, zero on a path in order.
    reordering_persists: u32,
    /// Recently repaired holes (sequence number, when noticed), oldest first, at most
    /// [`RECENT_REPAIRS`].
    recent_repairs: VecDeque<(u64, Instant)>,
    stats: RecoveryStats,
}

impl Receiver {
    /// A receiver for `ssrc` with nothing received yet; assumes `config.initial_rtt` until an RTT
    /// is measured.
    pub fn new(ssrc: u32, config: ReceiverConfig) -> Self {
        let mut receiver = Receiver {
            config,
            reassembler: Reassembler::new(ssrc, config.reassembly),
            holes: BTreeMap::new(),
            rtt: RttEstimator::new(config.initial_rtt),
            tail: None,
            next_request_id: 0,
            repeats: VecDeque::new(),
            jitter: JitterEstimator::default(),
            last_answer: None,
            reorder_window: Duration::ZERO,
            reordering_persists: 0,
            recent_repairs: VecDeque::with_capacity(RECENT_REPAIRS),
            stats: RecoveryStats::default(),
        };
        receiver.scale_deadline();
        receiver
    }

    /// The SSRC this receiver reassembles.
    pub fn ssrc(&self) -> u32 {
        self.reassembler.ssrc()
    }

    /// The repair path's RTT estimate (RFC 6298), from repairs of holes asked for once.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Interarrival jitter of packets from the network (RFC 3550 §6.4.1).
    pub fn jitter(&self) -> Duration {
        self.jitter.jitter()
    }

    /// An outside RTT estimate (the QUIC connection's) used until a repair is timed.
    pub fn set_rtt_hint(&mut self, rtt: Duration) {
        self.rtt.set_initial(rtt);
        self.scale_deadline();
    }

    /// The playout deadline in force: the configured one, or `deadline_rtts` smoothed RTTs where
    /// that is longer (see [`ReceiverConfig::deadline_rtts`]).
    pub fn playout_deadline(&self) -> Duration {
        self.reassembler.deadline()
    }

    fn scale_deadline(&mut self) {
        if self.config.deadline_rtts == 0 {
            return;
        }
        let scaled = (self.rtt.smoothed() * self.config.deadline_rtts).min(MAX_RTT_DEADLINE);
        self.reassembler
            .set_deadline(scaled.max(self.config.reassembly.deadline));
    }

    /// The reassembler's counters.
    pub fn reassembly_stats(&self) -> ReassemblerStats {
        self.reassembler.stats()
    }

    /// The loss-recovery counters.
    pub fn recovery_stats(&self) -> &RecoveryStats {
        &self.stats
    }

    /// Holes being asked for now.
    pub fn outstanding(&self) -> usize {
        self.holes.len()
    }

    /// Takes a packet received at `now` from `source`: a sync packet reveals holes up to the
    /// sender's newest number, any other goes to the reassembler, and holes it opens or fills are
    /// tracked. Arms the tail check when the packet's message has fragments still to come.
    pub fn push(&mut self, now: Instant, packet: Packet, source: Source) {
        let header = packet.header;
        match source {
            // A sync packet goes out after a silence with the last media timestamp: it says
            // nothing of the path's jitter (RFC 3550 §6.4.1 measures media packets).
            Source::Network if header.kind != MessageKind::Sync => {
                self.jitter.on_packet(now, header.timestamp)
            }
            Source::Network => {}
            Source::Repair => self.last_answer = Some(now),
        }
        if header.kind == MessageKind::Sync {
            self.stats.syncs += 1;
            self.expect_through(now, header.seq);
            return;
        }
        let payload_len = packet.payload.len();
        let previous_highest = self.reassembler.highest_seq();
        let outcome = self.reassembler.push(now, packet);
        self.track(now, outcome, source);
        let Some(seq) = outcome.seq else {
            match source {
                Source::Repair => self.stats.redundant_repairs += 1,
                Source::Network => self.on_duplicate(now, header.seq),
            }
            return;
        };
        // Arm the tail check when this is the newest packet and its message goes on after it.
        if self.reassembler.highest_seq() == Some(seq) {
            if source == Source::Repair && previous_highest.is_some_and(|h| seq > h) {
                // Asked for before anything revealed it (after a sync or at the end of stream).
                self.stats.repaired += 1;
            }
            self.tail = None;
            if !header.end && payload_len > 0 {
                let fragments = (header.message_len as u64).div_ceil(payload_len as u64);
                let last = seq - header.fragment_index as u64 + fragments.saturating_sub(1);
                if last > seq {
                    self.tail = Some(TailCheck {
                        at: now + self.config.tail_grace,
                        highest: seq,
                        through: last,
                    });
                }
            }
        }
    }

    fn track(&mut self, now: Instant, outcome: PushOutcome, source: Source) {
        if let Some((first, last)) = outcome.new_holes {
            self.add_holes(now, first, last);
        }
        let Some(seq) = outcome.seq.filter(|_| outcome.filled_hole) else {
            return;
        };
        let Some(hole) = self.holes.remove(&seq) else {
            return;
        };
        match source {
            Source::Repair => {
                self.stats.repaired += 1;
                self.stats
                    .repair_latency
                    .record(now.saturating_duration_since(hole.noticed));
                // Karn: only a hole asked for once times the path unambiguously.
                if let (1, Some(asked)) = (hole.nacks, hole.last_nack) {
                    self.rtt.sample(now.saturating_duration_since(asked));
                    self.scale_deadline();
                }
                // A loss as far as we know: the measured window shrinks a little, and closes
                // after a run of recoveries without reordering (RFC 8985 §6.2.4).
                self.reorder_window = self.reorder_window * 15 / 16;
                self.reordering_persists = self.reordering_persists.saturating_sub(1);
                if self.reordering_persists == 0 {
                    self.reorder_window = Duration::ZERO;
                }
                if self.recent_repairs.len() == RECENT_REPAIRS {
                    self.recent_repairs.pop_front();
                }
                self.recent_repairs.push_back((seq, hole.noticed));
            }
            Source::Network => {
                self.stats.late_arrivals += 1;
                self.on_displacement(now.saturating_duration_since(hole.noticed));
            }
        }
    }

    /// A hole noticed `displacement` ago was filled by its original (or overtook its repair): it
    /// was reordering, not loss, so holes wait that long before their first request (RFC 8985
    /// §6.2's reordering window, kept as the largest displacement since the last repairs shrank
    /// it; see [`Receiver::reorder_window`] for its bound).
    fn on_displacement(&mut self, displacement: Duration) {
        self.reordering_persists = REORDERING_PERSIST;
        self.reorder_window = self.reorder_window.max(displacement).min(self.window_cap());
    }

    /// The most a hole waits before its first request: half the retry interval, so a real loss
    /// is still asked for within about one RTT of being noticed (RFC 8985 §6.2 bounds its window
    /// by the SRTT the same way), but at least an eighth of the playout deadline. The data path
    /// is not the repair path: on a repair link much shorter than the data path's spread (the
    /// cloud next door, a jittery multicast path) half an RTT would be less than the reordering
    /// and every late packet would be asked for and repaired before it arrived.
    fn window_cap(&self) -> Duration {
        (self.rtt.retry_interval() / 2).max(self.reassembler.deadline() / 8)
    }

    /// A packet from the network that was already there: if it was repaired recently, the repair
    /// was spurious and its displacement widens the window.
    fn on_duplicate(&mut self, now: Instant, wire_seq: u64) {
        let seq = self.reassembler.unwrap_seq(wire_seq);
        let Some(at) = self.recent_repairs.iter().position(|(s, _)| *s == seq) else {
            return;
        };
        if let Some((_, noticed)) = self.recent_repairs.remove(at) {
            self.stats.spurious_repairs += 1;
            self.on_displacement(now.saturating_duration_since(noticed));
        }
    }

    /// How long a new hole waits before its first request. Zero on a path not seen to reorder
    /// (or not within the last [`REORDERING_PERSIST`] repairs), so an in-order path loses no
    /// time. Otherwise the largest displacement of late arrivals, at least [`JITTER_MULTIPLE`]
    /// times the interarrival jitter (the spread of a jittery path shows in J before its
    /// largest displacements do), within the cap of `window_cap`. The jitter is measured
    /// against the media timestamps, so it also holds the publisher's own jitter; that is why it
    /// counts only on a path seen to reorder.
    pub fn reorder_window(&self) -> Duration {
        if self.reordering_persists == 0 {
            return Duration::ZERO;
        }
        let floor = self.jitter.jitter() * JITTER_MULTIPLE;
        self.reorder_window.max(floor).min(self.window_cap())
    }

    fn add_holes(&mut self, now: Instant, first: u64, last: u64) {
        if !self.config.nack {
            return;
        }
        for seq in first..=last {
            self.stats.holes += 1;
            self.holes.insert(
                seq,
                Hole {
                    noticed: now,
                    nacks: 0,
                    last_nack: None,
                },
            );
        }
    }

    /// The stream starts at `seq` (a wire number) for this receiver: packets from there on that
    /// did not arrive are asked for (see [`Reassembler::start_at`]).
    pub fn start_at(&mut self, seq: u64) {
        self.reassembler.start_at(seq);
    }

    /// Everything up to `last` (a wire number) was sent, as the repair connection said: missing
    /// packets up to it are holes to ask for now, even with no later packet to reveal them.
    pub fn expect_through(&mut self, now: Instant, last: u64) {
        let last = self.reassembler.unwrap_seq(last);
        if let Some((first, last)) = self.reassembler.expect_through(now, last) {
            self.add_holes(now, first, last);
        }
    }

    /// Whether every packet up to `seq` (a wire number) has been delivered or given up.
    pub fn is_done_through(&self, seq: u64) -> bool {
        let seq = self.reassembler.unwrap_seq(seq);
        self.reassembler.next_seq().is_none_or(|next| next > seq)
    }

    /// The cloud no longer has `seq` (a wire number): give it up now and resume at the next
    /// keyframe.
    pub fn on_evicted(&mut self, now: Instant, seq: u64) {
        self.last_answer = Some(now);
        let seq = self.reassembler.unwrap_seq(seq);
        if self.holes.remove(&seq).is_some() {
            self.stats.evicted += 1;
        }
        self.reassembler.abandon(now, seq);
    }

    /// The next reassembled message or gap, in stream order; call until `None` after every input.
    pub fn poll_event(&mut self) -> Option<ReassemblerEvent> {
        self.reassembler.poll_event()
    }

    /// The next NACK to send, if any hole is due. Call until it returns `None`; every request
    /// comes out twice, the second copy [`Receiver::repeat_spacing`] after the first (it is due
    /// by [`Receiver::poll_timeout`]), so that one lost UDP packet of the repair path does not
    /// take both: sent back to back, QUIC would put both copies in one packet.
    pub fn poll_nack(&mut self, now: Instant) -> Option<NackRequest> {
        while self.repeats.front().is_some_and(|(due, _)| *due <= now) {
            let Some((_, request)) = self.repeats.pop_front() else {
                break;
            };
            // A copy whose holes were all filled meanwhile would only ask for duplicates.
            let still_missing = request
                .ranges
                .iter()
                .flat_map(|range| range.seqs())
                .any(|seq| self.holes.contains_key(&self.reassembler.unwrap_seq(seq)));
            if still_missing {
                return Some(request);
            }
        }
        if let Some(next) = self.reassembler.next_seq() {
            // Holes the reassembler has passed (given up or filled) are no longer asked for.
            while let Some(entry) = self.holes.first_entry().filter(|e| *e.key() < next) {
                entry.remove();
            }
        }
        if self.holes.is_empty() {
            return None;
        }
        let retry = self.rtt.retry_interval();
        let window = self.reorder_window();
        let mut first_asks = Vec::new();
        let mut retries = Vec::new();
        for (seq, hole) in &self.holes {
            match hole.next_ask(retry, self.last_answer) {
                None if now >= hole.noticed + window => first_asks.push(*seq),
                None => {}
                Some(due) if now >= due => retries.push(*seq),
                Some(_) => {}
            }
        }
        let (mut seqs, copies) = if !first_asks.is_empty() {
            (first_asks, 1)
        } else {
            (retries, 2)
        };
        if seqs.is_empty() {
            return None;
        }
        let ranges = NackRange::pack(&seqs);
        if let Some(last_range) = ranges.get(MAX_NACK_RANGES) {
            seqs.retain(|seq| *seq < last_range.base);
        }
        for seq in &seqs {
            if let Some(hole) = self.holes.get_mut(seq) {
                hole.nacks += 1;
                hole.last_nack = Some(now);
            }
        }
        self.stats.packets_requested += seqs.len() as u64;
        Some(self.request(now, copies, NackRange::pack(&seqs)))
    }

    /// How long after a request its second copy goes: a tenth of the smoothed RTT, 2 to 20 ms,
    /// so the copies travel in different packets and, on a long path whose losses come in
    /// bursts, usually outside one burst; an answer to the first copy still comes well before
    /// a retry would.
    pub fn repeat_spacing(&self) -> Duration {
        (self.rtt.smoothed() / 10).clamp(MIN_REPEAT_SPACING, MAX_REPEAT_SPACING)
    }

    fn request(&mut self, now: Instant, copies: u8, ranges: Vec<NackRange>) -> NackRequest {
        self.stats.nacks_sent += 1;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        let request = NackRequest {
            ssrc: self.ssrc(),
            id: self.next_request_id,
            copies,
            ranges,
        };
        if self.repeats.len() == MAX_PENDING_REPEATS {
            self.repeats.pop_front();
        }
        self.repeats
            .push_back((now + self.repeat_spacing(), request.clone()));
        request
    }

    /// When [`handle_timeout`](Self::handle_timeout) (or `poll_nack`) has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let nack_due = (!self.holes.is_empty()).then(|| {
            let retry = self.rtt.retry_interval();
            let window = self.reorder_window();
            self.holes
                .values()
                .map(|hole| {
                    hole.next_ask(retry, self.last_answer)
                        .unwrap_or(hole.noticed + window)
                })
                .min()
        });
        [
            self.reassembler.poll_timeout(),
            nack_due.flatten(),
            self.tail.map(|t| t.at),
            self.repeats.front().map(|(due, _)| *due),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does the work due at `now`: the tail check (a message's missing last fragments become holes)
    /// and the reassembler's deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(tail) = self.tail.filter(|t| now >= t.at) {
            self.tail = None;
            if self.reassembler.highest_seq() == Some(tail.highest) {
                if let Some((first, last)) = self.reassembler.expect_through(now, tail.through) {
                    self.add_holes(now, first, last);
                }
            }
        }
        self.reassembler.handle_timeout(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Packetizer};
    use bytes::Bytes;
    use flv::{Tag, TagType};

    const SSRC: u32 = 7;

    fn packets(count: u32) -> Vec<Packet> {
        let mut packetizer =
            Packetizer::new(SSRC, 100, 1400, crate::MediaKey::from_bytes([7; 32])).unwrap();
        let mut out = Vec::new();
        for i in 0..count {
            let tag = Tag::new(TagType::Audio, i * 21, Bytes::from(vec![0xaf, 1, i as u8]));
            packetizer.packetize(&Message::Tag(tag), &mut out).unwrap();
        }
        out.push(packetizer.sync().unwrap());
        out
    }

    /// Packets that came before the stream was announced were dropped (no key yet): from the
    /// announced start on, whatever is missing is asked for, by a later packet or by a sync.
    #[test]
    fn a_receiver_started_at_a_sequence_number_asks_for_what_it_missed_before_its_first_packet() {
        let t0 = Instant::now();
        let all = packets(4);
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        receiver.start_at(100);
        receiver.push(t0, all[2].clone(), Source::Network);
        let request = receiver.poll_nack(t0).unwrap();
        assert_eq!(request.ranges[0].seqs().collect::<Vec<_>>(), vec![100, 101]);
        receiver.push(t0, all[0].clone(), Source::Repair);
        receiver.push(t0, all[1].clone(), Source::Repair);
        receiver.push(t0, all[3].clone(), Source::Network);
        let mut tags = 0;
        while let Some(event) = receiver.poll_event() {
            assert!(matches!(event, ReassemblerEvent::Message(_)), "{event:?}");
            tags += 1;
        }
        assert_eq!((tags, receiver.recovery_stats().repaired), (4, 2));

        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        receiver.start_at(100);
        receiver.push(t0, all[4].clone(), Source::Network);
        let request = receiver.poll_nack(t0).unwrap();
        assert_eq!(
            request.ranges[0].seqs().collect::<Vec<_>>(),
            vec![100, 101, 102, 103]
        );

        // A first packet before the announced start starts the stream there.
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        receiver.start_at(102);
        receiver.push(t0, all[0].clone(), Source::Network);
        assert_eq!(receiver.poll_nack(t0), None);
        assert!(matches!(
            receiver.poll_event(),
            Some(ReassemblerEvent::Message(_))
        ));
    }

    #[test]
    fn a_sync_reveals_a_lost_last_packet_which_is_asked_twice_then_retried_with_two_copies() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        let all = packets(3);
        let (lost, sync) = (all[2].clone(), all[3].clone());
        // Arrivals in step with the timestamps (21 ms apart): no jitter, no reordering window.
        receiver.push(ms(0), all[0].clone(), Source::Network);
        receiver.push(ms(21), all[1].clone(), Source::Network);
        assert_eq!(receiver.poll_nack(ms(21)), None);
        receiver.push(ms(26), sync, Source::Network);
        let first = receiver.poll_nack(ms(26)).unwrap();
        // The second copy goes a tenth of the RTT (50 ms initially) later, in its own packet.
        assert_eq!(receiver.poll_nack(ms(26)), None);
        assert_eq!(receiver.poll_timeout(), Some(ms(31)));
        assert_eq!(receiver.poll_nack(ms(31)), Some(first.clone()));
        assert_eq!(receiver.poll_nack(ms(31)), None);
        assert_eq!(
            (first.copies, first.ranges[0].seqs().collect::<Vec<_>>()),
            (1, vec![102])
        );
        // No answer within the retry interval (initial RTT 50 ms, variation 25 ms): asked again,
        // for two copies.
        let retry_at = receiver.poll_timeout().unwrap();
        assert_eq!(retry_at, ms(176));
        assert_eq!(receiver.poll_nack(ms(41)), None);
        let retry = receiver.poll_nack(retry_at).unwrap();
        assert_ne!(retry.id, first.id);
        assert_eq!(retry.copies, 2);
        receiver.push(retry_at + Duration::from_millis(3), lost, Source::Repair);
        let stats = receiver.recovery_stats();
        assert_eq!(
            (stats.holes, stats.repaired, stats.syncs, stats.nacks_sent),
            (1, 1, 1, 2)
        );
        let mut tags = 0;
        while let Some(event) = receiver.poll_event() {
            assert!(matches!(event, ReassemblerEvent::Message(_)), "{event:?}");
            tags += 1;
        }
        assert_eq!(tags, 3);
        // Asked twice: no RTT sample (Karn); the initial guess stands.
        assert_eq!(receiver.rtt().smoothed(), Duration::from_millis(50));
    }

    #[test]
    fn once_reordering_is_seen_first_requests_wait_out_the_displacement() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        let all = packets(6);
        // Arrivals in step with the timestamps (21 ms apart): no jitter, no window.
        receiver.push(ms(0), all[0].clone(), Source::Network);
        receiver.push(ms(42), all[2].clone(), Source::Network);
        assert_eq!(receiver.reorder_window(), Duration::ZERO);
        // No reordering seen yet: asked at once (the second copy would go 5 ms later).
        assert!(receiver.poll_nack(ms(42)).is_some());
        // The original arrives 3 ms late: reordering.
        receiver.push(ms(45), all[1].clone(), Source::Network);
        assert_eq!(receiver.recovery_stats().late_arrivals, 1);
        let window = receiver.reorder_window();
        assert!(window >= Duration::from_millis(3), "{window:?}");
        receiver.push(ms(84), all[4].clone(), Source::Network);
        assert_eq!(
            receiver.poll_nack(ms(84)),
            None,
            "within the reordering window"
        );
        let window = receiver.reorder_window();
        assert_eq!(receiver.poll_timeout(), Some(ms(84) + window));
        assert!(receiver.poll_nack(ms(84) + window).is_some());
    }

    /// One packet per millisecond (one audio tag each), timestamps in step with sending.
    fn dense_packets(count: u32) -> Vec<Packet> {
        let mut packetizer =
            Packetizer::new(SSRC, 100, 1400, crate::MediaKey::from_bytes([7; 32])).unwrap();
        let mut out = Vec::new();
        for i in 0..count {
            let tag = Tag::new(TagType::Audio, i, Bytes::from(vec![0xaf, 1, i as u8]));
            packetizer.packetize(&Message::Tag(tag), &mut out).unwrap();
        }
        out
    }

    /// What [`run_jittery`] saw.
    struct JitteryRun {
        stats: RecoveryStats,
        /// For each lost packet: from its successor's arrival (when it could first be noticed)
        /// to the first request naming it.
        first_ask_after: Vec<Duration>,
        retry: Duration,
    }

    /// Virtual time: `count` packets sent 1 ms apart over a data path with `jitter` (uniform
    /// extra delay, seeded), the packets in `lost` dropped; a repair path with a fixed `rtt`
    /// answers every request (once per request id) with the packets it names.
    fn run_jittery(count: u32, jitter_us: u64, lost: &[u64], rtt: Duration) -> JitteryRun {
        let t0 = Instant::now();
        let all = dense_packets(count);
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut events: BTreeMap<(Instant, u64), (Packet, Source)> = BTreeMap::new();
        let mut order = 0u64;
        let mut arrivals = BTreeMap::new();
        for (i, packet) in all.iter().enumerate() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let extra = Duration::from_micros(rng % (jitter_us + 1));
            let at = t0 + Duration::from_millis(i as u64) + extra;
            let seq = packet.header.seq;
            if lost.contains(&seq) {
                continue;
            }
            arrivals.insert(seq, at);
            order += 1;
            events.insert((at, order), (packet.clone(), Source::Network));
        }
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        receiver.set_rtt_hint(rtt);
        let mut first_ask = BTreeMap::new();
        let mut answered = std::collections::HashSet::new();
        loop {
            let next_event = events.keys().next().map(|k| k.0);
            let Some(now) = [next_event, receiver.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            if next_event == Some(now) {
                if let Some((_, (packet, source))) = events.pop_first() {
                    receiver.push(now, packet, source);
                }
            }
            receiver.handle_timeout(now);
            while let Some(request) = receiver.poll_nack(now) {
                if !answered.insert(request.id) {
                    continue;
                }
                for seq in request.ranges.iter().flat_map(|r| r.seqs()) {
                    first_ask.entry(seq).or_insert(now);
                    let packet = all[(seq - 100) as usize].clone();
                    order += 1;
                    events.insert((now + rtt, order), (packet, Source::Repair));
                }
            }
            while receiver.poll_event().is_some() {}
            if now > t0 + Duration::from_secs(30) {
                break;
            }
        }
        let first_ask_after = lost
            .iter()
            .map(|seq| {
                // Noticed when the first later packet arrived.
                let noticed = arrivals
                    .range(seq + 1..)
                    .map(|(_, at)| *at)
                    .min()
                    .expect("a later packet arrived");
                first_ask[seq].saturating_duration_since(noticed)
            })
            .collect();
        JitteryRun {
            stats: receiver.recovery_stats().clone(),
            first_ask_after,
            retry: receiver.rtt().retry_interval(),
        }
    }

    /// Issue 12: a path with 0–2 ms of jitter at 1000 packets/s reorders about one packet in
    /// eight. From the first late arrival on, holes wait out the reordering window (at least 4 J),
    /// so jitter alone makes (almost) no requests, while real losses are still asked for
    /// within half a retry interval of being noticed and repaired.
    #[test]
    fn jitter_alone_asks_for_almost_nothing_and_losses_are_still_asked_within_the_window() {
        let lost = [1100, 2100, 2101, 2102, 2900];
        for rtt_ms in [1, 20, 100] {
            let rtt = Duration::from_millis(rtt_ms);
            let run = run_jittery(3000, 2000, &lost, rtt);
            let s = &run.stats;
            let spurious = s.packets_requested - lost.len() as u64;
            assert!(s.late_arrivals > 200, "{s:?}");
            assert!(
                spurious <= 3,
                "rtt {rtt_ms} ms: {spurious} packets asked for that were only late: {s:?}"
            );
            assert_eq!(s.repaired, lost.len() as u64, "rtt {rtt_ms} ms: {s:?}");
            for after in &run.first_ask_after {
                assert!(
                    *after <= run.retry / 2 + Duration::from_millis(2),
                    "rtt {rtt_ms} ms: a loss first asked for {after:?} after it was noticed \
                     (retry interval {:?})",
                    run.retry
                );
            }
        }
    }

    /// Without jitter there is no window: a loss is asked for as soon as a later packet shows it.
    #[test]
    fn without_jitter_a_loss_is_asked_for_at_once() {
        let run = run_jittery(500, 0, &[300], Duration::from_millis(20));
        assert_eq!(run.first_ask_after, vec![Duration::ZERO]);
        assert_eq!((run.stats.packets_requested, run.stats.repaired), (1, 1));
    }

    /// With `deadline_rtts`, the deadline follows the repair path's RTT: the configured one on a
    /// short path, 8 RTT on a long one, never more than [`MAX_RTT_DEADLINE`].
    #[test]
    fn the_deadline_scales_with_the_rtt() {
        let config = ReceiverConfig {
            deadline_rtts: 8,
            ..ReceiverConfig::default()
        };
        let configured = config.reassembly.deadline;
        let mut receiver = Receiver::new(SSRC, config);
        // The initial RTT (50 ms) gives 400 ms, more than the configured 300 ms.
        assert_eq!(receiver.playout_deadline(), Duration::from_millis(400));
        receiver.set_rtt_hint(Duration::from_millis(10));
        assert_eq!(receiver.playout_deadline(), configured);
        receiver.set_rtt_hint(Duration::from_millis(300));
        assert_eq!(receiver.playout_deadline(), Duration::from_millis(2400));
        receiver.set_rtt_hint(Duration::from_secs(2));
        assert_eq!(receiver.playout_deadline(), MAX_RTT_DEADLINE);
        let fixed = Receiver::new(SSRC, ReceiverConfig::default());
        assert_eq!(fixed.playout_deadline(), configured);
    }

    /// Arrivals that wobble against the media timestamps but never overtake each other (an
    /// uneven publisher, a steady path): the jitter estimate is not zero, yet no window opens,
    /// because nothing was reordered.
    #[test]
    fn uneven_arrivals_in_order_open_no_window() {
        let t0 = Instant::now();
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        let all = dense_packets(200);
        // Sent 1 ms apart by timestamp; arrivals 0 or 2 ms apart, in order. Packet 150 is lost.
        let mut at = t0;
        for (i, packet) in all.iter().enumerate() {
            at += Duration::from_millis(if i % 2 == 0 { 0 } else { 2 });
            if packet.header.seq != 250 {
                receiver.push(at, packet.clone(), Source::Network);
            }
            if packet.header.seq == 251 {
                assert_eq!(receiver.reorder_window(), Duration::ZERO);
                let request = receiver.poll_nack(at).expect("asked for at once");
                assert_eq!(request.ranges[0].seqs().collect::<Vec<_>>(), vec![250]);
            }
        }
        assert_eq!(receiver.recovery_stats().late_arrivals, 0);
    }

    /// A repair that beat its late original (RTT below the jitter) is spurious: the original's
    /// arrival widens the window, so the next reordered packets are not asked for.
    #[test]
    fn a_repair_overtaken_by_its_original_widens_the_window() {
        let t0 = Instant::now();
        let us = |n| t0 + Duration::from_micros(n);
        let all = dense_packets(4);
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        receiver.set_rtt_hint(Duration::from_micros(200));
        receiver.push(us(0), all[0].clone(), Source::Network);
        receiver.push(us(2000), all[2].clone(), Source::Network);
        let window = receiver.reorder_window();
        assert!(receiver.poll_nack(us(2000) + window).is_some());
        receiver.push(us(2300) + window, all[1].clone(), Source::Repair);
        receiver.push(us(3000) + window, all[1].clone(), Source::Network);
        assert_eq!(receiver.recovery_stats().spurious_repairs, 1);
        assert!(
            receiver.reorder_window()
                >= Duration::from_micros(1000) + window.min(Duration::from_micros(1))
        );
    }

    #[test]
    fn an_evicted_answer_gives_the_hole_up_at_once() {
        let t0 = Instant::now();
        let mut receiver = Receiver::new(SSRC, ReceiverConfig::default());
        let all = packets(3);
        // Arrivals in step with the timestamps: no jitter, asked at once.
        receiver.push(t0, all[0].clone(), Source::Network);
        let t42 = t0 + Duration::from_millis(42);
        receiver.push(t42, all[2].clone(), Source::Network);
        assert!(receiver.poll_nack(t42).is_some());
        receiver.on_evicted(t42, 101);
        let events: Vec<_> = std::iter::from_fn(|| receiver.poll_event()).collect();
        assert!(
            matches!(
                events[..],
                [
                    ReassemblerEvent::Message(_),
                    ReassemblerEvent::Gap { lost: 1 },
                    ReassemblerEvent::Message(_)
                ]
            ),
            "{events:?}"
        );
        assert_eq!(receiver.recovery_stats().evicted, 1);
        assert_eq!(receiver.outstanding(), 0);
    }
}
