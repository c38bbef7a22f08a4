//! Rooms: created, read, listed, started, stopped and deleted by the app's back end (`/server`,
//! signed; its views carry the push URL), by operators (`/admin`), and by apps (`/client`, a
//! JWT: anyone may read rooms, only a room's anchor may start, stop or delete it or see its push
//! URL); and what a room drew (`stats`).

use crate::auth::{signed, AdminCaller, ClientCaller};
use crate::error::{store_error, CODE_BAD_STATE};
use crate::list_query::ListQuery;
use crate::state::Rooms;
use crate::views::{LiveInfo, RoomStatsView};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use relay_control::{ApiError, ApiJson, ApiQuery, Page, PageQuery, Reply};
use relay_rooms::{Extends, NewRoom, Room, RoomStatus, StopReason};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The room routes of `/server` (behind the server signature), `/admin` and `/client`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    let server = OpenApiRouter::new()
        .routes(routes!(server_create_room, server_list_rooms))
        .routes(routes!(server_room_info, server_delete_room))
        .routes(routes!(server_start_room))
        .routes(routes!(server_stop_room))
        .routes(routes!(server_room_stats));
    let admin = OpenApiRouter::new()
        .routes(routes!(admin_list_rooms))
        .routes(routes!(admin_stop_room));
    let client = OpenApiRouter::new()
        .routes(routes!(client_create_room))
        .routes(routes!(client_delete_room))
        .routes(routes!(client_room_info))
        .routes(routes!(client_list_rooms))
        .routes(routes!(own_rooms))
        .routes(routes!(search_rooms))
        .routes(routes!(client_start_room, client_stop_room))
        .routes(routes!(push_url))
        .routes(routes!(client_room_stats));
    signed(&rooms, server)
        .merge(admin)
        .merge(client)
        .with_state(rooms)
}

/// A room to create; `anchor_id` only from the server (a client creates for itself).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomBody {
    pub anchor_id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub notice: String,
    #[serde(default)]
    pub cover_url: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub extends: Extends,
    /// Announced start and end, Unix ms.
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
    /// When the room expires if never started, Unix ms (default: `end_at`, else a day).
    pub expire_at: Option<i64>,
}

const MAX_TITLE_CHARS: usize = 200;

impl RoomBody {
    pub fn into_new_room(self, anchor_id: String) -> Result<NewRoom, ApiError> {
        let title = self.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(ApiError::bad_request(format!(
                "title must be 1 to {MAX_TITLE_CHARS} characters"
            )));
        }
        if let (Some(start), Some(end)) = (self.start_at, self.end_at) {
            if end <= start {
                return Err(ApiError::bad_request("end_at must be after start_at"));
            }
        }
        Ok(NewRoom {
            anchor_id,
            title,
            notice: self.notice,
            cover_url: self.cover_url,
            extends: self.extends,
            start_at: self.start_at,
            end_at: self.end_at,
            expire_at: self.expire_at,
        })
    }
}

/// Creates a room for a registered anchor; the answer carries the push URL.
#[utoipa::path(post, path = "/server/live", request_body = RoomBody, responses(
    (status = 200, body = Reply<LiveInfo>), (status = 400), (status = 401),
    (status = 403, description = "code 604: the anchor is banned"), (status = 404)))]
pub async fn server_create_room(
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<RoomBody>, ApiError>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let ApiJson(body) = body?;
    let anchor_id = body
        .anchor_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("anchor_id is required"))?;
    let room = rooms.create(body.into_new_room(anchor_id)?).await?;
    Ok(Reply::ok(rooms.owner_view(room)?))
}

/// One room, with its push URL.
#[utoipa::path(get, path = "/server/live/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 404)))]
pub async fn server_room_info(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    Ok(Reply::ok(rooms.owner_view(room)?))
}

/// Starts a created room.
#[utoipa::path(post, path = "/server/live/{live_id}/start", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 403, description = "code 604: the anchor is banned"), (status = 404), (status = 409, description = "code 601: not in a state that can start")))]
pub async fn server_start_room(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    let started = rooms.start(&room).await?;
    Ok(Reply::ok(rooms.owner_view(started)?))
}

/// Ends a live room (reason `server`).
#[utoipa::path(post, path = "/server/live/{live_id}/stop", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 404), (status = 409, description = "code 601: not live")))]
pub async fn server_stop_room(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    let stopped = rooms.stop(&room, StopReason::Server).await?;
    Ok(Reply::ok(rooms.view(stopped)))
}

/// Deletes a room (ending it first when live).
#[utoipa::path(delete, path = "/server/live/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<Object>), (status = 401), (status = 404)))]
pub async fn server_delete_room(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let room = rooms.room(&live_id).await?;
    rooms.delete(&room).await?;
    Ok(Reply::ok(serde_json::json!({ "live_id": live_id })))
}

/// Rooms, paged, with their push URLs.
#[utoipa::path(get, path = "/server/live", params(ListQuery), responses(
    (status = 200, body = Reply<Page<LiveInfo>>), (status = 400), (status = 401)))]
pub async fn server_list_rooms(
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<ListQuery>, ApiError>,
) -> Result<Reply<Page<LiveInfo>>, ApiError> {
    let ApiQuery(query) = query?;
    let page = rooms.list(&query).await?;
    Ok(Reply::ok(page.try_map(|room| rooms.owner_view(room))?))
}

/// Every room, paged, for operators (no push URLs).
#[utoipa::path(get, path = "/admin/live", params(ListQuery), responses(
    (status = 200, body = Reply<Page<LiveInfo>>), (status = 400), (status = 401), (status = 403)))]
pub async fn admin_list_rooms(
    _admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<ListQuery>, ApiError>,
) -> Result<Reply<Page<LiveInfo>>, ApiError> {
    let ApiQuery(query) = query?;
    Ok(Reply::ok(rooms.list_views(&query).await?))
}

/// An operator's optional word on a stop.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminStopBody {
    /// Kept with the room as its `stop_note` (at most 500 characters); `stop_reason` stays
    /// `admin`.
    pub reason: Option<String>,
}

/// Ends a live room (reason `admin`); an optional body `{"reason": "..."}` is kept as the
/// room's `stop_note`.
#[utoipa::path(post, path = "/admin/live/{live_id}/stop", params(("live_id" = String, Path)),
    request_body(content = Option<AdminStopBody>, description = "optional"),
    responses((status = 200, body = Reply<LiveInfo>), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)))]
pub async fn admin_stop_room(
    admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Reply<LiveInfo>, ApiError> {
    let body: AdminStopBody = if body.iter().all(u8::is_ascii_whitespace) {
        AdminStopBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))?
    };
    let room = rooms.room(&live_id).await?;
    let note = body.reason.as_deref().filter(|note| !note.is_empty());
    let stopped = rooms.stop_noted(&room, StopReason::Admin, note).await?;
    tracing::info!(
        live_id,
        admin = admin.user_id,
        note,
        "room stopped by an admin"
    );
    Ok(Reply::ok(rooms.view(stopped)))
}

/// A room's statistics.
#[utoipa::path(get, path = "/server/live/{live_id}/stats", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<RoomStatsView>), (status = 401), (status = 404)))]
pub async fn server_room_stats(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<RoomStatsView>, ApiError> {
    let room = rooms.room(&live_id).await?;
    Ok(Reply::ok(rooms.stats(room).await?))
}

/// 403 unless `caller` is `room`'s anchor.
pub(crate) fn anchor_only(
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
#[utoipa::path(post, path = "/client/live/room/instance", request_body = RoomBody, responses(
    (status = 200, body = Reply<LiveInfo>), (status = 400), (status = 401),
    (status = 403, description = "code 604: the caller is a banned anchor")))]
pub async fn client_create_room(
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
#[utoipa::path(get, path = "/client/live/room/info/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 404)))]
pub async fn client_room_info(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    rooms.viewed(&live_id).await;
    Ok(Reply::ok(rooms.view(room)))
}

/// Rooms by status (live first, then created, then ended), paged.
#[utoipa::path(get, path = "/client/live/room/list", params(ListQuery), responses(
    (status = 200, body = Reply<Page<LiveInfo>>), (status = 400), (status = 401)))]
pub async fn client_list_rooms(
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
#[utoipa::path(put, path = "/client/live/room/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 403, description = "not the anchor; code 604: the anchor is banned"), (status = 404), (status = 409, description = "code 601")))]
pub async fn client_start_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    anchor_only(&caller, &room, "start")?;
    let started = rooms.start(&room).await?;
    rooms.live.join(&live_id, &caller.user_id).await?;
    Ok(Reply::ok(rooms.owner_view(started)?))
}

/// The anchor stops its room (reason `anchor`).
#[utoipa::path(delete, path = "/client/live/room/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 403), (status = 404), (status = 409, description = "code 601")))]
pub async fn client_stop_room(
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
#[utoipa::path(delete, path = "/client/live/room/instance/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<Object>), (status = 401), (status = 403), (status = 404)))]
pub async fn client_delete_room(
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

pub(crate) fn ended(room: &Room) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("room {} has ended", room.live_id),
    )
    .with_code(CODE_BAD_STATE)
}

/// The anchor's statistics of its room.
#[utoipa::path(get, path = "/client/live/room/{live_id}/stats", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<RoomStatsView>), (status = 401), (status = 403), (status = 404)))]
pub async fn client_room_stats(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<RoomStatsView>, ApiError> {
    let room = rooms.room(&live_id).await?;
    anchor_only(&caller, &room, "read the statistics of")?;
    Ok(Reply::ok(rooms.stats(room).await?))
}
