//! Signed publish URLs checked by the cloud at RTMP publish, with real ffmpeg: a URL signed for
//! the stream goes live; no token, a forged token, another stream's token, an expired URL and
//! an unknown access key are refused, and the refusals are counted.
//!
//! The URLs are signed here, independently of the cloud's own signer: HMAC-SHA1 over
//! `/APP/NAME?<query without token>`, URL-safe base64.

use crate::logs;
use e2e_tests::rooms;
use e2e_tests::util::{now_ms, poll_until};
use e2e_tests::{Cloud, CloudConfig, Media, Publisher, TestDir};
use serde_json::Value;
use std::time::Duration;

const PUBLISH_KEY: &str = "e2e-publish-key-0123456789";
const ACCESS_KEY: &str = "ak-e2e";
const SECRET_KEY: &str = "e2e-secret-key-0123456789";

fn expiry_query(name: &str, expire: i64, key: &str) -> String {
    rooms::expiry_query("live", name, expire, key)
}

fn expiry_sk_query(name: &str, expire: i64, access_key: &str, secret: &str) -> String {
    rooms::expiry_sk_query("live", name, expire, access_key, secret)
}

/// Publishes to `name` + `query`; true when the cloud refused it (ffmpeg exits non-zero).
fn refused(dir: &TestDir, label: &str, cloud: &Cloud, name_and_query: &str) -> bool {
    let mut publisher = Publisher::start(
        dir,
        label,
        Media::standard(),
        &cloud.rtmp_url(name_and_query),
    );
    let status = publisher.proc.wait_timeout(Duration::from_secs(20));
    if status.is_none() {
        publisher.proc.kill();
    }
    status.is_some_and(|s| !s.success())
}

/// Publishes to `name` + `query` and waits until livestat lists `live/<name>`.
fn goes_live(dir: &TestDir, label: &str, cloud: &mut Cloud, name: &str, query: &str) {
    let mut publisher = Publisher::start(
        dir,
        label,
        Media::standard(),
        &cloud.rtmp_url(&format!("{name}{query}")),
    );
    let room = format!("live/{name}");
    let live = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
        let response = cloud.api_get(&format!("/stat/livestat?room={room}")).ok()?;
        (response.status == 200).then_some(())
    });
    if live.is_none() {
        panic!(
            "a correctly signed publish to {room} never went live\n{}",
            logs(&[&cloud.proc, &publisher.proc])
        );
    }
    publisher.proc.kill();
}

fn refused_count(cloud: &Cloud) -> f64 {
    let response = cloud.api_get("/metrics").expect("GET /metrics");
    let scrape = e2e_tests::prometheus::Scrape::parse(&response.body_text()).expect("metrics");
    scrape
        .get("liverelay_cloud_publishes_refused_total", &[])
        .expect("refused counter")
}

#[test]
fn expiry_urls_are_checked_at_publish() {
    let dir = TestDir::new("publish-auth-expiry");
    let mut config = CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]);
    config.extra.push("publish_auth: expiry".into());
    config.extra.push(format!("publish_key: \"{PUBLISH_KEY}\""));
    let mut cloud = Cloud::start(dir.path(), config);
    let later = (now_ms() / 1000 + 3600) as i64;
    let earlier = (now_ms() / 1000 - 10) as i64;

    let cases = [
        ("no token", "cam1".to_owned()),
        (
            "expired",
            format!("cam1{}", expiry_query("cam1", earlier, PUBLISH_KEY)),
        ),
        (
            "wrong key",
            format!(
                "cam1{}",
                expiry_query("cam1", later, "another-key-0123456789")
            ),
        ),
        (
            "other stream's token",
            format!("cam1{}", expiry_query("cam2", later, PUBLISH_KEY)),
        ),
        (
            "expiry changed after signing",
            format!("cam1{}", expiry_query("cam1", later, PUBLISH_KEY))
                .replace(&later.to_string(), &(later + 1).to_string()),
        ),
    ];
    for (index, (what, name_and_query)) in cases.iter().enumerate() {
        assert!(
            refused(&dir, &format!("refused-{index}"), &cloud, name_and_query),
            "a publish with {what} was accepted: {name_and_query}\n{}",
            logs(&[&cloud.proc])
        );
    }
    let lines = cloud.proc.log_lines("refused a publish (publish_auth)");
    assert_eq!(lines.len(), cases.len(), "{lines:#?}");
    for (line, needle) in lines.iter().zip([
        "publish token required",
        "publish URL expired",
        "invalid publish token",
        "invalid publish token",
        "invalid publish token",
    ]) {
        assert!(line.contains(needle), "{line:?} lacks {needle:?}");
    }
    assert_eq!(refused_count(&cloud), cases.len() as f64);
    goes_live(
        &dir,
        "signed",
        &mut cloud,
        "cam1",
        &expiry_query("cam1", later, PUBLISH_KEY),
    );
    let stat: Value =
        serde_json::from_slice(&cloud.api_get("/stat/livestat").expect("livestat").body)
            .expect("JSON");
    assert!(
        !stat.to_string().contains("token="),
        "the signed query leaked into livestat: {stat}"
    );
}

#[test]
fn expiry_sk_urls_name_their_access_key() {
    let dir = TestDir::new("publish-auth-expiry-sk");
    let mut config = CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]);
    config.extra.push("publish_auth: expiry_sk".into());
    config.extra.push(format!(
        "server_keys: [{{access_key: \"{ACCESS_KEY}\", secret_key: \"{SECRET_KEY}\"}}]"
    ));
    let mut cloud = Cloud::start(dir.path(), config);
    let later = (now_ms() / 1000 + 600) as i64;
    assert!(
        refused(
            &dir,
            "unknown-ak",
            &cloud,
            &format!(
                "cam{}",
                expiry_sk_query("cam", later, "ak-unknown", SECRET_KEY)
            )
        ),
        "an unknown access key was accepted"
    );
    assert!(
        refused(
            &dir,
            "expiry-param",
            &cloud,
            &format!("cam{}", expiry_query("cam", later, SECRET_KEY))
        ),
        "an expiry-scheme URL was accepted under expiry_sk"
    );
    let lines = cloud.proc.log_lines("refused a publish (publish_auth)");
    assert!(
        lines
            .first()
            .is_some_and(|l| l.contains("unknown access key")),
        "{lines:#?}"
    );
    goes_live(
        &dir,
        "signed",
        &mut cloud,
        "cam",
        &expiry_sk_query("cam", later, ACCESS_KEY, SECRET_KEY),
    );
}
