//! The event-stream token (`POST /client/live/room/{live_id}/events/token`): what a browser
//! puts in the URL of its `EventSource` or `WebSocket`, which cannot carry an `Authorization`
//! header. Its claims and checks are in [`crate::auth`], beside the other callers'.

use crate::auth::{stream_claims, ClientCaller};
use crate::clock::unix_s;
use crate::rooms::ended;
use crate::state::Rooms;
use axum::extract::{Path, State};
use relay_control::auth::jwt;
use relay_control::{ApiError, Reply};
use relay_rooms::RoomStatus;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `POST /client/live/room/{live_id}/events/token`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(events_token))
        .with_state(rooms)
}

/// A token for one room's event stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventsTokenView {
    /// Goes in the event stream's URL: `.../events?token=...` (or `.../events/ws?token=...`).
    pub token: String,
    /// Seconds the token may be used to open the stream; a stream already open goes on.
    pub expires_in_s: u64,
}

/// A token that opens this room's event stream (and nothing else) for the caller, for
/// `events_token_ttl_s` seconds: for browsers, whose `EventSource` cannot send the
/// `Authorization` header. Mint a new one before each reconnect once it has expired.
#[utoipa::path(post, path = "/client/live/room/{live_id}/events/token",
    params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<EventsTokenView>), (status = 401), (status = 404),
        (status = 409, description = "code 601: the room ended")))]
pub async fn events_token(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<EventsTokenView>, ApiError> {
    let room = rooms.room(&live_id).await?;
    if room.status == RoomStatus::Ended {
        return Err(ended(&room));
    }
    let ttl = rooms.settings.events_token_ttl;
    let ttl_s = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = stream_claims(&caller.user_id, &live_id, unix_s(), ttl_s);
    Ok(Reply::ok(EventsTokenView {
        token: jwt::mint(&rooms.settings.jwt_key, &claims),
        expires_in_s: ttl.as_secs(),
    }))
}
