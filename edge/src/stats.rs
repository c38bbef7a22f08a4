//! Figures of the streams on this edge, for `/api/v1/streams`, `/metrics` and the viewer
//! reports sent to the cloud.
//!
//! Each stream task owns its receiver and players; it publishes a [`StreamSnapshot`] a few times
//! a second into a cell readers copy from, so readers never reach into the task. When a task
//! ends, its counters are folded into [`NodeTotals`], so node-wide counters never go down.

use parking_lot::Mutex;
use relay_control::views::{EdgeStreamView, LossView};
use relay_proto::{LatencyHistogram, RecoveryStats};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a stream task publishes its figures (player joins publish at once).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Default)]
pub struct StreamSnapshot {
    pub name: String,
    pub ssrc: u32,
    /// Unix ms when the publish started on the cloud.
    pub start_time: u64,
    pub players: u64,
    pub packets: u64,
    pub bytes: u64,
    pub tags: u64,
    pub gop_cache_tags: u64,
    pub gop_cache_bytes: u64,
    pub recovery: RecoveryStats,
    pub unrecovered: u64,
    pub player_drops: u64,
    pub players_removed: u64,
    pub rtt: Duration,
    pub jitter: Duration,
}

/// Where a stream task leaves its figures.
#[derive(Debug)]
pub struct SnapshotCell {
    pub started: Instant,
    snapshot: Mutex<StreamSnapshot>,
}

impl SnapshotCell {
    pub fn new(started: Instant) -> Arc<Self> {
        Arc::new(SnapshotCell {
            started,
            snapshot: Mutex::default(),
        })
    }

    pub fn publish(&self, snapshot: StreamSnapshot) {
        *self.snapshot.lock() = snapshot;
    }

    pub fn read(&self) -> StreamSnapshot {
        self.snapshot.lock().clone()
    }

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
            packets: s.packets,
            bytes: s.bytes,
            tags: s.tags,
            gop_cache_tags: s.gop_cache_tags,
            gop_cache_bytes: s.gop_cache_bytes,
            loss: LossView {
                holes: s.recovery.holes,
                nacks_sent: s.recovery.nacks_sent,
                packets_requested: s.recovery.packets_requested,
                repaired: s.recovery.repaired,
                late: s.recovery.late_arrivals,
                evicted: s.recovery.evicted,
                unrecovered: s.unrecovered,
                redundant_repairs: s.recovery.redundant_repairs,
                repair_latency_mean_ms: mean_ms,
            },
            player_drops: s.player_drops,
            players_removed: s.players_removed,
            rtt_ms: s.rtt.as_secs_f64() * 1000.0,
            jitter_ms: s.jitter.as_secs_f64() * 1000.0,
        }
    }
}

/// Counters summed over streams: the ended ones (kept here) plus the live ones (added at read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTotals {
    pub streams: u64,
    pub packets: u64,
    pub bytes: u64,
    pub tags: u64,
    pub holes: u64,
    pub nacks_sent: u64,
    pub packets_requested: u64,
    pub repaired: u64,
    pub late: u64,
    pub evicted: u64,
    pub unrecovered: u64,
    pub redundant_repairs: u64,
    pub player_drops: u64,
    pub players_removed: u64,
    pub repair_latency: LatencyHistogram,
}

impl NodeTotals {
    pub fn add(&mut self, s: &StreamSnapshot) {
        self.streams += 1;
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.tags += s.tags;
        self.holes += s.recovery.holes;
        self.nacks_sent += s.recovery.nacks_sent;
        self.packets_requested += s.recovery.packets_requested;
        self.repaired += s.recovery.repaired;
        self.late += s.recovery.late_arrivals;
        self.evicted += s.recovery.evicted;
        self.unrecovered += s.unrecovered;
        self.redundant_repairs += s.recovery.redundant_repairs;
        self.player_drops += s.player_drops;
        self.players_removed += s.players_removed;
        self.repair_latency.merge(&s.recovery.repair_latency);
    }
}
