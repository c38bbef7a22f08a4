//! Server-to-server request signing, the scheme the vendor SDKs call "Qiniu" (QBox MAC v2):
//! `Authorization: Qiniu <AK>:<sign>`, where `sign` is the URL-safe base64 of
//! HMAC-SHA1(SK, canonical string) and the canonical string covers the method, path, query,
//! `Host`, `Content-Type`, every `X-Qiniu-*` header and a non-binary body.
//!
//! The SDKs' scheme has no timestamp, so a captured request stays valid forever. Here an
//! `X-Qiniu-Date` header is required and must be near the server's clock; being an `X-Qiniu-*`
//! header it is inside the signature, so it cannot be refreshed by whoever replays the request.
//! A client that signs with the SDK just adds the header before signing.

use super::codec::{b64_decode, b64_padded, hmac_sha1, sha1_tag_matches};
use super::date::parse_qiniu_date;
use super::{AuthError, KeyPair, KeyRing};
use std::collections::BTreeMap;
use std::time::Duration;

/// The request-date header; a signed `X-Qiniu-*` header (see [`canonical_string`]).
pub const DATE_HEADER: &str = "X-Qiniu-Date";

/// How far `X-Qiniu-Date` may be from the server's clock, either way, by default: room for
/// clock drift and transit, short enough that a captured request soon stops working.
pub const DEFAULT_DATE_WINDOW: Duration = Duration::from_secs(300);

const SIGNED_HEADER_PREFIX: &str = "X-Qiniu-";
const BINARY_CONTENT_TYPE: &str = "application/octet-stream";
const SCHEME: &str = "Qiniu ";

/// What of an HTTP request the signature covers, read from whatever server or client holds
/// it, so signing and checking are testable without either.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// As sent, e.g. `POST`.
    pub method: &'a str,
    /// The path without the query, percent-decoded as Go's `URL.Path` is (the vendor signers
    /// sign that); for paths of plain characters it is the path as sent.
    pub path: &'a str,
    /// The raw query, without `?`; empty when there is none.
    pub query: &'a str,
    /// Every header as received, names in any case; for a repeated name the first value counts.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body as received; signed only when it is non-empty and has a `Content-Type` other
    /// than `application/octet-stream`.
    pub body: &'a [u8],
}

impl<'a> RequestParts<'a> {
    /// The first value of header `name` (matched without regard to case).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }
}

/// `x-qiniu-meta-app` as `X-Qiniu-Meta-App`: the spelling Go's `CanonicalHeaderKey` gives, which
/// is what the vendor signers sort and sign.
fn canonical_header_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let mapped = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            mapped
        })
        .collect()
}

/// The bytes that are signed:
///
/// ```text
/// <METHOD> <path>[?<query>]
/// Host: <host>
/// [Content-Type: <type>]
/// [<X-Qiniu-Name>: <value>]...   one line per X-Qiniu-* header, sorted by canonical name
///                                (empty line)
/// [<body>]                       only if non-empty, typed, and not application/octet-stream
/// ```
///
/// (lines joined by `\n`, no trailing newline after the body). A binary body is left out so a
/// large upload need not be buffered to be signed; its type still is.
pub fn canonical_string(request: &RequestParts<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + request.body.len());
    out.extend_from_slice(request.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.path.as_bytes());
    if !request.query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(request.query.as_bytes());
    }
    out.extend_from_slice(b"\nHost: ");
    out.extend_from_slice(request.header("Host").unwrap_or_default().as_bytes());
    let content_type = request.header("Content-Type").unwrap_or_default();
    if !content_type.is_empty() {
        out.extend_from_slice(b"\nContent-Type: ");
        out.extend_from_slice(content_type.as_bytes());
    }
    let mut signed_headers = BTreeMap::new();
    for (name, value) in request.headers {
        let name = canonical_header_name(name);
        if name.len() > SIGNED_HEADER_PREFIX.len() && name.starts_with(SIGNED_HEADER_PREFIX) {
            signed_headers.entry(name).or_insert(*value);
        }
    }
    for (name, value) in signed_headers {
        out.push(b'\n');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"\n\n");
    if !request.body.is_empty() && !content_type.is_empty() && content_type != BINARY_CONTENT_TYPE {
        out.extend_from_slice(request.body);
    }
    out
}

/// The `Authorization` value for `request` signed with `pair`: `Qiniu <AK>:<sign>`, `sign` padded
/// as the SDKs write it. Add `X-Qiniu-Date` (see [`super::format_qiniu_date`]) to the headers
/// first, or [`ServerAuth::verify`] refuses the request.
pub fn sign_request(pair: &KeyPair, request: &RequestParts<'_>) -> String {
    let tag = hmac_sha1(pair.secret_key().as_bytes(), &[&canonical_string(request)]);
    format!("{SCHEME}{}:{}", pair.access_key(), b64_padded(&tag))
}

/// Checks signed server requests against a ring of key pairs.
#[derive(Debug, Clone)]
pub struct ServerAuth {
    keys: KeyRing,
    date_window: Duration,
}

impl ServerAuth {
    /// Accepts requests signed by any pair of `keys`, dated within [`DEFAULT_DATE_WINDOW`].
    pub fn new(keys: KeyRing) -> ServerAuth {
        ServerAuth {
            keys,
            date_window: DEFAULT_DATE_WINDOW,
        }
    }

    /// Accepts `X-Qiniu-Date` up to `window` from the server's clock either way, instead of
    /// [`DEFAULT_DATE_WINDOW`].
    pub fn with_date_window(mut self, window: Duration) -> ServerAuth {
        self.date_window = window;
        self
    }

    /// Checks `request` at `now` (Unix seconds) and returns the access key that signed it.
    ///
    /// In order: the `Authorization` header is present and well formed, its access key is one of
    /// ours, `X-Qiniu-Date` is present and well formed, the signature matches (compared in
    /// constant time; padding optional), and the date is within the window either way. The
    /// first failure is the error.
    pub fn verify<'k>(
        &'k self,
        request: &RequestParts<'_>,
        now: i64,
    ) -> Result<&'k str, AuthError> {
        let authorization = request
            .header("Authorization")
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .ok_or(AuthError::MissingAuthorization)?;
        let (access_key, tag) = parse_authorization(authorization)?;
        let pair = self
            .keys
            .pair_for(access_key)
            .ok_or(AuthError::UnknownAccessKey)?;
        let date = request.header(DATE_HEADER).ok_or(AuthError::MissingDate)?;
        let date = parse_qiniu_date(date.trim()).ok_or(AuthError::MalformedDate)?;
        let canonical = canonical_string(request);
        if !sha1_tag_matches(pair.secret_key().as_bytes(), &[&canonical], &tag) {
            return Err(AuthError::BadSignature);
        }
        let skew = date.saturating_sub(now);
        let window = self.date_window.as_secs();
        if skew.unsigned_abs() > window {
            return Err(AuthError::DateOutsideWindow { skew, window });
        }
        Ok(pair.access_key())
    }
}

/// `Qiniu <AK>:<sign>` as the access key and the decoded tag. The scheme name is matched without
/// regard to case (RFC 9110 §11.1).
fn parse_authorization(value: &str) -> Result<(&str, Vec<u8>), AuthError> {
    let credentials = value
        .get(..SCHEME.len())
        .filter(|scheme| scheme.eq_ignore_ascii_case(SCHEME))
        .and_then(|_| value.get(SCHEME.len()..))
        .ok_or(AuthError::MalformedAuthorization)?;
    let (access_key, sign) = credentials
        .trim_start()
        .split_once(':')
        .ok_or(AuthError::MalformedAuthorization)?;
    if access_key.is_empty() {
        return Err(AuthError::MalformedAuthorization);
    }
    let tag = b64_decode(sign).ok_or(AuthError::MalformedAuthorization)?;
    if tag.is_empty() {
        return Err(AuthError::MalformedAuthorization);
    }
    Ok((access_key, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_take_go_spelling() {
        assert_eq!(
            canonical_header_name("x-qiniu-meta-app"),
            "X-Qiniu-Meta-App"
        );
        assert_eq!(canonical_header_name("X-QINIU-DATE"), "X-Qiniu-Date");
        assert_eq!(canonical_header_name("content-type"), "Content-Type");
        assert_eq!(canonical_header_name("-a--b"), "-A--B");
    }

    #[test]
    fn authorization_shapes() {
        let (ak, tag) = parse_authorization("Qiniu ak:YWI=").unwrap();
        assert_eq!((ak, tag.as_slice()), ("ak", &b"ab"[..]));
        assert!(parse_authorization("qiniu ak:YWI").is_ok());
        for bad in [
            "Qiniu",
            "Qiniu ",
            "Qiniu ak",
            "Qiniu :YWI=",
            "Qiniu ak:",
            "Qiniu ak:!!",
            "Bearer ak:YWI=",
            "QiniuX ak:YWI=",
            "Qini",
            "Qini\u{e9} ak:YWI=",
        ] {
            assert_eq!(
                parse_authorization(bad),
                Err(AuthError::MalformedAuthorization),
                "{bad:?}"
            );
        }
    }
}
