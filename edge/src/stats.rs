//! Figures of the streams on this edge, for `/api/v1/streams`, `/metrics` and the viewer
//! reports sent to the cloud.
//!
//! Each stream task owns its receiver and players; it publishes a [`StreamSnapshot`] a few times
//! a second into a cell readers copy from, so readers never reach into the task. When a task
//! ends, its counters are folded into [`NodeTotals`], so node-wide counters never go down.

use crate::stream_state::StreamCounters;
use parking_lot::Mutex;
use relay_control::views::{EdgeStreamView, LossView};
use relay_proto::{ReassemblerStats, RecoveryStats};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a stream task publishes its figures (player joins publish at once).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(250);

/// One stream task's figures. Each counter is defined once, in the struct of the part that
/// counts it (the stream state, the reassembler, the receiver's recovery); the snapshot, the
/// node's totals, `/metrics` and the API read those structs rather than copies of their fields.
#[derive(Debug, Clone, Default)]
pub struct StreamSnapshot {
    /// The stream's `APP/NAME`; empty until an announcement named it.
    pub name: String,
    /// The stream's RTP SSRC.
    pub ssrc: u32,
    /// Unix ms when the publish started on the cloud.
    pub start_time: u64,
    /// Players being served now.
    pub players: u64,
    /// RTP bytes received, headers included (repairs too).
    pub bytes: u64,
    /// Tags held in the GOP cache (since the latest keyframe), sent to each joining player.
    pub gop_cache_tags: u64,
    /// Framed bytes of those tags, at most 32 MiB.
    pub gop_cache_bytes: u64,
    /// Tags, skips and player drops, as the stream state counts them.
    pub stream: StreamCounters,
    /// Packets received and given up on, as the reassembler counts them.
    pub reassembly: ReassemblerStats,
    /// Holes, NACKs and repairs, as the receiver counts them.
    pub recovery: RecoveryStats,
    /// The repair path's smoothed RTT (its initial guess before any repair was measured).
    pub rtt: Duration,
    /// Interarrival jitter of packets from the network (RFC 3550); zero before two arrived.
    pub jitter: Duration,
}

/// Where a stream task leaves its figures.
#[derive(Debug)]
pub struct SnapshotCell {
    /// When the stream task started; uptime is counted from it.
    pub started: Instant,
    snapshot: Mutex<StreamSnapshot>,
}

impl SnapshotCell {
    /// A cell holding empty figures, for a task started at `started`.
    pub fn new(started: Instant) -> Arc<Self> {
        Arc::new(SnapshotCell {
            started,
            snapshot: Mutex::default(),
        })
    }

    /// Replaces the figures with the task's latest.
    pub fn publish(&self, snapshot: StreamSnapshot) {
        *self.snapshot.lock() = snapshot;
    }

    /// A copy of the latest figures published.
    pub fn read(&self) -> StreamSnapshot {
        self.snapshot.lock().clone()
    }

    /// The stream as `/api/v1/streams` shows it, uptime counted to `now`; RTT, jitter and the mean
    /// repair latency in ms.
    pub fn view(&self, now: Instant) -> EdgeStreamView {
        let s = self.read();
        let latency = &s.recovery.repair_latency;
        let mean_ms = if latency.count() == 0 {
            0.0
        } else {
            latency.sum().as_secs_f64() * 1000.0 / latency.count() as f64
        };
        EdgeStreamView {
            name: s.name,
            ssrc: s.ssrc,
            start_time: s.start_time,
            uptime_s: now.saturating_duration_since(self.started).as_secs_f64(),
            players: s.players,
            packets: s.reassembly.packets,
            bytes: s.bytes,
            tags: s.stream.tags,
            gop_cache_tags: s.gop_cache_tags,
            gop_cache_bytes: s.gop_cache_bytes,
            loss: LossView {
                holes: s.recovery.holes,
                nacks_sent: s.recovery.nacks_sent,
                packets_requested: s.recovery.packets_requested,
                repaired: s.recovery.repaired,
                late: s.recovery.late_arrivals,
                evicted: s.recovery.evicted,
                unrecovered: s.reassembly.lost,
                redundant_repairs: s.recovery.redundant_repairs,
                repair_latency_mean_ms: mean_ms,
            },
            player_drops: s.stream.player_drops,
            players_removed: s.stream.players_removed,
            rtt_ms: s.rtt.as_secs_f64() * 1000.0,
            jitter_ms: s.jitter.as_secs_f64() * 1000.0,
        }
    }
}

/// Counters summed over streams: the ended ones (kept here) plus the live ones (added at read).
/// The same structs as a [`StreamSnapshot`]'s, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTotals {
    /// Streams counted: every one routed since the edge started, ended or live.
    pub streams: u64,
    /// RTP bytes received, headers included (repairs too).
    pub bytes: u64,
    /// The stream states' counters, summed.
    pub stream: StreamCounters,
    /// The reassemblers' counters, summed.
    pub reassembly: ReassemblerStats,
    /// The receivers' recovery counters, summed (repair latencies merged).
    pub recovery: RecoveryStats,
}

/// Adds every field of `$more` to `$total`'s (`merge` ones with their `merge`). The fields are
/// destructured, not read one by one, so a counter added to a struct and not summed here does
/// not compile.
macro_rules! add_fields {
    ($type:ident, $total:expr, $more:expr, [$($field:ident),+] $(, merge[$($merged:ident),+])?) => {{
        let $type { $($field,)+ $($($merged,)+)? } = &$more;
        $($total.$field += *$field;)+
        $($($total.$merged.merge($merged);)+)?
    }};
}

impl NodeTotals {
    /// Adds one stream's figures.
    pub fn add(&mut self, s: &StreamSnapshot) {
        self.streams += 1;
        self.bytes += s.bytes;
        add_fields!(
            StreamCounters,
            self.stream,
            s.stream,
            [
                tags,
                skipped_after_gap,
                skipped_before_start,
                player_drops,
                players_removed
            ]
        );
        add_fields!(
            ReassemblerStats,
            self.reassembly,
            s.reassembly,
            [packets, duplicates, late, discarded, lost, malformed, messages]
        );
        add_fields!(
            RecoveryStats,
            self.recovery,
            s.recovery,
            [
                holes,
                nacks_sent,
                syncs,
                packets_requested,
                repaired,
                late_arrivals,
                evicted,
                redundant_repairs,
                spurious_repairs
            ],
            merge[repair_latency]
        );
    }
}
