//! Who is calling: the app's server (a signed request, checked by [`server_signature`] before
//! any `/server` handler runs), a client ([`ClientCaller`], a JWT), an admin ([`AdminCaller`], a
//! JWT with role admin), or a reader of one room's event stream ([`StreamCaller`]: a client JWT,
//! or the room's event-stream token in the query string).
//!
//! A browser's `EventSource` (and `WebSocket`) cannot send an `Authorization` header, so the
//! event stream also takes a token in its URL. URLs end up in logs and histories, so that token
//! is not a client token: it is minted for one room for a minute or so (`events_token_ttl_s`) and
//! carries a `Role` of its own, [`STREAM_ROLE_PREFIX`] and the room's id. It is the same HS256
//! JWT under `jwt_key` as every client token (one signer), and [`ClientCaller`] refuses it, so
//! it opens nothing but its room's stream; a client token in a URL is refused in turn.

use crate::clock::unix_s;
use crate::state::Rooms;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::extract::{Path, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use relay_control::auth::{jwt, Claims};
use relay_control::{buffer_body, signed_parts, ApiError, MAX_SIGNED_BODY};
use serde::Deserialize;
use std::sync::Arc;

/// The start of an event-stream token's `Role`; the room's id follows. No client or admin token
/// has a role like it (the app's server mints those with roles "" and "admin").
pub const STREAM_ROLE_PREFIX: &str = "room-events:";

/// Middleware of the `/server` group: reads the body, checks the request's signature and date,
/// then hands the request on with its body. A no-op with `server_auth: false`.
pub async fn server_signature(
    State(rooms): State<Arc<Rooms>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(auth) = rooms.settings.server_auth.as_ref() else {
        return next.run(request).await;
    };
    let (parts, body) = match buffer_body(request, MAX_SIGNED_BODY).await {
        Ok(split) => split,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = signed_parts(&parts, &body, |signed| auth.verify(signed, unix_s())) {
        tracing::debug!(%error, path = parts.uri.path(), "refused a server request");
        return ApiError::from(error).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// The claims of the request's `Authorization` token, which must not be an event-stream token.
fn claims(parts: &Parts, rooms: &Rooms) -> Result<Claims, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let claims = jwt::verify(&rooms.settings.jwt_key, token, unix_s())?;
    if claims.role.starts_with(STREAM_ROLE_PREFIX) {
        return Err(unauthorized(
            "an event-stream token opens only its room's event stream (?token=...)",
        ));
    }
    Ok(claims)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

/// The `Role` of the event-stream token of `live_id`.
pub fn stream_role(live_id: &str) -> String {
    format!("{STREAM_ROLE_PREFIX}{live_id}")
}

/// The claims of an event-stream token for `user_id` on `live_id`, issued at `now` (Unix s)
/// for `ttl_s` seconds.
pub fn stream_claims(user_id: &str, live_id: &str, now: i64, ttl_s: i64) -> Claims {
    Claims {
        exp: now.saturating_add(ttl_s),
        iat: Some(now),
        app_id: String::new(),
        user_id: user_id.to_owned(),
        device_id: String::new(),
        role: stream_role(live_id),
    }
}

/// Whether `claims` (of a token whose signature and expiry were checked) are those of an
/// event-stream token for `live_id`: a client token, an admin token or another room's stream
/// token is refused.
pub fn check_stream_claims(claims: &Claims, live_id: &str) -> Result<(), ApiError> {
    match claims.role.strip_prefix(STREAM_ROLE_PREFIX) {
        Some(room) if room == live_id => Ok(()),
        Some(_) => Err(unauthorized("this event-stream token is for another room")),
        None => Err(unauthorized(
            "the token in the query string must be an event-stream token \
             (POST /client/live/room/{live_id}/events/token); a client token goes in the \
             Authorization header",
        )),
    }
}

/// A client authenticated by its JWT.
pub struct ClientCaller {
    pub user_id: String,
}

impl FromRequestParts<Arc<Rooms>> for ClientCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rooms: &Arc<Rooms>) -> Result<Self, ApiError> {
        let claims = claims(parts, rooms)?;
        Ok(ClientCaller {
            user_id: claims.user_id,
        })
    }
}

/// An operator: a JWT with role admin (403 otherwise).
pub struct AdminCaller {
    pub user_id: String,
}

impl FromRequestParts<Arc<Rooms>> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rooms: &Arc<Rooms>) -> Result<Self, ApiError> {
        let claims = claims(parts, rooms)?;
        jwt::require_admin(&claims).map_err(ApiError::from)?;
        Ok(AdminCaller {
            user_id: claims.user_id,
        })
    }
}

/// A reader of one room's event stream: a client by its `Authorization` JWT, or, with
/// `?token=`, the holder of that room's event-stream token (see the module's notes). The route
/// must have the room's id as its only path parameter.
pub struct StreamCaller;

/// The event stream's query: the event-stream token, and where to resume (for clients that
/// cannot send `Last-Event-ID`, such as a WebSocket).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// An event-stream token of this room, in place of the `Authorization` header.
    pub token: Option<String>,
    /// The id of the last event seen, for clients that cannot send `Last-Event-ID` (a
    /// WebSocket).
    pub last_event_id: Option<String>,
}

impl FromRequestParts<Arc<Rooms>> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rooms: &Arc<Rooms>) -> Result<Self, ApiError> {
        let Query(query) = Query::<StreamQuery>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let Some(token) = query.token else {
            return ClientCaller::from_request_parts(parts, rooms)
                .await
                .map(|_| StreamCaller);
        };
        let Path(live_id) = Path::<String>::from_request_parts(parts, rooms)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let claims = jwt::verify(&rooms.settings.jwt_key, &token, unix_s())?;
        check_stream_claims(&claims, &live_id)?;
        Ok(StreamCaller)
    }
}

/// `routes` behind the server signature ([`server_signature`]); routes merged after it are not.
pub(crate) fn signed(
    rooms: &Arc<Rooms>,
    routes: utoipa_axum::router::OpenApiRouter<Arc<Rooms>>,
) -> utoipa_axum::router::OpenApiRouter<Arc<Rooms>> {
    routes.route_layer(axum::middleware::from_fn_with_state(
        rooms.clone(),
        server_signature,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_token_opens_only_its_room() {
        let claims = stream_claims("u1", "room-a", 1000, 60);
        assert_eq!((claims.exp, claims.iat), (1060, Some(1000)));
        assert_eq!(claims.role, "room-events:room-a");
        check_stream_claims(&claims, "room-a").unwrap();
        let other = check_stream_claims(&claims, "room-b").unwrap_err();
        assert_eq!((other.status, other.code), (StatusCode::UNAUTHORIZED, 401));
        assert!(other.message.contains("another room"), "{}", other.message);
        // A prefix of the room's id is another room.
        let longer = stream_claims("u1", "room-ab", 1000, 60);
        assert!(check_stream_claims(&longer, "room-a").is_err());
        for role in ["", "admin", "room-events", "room-a"] {
            let client = Claims {
                role: role.to_owned(),
                ..claims.clone()
            };
            let refused = check_stream_claims(&client, "room-a").unwrap_err();
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{role:?}");
            assert!(refused.message.contains("event-stream token"), "{role:?}");
        }
    }

    #[test]
    fn a_stream_token_never_expires_past_the_end_of_time() {
        assert_eq!(stream_claims("u", "r", i64::MAX - 1, 60).exp, i64::MAX);
    }
}
