//! The live state of one cloud, in its memory: the event hub, presence and the rate windows.

use super::{Seat, SeatPage};
use crate::clock::unix_ms;
use crate::event_hub::{EventHub, Subscription};
use parking_lot::Mutex;
use relay_rooms::{Presence, PresenceConfig};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Rate windows kept at most; when full, windows that ended go first, then the one ending
/// soonest (its key starts afresh: a bounded map never refuses a key for lack of room).
const RATE_KEYS: usize = 65_536;

/// A key's fixed window: when it ends and what it has taken.
#[derive(Debug, Clone, Copy)]
struct Window {
    ends: Instant,
    taken: u32,
}

/// Events, presence and rate windows of this node only.
pub struct MemoryState {
    events: EventHub,
    presence: Mutex<Presence>,
    rates: Mutex<HashMap<String, Window>>,
}

impl MemoryState {
    /// Empty state, presence as `config` says.
    pub fn new(config: PresenceConfig) -> Self {
        MemoryState {
            events: EventHub::new(unix_ms()),
            presence: Mutex::new(Presence::new(config)),
            rates: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn append(&self, live_id: &str, kind: &str, data: serde_json::Value) {
        self.events.publish(live_id, kind, data, unix_ms());
    }

    pub(super) fn subscribe(&self, live_id: &str, last_event_id: Option<&str>) -> Subscription {
        self.events.subscribe(live_id, last_event_id)
    }

    pub(super) fn close(&self, live_id: &str) {
        self.presence.lock().close_room(live_id);
        self.events.close(live_id);
    }

    pub(super) fn join(&self, live_id: &str, user_id: &str) {
        self.presence.lock().join(Instant::now(), live_id, user_id);
    }

    pub(super) fn heartbeat(&self, live_id: &str, user_id: &str) -> bool {
        self.presence
            .lock()
            .heartbeat(Instant::now(), live_id, user_id)
    }

    pub(super) fn leave(&self, live_id: &str, user_id: &str) -> bool {
        self.presence.lock().leave(live_id, user_id)
    }

    pub(super) fn is_online(&self, live_id: &str, user_id: &str) -> bool {
        self.presence.lock().is_online(live_id, user_id)
    }

    pub(super) fn online_count(&self, live_id: &str) -> usize {
        self.presence.lock().online_count(live_id)
    }

    pub(super) fn seats(&self, live_id: &str, skip: usize, take: usize) -> SeatPage {
        let now = Instant::now();
        let presence = self.presence.lock();
        SeatPage {
            total: presence.online_count(live_id),
            seats: presence
                .viewers(live_id, skip, take)
                .into_iter()
                .map(|(user_id, joined)| Seat {
                    user_id,
                    online: now.saturating_duration_since(joined),
                })
                .collect(),
        }
    }

    pub(super) fn expire(&self) -> usize {
        self.presence.lock().expire(Instant::now()).len()
    }

    pub(super) fn total_online(&self) -> usize {
        self.presence.lock().total_online()
    }

    pub(super) fn rate_take(&self, key: &str, limit: u32, window: Duration) -> Option<Duration> {
        let now = Instant::now();
        let mut rates = self.rates.lock();
        if rates.len() >= RATE_KEYS && !rates.contains_key(key) {
            rates.retain(|_, w| w.ends > now);
            if rates.len() >= RATE_KEYS {
                let soonest = rates
                    .iter()
                    .min_by_key(|(_, w)| w.ends)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    rates.remove(&soonest);
                }
            }
        }
        let entry = rates.entry(key.to_owned()).or_insert(Window {
            ends: now + window,
            taken: 0,
        });
        if entry.ends <= now {
            *entry = Window {
                ends: now + window,
                taken: 0,
            };
        }
        if entry.taken >= limit {
            return Some(entry.ends.saturating_duration_since(now));
        }
        entry.taken += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_window_refuses_past_its_limit_then_starts_afresh() {
        let state = MemoryState::new(PresenceConfig::default());
        let window = Duration::from_millis(50);
        for _ in 0..3 {
            assert_eq!(state.rate_take("chat:r:u", 3, window), None);
        }
        let retry = state.rate_take("chat:r:u", 3, window).unwrap();
        assert!(retry > Duration::ZERO && retry <= window);
        assert_eq!(state.rate_take("chat:r:other", 3, window), None);
        std::thread::sleep(window + Duration::from_millis(5));
        assert_eq!(state.rate_take("chat:r:u", 3, window), None);
    }

    #[test]
    fn the_rate_map_stays_bounded() {
        let state = MemoryState::new(PresenceConfig::default());
        for n in 0..RATE_KEYS + 10 {
            state.rate_take(&format!("k{n}"), 1, Duration::from_secs(60));
        }
        assert_eq!(state.rates.lock().len(), RATE_KEYS);
        assert_eq!(state.rate_take("newest", 1, Duration::from_secs(60)), None);
    }
}
