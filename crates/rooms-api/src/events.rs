//! What happens in a room, for its clients: live and stream status, counts, likes, gifts, PK,
//! kicks and mutes, in order, served as Server-Sent Events (`GET
//! /client/live/room/{id}/events`).
//!
//! The events are kept by the live state ([`LiveState`](crate::live::LiveState)): one node's
//! [`EventHub`](crate::event_hub::EventHub), or a Redis stream per room that every node reads,
//! whose entry ids are the SSE ids, so a client resumes with `Last-Event-ID` on any node. A
//! client gets the backlog after its id, then the live events, none missing and none twice.
//! This file serves them.

use crate::auth::ClientCaller;
use crate::event_hub::{event_order, RoomEvent};
use crate::rooms::ended;
use crate::state::Rooms;
use axum::extract::{Path, State};
use relay_control::ApiError;
use relay_rooms::RoomStatus;
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
/// event (reload the room, then go on). The stream ends when the room ends.
#[utoipa::path(get, path = "/client/live/room/{live_id}/events",
    params(("live_id" = String, Path), ("Last-Event-ID" = Option<String>, Header)),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 401), (status = 404), (status = 409, description = "code 601: the room ended")))]
pub async fn room_events(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::response::IntoResponse;
    let room = rooms.room(&live_id).await?;
    if room.status == RoomStatus::Ended {
        return Err(ended(&room));
    }
    let last = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    let subscription = rooms.live.subscribe(&live_id, last).await?;
    let to_sse = |event: &RoomEvent| {
        Event::default()
            .id(event.id.clone())
            .event(event.kind.clone())
            .data(event.data.to_string())
    };
    let mut first: Vec<Event> = Vec::with_capacity(subscription.backlog.len() + 1);
    if subscription.gap {
        first.push(Event::default().event("reset").data("{}"));
    }
    first.extend(subscription.backlog.iter().map(|event| to_sse(event)));
    // Live events the backlog already had (read after subscribing) are skipped.
    let seen = subscription
        .backlog
        .last()
        .and_then(|event| event_order(&event.id));
    let live = futures_util::stream::unfold(subscription.live, move |mut live| async move {
        loop {
            match live.recv().await {
                Ok(event) if seen.is_some() && event_order(&event.id) <= seen => continue,
                Ok(event) => return Some((to_sse(&event), live)),
                // Fell behind, or the room ended: the client reconnects with Last-Event-ID.
                Err(_) => return None,
            }
        }
    });
    let stream = futures_util::StreamExt::map(
        futures_util::StreamExt::chain(futures_util::stream::iter(first), live),
        Ok::<_, std::convert::Infallible>,
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
