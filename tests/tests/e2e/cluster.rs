//! Several clouds behind one balancer: two real cloud processes on one PostgreSQL (the test
//! server of `LIVERELAY_TEST_POSTGRES_URL`) and one Redis (`LIVERELAY_TEST_REDIS_URL`, each test
//! under a key prefix of its own). A viewer on one node gets what is done on the other, in
//! order and once; presence, counts and kicks are the same on both; a node killed with SIGKILL
//! loses its clients nothing (they resume on the other with `Last-Event-ID`); and Redis going
//! away gives clear 503s, then service again when it is back.

use e2e_tests::rooms::{cloud_lines, database_url, Answer, Db, PayMode, PaymentService, RoomsApi};
use e2e_tests::rooms::{EventStream, SseEvent};
use e2e_tests::util::{free_port, poll_until};
use e2e_tests::{Cloud, CloudConfig, Media, Publisher, TestDir};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SECRET: &str = "e2e-gift-secret-0123456789";
const WAIT: Duration = Duration::from_secs(15);
/// How long an event stream of these tests reads at most.
const READ: Duration = Duration::from_secs(90);

/// The shared servers' URLs, or `None` (with a note) when either is not there.
fn shared_servers(label: &str) -> Option<(String, String)> {
    let redis = match std::env::var("LIVERELAY_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() && url != "skip" => url,
        _ => {
            eprintln!("skipped: {label} needs LIVERELAY_TEST_REDIS_URL (scripts/test.sh sets it)");
            return None;
        }
    };
    match std::env::var("LIVERELAY_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() && url != "skip" => {}
        _ => {
            eprintln!(
                "skipped: {label} needs LIVERELAY_TEST_POSTGRES_URL (scripts/test.sh sets it)"
            );
            return None;
        }
    }
    Some((database_url(Db::Postgres, label)?, redis))
}

/// Two clouds (or one) on the same database, Redis (under `prefix`) and payment service.
struct Nodes {
    dir: TestDir,
    clouds: Vec<Cloud>,
}

impl Nodes {
    fn start(
        label: &str,
        count: usize,
        database: &str,
        redis: &str,
        pay: &PaymentService,
    ) -> Nodes {
        Nodes::start_with(label, count, database, redis, pay, "publish_grace_s: 600")
    }

    /// As [`Nodes::start`], with `grace` (a `publish_grace_s` line).
    fn start_with(
        label: &str,
        count: usize,
        database: &str,
        redis: &str,
        pay: &PaymentService,
        grace: &str,
    ) -> Nodes {
        let dir = TestDir::new(label);
        let prefix = format!("e2e:{label}:{}:{}:", std::process::id(), free_port());
        let clouds = (0..count)
            .map(|n| {
                // No edge plays here: media goes to a port nobody reads.
                let nowhere = vec![format!("127.0.0.1:{}", free_port())];
                let mut config = CloudConfig::new(dir.path(), nowhere);
                config.quic_cert_file = dir.join(&format!("cloud{n}-cert.pem"));
                config.quic_key_file = dir.join(&format!("cloud{n}-key.pem"));
                config.extra = cloud_lines(database, config.rtmp_port, "http://127.0.0.1:9/live");
                config.extra.extend([
                    format!("redis_url: \"{redis}\""),
                    format!("redis_prefix: \"{prefix}\""),
                    "redis_timeout_ms: 300".to_owned(),
                    format!("gift_addr: \"{}\"", pay.url()),
                    format!("callback_secret: \"{SECRET}\""),
                    "kick_block_s: 600".to_owned(),
                    grace.to_owned(),
                    "anchor_grace_s: 3600".to_owned(),
                ]);
                Cloud::start_as(dir.path(), &format!("cloud{n}"), config)
            })
            .collect();
        Nodes { dir, clouds }
    }

    fn api(&self, n: usize) -> RoomsApi {
        RoomsApi {
            addr: self.clouds[n].api_addr(),
        }
    }

    fn logs(&self) -> String {
        self.clouds
            .iter()
            .map(|cloud| cloud.proc.log_tail(30))
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// A live room of `anna` (started through `api`) with a rose at 10 in the catalogue.
fn live_room(api: RoomsApi) -> String {
    for user in ["anna", "vic", "bob"] {
        api.register(user);
    }
    let room = api.create_room("anna", "two nodes");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    api.server("POST", &format!("/server/live/{live_id}/start"), None)
        .ok("start the room");
    let rose = json!({"gift_id": 1, "type": 1, "name": "rose", "amount": 10, "img": "https://cdn/rose.png"});
    api.server("POST", "/server/gift/config", Some(&rose))
        .ok("a catalogue entry");
    live_id
}

fn join(api: RoomsApi, token: &str, live_id: &str) -> Answer {
    api.client(
        token,
        "POST",
        &format!("/client/live/room/user/{live_id}"),
        None,
    )
}

fn like(api: RoomsApi, token: &str, live_id: &str, count: i64) -> Answer {
    let path = format!("/client/live/room/{live_id}/like");
    api.client(token, "PUT", &path, Some(&json!({ "count": count })))
}

/// A paid rose sent through `api`; its `biz_id`.
fn gift(api: RoomsApi, token: &str, live_id: &str, key: &str) -> String {
    let body = json!({"live_id": live_id, "gift_id": 1, "amount": 1, "client_biz_id": key});
    let data = api
        .client(token, "POST", "/client/gift/send", Some(&body))
        .ok("a gift");
    assert_eq!(data["status"], "paid", "{data}");
    data["biz_id"].as_str().unwrap_or_default().to_owned()
}

/// The online users' total as `api` lists them.
fn online_total(api: RoomsApi, token: &str, live_id: &str) -> i64 {
    let path = format!("/client/live/room/user_list?live_id={live_id}");
    api.client(token, "GET", &path, None).ok("online users")["total_count"]
        .as_i64()
        .unwrap_or(-1)
}

/// The events' ids in order, each once, and the ids as numbers.
fn check_ordered_once(events: &[SseEvent]) {
    let order: Vec<(u64, u64)> = events
        .iter()
        .map(|e| {
            let (ms, seq) = e.id.split_once('-').expect("an event id MS-SEQ");
            (ms.parse().expect("ms"), seq.parse().expect("seq"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "events out of order or twice: {events:?}"
    );
}

fn likes_total(events: &[SseEvent]) -> i64 {
    events
        .iter()
        .filter(|e| e.kind == "like")
        .map(|e| e.data["delta"].as_i64().unwrap_or(0))
        .sum()
}

fn gifts(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == "gift")
        .filter_map(|e| e.data["biz_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn two_clouds_share_events_presence_and_kicks() {
    let Some((database, redis)) = shared_servers("cluster-share") else {
        return;
    };
    let pay = PaymentService::start(PayMode::Pay);
    let mut nodes = Nodes::start("cluster-share", 2, &database, &redis, &pay);
    let (a, b) = (nodes.api(0), nodes.api(1));
    let live_id = live_room(a);
    let (anna, vic, bob) = (a.token("anna"), a.token("vic"), a.token("bob"));

    // vic joins through A and reads the room's events there; bob is on B.
    join(a, &vic, &live_id).ok("vic joins through A");
    let on_a = EventStream::open(a.addr, &vic, &live_id, READ);
    assert_eq!(on_a.wait_answered(WAIT), 200);
    join(b, &bob, &live_id).ok("bob joins through B");

    // Likes and a paid gift through B reach vic on A, in order, once each.
    like(b, &bob, &live_id, 3).ok("a like through B");
    let first = gift(b, &bob, &live_id, "two-nodes-1");
    like(b, &bob, &live_id, 4).ok("a like through B");
    let seen = poll_until(WAIT, Duration::from_millis(50), || {
        let events = on_a.events();
        (likes_total(&events) == 7 && gifts(&events).len() == 1).then_some(events)
    });
    let before = seen.unwrap_or_else(|| panic!("on A: {:?}\n{}", on_a.events(), nodes.logs()));
    check_ordered_once(&before);
    assert_eq!(gifts(&before), std::slice::from_ref(&first), "{before:?}");
    let gift_event = before.iter().find(|e| e.kind == "gift").expect("a gift");
    assert_eq!(
        (
            &gift_event.data["user_id"],
            &gift_event.data["total"],
            &gift_event.data["gift_id"]
        ),
        (&json!("bob"), &json!(10), &json!(1)),
        "{gift_event:?}"
    );
    let totals: Vec<i64> = before
        .iter()
        .filter(|e| e.kind == "like")
        .filter_map(|e| e.data["total"].as_i64())
        .collect();
    assert_eq!(totals.last(), Some(&7), "{before:?}");

    // Presence and online counts are the same whichever node is asked.
    assert_eq!(online_total(a, &vic, &live_id), 2);
    assert_eq!(online_total(b, &vic, &live_id), 2);
    let beat = format!("/client/live/room/heartbeat/{live_id}");
    let on_a_beat = a.client(&vic, "GET", &beat, None).ok("vic beats on A");
    let on_b_beat = b.client(&bob, "GET", &beat, None).ok("bob beats on B");
    assert_eq!(on_a_beat["online_count"], 2, "{on_a_beat}");
    assert_eq!(on_b_beat["online_count"], 2, "{on_b_beat}");
    // vic sends gifts through B too: B sees it joined (on A).
    let through_b = gift(b, &vic, &live_id, "two-nodes-vic");

    // Kicked on A, refused on B at once.
    let kick = format!("/client/live/room/{live_id}/kick");
    a.client(&anna, "POST", &kick, Some(&json!({"user_id": "bob"})))
        .ok("the anchor kicks bob on A");
    join(b, &bob, &live_id).expect_error("bob re-joining on B", 403, 605, "removed from room");
    assert_eq!(online_total(b, &vic, &live_id), 1);

    // A dies; its client resumes on B with the last id it had and misses nothing.
    let kicked_seen = on_a.wait_for("kicked", WAIT, |d| d["user_id"] == "bob");
    assert!(kicked_seen.is_some(), "{:?}", on_a.events());
    let before = on_a.events();
    check_ordered_once(&before);
    let last = before.last().map(|e| e.id.clone()).unwrap_or_default();
    nodes.clouds[0].proc.kill();
    like(b, &vic, &live_id, 5).ok("a like through B while A is gone");
    let second = gift(b, &vic, &live_id, "two-nodes-2");
    let resumed = EventStream::open_after(b.addr, &vic, &live_id, Some(&last), READ);
    let after = poll_until(WAIT, Duration::from_millis(50), || {
        let events = resumed.events();
        (likes_total(&events) == 5 && gifts(&events).len() == 1).then_some(events)
    })
    .unwrap_or_else(|| panic!("on B: {:?}\n{}", resumed.events(), nodes.logs()));
    check_ordered_once(&after);
    assert_eq!(
        gifts(&after),
        [second],
        "only the gift sent meanwhile: {after:?}"
    );
    assert!(
        after
            .iter()
            .all(|e| e.kind != "reset" && !before.iter().any(|b| b.id == e.id)),
        "a repeat or a reset after resuming: {after:?}"
    );
    assert!(
        gifts(&before).contains(&through_b) && gifts(&before).contains(&first),
        "{before:?}"
    );
    drop(nodes.dir);
}

/// The RTMP publish of a room lands on one node; the other shows the room publishing and its
/// watchdog does not end it for a missing stream (the grace is 2 s here), until the publisher
/// goes (a 24 s source, so the publish outlasts the watch whatever the load).
#[test]
fn a_stream_published_to_one_node_keeps_its_room_live_on_both() {
    let Some((database, redis)) = shared_servers("cluster-publish") else {
        return;
    };
    let pay = PaymentService::start(PayMode::Pay);
    let nodes = Nodes::start_with(
        "cluster-publish",
        2,
        &database,
        &redis,
        &pay,
        "publish_grace_s: 2",
    );
    let (a, b) = (nodes.api(0), nodes.api(1));
    a.register("anna");
    let room = a.create_room("anna", "published to A");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    let push = room["push_url"].as_str().unwrap_or_default().to_owned();
    assert!(
        push.contains(&format!(":{}/", nodes.clouds[0].config.rtmp_port)),
        "{push}"
    );
    let state = |api: RoomsApi| {
        api.server("GET", &format!("/server/live/{live_id}"), None)
            .ok("room info")
    };
    let mut publisher = Publisher::start(&nodes.dir, "anchor", Media::clock(), &push);
    let on_b = poll_until(WAIT, Duration::from_millis(100), || {
        let room = state(b);
        (room["status"] == "live" && room["stream_status"] == "publishing").then_some(room)
    });
    assert!(
        on_b.is_some(),
        "B never showed the stream\n{}",
        nodes.logs()
    );
    // Well past the grace, B's watchdog has looked many times: the room is still live.
    let ended_early = poll_until(Duration::from_secs(5), Duration::from_millis(200), || {
        (state(b)["status"] != "live").then_some(())
    });
    assert!(
        ended_early.is_none(),
        "a node ended a room published elsewhere\n{}",
        nodes.logs()
    );
    publisher
        .proc
        .assert_running("while the room was watched from B");
    publisher.proc.kill();
    let ended = poll_until(WAIT, Duration::from_millis(200), || {
        let room = state(b);
        (room["status"] == "ended").then_some(room)
    })
    .unwrap_or_else(|| panic!("the room outlived its stream\n{}", nodes.logs()));
    assert_eq!(ended["stop_reason"], "publish_timeout", "{ended}");
}

/// A throwaway redis-server of this test's own on `port`, no persistence.
fn redis_server(dir: &std::path::Path, port: u16) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (scripts/test.sh installs it)");
    let up = poll_until(WAIT, Duration::from_millis(50), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    assert!(up.is_some(), "redis-server on port {port} did not start");
    child
}

#[test]
fn redis_down_gives_clear_503s_then_service_resumes() {
    let Some((database, _)) = shared_servers("cluster-redis-down") else {
        return;
    };
    let port = free_port();
    let redis_dir = TestDir::new("cluster-redis-down-server");
    let mut server = redis_server(redis_dir.path(), port);
    let pay = PaymentService::start(PayMode::Pay);
    let url = format!("redis://127.0.0.1:{port}/0");
    let nodes = Nodes::start("cluster-redis-down", 1, &database, &url, &pay);
    let api = nodes.api(0);
    let live_id = live_room(api);
    let vic = api.token("vic");
    join(api, &vic, &live_id).ok("vic joins");
    let before = EventStream::open(api.addr, &vic, &live_id, READ);
    assert_eq!(before.wait_answered(WAIT), 200);
    like(api, &vic, &live_id, 2).ok("a like");
    // The like event goes out once the likes are stored (pending ones live in Redis, which
    // keeps nothing on disk here).
    let stored = before.wait_for("like", WAIT, |d| d["delta"] == 2);
    assert!(stored.is_some(), "likes not stored\n{}", nodes.logs());
    let stats_path = format!("/server/live/{live_id}/stats");
    let stored_likes = || api.server("GET", &stats_path, None).ok("stats")["likes"].as_i64();

    let _ = server.kill();
    let _ = server.wait();
    for answer in [
        join(api, &vic, &live_id),
        like(api, &vic, &live_id, 1),
        api.client(
            &vic,
            "GET",
            &format!("/client/live/room/heartbeat/{live_id}"),
            None,
        ),
    ] {
        answer.expect_error("with Redis down", 503, 503, "shared state unavailable: ");
    }
    let events = EventStream::open(api.addr, &vic, &live_id, Duration::from_secs(5));
    assert_eq!(
        events.wait_answered(WAIT),
        503,
        "the event stream with Redis down"
    );
    // Nothing reaches the ledger that cannot be told: the sender's presence is unknown.
    let body = json!({"live_id": live_id, "gift_id": 1, "amount": 1, "client_biz_id": "down"});
    api.client(&vic, "POST", "/client/gift/send", Some(&body))
        .expect_error(
            "a gift with Redis down (its sender's presence is unknown)",
            503,
            503,
            "shared state unavailable: ",
        );

    let mut server = redis_server(redis_dir.path(), port);
    let back = poll_until(WAIT, Duration::from_millis(200), || {
        (join(api, &vic, &live_id).status == 200).then_some(())
    });
    assert!(
        back.is_some(),
        "no service after Redis came back\n{}",
        nodes.logs()
    );
    like(api, &vic, &live_id, 3).ok("a like after Redis came back");
    let stream = EventStream::open_after(api.addr, &vic, &live_id, Some("0-0"), READ);
    let liked = stream.wait_for("like", WAIT, |d| d["delta"] == 3);
    assert!(liked.is_some(), "{:?}\n{}", stream.events(), nodes.logs());
    let total = poll_until(WAIT, Duration::from_millis(100), || {
        (stored_likes() == Some(5)).then_some(())
    });
    assert!(
        total.is_some(),
        "likes before and after: {:?}",
        stored_likes()
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// Chat sent through B reaches a viewer on A (once the chat routes are there).
#[test]
fn chat_through_one_node_reaches_the_other() {
    let Some((database, redis)) = shared_servers("cluster-chat") else {
        return;
    };
    let pay = PaymentService::start(PayMode::Pay);
    let nodes = Nodes::start("cluster-chat", 2, &database, &redis, &pay);
    let (a, b) = (nodes.api(0), nodes.api(1));
    let live_id = live_room(a);
    let (vic, bob) = (a.token("vic"), a.token("bob"));
    join(a, &vic, &live_id).ok("vic joins through A");
    join(b, &bob, &live_id).ok("bob joins through B");
    let on_a = EventStream::open(a.addr, &vic, &live_id, READ);
    assert_eq!(on_a.wait_answered(WAIT), 200);
    let path = format!("/client/live/room/{live_id}/message");
    for text in ["first", "second"] {
        b.client(
            &bob,
            "POST",
            &path,
            Some(&json!({"kind": "chat", "text": text})),
        )
        .ok("chat through B");
    }
    let seen = poll_until(WAIT, Duration::from_millis(50), || {
        let texts: Vec<Value> = on_a
            .events()
            .into_iter()
            .filter(|e| e.kind == "message")
            .map(|e| e.data["text"].clone())
            .collect();
        (texts.len() >= 2).then_some(texts)
    });
    assert_eq!(
        seen,
        Some(vec![json!("first"), json!("second")]),
        "{:?}",
        on_a.events()
    );
    check_ordered_once(&on_a.events());
}
