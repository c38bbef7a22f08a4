//! `/server`: the app's back end, every request signed (see [`super::auth::server_signature`]).
//! Mints client tokens, mirrors users, and manages rooms on the anchors' behalf; its room views
//! carry the push URL. Also `/admin`, for operators holding an admin token.

use super::auth::{server_signature, AdminCaller};
use super::views::{LiveInfo, OnlineUser, TokenView, UserView};
use super::{store_error, unix_s, Rooms};
use axum::extract::{Path, State};
use relay_control::auth::jwt::{self, ADMIN_ROLE};
use relay_control::auth::Claims;
use relay_control::{ApiError, ApiJson, ApiQuery, Page, PageQuery, Reply};
use relay_rooms::{BatchRegistered, Extends, NewRoom, NewUser, RoomStatus, StopReason, UserUpdate};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Client tokens live a day unless the server asks otherwise, and at most 30 days.
const DEFAULT_TOKEN_LIFETIME_S: i64 = 24 * 3600;
const MAX_TOKEN_LIFETIME_S: i64 = 30 * 24 * 3600;

/// `/server` (behind the server signature) and `/admin`: users, tokens, rooms and gifts.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    let server = OpenApiRouter::new()
        .routes(routes!(client_token))
        .routes(routes!(admin_token))
        .routes(routes!(register_user))
        .routes(routes!(register_users))
        .routes(routes!(update_user))
        .routes(routes!(user_info))
        .routes(routes!(create_room, list_rooms))
        .routes(routes!(room_info, delete_room))
        .routes(routes!(start_room))
        .routes(routes!(stop_room))
        .routes(routes!(online_users))
        .routes(routes!(room_stats))
        .merge(super::gifts::server_routes())
        .route_layer(axum::middleware::from_fn_with_state(
            rooms.clone(),
            server_signature,
        ));
    let admin = OpenApiRouter::new()
        .routes(routes!(admin_list_rooms))
        .routes(routes!(admin_stop_room))
        .merge(super::gifts::admin_routes());
    server.merge(admin).with_state(rooms)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    pub app_id: Option<String>,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    /// Unix seconds; 0 or absent: a day from now; at most 30 days.
    pub expires_at: Option<i64>,
}

fn mint(rooms: &Rooms, query: TokenQuery, role: &str) -> Result<(String, TokenView), ApiError> {
    let user_id = query
        .user_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("user_id is required"))?;
    let now = unix_s();
    let exp = match query.expires_at {
        None | Some(0) => now + DEFAULT_TOKEN_LIFETIME_S,
        Some(at) if at > now && at <= now + MAX_TOKEN_LIFETIME_S => at,
        Some(_) => {
            return Err(ApiError::bad_request(
                "expires_at must be in the next 30 days (Unix seconds)",
            ))
        }
    };
    let claims = Claims {
        exp,
        iat: Some(now),
        app_id: query.app_id.unwrap_or_default(),
        user_id: user_id.clone(),
        device_id: query.device_id.unwrap_or_default(),
        role: role.to_owned(),
    };
    let token = jwt::mint(&rooms.settings.jwt_key, &claims);
    Ok((
        user_id,
        TokenView {
            access_token: token,
            expires_at: exp,
        },
    ))
}

/// A client token for `user_id`; the user is registered (with no nick) if the app has not yet.
#[utoipa::path(get, path = "/server/auth/token", params(TokenQuery), responses(
    (status = 200, body = Reply<TokenView>), (status = 400), (status = 401)))]
pub async fn client_token(
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<TokenQuery>, ApiError>,
) -> Result<Reply<TokenView>, ApiError> {
    let ApiQuery(query) = query?;
    let (user_id, token) = mint(&rooms, query, "")?;
    if rooms
        .store
        .get_user(&user_id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        let user = NewUser {
            user_id,
            ..NewUser::default()
        };
        match rooms.store.register_user(&user).await {
            Ok(_) => {}
            Err(error) if error.code() == "exists" => {}
            Err(error) => return Err(store_error(error)),
        }
    }
    Ok(Reply::ok(token))
}

/// An admin token (role admin) for the `/admin` group.
#[utoipa::path(get, path = "/server/auth/admin/token", params(TokenQuery), responses(
    (status = 200, body = Reply<TokenView>), (status = 400), (status = 401)))]
pub async fn admin_token(
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<TokenQuery>, ApiError>,
) -> Result<Reply<TokenView>, ApiError> {
    let ApiQuery(query) = query?;
    Ok(Reply::ok(mint(&rooms, query, ADMIN_ROLE)?.1))
}

/// A user as the app registers it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    pub user_id: String,
    #[serde(default)]
    pub nick: String,
    #[serde(default)]
    pub avatar: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub extends: Extends,
}

impl From<UserBody> for NewUser {
    fn from(body: UserBody) -> Self {
        NewUser {
            user_id: body.user_id,
            nick: body.nick,
            avatar: body.avatar,
            extends: body.extends,
        }
    }
}

/// Registers one user; 409 code 600 if the id exists.
#[utoipa::path(post, path = "/server/user/register", request_body = UserBody, responses(
    (status = 200, body = Reply<UserView>), (status = 400), (status = 401), (status = 409)))]
pub async fn register_user(
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<UserBody>, ApiError>,
) -> Result<Reply<UserView>, ApiError> {
    let ApiJson(body) = body?;
    let user = rooms
        .store
        .register_user(&body.into())
        .await
        .map_err(store_error)?;
    Ok(Reply::ok(user.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersBody {
    pub users: Vec<UserBody>,
}

/// Registers up to 200 users at once; ids already there are listed and left as they are.
#[utoipa::path(post, path = "/server/user/register/batch", request_body = UsersBody, responses(
    (status = 200, body = Reply<Object>), (status = 400), (status = 401)))]
pub async fn register_users(
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<UsersBody>, ApiError>,
) -> Result<Reply<BatchRegistered>, ApiError> {
    let ApiJson(body) = body?;
    let users: Vec<NewUser> = body.users.into_iter().map(NewUser::from).collect();
    let done = rooms
        .store
        .register_users(&users)
        .await
        .map_err(store_error)?;
    Ok(Reply::ok(done))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateBody {
    pub nick: Option<String>,
    pub avatar: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extends: Option<Extends>,
}

/// Updates the fields given.
#[utoipa::path(put, path = "/server/user/{user_id}", request_body = UserUpdateBody,
    params(("user_id" = String, Path)),
    responses((status = 200, body = Reply<UserView>), (status = 400), (status = 401), (status = 404)))]
pub async fn update_user(
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
    body: Result<ApiJson<UserUpdateBody>, ApiError>,
) -> Result<Reply<UserView>, ApiError> {
    let ApiJson(body) = body?;
    let update = UserUpdate {
        nick: body.nick,
        avatar: body.avatar,
        extends: body.extends,
    };
    let user = rooms
        .store
        .update_user(&user_id, &update)
        .await
        .map_err(store_error)?;
    Ok(Reply::ok(user.into()))
}

/// One user.
#[utoipa::path(get, path = "/server/user/info/{user_id}", params(("user_id" = String, Path)),
    responses((status = 200, body = Reply<UserView>), (status = 401), (status = 404)))]
pub async fn user_info(
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
) -> Result<Reply<UserView>, ApiError> {
    let user = rooms
        .store
        .get_user(&user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("user {user_id} not found")))?;
    Ok(Reply::ok(user.into()))
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
#[utoipa::path(post, operation_id = "server_create_room", path = "/server/live", request_body = RoomBody, responses(
    (status = 200, body = Reply<LiveInfo>), (status = 400), (status = 401),
    (status = 403, description = "code 604: the anchor is banned"), (status = 404)))]
pub async fn create_room(
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
#[utoipa::path(get, operation_id = "server_room_info", path = "/server/live/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 404)))]
pub async fn room_info(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    Ok(Reply::ok(rooms.owner_view(room)?))
}

/// Starts a created room.
#[utoipa::path(post, operation_id = "server_start_room", path = "/server/live/{live_id}/start", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 403, description = "code 604: the anchor is banned"), (status = 404), (status = 409, description = "code 601: not in a state that can start")))]
pub async fn start_room(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    let started = rooms.start(&room).await?;
    Ok(Reply::ok(rooms.owner_view(started)?))
}

/// Ends a live room (reason `server`).
#[utoipa::path(post, operation_id = "server_stop_room", path = "/server/live/{live_id}/stop", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LiveInfo>), (status = 401), (status = 404), (status = 409, description = "code 601: not live")))]
pub async fn stop_room(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<LiveInfo>, ApiError> {
    let room = rooms.room(&live_id).await?;
    let stopped = rooms.stop(&room, StopReason::Server).await?;
    Ok(Reply::ok(rooms.view(stopped)))
}

/// Deletes a room (ending it first when live).
#[utoipa::path(delete, operation_id = "server_delete_room", path = "/server/live/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<Object>), (status = 401), (status = 404)))]
pub async fn delete_room(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let room = rooms.room(&live_id).await?;
    rooms.delete(&room).await?;
    Ok(Reply::ok(serde_json::json!({ "live_id": live_id })))
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// created, live or ended; absent: all (live first, then created, then ended).
    pub status: Option<String>,
    pub page_num: Option<usize>,
    pub page_size: Option<usize>,
}

impl ListQuery {
    pub fn statuses(&self) -> Result<Vec<RoomStatus>, ApiError> {
        match self.status.as_deref() {
            None | Some("") => Ok(Vec::new()),
            Some("created") => Ok(vec![RoomStatus::Created]),
            Some("live") => Ok(vec![RoomStatus::Live]),
            Some("ended") => Ok(vec![RoomStatus::Ended]),
            Some(other) => Err(ApiError::bad_request(format!(
                "status must be created, live or ended, not {other:?}"
            ))),
        }
    }

    pub fn page(&self) -> PageQuery {
        PageQuery {
            page_num: self.page_num,
            page_size: self.page_size,
        }
    }
}

/// Rooms, paged, with their push URLs.
#[utoipa::path(get, operation_id = "server_list_rooms", path = "/server/live", params(ListQuery), responses(
    (status = 200, body = Reply<Page<LiveInfo>>), (status = 400), (status = 401)))]
pub async fn list_rooms(
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<ListQuery>, ApiError>,
) -> Result<Reply<Page<LiveInfo>>, ApiError> {
    let ApiQuery(query) = query?;
    let page = rooms.list(&query).await?;
    Ok(Reply::ok(page.try_map(|room| rooms.owner_view(room))?))
}

/// Viewers online in a room, paged by user id.
#[utoipa::path(get, operation_id = "server_online_users", path = "/server/live/{live_id}/users", params(("live_id" = String, Path), PageQuery),
    responses((status = 200, body = Reply<Page<OnlineUser>>), (status = 400), (status = 401), (status = 404)))]
pub async fn online_users(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<OnlineUser>>, ApiError> {
    let ApiQuery(page) = query?;
    rooms.room(&live_id).await?;
    Ok(Reply::ok(rooms.online_page(
        &live_id,
        page,
        Instant::now(),
    )?))
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
#[utoipa::path(get, operation_id = "server_room_stats", path = "/server/live/{live_id}/stats", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<super::views::RoomStatsView>), (status = 401), (status = 404)))]
pub async fn room_stats(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<super::views::RoomStatsView>, ApiError> {
    let room = rooms.room(&live_id).await?;
    Ok(Reply::ok(rooms.stats(room).await?))
}
