//! Users and tokens, for the app's back end (`/server`, every request signed): client and admin
//! tokens minted, users mirrored from the app (one, a batch, an update) and read back.

use crate::auth::signed;
use crate::clock::unix_s;
use crate::error::store_error;
use crate::state::Rooms;
use crate::views::{TokenView, UserView};
use axum::extract::{Path, State};
use relay_control::auth::jwt::{self, ADMIN_ROLE};
use relay_control::auth::Claims;
use relay_control::{ApiError, ApiJson, ApiQuery, Reply};
use relay_rooms::{BatchRegistered, Extends, NewUser, UserUpdate};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `/server/auth/...` and `/server/user/...`, behind the server signature.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    let server = OpenApiRouter::new()
        .routes(routes!(client_token))
        .routes(routes!(admin_token))
        .routes(routes!(register_user))
        .routes(routes!(register_users))
        .routes(routes!(update_user))
        .routes(routes!(user_info));
    signed(&rooms, server).with_state(rooms)
}

/// Client tokens live a day unless the server asks otherwise, and at most 30 days.
const DEFAULT_TOKEN_LIFETIME_S: i64 = 24 * 3600;
const MAX_TOKEN_LIFETIME_S: i64 = 30 * 24 * 3600;

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
