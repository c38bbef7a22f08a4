//! The webhook events about rooms, as the outbox stores them for the app's back end.

use relay_rooms::{NewEvent, Room};

/// A webhook event about `room`.
pub fn room_event(kind: &str, room: &Room, extra: serde_json::Value) -> NewEvent {
    let mut body = serde_json::json!({
        "live_id": room.live_id,
        "anchor_id": room.anchor_id,
        "status": room.status.as_str(),
    });
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    NewEvent::new(kind, body)
}

/// `live_stopped` about `room`, which just ended: its reason, how long it lasted, its peak.
pub(crate) fn stopped_event(room: &Room) -> NewEvent {
    let duration_s = match (room.started_at, room.stopped_at) {
        (Some(started), Some(stopped)) => (stopped - started).max(0) / 1000,
        _ => 0,
    };
    room_event(
        "live_stopped",
        room,
        serde_json::json!({
            "reason": room.stop_reason.map(|r| r.as_str()),
            "duration_s": duration_s,
            "peak_viewers": room.peak_viewers,
        }),
    )
}
