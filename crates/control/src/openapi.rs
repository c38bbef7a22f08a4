//! Serves a node's OpenAPI document, generated from the Rust types with `utoipa` at start-up.
//! No UI bundle is served (it would have to be downloaded at build time); any OpenAPI viewer
//! can read `/api/openapi.json`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// A handler answering `document` (already serialised once, at start-up).
pub fn serve_openapi(
    document: &utoipa::openapi::OpenApi,
) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    let json: Arc<str> = document
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
        .into();
    move || {
        let mut response = json.to_string().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        std::future::ready(crate::with_cors(response))
    }
}
