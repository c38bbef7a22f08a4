//! Chat and danmaku on a real cloud, on SQLite and on PostgreSQL: a joined viewer's event
//! stream gets every message once and in order (a retry with the same `client_msg_id`
//! included), with the sender's role; the refusals (not joined, not live, muted 606, kicked
//! 605, over the rate limit 429 with Retry-After); recall; the history. And, on SQLite, the
//! word list (refuse 607, mask) and the review call through a real HTTP service the test runs
//! (replace, block, and a service slower than the timeout with each `chat_review_on_error`).

use crate::rooms::{start, RoomsCluster};
use e2e_tests::http;
use e2e_tests::rooms::{serve_http, Answer, Db, EventStream, RoomsApi};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "e2e-chat-secret-0123456789";
const WAIT: Duration = Duration::from_secs(10);
/// How long a test's event stream reads at most.
const STREAM_FOR: Duration = Duration::from_secs(60);

on_both_databases! {
    messages_reach_the_room_once_in_order => messages_in_order_on_sqlite, messages_in_order_on_postgres;
}

/// A live room of `anna` that `vic` has joined, with `vic`'s event stream open.
struct Scene {
    cluster: RoomsCluster,
    live_id: String,
    anna: String,
    vic: String,
    stream: EventStream,
}

impl Scene {
    fn api(&self) -> RoomsApi {
        self.cluster.api
    }

    /// `token` joins the room.
    fn join(&self, token: &str) {
        self.api()
            .client(
                token,
                "POST",
                &format!("/client/live/room/user/{}", self.live_id),
                None,
            )
            .ok("join the room");
    }

    fn say(&self, token: &str, body: &Value) -> Answer {
        let path = format!("/client/live/room/{}/message", self.live_id);
        self.api().client(token, "POST", &path, Some(body))
    }

    /// The `message` events the stream got once `count` of them arrived (fails the test
    /// after a while).
    fn messages(&self, count: usize) -> Vec<Value> {
        let found = e2e_tests::util::poll_until(WAIT, Duration::from_millis(50), || {
            let messages: Vec<Value> = self
                .stream
                .events()
                .into_iter()
                .filter(|event| event.kind == "message")
                .map(|event| event.data)
                .collect();
            (messages.len() >= count).then_some(messages)
        });
        found.unwrap_or_else(|| panic!("fewer than {count} messages: {:?}", self.stream.events()))
    }
}

fn scene(db: Db, label: &str, extra: &[&str]) -> Option<Scene> {
    let cluster = start(db, &format!("{label}-{db:?}").to_lowercase(), extra)?;
    let api = cluster.api;
    for user in ["anna", "vic"] {
        api.register(user);
    }
    let room = api.create_room("anna", "chat");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    api.server("POST", &format!("/server/live/{live_id}/start"), None)
        .ok("start the room");
    let (anna, vic) = (api.token("anna"), api.token("vic"));
    let stream = EventStream::open(api.addr, &vic, &live_id, STREAM_FOR);
    assert_eq!(stream.wait_answered(WAIT), 200, "the event stream opens");
    let scene = Scene {
        cluster,
        live_id,
        anna,
        vic,
        stream,
    };
    scene.join(&scene.vic);
    Some(scene)
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .collect()
}

fn messages_reach_the_room_once_in_order(db: Db) {
    let Some(scene) = scene(db, "chat-order", &["chat_rate_per_10s: 3"]) else {
        return;
    };
    let api = scene.api();
    let live_id = scene.live_id.as_str();

    // The anchor need not join; a viewer's retry is answered with the first message.
    let anchor = scene
        .say(&scene.anna, &json!({"kind": "chat", "text": "welcome"}))
        .ok("the anchor's message");
    assert_eq!(anchor["role"], "anchor");
    let first = scene
        .say(
            &scene.vic,
            &json!({"kind": "chat", "text": "hi all", "client_msg_id": "vic-1"}),
        )
        .ok("vic's message");
    let retry = scene
        .say(
            &scene.vic,
            &json!({"kind": "chat", "text": "hi all", "client_msg_id": "vic-1"}),
        )
        .ok("vic's retry");
    assert_eq!(retry, first, "the retry answers the first message");
    let danmaku = scene
        .say(
            &scene.vic,
            &json!({"kind": "danmaku", "text": "666", "style": {"color": "#ff8800", "position": "top"}}),
        )
        .ok("vic's danmaku");
    let system = api
        .server(
            "POST",
            &format!("/server/live/{live_id}/message"),
            Some(&json!({"text": "the show starts at 8"})),
        )
        .ok("a system message");
    assert_eq!(
        (
            system["role"].as_str(),
            system["user_id"].as_str(),
            system["kind"].as_str()
        ),
        (Some("system"), Some(""), Some("chat"))
    );
    let messages = scene.messages(4);
    assert_eq!(
        messages,
        [
            anchor.clone(),
            first.clone(),
            danmaku.clone(),
            system.clone()
        ],
        "each message once, in order, as answered"
    );
    assert_eq!(
        (
            first["user_id"].as_str(),
            first["kind"].as_str(),
            first["role"].as_str(),
            first["recalled"].as_bool(),
            &first["style"]
        ),
        (
            Some("vic"),
            Some("chat"),
            Some("viewer"),
            Some(false),
            &Value::Null
        )
    );
    assert_eq!(
        danmaku["style"],
        json!({"color": "#ff8800", "position": "top"})
    );
    assert_eq!(danmaku["live_id"], live_id);

    // The rate limit: vic sent 2 (the retry is not counted); the 4th in 10 s is refused.
    scene
        .say(&scene.vic, &json!({"kind": "chat", "text": "third"}))
        .ok("the third in 10 s");
    let bearer = format!("Bearer {}", scene.vic);
    let body = json!({"kind": "chat", "text": "fourth"}).to_string();
    let refused = http::request_with_body(
        api.addr,
        "POST",
        &format!("/client/live/room/{live_id}/message"),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
        WAIT,
    )
    .expect("an answer");
    assert_eq!(refused.status, 429, "{}", refused.body_text());
    let retry_after: u64 = refused
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    let error: Value = serde_json::from_str(&refused.body_text()).expect("an envelope");
    assert_eq!(error["code"], 429);

    // Refusals.
    for user in ["amy", "kim", "ops"] {
        api.register(user);
    }
    let amy = api.token("amy");
    scene
        .say(&amy, &json!({"kind": "chat", "text": "let me in"}))
        .expect_error("not joined", 403, 403, "join it");
    for (body, needle) in [
        (json!({"kind": "chat", "text": ""}), "empty"),
        (
            json!({"kind": "chat", "text": "x".repeat(201)}),
            "at most 200",
        ),
        (
            json!({"kind": "chat", "text": "x", "style": {"size": "large"}}),
            "danmaku only",
        ),
        (
            json!({"kind": "danmaku", "text": "x", "style": {"color": "red"}}),
            "#rrggbb",
        ),
        (json!({"kind": "shout", "text": "x"}), ""),
    ] {
        scene
            .say(&scene.vic, &body)
            .expect_error("a bad body", 400, 400, needle);
    }
    scene.join(&amy);
    api.server(
        "POST",
        &format!("/server/live/{live_id}/mute"),
        Some(&json!({"user_id": "amy", "duration_s": 600})),
    )
    .ok("mute amy");
    scene
        .say(&amy, &json!({"kind": "chat", "text": "muted?"}))
        .expect_error("muted", 403, 606, "muted");
    let kim = api.token("kim");
    scene.join(&kim);
    api.server(
        "POST",
        &format!("/server/live/{live_id}/kick"),
        Some(&json!({"user_id": "kim"})),
    )
    .ok("kick kim");
    scene
        .say(&kim, &json!({"kind": "chat", "text": "kicked?"}))
        .expect_error("kicked", 403, 605, "removed");
    let created = api.create_room("anna", "not started");
    let path = format!(
        "/client/live/room/{}/message",
        created["live_id"].as_str().unwrap_or_default()
    );
    api.client(
        &scene.anna,
        "POST",
        &path,
        Some(&json!({"kind": "chat", "text": "x"})),
    )
    .expect_error("not live", 409, 601, "live rooms");

    // An operator who joined writes as admin.
    let ops = api
        .server("GET", "/server/auth/admin/token?user_id=ops", None)
        .ok("an admin token")["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    scene.join(&ops);
    let admin = scene
        .say(&ops, &json!({"kind": "chat", "text": "be nice"}))
        .ok("the operator's message");
    assert_eq!(admin["role"], "admin");

    // Recall: gone from the history, announced once.
    let history_path = format!("/client/live/room/{live_id}/messages?page_num=1&page_size=3");
    let history = api
        .client(&amy, "GET", &history_path, None)
        .ok("the history");
    assert_eq!(history["total_count"], 6);
    assert_eq!(
        texts(history["list"].as_array().expect("a list")),
        ["be nice", "third", "the show starts at 8"],
        "newest first"
    );
    let first_id = first["message_id"].as_str().unwrap_or_default();
    for (path, token) in [
        (
            format!("/server/live/{live_id}/message/{first_id}/recall"),
            None,
        ),
        (
            format!("/admin/live/{live_id}/message/{first_id}/recall"),
            Some(&ops),
        ),
    ] {
        let answer = match token {
            None => api.server("POST", &path, None),
            Some(token) => api.client(token, "POST", &path, None),
        };
        assert_eq!(
            answer.ok("recall"),
            json!({"message_id": first_id, "live_id": live_id})
        );
    }
    api.client(
        &ops,
        "POST",
        &format!("/admin/live/{live_id}/message/nope/recall"),
        None,
    )
    .expect_error("an unknown message", 404, 404, "not found");
    let recalled = scene
        .stream
        .wait_for("message_recalled", WAIT, |_| true)
        .expect("message_recalled");
    assert_eq!(
        recalled,
        json!({"message_id": first_id, "live_id": live_id})
    );
    let history = api
        .client(
            &amy,
            "GET",
            &format!("/client/live/room/{live_id}/messages?page_size=500"),
            None,
        )
        .ok("the whole history");
    assert_eq!(
        texts(history["list"].as_array().expect("a list")),
        ["be nice", "third", "the show starts at 8", "666", "welcome"]
    );
    // A marker after everything: once it is in, nothing else came before it unseen.
    let marker = api
        .server(
            "POST",
            &format!("/server/live/{live_id}/message"),
            Some(&json!({"text": "end", "kind": "danmaku"})),
        )
        .ok("the marker");
    let all = scene.messages(7);
    assert_eq!(
        texts(&all),
        [
            "welcome",
            "hi all",
            "666",
            "the show starts at 8",
            "third",
            "be nice",
            "end"
        ]
    );
    assert_eq!(all[6], marker);
    let recalls = scene
        .stream
        .events()
        .iter()
        .filter(|event| event.kind == "message_recalled")
        .count();
    assert_eq!(recalls, 1, "the second recall sends nothing");
}

/// A review request as the service got it: its JSON body and its signature header.
type Call = (Value, Option<String>);

/// What the review service the tests run got, and how it answers.
#[derive(Clone, Default)]
struct Review {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Review {
    /// A review service: `slow` answers pass after 1.5 s; otherwise "please replace" is
    /// replaced, "blockme" blocked, anything else passed.
    fn start(&self, slow: bool) -> String {
        let calls = self.calls.clone();
        let addr = serve_http(move |headers, body| {
            let signature = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("x-liverelay-signature"))
                .map(|(_, value)| value.clone());
            let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let text = request["text"].as_str().unwrap_or_default().to_owned();
            if let Ok(mut calls) = calls.lock() {
                calls.push((request, signature));
            }
            if slow {
                std::thread::sleep(Duration::from_millis(1500));
                return (200, json!({"action": "pass"}).to_string());
            }
            let answer = if text.contains("please replace") {
                json!({"action": "replace", "text": "a kinder text"})
            } else if text.contains("blockme") {
                json!({"action": "block"})
            } else {
                json!({"action": "pass"})
            };
            (200, answer.to_string())
        });
        format!("chat_review_url: \"http://{addr}/review\"")
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[test]
fn blocked_words_are_masked_and_the_review_replaces_and_blocks() {
    let review = Review::default();
    let url = review.start(false);
    let secret = format!("callback_secret: \"{SECRET}\"");
    let lines = [
        url.as_str(),
        secret.as_str(),
        "chat_blocked_words: [\"spam\", \"Bad Word\"]",
        "chat_blocked_words_action: mask",
    ];
    let Some(scene) = scene(Db::Sqlite, "chat-review", &lines) else {
        return;
    };
    let masked = scene
        .say(
            &scene.vic,
            &json!({"kind": "chat", "text": "no SPAM and no bad word", "client_msg_id": "m-1"}),
        )
        .ok("a masked message");
    assert_eq!(masked["text"], "no **** and no ********");
    let replaced = scene
        .say(
            &scene.vic,
            &json!({"kind": "danmaku", "text": "please replace me"}),
        )
        .ok("a replaced message");
    assert_eq!(replaced["text"], "a kinder text");
    scene
        .say(&scene.vic, &json!({"kind": "chat", "text": "blockme now"}))
        .expect_error("blocked by review", 403, 607, "review");
    let passed = scene
        .say(&scene.vic, &json!({"kind": "chat", "text": "fine"}))
        .ok("a passed message");
    assert_eq!(
        texts(&scene.messages(3)),
        ["no **** and no ********", "a kinder text", "fine"]
    );
    assert_eq!(scene.messages(3)[2], passed);
    // The service saw the masked text, signed; the blocked one was asked about too.
    let calls = review.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(
        calls[0].0,
        json!({"live_id": scene.live_id, "user_id": "vic", "kind": "chat",
            "text": "no **** and no ********", "client_msg_id": "m-1"})
    );
    assert!(calls.iter().all(|(_, signature)| signature
        .as_deref()
        .is_some_and(|s| s.starts_with("t=") && s.contains(",v1="))));
}

#[test]
fn a_review_slower_than_its_timeout_blocks_or_passes_as_configured() {
    let secret = format!("callback_secret: \"{SECRET}\"");
    for (on_error, label) in [("block", "chat-slow-block"), ("pass", "chat-slow-pass")] {
        let review = Review::default();
        let url = review.start(true);
        let on_error_line = format!("chat_review_on_error: {on_error}");
        let lines = [
            url.as_str(),
            secret.as_str(),
            on_error_line.as_str(),
            "chat_review_timeout_ms: 200",
            "chat_blocked_words: [\"spam\"]",
        ];
        let Some(scene) = scene(Db::Sqlite, label, &lines) else {
            return;
        };
        // The word list refuses before the review is asked.
        scene
            .say(&scene.vic, &json!({"kind": "chat", "text": "Spam!"}))
            .expect_error("a blocked word", 403, 607, "blocked word");
        assert!(review.calls().is_empty(), "no review of a refused message");
        let answer = scene.say(&scene.vic, &json!({"kind": "chat", "text": "hello"}));
        if on_error == "block" {
            answer.expect_error("review timed out", 503, 503, "could not be reviewed");
            let history = scene
                .api()
                .client(
                    &scene.vic,
                    "GET",
                    &format!("/client/live/room/{}/messages", scene.live_id),
                    None,
                )
                .ok("the history");
            assert_eq!(history["total_count"], 0, "nothing was stored");
        } else {
            let message = answer.ok("passed on a review timeout");
            assert_eq!(message["text"], "hello");
            assert_eq!(scene.messages(1), [message]);
        }
        assert_eq!(review.calls().len(), 1);
    }
}
