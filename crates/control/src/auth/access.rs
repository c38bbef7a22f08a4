//! Who may use a node's control API: an operator holding the API token from config
//! (`Authorization: Bearer <api_token>`, RFC 6750 §2.1), or the app's server signing the request
//! as it signs `/server` requests ([`ServerAuth`]). Writes always need one of them; reads as
//! [`ReadAuth`] says.

use super::{AuthError, RequestParts, SecretKey, ServerAuth};
use serde::Deserialize;
use std::net::SocketAddr;

const BEARER: &str = "Bearer ";
const QINIU: &str = "Qiniu ";

/// The credentials a node accepts. At least one kind, or nothing could ever be authorised.
#[derive(Debug, Clone)]
pub struct Credentials {
    token: Option<SecretKey>,
    server: Option<ServerAuth>,
}

impl Credentials {
    /// `None` when neither kind is given.
    pub fn new(token: Option<SecretKey>, server: Option<ServerAuth>) -> Option<Credentials> {
        (token.is_some() || server.is_some()).then_some(Credentials { token, server })
    }

    /// Checks `request` at `now` (Unix seconds): a bearer token equal to ours (compared in
    /// constant time), or a valid server signature. The scheme decides which is checked, so
    /// the error says what was wrong with the one the caller tried.
    pub fn verify(&self, request: &RequestParts<'_>, now: i64) -> Result<(), AuthError> {
        let authorization = request
            .header("Authorization")
            .map(str::trim)
            .unwrap_or_default();
        let scheme_is = |scheme: &str| {
            authorization
                .get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        };
        if scheme_is(BEARER) {
            let offered = authorization.get(BEARER.len()..).unwrap_or_default().trim();
            return match &self.token {
                Some(token) if constant_time_eq(token.as_bytes(), offered.as_bytes()) => Ok(()),
                _ => Err(AuthError::BadApiToken),
            };
        }
        match &self.server {
            Some(server) if scheme_is(QINIU) => server.verify(request, now).map(|_| ()),
            _ => Err(AuthError::CredentialsRequired),
        }
    }
}

/// Equal bytes, in time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `api_read_auth`: whether the read-only endpoints need credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadAuth {
    /// Open on a listener bound to loopback (only this machine reaches it), closed otherwise.
    #[default]
    Auto,
    /// Open to anyone who reaches the port.
    None,
    /// Credentials always.
    Token,
}

impl ReadAuth {
    /// Whether reads on a listener bound to `listen` need credentials.
    pub fn closed_on(self, listen: SocketAddr) -> bool {
        match self {
            ReadAuth::Auto => !listen.ip().is_loopback(),
            ReadAuth::None => false,
            ReadAuth::Token => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{format_qiniu_date, sign_request, KeyPair, KeyRing};

    const NOW: i64 = 1_741_944_413;

    fn credentials() -> (Credentials, KeyPair) {
        let pair = KeyPair::new("ak", SecretKey::new("sk-0123456789abcdef").unwrap()).unwrap();
        let ring = KeyRing::new(vec![pair.clone()]).unwrap();
        let token = SecretKey::new("token-0123456789").unwrap();
        let credentials = Credentials::new(Some(token), Some(ServerAuth::new(ring))).unwrap();
        (credentials, pair)
    }

    fn parts<'a>(headers: &'a [(&'a str, &'a str)]) -> RequestParts<'a> {
        RequestParts {
            method: "POST",
            path: "/control/get",
            query: "room=live/a",
            headers,
            body: b"",
        }
    }

    #[test]
    fn bearer_token_or_signature() {
        let (credentials, pair) = credentials();
        let check = |headers: &[(&str, &str)]| credentials.verify(&parts(headers), NOW);
        assert_eq!(check(&[]), Err(AuthError::CredentialsRequired));
        assert_eq!(
            check(&[("Authorization", "Basic eDp5")]),
            Err(AuthError::CredentialsRequired)
        );
        assert_eq!(
            check(&[("authorization", "bearer token-0123456789")]),
            Ok(())
        );
        for wrong in [
            "Bearer token-012345678",
            "Bearer token-0123456789x",
            "Bearer  x",
        ] {
            assert_eq!(
                check(&[("Authorization", wrong)]),
                Err(AuthError::BadApiToken)
            );
        }
        let date = format_qiniu_date(NOW);
        let mut headers = vec![("Host", "cloud"), ("X-Qiniu-Date", date.as_str())];
        let signature = sign_request(&pair, &parts(&headers));
        headers.push(("Authorization", &signature));
        assert_eq!(check(&headers), Ok(()));
        headers[0].1 = "elsewhere";
        assert_eq!(check(&headers), Err(AuthError::BadSignature));
        let tokens_only = Credentials::new(Some(SecretKey::new("t").unwrap()), None).unwrap();
        assert_eq!(
            tokens_only.verify(&parts(&headers), NOW),
            Err(AuthError::CredentialsRequired)
        );
        assert!(Credentials::new(None, None).is_none());
    }

    #[test]
    fn read_auth_by_listener() {
        let local: SocketAddr = "127.0.0.1:8090".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:8090".parse().unwrap();
        assert!(!ReadAuth::Auto.closed_on(local) && ReadAuth::Auto.closed_on(open));
        assert!(!ReadAuth::None.closed_on(open));
        assert!(ReadAuth::Token.closed_on(local));
    }
}
