//! The live-room API on a real cloud (and edge), on SQLite and on PostgreSQL: signed server
//! requests and client tokens, users, rooms and their states, who may do what, presence, and
//! real ffmpeg publishes driving a room with its signed push URL.

use crate::logs;
use e2e_tests::rooms::{self, database_url, Answer, Db, RoomsApi, Signing, PUBLISH_KEY};
use e2e_tests::util::poll_until;
use e2e_tests::{Cloud, CloudConfig, Edge, EdgeConfig, Media, Publisher, TestDir};
use serde_json::json;
use std::time::Duration;

/// A cloud with the rooms set-up of the tests, an edge it sends to, and the API.
pub struct RoomsCluster {
    pub dir: TestDir,
    pub cloud: Cloud,
    pub edge: Edge,
    pub api: RoomsApi,
}

/// Starts a [`RoomsCluster`] on `db` with `extra` cloud config lines; `None` when PostgreSQL
/// runs are skipped on purpose.
pub fn start(db: Db, label: &str, extra: &[&str]) -> Option<RoomsCluster> {
    let url = database_url(db, label)?;
    let dir = TestDir::new(label);
    let mut cloud_config = CloudConfig::new(dir.path(), Vec::new());
    let edge_config = EdgeConfig::unicast(&cloud_config);
    cloud_config
        .client_addr_list
        .push(edge_config.unicast_target());
    let play_base = format!("http://127.0.0.1:{}/live", edge_config.flv_port);
    cloud_config.extra = rooms::cloud_lines(&url, cloud_config.rtmp_port, &play_base);
    cloud_config
        .extra
        .extend(extra.iter().map(|line| line.to_string()));
    let edge = Edge::start(dir.path(), "edge", edge_config);
    let cloud = Cloud::start(dir.path(), cloud_config);
    let api = RoomsApi {
        addr: cloud.api_addr(),
    };
    Some(RoomsCluster {
        dir,
        cloud,
        edge,
        api,
    })
}

/// Checks that nothing in a viewer's answer carries a publishing credential.
fn no_push_url(answer: &Answer, what: &str) {
    assert!(
        !answer.text.contains("push_url") && !answer.text.contains("token="),
        "{what} shows a push URL to a viewer: {}",
        answer.text
    );
}

fn server_auth_and_tokens(db: Db) {
    let Some(cluster) = start(db, &format!("rooms-auth-{db:?}").to_lowercase(), &[]) else {
        return;
    };
    let api = cluster.api;
    let body = json!({"user_id": "u-auth", "nick": "Auth"});
    api.server("POST", "/server/user/register", Some(&body))
        .ok("register with a good signature");
    for (signing, needle) in [
        (Signing::Unsigned, "Authorization"),
        (Signing::WrongKey, "signature"),
        (Signing::Undated, "X-Qiniu-Date"),
        (Signing::DatedAgo(600), "off the server clock"),
        (Signing::DatedAgo(-600), "off the server clock"),
    ] {
        let answer = api.server_signed(signing, "GET", "/server/user/info/u-auth", "");
        answer.expect_error(&format!("{signing:?}"), 401, 401, needle);
    }
    // A request dated within the window is accepted even if it is a little old.
    api.server_signed(
        Signing::DatedAgo(120),
        "GET",
        "/server/user/info/u-auth",
        "",
    )
    .ok("a request dated 2 minutes ago");

    // Client tokens: minted, accepted bare and as Bearer; expired and forged refused.
    let token = api.token("u-auth");
    api.client(&token, "GET", "/client/live/room/list", None)
        .ok("a fresh token");
    let bare = e2e_tests::http::request_with_body(
        api.addr,
        "GET",
        "/client/live/room/list",
        &[("Authorization", &token)],
        &[],
        Duration::from_secs(10),
    )
    .expect("GET with a bare token");
    assert_eq!(bare.status, 200, "a bare token: {}", bare.body_text());
    let claims = |exp: i64| relay_control::auth::Claims {
        exp,
        iat: Some(exp - 10),
        app_id: "e2e".into(),
        user_id: "u-auth".into(),
        device_id: String::new(),
        role: String::new(),
    };
    let key = |k: &str| relay_control::auth::SecretKey::new(k).expect("key");
    let expired =
        relay_control::auth::jwt::mint(&key(rooms::JWT_KEY), &claims(rooms::unix_s() - 5));
    api.client(&expired, "GET", "/client/live/room/list", None)
        .expect_error("an expired token", 401, 499, "expired");
    let forged = relay_control::auth::jwt::mint(
        &key("not-the-jwt-key-0123"),
        &claims(rooms::unix_s() + 600),
    );
    api.client(&forged, "GET", "/client/live/room/list", None)
        .expect_error("a forged token", 401, 401, "");
    api.client("", "GET", "/client/live/room/list", None)
        .expect_error("no token", 401, 401, "");
    // A client token does not open /admin; an admin token does.
    api.client(&token, "GET", "/admin/live", None).expect_error(
        "a client token on /admin",
        403,
        403,
        "admin",
    );
    let admin = api
        .server("GET", "/server/auth/admin/token?user_id=ops", None)
        .ok("mint an admin token");
    let admin = admin["access_token"].as_str().unwrap_or_default();
    api.client(admin, "GET", "/admin/live", None)
        .ok("an admin token on /admin");
    api.server("GET", "/server/auth/token?expires_at=1", None)
        .expect_error("a token without user_id", 400, 400, "user_id");

    // Every room route is in the OpenAPI document.
    let document = api.openapi();
    for path in [
        "/server/auth/token",
        "/server/user/register",
        "/server/live",
        "/server/live/{live_id}/stop",
        "/client/live/room/instance",
        "/client/live/room/heartbeat/{live_id}",
        "/client/live/room/user/{live_id}",
        "/admin/live/{live_id}/stop",
    ] {
        assert!(document["paths"][path].is_object(), "OpenAPI lacks {path}");
    }

    // The README's signing tool (an independent signer, in Python) is accepted too.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sign.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(["--ak", rooms::ACCESS_KEY, "--sk", rooms::SECRET_KEY])
        .arg(format!("http://{}", api.addr))
        .args([
            "POST",
            "/server/user/register",
            r#"{"user_id":"from-python"}"#,
        ])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("\"code\":0"),
        "sign.py: {text}"
    );
    api.server("GET", "/server/user/info/from-python", None)
        .ok("the user sign.py registered");
}

fn users_rooms_and_presence(db: Db) {
    let Some(cluster) = start(
        db,
        &format!("rooms-life-{db:?}").to_lowercase(),
        &["heartbeat_interval_s: 1", "presence_expire_s: 3"],
    ) else {
        return;
    };
    let api = cluster.api;
    // Users.
    api.server(
        "POST",
        "/server/user/register",
        Some(&json!({"user_id": "anchor", "nick": "Anna"})),
    )
    .ok("register the anchor");
    api.server(
        "POST",
        "/server/user/register",
        Some(&json!({"user_id": "anchor"})),
    )
    .expect_error("a second registration", 409, 600, "exists");
    let batch = api
        .server(
            "POST",
            "/server/user/register/batch",
            Some(&json!({"users": [{"user_id": "v1", "nick": "Vee"}, {"user_id": "anchor"}]})),
        )
        .ok("batch registration");
    assert_eq!(batch["registered"], json!(["v1"]), "{batch}");
    assert_eq!(batch["existed"], json!(["anchor"]), "{batch}");
    let updated = api
        .server("PUT", "/server/user/v1", Some(&json!({"nick": "Vera"})))
        .ok("update a user");
    assert_eq!(updated["nick"], "Vera");
    api.server("GET", "/server/user/info/nobody", None)
        .expect_error("an unknown user", 404, 404, "nobody");
    for (body, needle) in [
        ("{not json", "JSON"),
        ("{\"nick\": \"x\"}", "user_id"),
        ("{\"user_id\": \"x\", \"bogus\": 1}", "bogus"),
    ] {
        let answer = api.server_signed(Signing::Good, "POST", "/server/user/register", body);
        answer.expect_error(&format!("register {body}"), 400, 400, needle);
    }

    // Rooms: created by the server for the anchor, and by the anchor itself.
    api.server(
        "POST",
        "/server/live",
        Some(&json!({"anchor_id": "anchor"})),
    )
    .expect_error("a room without a title", 400, 400, "title");
    api.server(
        "POST",
        "/server/live",
        Some(&json!({"anchor_id": "ghost", "title": "x"})),
    )
    .expect_error("a room of an unknown anchor", 404, 404, "");
    let by_server = api
        .server(
            "POST",
            "/server/live",
            Some(&json!({"anchor_id": "anchor", "title": "Morning show"})),
        )
        .ok("create a room (server)");
    assert!(
        by_server["push_url"]
            .as_str()
            .is_some_and(|u| u.contains("token=")),
        "{by_server}"
    );
    let anchor = api.token("anchor");
    let viewer = api.token("v1");
    let created = api
        .client(
            &anchor,
            "POST",
            "/client/live/room/instance",
            Some(&json!({"title": "Evening show"})),
        )
        .ok("create a room (anchor)");
    let live_id = created["live_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        (created["status"].as_str(), created["live_status"].as_u64()),
        (Some("created"), Some(0))
    );
    assert!(
        created["push_url"].is_string(),
        "the anchor gets its push URL: {created}"
    );

    // Who may do what.
    let path = format!("/client/live/room/{live_id}");
    api.client(&viewer, "PUT", &path, None).expect_error(
        "a viewer starting someone's room",
        403,
        403,
        "anchor",
    );
    api.client(&viewer, "DELETE", &path, None).expect_error(
        "a viewer stopping someone's room",
        403,
        403,
        "anchor",
    );
    api.client(
        &viewer,
        "DELETE",
        &format!("/client/live/room/instance/{live_id}"),
        None,
    )
    .expect_error("a viewer deleting someone's room", 403, 403, "anchor");
    api.client(&viewer, "GET", &format!("{path}/push_url"), None)
        .expect_error("a viewer asking for the push URL", 403, 403, "anchor");
    api.client(&anchor, "DELETE", &path, None).expect_error(
        "stopping a room that is not live",
        409,
        601,
        "not live",
    );
    let started = api
        .client(&anchor, "PUT", &path, None)
        .ok("the anchor starts its room");
    assert_eq!(started["status"], "live");
    assert!(started["push_url"].is_string(), "{started}");
    api.client(&anchor, "PUT", &path, None).expect_error(
        "starting a live room",
        409,
        601,
        "cannot start",
    );

    // Viewers: join, beat, counts; no push URL in anything a viewer reads.
    let joined = api.client(
        &viewer,
        "POST",
        &format!("/client/live/room/user/{live_id}"),
        None,
    );
    no_push_url(&joined, "join");
    let joined = joined.ok("join");
    assert_eq!(joined["online_count"], 2, "anchor and viewer: {joined}");
    let beat = api.client(
        &viewer,
        "GET",
        &format!("/client/live/room/heartbeat/{live_id}"),
        None,
    );
    no_push_url(&beat, "heartbeat");
    assert_eq!(beat.ok("heartbeat")["next_interval_s"], 1);
    let metrics = e2e_tests::http::request(api.addr, "GET", "/metrics", Duration::from_secs(10))
        .expect("GET /metrics");
    let scrape = e2e_tests::prometheus::Scrape::parse(&metrics.body_text()).expect("metrics");
    assert_eq!(scrape.get("liverelay_cloud_rooms_live", &[]), Some(1.0));
    assert_eq!(
        scrape.get("liverelay_cloud_room_viewers_online", &[]),
        Some(2.0)
    );
    for (what, path) in [
        ("info", format!("/client/live/room/info/{live_id}")),
        ("list", "/client/live/room/list?status=live".to_owned()),
        ("search", "/client/live/room?keyword=evening".to_owned()),
        (
            "user list",
            format!("/client/live/room/user_list?live_id={live_id}"),
        ),
    ] {
        let answer = api.client(&viewer, "GET", &path, None);
        no_push_url(&answer, what);
        answer.ok(what);
    }
    let info = api.client(
        &anchor,
        "GET",
        &format!("/client/live/room/info/{live_id}"),
        None,
    );
    no_push_url(&info, "info, even to the anchor");
    let found = api
        .client(&viewer, "GET", "/client/live/room?keyword=EVENING", None)
        .ok("search");
    assert_eq!(found["total_count"], 1, "{found}");
    let listed = api
        .client(&viewer, "GET", "/client/live/room/list?status=live", None)
        .ok("list");
    assert_eq!(listed["list"][0]["live_id"], live_id.as_str(), "{listed}");
    api.client(&viewer, "GET", "/client/live/room/list?status=bogus", None)
        .expect_error("a bad status", 400, 400, "status");

    // A viewer that stops beating drops out within the expiry (3 s); the anchor keeps beating.
    let dropped = poll_until(Duration::from_secs(8), Duration::from_millis(500), || {
        api.client(
            &anchor,
            "GET",
            &format!("/client/live/room/heartbeat/{live_id}"),
            None,
        )
        .ok("the anchor's heartbeat");
        let info = api
            .client(
                &anchor,
                "GET",
                &format!("/client/live/room/info/{live_id}"),
                None,
            )
            .ok("info");
        (info["online_count"] == 1).then_some(())
    });
    assert!(
        dropped.is_some(),
        "a viewer that stopped beating is still online\n{}",
        logs(&[&cluster.cloud.proc])
    );
    api.client(
        &viewer,
        "GET",
        &format!("/client/live/room/heartbeat/{live_id}"),
        None,
    )
    .expect_error("a beat after being dropped", 404, 404, "join");

    // Stop, then nothing more happens to it; delete.
    let stopped = api
        .client(&anchor, "DELETE", &path, None)
        .ok("the anchor stops its room");
    assert_eq!(
        (stopped["status"].as_str(), stopped["stop_reason"].as_str()),
        (Some("ended"), Some("anchor"))
    );
    api.client(&anchor, "PUT", &path, None).expect_error(
        "starting an ended room",
        409,
        601,
        "ended",
    );
    api.client(
        &viewer,
        "POST",
        &format!("/client/live/room/user/{live_id}"),
        None,
    )
    .expect_error("joining an ended room", 409, 601, "ended");
    let other = by_server["live_id"].as_str().unwrap_or_default();
    api.server("DELETE", &format!("/server/live/{other}"), None)
        .ok("delete a room");
    api.server("GET", &format!("/server/live/{other}"), None)
        .expect_error("a deleted room", 404, 404, "");
}

/// Publishes `url` and waits for ffmpeg to end; true if the cloud refused it.
pub(crate) fn refused(cluster: &RoomsCluster, label: &str, url: &str) -> bool {
    let mut publisher = Publisher::start(&cluster.dir, label, Media::standard(), url);
    let status = publisher.proc.wait_timeout(Duration::from_secs(20));
    if status.is_none() {
        publisher.proc.kill();
    }
    status.is_some_and(|s| !s.success())
}

pub(crate) fn room_state(api: &RoomsApi, live_id: &str) -> serde_json::Value {
    api.server("GET", &format!("/server/live/{live_id}"), None)
        .ok("server room info")
}

fn publishing_drives_the_room(db: Db) {
    let Some(cluster) = start(
        db,
        &format!("rooms-media-{db:?}").to_lowercase(),
        &["publish_grace_s: 2"],
    ) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");
    let create = |title: &str| api.create_room("anchor", title);
    let (room_a, room_b) = (create("A"), create("B"));
    let live_id = room_a["live_id"].as_str().unwrap_or_default().to_owned();
    let push_a = room_a["push_url"].as_str().unwrap_or_default().to_owned();
    let push_b = room_b["push_url"].as_str().unwrap_or_default().to_owned();
    let (base_a, _) = push_a.split_once('?').expect("a signed push URL");
    let (_, query_b) = push_b.split_once('?').expect("a signed push URL");
    let stream_a = base_a.rsplit('/').next().unwrap_or_default().to_owned();
    let procs = || logs(&[&cluster.cloud.proc]);

    // Refused: another room's token, a tampered token, an expired URL, no token.
    let expired = rooms::expiry_query("live", &stream_a, rooms::unix_s() - 5, PUBLISH_KEY);
    let tampered = push_a.replacen("token=", "token=x", 1);
    for (what, url) in [
        ("room B's token", format!("{base_a}?{query_b}")),
        ("a tampered token", tampered),
        ("an expired URL", format!("{base_a}{expired}")),
        ("no token", base_a.to_owned()),
    ] {
        assert!(
            refused(&cluster, "refused", &url),
            "a publish with {what} was accepted\n{}",
            procs()
        );
    }
    assert_eq!(
        room_state(&api, &live_id)["status"],
        "created",
        "refused publishes started the room"
    );

    // The room's own push URL: accepted, and the room goes live on its own.
    let mut publisher = Publisher::start(&cluster.dir, "anchor", Media::standard(), &push_a);
    let live = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
        let room = room_state(&api, &live_id);
        (room["status"] == "live" && room["stream_status"] == "publishing").then_some(room)
    });
    let live = live.unwrap_or_else(|| panic!("the room never went live\n{}", procs()));
    assert!(live["started_at"].is_i64(), "{live}");
    // A second publisher with the same valid URL is refused; the first goes on.
    assert!(
        refused(&cluster, "second", &push_a),
        "a second publisher was accepted\n{}",
        procs()
    );
    publisher
        .proc
        .assert_running("after the second publisher was refused");
    // Players on the edge see it at the room's play URL.
    let play = live["play_urls"]["flv"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        play.starts_with(&format!(
            "http://127.0.0.1:{}/live/",
            cluster.edge.config.flv_port
        )),
        "{play}"
    );

    // The publisher stops: interrupted, then after the 2 s grace the room ends.
    publisher.proc.kill();
    let interrupted = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        (room_state(&api, &live_id)["stream_status"] == "interrupted").then_some(())
    });
    assert!(
        interrupted.is_some(),
        "the room never showed the stream interrupted\n{}",
        procs()
    );
    let ended = poll_until(Duration::from_secs(15), Duration::from_millis(200), || {
        let room = room_state(&api, &live_id);
        (room["status"] == "ended").then_some(room)
    });
    let ended =
        ended.unwrap_or_else(|| panic!("the room did not end after the grace\n{}", procs()));
    assert_eq!(ended["stop_reason"], "publish_timeout", "{ended}");
    // An ended room's stream cannot be published again.
    assert!(
        refused(&cluster, "after-end", &push_a),
        "an ended room's stream was accepted"
    );
}

/// The endpoints the other scenarios do not reach, each on its success path.
fn every_other_endpoint(db: Db) {
    let Some(cluster) = start(db, &format!("rooms-rest-{db:?}").to_lowercase(), &[]) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");
    api.register("viewer");
    let (anchor, viewer) = (api.token("anchor"), api.token("viewer"));
    // Server: start, list (with push URLs), online users, stop.
    let room = api.create_room("anchor", "server-run");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    let started = api
        .server("POST", &format!("/server/live/{live_id}/start"), None)
        .ok("server start");
    assert_eq!(started["status"], "live");
    let listed = api
        .server("GET", "/server/live?status=live", None)
        .ok("server list");
    assert_eq!(listed["total_count"], 1, "{listed}");
    assert!(
        listed["list"][0]["push_url"].is_string(),
        "the server list carries push URLs"
    );
    api.client(
        &viewer,
        "POST",
        &format!("/client/live/room/user/{live_id}"),
        None,
    )
    .ok("join");
    let online = api
        .server(
            "GET",
            &format!("/server/live/{live_id}/users?page_size=10"),
            None,
        )
        .ok("server online users");
    assert_eq!(online["list"][0]["user_id"], "viewer", "{online}");
    // Client: leave, own rooms, a fresh push URL for the anchor.
    api.client(
        &viewer,
        "DELETE",
        &format!("/client/live/room/user/{live_id}"),
        None,
    )
    .ok("leave");
    api.client(
        &viewer,
        "DELETE",
        &format!("/client/live/room/user/{live_id}"),
        None,
    )
    .expect_error("leaving twice", 404, 404, "not in room");
    let own = api
        .client(&anchor, "GET", "/client/live/room/list/anchor", None)
        .ok("own rooms");
    assert_eq!(own["total_count"], 1, "{own}");
    let push = api
        .client(
            &anchor,
            "GET",
            &format!("/client/live/room/{live_id}/push_url"),
            None,
        )
        .ok("the anchor's push URL");
    assert!(
        push["push_url"]
            .as_str()
            .is_some_and(|u| u.contains("token=")),
        "{push}"
    );
    let stopped = api
        .server("POST", &format!("/server/live/{live_id}/stop"), None)
        .ok("server stop");
    assert_eq!(stopped["stop_reason"], "server");
    // Admin stop; the anchor deletes its own room.
    let second = api
        .client(
            &anchor,
            "POST",
            "/client/live/room/instance",
            Some(&json!({"title": "admin-run"})),
        )
        .ok("create");
    let second_id = second["live_id"].as_str().unwrap_or_default().to_owned();
    api.client(
        &anchor,
        "PUT",
        &format!("/client/live/room/{second_id}"),
        None,
    )
    .ok("start");
    let admin = api
        .server("GET", "/server/auth/admin/token?user_id=ops", None)
        .ok("admin token");
    let admin = admin["access_token"].as_str().unwrap_or_default();
    let by_admin = api
        .client(
            admin,
            "POST",
            &format!("/admin/live/{second_id}/stop"),
            None,
        )
        .ok("admin stop");
    assert_eq!(by_admin["stop_reason"], "admin");
    api.client(
        &anchor,
        "DELETE",
        &format!("/client/live/room/instance/{second_id}"),
        None,
    )
    .ok("the anchor deletes its room");
    api.client(
        &anchor,
        "GET",
        &format!("/client/live/room/info/{second_id}"),
        None,
    )
    .expect_error("a deleted room", 404, 404, "");
}

// One test per database for each scenario.
on_both_databases! {
    server_auth_and_tokens => server_auth_and_tokens_on_sqlite, server_auth_and_tokens_on_postgres;
    users_rooms_and_presence => users_rooms_and_presence_on_sqlite, users_rooms_and_presence_on_postgres;
    publishing_drives_the_room => publishing_drives_the_room_on_sqlite, publishing_drives_the_room_on_postgres;
    webhooks_are_signed_retried_and_survive_a_restart => webhooks_on_sqlite, webhooks_on_postgres;
    every_other_endpoint => every_other_endpoint_on_sqlite, every_other_endpoint_on_postgres;
    likes_events_and_stats => likes_events_and_stats_on_sqlite, likes_events_and_stats_on_postgres;
}

const CALLBACK_SECRET: &str = "e2e-callback-secret-0123";

/// Webhooks: signed over the body, retried while the receiver fails (the same event id each
/// time), delivered once it answers, and an event written before a restart is delivered by the
/// restarted cloud.
fn webhooks_are_signed_retried_and_survive_a_restart(db: Db) {
    let receiver = rooms::WebhookReceiver::start();
    let callback = format!("callback_addr: \"{}\"", receiver.url());
    let secret = format!("callback_secret: \"{CALLBACK_SECRET}\"");
    let lines = [callback.as_str(), secret.as_str(), "callback_retry_s: 1"];
    let Some(mut cluster) = start(db, &format!("rooms-hooks-{db:?}").to_lowercase(), &lines) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");

    // The receiver fails the first deliveries: the event comes again until acknowledged.
    let create_room = |title: &str| {
        let room = api.create_room("anchor", title);
        room["live_id"].as_str().unwrap_or_default().to_owned()
    };
    receiver.set_failing(true);
    let live_id = create_room("hooks");
    let created = |d: &rooms::Delivery| {
        d.json()["type"] == "live_created" && d.json()["data"]["live_id"] == live_id.as_str()
    };
    let retried = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        (receiver.deliveries().iter().filter(|d| created(d)).count() >= 2).then_some(())
    });
    assert!(
        retried.is_some(),
        "live_created was not retried: {:?}",
        receiver.deliveries()
    );
    receiver.set_failing(false);
    let acknowledged = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        receiver
            .deliveries()
            .iter()
            .any(|d| created(d) && d.answered == 200)
            .then_some(())
    });
    assert!(
        acknowledged.is_some(),
        "live_created never delivered: {:?}",
        receiver.deliveries()
    );
    let attempts: Vec<rooms::Delivery> = receiver
        .deliveries()
        .into_iter()
        .filter(|d| created(d))
        .collect();
    let ids: std::collections::HashSet<&str> = attempts
        .iter()
        .filter_map(|d| d.header("X-Liverelay-Event-Id"))
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "retries must carry the same event id: {attempts:?}"
    );
    for delivery in &attempts {
        let signature = delivery.header("X-Liverelay-Signature").unwrap_or_default();
        relay_control::auth::verify_webhook(
            CALLBACK_SECRET.as_bytes(),
            signature,
            delivery.body.as_bytes(),
            rooms::unix_s(),
            300,
        )
        .unwrap_or_else(|e| panic!("signature {signature:?} does not verify: {e}"));
        assert_eq!(delivery.header("X-Liverelay-Event"), Some("live_created"));
    }
    // Acknowledged: not sent again.
    let delivered = receiver.deliveries().len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        receiver.deliveries().iter().filter(|d| created(d)).count(),
        attempts.len(),
        "an acknowledged event was sent again ({delivered} deliveries before)"
    );

    // An event written while the receiver is down, then a restart: delivered after it.
    receiver.set_failing(true);
    let second_id = create_room("after restart");
    cluster.cloud.proc.signal("TERM");
    assert!(cluster
        .cloud
        .proc
        .wait_exit(Duration::from_secs(10))
        .success());
    receiver.set_failing(false);
    let config = cluster.cloud.config.clone();
    cluster.cloud = Cloud::start_as(cluster.dir.path(), "cloud-restarted", config);
    let after = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
        receiver
            .deliveries()
            .iter()
            .any(|d| {
                d.answered == 200
                    && d.json()["type"] == "live_created"
                    && d.json()["data"]["live_id"] == second_id.as_str()
            })
            .then_some(())
    });
    assert!(
        after.is_some(),
        "the event written before the restart was not delivered after it: {:?}\n{}",
        receiver.deliveries(),
        logs(&[&cluster.cloud.proc])
    );
}

/// Likes are counted (not by the anchor), reach the room's clients as aggregated `like`
/// events in order with the counts, and a client resuming with `Last-Event-ID` gets exactly
/// the events after it; the room's statistics add up.
fn likes_events_and_stats(db: Db) {
    let Some(cluster) = start(db, &format!("rooms-likes-{db:?}").to_lowercase(), &[]) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");
    api.register("fan");
    let (anchor, fan) = (api.token("anchor"), api.token("fan"));
    let room = api.create_room("anchor", "likes");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    let like_path = format!("/client/live/room/{live_id}/like");
    api.client(&fan, "PUT", &like_path, Some(&json!({"count": 1})))
        .expect_error("liking a room not live", 409, 601, "not live");
    api.client(
        &anchor,
        "PUT",
        &format!("/client/live/room/{live_id}"),
        None,
    )
    .ok("start");
    api.client(
        &fan,
        "POST",
        &format!("/client/live/room/user/{live_id}"),
        None,
    )
    .ok("join");
    api.client(&anchor, "PUT", &like_path, Some(&json!({"count": 1})))
        .expect_error("the anchor liking its own room", 403, 403, "own room");
    api.client(&fan, "PUT", &like_path, Some(&json!({"count": 0})))
        .expect_error("zero likes", 400, 400, "count");

    let total_of = |events: &[rooms::SseEvent]| {
        events
            .iter()
            .rev()
            .find(|e| e.kind == "like")
            .and_then(|e| e.data["total"].as_i64())
    };
    // A client listening while likes come in: 1 + 2 + 3 arrive aggregated, total 6.
    let listener = rooms::EventStream::open(api.addr, &fan, &live_id, Duration::from_secs(8));
    assert_eq!(listener.wait_answered(Duration::from_secs(5)), 200);
    for count in [1, 2, 3] {
        let answer = api
            .client(&fan, "PUT", &like_path, Some(&json!({ "count": count })))
            .ok("like");
        assert_eq!(answer["count"], count);
    }
    let total_six = listener.wait_for("like", Duration::from_secs(5), |data| data["total"] == 6);
    assert!(
        total_six.is_some(),
        "no like event with total 6: {:?}",
        listener.events()
    );
    let first = listener.events();
    let deltas: i64 = first
        .iter()
        .filter(|e| e.kind == "like")
        .filter_map(|e| e.data["delta"].as_i64())
        .sum();
    assert_eq!(deltas, 6, "the like events add up to the likes: {first:?}");
    assert!(
        first.iter().any(|e| e.kind == "counts"),
        "no counts event: {first:?}"
    );
    let seqs: Vec<u64> = first
        .iter()
        .filter_map(|e| e.id.rsplit('-').next()?.parse().ok())
        .collect();
    assert!(
        seqs.len() == first.len() && seqs.windows(2).all(|w| w[0] < w[1]),
        "events without ids or out of order: {first:?}"
    );
    let last_id = first.last().map(|e| e.id.clone()).unwrap_or_default();
    drop(listener);

    // More likes; resuming after the last event seen gets only what followed.
    let answer = api
        .client(&fan, "PUT", &like_path, Some(&json!({"count": 4})))
        .ok("like");
    assert_eq!(answer["total"], 10, "{answer}");
    let resumed = rooms::EventStream::open_after(
        api.addr,
        &fan,
        &live_id,
        Some(&last_id),
        Duration::from_secs(8),
    );
    let total_ten = resumed.wait_for("like", Duration::from_secs(5), |data| data["total"] == 10);
    assert!(
        total_ten.is_some(),
        "no like event with total 10: {:?}",
        resumed.events()
    );
    let resumed = resumed.events();
    assert!(
        resumed.iter().all(|e| !first.iter().any(|f| f.id == e.id)),
        "repeated events: {resumed:?}"
    );
    assert!(
        resumed.iter().all(|e| e.kind != "reset"),
        "a reset within the window: {resumed:?}"
    );
    assert_eq!(total_of(&resumed), Some(10), "{resumed:?}");

    // Statistics: likes, one unique viewer, views counted.
    let stats = poll_until(Duration::from_secs(5), Duration::from_millis(200), || {
        let stats = api
            .server("GET", &format!("/server/live/{live_id}/stats"), None)
            .ok("stats");
        (stats["likes"] == 10).then_some(stats)
    })
    .unwrap_or_else(|| panic!("the room's likes never reached 10"));
    assert_eq!(stats["unique_viewers"], 1, "{stats}");
    assert!(stats["page_views"].as_i64().unwrap_or(0) >= 1, "{stats}");
    api.client(
        &fan,
        "GET",
        &format!("/client/live/room/{live_id}/stats"),
        None,
    )
    .expect_error(
        "a viewer reading the anchor's statistics",
        403,
        403,
        "anchor",
    );
    // A muted viewer's likes are refused.
    api.server(
        "POST",
        &format!("/server/live/{live_id}/mute"),
        Some(&json!({"user_id": "fan", "duration_s": 60})),
    )
    .ok("mute the fan");
    api.client(&fan, "PUT", &like_path, Some(&json!({"count": 1})))
        .expect_error("a muted viewer's like", 403, 606, "mute");
    let own = api
        .client(
            &anchor,
            "GET",
            &format!("/client/live/room/{live_id}/stats"),
            None,
        )
        .ok("anchor stats");
    assert_eq!(own["likes"], 10);
}
