//! A browser app on the live-room API: headless Chromium (Debian's package, driven by
//! playwright-core from web/package.json, as for the player page) opens a page served from
//! another origin than the cloud's API (web/test/room.mjs serves it), which joins a live room
//! with `fetch` (an `Authorization` header, so through a CORS preflight), mints an
//! event-stream token, opens an `EventSource` and a `WebSocket` (the event stream's WebSocket
//! variant) with it in the URL, and sends a like and a chat message with `fetch`; the like
//! must come back on both, the message on the event stream.

use crate::browser::web_dir;
use crate::events_ws::live_room;
use crate::rooms::start;
use e2e_tests::rooms::Db;
use e2e_tests::util::free_port;
use serde_json::Value;
use std::process::Command;

#[test]
fn a_page_on_another_origin_joins_listens_likes_and_chats() {
    let web = web_dir();
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: scripts/test.sh runs `npm ci` in web/"
    );
    let page_port = free_port();
    let page_origin = format!("http://127.0.0.1:{page_port}");
    let cors = format!("cors_allow_origins: [\"{page_origin}\"]");
    let Some(cluster) = start(Db::Sqlite, "room-browser", &[cors.as_str()]) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");
    api.register("fan");
    let anchor = api.token("anchor");
    let fan = api.token("fan");
    let live_id = live_room(&api, &anchor, "browser", None);
    let text = "hello from the browser ✓";

    let output = Command::new("node")
        .arg(web.join("test/room.mjs"))
        .args(["--page-port", &page_port.to_string()])
        .args(["--api", &format!("http://{}", api.addr)])
        .args(["--token", &fan, "--room", &live_id, "--chat", text])
        .args(["--seconds", "20"])
        .output()
        .expect("run node web/test/room.mjs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser run failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the browser run's JSON: {e}: {stderr}"));
    assert_eq!(report["origin"], Value::from(page_origin.as_str()));
    let page = &report["room"];
    let errors = page["errors"].as_array().cloned().unwrap_or_default();
    assert!(errors.is_empty(), "the page failed: {errors:?}; {report}");
    let console = report["consoleErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !console.iter().any(|e| e.to_string().contains("CORS")),
        "CORS errors in the console: {console:?}"
    );
    for step in ["join", "token", "like"] {
        assert_eq!(
            (
                page["steps"][step]["status"].as_u64(),
                page["steps"][step]["code"].as_i64()
            ),
            (Some(200), Some(0)),
            "{step}: {}",
            page["steps"][step]
        );
    }
    assert_eq!(page["steps"]["open"], true, "the EventSource opened");
    assert_eq!(page["steps"]["socket"], true, "the WebSocket opened");
    let frames = page["socketFrames"].as_array().cloned().unwrap_or_default();
    let socket_likes: i64 = frames
        .iter()
        .filter(|f| f["event"] == "like")
        .filter_map(|f| f["data"]["delta"].as_i64())
        .sum();
    assert_eq!(
        socket_likes, 3,
        "the like came over the WebSocket: {frames:?}"
    );
    let events = page["events"].as_array().cloned().unwrap_or_default();
    let of_kind = |kind: &str| {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["data"].clone())
            .collect::<Vec<Value>>()
    };
    let likes: i64 = of_kind("like")
        .iter()
        .filter_map(|d| d["delta"].as_i64())
        .sum();
    assert_eq!(likes, 3, "the like came back on the stream: {events:?}");
    assert!(
        events
            .iter()
            .all(|e| e["id"].as_str().is_some_and(|id| !id.is_empty())),
        "every event has an id to resume from: {events:?}"
    );

    // The chat message (the chat route, POST /client/live/room/{id}/message).
    let chat = &page["steps"]["chat"];
    assert_eq!(
        (chat["status"].as_u64(), chat["code"].as_i64()),
        (Some(200), Some(0)),
        "sending the chat message: {chat}"
    );
    let messages = of_kind("message");
    assert!(
        messages
            .iter()
            .any(|m| m["text"] == text && m["user_id"] == "fan" && m["message_id"].is_string()),
        "the chat message came back on the stream: {events:?}"
    );
}
