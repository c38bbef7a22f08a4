//! The rooms domain as stored: users mirrored from the app, rooms (one row per broadcast) and
//! webhook events waiting in the outbox. Times are Unix milliseconds everywhere, so SQLite and
//! PostgreSQL store and compare them the same way.

use crate::ids;
use crate::RoomsError;
use serde::Serialize;

/// An app's free-form JSON object attached to a user or a room. Always an object, never a bare
/// value, so clients can add keys without breaking each other.
pub type Extends = serde_json::Map<String, serde_json::Value>;

/// A user as the app registered it (`user_id` is the app's own id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub user_id: String,
    pub nick: String,
    pub avatar: String,
    pub extends: Extends,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the app sends to register a user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewUser {
    pub user_id: String,
    pub nick: String,
    pub avatar: String,
    pub extends: Extends,
}

/// A partial update: `None` leaves the field as it is; `extends` replaces the whole object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserUpdate {
    pub nick: Option<String>,
    pub avatar: Option<String>,
    pub extends: Option<Extends>,
}

/// The outcome of a batch registration: the ids now registered by this call and the ids that
/// were already there (left unchanged), each in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchRegistered {
    pub registered: Vec<String>,
    pub existed: Vec<String>,
}

/// Where a room is in its life. A room is one broadcast: once ended it never goes live again
/// (the anchor creates a new room), so history stays one row per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    Created,
    Live,
    Ended,
}

impl RoomStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomStatus::Created => "created",
            RoomStatus::Live => "live",
            RoomStatus::Ended => "ended",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, RoomsError> {
        match text {
            "created" => Ok(RoomStatus::Created),
            "live" => Ok(RoomStatus::Live),
            "ended" => Ok(RoomStatus::Ended),
            other => Err(RoomsError::Corrupt(format!(
                "unknown room status {other:?}"
            ))),
        }
    }
}

/// Why a room ended; sent with the `live_stopped` webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The anchor stopped it.
    Anchor,
    /// The app's server stopped it through the server API.
    Server,
    /// An operator stopped it.
    Admin,
    /// The stream was gone longer than the grace period.
    PublishTimeout,
    /// The anchor's app stopped beating.
    HeartbeatTimeout,
    /// Created but never started before its `expire_at`.
    Expired,
    /// Deleted while it was live or before it started.
    Deleted,
    /// Its anchor was banned while it was live.
    Banned,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Anchor => "anchor",
            StopReason::Server => "server",
            StopReason::Admin => "admin",
            StopReason::PublishTimeout => "publish_timeout",
            StopReason::HeartbeatTimeout => "heartbeat_timeout",
            StopReason::Expired => "expired",
            StopReason::Deleted => "deleted",
            StopReason::Banned => "banned",
        }
    }

    /// Every reason, for parsing stored text back.
    pub(crate) const ALL: [StopReason; 8] = [
        StopReason::Anchor,
        StopReason::Server,
        StopReason::Admin,
        StopReason::PublishTimeout,
        StopReason::HeartbeatTimeout,
        StopReason::Expired,
        StopReason::Deleted,
        StopReason::Banned,
    ];

    pub(crate) fn parse(text: &str) -> Result<Self, RoomsError> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == text)
            .ok_or_else(|| RoomsError::Corrupt(format!("unknown stop reason {text:?}")))
    }
}

/// A room as stored. Deleted rooms are kept (soft delete) but never returned by the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Room {
    /// Server-made, unguessable; the id clients see.
    pub live_id: String,
    pub anchor_id: String,
    pub title: String,
    pub notice: String,
    pub cover_url: String,
    pub extends: Extends,
    pub status: RoomStatus,
    /// The `NAME` the anchor publishes as; server-made and unrelated to `live_id`.
    pub stream_name: String,
    /// When the anchor announced the broadcast to start and end (informative).
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A room still `created` at this time ends with reason `expired`.
    pub expire_at: i64,
    /// When it actually went live and ended.
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub stop_reason: Option<StopReason>,
    /// What the operator who stopped it wrote (an admin stop, a ban's reason).
    pub stop_note: Option<String>,
    pub peak_viewers: i64,
    /// Set only in what [`Store::delete_room`](crate::Store::delete_room) returns: reads never
    /// return deleted rooms.
    pub deleted_at: Option<i64>,
}

/// Builds the webhook event that announces a change, from the room as the change left it (so
/// `live_created` can carry the new `live_id`, `live_stopped` the duration). The event is
/// written in the same transaction as the change, and only when the change applied.
pub type EventFor<'a> = Option<&'a (dyn Fn(&Room) -> NewEvent + Sync)>;

/// What [`Store::delete_room`](crate::Store::delete_room) did: the status the room had, and
/// the room as deleted (ended, `stop_reason` `deleted` unless it had ended before).
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    pub was: RoomStatus,
    pub room: Room,
}

/// How long a room may stay `created` when neither `expire_at` nor `end_at` says otherwise.
pub const DEFAULT_ROOM_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// What creating a room takes; the store makes `live_id` and `stream_name`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRoom {
    /// A registered user.
    pub anchor_id: String,
    pub title: String,
    pub notice: String,
    pub cover_url: String,
    pub extends: Extends,
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
    /// When the room expires if never started: this, else `end_at`, else
    /// [`DEFAULT_ROOM_TTL_MS`] after creation.
    pub expire_at: Option<i64>,
}

/// A partial update of a room's descriptive fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomUpdate {
    pub title: Option<String>,
    pub notice: Option<String>,
    pub cover_url: Option<String>,
    pub extends: Option<Extends>,
}

/// A webhook event to put in the outbox. Its id is made when it is built, so the caller can
/// put it in the body it signs and the receiver can drop repeats (delivery is at least once).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: String,
    pub body: serde_json::Value,
}

impl NewEvent {
    pub fn new(event_type: impl Into<String>, body: serde_json::Value) -> Self {
        NewEvent {
            id: ids::uuid_v4(),
            event_type: event_type.into(),
            body,
        }
    }
}

/// An event in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub body: serde_json::Value,
    pub created_at: i64,
    /// Deliveries started so far (counted when taken), which also identifies the current lease.
    pub attempts: i64,
    /// Due at this time; while a delivery is under way, the end of its lease.
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
    /// The room the event is about: its body's `live_id` when that is a string; its room's
    /// events are delivered in order.
    pub live_id: Option<String>,
    /// When it was given up on, undelivered after `callback_dead_after_s` (a dead letter).
    pub dead_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_round_trip_through_their_text() {
        for reason in StopReason::ALL {
            assert_eq!(StopReason::parse(reason.as_str()).unwrap(), reason);
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(reason.as_str())
            );
        }
        assert_eq!(StopReason::parse("kicked").unwrap_err().code(), "corrupt");
        assert_eq!(RoomStatus::parse("live").unwrap(), RoomStatus::Live);
        assert_eq!(RoomStatus::parse("LIVE").unwrap_err().code(), "corrupt");
    }
}
