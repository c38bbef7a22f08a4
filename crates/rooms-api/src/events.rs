//! What happens in a room, for its clients: live and stream status, counts, likes, gifts, PK,
//! kicks and mutes, in order, served as Server-Sent Events (`GET
//! /client/live/room/{id}/events`).
//!
//! The events are kept by the live state ([`LiveState`](crate::live::LiveState)): one node's
//! [`EventHub`](crate::event_hub::EventHub), or a Redis stream per room that every node reads,
//! whose entry ids are the SSE ids, so a client resumes with `Last-Event-ID` on any node. A
//! client gets the backlog after its id, then the live events, none missing and none twice.
//! This file serves them through the stream it shares with the WebSocket variant (`events_ws`).

use crate::auth::{StreamCaller, StreamQuery};
use crate::events_ws::{open_stream, Outgoing};
use crate::state::Rooms;
use axum::extract::{Path, State};
use futures_util::StreamExt;
use relay_control::ApiError;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `GET /client/live/room/{live_id}/events`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(room_events))
        .with_state(rooms)
}

/// The room's events as Server-Sent Events: `id` (resume with `Last-Event-ID`), `event` (the
/// kind) and `data` (JSON). A client whose last event is no longer kept first gets a `reset`
/// event (reload the room, then go on). The stream ends when the room ends. A browser's
/// `EventSource`, which cannot send `Authorization`, passes an event-stream token as `?token=`.
#[utoipa::path(get, path = "/client/live/room/{live_id}/events",
    params(("live_id" = String, Path), ("Last-Event-ID" = Option<String>, Header), StreamQuery),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 401), (status = 404), (status = 409, description = "code 601: the room ended")))]
pub async fn room_events(
    _caller: StreamCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::response::IntoResponse;
    let last = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    let stream = open_stream(&rooms, &live_id, last).await?.map(|item| {
        Ok::<_, std::convert::Infallible>(match item {
            Outgoing::Reset => Event::default().event("reset").data("{}"),
            Outgoing::Event(event) => Event::default()
                .id(event.id.clone())
                .event(event.kind.clone())
                .data(event.data.to_string()),
        })
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
