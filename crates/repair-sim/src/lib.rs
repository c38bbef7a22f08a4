//! Loss repair in virtual time: the cloud and an edge, sans-IO, over seeded [`netem`] links.
//!
//! - **Cloud**: a [`Publication`] packetizes a synthetic 3 Mb/s H.264 + AAC stream (see
//!   `stream.rs`), every packet goes into a [`RetransmitCache`] and onto the data link; NACKs
//!   that reach the cloud are answered with [`RetransmitCache::answer`].
//! - **Links**: the data link (cloud → edge, one-way delay RTT/2, `data_loss`, optional jitter,
//!   reordering and an outage), and the repair path as two datagram links (edge → cloud NACKs,
//!   cloud → edge answers), each with one-way delay RTT/2 and random loss `repair_loss`. Every
//!   [`relay_proto::NackRequest`] and every [`CloudMessage`] is one item, carried in its wire encoding.
//!   With [`RepairTransport::Quic`] the repair path is instead the real repair connection:
//!   quinn-proto's state machine configured by `repair_quic::endpoint` (BBR, datagrams, streams
//!   for long messages), its UDP packets on two such links (see `quic.rs`).
//! - **Edge**: a [`Receiver`] fed data packets as [`Source::Network`] and repair copies as
//!   [`Source::Repair`]; `Evicted` answers go to [`Receiver::on_evicted`]. After every input and
//!   every timeout the harness drains `poll_nack` (each request goes on the NACK link) and
//!   `poll_event`.
//!
//! The loop is a discrete-event simulation: `now` always jumps to the earliest of the next tag
//! due, the next arrival on any link and [`Receiver::poll_timeout`]. Nothing sleeps, nothing
//! reads a clock, and the same [`SimConfig`] gives the same [`SimReport`].
//!
//! The measurements are the harness's own: it knows which packets the data link lost, when each
//! repair copy arrived, and what the original tags were, so it checks that every tag the edge
//! emits is byte for byte the original at its place in order. It applies the edge's keyframe rule
//! (after a gap, video is dropped until a keyframe, as `edge/src/stream_state.rs` does) and checks
//! that no delivered inter frame lacks its predecessor.

#![warn(missing_docs)]

mod quic;
mod report;
mod stream;

pub use netem::Loss;
pub use quic::{QuicReport, QuicSide};
pub use report::{repair_bounds, Durations, OutageReport, SimReport};
pub use stream::config_tags;

use bytes::Bytes;
use flv::TagType;
use netem::{Netem, NetemConfig, SplitMix64};
use quic::QuicPath;
use relay_proto::{
    AnswerBudget, CloudMessage, EdgeMessage, Fragments, MediaKey, MessageKind, Packet, Publication,
    ReassembledBody, ReassemblerConfig, ReassemblerEvent, Receiver, ReceiverConfig,
    RepairResponder, RetransmitCache, Source, DEFAULT_MAX_DATAGRAM, SEQUENCE_MASK,
};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use stream::{Generated, StreamGen, TagKind};

/// The simulated publish's media key.
const SIM_KEY: [u8; relay_proto::MEDIA_KEY_LEN] = [0x51; relay_proto::MEDIA_KEY_LEN];

/// How long the stream runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Until this many packets were sent (finishing the tag that reaches it).
    Packets(u64),
    /// Tags due before this much time.
    Duration(Duration),
}

/// The data link drops everything sent in `start..start + length` (times since the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When the outage begins, as time since the start of the run.
    pub start: Duration,
    /// How long the data link stays down.
    pub length: Duration,
}

/// What carries NACKs and answers between the edge and the cloud.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepairTransport {
    /// Each message is one item on a datagram link per direction, lost or delayed on its own:
    /// no handshake, no congestion control, no acknowledgements.
    #[default]
    Model,
    /// The repair connection itself: quinn-proto driven sans-IO with the project's QUIC
    /// configuration (`repair_quic::endpoint`), each UDP packet lost or delayed on the links.
    /// The handshake runs before the stream starts.
    Quic,
}

/// One simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Master seed: the data link, both repair links, the stream generator, the SSRC and (unless
    /// `first_seq` is set) the first sequence number are all drawn from it, so equal configs give
    /// equal reports.
    pub seed: u64,
    /// Bit rate of the tag bodies (video + audio).
    pub bitrate_bps: u64,
    /// Video frame rate of the synthetic stream, in frames per second.
    pub fps: u32,
    /// Keyframe interval in frames.
    pub gop_frames: u32,
    /// Round-trip time: each link's one-way delay is half of it.
    pub rtt: Duration,
    /// Loss on the data link.
    pub data_loss: Loss,
    /// Independent loss on each direction of the repair path.
    pub repair_loss: f64,
    /// The receiver's reassembly deadline.
    pub playout_deadline: Duration,
    /// When the run ends: a packet count or a stretch of virtual time.
    pub length: Length,
    /// Packets the cloud's retransmit cache holds.
    pub cache_packets: usize,
    /// Extra uniform delay on the data link (items may overtake each other).
    pub data_jitter: Duration,
    /// Probability that a data packet is held back by `data_reorder_delay`.
    pub data_reorder: f64,
    /// Extra hold-back of a data packet picked by `data_reorder`, on top of its delay and jitter.
    pub data_reorder_delay: Duration,
    /// Extra uniform delay on each direction of the repair path.
    pub repair_jitter: Duration,
    /// The receiver's tail grace (how long the rest of a message may trail).
    pub tail_grace: Duration,
    /// A window in which the data link drops every packet; `None`: no outage.
    pub outage: Option<Outage>,
    /// The first sequence number (48 bits); `None`: drawn from the seed, far from the wrap.
    pub first_seq: Option<u64>,
    /// What carries the repair messages; `repair_loss` and `repair_jitter` apply to its items
    /// (messages for [`RepairTransport::Model`], UDP packets for [`RepairTransport::Quic`]).
    pub repair_transport: RepairTransport,
    /// The publication's datagram size: a repair answer is a whole datagram plus a few bytes,
    /// so above ≈1400 B answers no longer fit a QUIC datagram and go on streams.
    pub max_datagram: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            bitrate_bps: 3_000_000,
            fps: 30,
            gop_frames: 60,
            rtt: Duration::from_millis(20),
            data_loss: Loss::Random(0.05),
            repair_loss: 0.05,
            playout_deadline: Duration::from_millis(250),
            length: Length::Packets(100_000),
            cache_packets: 5000,
            data_jitter: Duration::ZERO,
            data_reorder: 0.0,
            data_reorder_delay: Duration::ZERO,
            repair_jitter: Duration::ZERO,
            tail_grace: ReceiverConfig::default().tail_grace,
            outage: None,
            first_seq: None,
            repair_transport: RepairTransport::Model,
            max_datagram: DEFAULT_MAX_DATAGRAM,
        }
    }
}

/// Runs one simulation to the end (the stream finishes and every link drains).
pub fn run(config: &SimConfig) -> SimReport {
    Sim::new(config).run()
}

/// The recovery table: loss 0/5/10/20 % (on the data link and each way of the repair path) ×
/// RTT 20/50/100 ms, `packets` packets per run, playout deadline max(4 RTT, 200 ms) + 50 ms.
/// Columns: shares of lost packets repaired within 1, 2 and 3 RTT, packets given up by the
/// receiver (unrecovered within the deadline), packets never repaired, repair bandwidth overhead
/// (answer bytes the cloud sent per media byte).
pub fn recovery_table(packets: u64, seed: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5} {:>5} {:>9} {:>7} {:>8} {:>8} {:>8} {:>11} {:>8} {:>9}",
        "loss",
        "RTT",
        "packets",
        "lost",
        "<=1 RTT",
        "<=2 RTT",
        "<=3 RTT",
        "unrecovered",
        "never",
        "overhead"
    );
    for loss in [0.0, 0.05, 0.10, 0.20] {
        for rtt_ms in [20u64, 50, 100] {
            let rtt = Duration::from_millis(rtt_ms);
            let config = SimConfig {
                seed,
                rtt,
                data_loss: if loss > 0.0 {
                    Loss::Random(loss)
                } else {
                    Loss::None
                },
                repair_loss: loss,
                playout_deadline: (rtt * 4).max(Duration::from_millis(200))
                    + Duration::from_millis(50),
                length: Length::Packets(packets),
                ..SimConfig::default()
            };
            let report = run(&config);
            let share = |n: u32| {
                if report.lost_on_data_link == 0 {
                    "-".to_string()
                } else {
                    format!("{:.3}%", 100.0 * report.share_within(rtt * n))
                }
            };
            let _ = writeln!(
                out,
                "{:>4.0}% {:>3}ms {:>9} {:>7} {:>8} {:>8} {:>8} {:>11} {:>8} {:>8.2}%",
                loss * 100.0,
                rtt_ms,
                report.packets_sent,
                report.lost_on_data_link,
                share(1),
                share(2),
                share(3),
                report.reassembly.lost,
                report.unrecovered,
                100.0 * report.repair_overhead()
            );
        }
    }
    out
}

/// The recovery table through the real repair connection ([`RepairTransport::Quic`]): RTT 100
/// and 200 ms × random loss 5 and 10 % on the data link and on each way of the QUIC path (every
/// UDP packet), `packets` packets per run, each at two playout deadlines: max(4 RTT, 200 ms) +
/// 50 ms as in [`recovery_table`], and the edge's default, max(300 ms, 8 RTT).
/// Columns as [`recovery_table`]'s, plus the deadline, the UDP bytes the cloud sent on the
/// connection per media byte (`udp ovh`, QUIC headers, ACKs and keep-alives included), the UDP
/// packets the links lost each way (edge → cloud / cloud → edge), the answers that went on
/// streams, the datagrams quinn never sent (dropped by its send buffer) and the times the cloud's
/// MTU discovery declared a black hole (`bh`: back to the 1200-byte base MTU, where a full-size
/// answer no longer fits a datagram).
pub fn quic_recovery_table(packets: u64, seed: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5} {:>5} {:>8} {:>9} {:>7} {:>8} {:>8} {:>8} {:>11} {:>6} {:>8} {:>8} {:>13} {:>7} {:>6} {:>3}",
        "loss",
        "RTT",
        "deadline",
        "packets",
        "lost",
        "<=1 RTT",
        "<=2 RTT",
        "<=3 RTT",
        "unrecovered",
        "never",
        "overhead",
        "udp ovh",
        "udp lost e/c",
        "streams",
        "unsent",
        "bh"
    );
    for rtt_ms in [100u64, 200] {
        let rtt = Duration::from_millis(rtt_ms);
        // The first table's deadline, and the edge's default (`playout_deadline_ms: 300` with
        // `playout_deadline_rtts: 8`: the larger of 300 ms and 8 RTT).
        let deadlines = [
            (rtt * 4).max(Duration::from_millis(200)) + Duration::from_millis(50),
            (rtt * 8).max(Duration::from_millis(300)),
        ];
        for (loss, deadline) in [0.05, 0.10]
            .into_iter()
            .flat_map(|loss| deadlines.map(|deadline| (loss, deadline)))
        {
            let config = SimConfig {
                seed,
                rtt,
                data_loss: Loss::Random(loss),
                repair_loss: loss,
                playout_deadline: deadline,
                length: Length::Packets(packets),
                repair_transport: RepairTransport::Quic,
                ..SimConfig::default()
            };
            let report = run(&config);
            let quic = report.quic.clone().unwrap_or_default();
            let share = |n: u32| format!("{:.3}%", 100.0 * report.share_within(rtt * n));
            let _ = writeln!(
                out,
                "{:>4.0}% {:>3}ms {:>6}ms {:>9} {:>7} {:>8} {:>8} {:>8} {:>11} {:>6} {:>7.2}% {:>7.2}% {:>13} {:>7} {:>6} {:>3}{}",
                loss * 100.0,
                rtt_ms,
                deadline.as_millis(),
                report.packets_sent,
                report.lost_on_data_link,
                share(1),
                share(2),
                share(3),
                report.reassembly.lost,
                report.unrecovered,
                100.0 * report.repair_overhead(),
                100.0 * report.quic_overhead().unwrap_or(0.0),
                format!(
                    "{}/{}",
                    quic.edge.udp_packets_lost_on_link, quic.cloud.udp_packets_lost_on_link
                ),
                quic.cloud.streams_opened,
                quic.cloud.datagrams_unsent + quic.edge.datagrams_unsent,
                quic.cloud.black_holes_detected,
                match &quic.connection_lost {
                    Some(reason) => format!("  connection lost: {reason}"),
                    None => String::new(),
                }
            );
        }
    }
    out
}

const NO_TIME: u64 = u64::MAX;
const ATTEMPT_BUCKETS: usize = 16;
/// Originals not emitted this long after they were sent are given up by the integrity check.
const ORIGINAL_HORIZON: Duration = Duration::from_secs(30);
/// After the stream finished, the run stops draining after this long (a stall guard).
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// Iterations at one instant before the loop is declared stuck.
const STUCK_LIMIT: u32 = 100_000;

/// What the harness knows of one sent packet.
#[derive(Debug, Clone, Copy)]
struct Track {
    sent_ns: u64,
    first_repair_ns: u64,
    first_nack_ns: u64,
    /// NACKs naming it before its first repair copy arrived.
    nacks_before_repair: u16,
    nacks_total: u16,
    /// Delivered by the data link.
    network: bool,
}

/// An original tag awaiting emission.
struct Original {
    tag: flv::Tag,
    kind: TagKind,
    sent_ns: u64,
    /// Index among video frames (keyframes and inter frames).
    video_index: u64,
    measured: bool,
}

struct Sim<'a> {
    config: &'a SimConfig,
    t0: Instant,
    now: Instant,
    one_way: Duration,
    stream: StreamGen,
    publication: Publication,
    cache: RetransmitCache,
    responder: RepairResponder,
    data: Netem<Bytes>,
    repair: Repair,
    receiver: Receiver,
    first_seq: u64,
    tracks: Vec<Track>,
    /// Packets with an index below this are measured (set when the length is reached).
    measured_end: Option<u64>,
    /// When the stream finishes (measured part plus tail).
    finish_at_ns: Option<u64>,
    finished: bool,
    joined_at: Option<u64>,
    originals: VecDeque<Original>,
    video_frames: u64,
    awaiting_keyframe: bool,
    gap_pending: bool,
    last_video_delivered: Option<u64>,
    generated: Vec<Generated>,
    packets: Vec<Packet>,
    answers: Vec<CloudMessage>,
    report: SimReport,
}

impl<'a> Sim<'a> {
    fn new(config: &'a SimConfig) -> Self {
        let mut seeds = SplitMix64::new(config.seed);
        let data_seed = seeds.next_u64();
        let nack_seed = seeds.next_u64();
        let answer_seed = seeds.next_u64();
        let stream_seed = seeds.next_u64();
        let ssrc = seeds.next_u64() as u32;
        // Random, with room for a billion packets before the 48-bit wrap.
        let random_seq = seeds.next_u64() & SEQUENCE_MASK & !(0xffff_u64 << 32);
        // Drawn after the others, so the model's runs keep their seeds.
        let quic_seed = seeds.next_u64();
        let first_seq = config.first_seq.unwrap_or(random_seq) & SEQUENCE_MASK;
        let one_way = config.rtt / 2;
        let data = Netem::new(
            NetemConfig {
                loss: config.data_loss,
                delay: one_way,
                jitter: config.data_jitter,
                reorder: config.data_reorder,
                reorder_delay: config.data_reorder_delay,
                duplicate: 0.0,
            },
            data_seed,
        );
        let repair_link = |seed| {
            Netem::new(
                NetemConfig {
                    loss: if config.repair_loss > 0.0 {
                        Loss::Random(config.repair_loss)
                    } else {
                        Loss::None
                    },
                    delay: one_way,
                    jitter: config.repair_jitter,
                    ..NetemConfig::default()
                },
                seed,
            )
        };
        let receiver = Receiver::new(
            ssrc,
            ReceiverConfig {
                reassembly: ReassemblerConfig {
                    deadline: config.playout_deadline,
                    ..ReassemblerConfig::default()
                },
                nack: true,
                initial_rtt: config.rtt,
                tail_grace: config.tail_grace,
                // The report's deadline is the configured one, whatever the RTT.
                deadline_rtts: 0,
            },
        );
        let start = Instant::now();
        let (repair, t0) = match config.repair_transport {
            RepairTransport::Model => (
                Repair::Model {
                    nack_link: repair_link(nack_seed),
                    answer_link: repair_link(answer_seed),
                },
                start,
            ),
            RepairTransport::Quic => {
                let link = quic::link(one_way, config.repair_loss, config.repair_jitter);
                // The stream starts once the connection is up, as an edge joins with one.
                let (path, connected) =
                    QuicPath::connect(start, link, quic_seed, nack_seed, answer_seed);
                (Repair::Quic(Box::new(path)), connected)
            }
        };
        let capacity = match config.length {
            Length::Packets(n) => n as usize + n as usize / 8 + 4096,
            Length::Duration(_) => 0,
        };
        Sim {
            config,
            t0,
            now: t0,
            one_way,
            stream: StreamGen::new(
                config.bitrate_bps,
                config.fps,
                config.gop_frames,
                stream_seed,
            ),
            publication: Publication::new(
                "live/sim".into(),
                1_700_000_000_000,
                ssrc,
                first_seq,
                config.max_datagram,
                MediaKey::from_bytes(SIM_KEY),
            )
            .expect("a usable datagram size"),
            cache: RetransmitCache::new(config.cache_packets, usize::MAX),
            // No budget to speak of: the simulation measures recovery, not throttling.
            responder: RepairResponder::new(AnswerBudget::new(u64::MAX)),
            data,
            repair,
            receiver,
            first_seq,
            tracks: Vec::with_capacity(capacity),
            measured_end: None,
            finish_at_ns: None,
            finished: false,
            joined_at: None,
            originals: VecDeque::new(),
            video_frames: 0,
            awaiting_keyframe: true,
            gap_pending: false,
            last_video_delivered: None,
            generated: Vec::new(),
            packets: Vec::new(),
            answers: Vec::new(),
            report: SimReport {
                rtt: config.rtt,
                playout_deadline: config.playout_deadline,
                attempts_repaired: vec![0; ATTEMPT_BUCKETS],
                attempts_unrecovered: vec![0; ATTEMPT_BUCKETS],
                outage: config.outage.map(|_| OutageReport::default()),
                ..SimReport::default()
            },
        }
    }

    fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.t0).as_nanos() as u64
    }

    fn at(&self, ns: u64) -> Instant {
        self.t0 + Duration::from_nanos(ns)
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let index = (seq.wrapping_sub(self.first_seq) & SEQUENCE_MASK) as usize;
        (index < self.tracks.len()).then_some(index)
    }

    fn run(mut self) -> SimReport {
        let mut last_now = self.now;
        let mut stuck = 0u32;
        loop {
            let next_tag = (!self.finished).then(|| self.at(self.next_stream_event_ns()));
            let others = [
                next_tag,
                self.data.poll_timeout(),
                self.receiver.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            // The repair path's own timers (QUIC's keep-alive, idle, loss detection) run for
            // ever; once nothing else is pending and nothing is on its links, the run is over.
            let repair = self.repair.poll_timeout();
            let next = match others {
                Some(t) => Some(repair.map_or(t, |r| r.min(t))),
                None if self.repair.in_transit() => repair,
                None => None,
            };
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            if self.now == last_now {
                stuck += 1;
                assert!(
                    stuck < STUCK_LIMIT,
                    "event loop stuck at {:?}: receiver timeout {:?}, outstanding {}",
                    self.now - self.t0,
                    self.receiver.poll_timeout().map(|t| t - self.t0),
                    self.receiver.outstanding()
                );
            } else {
                stuck = 0;
                last_now = self.now;
            }
            if let Some(finish) = self.finish_at_ns {
                if self.finished && self.ns(self.now) > finish + DRAIN_LIMIT.as_nanos() as u64 {
                    self.report.stalled = true;
                    break;
                }
            }
            self.send_due();
            let now = self.now;
            while let Some(datagram) = self.data.poll_recv(now) {
                self.on_data(datagram);
            }
            self.repair.handle_timeout(now);
            while let Some(message) = self.repair.poll_at_cloud(now) {
                self.on_nack_at_cloud(message);
            }
            while let Some(message) = self.repair.poll_at_edge(now) {
                self.on_answer_at_edge(message);
            }
            if self.receiver.poll_timeout().is_some_and(|t| t <= now) {
                self.receiver.handle_timeout(now);
                self.after_input();
            }
            self.repair.flush(now);
        }
        self.finish_report()
    }

    /// The next tag due or the end of the stream, in ns since the start.
    fn next_stream_event_ns(&self) -> u64 {
        let due = self.stream.next_due();
        match self.finish_at_ns {
            Some(finish) => due.min(finish),
            None => due,
        }
    }

    fn in_outage(&self, ns: u64) -> bool {
        self.config.outage.is_some_and(|o| {
            let start = o.start.as_nanos() as u64;
            ns >= start && ns < start + o.length.as_nanos() as u64
        })
    }

    /// Publishes every tag due by now, and finishes the stream when its time has come.
    fn send_due(&mut self) {
        if self.finished {
            return;
        }
        self.send_sync();
        let now_ns = self.ns(self.now);
        let limit = self
            .finish_at_ns
            .map_or(now_ns, |f| now_ns.min(f.saturating_sub(1)));
        let mut generated = std::mem::take(&mut self.generated);
        if self.stream.next_due() <= limit {
            self.stream.pop_due(limit, &mut generated);
        }
        for g in generated.drain(..) {
            self.publish(g);
        }
        self.generated = generated;
        if self.finish_at_ns.is_some_and(|f| now_ns >= f) {
            let mut packets = std::mem::take(&mut self.packets);
            self.publication.finish(&mut packets).expect("end message");
            self.send_packets(&mut packets, now_ns);
            self.packets = packets;
            self.finished = true;
        }
    }

    fn publish(&mut self, g: Generated) {
        let measured = self.measured_end.is_none();
        if let Length::Duration(d) = self.config.length {
            if measured && g.due_ns >= d.as_nanos() as u64 {
                self.reach_length(g.due_ns);
                return self.publish(g);
            }
        }
        let now = self.at(g.due_ns);
        let mut packets = std::mem::take(&mut self.packets);
        self.publication
            .push_tag(now, g.tag.clone(), &mut packets)
            .expect("tag fits");
        self.send_packets(&mut packets, g.due_ns);
        self.packets = packets;
        let video_index = if matches!(g.kind, TagKind::Keyframe | TagKind::Inter) {
            self.video_frames += 1;
            self.video_frames - 1
        } else {
            0
        };
        if measured {
            self.report.tags_sent += 1;
        } else {
            self.report.tail_tags_sent += 1;
        }
        if let (Some(outage), Some(o)) = (self.config.outage, self.report.outage.as_mut()) {
            let start = outage.start.as_nanos() as u64;
            let end = start + outage.length.as_nanos() as u64;
            if (start..end).contains(&g.due_ns) {
                o.tags_during += 1;
            }
            if g.kind == TagKind::Keyframe && g.due_ns >= end && o.next_keyframe_sent_at.is_none() {
                o.next_keyframe_sent_at = Some(Duration::from_nanos(g.due_ns));
            }
            if measured
                && o.next_keyframe_sent_at
                    .is_some_and(|k| g.due_ns >= k.as_nanos() as u64)
            {
                o.tags_after_resume += 1;
            }
        }
        self.originals.push_back(Original {
            tag: g.tag,
            kind: g.kind,
            sent_ns: g.due_ns,
            video_index,
            measured,
        });
        if measured {
            if let Length::Packets(n) = self.config.length {
                if self.tracks.len() as u64 >= n {
                    self.reach_length(g.due_ns);
                }
            }
        }
    }

    fn reach_length(&mut self, now_ns: u64) {
        self.measured_end = Some(self.tracks.len() as u64);
        let tail = Duration::from_secs(2).max(self.config.playout_deadline * 4);
        self.finish_at_ns = Some(now_ns + tail.as_nanos() as u64);
    }

    /// The publication's sync packet, when one is due: on the data link, not in the cache.
    fn send_sync(&mut self) {
        let mut packets = std::mem::take(&mut self.packets);
        self.publication.handle_timeout(self.now, &mut packets);
        let outage = self.in_outage(self.ns(self.now));
        for packet in packets.drain(..) {
            self.report.syncs_sent += 1;
            if !outage {
                self.data.send(self.now, packet.to_datagram());
            }
        }
        self.packets = packets;
    }

    fn send_packets(&mut self, packets: &mut Vec<Packet>, now_ns: u64) {
        let now = self.at(now_ns);
        let outage = self.in_outage(now_ns);
        for packet in packets.drain(..) {
            debug_assert_eq!(
                self.index_of(packet.header.seq),
                None,
                "sequence numbers are new"
            );
            debug_assert_eq!(
                (packet.header.seq.wrapping_sub(self.first_seq) & SEQUENCE_MASK) as usize,
                self.tracks.len()
            );
            self.tracks.push(Track {
                sent_ns: now_ns,
                first_repair_ns: NO_TIME,
                first_nack_ns: NO_TIME,
                nacks_before_repair: 0,
                nacks_total: 0,
                network: false,
            });
            let datagram = packet.to_datagram();
            if self.measured_end.is_none() {
                self.report.media_bytes += datagram.len() as u64;
            }
            self.cache.insert(packet);
            if outage {
                if let Some(o) = self.report.outage.as_mut() {
                    o.packets_dropped += 1;
                }
            } else {
                self.data.send(now, datagram);
            }
        }
    }

    fn on_data(&mut self, datagram: Bytes) {
        // The data link checks every datagram's tag, as an edge does.
        let packet = Packet::open(datagram, self.publication.key())
            .expect("the data link carries the publication's signed datagrams");
        if packet.header.kind == MessageKind::Sync {
            // Names the newest packet sent; it is no packet of the stream itself.
            self.receiver.push(self.now, packet, Source::Network);
            self.after_input();
            return;
        }
        let index = self
            .index_of(packet.header.seq)
            .expect("a packet that was sent");
        self.tracks[index].network = true;
        self.joined_at.get_or_insert(index as u64);
        self.receiver.push(self.now, packet, Source::Network);
        self.after_input();
    }

    fn on_nack_at_cloud(&mut self, message: Bytes) {
        let request = match EdgeMessage::decode(message).expect("a valid NACK") {
            EdgeMessage::Nack(request) => request,
            other => panic!("unexpected edge message {other:?}"),
        };
        let mut answers = std::mem::take(&mut self.answers);
        self.responder
            .answer(self.now, Some(&self.cache), &request, &mut answers);
        for answer in answers.drain(..) {
            let bytes = answer.encode();
            match answer {
                CloudMessage::Repair(_) => {
                    self.report.repairs_sent += 1;
                    self.report.repair_bytes_sent += bytes.len() as u64;
                }
                CloudMessage::Evicted { .. } => self.report.evicted_answers += 1,
                CloudMessage::NotSent { .. } => self.report.not_sent_answers += 1,
                _ => {}
            }
            self.repair.send_answer(self.now, bytes);
        }
        self.answers = answers;
    }

    fn on_answer_at_edge(&mut self, message: Bytes) {
        let len = message.len() as u64;
        let Ok(message) = CloudMessage::decode(message) else {
            // A real edge drops a datagram it cannot decode.
            self.report.undecodable_answers += 1;
            return;
        };
        match message {
            CloudMessage::Repair(datagram) => {
                self.report.repairs_received += 1;
                self.report.repair_bytes_received += len;
                let packet = Packet::parse(datagram).expect("a repair is a valid datagram");
                let index = self
                    .index_of(packet.header.seq)
                    .expect("a repair of a packet that was sent");
                let now_ns = self.ns(self.now);
                let track = &mut self.tracks[index];
                if track.network || track.first_repair_ns != NO_TIME {
                    self.report.redundant_repairs += 1;
                }
                if track.first_repair_ns == NO_TIME {
                    track.first_repair_ns = now_ns;
                }
                self.receiver.push(self.now, packet, Source::Repair);
            }
            CloudMessage::Evicted { seq, .. } => self.receiver.on_evicted(self.now, seq),
            CloudMessage::NotSent { .. } => {}
            other => panic!("unexpected cloud message {other:?}"),
        }
        self.after_input();
    }

    /// Drains the receiver's NACKs onto the NACK link and its events into the checks.
    fn after_input(&mut self) {
        let now_ns = self.ns(self.now);
        while let Some(request) = self.receiver.poll_nack(self.now) {
            self.report.nack_requests += 1;
            for range in &request.ranges {
                for seq in range.seqs() {
                    self.report.nack_names += 1;
                    let Some(index) = self.index_of(seq) else {
                        self.report.nack_names_out_of_range += 1;
                        continue;
                    };
                    let track = &mut self.tracks[index];
                    track.nacks_total = track.nacks_total.saturating_add(1);
                    if track.first_repair_ns == NO_TIME && !track.network {
                        track.nacks_before_repair = track.nacks_before_repair.saturating_add(1);
                    }
                    if track.first_nack_ns == NO_TIME {
                        track.first_nack_ns = now_ns;
                    }
                }
            }
            let bytes = EdgeMessage::Nack(request).encode();
            self.report.nack_bytes += bytes.len() as u64;
            self.repair.send_nack(self.now, bytes);
        }
        while let Some(event) = self.receiver.poll_event() {
            match event {
                ReassemblerEvent::Gap { .. } => {
                    self.report.gap_events += 1;
                    self.awaiting_keyframe = true;
                    self.gap_pending = true;
                }
                ReassemblerEvent::Message(message) => match message.body {
                    ReassembledBody::Tag {
                        tag_type,
                        keyframe,
                        config,
                        fragments,
                    } => self.on_tag(message.timestamp, tag_type, keyframe, config, &fragments),
                    ReassembledBody::Announce(announcement) => {
                        assert_eq!(announcement.stream, "live/sim");
                    }
                    ReassembledBody::End => self.report.end_of_stream_received = true,
                },
            }
        }
        self.forget_old_originals();
    }

    fn forget_old_originals(&mut self) {
        let horizon = self
            .ns(self.now)
            .saturating_sub(ORIGINAL_HORIZON.as_nanos() as u64);
        while self.originals.front().is_some_and(|o| o.sent_ns < horizon) {
            let original = self.originals.pop_front().expect("front");
            self.missed(&original);
        }
    }

    fn missed(&mut self, original: &Original) {
        if original.measured {
            self.report.tags_missing += 1;
        }
    }

    /// One tag the receiver emitted: find its original, check it, apply the keyframe rule.
    fn on_tag(
        &mut self,
        timestamp: u32,
        tag_type: TagType,
        keyframe: bool,
        config: bool,
        fragments: &Fragments,
    ) {
        let position = self.originals.iter().position(|o| {
            o.tag.tag_type == tag_type
                && o.tag.timestamp == timestamp
                && same_bytes(&o.tag.body, fragments)
        });
        let Some(position) = position else {
            self.report.tags_mismatched += 1;
            if self.report.first_mismatch.is_none() {
                let bytes = fragments.to_bytes();
                self.report.first_mismatch = Some(format!(
                    "at {:?}: {tag_type:?} ts {timestamp} len {} starting {:02x?}; next original: {:?}",
                    self.now - self.t0,
                    bytes.len(),
                    &bytes[..bytes.len().min(16)],
                    self.originals
                        .front()
                        .map(|o| (o.tag.tag_type, o.tag.timestamp, o.tag.body.len()))
                ));
            }
            return;
        };
        for _ in 0..position {
            let skipped = self.originals.pop_front().expect("before the match");
            self.missed(&skipped);
        }
        let original = self.originals.pop_front().expect("the match");
        let now_ns = self.ns(self.now);
        if keyframe != (original.kind == TagKind::Keyframe)
            || config != (original.kind == TagKind::Config)
        {
            self.report.flag_mismatches += 1;
        }
        if original.measured {
            self.report.tags_emitted += 1;
        } else {
            self.report.tail_tags_emitted += 1;
        }
        let latency = Duration::from_nanos(now_ns.saturating_sub(original.sent_ns))
            .saturating_sub(self.one_way);
        self.report.max_playout_latency = self.report.max_playout_latency.max(latency);
        if latency > self.config.playout_deadline {
            self.report.tags_late += 1;
        }
        // The edge's rule: after a gap, video waits for a keyframe.
        let delivered = match original.kind {
            TagKind::Keyframe => {
                if self.awaiting_keyframe && self.gap_pending {
                    self.report.resumptions += 1;
                }
                self.awaiting_keyframe = false;
                self.gap_pending = false;
                true
            }
            TagKind::Inter => !self.awaiting_keyframe,
            TagKind::Config | TagKind::Audio => true,
        };
        if !delivered {
            self.report.skipped_after_gap += 1;
        } else {
            if original.measured {
                self.report.tags_delivered += 1;
            }
            if original.kind == TagKind::Inter
                && self.last_video_delivered != original.video_index.checked_sub(1)
            {
                self.report.broken_tags += 1;
            }
            if matches!(original.kind, TagKind::Keyframe | TagKind::Inter) {
                self.last_video_delivered = Some(original.video_index);
            }
        }
        if let (Some(outage), Some(o)) = (self.config.outage, self.report.outage.as_mut()) {
            let start = outage.start.as_nanos() as u64;
            let end = start + outage.length.as_nanos() as u64;
            if (start..end).contains(&original.sent_ns) {
                o.tags_during_emitted += 1;
                if delivered {
                    o.tags_during_delivered += 1;
                }
            }
            let is_video = matches!(original.kind, TagKind::Keyframe | TagKind::Inter);
            if delivered
                && is_video
                && original.sent_ns >= start
                && o.first_video_delivered.is_none()
            {
                o.first_video_delivered = Some((
                    Duration::from_nanos(original.sent_ns),
                    original.kind == TagKind::Keyframe,
                    Duration::from_nanos(now_ns),
                ));
            }
            if delivered
                && original.measured
                && o.next_keyframe_sent_at
                    .is_some_and(|k| original.sent_ns >= k.as_nanos() as u64)
            {
                o.tags_after_resume_delivered += 1;
            }
        }
    }

    fn finish_report(mut self) -> SimReport {
        while let Some(original) = self.originals.pop_front() {
            self.missed(&original);
        }
        let measured = self
            .measured_end
            .unwrap_or(self.tracks.len() as u64)
            .min(self.tracks.len() as u64) as usize;
        let joined = self.joined_at.unwrap_or(measured as u64) as usize;
        let one_way = self.one_way.as_nanos() as u64;
        let mut repair_times = Vec::new();
        let mut detection = Vec::new();
        let report = &mut self.report;
        report.packets_sent = measured as u64;
        report.before_join = joined.min(measured) as u64;
        for track in &self.tracks[..measured] {
            if track.network && track.nacks_total > 0 {
                report.spurious_nacked += 1;
            }
        }
        for track in &self.tracks[joined.min(measured)..measured] {
            if track.network {
                continue;
            }
            report.lost_on_data_link += 1;
            let expected = track.sent_ns + one_way;
            if track.first_nack_ns != NO_TIME {
                detection.push(track.first_nack_ns.saturating_sub(expected));
            } else {
                report.never_asked += 1;
            }
            if track.first_repair_ns != NO_TIME {
                report.repaired += 1;
                repair_times.push(track.first_repair_ns.saturating_sub(expected));
                report.attempts_repaired
                    [(track.nacks_before_repair as usize).min(ATTEMPT_BUCKETS - 1)] += 1;
            } else {
                report.unrecovered += 1;
                report.attempts_unrecovered
                    [(track.nacks_total as usize).min(ATTEMPT_BUCKETS - 1)] += 1;
            }
        }
        report.repair_times = Durations::from_unsorted(repair_times);
        report.detection_delays = Durations::from_unsorted(detection);
        match &mut self.repair {
            Repair::Model {
                nack_link,
                answer_link,
            } => {
                report.nacks_lost = nack_link.stats().lost;
                report.answers_lost = answer_link.stats().lost;
            }
            Repair::Quic(path) => report.quic = Some(path.report()),
        }
        report.reassembly = self.receiver.reassembly_stats();
        report.recovery = self.receiver.recovery_stats().clone();
        report.final_srtt = self.receiver.rtt().smoothed();
        report.final_retry_interval = self.receiver.rtt().retry_interval();
        report.virtual_duration = self.now - self.t0;
        self.report
    }
}

/// The repair path of a run ([`RepairTransport`]): the one `Sim` loop drives either.
// One value per run, so the size of the unboxed model does not matter.
#[allow(clippy::large_enum_variant)]
enum Repair {
    /// One netem link per direction, one item per message.
    Model {
        nack_link: Netem<Bytes>,
        answer_link: Netem<Bytes>,
    },
    /// The real repair connection over two netem links of UDP packets.
    Quic(Box<QuicPath>),
}

impl Repair {
    fn send_nack(&mut self, now: Instant, message: Bytes) {
        match self {
            Repair::Model { nack_link, .. } => nack_link.send(now, message),
            Repair::Quic(path) => path.send_nack(message),
        }
    }

    fn send_answer(&mut self, now: Instant, message: Bytes) {
        match self {
            Repair::Model { answer_link, .. } => answer_link.send(now, message),
            Repair::Quic(path) => path.send_answer(message),
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Repair::Model {
                nack_link,
                answer_link,
            } => [nack_link.poll_timeout(), answer_link.poll_timeout()]
                .into_iter()
                .flatten()
                .min(),
            Repair::Quic(path) => path.poll_timeout(),
        }
    }

    /// Whether anything is on the way on either direction.
    fn in_transit(&self) -> bool {
        match self {
            Repair::Model {
                nack_link,
                answer_link,
            } => nack_link.poll_timeout().is_some() || answer_link.poll_timeout().is_some(),
            Repair::Quic(path) => path.in_transit(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Repair::Quic(path) = self {
            path.handle_timeout(now);
        }
    }

    fn poll_at_cloud(&mut self, now: Instant) -> Option<Bytes> {
        match self {
            Repair::Model { nack_link, .. } => nack_link.poll_recv(now),
            Repair::Quic(path) => path.poll_at_cloud(),
        }
    }

    fn poll_at_edge(&mut self, now: Instant) -> Option<Bytes> {
        match self {
            Repair::Model { answer_link, .. } => answer_link.poll_recv(now),
            Repair::Quic(path) => path.poll_at_edge(),
        }
    }

    /// Sends what the ends queued during this step.
    fn flush(&mut self, now: Instant) {
        if let Repair::Quic(path) = self {
            path.flush(now);
        }
    }
}

/// Whether the received fragments hold exactly `body`.
fn same_bytes(body: &Bytes, fragments: &Fragments) -> bool {
    if body.len() != fragments.len() {
        return false;
    }
    let mut offset = 0;
    for part in fragments.parts() {
        if body[offset..offset + part.len()] != part[..] {
            return false;
        }
        offset += part.len();
    }
    true
}
