//! Which stream name is served by which stream task.

use crate::player::Player;
use crate::stats::{NodeTotals, SnapshotCell, StreamSnapshot};
use parking_lot::Mutex;
use relay_proto::ViewerCount;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Requests to a stream task.
#[derive(Debug)]
pub enum Command {
    Join(Arc<Player>),
    /// A newer publish of the same name took over (the cloud restarted, or the publisher came
    /// back without its end of stream reaching this edge): hand the players to `successor`.
    Superseded {
        successor: mpsc::Sender<Command>,
    },
    /// Players of the publish this one replaced, and the last timestamp they were sent.
    Adopt {
        players: Vec<Arc<Player>>,
        last_timestamp: u32,
    },
}

#[derive(Debug, Clone)]
pub struct StreamHandle {
    pub ssrc: u32,
    pub epoch: u64,
    pub commands: mpsc::Sender<Command>,
    /// The task's published figures.
    pub stats: Arc<SnapshotCell>,
}

#[derive(Debug, Default)]
pub struct Streams {
    by_name: Mutex<HashMap<String, StreamHandle>>,
    counted: Mutex<Counted>,
}

/// Every stream task's figures, named or not, and the totals of those that ended. One lock, so
/// a task moving from live to ended is never counted twice or not at all: node counters never
/// go down.
#[derive(Debug, Default)]
struct Counted {
    live: HashMap<u32, Arc<SnapshotCell>>,
    retired: NodeTotals,
}

/// The outcome of [`Streams::register`].
#[derive(Debug)]
pub enum Registration {
    Registered,
    AlreadyRegistered,
    /// A publish with a newer epoch holds the name.
    Stale,
}

impl Streams {
    pub fn get(&self, name: &str) -> Option<StreamHandle> {
        self.by_name.lock().get(name).cloned()
    }

    /// Names `handle`'s stream `name`, superseding an older publish of the same name.
    pub fn register(&self, name: &str, handle: StreamHandle) -> Registration {
        let mut by_name = self.by_name.lock();
        if let Some(current) = by_name.get(name) {
            if current.ssrc == handle.ssrc {
                return Registration::AlreadyRegistered;
            }
            if current.epoch > handle.epoch {
                return Registration::Stale;
            }
            let _ = current.commands.try_send(Command::Superseded {
                successor: handle.commands.clone(),
            });
        }
        by_name.insert(name.to_owned(), handle);
        Registration::Registered
    }

    /// Every stream served, sorted by name.
    pub fn handles(&self) -> Vec<(String, StreamHandle)> {
        let mut handles: Vec<(String, StreamHandle)> = self
            .by_name
            .lock()
            .iter()
            .map(|(name, handle)| (name.clone(), handle.clone()))
            .collect();
        handles.sort_by(|a, b| a.0.cmp(&b.0));
        handles
    }

    /// Counts a stream task's figures from its start.
    pub fn track(&self, ssrc: u32, stats: Arc<SnapshotCell>) {
        self.counted.lock().live.insert(ssrc, stats);
    }

    /// Node-wide counters: streams that ended plus the running ones now.
    pub fn totals(&self) -> NodeTotals {
        let counted = self.counted.lock();
        let mut totals = counted.retired.clone();
        for stats in counted.live.values() {
            totals.add(&stats.read());
        }
        totals
    }

    /// Moves an ended stream task's last figures into the node's totals.
    pub fn retire(&self, ssrc: u32, last: &StreamSnapshot) {
        let mut counted = self.counted.lock();
        counted.live.remove(&ssrc);
        counted.retired.add(last);
    }

    /// Players per stream, for the report to the cloud.
    pub fn viewer_counts(&self) -> Vec<ViewerCount> {
        self.by_name
            .lock()
            .values()
            .map(|handle| ViewerCount {
                ssrc: handle.ssrc,
                players: u32::try_from(handle.stats.read().players).unwrap_or(u32::MAX),
            })
            .filter(|count| count.players > 0)
            .collect()
    }

    /// Forgets `name` if `ssrc` still holds it.
    pub fn deregister(&self, name: &str, ssrc: u32) {
        let mut by_name = self.by_name.lock();
        if by_name.get(name).is_some_and(|h| h.ssrc == ssrc) {
            by_name.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn snapshot(packets: u64) -> StreamSnapshot {
        let mut snapshot = StreamSnapshot::default();
        snapshot.reassembly.packets = packets;
        snapshot
    }

    #[test]
    fn totals_move_from_live_to_retired_without_a_dip() {
        let streams = Streams::default();
        let cell = SnapshotCell::new(Instant::now());
        streams.track(7, cell.clone());
        cell.publish(snapshot(100));
        let live = streams.totals();
        assert_eq!((live.streams, live.reassembly.packets), (1, 100));
        streams.retire(7, &snapshot(120));
        let ended = streams.totals();
        assert_eq!((ended.streams, ended.reassembly.packets), (1, 120));
        // A later publish into the retired cell is no longer counted.
        cell.publish(snapshot(500));
        assert_eq!(streams.totals().reassembly.packets, 120);
    }
}
