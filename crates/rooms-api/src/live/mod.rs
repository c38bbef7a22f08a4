//! The rooms' live state: the event log, presence, likes waiting for the store, kicks and
//! mutes, counts, which streams are published and the chat rate limit. One cloud keeps it in
//! its own memory ([`LiveState::Memory`], the default); several clouds behind a load balancer
//! share it through Redis or Valkey ([`LiveState::Redis`], `redis_url`), so any node answers
//! any client the same. Enum dispatch: each method is written once per variant, in `memory`
//! and `redis`.
//!
//! The SQL store stays the record (rooms, kicks, gifts, the webhook outbox): nothing here is
//! the only copy of a ledger row, so Redis being away costs clear 503s, never a lost row.

mod memory;
mod redis;

pub use self::memory::MemoryState;
pub use self::redis::{RedisConfig, RedisState};

use crate::event_hub::{RoomEvent, Subscription};
use relay_control::ApiError;
use relay_rooms::{PresenceConfig, SanctionKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Where the rooms' live state is kept.
pub enum LiveState {
    /// In this process: one cloud (boxed: it holds the maps themselves).
    Memory(Box<MemoryState>),
    /// In a Redis (or Valkey) server several clouds share.
    Redis(Arc<RedisState>),
}

/// A viewer online in a room, with how long since it joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The viewer.
    pub user_id: String,
    /// Time since it joined.
    pub online: Duration,
}

/// One page of a room's online viewers, by user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatPage {
    /// Viewers online in the room.
    pub total: usize,
    /// The page's viewers.
    pub seats: Vec<Seat>,
}

impl LiveState {
    /// The in-memory state, presence as `presence` says.
    pub fn memory(presence: PresenceConfig) -> Self {
        LiveState::Memory(Box::new(MemoryState::new(presence)))
    }

    /// Whether the state is shared with other nodes.
    pub fn is_shared(&self) -> bool {
        matches!(self, LiveState::Redis(_))
    }

    /// Adds an event to `live_id`'s log; its subscribers on every node get it.
    pub async fn append(
        &self,
        live_id: &str,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<(), ApiError> {
        match self {
            LiveState::Memory(memory) => {
                memory.append(live_id, kind, data);
                Ok(())
            }
            LiveState::Redis(redis) => redis.append(live_id, kind, data).await,
        }
    }

    /// Subscribes to `live_id`'s events from just after `last_event_id`.
    pub async fn subscribe(
        &self,
        live_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.subscribe(live_id, last_event_id)),
            LiveState::Redis(redis) => redis.subscribe(live_id, last_event_id).await,
        }
    }

    /// A room ended: what is kept live of it goes (its subscribers end after the last event).
    pub async fn close(&self, live_id: &str) -> Result<(), ApiError> {
        match self {
            LiveState::Memory(memory) => {
                memory.close(live_id);
                Ok(())
            }
            LiveState::Redis(redis) => redis.close(live_id).await,
        }
    }

    /// `user_id` enters `live_id`, leaving any other room.
    pub async fn join(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        match self {
            LiveState::Memory(memory) => {
                memory.join(live_id, user_id);
                Ok(())
            }
            LiveState::Redis(redis) => redis.join(live_id, user_id).await,
        }
    }

    /// A beat of `user_id` in `live_id`; false when it is not there (join again). Shared: the
    /// room's online count for views is read with it.
    pub async fn heartbeat(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.heartbeat(live_id, user_id)),
            LiveState::Redis(redis) => redis.heartbeat(live_id, user_id).await,
        }
    }

    /// `user_id` leaves `live_id`; false when it was not there.
    pub async fn leave(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.leave(live_id, user_id)),
            LiveState::Redis(redis) => redis.leave(live_id, user_id).await,
        }
    }

    /// Whether `user_id` is in `live_id` and still beating.
    pub async fn is_online(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.is_online(live_id, user_id)),
            LiveState::Redis(redis) => redis.is_online(live_id, user_id).await,
        }
    }

    /// Viewers online in `live_id`.
    pub async fn online_count(&self, live_id: &str) -> Result<usize, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.online_count(live_id)),
            LiveState::Redis(redis) => redis.online_count(live_id).await,
        }
    }

    /// Viewers online in `live_id` without waiting (shared: as this node last counted them,
    /// at most a second ago for a watched room), for room views.
    pub fn online_now(&self, live_id: &str) -> usize {
        match self {
            LiveState::Memory(memory) => memory.online_count(live_id),
            LiveState::Redis(redis) => redis.online_seen(live_id),
        }
    }

    /// Viewers online in `live_id` by user id, `skip` passed over, at most `take`.
    pub async fn seats(
        &self,
        live_id: &str,
        skip: usize,
        take: usize,
    ) -> Result<SeatPage, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.seats(live_id, skip, take)),
            LiveState::Redis(redis) => redis.seats(live_id, skip, take).await,
        }
    }

    /// Drops the viewers of `live_ids` (memory: of every room) that stopped beating; answers
    /// how many went.
    pub async fn expire(&self, live_ids: &[String]) -> Result<usize, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.expire()),
            LiveState::Redis(redis) => redis.expire(live_ids).await,
        }
    }

    /// Viewers online in every room, for `/metrics` (shared: in the rooms this node watches,
    /// as last counted).
    pub fn total_online(&self) -> usize {
        match self {
            LiveState::Memory(memory) => memory.total_online(),
            LiveState::Redis(redis) => redis.total_online(),
        }
    }

    /// A kick or mute of `user_id` in `live_id` until `until` (Unix ms), seen by every node at
    /// once (memory: nothing to do, the rooms' own cache has it).
    pub async fn sanction(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
        until: i64,
    ) -> Result<(), ApiError> {
        match self {
            LiveState::Memory(_) => Ok(()),
            LiveState::Redis(redis) => redis.sanction(live_id, user_id, kind, until).await,
        }
    }

    /// A mute lifted.
    pub async fn lift(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<(), ApiError> {
        match self {
            LiveState::Memory(_) => Ok(()),
            LiveState::Redis(redis) => redis.lift(live_id, user_id, kind).await,
        }
    }

    /// Until when (Unix ms) a kick or mute set on any node holds (memory: none beyond the
    /// rooms' own cache).
    pub async fn sanctioned_until(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<Option<i64>, ApiError> {
        match self {
            LiveState::Memory(_) => Ok(None),
            LiveState::Redis(redis) => redis.sanctioned_until(live_id, user_id, kind).await,
        }
    }

    /// Takes one from `key`'s allowance of `limit` per `window` (a fixed window, shared by
    /// every node with Redis; the chat's per-user limit, `rooms.live.rate_take(...)`): `None`
    /// when allowed, else how long until the window ends.
    pub async fn rate_take(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, ApiError> {
        match self {
            LiveState::Memory(memory) => Ok(memory.rate_take(key, limit, window)),
            LiveState::Redis(redis) => redis.rate_take(key, limit, window).await,
        }
    }
}

/// The publishing streams other nodes announce, with their viewers, by stream key.
pub type RemoteStreams = HashMap<String, u64>;

/// Whether `event` ends its room's streams (a `live_status` of an ended room): every node's
/// subscribers end after it.
pub(crate) fn is_final(event: &RoomEvent) -> bool {
    event.kind == "live_status" && event.data["status"] == "ended"
}
