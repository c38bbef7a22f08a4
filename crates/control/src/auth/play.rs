//! Signed play URLs: the push URLs' `expiry` scheme applied to playing, so one key and one
//! signer serve both directions. A play URL is `http(s)://edge/APP/NAME.EXT?expire=<unix
//! s>&token=<base64url(HMAC-SHA1(play_key, "/APP/NAME?expire=..."))>`: the token covers the
//! stream, not the format, so the same query plays `NAME.flv`, `NAME.m3u8` or the WebSocket
//! path.

use super::push::{sign_push_url, verify_publish, PublishRefusal, PushKeys, PushScheme};
use super::{AuthError, SecretKey};

/// Shortest `play_key` accepted: a short HMAC key can be searched for offline from one signed
/// URL.
pub const MIN_PLAY_KEY_LEN: usize = 16;

/// Why a node's `play_auth` / `play_key` pair was refused; the message says what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayKeyRefusal {
    /// `play_auth` is neither `none` nor `expiry`.
    Scheme,
    /// `play_auth: expiry` with a `play_key` shorter than [`MIN_PLAY_KEY_LEN`].
    Key,
}

impl std::fmt::Display for PlayKeyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlayKeyRefusal::Scheme => f.write_str("must be none or expiry"),
            PlayKeyRefusal::Key => write!(
                f,
                "must be {MIN_PLAY_KEY_LEN} characters or more with play_auth: expiry"
            ),
        }
    }
}

/// The key play URLs are signed with, from a node's `play_auth` (`none` or `expiry`) and
/// `play_key`: the cloud signs room play URLs with it and the edge checks them, so both read
/// the pair the same way.
pub fn play_key(play_auth: &str, play_key: &str) -> Result<Option<SecretKey>, PlayKeyRefusal> {
    match play_auth {
        "none" => Ok(None),
        "expiry" if play_key.len() >= MIN_PLAY_KEY_LEN => SecretKey::new(play_key.as_bytes())
            .map(Some)
            .map_err(|_| PlayKeyRefusal::Key),
        "expiry" => Err(PlayKeyRefusal::Key),
        _ => Err(PlayKeyRefusal::Scheme),
    }
}

/// `base_url` (`http://edge:7001/live`) plus `/NAME` and `suffix` (`.flv`), signed with `key`
/// to expire at `expire_at` (Unix seconds).
pub fn sign_play_url(
    base_url: &str,
    stream: &str,
    suffix: &str,
    key: &SecretKey,
    expire_at: i64,
) -> Result<String, AuthError> {
    let keys = PushKeys {
        publish_key: Some(key.clone()),
        ..PushKeys::default()
    };
    let signed = sign_push_url(base_url, stream, PushScheme::Expiry, &keys, expire_at)?;
    Ok(match signed.split_once('?') {
        Some((location, query)) => format!("{location}{suffix}?{query}"),
        None => format!("{signed}{suffix}"),
    })
}

/// Whether the raw `query` of a request for `APP/NAME` (any format) carries a token signed with
/// `key` that has not expired at `now`. The refusals are the push URLs' (a missing, forged or
/// expired token, another stream's token).
pub fn verify_play(
    app: &str,
    stream: &str,
    query: Option<&str>,
    key: &SecretKey,
    now: i64,
) -> Result<(), PublishRefusal> {
    let keys = PushKeys {
        publish_key: Some(key.clone()),
        ..PushKeys::default()
    };
    let stream = match query {
        Some(query) => format!("{stream}?{query}"),
        None => stream.to_owned(),
    };
    verify_publish(app, &stream, None, PushScheme::Expiry, &keys, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SecretKey {
        SecretKey::new(text.as_bytes().to_vec()).expect("key")
    }

    #[test]
    fn play_auth_and_play_key_are_read_alike_on_both_nodes() {
        assert_eq!(play_key("none", ""), Ok(None));
        assert_eq!(
            play_key("expiry", "sixteen-chars-ok"),
            Ok(Some(key("sixteen-chars-ok")))
        );
        assert_eq!(play_key("expiry", "short"), Err(PlayKeyRefusal::Key));
        assert_eq!(
            play_key("token", "sixteen-chars-ok"),
            Err(PlayKeyRefusal::Scheme)
        );
        assert_eq!(
            PlayKeyRefusal::Key.to_string(),
            "must be 16 characters or more with play_auth: expiry"
        );
    }

    #[test]
    fn a_signed_play_url_plays_its_stream_until_it_expires() {
        let play_key = key("a-play-key-of-16+");
        let url = sign_play_url("http://edge:7001/live", "room1", ".flv", &play_key, 1_000)
            .expect("signs");
        let (location, query) = url.split_once('?').expect("a query");
        assert_eq!(location, "http://edge:7001/live/room1.flv");
        assert!(query.starts_with("expire=1000&token="), "{query}");
        assert_eq!(
            verify_play("live", "room1", Some(query), &play_key, 999),
            Ok(())
        );
        assert_eq!(
            verify_play("live", "room1", Some(query), &play_key, 1_001),
            Err(PublishRefusal::Expired)
        );
        assert_eq!(
            verify_play("live", "room2", Some(query), &play_key, 999),
            Err(PublishRefusal::Forged),
            "another stream's token"
        );
        assert_eq!(
            verify_play("live", "room1", Some(query), &key("another-key-16+++"), 999),
            Err(PublishRefusal::Forged)
        );
        assert_eq!(
            verify_play("live", "room1", None, &play_key, 999),
            Err(PublishRefusal::MissingToken)
        );
        let later = query.replace("expire=1000", "expire=9999");
        assert_eq!(
            verify_play("live", "room1", Some(&later), &play_key, 999),
            Err(PublishRefusal::Forged),
            "a moved expiry"
        );
    }
}
