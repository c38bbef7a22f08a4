//! CORS for browser clients of the live-room API: pages served from the origins in
//! `cors_allow_origins` may call `/client/*` (the event stream included) with `fetch`, with an
//! `Authorization` header, which makes the browser ask first (a preflight `OPTIONS`).
//!
//! Only `/client/*`: `/server` is called by the app's back end, `/admin` by operators' tools,
//! neither from a page. The headers are tower-http's [`CorsLayer`], echoing the request's
//! origin once it is in the list (never `*`, which browsers refuse with credentials); a request
//! from any other origin, or under another path, passes through untouched, so it gets no CORS
//! header and its preflight is answered as the router answers `OPTIONS` (405). A preflight from
//! an allowed origin is answered here, before any route or credential check (browsers send it
//! without credentials), with 204.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE, ORIGIN, VARY,
};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use relay_node::NodeError;
use std::sync::Arc;
use std::time::Duration;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The path prefix CORS applies to.
const CLIENT_PREFIX: &str = "/client/";
/// How long a browser may keep a preflight's answer.
const MAX_AGE: Duration = Duration::from_secs(600);
/// What `cors_allow_origins` calls any origin.
const ANY_ORIGIN: &str = "*";

/// The origins allowed to call `/client/*` from a page (`cors_allow_origins`).
#[derive(Debug, Clone)]
pub struct ClientCors {
    /// `"*"` was listed: every origin is echoed.
    any: bool,
    origins: Vec<HeaderValue>,
}

impl ClientCors {
    /// The origins of `key` (`cors_allow_origins`): each `"*"` or `http(s)://HOST[:PORT]`, as
    /// browsers send it in `Origin` (no path, no trailing slash). `None` for an empty list: no
    /// CORS at all.
    pub fn parse(key: &str, list: &[String]) -> Result<Option<ClientCors>, NodeError> {
        if list.is_empty() {
            return Ok(None);
        }
        let mut cors = ClientCors {
            any: false,
            origins: Vec::with_capacity(list.len()),
        };
        for origin in list {
            if origin == ANY_ORIGIN {
                cors.any = true;
                continue;
            }
            let refused = || {
                NodeError::bad_value(
                    key,
                    format!(
                        "{origin:?} is not an origin: \"*\" or http(s)://HOST[:PORT], lower case, \
                         without a path"
                    ),
                )
            };
            let (scheme, host) = origin.split_once("://").ok_or_else(refused)?;
            let host_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:[]".contains(&b));
            if !matches!(scheme, "http" | "https") || !host_ok {
                return Err(refused());
            }
            cors.origins
                .push(HeaderValue::from_str(origin).map_err(|_| refused())?);
        }
        Ok(Some(cors))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.any || self.origins.contains(origin)
    }
}

/// `router` with CORS on `/client/*` for `cors`'s origins; `router` itself when `None`.
pub fn with_cors(router: Router, cors: Option<ClientCors>) -> Router {
    match cors {
        None => router,
        Some(cors) => router.layer(axum::middleware::from_fn_with_state(
            Arc::new(cors),
            client_cors,
        )),
    }
}

/// The headers tower-http adds for an allowed origin.
fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(MAX_AGE)
        .vary([ORIGIN])
}

async fn client_cors(
    State(cors): State<Arc<ClientCors>>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with(CLIENT_PREFIX) {
        return next.run(request).await;
    }
    let allowed = request
        .headers()
        .get(ORIGIN)
        .is_some_and(|origin| cors.allows(origin));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    // tower-http takes every OPTIONS for a preflight: a bare one goes to the router.
    if !allowed || (request.method() == Method::OPTIONS && !preflight) {
        let mut response = next.run(request).await;
        // The answer would differ for an allowed origin: caches must key on it.
        response
            .headers_mut()
            .append(VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let Ok(mut response) = cors_layer().layer(next).oneshot(request).await;
    if preflight {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(origins: &[&str]) -> Vec<String> {
        origins.iter().map(|o| o.to_string()).collect()
    }

    #[test]
    fn origins_are_checked_at_start() {
        assert!(ClientCors::parse("k", &[]).unwrap().is_none());
        let cors = ClientCors::parse(
            "k",
            &list(&["https://app.example", "http://127.0.0.1:8080"]),
        )
        .unwrap()
        .unwrap();
        assert!(cors.allows(&HeaderValue::from_static("https://app.example")));
        assert!(cors.allows(&HeaderValue::from_static("http://127.0.0.1:8080")));
        assert!(!cors.allows(&HeaderValue::from_static("https://app.example:8443")));
        assert!(!cors.allows(&HeaderValue::from_static("null")));
        let any = ClientCors::parse("k", &list(&["*"])).unwrap().unwrap();
        assert!(any.allows(&HeaderValue::from_static("https://elsewhere")));
        for bad in [
            "app.example",
            "https://app.example/",
            "ftp://x",
            "https://",
            "https://App.example",
            "https://a b",
        ] {
            let error = ClientCors::parse("cloud.cors_allow_origins", &list(&[bad]))
                .unwrap_err()
                .to_string();
            assert!(error.contains("cloud.cors_allow_origins"), "{bad}: {error}");
        }
    }
}
