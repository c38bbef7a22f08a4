//! Credentials in front of routes: a middleware that checks [`Credentials`] before any handler
//! runs, and answers 401 in the envelope of the routes it guards (livego's `{status, data}` for
//! livego's paths, `{request_id, code, message, data}` elsewhere).

use crate::auth::{Credentials, RequestParts};
use crate::{livego_reply, ApiError};
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest request body read to check its signature: the control API's requests carry their
/// parameters in the query, and the room API's JSON bodies are small.
pub const MAX_SIGNED_BODY: usize = 1 << 20;

/// Which envelope a refusal is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// livego's `{status, data}` body, for the paths kept from livego.
    Livego,
    /// The `/api` envelope `{request_id, code, message, data}` (see [`crate::ApiError`]).
    Api,
}

/// The credentials routes need, and how their refusals look.
#[derive(Debug, Clone)]
pub struct Gate {
    credentials: Arc<Credentials>,
    envelope: Envelope,
}

impl Gate {
    /// A gate that checks requests against `credentials` and writes refusals in `envelope`.
    pub fn new(credentials: Arc<Credentials>, envelope: Envelope) -> Gate {
        Gate {
            credentials,
            envelope,
        }
    }

    /// Every route of `router` behind this gate.
    pub fn guard<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        router.route_layer(axum::middleware::from_fn_with_state(self, check))
    }

    /// `router` behind this gate when `closed`, as it is otherwise.
    pub fn guard_if<S: Clone + Send + Sync + 'static>(
        self,
        closed: bool,
        router: Router<S>,
    ) -> Router<S> {
        if closed {
            self.guard(router)
        } else {
            router
        }
    }

    fn refuse(&self, error: ApiError) -> Response {
        let mut response = match self.envelope {
            Envelope::Livego => livego_reply(error.status, error.message),
            Envelope::Api => error.into_response(),
        };
        // RFC 9110 §11.6.1: a 401 names the scheme it wants.
        if response.status() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"liverelay\""),
            );
        }
        response
    }
}

async fn check(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let (parts, body) = match buffer_body(request, MAX_SIGNED_BODY).await {
        Ok(split) => split,
        Err(error) => return gate.refuse(error),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    if let Err(error) = signed_parts(&parts, &body, |signed| gate.credentials.verify(signed, now)) {
        tracing::debug!(%error, path = parts.uri.path(), "refused a control request");
        return gate.refuse(error.into());
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// The request's head and its whole body, at most `max` bytes (413 beyond): a signature covers
/// the body, so it is read before the signature is checked and handed on afterwards.
pub async fn buffer_body(request: Request, max: usize) -> Result<(Parts, Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    match to_bytes(body, max).await {
        Ok(body) => Ok((parts, body)),
        Err(_) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request bodies are at most {max} bytes"),
        )),
    }
}

/// Runs `check` on the request as the signature schemes see it.
pub fn signed_parts<T>(
    parts: &Parts,
    body: &[u8],
    check: impl FnOnce(&RequestParts<'_>) -> T,
) -> T {
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    check(&RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    })
}
