//! Authentication for the live-room API and for RTMP publishing, as pure functions: no server,
//! no storage, no clock. Every check takes `now` (Unix seconds) from its caller, so a test can
//! stand at any instant and a handler reads the clock once per request.
//!
//! Three schemes, one per caller group:
//!
//! - **Server** (`/server`, the business back end): the vendor SDKs' request signing,
//!   `Authorization: Qiniu <AK>:<sign>`, with a required `X-Qiniu-Date` so a captured request
//!   cannot be replayed ([`ServerAuth`], [`sign_request`]).
//! - **Client** and **admin** (`/client`, `/admin`, apps and the console): HS256 JSON Web Tokens
//!   (RFC 7519) carrying the vendor SDKs' claim names ([`jwt`]).
//! - **Publish** (RTMP ingest): push URLs signed with the vendor SDKs' `expiry` and `expiry_sk`
//!   schemes, checked when an encoder publishes ([`sign_push_url`], [`verify_publish`]).
//! - **Play** (edges, optional): play URLs signed with the push URLs' `expiry` scheme and a play
//!   key ([`sign_play_url`], [`verify_play`]).
//!
//! The control API's writes (and its reads, when closed) take either a bearer API token from
//! config or a server signature ([`Credentials`]).
//!
//! And one the other way: the webhooks the cloud sends carry a timestamped HMAC-SHA256 of their
//! body ([`sign_webhook`]; [`verify_webhook`] is what a receiver runs).
//!
//! HTTP-side failures are an [`AuthError`], which becomes the API envelope's [`ApiError`]; a
//! refused publish is a [`PublishRefusal`], whose message fits an RTMP status description.

mod access;
mod codec;
mod date;
pub mod jwt;
mod keys;
mod play;
mod push;
mod request;
mod webhook;

pub use access::{Credentials, ReadAuth};
pub use date::{format_qiniu_date, parse_qiniu_date};
pub use jwt::Claims;
pub use keys::{KeyPair, KeyRing, SecretKey};
pub use play::{sign_play_url, verify_play};
pub use push::{sign_push_url, verify_publish, PublishRefusal, PushKeys, PushScheme};
pub use request::{
    canonical_string, sign_request, RequestParts, ServerAuth, DATE_HEADER, DEFAULT_DATE_WINDOW,
};
pub use webhook::{sign_webhook, verify_webhook, WebhookRefusal, SIGNATURE_HEADER};

use crate::ApiError;
use axum::http::StatusCode;

/// Code of an expired client token, kept from the vendor room servers so their SDKs know to
/// fetch a new one.
pub const TOKEN_EXPIRED_CODE: u32 = 499;

/// Why a request was not authenticated, or why keys or URLs could not be used. The messages
/// name what to fix and never carry a secret or an expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Authorization header required")]
    MissingAuthorization,
    #[error("Authorization must be `Qiniu <AK>:<sign>` with a URL-safe base64 sign")]
    MalformedAuthorization,
    #[error("unknown access key")]
    UnknownAccessKey,
    #[error(
        "signature does not match the request (signed: method, path, query, Host, \
         Content-Type, X-Qiniu-* headers and a non-binary body)"
    )]
    BadSignature,
    #[error("X-Qiniu-Date header required (UTC, YYYYMMDDTHHMMSSZ)")]
    MissingDate,
    #[error("X-Qiniu-Date must be UTC YYYYMMDDTHHMMSSZ")]
    MalformedDate,
    /// `skew` is the request's date minus the server's clock, in seconds.
    #[error(
        "X-Qiniu-Date is {skew} s off the server clock; at most {window} s either way is accepted"
    )]
    DateOutsideWindow { skew: i64, window: u64 },
    #[error("malformed token")]
    MalformedToken,
    #[error("token algorithm must be HS256")]
    UnsupportedAlgorithm,
    #[error("bad token signature")]
    BadTokenSignature,
    #[error("token expired")]
    TokenExpired,
    #[error(
        "credentials required: Authorization: Bearer <api_token>, or a request signed with a \
         server key (Authorization: Qiniu <AK>:<sign> and X-Qiniu-Date)"
    )]
    CredentialsRequired,
    #[error("wrong API token")]
    BadApiToken,
    #[error("admin role required")]
    NotAdmin,
    /// Keys or a base URL unfit for signing: a configuration mistake, not the caller's.
    #[error("auth configuration: {0}")]
    Config(String),
}

impl From<AuthError> for ApiError {
    /// 401 with code 401 for every authentication failure except an expired token (code 499,
    /// see [`TOKEN_EXPIRED_CODE`]); 403 for a missing role; 500 for a configuration mistake.
    fn from(error: AuthError) -> ApiError {
        let message = error.to_string();
        match error {
            AuthError::TokenExpired => {
                ApiError::new(StatusCode::UNAUTHORIZED, message).with_code(TOKEN_EXPIRED_CODE)
            }
            AuthError::NotAdmin => ApiError::new(StatusCode::FORBIDDEN, message),
            AuthError::Config(_) => ApiError::internal(message),
            _ => ApiError::new(StatusCode::UNAUTHORIZED, message),
        }
    }
}
