//! What happens in a room, for its clients: live and stream status, counts, likes, gifts, PK,
//! kicks and mutes, in order, served as Server-Sent Events (`GET
//! /client/live/room/{id}/events`).
//!
//! Each room keeps its recent events (a bounded window) and a broadcast channel. Event ids are
//! `BOOT-SEQ`: SEQ counts up per room, BOOT is when this node started, so a client resuming with
//! `Last-Event-ID` after a reconnect gets exactly the events after it, and one resuming after
//! the node restarted gets everything kept since (never a stale match).
//!
//! This file keeps the events; `events` serves them.

use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events kept per room for clients that reconnect; older ones are gone (a client that missed
/// them is told to reload with a `reset` event).
pub const ROOM_EVENT_WINDOW: usize = 1024;
/// Events waiting for one slow subscriber; one that falls further behind is dropped (it
/// reconnects with `Last-Event-ID` and catches up from the window).
pub(crate) const SUBSCRIBER_BACKLOG: usize = 256;

/// The order of an event id: both `BOOT-SEQ` (memory) and a Redis stream id (`MS-SEQ`) are
/// two numbers compared in turn; `None` for anything else.
pub(crate) fn event_order(id: &str) -> Option<(u64, u64)> {
    let (high, low) = id.split_once('-')?;
    Some((high.parse().ok()?, low.parse().ok()?))
}

/// One event of a room.
#[derive(Debug, Clone, Serialize)]
pub struct RoomEvent {
    /// `BOOT-SEQ`, the SSE id.
    pub id: String,
    #[serde(skip)]
    pub seq: u64,
    /// `live_status`, `stream_status`, `counts`, `like`, `gift`, `pk`, `kicked`, `muted`, ...
    pub kind: String,
    pub data: serde_json::Value,
    /// Unix ms.
    pub at: i64,
}

struct RoomLog {
    next_seq: u64,
    recent: VecDeque<Arc<RoomEvent>>,
    sender: broadcast::Sender<Arc<RoomEvent>>,
}

/// Every room's events on this node.
pub struct EventHub {
    boot: i64,
    rooms: Mutex<HashMap<String, RoomLog>>,
}

/// Where a subscriber starts.
pub struct Subscription {
    /// Events after the client's `Last-Event-ID` still in the window, oldest first.
    pub backlog: Vec<Arc<RoomEvent>>,
    /// The client's last event fell out of the window: it missed some and should reload.
    pub gap: bool,
    pub live: broadcast::Receiver<Arc<RoomEvent>>,
}

impl EventHub {
    /// An empty hub; `boot` (this run's start, Unix ms) prefixes event ids so a client
    /// resuming with an id from an earlier run starts afresh.
    pub fn new(boot: i64) -> Self {
        EventHub {
            boot,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, RoomLog>> {
        self.rooms.lock()
    }

    fn log<'a>(rooms: &'a mut HashMap<String, RoomLog>, live_id: &str) -> &'a mut RoomLog {
        rooms.entry(live_id.to_owned()).or_insert_with(|| RoomLog {
            next_seq: 1,
            recent: VecDeque::new(),
            sender: broadcast::channel(SUBSCRIBER_BACKLOG).0,
        })
    }

    /// Adds an event to `live_id` and sends it to its subscribers.
    pub fn publish(&self, live_id: &str, kind: &str, data: serde_json::Value, at: i64) {
        let mut rooms = self.lock();
        let log = Self::log(&mut rooms, live_id);
        let seq = log.next_seq;
        log.next_seq += 1;
        let event = Arc::new(RoomEvent {
            id: format!("{}-{seq}", self.boot),
            seq,
            kind: kind.to_owned(),
            data,
            at,
        });
        if log.recent.len() == ROOM_EVENT_WINDOW {
            log.recent.pop_front();
        }
        log.recent.push_back(event.clone());
        let _ = log.sender.send(event);
    }

    /// Subscribes to `live_id` from just after `last_event_id` (from the window when given).
    pub fn subscribe(&self, live_id: &str, last_event_id: Option<&str>) -> Subscription {
        let mut rooms = self.lock();
        let log = Self::log(&mut rooms, live_id);
        let live = log.sender.subscribe();
        let after = last_event_id.and_then(|id| {
            let (boot, seq) = id.split_once('-')?;
            (boot.parse::<i64>().ok()? == self.boot).then(|| seq.parse::<u64>().ok())?
        });
        let (backlog, gap) = match (last_event_id, after) {
            (None, _) => (Vec::new(), false),
            (Some(_), Some(after)) => {
                let oldest = log.recent.front().map_or(log.next_seq, |e| e.seq);
                let missed = after + 1 < oldest;
                let backlog = log
                    .recent
                    .iter()
                    .filter(|e| e.seq > after)
                    .cloned()
                    .collect();
                (backlog, missed)
            }
            // Another node's or an earlier run's id: everything kept, flagged.
            (Some(_), None) => (log.recent.iter().cloned().collect(), true),
        };
        Subscription { backlog, gap, live }
    }

    /// A room ended: its subscribers' streams end once they have read what was sent.
    pub fn close(&self, live_id: &str) {
        self.lock().remove(live_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(events: &[Arc<RoomEvent>]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn resume_after_the_last_event_seen() {
        let hub = EventHub::new(7);
        for n in 0..5 {
            hub.publish("r", "like", serde_json::json!({ "n": n }), 0);
        }
        let fresh = hub.subscribe("r", None);
        assert!(fresh.backlog.is_empty() && !fresh.gap);
        let resumed = hub.subscribe("r", Some("7-3"));
        assert_eq!(ids(&resumed.backlog), [4, 5]);
        assert!(!resumed.gap);
        let other_boot = hub.subscribe("r", Some("6-3"));
        assert_eq!(ids(&other_boot.backlog), [1, 2, 3, 4, 5]);
        assert!(other_boot.gap);
    }

    #[test]
    fn live_events_follow_the_backlog_without_a_hole() {
        let hub = EventHub::new(1);
        hub.publish("r", "a", serde_json::Value::Null, 0);
        let mut subscription = hub.subscribe("r", Some("1-0"));
        hub.publish("r", "b", serde_json::Value::Null, 0);
        assert_eq!(ids(&subscription.backlog), [1]);
        let next = subscription.live.try_recv().unwrap();
        assert_eq!((next.seq, next.kind.as_str()), (2, "b"));
    }

    #[test]
    fn an_id_older_than_the_window_is_a_gap() {
        let hub = EventHub::new(1);
        for _ in 0..ROOM_EVENT_WINDOW + 10 {
            hub.publish("r", "like", serde_json::Value::Null, 0);
        }
        let late = hub.subscribe("r", Some("1-2"));
        assert!(late.gap);
        assert_eq!(late.backlog.len(), ROOM_EVENT_WINDOW);
        let recent = hub.subscribe("r", Some(&format!("1-{}", ROOM_EVENT_WINDOW + 5)));
        assert!(!recent.gap);
        assert_eq!(recent.backlog.len(), 5);
    }
}
