//! A room's events over a WebSocket (`GET /client/live/room/{live_id}/events/ws`), for clients
//! that want one socket both ways, and the part of the event stream the Server-Sent Events
//! handler (`events`) shares with it: opening a room's stream ([`open_stream`]), which checks
//! the room, subscribes from the client's last event, and yields a `reset` first when the
//! client missed events, then the backlog, then live events until the room ends or the client
//! falls behind.
//!
//! Each event is a text frame `{"id", "event", "data"}` (`id` null for `reset`); resume with
//! `?last_event_id=`, as `Last-Event-ID` does for SSE. The stream's end is a close frame (1000):
//! reconnect with the last id. Frames from the client are JSON objects with a `type`; a
//! `"message"` is a chat message, which this node does not take over the socket yet (answered
//! `{"type": "error", ...}`, as is anything else it does not understand). An `id` the client
//! puts in a frame comes back in the answer to it.

use crate::auth::{StreamCaller, StreamQuery};
use crate::event_hub::{event_order, RoomEvent};
use crate::rooms::ended;
use crate::state::Rooms;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, Stream, StreamExt};
use relay_control::ApiError;
use relay_rooms::RoomStatus;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest frame a client may send: a chat message and its envelope, with room to spare.
pub const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// How often an idle socket is pinged, so proxies keep it and a dead peer is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Close code of a normal end (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;

/// `GET /client/live/room/{live_id}/events/ws`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(room_events_ws))
        .with_state(rooms)
}

/// What a room's event stream sends, in order.
pub enum Outgoing {
    /// The client's last event is no longer kept: reload the room, then go on.
    Reset,
    /// One event of the room.
    Event(Arc<RoomEvent>),
}

/// Opens `live_id`'s event stream after `last_event_id`: 404 for an unknown room, 409 (code
/// 601) for one that ended. Ends when the room ends or the client falls further behind than
/// the hub keeps for it (it resumes with its last id).
pub async fn open_stream(
    rooms: &Rooms,
    live_id: &str,
    last_event_id: Option<&str>,
) -> Result<impl Stream<Item = Outgoing> + Send + 'static, ApiError> {
    let room = rooms.room(live_id).await?;
    if room.status == RoomStatus::Ended {
        return Err(ended(&room));
    }
    let subscription = rooms.live.subscribe(live_id, last_event_id).await?;
    // Live events the backlog already had (it is read after subscribing) are skipped.
    let seen = subscription
        .backlog
        .last()
        .and_then(|event| event_order(&event.id));
    let reset = subscription.gap.then_some(Outgoing::Reset);
    let first = reset
        .into_iter()
        .chain(subscription.backlog.into_iter().map(Outgoing::Event));
    let live = futures_util::stream::unfold(subscription.live, move |mut live| async move {
        loop {
            match live.recv().await {
                Ok(event) if seen.is_some() && event_order(&event.id) <= seen => continue,
                Ok(event) => return Some((Outgoing::Event(event), live)),
                // Fell behind, or the room ended: the client reconnects with its last id.
                Err(_) => return None,
            }
        }
    });
    Ok(futures_util::stream::iter(first).chain(live))
}

/// The text frame of one item: `{"id", "event", "data"}`.
fn frame_of(item: &Outgoing) -> String {
    match item {
        Outgoing::Reset => json!({"id": null, "event": "reset", "data": {}}),
        Outgoing::Event(event) => json!({"id": event.id, "event": event.kind, "data": event.data}),
    }
    .to_string()
}

/// A frame from the client: its `type` says what it is; the rest depends on the type.
#[derive(Debug, Deserialize)]
pub struct ClientFrame {
    /// `"message"`: a chat message (`{"type": "message", "kind": "chat", "text": ...}`).
    #[serde(rename = "type")]
    pub frame_type: String,
    /// Any value the client chooses, sent back in the answer to this frame.
    #[serde(default)]
    pub id: Option<Value>,
}

/// The answer to a text frame from the client, if any.
fn answer(text: &str) -> Option<String> {
    let error = |id: Option<Value>, message: &str| {
        Some(json!({"type": "error", "id": id, "message": message}).to_string())
    };
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(_) => return error(None, "a frame is a JSON object with a \"type\""),
    };
    match frame.frame_type.as_str() {
        // Where chat sends over the socket go once the chat service exists.
        "message" => error(
            frame.id,
            "chat messages are not taken over this socket yet: \
             POST /client/live/room/{live_id}/message",
        ),
        _ => error(frame.id, "unknown frame type (known: \"message\")"),
    }
}

/// The room's events over a WebSocket: each a text frame `{"id", "event", "data"}`, `reset`
/// first when the client missed some (see the SSE route), resuming after `last_event_id`.
/// Authenticated by `?token=` (an event-stream token) or the `Authorization` header.
#[utoipa::path(get, path = "/client/live/room/{live_id}/events/ws",
    params(("live_id" = String, Path), StreamQuery),
    responses((status = 101, description = "switched to the WebSocket protocol"), (status = 400),
        (status = 401), (status = 404), (status = 409, description = "code 601: the room ended")))]
pub async fn room_events_ws(
    _caller: StreamCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    Query(query): Query<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade =
        upgrade.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let events = open_stream(&rooms, &live_id, query.last_event_id.as_deref()).await?;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(socket, events))
        .into_response())
}

async fn serve(socket: WebSocket, events: impl Stream<Item = Outgoing> + Send + 'static) {
    let (mut sink, mut incoming) = socket.split();
    let mut events = std::pin::pin!(events);
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.reset();
    loop {
        let sent = tokio::select! {
            item = events.next() => match item {
                Some(item) => sink.send(Message::Text(frame_of(&item).into())).await,
                None => break,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => match answer(text.as_str()) {
                    Some(reply) => sink.send(Message::Text(reply.into())).await,
                    None => Ok(()),
                },
                Some(Ok(Message::Binary(_))) => {
                    let reply = json!({"type": "error", "id": null, "message": "frames are JSON text"});
                    sink.send(Message::Text(reply.to_string().into())).await
                }
                // Pings are answered by the socket itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
            _ = keep_alive.tick() => sink.send(Message::Ping(Default::default())).await,
        };
        if sent.is_err() {
            return;
        }
    }
    let close = Message::Close(Some(CloseFrame {
        code: CLOSE_NORMAL,
        reason: "the stream ended: reconnect with last_event_id".into(),
    }));
    let _ = sink.send(close).await;
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: Option<String>) -> Value {
        serde_json::from_str(&text.expect("an answer")).expect("JSON")
    }

    #[test]
    fn client_frames_are_answered() {
        let chat = parsed(answer(
            r#"{"type":"message","kind":"chat","text":"hi","id":7}"#,
        ));
        assert_eq!(chat["type"], "error");
        assert_eq!(chat["id"], 7);
        assert!(chat["message"]
            .as_str()
            .is_some_and(|m| m.contains("/message")));
        let unknown = parsed(answer(r#"{"type":"dance","id":"a"}"#));
        assert_eq!(
            (unknown["type"].as_str(), unknown["id"].as_str()),
            (Some("error"), Some("a"))
        );
        assert!(unknown["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown")));
        for garbage in ["", "[]", "{}", "not json", r#"{"type":7}"#] {
            let answer = parsed(answer(garbage));
            assert_eq!(
                (answer["type"].as_str(), &answer["id"]),
                (Some("error"), &Value::Null),
                "{garbage}"
            );
        }
    }

    #[test]
    fn frames_carry_id_event_and_data() {
        let event = RoomEvent {
            id: "5-2".into(),
            seq: 2,
            kind: "like".into(),
            data: json!({"delta": 1, "total": 3}),
            at: 0,
        };
        let frame: Value =
            serde_json::from_str(&frame_of(&Outgoing::Event(Arc::new(event)))).unwrap();
        assert_eq!(
            frame,
            json!({"id": "5-2", "event": "like", "data": {"delta": 1, "total": 3}})
        );
        let reset: Value = serde_json::from_str(&frame_of(&Outgoing::Reset)).unwrap();
        assert_eq!(reset, json!({"id": null, "event": "reset", "data": {}}));
    }
}
