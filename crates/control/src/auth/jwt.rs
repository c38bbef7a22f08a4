//! Client and admin tokens: JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 (`HS256`,
//! RFC 7518 §3.2) under the node's JWT key.
//!
//! The custom claims keep the names the vendor room servers gave them (`AppId`, `UserId`,
//! `DeviceId`, `Role`), so apps built on the vendor SDKs read our tokens unchanged. Only HS256
//! is accepted: a token naming any other algorithm, `none` included, is refused before its
//! signature is looked at, so no one can choose how their token is checked.
//!
//! Written here rather than with a JWT crate: one algorithm, a dozen lines of it, and no
//! choice of algorithms to get wrong.

use super::codec::{b64_decode, b64_unpadded, hmac_sha256, sha256_tag_matches};
use super::{AuthError, SecretKey};
use serde::Deserialize;
use serde_json::Value;

/// The protected header of every token minted here (RFC 7515 §4).
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The only `alg` accepted.
const ALGORITHM: &str = "HS256";

/// Longer tokens are refused before any decoding; ours are a few hundred bytes.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The `Role` of an admin token.
pub const ADMIN_ROLE: &str = "admin";

/// What a token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// Expiry, Unix seconds: the token is refused from this second on (RFC 7519 §4.1.4).
    pub exp: i64,
    /// Issue time, Unix seconds. Tokens from the vendor servers have none.
    #[serde(default)]
    pub iat: Option<i64>,
    /// `AppId`: the live-room app the token is for; empty when absent.
    #[serde(rename = "AppId", default)]
    pub app_id: String,
    /// `UserId`: the user the token speaks for; required.
    #[serde(rename = "UserId")]
    pub user_id: String,
    /// `DeviceId`: the holder's device, as the vendor SDKs send it; empty when absent.
    #[serde(rename = "DeviceId", default)]
    pub device_id: String,
    /// [`ADMIN_ROLE`] for the console, empty for apps.
    #[serde(rename = "Role", default)]
    pub role: String,
}

impl Claims {
    /// Whether the token's `Role` is [`ADMIN_ROLE`].
    pub fn is_admin(&self) -> bool {
        self.role == ADMIN_ROLE
    }

    /// The claims as the token's JSON payload, in a fixed order: `exp`, `iat` (when set),
    /// `AppId`, `UserId`, `DeviceId`, `Role`.
    fn to_json(&self) -> String {
        // `Value`'s Display escapes strings and cannot fail, unlike `serde_json::to_string`.
        let text = |s: &str| Value::from(s).to_string();
        let iat = self.iat.map(|iat| format!(r#","iat":{iat}"#));
        format!(
            r#"{{"exp":{}{},"AppId":{},"UserId":{},"DeviceId":{},"Role":{}}}"#,
            self.exp,
            iat.unwrap_or_default(),
            text(&self.app_id),
            text(&self.user_id),
            text(&self.device_id),
            text(&self.role)
        )
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    /// Extensions the token says must be understood (RFC 7515 §4.1.11); we understand none.
    #[serde(default)]
    crit: Option<Value>,
}

/// A signed token carrying `claims`: `header.payload.signature`, each URL-safe base64 without
/// padding.
pub fn mint(key: &SecretKey, claims: &Claims) -> String {
    let signing_input = format!(
        "{}.{}",
        b64_unpadded(HEADER.as_bytes()),
        b64_unpadded(claims.to_json().as_bytes())
    );
    let tag = hmac_sha256(key.as_bytes(), &[signing_input.as_bytes()]);
    format!("{signing_input}.{}", b64_unpadded(&tag))
}

/// The claims of `token` if it is ours and unexpired at `now` (Unix seconds).
///
/// `token` is the `Authorization` header's value: `Bearer <jwt>` or the bare `<jwt>` the vendor
/// SDKs send; empty means no token. Checks, in order: three segments, an HS256 header without
/// `crit`, the signature (constant time), the claims, then `exp`; the first failure is the
/// error, so a forged token is "bad signature" whatever its claims say.
pub fn verify(key: &SecretKey, token: &str, now: i64) -> Result<Claims, AuthError> {
    let token = strip_bearer(token);
    if token.is_empty() {
        return Err(AuthError::MissingAuthorization);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::MalformedToken);
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(AuthError::MalformedToken);
    };
    let header: Header = decode_json(header)?;
    if header.alg != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    if header.crit.is_some() {
        return Err(AuthError::MalformedToken);
    }
    let tag = b64_decode(signature).ok_or(AuthError::MalformedToken)?;
    let signing_input = &token[..token.len() - signature.len() - 1];
    if !sha256_tag_matches(key.as_bytes(), &[signing_input.as_bytes()], &tag) {
        return Err(AuthError::BadTokenSignature);
    }
    let claims: Claims = decode_json(payload)?;
    if now >= claims.exp {
        return Err(AuthError::TokenExpired);
    }
    Ok(claims)
}

/// Admin endpoints: the token must carry `Role: "admin"`, else 403.
pub fn require_admin(claims: &Claims) -> Result<(), AuthError> {
    if claims.is_admin() {
        Ok(())
    } else {
        Err(AuthError::NotAdmin)
    }
}

/// `Bearer <jwt>` (scheme in any case, RFC 6750 §2.1) as `<jwt>`, a bare `<jwt>` as it is;
/// surrounding white space dropped. A lone `Bearer` is no token.
fn strip_bearer(value: &str) -> &str {
    const BEARER: &str = "bearer";
    let value = value.trim();
    match (value.get(..BEARER.len()), value.get(BEARER.len()..)) {
        (Some(scheme), Some(rest))
            if scheme.eq_ignore_ascii_case(BEARER)
                && (rest.is_empty() || rest.starts_with(char::is_whitespace)) =>
        {
            rest.trim_start()
        }
        _ => value,
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, AuthError> {
    let bytes = b64_decode(segment).ok_or(AuthError::MalformedToken)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::MalformedToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional_and_caseless() {
        assert_eq!(strip_bearer("Bearer a.b.c"), "a.b.c");
        assert_eq!(strip_bearer("bearer   a.b.c"), "a.b.c");
        assert_eq!(strip_bearer("BEARER a"), "a");
        assert_eq!(strip_bearer("a.b.c"), "a.b.c");
        assert_eq!(strip_bearer(" Bearer "), "");
        assert_eq!(strip_bearer("Bearer"), "");
        assert_eq!(strip_bearer("Bearerx"), "Bearerx");
        assert_eq!(strip_bearer("Beare\u{e9}x"), "Beare\u{e9}x");
    }

    #[test]
    fn payload_escapes_and_orders_claims() {
        let claims = Claims {
            exp: 10,
            iat: None,
            app_id: "a\"b".into(),
            user_id: "u\\".into(),
            device_id: String::new(),
            role: ADMIN_ROLE.into(),
        };
        assert_eq!(
            claims.to_json(),
            r#"{"exp":10,"AppId":"a\"b","UserId":"u\\","DeviceId":"","Role":"admin"}"#
        );
        let back: Claims = serde_json::from_str(&claims.to_json()).unwrap();
        assert_eq!(back, claims);
    }
}
