//! Seeded random input against every check: none may panic, none may accept what was not
//! signed, and changing any one character of a signed header, token or URL must be refused.

mod common;

use common::{pair, secret, test_ring, AK, DATE, NOW, SK};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relay_control::auth::jwt;
use relay_control::auth::{
    sign_push_url, sign_request, verify_publish, Claims, PushKeys, PushScheme, RequestParts,
    ServerAuth,
};

const ROUNDS: usize = 20_000;

/// Pieces that reach the parsers' corners: separators, scheme names, escapes, non-ASCII.
const PIECES: &[&str] = &[
    "Qiniu ",
    "Bearer ",
    "ak-test",
    "ak-other",
    ":",
    "=",
    "==",
    "&",
    "?",
    "token=",
    "e=",
    "expire=",
    "%",
    "%3D",
    "%3a",
    "%zz",
    ".",
    "eyJ",
    "eyJhbGciOiJIUzI1NiJ9",
    "/",
    "A",
    "z",
    "0",
    "9",
    "-",
    "_",
    "+",
    " ",
    "\t",
    "\u{e9}",
    "\u{0}",
    "\u{1F600}",
    "1741948013",
    "20250314T",
    "live",
    "room-1",
    "rtmp://",
    "999999999999999999999",
];

/// Characters a mutation may put in; white space is left out because the checks trim it.
const REPLACEMENTS: &[char] = &[
    'A', 'b', 'Z', '0', '9', '-', '_', '=', ':', '&', '?', '%', '.', '/', '+', '\u{e9}',
];

fn random_text(rng: &mut StdRng) -> String {
    let pieces = rng.random_range(0..12);
    (0..pieces)
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

/// `text` with the character at a random index (from `from` on) replaced by a different one.
fn mutate(rng: &mut StdRng, text: &str, from: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = rng.random_range(from..chars.len());
    let replacement = loop {
        let c = REPLACEMENTS[rng.random_range(0..REPLACEMENTS.len())];
        if c != chars[at] {
            break c;
        }
    };
    let mut out: String = chars[..at].iter().collect();
    out.push(replacement);
    out.extend(&chars[at + 1..]);
    out
}

#[test]
fn random_authorization_headers_never_pass_or_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    let auth = ServerAuth::new(test_ring());
    for _ in 0..ROUNDS {
        let authorization = random_text(&mut rng);
        let date = if rng.random_bool(0.5) {
            DATE.to_owned()
        } else {
            random_text(&mut rng)
        };
        let headers = [
            ("Host", "rooms.example.com"),
            ("X-Qiniu-Date", date.as_str()),
            ("Authorization", authorization.as_str()),
        ];
        let request = RequestParts {
            method: "GET",
            path: "/server/live/list",
            query: "",
            headers: &headers,
            body: b"",
        };
        assert!(auth.verify(&request, NOW).is_err(), "{authorization:?}");
    }
}

#[test]
fn one_changed_character_breaks_a_signed_request() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    let auth = ServerAuth::new(test_ring());
    let base = [("Host", "rooms.example.com"), ("X-Qiniu-Date", DATE)];
    let unsigned = RequestParts {
        method: "GET",
        path: "/server/live/list",
        query: "page_num=1",
        headers: &base,
        body: b"",
    };
    let pair = pair(AK, SK);
    let authorization = sign_request(&pair, &unsigned);
    let check = |authorization: &str| {
        let headers = [base[0], base[1], ("Authorization", authorization)];
        auth.verify(
            &RequestParts {
                headers: &headers,
                ..unsigned
            },
            NOW,
        )
        .map(str::to_owned)
    };
    assert_eq!(check(&authorization).as_deref(), Ok(AK));
    for _ in 0..ROUNDS / 10 {
        // After "Qiniu ": the scheme name may change case and still be the scheme.
        let mutated = mutate(&mut rng, &authorization, "Qiniu ".len());
        assert!(check(&mutated).is_err(), "{mutated}");
    }
}

#[test]
fn random_tokens_never_pass_or_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    let key = secret("liverelay-jwt-key");
    for _ in 0..ROUNDS {
        let token = random_text(&mut rng);
        assert!(jwt::verify(&key, &token, NOW).is_err(), "{token:?}");
    }
    let token = jwt::mint(
        &key,
        &Claims {
            exp: NOW + 60,
            iat: Some(NOW),
            app_id: "app1".into(),
            user_id: "user-42".into(),
            device_id: String::new(),
            role: String::new(),
        },
    );
    assert!(jwt::verify(&key, &token, NOW).is_ok());
    for _ in 0..ROUNDS / 10 {
        let mutated = mutate(&mut rng, &token, 0);
        assert!(jwt::verify(&key, &mutated, NOW).is_err(), "{mutated}");
    }
}

#[test]
fn random_push_urls_never_pass_or_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0004);
    let keys = PushKeys {
        publish_key: Some(secret("pubkey-123")),
        key_ring: test_ring(),
    };
    let schemes = [PushScheme::Expiry, PushScheme::ExpirySk];
    let mut signed = 0;
    for _ in 0..ROUNDS {
        let (app, stream, tc) = (
            random_text(&mut rng),
            random_text(&mut rng),
            random_text(&mut rng),
        );
        let scheme = schemes[rng.random_range(0..2)];
        let tc = rng.random_bool(0.5).then_some(tc.as_str());
        assert!(
            verify_publish(&app, &stream, tc, scheme, &keys, NOW).is_err(),
            "{app:?} {stream:?} {tc:?}"
        );
        // Signing random names either fails cleanly or makes a URL that verifies.
        let expire = rng.random_range(NOW..=i64::MAX);
        if let Ok(url) = sign_push_url("rtmp://h/live", &stream, scheme, &keys, expire) {
            let key = url.split_once("/live/").map_or("", |(_, key)| key);
            assert_eq!(
                verify_publish("live", key, None, scheme, &keys, NOW),
                Ok(()),
                "{url}"
            );
            signed += 1;
        }
    }
    assert!(
        signed > ROUNDS / 100,
        "only {signed} random names could be signed"
    );
    for scheme in schemes {
        let url = sign_push_url("rtmp://h/live", "room-1?a=1", scheme, &keys, NOW + 60).unwrap();
        let key = url.split_once("/live/").unwrap().1;
        assert_eq!(
            verify_publish("live", key, None, scheme, &keys, NOW),
            Ok(())
        );
        for _ in 0..ROUNDS / 10 {
            let mutated = mutate(&mut rng, key, 0);
            assert!(
                verify_publish("live", &mutated, None, scheme, &keys, NOW).is_err(),
                "{mutated}"
            );
        }
    }
}
