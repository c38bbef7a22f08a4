//! The edge's player page in a real browser: headless Chromium (Debian's package, driven by
//! playwright-core from web/package.json) opens `/play/live/NAME` while a real ffmpeg publish
//! runs, with the media on another origin, once as HTTP-FLV (mpegts.js) and once as LL-HLS
//! (hls.js), and decodes frames in both with no error. It also reads the time code burnt into
//! the test picture to measure the glass-to-glass latency the browser shows, printed (this
//! machine is shared and noisy: the figures are reported, not asserted).

use crate::logs;
use e2e_tests::cluster::Pair;
use e2e_tests::http::{request, wait_live};
use e2e_tests::{Edge, Media, Publisher, TestDir};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The repository's `web/`: the browser drivers and their npm packages.
pub fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .join("web")
}

/// The median of the glass-to-glass figures from `from` samples on.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

#[test]
fn the_player_page_plays_flv_and_hls_in_chromium() {
    let web = web_dir();
    assert!(
        web.join("node_modules/playwright-core").is_dir()
            && web.join("node_modules/mpegts.js").is_dir(),
        "web/node_modules is missing: scripts/test.sh runs `npm ci` in web/"
    );
    let media = Media::clock();
    let dir = TestDir::new("browser");
    let Pair { cloud, edge } = Pair::start_with(dir.path(), |edge| {
        edge.extra = vec![format!("player_dir: {:?}", web.display().to_string())];
    });
    let procs = [&cloud.proc, &edge.proc];
    let addr = edge.flv_addr();
    let name = "browser";

    // The pages and the libraries they load.
    for (path, content_type) in [
        ("/play/live/browser", "text/html"),
        ("/player/play.js", "text/javascript"),
        ("/player/mpegts.js", "text/javascript"),
        ("/player/hls.js", "text/javascript"),
    ] {
        let response = request(addr, "GET", path, Duration::from_secs(5)).expect(path);
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response
                .header("content-type")
                .unwrap_or("")
                .starts_with(content_type),
            "{path}: {:?}",
            response.header("content-type")
        );
    }
    let missing = request(addr, "GET", "/player/other.js", Duration::from_secs(5)).expect("404");
    assert_eq!(missing.status, 404);

    let mut publisher = Publisher::start(&dir, "publisher-browser", media, &cloud.rtmp_url(name));
    wait_live(addr, &Edge::play_path(name), Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&procs)));
    let index = request(addr, "GET", "/", Duration::from_secs(5)).expect("index");
    let index_html = String::from_utf8_lossy(&index.body);
    assert!(
        index_html.contains("<a href=\"/play/live/browser\">live/browser</a>"),
        "the index lists the stream: {index_html}"
    );
    // The stream's time 0 in Unix ms, once the edge has had the first tag.
    let clock =
        e2e_tests::util::poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
            let time = request(
                addr,
                "GET",
                "/stats/time?stream=live/browser",
                Duration::from_secs(5),
            )
            .ok()?;
            let time: serde_json::Value = serde_json::from_slice(&time.body).ok()?;
            time["data"]["startTime"].as_u64()
        })
        .unwrap_or_else(|| {
            let last = request(
                addr,
                "GET",
                "/stats/time?stream=live/browser",
                Duration::from_secs(5),
            );
            panic!("no /stats/time for the stream: {last:?}\n{}", logs(&procs))
        });

    // The page from 127.0.0.1, the media from localhost: another origin.
    let port = addr.port();
    let page = |mode: &str| {
        format!(
            "http://127.0.0.1:{port}/play/live/{name}?mode={mode}&src=http://localhost:{port}{}",
            if std::env::var_os("PLAY_TRACE").is_some() {
                "&debug=1"
            } else {
                ""
            }
        )
    };
    let output = Command::new("node")
        .arg(web.join("test/play.mjs"))
        .args(["--seconds", "14", "--clock", &clock.to_string()])
        .arg(page("hls"))
        .arg(page("flv"))
        .output()
        .expect("run node web/test/play.mjs");
    assert!(
        output.status.success(),
        "the browser run failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        logs(&procs)
    );
    if std::env::var_os("PLAY_TRACE").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the browser run's JSON");
    let mut figures = Vec::new();
    for (page, mode) in report.as_array().expect("pages").iter().zip(["hls", "flv"]) {
        let errors = page["consoleErrors"].as_array().expect("console errors");
        assert!(errors.is_empty(), "{mode}: console errors {errors:?}");
        let samples = page["samples"].as_array().expect("samples");
        let last = samples.last().expect("a sample");
        assert_eq!(last["mode"], mode);
        assert!(
            last["errors"].as_array().is_some_and(|e| e.is_empty()),
            "{mode}: the page reported {}",
            last["errors"]
        );
        let codecs = last["codecs"].to_string();
        assert!(
            codecs.contains("avc1") && codecs.contains("mp4a"),
            "{mode}: codecs {codecs}; samples {samples:?}"
        );
        let at = |i: usize, key: &str| samples[i][key].as_f64().unwrap_or(0.0);
        let (early, late) = (3, samples.len() - 1);
        assert!(
            at(late, "frames") - at(early, "frames") > 150.0,
            "{mode}: {} frames decoded from second 4 to 14",
            at(late, "frames") - at(early, "frames")
        );
        assert!(
            at(late, "currentTime") - at(early, "currentTime") > 7.0,
            "{mode}: the playhead moved {} s from second 4 to 14",
            at(late, "currentTime") - at(early, "currentTime")
        );
        // The time codes read from the picture grow: the page shows the live picture.
        let codes: Vec<f64> = samples.iter().filter_map(|s| s["code"].as_f64()).collect();
        assert!(
            codes.len() > 8 && codes.windows(2).all(|w| w[1] > w[0]),
            "{mode}: time codes {codes:?}"
        );
        let glass: Vec<f64> = samples[10..]
            .iter()
            .filter_map(|s| s["glass"].as_f64())
            .collect();
        let behind: Vec<f64> = samples[10..]
            .iter()
            .filter_map(|s| s["latency"].as_f64())
            .collect();
        figures.push(format!(
            "{mode}: glass-to-glass median {:.2} s (samples {glass:.2?}), behind the live edge median {:.2} s",
            median(glass.clone()).unwrap_or(f64::NAN),
            median(behind).unwrap_or(f64::NAN)
        ));
    }
    eprintln!("browser latency after 10 s of play: {}", figures.join("; "));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&procs));
    }
}
