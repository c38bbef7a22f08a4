//! Signed RTMP push URLs (`expiry` and `expiry_sk`) against values computed apart from this
//! crate: every URL below comes from `auth_vectors.py` (Python's hmac/hashlib/base64/urllib).

mod common;

use common::{ring, secret, test_ring, AK, NOW, SK};
use relay_control::auth::{
    sign_push_url, verify_publish, AuthError, PublishRefusal, PushKeys, PushScheme,
};
use relay_control::ApiError;

const PUBLISH_KEY: &str = "pubkey-123";
const EXPIRE: i64 = NOW + 3600;
const BASE: &str = "rtmp://ingest.example.com:1935/live";
const STREAM: &str = "room-1001";
const EXPIRY_URL: &str = "rtmp://ingest.example.com:1935/live/room-1001?expire=1741948013&token=Zsl2FZ1cJeiNPp9G5nPs4RjSvyA=";
const EXPIRY_SK_URL: &str = "rtmp://ingest.example.com:1935/live/room-1001?e=1741948013&token=ak-test:WgpVxq59BkKfyOUjoJfRVKDaz30=";
const EXPIRY_SK_PARAMS_URL: &str = "rtmp://ingest.example.com:1935/live/room-1001?aa=1%2F2&e=1741948013&zz=a+b&token=ak-test:wfsc0K9FJBLJrB7J0BpHEgXyprA=";

fn push_keys() -> PushKeys {
    PushKeys {
        publish_key: Some(secret(PUBLISH_KEY)),
        key_ring: test_ring(),
    }
}

/// The stream key an encoder sends: everything after `/live/`.
fn stream_key(url: &str) -> &str {
    url.split_once("/live/").unwrap().1
}

fn check(stream: &str, scheme: PushScheme, now: i64) -> Result<(), PublishRefusal> {
    verify_publish("live", stream, None, scheme, &push_keys(), now)
}

#[test]
fn push_urls_match_python() {
    let keys = push_keys();
    let sign = |stream, scheme| sign_push_url(BASE, stream, scheme, &keys, EXPIRE).unwrap();
    assert_eq!(sign(STREAM, PushScheme::Expiry), EXPIRY_URL);
    assert_eq!(sign(STREAM, PushScheme::ExpirySk), EXPIRY_SK_URL);
    // Parameters already there are kept, sorted, re-escaped and signed; an old token goes.
    assert_eq!(
        sign("room-1001?zz=a%20b&token=old&aa=1/2", PushScheme::ExpirySk),
        EXPIRY_SK_PARAMS_URL
    );
    assert_eq!(
        sign_push_url(
            &format!("{BASE}/"),
            STREAM,
            PushScheme::ExpirySk,
            &keys,
            EXPIRE
        )
        .unwrap(),
        EXPIRY_SK_URL
    );
    assert_eq!(
        sign(STREAM, PushScheme::None),
        "rtmp://ingest.example.com:1935/live/room-1001"
    );
    for url in [EXPIRY_URL, EXPIRY_SK_URL, EXPIRY_SK_PARAMS_URL] {
        let scheme = if url.contains("expire=") {
            PushScheme::Expiry
        } else {
            PushScheme::ExpirySk
        };
        assert_eq!(check(stream_key(url), scheme, NOW), Ok(()), "{url}");
    }
}

#[test]
fn the_query_may_come_with_the_app_or_the_tc_url() {
    let keys = push_keys();
    let query = EXPIRY_SK_URL.split_once('?').unwrap().1;
    let scheme = PushScheme::ExpirySk;
    // OBS with the parameters in the server URL: they end up in the app name.
    let app = format!("live?{query}");
    assert_eq!(
        verify_publish(&app, STREAM, None, scheme, &keys, NOW),
        Ok(())
    );
    assert_eq!(
        verify_publish("live", STREAM, Some(query), scheme, &keys, NOW),
        Ok(())
    );
    assert_eq!(
        verify_publish("live", STREAM, Some(""), scheme, &keys, NOW),
        Err(PublishRefusal::MissingToken)
    );
    assert_eq!(
        verify_publish("live", STREAM, None, scheme, &keys, NOW),
        Err(PublishRefusal::MissingToken)
    );
}

#[test]
fn push_expiry_holds_to_the_second() {
    for (url, scheme) in [
        (EXPIRY_URL, PushScheme::Expiry),
        (EXPIRY_SK_URL, PushScheme::ExpirySk),
    ] {
        assert_eq!(check(stream_key(url), scheme, EXPIRE), Ok(()));
        assert_eq!(
            check(stream_key(url), scheme, EXPIRE + 1),
            Err(PublishRefusal::Expired)
        );
    }
}

#[test]
fn a_signed_url_is_good_for_its_stream_only() {
    let keys = push_keys();
    let sk = stream_key(EXPIRY_SK_URL);
    let query = sk.split_once('?').unwrap().1;
    // Signed for room-1001: not for room-1002, nor under another app.
    assert_eq!(
        check(&format!("room-1002?{query}"), PushScheme::ExpirySk, NOW),
        Err(PublishRefusal::Forged)
    );
    assert_eq!(
        verify_publish("live2", sk, None, PushScheme::ExpirySk, &keys, NOW),
        Err(PublishRefusal::Forged)
    );
    let other = sign_push_url(BASE, "room-1002", PushScheme::ExpirySk, &keys, EXPIRE).unwrap();
    let other_query = other.split_once('?').unwrap().1;
    assert_eq!(
        check(
            &format!("{STREAM}?{other_query}"),
            PushScheme::ExpirySk,
            NOW
        ),
        Err(PublishRefusal::Forged)
    );
}

#[test]
fn tampered_push_urls_are_refused_for_their_reason() {
    use PublishRefusal::{Forged, Malformed, MissingToken, UnknownAccessKey};
    let (ex, sk_scheme) = (PushScheme::Expiry, PushScheme::ExpirySk);
    let expiry = stream_key(EXPIRY_URL);
    let sk = stream_key(EXPIRY_SK_URL);
    let params = stream_key(EXPIRY_SK_PARAMS_URL);
    let no_expiry = Malformed("no expiry parameter");
    let not_seconds = Malformed("expiry is not Unix seconds");
    let no_access_key = Malformed("token lacks its access key");
    let not_base64 = Malformed("token is not base64");
    let bad_escape = Malformed("token is not valid percent-encoding");
    let cases = [
        // A later expiry the signature does not cover.
        (expiry.replace("=1741948013", "=1741948999"), ex, Forged),
        (
            sk.replace("e=1741948013", "e=1741948999"),
            sk_scheme,
            Forged,
        ),
        (params.replace("zz=a+b", "zz=a+c"), sk_scheme, Forged),
        (params.replace("aa=1%2F2&", ""), sk_scheme, Forged),
        (sk.replace("&token", "&x=1&token"), sk_scheme, Forged),
        (sk.replace("ak-test:", "ak-other:"), sk_scheme, Forged),
        (
            sk.replace("ak-test:", "ak-nobody:"),
            sk_scheme,
            UnknownAccessKey,
        ),
        (sk.replace("ak-test:", ""), sk_scheme, no_access_key),
        // Each scheme's URL under the other scheme.
        (sk.to_owned(), ex, no_expiry),
        (expiry.to_owned(), sk_scheme, no_expiry),
        (STREAM.to_owned(), ex, MissingToken),
        (format!("{STREAM}?expire=1741948013"), ex, MissingToken),
        (expiry.replace("expire=1741948013&", ""), ex, no_expiry),
        (expiry.replace("=1741948013", "=soon"), ex, not_seconds),
        (expiry.replace("token=Z", "token=*"), ex, not_base64),
        (expiry.replace("token=", "token=%"), ex, bad_escape),
    ];
    for (stream, scheme, expected) in cases {
        let message = expected.to_string();
        assert_eq!(check(&stream, scheme, NOW), Err(expected), "{stream}");
        assert!(message.len() < 64 && !message.contains('\n'), "{message}");
    }
}

#[test]
fn push_tokens_tolerate_padding_and_escaping() {
    let sk = stream_key(EXPIRY_SK_URL);
    assert_eq!(
        check(sk.trim_end_matches('='), PushScheme::ExpirySk, NOW),
        Ok(())
    );
    let escaped = sk
        .replace("ak-test:", "ak-test%3A")
        .replace("z30=", "z30%3D");
    assert_eq!(check(&escaped, PushScheme::ExpirySk, NOW), Ok(()));
}

#[test]
fn push_keys_rotate_and_missing_keys_refuse_everything() {
    let rotated = PushKeys {
        publish_key: None,
        key_ring: ring(&[("ak-new", "new-secret"), (AK, SK)]),
    };
    let sk = stream_key(EXPIRY_SK_URL);
    assert_eq!(
        verify_publish("live", sk, None, PushScheme::ExpirySk, &rotated, NOW),
        Ok(())
    );
    let fresh = sign_push_url(BASE, STREAM, PushScheme::ExpirySk, &rotated, EXPIRE).unwrap();
    assert!(fresh.contains("&token=ak-new:"), "{fresh}");
    // No publish key: the expiry scheme can neither sign nor verify.
    assert_eq!(
        verify_publish(
            "live",
            stream_key(EXPIRY_URL),
            None,
            PushScheme::Expiry,
            &rotated,
            NOW
        ),
        Err(PublishRefusal::NotConfigured)
    );
    let error = sign_push_url(BASE, STREAM, PushScheme::Expiry, &rotated, EXPIRE).unwrap_err();
    assert!(matches!(error, AuthError::Config(_)), "{error}");
    assert_eq!(ApiError::from(error).status.as_u16(), 500);
    // The operator's mistake is reported before anything about the URL.
    assert_eq!(
        verify_publish("live", STREAM, None, PushScheme::Expiry, &rotated, NOW),
        Err(PublishRefusal::NotConfigured)
    );
    let empty = PushKeys::default();
    assert_eq!(
        verify_publish("live", sk, None, PushScheme::ExpirySk, &empty, NOW),
        Err(PublishRefusal::NotConfigured)
    );
    assert_eq!(
        verify_publish("live", "anything", None, PushScheme::None, &empty, NOW),
        Ok(())
    );
}

#[test]
fn push_urls_that_cannot_be_signed() {
    let keys = push_keys();
    for (base, stream) in [
        ("rtmp://ingest.example.com:1935", STREAM),
        ("ingest.example.com/live", STREAM),
        (BASE, ""),
        (BASE, "room 1"),
        (BASE, "room-1?x=%zz"),
        (BASE, "room-1?x=1;y=2"),
    ] {
        let result = sign_push_url(base, stream, PushScheme::ExpirySk, &keys, EXPIRE);
        assert!(
            matches!(result, Err(AuthError::Config(_))),
            "{base} {stream}: {result:?}"
        );
    }
}

#[test]
fn push_scheme_names_are_the_config_words() {
    for (word, scheme) in [
        ("none", PushScheme::None),
        ("expiry", PushScheme::Expiry),
        ("expiry_sk", PushScheme::ExpirySk),
    ] {
        let json = format!("\"{word}\"");
        assert_eq!(serde_json::from_str::<PushScheme>(&json).unwrap(), scheme);
        assert_eq!(serde_json::to_string(&scheme).unwrap(), json);
    }
    assert!(serde_json::from_str::<PushScheme>("\"static\"").is_err());
}
