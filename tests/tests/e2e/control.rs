//! The control API of both nodes while a real ffmpeg stream flows: stream views with codecs
//! from the sequence headers, viewer counts reported by the edge over the repair connection,
//! `/metrics` moving between two scrapes and falling back when the stream ends, `/status`,
//! `/stats/time`, the OpenAPI document, errors (400 with a message, 404), `X-Reqid`; and
//! livego's stream keys gating publishes and surviving a restart.

use crate::{expect_attached, expect_capture, logs, start_capture};
use e2e_tests::checks::Join;
use e2e_tests::cluster::Pair;
use e2e_tests::http::{self, HttpResponse};
use e2e_tests::prometheus::Scrape;
use e2e_tests::util::poll_until;
use e2e_tests::{Cloud, CloudConfig, Media, Publisher, TestDir};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http::request(addr, "GET", path, TIMEOUT).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// GET `path`, expecting `status` and a JSON body.
fn get_json(addr: SocketAddr, path: &str, status: u16) -> Value {
    let response = get(addr, path);
    assert_eq!(
        response.status,
        status,
        "GET {path}: {}",
        response.body_text()
    );
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {}", response.body_text()))
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
    assert!(
        bad_room["data"]
            .as_str()
            .unwrap_or_default()
            .contains("room"),
        "{bad_room}"
    );
    let missing = get_json(edge, "/stats/time", 400);
    assert!(
        missing["data"]
            .as_str()
            .unwrap_or_default()
            .contains("stream"),
        "{missing}"
    );
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

    let missing = get_json(api, "/control/get", 400);
    assert!(
        missing["data"]
            .as_str()
            .unwrap_or_default()
            .contains("room"),
        "{missing}"
    );
    let got = get_json(api, "/control/get?room=live/show", 200);
    let key = got["data"].as_str().unwrap_or_default().to_owned();
    assert!(
        key.len() == 48 && key.bytes().all(|b| b.is_ascii_alphanumeric()),
        "key {key:?}"
    );
    assert_eq!(
        get_json(api, "/control/get?room=live/show", 200)["data"],
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
        get_json(api, "/control/get?room=live/show", 200)["data"],
        key.as_str()
    );

    // Reset: a new key, the old one no longer publishes as the room.
    let reset = get_json(api, "/control/reset?room=live/show", 200);
    let fresh = reset["data"].as_str().unwrap_or_default().to_owned();
    assert!(fresh.len() == 48 && fresh != key, "reset gave {fresh:?}");
    assert!(refused(&dir, "by-name-again", &mut cloud, "show"));

    // Delete: the room is open again; a second delete is 404.
    let deleted = get_json(api, "/control/delete?room=live/show", 200);
    assert_eq!(deleted["data"], "Ok", "{deleted}");
    let again = get_json(api, "/control/delete?room=live/show", 404);
    assert_eq!(again["data"], "room not found", "{again}");
    let bad = get_json(api, "/control/reset?room=no-slash", 400);
    assert_eq!(bad["status"], 400, "{bad}");
}
