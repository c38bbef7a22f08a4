//! Who is in which room, from joins, leaves and heartbeats: kept in memory, never one database
//! write per beat. Sans-IO: every call takes `now`, and [`Presence::expire`] drops viewers whose
//! last beat is older than the expiry; the caller runs it about once a second.
//!
//! A user is in one room at a time, as the vendor room servers behave: joining another room
//! leaves the first.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Beat interval told to clients, and how many may be missed before a viewer is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceConfig {
    pub heartbeat_interval: Duration,
    pub expiry: Duration,
}

impl Default for PresenceConfig {
    /// Beats every 5 s; a viewer missing three (20 s) is gone.
    fn default() -> Self {
        PresenceConfig {
            heartbeat_interval: Duration::from_secs(5),
            expiry: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Seat {
    joined_at: Instant,
    last_beat: Instant,
}

#[derive(Debug, Default)]
struct Room {
    /// Sorted, so a paged list of viewers is stable between pages.
    viewers: BTreeMap<String, Seat>,
    peak: usize,
}

#[derive(Debug)]
pub struct Presence {
    config: PresenceConfig,
    rooms: HashMap<String, Room>,
    /// The room each user is in.
    seats: HashMap<String, String>,
}

/// A viewer who was dropped or moved out of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub live_id: String,
    pub user_id: String,
}

/// What a join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The room the user was in before, now left.
    pub left: Option<Departure>,
    pub online: usize,
}

impl Presence {
    pub fn new(config: PresenceConfig) -> Self {
        Presence {
            config,
            rooms: HashMap::new(),
            seats: HashMap::new(),
        }
    }

    pub fn config(&self) -> PresenceConfig {
        self.config
    }

    /// `user_id` enters `live_id` (again: its beat is refreshed).
    pub fn join(&mut self, now: Instant, live_id: &str, user_id: &str) -> Joined {
        let left = match self.seats.get(user_id) {
            Some(current) if current != live_id => {
                let current = current.clone();
                self.remove(&current, user_id);
                Some(Departure {
                    live_id: current,
                    user_id: user_id.to_owned(),
                })
            }
            _ => None,
        };
        let room = self.rooms.entry(live_id.to_owned()).or_default();
        room.viewers
            .entry(user_id.to_owned())
            .and_modify(|seat| seat.last_beat = now)
            .or_insert(Seat {
                joined_at: now,
                last_beat: now,
            });
        room.peak = room.peak.max(room.viewers.len());
        let online = room.viewers.len();
        self.seats.insert(user_id.to_owned(), live_id.to_owned());
        Joined { left, online }
    }

    /// `user_id` leaves `live_id`; false if it was not there.
    pub fn leave(&mut self, live_id: &str, user_id: &str) -> bool {
        self.remove(live_id, user_id)
    }

    /// A beat from a viewer of `live_id`; false if it is not there (never joined, or dropped),
    /// in which case it must join again.
    pub fn heartbeat(&mut self, now: Instant, live_id: &str, user_id: &str) -> bool {
        match self
            .rooms
            .get_mut(live_id)
            .and_then(|room| room.viewers.get_mut(user_id))
        {
            Some(seat) => {
                seat.last_beat = now;
                true
            }
            None => false,
        }
    }

    /// Drops every viewer whose last beat is older than the expiry.
    pub fn expire(&mut self, now: Instant) -> Vec<Departure> {
        let expiry = self.config.expiry;
        let mut gone = Vec::new();
        for (live_id, room) in &mut self.rooms {
            room.viewers.retain(|user_id, seat| {
                let alive = now.saturating_duration_since(seat.last_beat) <= expiry;
                if !alive {
                    gone.push(Departure {
                        live_id: live_id.clone(),
                        user_id: user_id.clone(),
                    });
                }
                alive
            });
        }
        for departure in &gone {
            self.seats.remove(&departure.user_id);
        }
        gone
    }

    pub fn online_count(&self, live_id: &str) -> usize {
        self.rooms.get(live_id).map_or(0, |room| room.viewers.len())
    }

    /// Viewers online in every room.
    pub fn total_online(&self) -> usize {
        self.seats.len()
    }

    /// Most viewers online at once since the room was first joined.
    pub fn peak(&self, live_id: &str) -> usize {
        self.rooms.get(live_id).map_or(0, |room| room.peak)
    }

    pub fn is_online(&self, live_id: &str, user_id: &str) -> bool {
        self.seats.get(user_id).is_some_and(|room| room == live_id)
    }

    /// Viewers of `live_id` by user id: `skip` of them passed over, then up to `take`, with the
    /// time each joined.
    pub fn viewers(&self, live_id: &str, skip: usize, take: usize) -> Vec<(String, Instant)> {
        self.rooms.get(live_id).map_or_else(Vec::new, |room| {
            room.viewers
                .iter()
                .skip(skip)
                .take(take)
                .map(|(user_id, seat)| (user_id.clone(), seat.joined_at))
                .collect()
        })
    }

    /// Forgets a room that ended (its peak with it); its viewers are no longer anywhere. Rooms are
    /// kept until then, so the peak survives a moment with nobody watching.
    pub fn close_room(&mut self, live_id: &str) -> Vec<Departure> {
        let Some(room) = self.rooms.remove(live_id) else {
            return Vec::new();
        };
        room.viewers
            .into_keys()
            .map(|user_id| {
                self.seats.remove(&user_id);
                Departure {
                    live_id: live_id.to_owned(),
                    user_id,
                }
            })
            .collect()
    }

    fn remove(&mut self, live_id: &str, user_id: &str) -> bool {
        let removed = self
            .rooms
            .get_mut(live_id)
            .is_some_and(|room| room.viewers.remove(user_id).is_some());
        if removed {
            self.seats.remove(user_id);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence() -> (Presence, Instant) {
        (Presence::new(PresenceConfig::default()), Instant::now())
    }

    #[test]
    fn join_leave_and_counts() {
        let (mut p, t0) = presence();
        assert_eq!(p.join(t0, "room-a", "u1").online, 1);
        assert_eq!(p.join(t0, "room-a", "u2").online, 2);
        assert_eq!(
            p.join(t0, "room-a", "u2").online,
            2,
            "a second join is a beat"
        );
        assert!(p.leave("room-a", "u1"));
        assert!(!p.leave("room-a", "u1"));
        assert_eq!((p.online_count("room-a"), p.peak("room-a")), (1, 2));
        assert_eq!(p.total_online(), 1);
        assert!(p.is_online("room-a", "u2") && !p.is_online("room-a", "u1"));
    }

    #[test]
    fn joining_another_room_leaves_the_first() {
        let (mut p, t0) = presence();
        p.join(t0, "room-a", "u1");
        let joined = p.join(t0, "room-b", "u1");
        assert_eq!(
            joined.left,
            Some(Departure {
                live_id: "room-a".into(),
                user_id: "u1".into()
            })
        );
        assert_eq!((p.online_count("room-a"), p.online_count("room-b")), (0, 1));
        assert!(!p.heartbeat(t0, "room-a", "u1"));
    }

    #[test]
    fn viewers_that_stop_beating_expire() {
        let (mut p, t0) = presence();
        p.join(t0, "room-a", "steady");
        p.join(t0, "room-a", "quiet");
        for second in (5..=25).step_by(5) {
            let now = t0 + Duration::from_secs(second);
            assert!(p.heartbeat(now, "room-a", "steady"));
            let gone = p.expire(now);
            if second <= 20 {
                assert!(gone.is_empty(), "at {second} s: {gone:?}");
            } else {
                assert_eq!(gone.len(), 1, "at {second} s");
                assert_eq!(gone[0].user_id, "quiet");
            }
        }
        assert_eq!(p.online_count("room-a"), 1);
        assert!(!p.heartbeat(t0 + Duration::from_secs(26), "room-a", "quiet"));
        assert_eq!(p.peak("room-a"), 2);
    }

    #[test]
    fn viewers_page_in_user_order_and_rooms_close() {
        let (mut p, t0) = presence();
        for user in ["c", "a", "b"] {
            p.join(t0, "room-a", user);
        }
        let names = |v: Vec<(String, Instant)>| v.into_iter().map(|(u, _)| u).collect::<Vec<_>>();
        assert_eq!(names(p.viewers("room-a", 0, 2)), ["a", "b"]);
        assert_eq!(names(p.viewers("room-a", 2, 2)), ["c"]);
        assert_eq!(p.close_room("room-a").len(), 3);
        assert_eq!(p.online_count("room-a"), 0);
        assert!(!p.is_online("room-a", "a"));
        assert!(p.viewers("room-x", 0, 10).is_empty());
    }
}
