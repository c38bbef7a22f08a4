//! The control API of both nodes while a real ffmpeg stream flows: stream views with codecs
//! from the sequence headers, viewer counts reported by the edge over the repair connection,
//! `/metrics` moving between two scrapes and falling back when the stream ends, `/status`,
//! `/stats/time`, the OpenAPI document, errors (400 with a message, 404), `X-Reqid`;
//! livego's stream keys gating publishes and surviving a restart; and the lock-down: writes need
//! the API token or a server signature, a GET changes nothing unless `livego_compat_get`, and
//! reads close per `api_read_auth`.

use crate::{expect_attached, expect_capture, logs, start_capture};
use e2e_tests::checks::Join;
use e2e_tests::cluster::{bearer, Pair, API_TOKEN};
use e2e_tests::http::{self, HttpResponse};
use e2e_tests::prometheus::Scrape;
use e2e_tests::rooms::{RoomsApi, Signing, ACCESS_KEY, SECRET_KEY};
use e2e_tests::util::poll_until;
use e2e_tests::{Cloud, CloudConfig, Edge, EdgeConfig, Media, Publisher, TestDir};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http::request(addr, "GET", path, TIMEOUT).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// GET `path`, expecting `status` and a JSON body.
fn get_json(addr: SocketAddr, path: &str, status: u16) -> Value {
    send_json(addr, "GET", path, &[], status)
}

/// An `/api` error: the status, the envelope's code, and a message containing `needle`.
fn expect_api_error(addr: SocketAddr, path: &str, status: u16, needle: &str) {
    let body = get_json(addr, path, status);
    assert_eq!(body["code"], status, "GET {path}: {body}");
    assert!(body["data"].is_null(), "GET {path}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "GET {path}: message {message:?} lacks {needle:?}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "GET {path}: no request_id: {body}"
    );
}

/// `method path` with `headers`, expecting `status` and a JSON body.
fn send_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    status: u16,
) -> Value {
    let response = http::request_with_headers(addr, method, path, headers, TIMEOUT)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert_eq!(
        response.status,
        status,
        "{method} {path}: {}",
        response.body_text()
    );
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", response.body_text()))
}

/// `method path` with the test clouds' API token.
fn authorised(addr: SocketAddr, method: &str, path: &str, status: u16) -> Value {
    let (name, value) = bearer(API_TOKEN);
    send_json(addr, method, path, &[(name, &value)], status)
}

/// A 401 in livego's envelope whose message contains `needle`, with `WWW-Authenticate`.
fn expect_livego_401(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    needle: &str,
) {
    let response = http::request_with_headers(addr, method, path, headers, TIMEOUT)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    assert!(
        response.status == 401 && body["status"] == 401 && data_says(&body, needle),
        "{method} {path} {headers:?}: expected 401 with {needle:?}, got {} {}",
        response.status,
        response.body_text()
    );
    assert!(
        response
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{method} {path}: no WWW-Authenticate"
    );
}

/// Whether a livego answer's `data` is a message containing `needle`.
fn data_says(body: &Value, needle: &str) -> bool {
    body["data"].as_str().unwrap_or_default().contains(needle)
}

/// The rooms that have a stream key, from the cloud's key file (none when it does not exist).
fn rooms_with_keys(dir: &TestDir) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("data/stream_keys.json")).unwrap_or_default();
    let file: Value = serde_json::from_str(&text).unwrap_or_default();
    file["keys"]
        .as_object()
        .map(|keys| keys.keys().cloned().collect())
        .unwrap_or_default()
}

fn scrape(addr: SocketAddr) -> Scrape {
    let response = get(addr, "/metrics");
    assert_eq!(response.status, 200, "/metrics: {}", response.body_text());
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "/metrics Content-Type {content_type:?}"
    );
    Scrape::parse(&response.body_text()).unwrap_or_else(|e| panic!("/metrics of {addr}: {e}"))
}

fn metric(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .get(name, labels)
        .unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape: {:?}", scrape.samples))
}

/// Checks the cloud's view of the standard source (320x240 x264 high 30 fps, 2 s GOP, AAC LC
/// 48 kHz stereo) as one edge with one player watches it.
fn check_cloud_view(view: &Value) {
    let video = &view["video"];
    assert_eq!(video["codec"], "h264", "{view}");
    assert_eq!(video["profile"], "High", "{view}");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240)),
        "{view}"
    );
    let fps = video["frame_rate"].as_f64().unwrap_or(0.0);
    assert!((fps - 30.0).abs() < 0.5, "frame rate {fps}: {view}");
    let audio = &view["audio"];
    assert_eq!(audio["codec"], "aac", "{view}");
    assert_eq!(audio["sample_rate"], 48000, "{view}");
    assert_eq!(audio["channels"], 2, "{view}");
    assert_eq!(view["keyframe_interval_ms"], 2000, "{view}");
    let publisher = view["publisher"].as_str().unwrap_or_default();
    assert!(
        publisher.starts_with("127.0.0.1:"),
        "publisher {publisher:?}"
    );
    for counter in ["tags", "video_bytes", "audio_bytes"] {
        assert!(
            view["ingest"][counter].as_u64().unwrap_or(0) > 0,
            "ingest.{counter}: {view}"
        );
    }
    assert!(view["sent"]["packets"].as_u64().unwrap_or(0) > 0, "{view}");
    let edges = view["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 1, "one edge is connected: {view}");
    assert!(
        edges[0]["rtt_ms"].as_f64().unwrap_or(0.0) > 0.0,
        "edge RTT: {view}"
    );
    assert!(
        !edges[0]["name"].as_str().unwrap_or_default().is_empty(),
        "{view}"
    );
}

#[test]
fn stream_views_metrics_and_errors_follow_a_live_stream() {
    let media = Media::standard();
    let dir = TestDir::new("control");
    let pair = Pair::start(dir.path());
    let (cloud, edge) = (pair.cloud.api_addr(), pair.edge.flv_addr());
    let name = "ctl";
    let stream = "live/ctl";

    // Before anything is live.
    expect_api_error(cloud, "/api/v1/streams/live/ctl", 404, "not live");
    expect_api_error(edge, "/api/v1/streams/live/ctl", 404, "not live");
    let empty = get_json(cloud, "/api/v1/streams", 200);
    assert_eq!(
        (
            empty["code"].as_u64(),
            empty["data"]["total_count"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let before = scrape(cloud);
    assert_eq!(metric(&before, "liverelay_cloud_streams", &[]), 0.0);

    let mut capture = start_capture(&pair.edge, "player", name, media);
    let mut publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    let procs = [&pair.cloud.proc, &pair.edge.proc, &publisher.proc];
    expect_attached(&mut capture, &procs);

    // The edge reports its player over the repair connection (every 2 s).
    let path = format!("/api/v1/streams/{stream}");
    let view = poll_until(Duration::from_secs(6), Duration::from_millis(200), || {
        let body = get_json(cloud, &path, 200);
        (body["data"]["viewers"] == 1 && body["data"]["keyframe_interval_ms"].is_u64())
            .then(|| body["data"].clone())
    })
    .unwrap_or_else(|| {
        panic!(
            "the cloud never showed the edge's player: {}\n{}",
            get(cloud, &path).body_text(),
            logs(&procs)
        )
    });
    check_cloud_view(&view);
    let listed = get_json(cloud, "/api/v1/streams?page_num=1&page_size=5", 200);
    assert_eq!(listed["data"]["total_count"], 1, "{listed}");
    assert_eq!(listed["data"]["list"][0]["name"], stream, "{listed}");
    assert_eq!(listed["data"]["end_page"], true, "{listed}");

    let edge_view = get_json(edge, &path, 200)["data"].clone();
    assert_eq!(edge_view["players"], 1, "{edge_view}");
    assert_eq!(edge_view["ssrc"], view["ssrc"], "{edge_view}");
    assert_eq!(edge_view["start_time"], view["start_time"], "{edge_view}");
    assert!(
        edge_view["gop_cache_bytes"].as_u64().unwrap_or(0) > 0,
        "{edge_view}"
    );
    let time = get_json(edge, &format!("/stats/time?stream={stream}"), 200);
    assert_eq!(time["status"], 200, "{time}");
    assert_eq!(time["data"]["streamUrl"], stream, "{time}");
    assert_eq!(time["data"]["startTime"], view["start_time"], "{time}");

    // Two scrapes a second and a half apart: counters move while the stream flows.
    let labels: &[(&str, &str)] = &[("stream", stream)];
    let (cloud_1, edge_1) = (scrape(cloud), scrape(edge));
    std::thread::sleep(Duration::from_millis(1500));
    let (cloud_2, edge_2) = (scrape(cloud), scrape(edge));
    for (name, a, b) in [
        ("liverelay_cloud_ingest_tags_total", &cloud_1, &cloud_2),
        ("liverelay_cloud_sent_packets_total", &cloud_1, &cloud_2),
        ("liverelay_edge_stream_packets_total", &edge_1, &edge_2),
    ] {
        let (first, second) = (metric(a, name, labels), metric(b, name, labels));
        assert!(
            second > first && first > 0.0,
            "{name}: {first} then {second}"
        );
    }
    assert!(
        metric(&edge_2, "liverelay_edge_packets_total", &[])
            > metric(&edge_1, "liverelay_edge_packets_total", &[])
    );
    assert_eq!(metric(&cloud_2, "liverelay_cloud_streams", &[]), 1.0);
    assert_eq!(metric(&cloud_2, "liverelay_cloud_viewers", labels), 1.0);
    assert_eq!(metric(&cloud_2, "liverelay_cloud_edges", &[]), 1.0);
    assert!(metric(&cloud_2, "liverelay_cloud_cache_packets", labels) > 0.0);
    assert_eq!(metric(&edge_2, "liverelay_edge_players", &[]), 1.0);
    assert_eq!(
        metric(&edge_2, "liverelay_edge_stream_players", labels),
        1.0
    );
    assert_eq!(metric(&edge_2, "liverelay_edge_repair_connected", &[]), 1.0);

    // Health.
    for (addr, role, viewers) in [(cloud, "cloud", 1), (edge, "edge", 1)] {
        let status = get_json(addr, "/status", 200);
        assert_eq!(status["data"]["role"], role, "{status}");
        assert_eq!(status["data"]["status"], "ok", "{status}");
        assert_eq!(status["data"]["streams"], 1, "{status}");
        assert_eq!(status["data"]["viewers"], viewers, "{status}");
        assert_eq!(status["data"]["repair_links"], 1, "{status}");
    }

    // Bad parameters: 400 with a message naming the parameter; 404 for unknown things.
    expect_api_error(cloud, "/api/v1/streams?page_num=0", 400, "page_num");
    expect_api_error(cloud, "/api/v1/streams?page_size=1000", 400, "page_size");
    expect_api_error(cloud, "/api/v1/streams?page_size=abc", 400, "page_size");
    expect_api_error(edge, "/api/v1/streams?page_num=-1", 400, "page_num");
    expect_api_error(cloud, "/api/v1/streams/live/no..pe%20x", 400, "app/name");
    expect_api_error(cloud, "/api/v1/streams/live/nope", 404, "live/nope");
    expect_api_error(cloud, "/no/such/endpoint", 404, "openapi");
    let bad_room = get_json(cloud, "/stat/livestat?room=bad", 400);
    assert_eq!(bad_room["status"], 400, "{bad_room}");
    assert!(data_says(&bad_room, "room"), "{bad_room}");
    let missing = get_json(edge, "/stats/time", 400);
    assert!(data_says(&missing, "stream"), "{missing}");
    let unknown = get_json(edge, "/stats/time?stream=live/nope", 404);
    assert!(
        unknown["data"].is_null() && unknown["status"] == 404,
        "{unknown}"
    );

    // X-Reqid is echoed in the header and the envelope; an unusable one is replaced.
    let echoed =
        http::request_with_headers(cloud, "GET", "/status", &[("X-Reqid", "trace-42")], TIMEOUT)
            .unwrap_or_else(|e| panic!("GET /status: {e}"));
    assert_eq!(echoed.header("x-reqid"), Some("trace-42"));
    let body: Value = serde_json::from_slice(&echoed.body).expect("JSON");
    assert_eq!(body["request_id"], "trace-42");
    let replaced =
        http::request_with_headers(edge, "GET", "/status", &[("X-Reqid", "a b<c>")], TIMEOUT)
            .unwrap_or_else(|e| panic!("GET /status: {e}"));
    let id = replaced.header("x-reqid").unwrap_or_default();
    assert!(!id.is_empty() && id != "a b<c>", "x-reqid {id:?}");

    // The OpenAPI documents name every endpoint of their node.
    let cloud_doc = get_json(cloud, "/api/openapi.json", 200);
    for path in [
        "/stat/livestat",
        "/control/get",
        "/control/reset",
        "/control/delete",
        "/api/v1/streams",
        "/api/v1/streams/{app}/{name}",
        "/metrics",
        "/status",
    ] {
        assert!(
            cloud_doc["paths"][path].is_object(),
            "cloud OpenAPI lacks {path}"
        );
    }
    assert!(cloud_doc["components"]["schemas"]["CloudStreamView"].is_object());
    let edge_doc = get_json(edge, "/api/openapi.json", 200);
    for path in [
        "/{app}/{file}",
        "/api/v1/streams",
        "/api/v1/streams/{app}/{name}",
        "/stats/time",
        "/metrics",
        "/status",
    ] {
        assert!(
            edge_doc["paths"][path].is_object(),
            "edge OpenAPI lacks {path}"
        );
    }

    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&[&pair.cloud.proc, &pair.edge.proc]));
    }
    expect_capture(
        capture,
        media,
        &dir,
        Join::Start,
        &[&pair.cloud.proc, &pair.edge.proc],
    );

    // After the end: the stream's series are gone, gauges are back to 0, counters kept.
    let ended = poll_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let (c, e) = (scrape(cloud), scrape(edge));
        (c.get("liverelay_cloud_streams", &[]) == Some(0.0)
            && e.get("liverelay_edge_streams", &[]) == Some(0.0))
        .then_some((c, e))
    });
    let (cloud_3, edge_3) = ended.unwrap_or_else(|| {
        panic!(
            "the stream's gauges did not go back to 0\n{}",
            logs(&[&pair.cloud.proc, &pair.edge.proc])
        )
    });
    assert!(
        cloud_3.with_label("stream", stream).is_empty(),
        "cloud still shows {stream}"
    );
    assert!(
        edge_3.with_label("stream", stream).is_empty(),
        "edge still shows {stream}"
    );
    assert_eq!(metric(&edge_3, "liverelay_edge_players", &[]), 0.0);
    assert!(
        metric(&edge_3, "liverelay_edge_packets_total", &[])
            >= metric(&edge_2, "liverelay_edge_packets_total", &[]),
        "an edge counter went down when its stream ended"
    );
    assert_eq!(
        metric(&cloud_3, "liverelay_cloud_publishes_total", &[]),
        1.0
    );
    expect_api_error(cloud, &path, 404, "not live");
}

/// Publishes `name` and waits for ffmpeg to exit; true if the cloud refused it.
fn refused(dir: &TestDir, label: &str, cloud: &mut Cloud, name: &str) -> bool {
    let media = Media::standard();
    let mut publisher = Publisher::start(dir, label, media, &cloud.rtmp_url(name));
    let status = publisher.proc.wait_timeout(Duration::from_secs(20));
    if status.is_none() {
        publisher.proc.kill();
    }
    status.is_some_and(|s| !s.success())
}

#[test]
fn stream_keys_gate_publishing_and_survive_a_restart() {
    let media = Media::standard();
    let dir = TestDir::new("stream-keys");
    let mut config = CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]);
    config.extra.push("enable_record: true".into());
    let mut cloud = Cloud::start(dir.path(), config.clone());
    let api = cloud.api_addr();

    let missing = authorised(api, "POST", "/control/get", 400);
    assert!(data_says(&missing, "room"), "{missing}");
    let got = authorised(api, "POST", "/control/get?room=live/show", 200);
    let key = got["data"].as_str().unwrap_or_default().to_owned();
    assert!(
        key.len() == 48 && key.bytes().all(|b| b.is_ascii_alphanumeric()),
        "key {key:?}"
    );
    assert_eq!(
        authorised(api, "POST", "/control/get?room=live/show", 200)["data"],
        key.as_str()
    );

    // The room's own name is refused while it has a key; the key publishes as the room.
    assert!(
        refused(&dir, "by-name", &mut cloud, "show"),
        "publishing a keyed room by name was accepted"
    );
    let mut publisher = Publisher::start(&dir, "by-key", media, &cloud.rtmp_url(&key));
    let live = poll_until(TIMEOUT, Duration::from_millis(100), || {
        let stat = get_json(api, "/stat/livestat", 200);
        let keys: Vec<String> = stat["data"]["publishers"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|e| e["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        (!keys.is_empty()).then_some(keys)
    })
    .unwrap_or_else(|| {
        panic!(
            "the keyed publish never went live\n{}",
            logs(&[&cloud.proc, &publisher.proc])
        )
    });
    assert_eq!(
        live,
        vec!["live/show".to_owned()],
        "the stream is named by its room, never its key"
    );
    publisher.proc.kill();

    // Keys survive a restart.
    cloud.proc.signal("TERM");
    assert!(cloud.proc.wait_exit(TIMEOUT).success());
    let mut cloud = Cloud::start_as(dir.path(), "cloud-again", config);
    let api = cloud.api_addr();
    assert_eq!(
        authorised(api, "GET", "/control/get?room=live/show", 200)["data"],
        key.as_str()
    );

    // Reset: a new key, the old one no longer publishes as the room.
    let reset = authorised(api, "POST", "/control/reset?room=live/show", 200);
    let fresh = reset["data"].as_str().unwrap_or_default().to_owned();
    assert!(fresh.len() == 48 && fresh != key, "reset gave {fresh:?}");
    assert!(refused(&dir, "by-name-again", &mut cloud, "show"));

    // Delete: the room is open again; a second delete is 404.
    let deleted = authorised(api, "POST", "/control/delete?room=live/show", 200);
    assert_eq!(deleted["data"], "Ok", "{deleted}");
    let again = authorised(api, "POST", "/control/delete?room=live/show", 404);
    assert_eq!(again["data"], "room not found", "{again}");
    let bad = authorised(api, "POST", "/control/reset?room=no-slash", 400);
    assert_eq!(bad["status"], 400, "{bad}");
}

/// A stream key is a publish credential: checks that `key` is one (48 letters and digits).
fn check_key(key: &Value) -> String {
    let key = key.as_str().unwrap_or_default().to_owned();
    assert!(
        key.len() == 48 && key.bytes().all(|b| b.is_ascii_alphanumeric()),
        "key {key:?}"
    );
    key
}

/// Without credentials nothing under `/control` answers but 401, whatever the method, and a
/// wrong token, a signature with the wrong key or an old date are refused alike. With them, a
/// GET changes nothing (no key is made, so the real publisher still publishes under the room's
/// name) and reset or delete by GET are 405; POST with the token or a server signature works.
#[test]
fn control_writes_need_credentials_and_a_get_changes_nothing() {
    let media = Media::standard();
    let dir = TestDir::new("control-auth");
    let mut config = CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]);
    config.extra.push(format!(
        "server_keys: [{{access_key: \"{ACCESS_KEY}\", secret_key: \"{SECRET_KEY}\"}}]"
    ));
    let mut cloud = Cloud::start(dir.path(), config);
    let api = cloud.api_addr();
    let rooms = RoomsApi { addr: api };

    let (name, wrong) = bearer("not-the-api-token-0123");
    for path in ["/control/get", "/control/reset", "/control/delete"] {
        let path = format!("{path}?room=live/show");
        for method in ["GET", "POST"] {
            expect_livego_401(api, method, &path, &[], "credentials required");
            expect_livego_401(api, method, &path, &[(name, &wrong)], "wrong API token");
            expect_livego_401(
                api,
                method,
                &path,
                &[("Authorization", "Basic YTpi")],
                "credentials required",
            );
            for (signing, needle) in [
                (Signing::WrongKey, "signature does not match"),
                (Signing::DatedAgo(900), "off the server clock"),
                (Signing::Undated, "X-Qiniu-Date"),
            ] {
                let answer = rooms.server_signed(signing, method, &path, "");
                assert!(
                    answer.status == 401 && data_says(&answer.body, needle),
                    "{method} {path} {signing:?}: {} {}",
                    answer.status,
                    answer.text
                );
            }
        }
    }
    assert!(
        rooms_with_keys(&dir).is_empty(),
        "a refused request made a key"
    );

    // Authenticated GETs change nothing.
    let looked_up = authorised(api, "GET", "/control/get?room=live/show", 404);
    assert!(data_says(&looked_up, "no stream key"), "{looked_up}");
    for path in ["/control/reset", "/control/delete"] {
        let refused = authorised(api, "GET", &format!("{path}?room=live/show"), 405);
        assert!(data_says(&refused, "POST"), "{refused}");
    }
    assert!(
        rooms_with_keys(&dir).is_empty(),
        "a GET made a key: {:?}",
        rooms_with_keys(&dir)
    );

    // So the real publisher still publishes under the room's own name.
    let mut publisher = Publisher::start(&dir, "by-name", media, &cloud.rtmp_url("show"));
    let live = poll_until(TIMEOUT, Duration::from_millis(100), || {
        let stat = cloud.livestat();
        (stat["data"]["publishers"][0]["key"] == "live/show").then_some(())
    });
    assert!(
        live.is_some(),
        "the publish by name did not go live after the GETs\n{}",
        logs(&[&cloud.proc, &publisher.proc])
    );
    publisher.proc.kill();

    // With credentials the writes work: the token, or a server signature.
    let made = check_key(&authorised(api, "POST", "/control/get?room=live/show", 200)["data"]);
    assert_eq!(rooms_with_keys(&dir), vec!["live/show".to_owned()]);
    assert_eq!(
        authorised(api, "GET", "/control/get?room=live/show", 200)["data"],
        made.as_str(),
        "an authenticated GET reads the key"
    );
    let reset = rooms.server_signed(Signing::Good, "POST", "/control/reset?room=live/show", "");
    assert_eq!(reset.status, 200, "signed reset: {}", reset.text);
    let fresh = check_key(&reset.body["data"]);
    assert_ne!(fresh, made);
    let deleted = rooms.server_signed(Signing::Good, "POST", "/control/delete?room=live/show", "");
    assert_eq!(
        (deleted.status, deleted.body["data"].as_str()),
        (200, Some("Ok")),
        "{}",
        deleted.text
    );
    assert!(rooms_with_keys(&dir).is_empty());
}

/// `livego_compat_get: true` lets GET make, reset and delete keys as livego did, and still
/// only with credentials.
#[test]
fn livego_compat_get_changes_keys_only_with_credentials() {
    let dir = TestDir::new("control-compat");
    let mut config = CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]);
    config.extra.push("livego_compat_get: true".into());
    let cloud = Cloud::start(dir.path(), config);
    let api = cloud.api_addr();
    for path in ["/control/get", "/control/reset", "/control/delete"] {
        expect_livego_401(
            api,
            "GET",
            &format!("{path}?room=live/old"),
            &[],
            "credentials required",
        );
    }
    assert!(rooms_with_keys(&dir).is_empty());
    let made = check_key(&authorised(api, "GET", "/control/get?room=live/old", 200)["data"]);
    assert_eq!(rooms_with_keys(&dir), vec!["live/old".to_owned()]);
    let reset = check_key(&authorised(api, "GET", "/control/reset?room=live/old", 200)["data"]);
    assert_ne!(reset, made);
    let deleted = authorised(api, "GET", "/control/delete?room=live/old", 200);
    assert_eq!(deleted["data"], "Ok", "{deleted}");
    assert!(rooms_with_keys(&dir).is_empty());
}

/// The validator of OpenAPI documents the test below runs (PyPI's `openapi-spec-validator`;
/// scripts/test.sh installs it when it is missing).
const OPENAPI_VALIDATOR: &str = "openapi-spec-validator";

/// The cloud's served OpenAPI document, gathered from its routes and the room API's, is a valid
/// OpenAPI document, and no two of its operations share an id.
#[test]
fn the_cloud_openapi_document_is_valid() {
    let installed = std::process::Command::new(OPENAPI_VALIDATOR)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        installed,
        "{OPENAPI_VALIDATOR} is not installed: run scripts/test.sh, which installs it, or \
         `pip install openapi-spec-validator`"
    );
    let dir = TestDir::new("control-openapi");
    let config = CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]);
    let cloud = Cloud::start(dir.path(), config);
    let served = get(cloud.api_addr(), "/api/openapi.json");
    assert_eq!(served.status, 200, "{}", served.body_text());
    let file = dir.join("openapi.json");
    std::fs::write(&file, &served.body).expect("write the document");
    let out = std::process::Command::new(OPENAPI_VALIDATOR)
        .arg(&file)
        .output()
        .expect("run the validator");
    assert!(
        out.status.success(),
        "{OPENAPI_VALIDATOR} refused the cloud's document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let document: Value = serde_json::from_slice(&served.body).expect("JSON");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: operation id {id:?} twice"
            );
        }
    }
    assert!(
        document["paths"]["/api/openapi.json"].is_object(),
        "the document names itself"
    );
}

/// `api_read_auth: token` closes the read endpoints of both nodes (401 in each path's envelope)
/// and the node's own token opens them; the OpenAPI document and the edge's players and
/// `/stats/time` stay open.
#[test]
fn read_endpoints_close_with_api_read_auth_token() {
    const EDGE_TOKEN: &str = "e2e-edge-api-token-0123456789";
    let dir = TestDir::new("control-reads");
    let mut cloud_config = CloudConfig::new(dir.path(), Vec::new());
    cloud_config.extra.push("api_read_auth: token".into());
    let mut edge_config = EdgeConfig::unicast(&cloud_config);
    edge_config.extra.push("api_read_auth: token".into());
    edge_config
        .extra
        .push(format!("api_token: \"{EDGE_TOKEN}\""));
    cloud_config
        .client_addr_list
        .push(edge_config.unicast_target());
    let edge = Edge::start(dir.path(), "edge", edge_config);
    let cloud = Cloud::start(dir.path(), cloud_config);
    let (cloud_api, edge_api) = (cloud.api_addr(), edge.flv_addr());

    expect_livego_401(
        cloud_api,
        "GET",
        "/stat/livestat",
        &[],
        "credentials required",
    );
    let (name, value) = bearer(API_TOKEN);
    let stat = send_json(cloud_api, "GET", "/stat/livestat", &[(name, &value)], 200);
    assert_eq!(stat["status"], 200, "{stat}");
    let (name, edge_value) = bearer(EDGE_TOKEN);
    for (addr, token, paths) in [
        (
            cloud_api,
            &value,
            &["/api/v1/streams", "/metrics", "/status"][..],
        ),
        (
            edge_api,
            &edge_value,
            &["/api/v1/streams", "/metrics", "/status"][..],
        ),
    ] {
        for path in paths {
            let refused = http::request(addr, "GET", path, TIMEOUT)
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            let body: Value = serde_json::from_slice(&refused.body).unwrap_or_default();
            assert!(
                refused.status == 401 && body["code"] == 401,
                "GET {path} on {addr} without credentials: {} {}",
                refused.status,
                refused.body_text()
            );
            let allowed = http::request_with_headers(addr, "GET", path, &[(name, token)], TIMEOUT)
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            assert_eq!(
                allowed.status,
                200,
                "GET {path} on {addr} with its token: {}",
                allowed.body_text()
            );
        }
        let document = http::request(addr, "GET", "/api/openapi.json", TIMEOUT).expect("openapi");
        assert_eq!(document.status, 200, "the OpenAPI document is open");
    }
    // Each node takes its own token only.
    let crossed =
        http::request_with_headers(edge_api, "GET", "/status", &[(name, &value)], TIMEOUT)
            .expect("GET /status");
    assert_eq!(crossed.status, 401, "the edge took the cloud's token");
    let clock = http::request(edge_api, "GET", "/stats/time?stream=live/none", TIMEOUT)
        .expect("GET /stats/time");
    assert_eq!(
        clock.status, 404,
        "/stats/time is the players' and stays open"
    );
    let play = http::request(edge_api, "GET", &Edge::play_path("none"), TIMEOUT).expect("play");
    assert_eq!(play.status, 404, "players are never asked for credentials");
}
