//! 6d-f. HTTP answers of the edge, a second publisher, the cloud's livestat.

use crate::{expect_attached, expect_capture, logs, start_capture};
use e2e_tests::checks::Join;
use e2e_tests::cluster::Pair;
use e2e_tests::http;
use e2e_tests::util::{now_ms, poll_until};
use e2e_tests::{Edge, Media, Publisher, TestDir};
use serde_json::Value;
use std::time::Duration;

fn publishers(stat: &Value) -> Vec<Value> {
    stat["data"]["publishers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// While one stream is live: (d) 404 for an unknown stream, HEAD of the live stream;
/// (f) livestat lists it with a non-zero ssrc and start_time, `?room=` filters, and an
/// unknown room is 404; (e) a second publisher to the same name is refused (ffmpeg exits
/// non-zero) while the first keeps streaming to a player that gets every packet. After the
/// publisher stops, the stream is gone from both the edge and livestat.
#[test]
fn http_answers_second_publisher_and_livestat() {
    let media = Media::standard();
    let dir = TestDir::new("api");
    let mut pair = Pair::start(dir.path());
    let edge_addr = pair.edge.flv_addr();

    // (d) before anything is live.
    let r = http::request(
        edge_addr,
        "GET",
        &Edge::play_path("unknown"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("GET unknown stream: {e}\n{}", pair.logs()));
    assert_eq!(r.status, 404, "GET of an unknown stream");

    let name = "apitest";
    let key = format!("live/{name}");
    let mut capture = start_capture(&pair.edge, "player", name, media);
    let mut publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    expect_attached(
        &mut capture,
        &[&pair.cloud.proc, &pair.edge.proc, &publisher.proc],
    );

    // (d) while live.
    let r = http::request(
        edge_addr,
        "GET",
        &Edge::play_path("unknown"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("GET unknown stream: {e}\n{}", pair.logs()));
    assert_eq!(
        r.status, 404,
        "GET of an unknown stream while another is live"
    );
    let r = http::request(edge_addr, "GET", "/live/unknown", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("GET /live/unknown: {e}\n{}", pair.logs()));
    assert_eq!(r.status, 404, "GET /live/unknown (no .flv)");
    let head = http::request(
        edge_addr,
        "HEAD",
        &Edge::play_path(name),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("HEAD of the live stream: {e}\n{}", pair.logs()));
    assert_eq!(head.status, 200, "HEAD of the live stream");
    let ct = head.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("video/x-flv"),
        "HEAD Content-Type {ct:?}, expected video/x-flv"
    );
    let r = http::request(
        edge_addr,
        "HEAD",
        &Edge::play_path("unknown"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("HEAD unknown stream: {e}\n{}", pair.logs()));
    assert_eq!(r.status, 404, "HEAD of an unknown stream");

    // (f) livestat, after ~2 s of stream so the byte counters have moved.
    std::thread::sleep(Duration::from_secs(2));
    let stat = pair.cloud.livestat();
    assert_eq!(stat["status"], 200, "livestat envelope: {stat}");
    let pubs = publishers(&stat);
    let entry = pubs
        .iter()
        .find(|p| p["key"] == key.as_str())
        .unwrap_or_else(|| panic!("livestat does not list {key}: {stat}"));
    let ssrc = entry["ssrc"].as_u64().unwrap_or(0);
    assert!(
        ssrc != 0 && ssrc <= u32::MAX as u64,
        "ssrc {:?} in {entry}",
        entry["ssrc"]
    );
    let start = entry["start_time"].as_u64().unwrap_or(0);
    let now = now_ms();
    assert!(
        start > 0 && start <= now && now - start < 10 * 60 * 1000,
        "start_time {:?} is not a recent time in ms since the epoch (now {now}): {entry}",
        entry["start_time"]
    );
    assert!(
        entry["video_total_bytes"].as_u64().unwrap_or(0) > 0
            && entry["audio_total_bytes"].as_u64().unwrap_or(0) > 0,
        "byte counters did not move after 2 s of stream: {entry}"
    );
    let url = entry["url"].as_str().unwrap_or("");
    assert!(
        url.starts_with("rtmp://") && url.ends_with(&key),
        "url {url:?}"
    );
    let filtered = pair
        .cloud
        .api_get(&format!("/stat/livestat?room={key}"))
        .unwrap_or_else(|e| panic!("livestat?room: {e}"));
    assert_eq!(
        filtered.status,
        200,
        "livestat?room={key}: {}",
        filtered.body_text()
    );
    let fv: Value = serde_json::from_slice(&filtered.body).expect("livestat?room JSON");
    let fp = publishers(&fv);
    assert!(
        fp.len() == 1 && fp[0]["key"] == key.as_str() && fp[0]["ssrc"] == entry["ssrc"],
        "livestat?room={key}: {fv}"
    );
    let unknown = pair
        .cloud
        .api_get("/stat/livestat?room=live/nosuchroom")
        .unwrap_or_else(|e| panic!("livestat?room=unknown: {e}"));
    assert_eq!(
        unknown.status,
        404,
        "livestat?room=live/nosuchroom: {}",
        unknown.body_text()
    );
    if let Ok(v) = serde_json::from_slice::<Value>(&unknown.body) {
        if !v["status"].is_null() {
            assert_eq!(v["status"], 404, "envelope status of an unknown room: {v}");
        }
    }

    // (e) a second publisher to the live name.
    let mut second = Publisher::start(&dir, "second-publisher", media, &pair.cloud.rtmp_url(name));
    let status = second
        .proc
        .wait_timeout(Duration::from_secs(20))
        .unwrap_or_else(|| {
            panic!(
                "the second publisher to a live name is still running after 20 s: it was not \
             refused\n{}",
                logs(&[&pair.cloud.proc])
            )
        });
    assert!(
        !status.success(),
        "the second publisher to a live name exited successfully: not refused\n{}",
        logs(&[&pair.cloud.proc, &second.proc])
    );
    publisher
        .proc
        .assert_running("after the second publisher was refused");
    let stat = pair.cloud.livestat();
    let again: Vec<Value> = publishers(&stat)
        .into_iter()
        .filter(|p| p["key"] == key.as_str())
        .collect();
    assert!(
        again.len() == 1 && again[0]["ssrc"] == entry["ssrc"],
        "after the refused second publisher livestat shows {again:?}, expected the first one"
    );

    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", pair.logs());
    }
    expect_capture(
        capture,
        media,
        &dir,
        Join::Start,
        &[&pair.cloud.proc, &pair.edge.proc],
    );

    // After the end: gone from livestat and from the edge.
    let gone = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        let r = pair
            .cloud
            .api_get(&format!("/stat/livestat?room={key}"))
            .ok()?;
        (r.status == 404).then_some(())
    });
    assert!(
        gone.is_some(),
        "livestat?room={key} still live 10 s after the publisher stopped"
    );
    let gone = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        let r = http::probe(edge_addr, "GET", &Edge::play_path(name)).ok()?;
        (r.status == 404).then_some(())
    });
    assert!(
        gone.is_some(),
        "the edge still serves {name} 10 s after the publisher stopped\n{}",
        pair.logs()
    );
}
