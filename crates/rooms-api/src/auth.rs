//! Who is calling: the app's server (a signed request, checked by [`server_signature`] before
//! any `/server` handler runs), a client ([`ClientCaller`], a JWT), or an admin
//! ([`AdminCaller`], a JWT with role admin).

use crate::clock::unix_s;
use crate::state::Rooms;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use relay_control::auth::{jwt, Claims};
use relay_control::{buffer_body, signed_parts, ApiError, MAX_SIGNED_BODY};
use std::sync::Arc;

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

fn claims(parts: &Parts, rooms: &Rooms) -> Result<Claims, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    jwt::verify(&rooms.settings.jwt_key, token, unix_s()).map_err(ApiError::from)
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
