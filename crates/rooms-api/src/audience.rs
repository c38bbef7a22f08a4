//! Who is in a room: viewers join, leave and beat (`/client`), and the room's online viewers are
//! listed for apps and for the app's back end (`/server`, signed).

use crate::auth::{signed, ClientCaller};
use crate::rooms::ended;
use crate::state::Rooms;
use crate::views::{HeartbeatView, LiveInfo, OnlineUser};
use axum::extract::{Path, State};
use relay_control::{ApiError, ApiQuery, Page, PageQuery, Reply};
use relay_rooms::RoomStatus;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Joins, leaves, heartbeats and online lists.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    // A heartbeat is a GET (the vendor SDKs') or a POST; the document names the GET.
    let (schemas, paths, beat) = routes!(heartbeat);
    let client = OpenApiRouter::new()
        .routes(routes!(join_room, leave_room))
        .routes((schemas, paths, beat.post(heartbeat)))
        .routes(routes!(client_online_users));
    signed(
        &rooms,
        OpenApiRouter::new().routes(routes!(server_online_users)),
    )
    .merge(client)
    .with_state(rooms)
}

/// Viewers online in a room, paged by user id.
#[utoipa::path(get, path = "/server/live/{live_id}/users", params(("live_id" = String, Path), PageQuery),
    responses((status = 200, body = Reply<Page<OnlineUser>>), (status = 400), (status = 401), (status = 404)))]
pub async fn server_online_users(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<OnlineUser>>, ApiError> {
    let ApiQuery(page) = query?;
    rooms.room(&live_id).await?;
    Ok(Reply::ok(rooms.online_page(&live_id, page).await?))
}

/// Joins a room that is created or live (leaving any other room the caller was in). A user
/// kicked from the room is refused until its kick runs out.
#[utoipa::path(post, path = "/client/live/room/user/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 403, description = "code 605: kicked from this room"), (status = 404), (status = 409, description = "code 601: the room ended")))]
pub async fn join_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    if room.status == RoomStatus::Ended {
        return Err(ended(&room));
    }
    rooms.check_not_kicked(&live_id, &caller.user_id).await?;
    rooms.live.join(&live_id, &caller.user_id).await?;
    rooms.live.online_count(&live_id).await?;
    rooms.viewed(&live_id).await;
    if let Err(error) = rooms.store.record_viewer(&live_id, &caller.user_id).await {
        tracing::warn!(%error, live_id, "cannot record a viewer");
    }
    Ok(Reply::ok(rooms.view(room)))
}

/// Leaves a room.
#[utoipa::path(delete, path = "/client/live/room/user/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<Object>), (status = 401), (status = 404)))]
pub async fn leave_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    if !rooms.live.leave(&live_id, &caller.user_id).await? {
        return Err(ApiError::not_found(format!("not in room {live_id}")));
    }
    Ok(Reply::ok(serde_json::json!({ "live_id": live_id })))
}

/// A viewer's heartbeat; the anchor's keeps its room while the stream is away. Answers the
/// room's state and counts, and when to beat next. A viewer not in the room (never joined, or
/// dropped after missing beats) gets 404 and joins again.
#[utoipa::path(get, path = "/client/live/room/heartbeat/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<HeartbeatView>), (status = 401), (status = 404)))]
pub async fn heartbeat(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<HeartbeatView>, ApiError> {
    let beating = rooms.live.heartbeat(&live_id, &caller.user_id).await?;
    if !beating {
        return Err(ApiError::not_found(format!(
            "not in room {live_id}: join it first"
        )));
    }
    let room = rooms.beat_room(&live_id).await?;
    let view = rooms.view(room);
    Ok(Reply::ok(HeartbeatView {
        live_id,
        live_status: view.live_status,
        stream_status: view.stream_status,
        online_count: view.online_count,
        viewer_count: view.viewer_count,
        next_interval_s: rooms.settings.presence.heartbeat_interval.as_secs(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnlineQuery {
    pub live_id: Option<String>,
    pub page_num: Option<usize>,
    pub page_size: Option<usize>,
}

/// Viewers online in a room, paged by user id.
#[utoipa::path(get, path = "/client/live/room/user_list", params(OnlineQuery), responses(
    (status = 200, body = Reply<Page<OnlineUser>>), (status = 400), (status = 401), (status = 404)))]
pub async fn client_online_users(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<OnlineQuery>, ApiError>,
) -> Result<Reply<Page<OnlineUser>>, ApiError> {
    let ApiQuery(query) = query?;
    let live_id = query
        .live_id
        .ok_or_else(|| ApiError::bad_request("live_id is required"))?;
    rooms.room(&live_id).await?;
    let page = PageQuery {
        page_num: query.page_num,
        page_size: query.page_size,
    };
    Ok(Reply::ok(rooms.online_page(&live_id, page).await?))
}
