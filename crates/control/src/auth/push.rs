//! Signed RTMP push URLs, byte-compatible with the vendor SDK's publish-URL schemes so URLs
//! minted by existing tooling publish here and ours publish there:
//!
//! - `none`: the URL as it is; for trusted networks only.
//! - `expiry`: the query gets `expire=<unix seconds>`; then
//!   `token = base64url(HMAC-SHA1(publish_key, "/<app>/<stream>?<query>"))`, appended last as
//!   `&token=<token>`.
//! - `expiry_sk`: the same with `e=<unix seconds>`, keyed by an SK, and the token prefixed with
//!   its access key: `&token=<AK>:<base64url(HMAC-SHA1(SK, ...))>`.
//!
//! `<query>` is the URL's other parameters plus the expiry, sorted by name and escaped as Go's
//! `url.Values.Encode` does (the SDK's encoder). The ingest does not re-encode: it signs the raw
//! query it received minus the trailing token, so any parameter a signer added stays covered.

use super::codec::{b64_decode, b64_padded, hmac_sha1, is_unreserved, sha1_tag_matches};
use super::{AuthError, KeyRing, SecretKey};
use serde::{Deserialize, Serialize};

const TOKEN_PARAM: &str = "token";

/// A decoded query parameter, name and value as bytes (Go's queries are bytes, not text).
type Param = (Vec<u8>, Vec<u8>);

/// How publishing is authenticated: the cloud's `publish_auth` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushScheme {
    /// Anyone who can reach the ingest may publish.
    #[default]
    None,
    /// `expire=` and a token keyed by the publish key.
    Expiry,
    /// `e=` and a token keyed by an SK, naming its AK.
    ExpirySk,
}

impl PushScheme {
    /// The query parameter carrying the expiry, Unix seconds.
    fn expiry_param(self) -> &'static str {
        match self {
            PushScheme::None => "",
            PushScheme::Expiry => "expire",
            PushScheme::ExpirySk => "e",
        }
    }
}

/// The keys the schemes sign with: `publish_key` for `expiry`, the ring for `expiry_sk` (its
/// first pair signs; any pair verifies, so keys rotate without breaking URLs already out).
#[derive(Debug, Clone, Default)]
pub struct PushKeys {
    /// The key that signs and checks `expiry` push URLs; `None` when that scheme is not configured.
    pub publish_key: Option<SecretKey>,
    /// The server key pairs that sign and check `expiry_sk` push URLs.
    pub key_ring: KeyRing,
}

/// Why an encoder may not publish. The messages are short enough for the description of an
/// RTMP `NetStream.Publish.BadName` status, which OBS shows to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    /// The publish URL (stream name, app or tcUrl query) carries no non-empty `token=` parameter.
    #[error("publish token required")]
    MissingToken,
    /// The detail says which part is wrong.
    #[error("malformed publish token: {0}")]
    Malformed(&'static str),
    /// Well formed, but not signed by our key for this stream and these parameters.
    #[error("invalid publish token for this stream")]
    Forged,
    /// The token verified but its expiry time (Unix seconds) has passed.
    #[error("publish URL expired")]
    Expired,
    /// An `expiry_sk` token names an access key that is not in the key ring.
    #[error("unknown access key in publish token")]
    UnknownAccessKey,
    /// The scheme needs a key this node was not given: nothing can be verified.
    #[error("publish authentication is not configured")]
    NotConfigured,
}

/// `base_url` (`rtmp://host:1935/app`) plus `/stream`, signed by `scheme` to expire at
/// `expire_at` (Unix seconds). Parameters already in either part are kept and signed; a `token`
/// among them is dropped and replaced.
///
/// Fails when the URL has no `scheme://host/app` shape, when a path segment holds more than
/// letters, digits, `-`, `_`, `.` and `~` (the SDK signs the decoded path, the ingest the path
/// it is sent; only such names are the same both ways), when a parameter is not valid
/// percent-encoding, or when the scheme's key is missing.
pub fn sign_push_url(
    base_url: &str,
    stream: &str,
    scheme: PushScheme,
    keys: &PushKeys,
    expire_at: i64,
) -> Result<String, AuthError> {
    let (base, base_query) = split_query(base_url);
    let (stream, stream_query) = split_query(stream);
    let location = format!("{}/{stream}", base.trim_end_matches('/'));
    let path = url_path(&location)?;
    let queries: Vec<&str> = [base_query, stream_query]
        .into_iter()
        .flatten()
        .filter(|query| !query.is_empty())
        .collect();
    if scheme == PushScheme::None {
        return Ok(if queries.is_empty() {
            location
        } else {
            format!("{location}?{}", queries.join("&"))
        });
    }
    let mut params = Vec::new();
    for query in queries {
        params.extend(decode_params(query)?);
    }
    let expiry_param = scheme.expiry_param();
    params.retain(|(name, _)| name != TOKEN_PARAM.as_bytes() && name != expiry_param.as_bytes());
    params.push((
        expiry_param.as_bytes().to_vec(),
        expire_at.to_string().into_bytes(),
    ));
    // Stable: repeated names keep their order, as in Go's `url.Values`.
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let query = encode_params(&params);
    let signed = [path.as_bytes(), b"?", query.as_bytes()];
    let token = match scheme {
        PushScheme::None => String::new(),
        PushScheme::Expiry => {
            let key = keys
                .publish_key
                .as_ref()
                .ok_or_else(|| AuthError::Config("the expiry scheme needs a publish key".into()))?;
            b64_padded(&hmac_sha1(key.as_bytes(), &signed))
        }
        PushScheme::ExpirySk => {
            let pair = keys.key_ring.signing_pair().ok_or_else(|| {
                AuthError::Config("the expiry_sk scheme needs an AK/SK pair".into())
            })?;
            let tag = hmac_sha1(pair.secret_key().as_bytes(), &signed);
            format!("{}:{}", pair.access_key(), b64_padded(&tag))
        }
    };
    Ok(format!("{location}?{query}&{TOKEN_PARAM}={token}"))
}

/// Whether an encoder may publish `stream` under `app` at `now` (Unix seconds).
///
/// `app` and `stream` are as the RTMP `connect` and `publish` commands carry them, and either may
/// end in `?<query>`: OBS puts the parameters in the stream key (`NAME?e=..&token=..`) or in the
/// server URL, which makes them part of the app name. `tc_url_query` is the query of the
/// connect's `tcUrl`, for clients that send it only there. The first of stream, app and tcUrl
/// that has a query is used.
///
/// The raw query must end in `&token=...`; the rest of it is signed as received, over
/// `/<app>/<stream>?<rest>`, compared in constant time, and only then is the expiry checked, so
/// a forged URL is reported as forged whatever date it claims.
pub fn verify_publish(
    app: &str,
    stream: &str,
    tc_url_query: Option<&str>,
    scheme: PushScheme,
    keys: &PushKeys,
    now: i64,
) -> Result<(), PublishRefusal> {
    let configured = match scheme {
        PushScheme::None => return Ok(()),
        PushScheme::Expiry => keys.publish_key.is_some(),
        PushScheme::ExpirySk => !keys.key_ring.is_empty(),
    };
    if !configured {
        return Err(PublishRefusal::NotConfigured);
    }
    let (app, app_query) = split_query(app);
    let (stream, stream_query) = split_query(stream);
    let query = [stream_query, app_query, tc_url_query]
        .into_iter()
        .flatten()
        .find(|query| !query.is_empty())
        .ok_or(PublishRefusal::MissingToken)?;
    let (rest, token) = split_token(query)?;
    let expire_at = expiry(rest, scheme.expiry_param())?;
    let (key, tag) = match (scheme, &keys.publish_key) {
        (PushScheme::Expiry, Some(key)) => (key, token.as_str()),
        (PushScheme::ExpirySk, _) => {
            let (access_key, tag) = token
                .split_once(':')
                .ok_or(PublishRefusal::Malformed("token lacks its access key"))?;
            let pair = keys
                .key_ring
                .pair_for(access_key)
                .ok_or(PublishRefusal::UnknownAccessKey)?;
            (pair.secret_key(), tag)
        }
        _ => return Err(PublishRefusal::NotConfigured),
    };
    let tag = b64_decode(tag).ok_or(PublishRefusal::Malformed("token is not base64"))?;
    let path = format!("/{app}/{stream}");
    let signed = [path.as_bytes(), b"?", rest.as_bytes()];
    if !sha1_tag_matches(key.as_bytes(), &signed, &tag) {
        return Err(PublishRefusal::Forged);
    }
    if expire_at < now {
        return Err(PublishRefusal::Expired);
    }
    Ok(())
}

/// `text` split at its first `?`.
fn split_query(text: &str) -> (&str, Option<&str>) {
    match text.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (text, None),
    }
}

/// The path of `scheme://authority/path`, checked to be segments of plain characters with at
/// least an app and a stream.
fn url_path(url: &str) -> Result<&str, AuthError> {
    let bad = || AuthError::Config(format!("push URL {url:?} must be scheme://host/app/stream"));
    let (_, after_scheme) = url.split_once("://").ok_or_else(bad)?;
    let slash = after_scheme.find('/').ok_or_else(bad)?;
    let path = &after_scheme[slash..];
    let segments: Vec<&str> = path[1..].split('/').collect();
    if slash == 0 || segments.len() < 2 {
        return Err(bad());
    }
    for segment in segments {
        if segment.is_empty() || !segment.bytes().all(is_unreserved) {
            return Err(AuthError::Config(format!(
                "push URL path segment {segment:?} must be letters, digits, '-', '_', '.' or '~'"
            )));
        }
    }
    Ok(path)
}

/// The raw query without its final `token=` parameter, and that token percent-decoded (some
/// tools escape its `=` and `:`). The token must come last and only once.
fn split_token(query: &str) -> Result<(&str, String), PublishRefusal> {
    let is_token = |param: &str| {
        param
            .split_once('=')
            .is_some_and(|(name, _)| name == TOKEN_PARAM)
    };
    let (rest, last) = match query.rsplit_once('&') {
        Some((rest, last)) => (rest, last),
        None => ("", query),
    };
    if !is_token(last) {
        return Err(if query.split('&').any(is_token) {
            PublishRefusal::Malformed("token must be the last parameter")
        } else {
            PublishRefusal::MissingToken
        });
    }
    let token = &last[TOKEN_PARAM.len() + 1..];
    if token.is_empty() {
        return Err(PublishRefusal::MissingToken);
    }
    if rest.split('&').any(is_token) {
        return Err(PublishRefusal::Malformed("more than one token"));
    }
    let token = percent_decode(token, false)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(PublishRefusal::Malformed(
            "token is not valid percent-encoding",
        ))?;
    Ok((rest, token))
}

/// The value of the one `name=<digits>` parameter of `query`.
fn expiry(query: &str, name: &str) -> Result<i64, PublishRefusal> {
    let mut values = query
        .split('&')
        .filter_map(|param| param.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value);
    let value = values
        .next()
        .ok_or(PublishRefusal::Malformed("no expiry parameter"))?;
    if values.next().is_some() {
        return Err(PublishRefusal::Malformed("more than one expiry parameter"));
    }
    // Digits only: `parse` alone would take a sign. Too many digits fail to parse.
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse().ok())
        .flatten()
        .ok_or(PublishRefusal::Malformed("expiry is not Unix seconds"))
}

/// `name=value` pairs of a raw query, decoded as Go's `url.ParseQuery` does (`+` is a space;
/// empty pieces are skipped), but refusing what it would silently drop.
fn decode_params(query: &str) -> Result<Vec<Param>, AuthError> {
    query
        .split('&')
        .filter(|param| !param.is_empty())
        .map(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            match (percent_decode(name, true), percent_decode(value, true)) {
                (Some(name), Some(value)) if !param.contains(';') => Ok((name, value)),
                _ => Err(AuthError::Config(format!(
                    "push URL parameter {param:?} is not valid percent-encoding"
                ))),
            }
        })
        .collect()
}

/// Sorted pairs as `a=1&b=2`, each side escaped as Go's `url.QueryEscape` does.
fn encode_params(params: &[Param]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        query_escape(name, &mut out);
        out.push('=');
        query_escape(value, &mut out);
    }
    out
}

/// Letters, digits, `-`, `_`, `.` and `~` as they are, space as `+`, every other byte `%XX`.
fn query_escape(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        match b {
            b' ' => out.push('+'),
            _ if is_unreserved(b) => out.push(char::from(b)),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
}

/// `%XX` escapes decoded (and `+` as a space when `plus_is_space`); `None` for a `%` not
/// followed by two hex digits.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone would take "+1".
                let digit = |at: usize| char::from(*bytes.get(at)?).to_digit(16);
                let value = digit(i + 1)? * 16 + digit(i + 2)?;
                out.push(u8::try_from(value).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_go_query_escape() {
        let mut out = String::new();
        query_escape("a b/c:d=e&f~g_h-i.j%é".as_bytes(), &mut out);
        assert_eq!(out, "a+b%2Fc%3Ad%3De%26f~g_h-i.j%25%C3%A9");
        assert_eq!(
            percent_decode(&out, true).unwrap(),
            "a b/c:d=e&f~g_h-i.j%é".as_bytes()
        );
        assert_eq!(percent_decode("a+b%3a", false).unwrap(), b"a+b:");
        for bad in ["%", "%4", "%zz", "%+1", "x%é"] {
            assert_eq!(percent_decode(bad, true), None, "{bad:?}");
        }
    }

    #[test]
    fn token_must_be_last_and_alone() {
        assert_eq!(
            split_token("e=1&token=ak:c2ln").unwrap(),
            ("e=1", "ak:c2ln".to_owned())
        );
        assert_eq!(
            split_token("e=1&token=ak%3Ac2ln%3D").unwrap(),
            ("e=1", "ak:c2ln=".to_owned())
        );
        assert_eq!(split_token("e=1"), Err(PublishRefusal::MissingToken));
        assert_eq!(split_token("e=1&token="), Err(PublishRefusal::MissingToken));
        assert_eq!(split_token("tokens=1"), Err(PublishRefusal::MissingToken));
        assert!(matches!(
            split_token("token=x&e=1"),
            Err(PublishRefusal::Malformed(m)) if m.contains("last")
        ));
        assert!(matches!(
            split_token("token=x&e=1&token=y"),
            Err(PublishRefusal::Malformed(m)) if m.contains("more than one")
        ));
    }

    #[test]
    fn expiry_is_one_plain_number() {
        assert_eq!(expiry("a=1&e=1700000000", "e"), Ok(1_700_000_000));
        assert_eq!(expiry("e=9223372036854775807", "e"), Ok(i64::MAX));
        for bad in [
            "a=1",
            "e=",
            "e=-5",
            "e=+5",
            "e=1e9",
            "e=1&e=2",
            "e=9223372036854775808",
        ] {
            assert!(
                matches!(expiry(bad, "e"), Err(PublishRefusal::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn url_shapes() {
        assert_eq!(url_path("rtmp://h:1935/live/cam").unwrap(), "/live/cam");
        assert_eq!(url_path("rtmp://h/a/b/c").unwrap(), "/a/b/c");
        for bad in [
            "h/live/cam",
            "rtmp://h",
            "rtmp://h/live",
            "rtmp:///live/cam",
            "rtmp://h/live/",
            "rtmp://h//cam",
            "rtmp://h/live/ca m",
            "rtmp://h/live/c%41",
        ] {
            assert!(url_path(bad).is_err(), "{bad:?}");
        }
    }
}
