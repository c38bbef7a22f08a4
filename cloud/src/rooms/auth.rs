//! Who is calling: the app's server (a signed request, checked by [`server_signature`] before
//! any `/server` handler runs), a client ([`ClientCaller`], a JWT), or an admin
//! ([`AdminCaller`], a JWT with role admin).

use super::{unix_s, Rooms};
use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use relay_control::auth::{jwt, Claims, RequestParts};
use relay_control::ApiError;
use std::sync::Arc;

/// Largest `/server` request body read for its signature.
const MAX_SIGNED_BODY: usize = 1 << 20;

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
    let (parts, body) = request.into_parts();
    let body = match to_bytes(body, MAX_SIGNED_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!("request bodies are at most {MAX_SIGNED_BODY} bytes"),
            )
            .into_response()
        }
    };
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let signed = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    if let Err(error) = auth.verify(&signed, unix_s()) {
        tracing::debug!(%error, path = parts.uri.path(), "refused a server request");
        return ApiError::from(error).into_response();
    }
    drop(headers);
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
