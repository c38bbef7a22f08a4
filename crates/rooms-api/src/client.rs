//! `/client`: apps, authenticated by the JWT the app's server minted. Anyone may read rooms,
//! join, leave and beat; only a room's anchor may start, stop or delete it or see its push URL.

use super::auth::ClientCaller;
use super::server::{ListQuery, RoomBody};
use super::views::{HeartbeatView, LiveInfo, OnlineUser};
use super::{store_error, Rooms};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use relay_control::{ApiError, ApiJson, ApiQuery, Page, PageQuery, Reply};
use relay_rooms::{Room, RoomStatus, StopReason};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `/client/live/...` and `/client/gift/...`: rooms, the audience, events, likes and gifts.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    // A heartbeat is a GET (the vendor SDKs') or a POST; the document names the GET.
    let (schemas, paths, beat) = routes!(heartbeat);
    OpenApiRouter::new()
        .routes(routes!(create_room))
        .routes(routes!(delete_room))
        .routes(routes!(room_info))
        .routes(routes!(list_rooms))
        .routes(routes!(own_rooms))
        .routes(routes!(search_rooms))
        .routes(routes!(start_room, stop_room))
        .routes(routes!(push_url))
        .routes(routes!(join_room, leave_room))
        .routes((schemas, paths, beat.post(heartbeat)))
        .routes(routes!(online_users))
        .routes(routes!(room_events))
        .routes(routes!(like_room))
        .routes(routes!(room_stats))
        .merge(super::gifts::client_routes())
        .with_state(rooms)
}

/// 403 unless `caller` is `room`'s anchor.
pub(super) fn anchor_only(
    caller: &ClientCaller,
    room: &Room,
    action: &str,
) -> Result<(), ApiError> {
    if caller.user_id == room.anchor_id {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("only the room's anchor may {action} it"),
    ))
}

/// Creates a room with the caller as its anchor; the answer carries the push URL.
#[utoipa::path(post, operation_id = "client_create_room", path = "/client/live/room/instance", request_body = RoomBody, responses(
    (status = 200, body = Reply<LiveInfo>), (status = 400), (status = 401),
    (status = 403, description = "code 604: the caller is a banned anchor")))]
pub async fn create_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<RoomBody>, ApiError>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let ApiJson(body) = body?;
    if body
        .anchor_id
        .as_ref()
        .is_some_and(|id| *id != caller.user_id)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a client creates rooms for itself only",
        ));
    }
    let room = rooms.create(body.into_new_room(caller.user_id)?).await?;
    Ok(Reply::ok(rooms.owner_view(room)?))
}

/// One room (never with its push URL).
#[utoipa::path(get, operation_id = "client_room_info", path = "/client/live/room/info/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 404)))]
pub async fn room_info(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    rooms.viewed(&live_id);
    Ok(Reply::ok(rooms.view(room)))
}

/// Rooms by status (live first, then created, then ended), paged.
#[utoipa::path(get, operation_id = "client_list_rooms", path = "/client/live/room/list", params(ListQuery), responses(
    (status = 200, body = Reply<Page<LiveInfo>>), (status = 400), (status = 401)))]
pub async fn list_rooms(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<ListQuery>, ApiError>,
) -> Result<Reply<Page<LiveInfo>>, ApiError> {
    let ApiQuery(query) = query?;
    Ok(Reply::ok(rooms.list_views(&query).await?))
}

/// The caller's own rooms, newest first.
#[utoipa::path(get, path = "/client/live/room/list/anchor", params(PageQuery), responses(
    (status = 200, body = Reply<Page<LiveInfo>>), (status = 400), (status = 401)))]
pub async fn own_rooms(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<LiveInfo>>, ApiError> {
    let ApiQuery(page) = query?;
    let found = rooms
        .store
        .list_anchor_rooms(&caller.user_id, page)
        .await
        .map_err(store_error)?;
    Ok(Reply::ok(found.map(|room| rooms.view(room))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Matched against titles, room ids and anchors' nicks, ignoring case.
    pub keyword: Option<String>,
    pub page_num: Option<usize>,
    pub page_size: Option<usize>,
}

/// Rooms whose title, id or anchor's nick contains `keyword`.
#[utoipa::path(get, path = "/client/live/room", params(SearchQuery), responses(
    (status = 200, body = Reply<Page<LiveInfo>>), (status = 400), (status = 401)))]
pub async fn search_rooms(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<SearchQuery>, ApiError>,
) -> Result<Reply<Page<LiveInfo>>, ApiError> {
    let ApiQuery(query) = query?;
    let keyword = query
        .keyword
        .ok_or_else(|| ApiError::bad_request("keyword is required"))?;
    let page = PageQuery {
        page_num: query.page_num,
        page_size: query.page_size,
    };
    let found = rooms
        .store
        .search_rooms(&keyword, page)
        .await
        .map_err(store_error)?;
    Ok(Reply::ok(found.map(|room| rooms.view(room))))
}

/// The anchor starts its room; the answer carries the push URL.
#[utoipa::path(put, operation_id = "client_start_room", path = "/client/live/room/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 403, description = "not the anchor; code 604: the anchor is banned"), (status = 404), (status = 409, description = "code 601")))]
pub async fn start_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    anchor_only(&caller, &room, "start")?;
    let started = rooms.start(&room).await?;
    rooms
        .presence()
        .join(Instant::now(), &live_id, &caller.user_id);
    Ok(Reply::ok(rooms.owner_view(started)?))
}

/// The anchor stops its room (reason `anchor`).
#[utoipa::path(delete, operation_id = "client_stop_room", path = "/client/live/room/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 403), (status = 404), (status = 409, description = "code 601")))]
pub async fn stop_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    anchor_only(&caller, &room, "stop")?;
    let stopped = rooms.stop(&room, StopReason::Anchor).await?;
    Ok(Reply::ok(rooms.view(stopped)))
}

/// The anchor deletes its room (ending it first when live).
#[utoipa::path(delete, operation_id = "client_delete_room", path = "/client/live/room/instance/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<Object>), (status = 401), (status = 403), (status = 404)))]
pub async fn delete_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let room = rooms.room(&live_id).await?;
    anchor_only(&caller, &room, "delete")?;
    rooms.delete(&room).await?;
    Ok(Reply::ok(serde_json::json!({ "live_id": live_id })))
}

/// A freshly signed push URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushUrlView {
    pub push_url: String,
}

/// The anchor's push URL, signed now.
#[utoipa::path(get, path = "/client/live/room/{live_id}/push_url", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<PushUrlView>), (status = 401), (status = 403), (status = 404), (status = 409, description = "code 601: the room ended")))]
pub async fn push_url(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<PushUrlView>, ApiError> {
    let room = rooms.room(&live_id).await?;
    anchor_only(&caller, &room, "publish to")?;
    if room.status == RoomStatus::Ended {
        return Err(ended(&room));
    }
    Ok(Reply::ok(PushUrlView {
        push_url: rooms.push_url(&room)?,
    }))
}

fn ended(room: &Room) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("room {} has ended", room.live_id),
    )
    .with_code(super::CODE_BAD_STATE)
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
    rooms.check_not_kicked(&live_id, &caller.user_id)?;
    rooms
        .presence()
        .join(Instant::now(), &live_id, &caller.user_id);
    rooms.viewed(&live_id);
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
    if !rooms.presence().leave(&live_id, &caller.user_id) {
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
    let now = Instant::now();
    let beating = rooms.presence().heartbeat(now, &live_id, &caller.user_id);
    if !beating {
        return Err(ApiError::not_found(format!(
            "not in room {live_id}: join it first"
        )));
    }
    let room = rooms.room(&live_id).await?;
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
#[utoipa::path(get, operation_id = "client_online_users", path = "/client/live/room/user_list", params(OnlineQuery), responses(
    (status = 200, body = Reply<Page<OnlineUser>>), (status = 400), (status = 401), (status = 404)))]
pub async fn online_users(
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
    Ok(Reply::ok(rooms.online_page(
        &live_id,
        page,
        Instant::now(),
    )?))
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
    let subscription = rooms.events.subscribe(&live_id, last);
    let to_sse = |event: &super::events::RoomEvent| {
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
    let live = futures_util::stream::unfold(subscription.live, move |mut live| async move {
        match live.recv().await {
            Ok(event) => Some((to_sse(&event), live)),
            // Fell behind, or the room ended: the client reconnects with Last-Event-ID.
            Err(_) => None,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LikeBody {
    /// Likes in this request (taps batched by the client), 1 to 1000.
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LikeView {
    pub count: i64,
    /// The room's likes so far.
    pub total: i64,
}

/// Likes a live room (not one's own). Clients see the likes as one `like` event a second.
#[utoipa::path(put, path = "/client/live/room/{live_id}/like", request_body = LikeBody,
    params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LikeView>), (status = 400), (status = 401), (status = 403, description = "the anchor's own room"), (status = 404), (status = 409, description = "code 601: not live")))]
pub async fn like_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<LikeBody>, ApiError>,
) -> Result<Reply<LikeView>, ApiError> {
    let ApiJson(body) = body?;
    if !(1..=super::likes::MAX_LIKES_PER_REQUEST).contains(&body.count) {
        return Err(ApiError::bad_request(format!(
            "count must be 1 to {}",
            super::likes::MAX_LIKES_PER_REQUEST
        )));
    }
    let room = rooms.room(&live_id).await?;
    if room.anchor_id == caller.user_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "anchors cannot like their own room",
        ));
    }
    if room.status != RoomStatus::Live {
        return Err(
            ApiError::new(StatusCode::CONFLICT, format!("room {live_id} is not live"))
                .with_code(super::CODE_BAD_STATE),
        );
    }
    rooms.check_not_muted(&live_id, &caller.user_id)?;
    let total = rooms.like(&live_id, body.count).await?;
    Ok(Reply::ok(LikeView {
        count: body.count,
        total,
    }))
}

/// The anchor's statistics of its room.
#[utoipa::path(get, operation_id = "client_room_stats", path = "/client/live/room/{live_id}/stats", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<super::views::RoomStatsView>), (status = 401), (status = 403), (status = 404)))]
pub async fn room_stats(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<super::views::RoomStatsView>, ApiError> {
    let room = rooms.room(&live_id).await?;
    anchor_only(&caller, &room, "read the statistics of")?;
    Ok(Reply::ok(rooms.stats(room).await?))
}
