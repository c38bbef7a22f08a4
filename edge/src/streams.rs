//! Which stream name is served by which stream task: the index players and the API look
//! streams up in. It routes no datagram and holds no SSRC table (that is the router's); a
//! handle's SSRC only tells two publishes of one name apart.

use crate::player::Player;
use crate::stats::SnapshotCell;
use parking_lot::Mutex;
use relay_proto::ViewerCount;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

/// Requests to a stream task.
#[derive(Debug)]
pub enum Command {
    /// Serve this player: the FLV header, configuration and GOP cache, then live tags.
    Join(Arc<Player>),
}

/// Players of a publish that a newer one replaced, and the last timestamp they were sent.
#[derive(Debug)]
pub struct Adoption {
    /// The players to take over, their responses still open.
    pub players: Vec<Arc<Player>>,
    /// The largest timestamp they were sent, in ms; the successor moves its timeline past it, so
    /// theirs never goes back.
    pub last_timestamp: u32,
}

/// A stream task's handover slot: where it learns that a newer publish of its name took over
/// (the cloud restarted, or the publisher came back without its end of stream reaching this
/// edge), and where the players of the publish it replaced are left for it.
///
/// Neither goes through a queue: a slot holds at most one successor and one set of players
/// (players given twice before the task looks are merged), so a full command or input queue
/// cannot lose a handover. Players given to a task that already ended are handed back, for the
/// giver to end their responses.
#[derive(Debug, Default)]
pub struct Handover {
    slot: Mutex<Slot>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct Slot {
    successor: Option<Arc<Handover>>,
    adopted: Option<Adoption>,
    closed: bool,
}

impl Handover {
    /// An empty slot for a new stream task.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Tells the task that `successor`'s publish took over its name.
    pub fn supersede(&self, successor: Arc<Handover>) {
        self.slot.lock().successor = Some(successor);
        self.changed.notify_one();
    }

    /// Leaves players for the task. `Err` gives them back when the task has ended.
    pub fn give(&self, adoption: Adoption) -> Result<(), Adoption> {
        let mut slot = self.slot.lock();
        if slot.closed {
            return Err(adoption);
        }
        slot.adopted = Some(match slot.adopted.take() {
            Some(mut earlier) => {
                earlier.players.extend(adoption.players);
                earlier.last_timestamp = earlier.last_timestamp.max(adoption.last_timestamp);
                earlier
            }
            None => adoption,
        });
        drop(slot);
        self.changed.notify_one();
        Ok(())
    }

    /// Waits until the slot may have changed (a notice is kept until it is waited for).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Whether a newer publish took over.
    pub fn is_superseded(&self) -> bool {
        self.slot.lock().successor.is_some()
    }

    /// The players left for the task, if any.
    pub fn take_adopted(&self) -> Option<Adoption> {
        self.slot.lock().adopted.take()
    }

    /// The task ends: the slot takes nothing more. Returns the successor, if a newer publish
    /// took over, and players left and not yet taken.
    pub fn close(&self) -> (Option<Arc<Handover>>, Option<Adoption>) {
        let mut slot = self.slot.lock();
        slot.closed = true;
        (slot.successor.take(), slot.adopted.take())
    }
}

/// How the task serving a name is reached: its command queue, handover slot and figures.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    /// The SSRC of the publish serving the name.
    pub ssrc: u32,
    /// When that publish started, in Unix ms, from its announcement; of two publishes of one name,
    /// the one with the larger epoch is served.
    pub epoch: u64,
    /// Player joins; bounded (a full queue makes the join wait).
    pub commands: mpsc::Sender<Command>,
    /// Supersession and adopted players, apart from the bounded queues.
    pub handover: Arc<Handover>,
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
    /// The name is now served by this handle; an older publish holding it was superseded.
    Registered,
    /// This SSRC already holds the name; nothing changed.
    AlreadyRegistered,
    /// A publish with a newer epoch holds the name.
    Stale,
}

impl Streams {
    /// The handle serving `name` (`APP/NAME`), if it is live here.
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
            current.handover.supersede(handle.handover.clone());
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
