//! Server request signing (`Authorization: Qiniu <AK>:<sign>` with `X-Qiniu-Date`) against
//! values computed apart from this crate: every canonical string and signature below comes from
//! `auth_vectors.py` (Python's hmac/hashlib/base64).

mod common;

use common::{pair, ring, test_ring, AK, DATE, NOW, SK};
use relay_control::auth::{
    canonical_string, format_qiniu_date, sign_request, AuthError, KeyPair, RequestParts, ServerAuth,
};
use relay_control::ApiError;
use std::time::Duration;

const HOST: &str = "rooms.example.com";

fn server_auth() -> ServerAuth {
    ServerAuth::new(test_ring())
}

/// One request as the tests send it; `parts` borrows it as the [`RequestParts`] the API takes.
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    /// `scratch` holds the header pairs the parts point into.
    fn parts<'a>(&'a self, scratch: &'a mut Vec<(&'a str, &'a str)>) -> RequestParts<'a> {
        scratch.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        RequestParts {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: scratch,
            body: &self.body,
        }
    }

    fn canonical(&self) -> Vec<u8> {
        canonical_string(&self.parts(&mut Vec::new()))
    }

    fn sign(&self, pair: &KeyPair) -> String {
        sign_request(pair, &self.parts(&mut Vec::new()))
    }

    /// This request with `Authorization: authorization` added.
    fn authorized(&self, authorization: &str) -> Req {
        let mut signed = self.clone();
        signed
            .headers
            .push(("Authorization".into(), authorization.into()));
        signed
    }

    fn verify(&self, auth: &ServerAuth, now: i64) -> Result<String, AuthError> {
        auth.verify(&self.parts(&mut Vec::new()), now)
            .map(str::to_owned)
    }

    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn set_header(mut self, name: &str, value: &str) -> Req {
        for header in &mut self.headers {
            if header.0.eq_ignore_ascii_case(name) {
                header.1 = value.into();
            }
        }
        self
    }
}

fn get_with_headers() -> Req {
    // Sent in no particular order or case; signed sorted by canonical name.
    Req {
        method: "GET",
        path: "/server/live/list",
        query: "page_num=1&page_size=20",
        headers: vec![],
        body: vec![],
    }
    .header("X-Qiniu-Meta-B", "two")
    .header("Host", HOST)
    .header("x-qiniu-date", DATE)
    .header("X-QINIU-META-A", "one")
    .header("Accept", "application/json")
}

fn post_json() -> Req {
    Req {
        method: "POST",
        path: "/server/live/create",
        query: "",
        headers: vec![],
        body: br#"{"anchor_id":"u1","title":"hi"}"#.to_vec(),
    }
    .header("Host", HOST)
    .header("Content-Type", "application/json")
    .header("X-Qiniu-Date", DATE)
}

fn post_octet_stream() -> Req {
    Req {
        method: "POST",
        path: "/server/upload",
        query: "",
        headers: vec![],
        body: vec![0, 1, 2, 255],
    }
    .header("Host", HOST)
    .header("Content-Type", "application/octet-stream")
    .header("X-Qiniu-Date", DATE)
}

const GET_SIGNED: &str = "Qiniu ak-test:5LccwBFceD4mG7pQw1OVXmpR0gU=";
const POST_JSON_SIGNED: &str = "Qiniu ak-test:dF_qOpwYRJyOpYVJAyfVAqJcIWg=";
const POST_OCTET_SIGNED: &str = "Qiniu ak-test:KCcwm0XHSOWrENuWmXmOVf0BIE4=";

#[test]
fn canonical_strings_and_signatures_match_python() {
    let cases = [
        (
            get_with_headers(),
            &b"GET /server/live/list?page_num=1&page_size=20\nHost: rooms.example.com\n\
               X-Qiniu-Date: 20250314T092653Z\nX-Qiniu-Meta-A: one\nX-Qiniu-Meta-B: two\n\n"[..],
            GET_SIGNED,
        ),
        (
            post_json(),
            &b"POST /server/live/create\nHost: rooms.example.com\n\
               Content-Type: application/json\nX-Qiniu-Date: 20250314T092653Z\n\n\
               {\"anchor_id\":\"u1\",\"title\":\"hi\"}"[..],
            POST_JSON_SIGNED,
        ),
        (
            post_octet_stream(),
            &b"POST /server/upload\nHost: rooms.example.com\n\
               Content-Type: application/octet-stream\nX-Qiniu-Date: 20250314T092653Z\n\n"[..],
            POST_OCTET_SIGNED,
        ),
    ];
    let auth = server_auth();
    for (req, canonical, signed) in cases {
        assert_eq!(
            String::from_utf8_lossy(&req.canonical()),
            String::from_utf8_lossy(canonical)
        );
        assert_eq!(req.sign(&pair(AK, SK)), signed);
        assert_eq!(req.authorized(signed).verify(&auth, NOW).as_deref(), Ok(AK));
    }
}

#[test]
fn a_body_without_a_type_is_not_signed() {
    let mut req = post_json().set_header("Content-Type", "");
    let before = req.canonical();
    assert!(
        before.ends_with(b"\n\n"),
        "{:?}",
        String::from_utf8_lossy(&before)
    );
    req.body = b"anything".to_vec();
    assert_eq!(req.canonical(), before);
    // Nor is a binary body: it can change without breaking the signature, its type cannot.
    let mut binary = post_octet_stream().authorized(POST_OCTET_SIGNED);
    binary.body = b"other bytes".to_vec();
    assert_eq!(binary.verify(&server_auth(), NOW).as_deref(), Ok(AK));
}

#[test]
fn sign_may_come_without_padding() {
    let unpadded = GET_SIGNED.trim_end_matches('=');
    assert_ne!(unpadded, GET_SIGNED);
    let auth = server_auth();
    assert_eq!(
        get_with_headers()
            .authorized(unpadded)
            .verify(&auth, NOW)
            .as_deref(),
        Ok(AK)
    );
    // Scheme name in any case, extra space after it.
    let loose = GET_SIGNED.replacen("Qiniu ", "qiniu  ", 1);
    assert_eq!(
        get_with_headers()
            .authorized(&loose)
            .verify(&auth, NOW)
            .as_deref(),
        Ok(AK)
    );
}

#[test]
fn the_date_window_holds_at_both_edges() {
    let auth = server_auth();
    let signed = get_with_headers().authorized(GET_SIGNED);
    // The request is dated NOW; the server's clock moves around it.
    assert!(signed.verify(&auth, NOW - 300).is_ok());
    assert!(signed.verify(&auth, NOW + 300).is_ok());
    assert_eq!(
        signed.verify(&auth, NOW + 301),
        Err(AuthError::DateOutsideWindow {
            skew: -301,
            window: 300
        })
    );
    assert_eq!(
        signed.verify(&auth, NOW - 301),
        Err(AuthError::DateOutsideWindow {
            skew: 301,
            window: 300
        })
    );
    let strict = server_auth().with_date_window(Duration::from_secs(5));
    assert!(signed.verify(&strict, NOW + 5).is_ok());
    assert!(matches!(
        signed.verify(&strict, NOW + 6),
        Err(AuthError::DateOutsideWindow {
            skew: -6,
            window: 5
        })
    ));
    // A replay a day later, with a fresh date the signature does not cover, is refused.
    let tomorrow = NOW + 86_400;
    let replayed = signed.set_header("X-Qiniu-Date", &format_qiniu_date(tomorrow));
    assert_eq!(
        replayed.verify(&auth, tomorrow),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn every_signed_part_is_covered() {
    let auth = server_auth();
    let get = || get_with_headers().authorized(GET_SIGNED);
    let post = || post_json().authorized(POST_JSON_SIGNED);
    let tampered: Vec<(&str, Req)> = vec![
        (
            "method",
            Req {
                method: "DELETE",
                ..get()
            },
        ),
        (
            "path",
            Req {
                path: "/server/live/lisT",
                ..get()
            },
        ),
        (
            "query",
            Req {
                query: "page_num=2&page_size=20",
                ..get()
            },
        ),
        ("no query", Req { query: "", ..get() }),
        ("host", get().set_header("Host", "evil.example.com")),
        ("signed header", get().set_header("X-Qiniu-Meta-A", "One")),
        ("new signed header", get().header("X-Qiniu-Meta-C", "3")),
        ("date", get().set_header("X-Qiniu-Date", "20250314T092654Z")),
        (
            "content type",
            post().set_header("Content-Type", "text/plain"),
        ),
        (
            "body",
            Req {
                body: br#"{"anchor_id":"u2","title":"hi"}"#.to_vec(),
                ..post()
            },
        ),
        (
            "other known AK",
            get_with_headers().authorized(&GET_SIGNED.replace(AK, "ak-other")),
        ),
    ];
    for (what, req) in tampered {
        assert_eq!(
            req.verify(&auth, NOW),
            Err(AuthError::BadSignature),
            "{what}"
        );
    }
    // Unsigned headers may change.
    let accept = get().set_header("Accept", "text/html");
    assert_eq!(accept.verify(&auth, NOW).as_deref(), Ok(AK));
}

#[test]
fn each_failure_has_its_error_and_a_401() {
    let auth = server_auth();
    let unsigned = get_with_headers();
    let cases = [
        (unsigned.clone(), AuthError::MissingAuthorization),
        (unsigned.authorized("  "), AuthError::MissingAuthorization),
        (
            unsigned.authorized("Bearer abc"),
            AuthError::MalformedAuthorization,
        ),
        (
            unsigned.authorized("Qiniu ak-test"),
            AuthError::MalformedAuthorization,
        ),
        (
            unsigned.authorized("Qiniu ak-test:not base64!"),
            AuthError::MalformedAuthorization,
        ),
        (
            unsigned.authorized(&GET_SIGNED.replace(AK, "ak-nobody")),
            AuthError::UnknownAccessKey,
        ),
        (
            Req {
                headers: vec![("Host".into(), HOST.into())],
                ..unsigned.clone()
            }
            .authorized(GET_SIGNED),
            AuthError::MissingDate,
        ),
        (
            unsigned
                .clone()
                .set_header("X-Qiniu-Date", "2025-03-14T09:26:53Z")
                .authorized(GET_SIGNED),
            AuthError::MalformedDate,
        ),
    ];
    for (req, expected) in cases {
        let error = req.verify(&auth, NOW).unwrap_err();
        assert_eq!(error, expected);
        let api = ApiError::from(error);
        assert_eq!((api.status.as_u16(), api.code), (401, 401), "{api}");
        assert!(!api.message.is_empty());
    }
    // The message of a bad signature never shows the expected one.
    let forged = unsigned.authorized("Qiniu ak-test:AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let api = ApiError::from(forged.verify(&auth, NOW).unwrap_err());
    assert_eq!((api.status.as_u16(), api.code), (401, 401));
    assert!(
        !api.message.contains("5LccwBFceD4mG7pQw1OVXmpR0gU"),
        "{api}"
    );
    let window = ApiError::from(AuthError::DateOutsideWindow {
        skew: -301,
        window: 300,
    });
    assert_eq!(
        window.message,
        "X-Qiniu-Date is -301 s off the server clock; at most 300 s either way is accepted"
    );
}

#[test]
fn rotated_keys_all_verify() {
    let auth = ServerAuth::new(ring(&[("ak-new", "new-secret"), (AK, SK)]));
    let old = get_with_headers().authorized(GET_SIGNED);
    assert_eq!(old.verify(&auth, NOW).as_deref(), Ok(AK));
    let new_pair = pair("ak-new", "new-secret");
    let new = get_with_headers().authorized(&get_with_headers().sign(&new_pair));
    assert_eq!(new.verify(&auth, NOW).as_deref(), Ok("ak-new"));
    let retired = ServerAuth::new(ring(&[("ak-new", "new-secret")]));
    assert_eq!(old.verify(&retired, NOW), Err(AuthError::UnknownAccessKey));
}
