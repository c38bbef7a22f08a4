//! The control API both liverelay nodes serve: the `{request_id, code, message, data}` envelope
//! and its errors, livego's `{status, data}` envelope for the paths kept from livego, paging,
//! the stream views, Prometheus text and the OpenAPI document; and the authentication of the
//! live-room API and of RTMP publishing, and the gate that puts credentials in front of routes.
//!
//! Handlers stay in the binaries (they know the state they show); everything about how an answer
//! looks on the wire lives here, so the cloud and the edge cannot drift apart.

#![warn(missing_docs)]

pub mod auth;
mod envelope;
mod gate;
mod livego;
pub mod metrics;
mod openapi;
pub mod outbound;
mod paging;
mod query;
mod rate;
mod request_id;
mod serve;
pub mod takeover;
pub mod tls;
pub mod views;

pub use envelope::{ApiError, ErrorBody, Reply};
pub use gate::{buffer_body, signed_parts, Envelope, Gate, MAX_SIGNED_BODY};
pub use livego::{livego_reply, with_cors};
pub use openapi::serve_openapi;
pub use paging::{Page, PageQuery, MAX_PAGE_SIZE};
pub use query::{ApiJson, ApiQuery, StreamName};
pub use rate::RateMeter;
pub use request_id::{request_id_layer, RequestId, REQUEST_ID_HEADER};
pub use serve::{
    serve_until, ConnectionLimiter, ConnectionLimits, ConnectionPermit, HttpBounds, HttpKeys,
    HttpLimits, MIN_HEADER_BYTES,
};
