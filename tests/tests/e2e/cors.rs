//! Browser clients of the live-room API on a real cloud: CORS on `/client/*` for the origins of
//! `cors_allow_origins` (preflights answered without credentials, other origins and other paths
//! untouched, nothing at all with the key empty), and the event-stream token that lets a
//! browser's `EventSource` open a room's stream without an `Authorization` header.

use crate::rooms::start;
use e2e_tests::http::{probe, request_with_headers, HttpResponse};
use e2e_tests::rooms::{self, Db};
use relay_control::auth::{jwt, Claims, SecretKey};
use std::net::SocketAddr;
use std::time::Duration;

const PAGE_ORIGIN: &str = "http://app.example:8000";
const TIMEOUT: Duration = Duration::from_secs(10);

/// `method path` with `headers`, the whole answer.
fn ask(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    request_with_headers(addr, method, path, headers, TIMEOUT)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A browser's preflight of a GET with an `Authorization` header from `origin`.
fn preflight(addr: SocketAddr, path: &str, origin: &str) -> HttpResponse {
    ask(
        addr,
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    )
}

fn no_cors_headers(response: &HttpResponse, what: &str) {
    let cors: Vec<_> = response
        .headers
        .iter()
        .filter(|(name, _)| name.starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{what}: CORS headers {cors:?}");
}

#[test]
fn client_routes_answer_the_allowed_origins_only() {
    let origins = format!("cors_allow_origins: [\"{PAGE_ORIGIN}\", \"https://other.example\"]");
    let Some(cluster) = start(Db::Sqlite, "cors-allowed", &[origins.as_str()]) else {
        return;
    };
    let api = cluster.api;
    api.register("fan");
    let token = api.token("fan");
    let room = api.create_room("fan", "cors");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();

    for path in [
        "/client/live/room/list".to_owned(),
        format!("/client/live/room/{live_id}/events"),
    ] {
        let answer = preflight(api.addr, &path, PAGE_ORIGIN);
        assert_eq!(answer.status, 204, "preflight of {path}: {answer:?}");
        for (name, value) in [
            ("access-control-allow-origin", PAGE_ORIGIN),
            ("access-control-allow-methods", "GET,POST,PUT,DELETE"),
            (
                "access-control-allow-headers",
                "authorization,content-type,last-event-id",
            ),
            ("access-control-max-age", "600"),
            ("vary", "origin"),
        ] {
            assert_eq!(answer.header(name), Some(value), "{name} of {path}");
        }
        assert_eq!(answer.header("access-control-allow-credentials"), None);
        assert!(answer.body.is_empty(), "a preflight has no body");

        let other = preflight(api.addr, &path, "http://evil.example");
        assert!(
            !(200..300).contains(&other.status),
            "preflight from another origin: {other:?}"
        );
        no_cors_headers(&other, "preflight from another origin");
        assert_eq!(other.header("vary"), Some("origin"));
    }

    // The real request carries the header too, for an allowed origin only.
    let bearer = format!("Bearer {token}");
    let list = "/client/live/room/list";
    let allowed = ask(
        api.addr,
        "GET",
        list,
        &[("Origin", PAGE_ORIGIN), ("Authorization", &bearer)],
    );
    assert_eq!(allowed.status, 200, "{}", allowed.body_text());
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(PAGE_ORIGIN)
    );
    let second = ask(
        api.addr,
        "GET",
        list,
        &[
            ("Origin", "https://other.example"),
            ("Authorization", &bearer),
        ],
    );
    assert_eq!(
        second.header("access-control-allow-origin"),
        Some("https://other.example")
    );
    // An error answer is readable by the page too (it needs the code to act on it).
    let refused = ask(api.addr, "GET", list, &[("Origin", PAGE_ORIGIN)]);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some(PAGE_ORIGIN)
    );
    let elsewhere = ask(
        api.addr,
        "GET",
        list,
        &[
            ("Origin", "http://evil.example"),
            ("Authorization", &bearer),
        ],
    );
    assert_eq!(elsewhere.status, 200);
    no_cors_headers(&elsewhere, "a GET from another origin");

    // Not for /server, /admin or the rest of the API.
    for path in ["/server/live", "/admin/live", "/api/streams"] {
        let answer = preflight(api.addr, path, PAGE_ORIGIN);
        assert!(
            !(200..300).contains(&answer.status),
            "preflight of {path}: {answer:?}"
        );
        no_cors_headers(&answer, path);
    }
}

#[test]
fn without_origins_nothing_changes() {
    let Some(cluster) = start(Db::Sqlite, "cors-none", &[]) else {
        return;
    };
    let answer = preflight(cluster.api.addr, "/client/live/room/list", PAGE_ORIGIN);
    assert_eq!(answer.status, 405, "{answer:?}");
    no_cors_headers(&answer, "preflight without cors_allow_origins");
    assert_eq!(answer.header("vary"), None);
    let get = ask(
        cluster.api.addr,
        "GET",
        "/client/live/room/list",
        &[("Origin", PAGE_ORIGIN)],
    );
    assert_eq!(get.status, 401);
    no_cors_headers(&get, "GET without cors_allow_origins");
}

/// The status of the event stream of `live_id` opened with `?token=` and no `Authorization`.
fn stream_status(addr: SocketAddr, live_id: &str, token: &str) -> u16 {
    let path = format!("/client/live/room/{live_id}/events?token={token}");
    probe(addr, "GET", &path)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .status
}

#[test]
fn the_event_stream_takes_its_room_token_in_the_query_string() {
    let Some(cluster) = start(Db::Sqlite, "events-token", &[]) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");
    api.register("fan");
    let fan = api.token("fan");
    let room = api.create_room("anchor", "one");
    let other = api.create_room("anchor", "two");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    let other_id = other["live_id"].as_str().unwrap_or_default().to_owned();
    let mint_path = |id: &str| format!("/client/live/room/{id}/events/token");

    let minted = api
        .client(&fan, "POST", &mint_path(&live_id), None)
        .ok("mint an event-stream token");
    assert_eq!(minted["expires_in_s"], 60);
    let token = minted["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    api.client("", "POST", &mint_path(&live_id), None)
        .expect_error("minting without a token", 401, 401, "");
    api.client(&fan, "POST", &mint_path("no-such-room"), None)
        .expect_error("minting for an unknown room", 404, 404, "");

    assert_eq!(stream_status(api.addr, &live_id, &token), 200);
    let events = api.room_events(&fan, &live_id, None, Duration::from_millis(10));
    assert!(events.is_empty(), "the header still works: {events:?}");
    assert_eq!(
        stream_status(api.addr, &other_id, &token),
        401,
        "another room's token"
    );
    assert_eq!(
        stream_status(api.addr, &live_id, &fan),
        401,
        "a client token in the query string"
    );
    assert_eq!(stream_status(api.addr, &live_id, "garbage"), 401);
    // The stream token is no client token.
    api.client(&token, "GET", "/client/live/room/list", None)
        .expect_error(
            "an event-stream token as a client token",
            401,
            401,
            "event-stream",
        );
    api.client(&token, "POST", &mint_path(&live_id), None)
        .expect_error(
            "an event-stream token minting another",
            401,
            401,
            "event-stream",
        );
    // Expired (minted here with the claims the cloud gives, an hour ago).
    let key = SecretKey::new(rooms::JWT_KEY).expect("key");
    let now = rooms::unix_s();
    let expired = jwt::mint(
        &key,
        &Claims {
            exp: now - 3600 + 60,
            iat: Some(now - 3600),
            app_id: String::new(),
            user_id: "fan".into(),
            device_id: String::new(),
            role: format!("room-events:{live_id}"),
        },
    );
    let path = format!("/client/live/room/{live_id}/events?token={expired}");
    let answer = ask(api.addr, "GET", &path, &[]);
    assert_eq!(answer.status, 401, "{}", answer.body_text());
    assert!(
        answer.body_text().contains("\"code\":499"),
        "{}",
        answer.body_text()
    );
    // The same claims unexpired are accepted: what was refused was the expiry.
    let fresh = jwt::mint(
        &key,
        &Claims {
            exp: now + 60,
            iat: Some(now),
            app_id: String::new(),
            user_id: "fan".into(),
            device_id: String::new(),
            role: format!("room-events:{live_id}"),
        },
    );
    assert_eq!(stream_status(api.addr, &live_id, &fresh), 200);

    // The OpenAPI document names the new route.
    let document = api.openapi();
    assert!(document["paths"]["/client/live/room/{live_id}/events/token"]["post"].is_object());
}
