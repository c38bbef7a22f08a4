//! The verifiers of crates/control's auth: client JWTs, signed server requests, signed push
//! URLs and webhook signatures. Each is fed a forgery built from the input (it must never
//! panic), then a request built from the same input and signed properly (it must verify), so a
//! verifier that refused good signatures would be found as surely as one that crashed.

use super::{fields, text};
use relay_control::auth::{
    format_qiniu_date, jwt as tokens, sign_play_url, sign_push_url, sign_request, sign_webhook,
    verify_play, verify_publish, verify_webhook, AuthError, Claims, KeyPair, KeyRing, PushKeys,
    PushScheme, RequestParts, SecretKey, ServerAuth, DATE_HEADER,
};

/// The longest token `jwt::verify` reads.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// A fixed "now" (2024-01-01), so a replayed input takes the same path every time.
const NOW: i64 = 1_704_067_200;

fn key(bytes: &[u8]) -> SecretKey {
    SecretKey::new(bytes).expect("a non-empty key")
}

fn pair() -> KeyPair {
    KeyPair::new("fuzz-ak", key(b"fuzz-sk")).expect("a valid access key")
}

/// The input as a bearer token; then claims from the input minted and verified back.
pub fn jwt(data: &[u8]) {
    let secret = key(b"fuzz-jwt-key");
    let _ = tokens::verify(&secret, &text(data), NOW);
    let [user, app, role] = fields(data);
    let claims = Claims {
        exp: NOW + 60,
        iat: Some(NOW),
        app_id: text(app),
        user_id: text(user),
        device_id: String::new(),
        role: text(role),
    };
    let token = tokens::mint(&secret, &claims);
    match tokens::verify(&secret, &token, NOW) {
        Ok(verified) => assert_eq!(verified, claims, "a token carries its claims"),
        // The verifier reads at most 8 KiB of token; claims that escape to more (room user ids
        // are at most 128 bytes, so only a fuzzer's) are refused as malformed, never misread.
        Err(AuthError::MalformedToken) if token.len() > MAX_TOKEN_LEN => {}
        Err(error) => panic!("a minted token of {} bytes fails: {error}", token.len()),
    }
}

/// Method, path, query, headers (`name:value` lines) and body from the input: verified as
/// sent, then signed with the ring's key and verified again.
pub fn request_signature(data: &[u8]) {
    let [method, path, query, headers, body] = fields(data);
    let (method, path, query, headers) = (text(method), text(path), text(query), text(headers));
    let mut received: Vec<(&str, &str)> = headers
        .lines()
        .filter_map(|line| line.split_once(':'))
        .collect();
    let auth = ServerAuth::new(KeyRing::new(vec![pair()]).expect("a key ring"));
    let sent = RequestParts {
        method: &method,
        path: &path,
        query: &query,
        headers: &[],
        body,
    };
    let _ = auth.verify(
        &RequestParts {
            headers: &received,
            ..sent
        },
        NOW,
    );
    let date = format_qiniu_date(NOW);
    received.insert(0, (DATE_HEADER, &date));
    let authorization = sign_request(
        &pair(),
        &RequestParts {
            headers: &received,
            ..sent
        },
    );
    received.insert(0, ("Authorization", &authorization));
    let access_key = auth
        .verify(
            &RequestParts {
                headers: &received,
                ..sent
            },
            NOW,
        )
        .expect("a signed request verifies");
    assert_eq!(access_key, pair().access_key());
}

/// App, stream and RTMP `tcUrl` query from the input, checked under both signing schemes; then
/// a URL signed for the input's app and stream, split as an encoder sends it, must publish.
pub fn push_url(data: &[u8]) {
    let [app, stream, tc_query] = fields(data);
    let (app, stream, tc_query) = (text(app), text(stream), text(tc_query));
    let keys = PushKeys {
        publish_key: Some(key(b"fuzz-publish-key")),
        key_ring: KeyRing::new(vec![pair()]).expect("a key ring"),
    };
    for scheme in [PushScheme::Expiry, PushScheme::ExpirySk] {
        let _ = verify_publish(&app, &stream, Some(&tc_query), scheme, &keys, NOW);
        let Ok(url) = sign_push_url(
            &format!("rtmp://host/{app}"),
            &stream,
            scheme,
            &keys,
            NOW + 60,
        ) else {
            continue;
        };
        let path = url
            .strip_prefix("rtmp://host/")
            .expect("the URL keeps its host");
        let (path, query) = path.split_once('?').expect("a signed URL has a query");
        let (signed_app, signed_stream) = path.split_once('/').expect("app/stream");
        let verdict = verify_publish(signed_app, signed_stream, Some(query), scheme, &keys, NOW);
        assert_eq!(verdict, Ok(()), "{url} publishes");
    }
    // The same inputs as a play request, then a play URL signed for them.
    let play_key = key(b"fuzz-play-key-16");
    let _ = verify_play(&app, &stream, Some(&tc_query), &play_key, NOW);
    if let Ok(url) = sign_play_url(
        &format!("http://host/{app}"),
        &stream,
        ".flv",
        &play_key,
        NOW + 60,
    ) {
        let path = url
            .strip_prefix("http://host/")
            .expect("the URL keeps its host");
        let (path, query) = path.split_once('?').expect("a signed URL has a query");
        let (signed_app, file) = path.split_once('/').expect("app/stream");
        let signed_stream = file.strip_suffix(".flv").expect("the suffix stays");
        let verdict = verify_play(signed_app, signed_stream, Some(query), &play_key, NOW);
        assert_eq!(verdict, Ok(()), "{url} plays");
    }
}

/// The input as a signature header over an empty body, then as a body signed and checked.
pub fn webhook(data: &[u8]) {
    let secret = b"fuzz-webhook-secret";
    let _ = verify_webhook(secret, &text(data), b"", NOW, 300);
    let header = sign_webhook(secret, NOW, data);
    assert_eq!(verify_webhook(secret, &header, data, NOW, 300), Ok(()));
}
