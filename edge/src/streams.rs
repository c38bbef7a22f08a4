//! Which stream name is served by which stream task: the index players and the API look
//! streams up in. It routes no datagram and holds no SSRC table (that is the router's); a
//! handle's SSRC only tells two publishes of one name apart.

use crate::player::Player;
use crate::stats::SnapshotCell;
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

/// Live streams by name.
#[derive(Debug, Default)]
pub struct Streams {
    by_name: Mutex<HashMap<String, StreamHandle>>,
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
