//! The envelope of every `/api/...` answer: `{request_id, code, message, data}`, `code` 0 on
//! success and the HTTP status otherwise, so a client can branch on either.

use crate::request_id::RequestId;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// A successful answer carrying `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reply<T> {
    /// The request's `X-Reqid`, or one made up for it; also sent back in that header.
    pub request_id: String,
    /// 0 on success.
    pub code: u32,
    /// `"ok"` on success.
    pub message: String,
    /// The endpoint's answer.
    pub data: T,
}

impl<T: Serialize> Reply<T> {
    /// A 200 answer carrying `data`, with code 0 and the current request's id.
    pub fn ok(data: T) -> Self {
        Reply {
            request_id: RequestId::current(),
            code: 0,
            message: "ok".to_owned(),
            data,
        }
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (StatusCode::OK, Json(self)).into_response()
    }
}

/// A failed request: its HTTP status, an error code (the status unless a finer code is given)
/// and a message meant for the person reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status the answer is sent with.
    pub status: StatusCode,
    /// The `code` of the body: the status as a number, or a finer code documented with the
    /// endpoint.
    pub code: u32,
    /// Human-readable reason, sent as the body's `message`.
    pub message: String,
}

/// The body of a failed request (`data` is always null).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The request's `X-Reqid`, or one made up for it; also sent back in that header.
    pub request_id: String,
    /// The HTTP status, or a finer code documented with the endpoint.
    pub code: u32,
    /// What went wrong, for the person reading it.
    pub message: String,
    /// Always null in an error.
    #[schema(value_type = Option<Object>)]
    pub data: Option<()>,
}

impl ApiError {
    /// An error with `status`, its number as the code, and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: u32::from(status.as_u16()),
            message: message.into(),
        }
    }

    /// A 400 Bad Request: the request's parameters or body are invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404 Not Found: the stream or resource asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A 500 Internal Server Error: the node failed to answer (the message says why, without
    /// secrets).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Keeps the status, with a finer `code`.
    pub fn with_code(mut self, code: u32) -> Self {
        self.code = code;
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            request_id: RequestId::current(),
            code: self.code,
            message: self.message,
            data: None,
        };
        (self.status, Json(body)).into_response()
    }
}
