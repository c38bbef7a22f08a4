//! `X-Reqid`: a caller's request id is honoured and echoed, and one is made up when missing, so
//! a line in a client's log can be matched with the node's answer.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;

/// The request-id header (`X-Reqid`), read from requests and set on every answer.
pub const REQUEST_ID_HEADER: &str = "x-reqid";
/// Longer caller ids are replaced: they end up in every answer and log line.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being answered.
pub struct RequestId;

impl RequestId {
    /// The current request's id, or "" outside [`request_id_layer`].
    pub fn current() -> String {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    /// The id a request with `headers` is answered under: the caller's if acceptable, else a
    /// new one.
    pub fn of_headers(headers: &axum::http::HeaderMap) -> String {
        headers
            .get(REQUEST_ID_HEADER)
            .and_then(RequestId::acceptable)
            .unwrap_or_else(RequestId::generate)
    }

    fn acceptable(value: &HeaderValue) -> Option<String> {
        let text = value.to_str().ok()?;
        let fits = !text.is_empty()
            && text.len() <= MAX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        fits.then(|| text.to_owned())
    }

    fn generate() -> String {
        let value: u128 = rand::rng().random();
        format!("{:024x}", value >> 32)
    }
}

/// Middleware (`axum::middleware::from_fn(request_id_layer)`): runs the handler with the
/// request's id in scope and sets it on the response.
pub async fn request_id_layer(request: Request, next: Next) -> Response {
    let id = RequestId::of_headers(request.headers());
    let mut response = CURRENT.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
