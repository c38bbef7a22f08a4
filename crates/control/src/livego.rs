//! livego's envelope, kept for the paths tools already call (`/stat/livestat`, `/control/...`,
//! the edge's `/stats/time`): `{status, data}` with the HTTP status equal to `status`, and CORS
//! open, as the relays before this one answered.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, Serialize)]
struct LivegoEnvelope<T> {
    status: u16,
    data: T,
}

/// An answer in livego's `{status, data}` envelope, sent with HTTP status `status` and open CORS
/// headers.
pub fn livego_reply<T: Serialize>(status: StatusCode, data: T) -> Response {
    let body = LivegoEnvelope {
        status: status.as_u16(),
        data,
    };
    with_cors((status, Json(body)).into_response())
}

/// Lets browser players and dashboards on other origins read the answer.
pub fn with_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    response
}
