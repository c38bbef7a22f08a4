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
pub use play::{play_key, sign_play_url, verify_play, PlayKeyRefusal, MIN_PLAY_KEY_LEN};
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
    /// The request has no `Authorization` header (or an empty token) where one is needed.
    #[error("Authorization header required")]
    MissingAuthorization,
    /// `Authorization` is not `Qiniu <AK>:<sign>` with a URL-safe base64 signature.
    #[error("Authorization must be `Qiniu <AK>:<sign>` with a URL-safe base64 sign")]
    MalformedAuthorization,
    /// The access key of a signed request is none of the server keys configured.
    #[error("unknown access key")]
    UnknownAccessKey,
    /// The server-key signature (HMAC-SHA1 over the canonical request) does not match: another
    /// secret key, or the request was changed after signing.
    #[error(
        "signature does not match the request (signed: method, path, query, Host, \
         Content-Type, X-Qiniu-* headers and a non-binary body)"
    )]
    BadSignature,
    /// A signed request carries no `X-Qiniu-Date` header.
    #[error("X-Qiniu-Date header required (UTC, YYYYMMDDTHHMMSSZ)")]
    MissingDate,
    /// `X-Qiniu-Date` is not a UTC `YYYYMMDDTHHMMSSZ` time.
    #[error("X-Qiniu-Date must be UTC YYYYMMDDTHHMMSSZ")]
    MalformedDate,
    /// `X-Qiniu-Date` is further from the server's clock than the configured window allows (a
    /// stale or replayed signed request, or a client clock that is off).
    #[error(
        "X-Qiniu-Date is {skew} s off the server clock; at most {window} s either way is accepted"
    )]
    DateOutsideWindow {
        /// The request's `X-Qiniu-Date` minus the server's clock, in seconds (negative: behind).
        skew: i64,
        /// The accepted skew either way, in seconds.
        window: u64,
    },
    /// A bearer token is not three base64url segments of JSON (RFC 7515 compact form), is over
    /// 8 KiB, or carries a `crit` header.
    #[error("malformed token")]
    MalformedToken,
    /// The token's `alg` is not `HS256` (`none` included); refused before its signature is
    /// checked.
    #[error("token algorithm must be HS256")]
    UnsupportedAlgorithm,
    /// The token's HS256 signature does not match under the node's JWT key: forged, altered or
    /// signed with another key.
    #[error("bad token signature")]
    BadTokenSignature,
    /// The token's `exp` has passed; answered with code [`TOKEN_EXPIRED_CODE`] so the client
    /// fetches a new one.
    #[error("token expired")]
    TokenExpired,
    /// A gated route got neither `Authorization: Bearer` nor a server-key signature.
    #[error(
        "credentials required: Authorization: Bearer <api_token>, or a request signed with a \
         server key (Authorization: Qiniu <AK>:<sign> and X-Qiniu-Date)"
    )]
    CredentialsRequired,
    /// `Authorization: Bearer` carries a token that is not the node's API token.
    #[error("wrong API token")]
    BadApiToken,
    /// The token is valid but its `Role` is not `admin`, on an admin endpoint (403).
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
