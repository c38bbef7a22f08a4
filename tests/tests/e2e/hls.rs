//! HLS and LL-HLS from the edge: ffmpeg playing `/live/NAME.m3u8` gets the source's packets,
//! with and without loss on the RTP path, and the live playlist follows the LL-HLS rules
//! (part durations, preload hint, blocking reload, the end), with the right headers.

use crate::{logs, LIVE_TIMEOUT};
use e2e_tests::cluster::Pair;
use e2e_tests::http::{self, HttpResponse};
use e2e_tests::lossy::{Forwarder, LossModel};
use e2e_tests::media::{check_decodes_clean, FrameMd5, Pkt};
use e2e_tests::process::Proc;
use e2e_tests::prometheus::scrape;
use e2e_tests::rooms::{expiry_query, unix_s};
use e2e_tests::util::{free_port, loopback, poll_until};
use e2e_tests::{Cloud, CloudConfig, Edge, EdgeConfig, Media, Publisher, TestDir};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Longer than the edge holds a request (three 4 s target durations).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

fn playlist_path(name: &str) -> String {
    format!("/live/{name}.m3u8")
}

fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http::request(addr, "GET", path, REQUEST_TIMEOUT).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Polls the playlist until it answers 200 (the stream is live here and has a part).
fn wait_playlist(addr: SocketAddr, name: &str, procs: &[&Proc]) -> HttpResponse {
    let path = playlist_path(name);
    poll_until(LIVE_TIMEOUT, Duration::from_millis(50), || {
        http::request(addr, "GET", &path, REQUEST_TIMEOUT)
            .ok()
            .filter(|r| r.status == 200)
    })
    .unwrap_or_else(|| {
        panic!(
            "{path} never answered 200 within {LIVE_TIMEOUT:?}\n{}",
            logs(procs)
        )
    })
}

/// ffmpeg reading the HLS URL: the framemd5 of what it demuxed, and a Matroska copy for the
/// decode check.
struct HlsPlayer {
    proc: Proc,
    md5_path: PathBuf,
    copy_path: PathBuf,
}

impl HlsPlayer {
    fn start(dir: &TestDir, label: &str, url: &str) -> HlsPlayer {
        let md5_path = dir.join(&format!("{label}.framemd5"));
        let copy_path = dir.join(&format!("{label}.mkv"));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-copyts"])
            .args([
                "-live_start_index",
                "0",
                "-rw_timeout",
                "20000000",
                "-i",
                url,
            ])
            .args(["-map", "0", "-c", "copy", "-f", "framemd5"])
            .arg(&md5_path)
            .args(["-map", "0", "-c", "copy", "-f", "matroska"])
            .arg(&copy_path);
        let proc = Proc::spawn(label, cmd, &dir.join(&format!("{label}.log")));
        HlsPlayer {
            proc,
            md5_path,
            copy_path,
        }
    }

    /// Waits for ffmpeg to end by itself (the playlist's `#EXT-X-ENDLIST`), then checks that
    /// every stream's packets are the source's from the first keyframe it got to the end, and
    /// that the copy decodes clean.
    fn expect_source_packets(&mut self, media: &Media, procs: &[&Proc]) {
        let timeout = Duration::from_secs(30);
        let Some(status) = self.proc.wait_timeout(timeout) else {
            panic!(
                "ffmpeg HLS player did not end within {timeout:?} of the publish's end\n{}\n{}",
                self.proc.log_tail(20),
                logs(procs)
            );
        };
        assert!(
            status.success(),
            "ffmpeg HLS player exited with {status}\n{}\n{}",
            self.proc.log_tail(20),
            logs(procs)
        );
        let text = std::fs::read_to_string(&self.md5_path).expect("read framemd5");
        let got = FrameMd5::parse(&text).expect("parse framemd5");
        let keyframes: Vec<bool> = media.video_tags().iter().map(|t| t.is_keyframe()).collect();
        let video = expect_suffix("video", &media.md5.of_kind("video"), &got.of_kind("video"));
        assert!(
            keyframes[video],
            "the HLS player's first video packet is source packet {video}, not a keyframe"
        );
        let audio = expect_suffix("audio", &media.md5.of_kind("audio"), &got.of_kind("audio"));
        eprintln!(
            "HLS player got video from packet {video} of {} and audio from {audio} of {}",
            keyframes.len(),
            media.md5.of_kind("audio").len()
        );
        for kind in ["video", "audio"] {
            assert_eq!(
                got.extradata_of(kind),
                media.md5.extradata_of(kind),
                "{kind} extradata (the sequence header) differs"
            );
        }
        check_decodes_clean(&self.copy_path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `got` must be the source's packets from some index to the end, on size and md5 (FLV and
/// fMP4 count time in different units, so timestamps are not compared); returns that index.
fn expect_suffix(kind: &str, source: &[&Pkt], got: &[&Pkt]) -> usize {
    assert!(
        got.len() >= source.len() / 2,
        "{kind}: only {} of the source's {} packets came through HLS",
        got.len(),
        source.len()
    );
    assert!(
        got.len() <= source.len(),
        "{kind}: {} packets, more than the source's {}",
        got.len(),
        source.len()
    );
    let from = source.len() - got.len();
    for (i, (want, have)) in source[from..].iter().zip(got).enumerate() {
        assert!(
            want.size == have.size && want.hash == have.hash,
            "{kind} packet {i} through HLS (source packet {}) differs: source {want}, received {have}",
            from + i
        );
    }
    from
}

/// Publishes the standard source to a cloud sending to `edge`, plays it with ffmpeg from the
/// edge's HLS URL once the playlist exists, and checks the packets.
fn hls_player_gets_the_source(dir: &TestDir, cloud: &mut Cloud, edge: &mut Edge, name: &str) {
    let media = Media::standard();
    let mut publisher = Publisher::start(dir, "publisher", media, &cloud.rtmp_url(name));
    wait_playlist(
        edge.flv_addr(),
        name,
        &[&cloud.proc, &edge.proc, &publisher.proc],
    );
    // ffmpeg's HLS demuxer finds no stream in a playlist of parts only: wait for a segment.
    let path = playlist_path(name);
    poll_until(LIVE_TIMEOUT, Duration::from_millis(100), || {
        let r = get(edge.flv_addr(), &path);
        (r.status == 200 && r.body_text().contains("#EXTINF:")).then_some(())
    })
    .unwrap_or_else(|| panic!("no complete segment\n{}", logs(&[&cloud.proc, &edge.proc])));
    let url = format!("http://{}{}", edge.flv_addr(), playlist_path(name));
    let mut player = HlsPlayer::start(dir, "hls-player", &url);
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&[&cloud.proc, &edge.proc]));
    }
    player.expect_source_packets(media, &[&cloud.proc, &edge.proc]);
    edge.proc.assert_running("after the HLS player");
}

#[test]
fn hls_player_gets_the_source_packets() {
    let dir = TestDir::new("hls-identity");
    let Pair {
        mut cloud,
        mut edge,
    } = Pair::start(dir.path());
    hls_player_gets_the_source(&dir, &mut cloud, &mut edge, "hls");
    let metrics = scrape(edge.flv_addr());
    for kind in ["playlist", "init", "segment"] {
        let served = metrics
            .get("liverelay_edge_hls_requests_total", &[("kind", kind)])
            .unwrap_or(0.0);
        assert!(served >= 1.0, "no HLS {kind} request counted: {served}");
    }
}

#[test]
fn hls_player_gets_the_source_packets_over_a_lossy_link() {
    let model = LossModel {
        seed: 0x4c5_1055,
        clean_start: 20,
        drop: 0.10,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_depth: 1,
    };
    let dir = TestDir::new("hls-lossy");
    let mut cloud_cfg = CloudConfig::new(dir.path(), Vec::new());
    let edge_cfg = EdgeConfig::unicast(&cloud_cfg);
    let edge_udp: SocketAddr = edge_cfg.unicast_target().parse().expect("addr");
    let forwarder = Forwarder::start(edge_udp, model);
    cloud_cfg.client_addr_list = vec![forwarder.listen.to_string()];
    let mut edge = Edge::start(dir.path(), "edge", edge_cfg);
    let mut cloud = Cloud::start(dir.path(), cloud_cfg);
    hls_player_gets_the_source(&dir, &mut cloud, &mut edge, "hls-lossy");
    let stats = forwarder.stop();
    assert!(
        stats.forward.dropped > 20,
        "the forwarder dropped only {} datagrams: nothing to repair",
        stats.forward.dropped
    );
}

/// `KEY=value` of an attribute list line (the value unquoted).
fn attribute<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let (_, attributes) = line.split_once(':')?;
    let start = attributes
        .split(',')
        .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))?;
    Some(start.trim_matches('"'))
}

/// The part a preload hint names: (msn, index) from `NAME/part-MSN-I.m4s`.
fn hinted_part(playlist: &str) -> Option<(u64, u64)> {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let uri = attribute(line, "URI")?;
    let path = uri.split('?').next()?;
    let file = path.rsplit('/').next()?.strip_suffix(".m4s")?;
    let (msn, index) = file.strip_prefix("part-")?.split_once('-')?;
    Some((msn.parse().ok()?, index.parse().ok()?))
}

/// Whether the playlist lists part `index` of segment `msn` as an `EXT-X-PART`.
fn lists_part(playlist: &str, name: &str, (msn, index): (u64, u64)) -> bool {
    let uri = format!("{name}/part-{msn}-{index}.m4s");
    playlist.lines().any(|l| {
        l.starts_with("#EXT-X-PART:")
            && attribute(l, "URI").is_some_and(|u| u.split('?').next() == Some(uri.as_str()))
    })
}

fn check_playlist_headers(response: &HttpResponse, what: &str) {
    assert_eq!(
        response.header("content-type"),
        Some("application/vnd.apple.mpegurl"),
        "{what}"
    );
    assert_eq!(response.header("cache-control"), Some("no-cache"), "{what}");
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("*"),
        "{what}"
    );
}

/// The live rules of LL-HLS (draft-pantos-hls-rfc8216bis): parts no longer than the part
/// target, a preload hint, blocking reload that holds until the part exists, then the end.
fn check_live_playlist(text: &str) {
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("#EXT-X-SERVER-CONTROL:") && l.contains("CAN-BLOCK-RELOAD=YES")),
        "no CAN-BLOCK-RELOAD=YES:\n{text}"
    );
    let target: f64 = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-PART-INF:"))
        .and_then(|l| attribute(l, "PART-TARGET"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no PART-TARGET:\n{text}"));
    let parts: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .map(|l| {
            attribute(l, "DURATION")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no DURATION in {l}"))
        })
        .collect();
    assert!(!parts.is_empty(), "no EXT-X-PART:\n{text}");
    for duration in &parts {
        assert!(
            *duration <= target + 1e-6,
            "a part of {duration} s is longer than PART-TARGET {target}:\n{text}"
        );
    }
    assert!(
        hinted_part(text).is_some(),
        "no EXT-X-PRELOAD-HINT while live:\n{text}"
    );
    assert!(!text.contains("#EXT-X-ENDLIST"), "ENDLIST while live");
}

#[test]
fn live_playlist_follows_the_ll_hls_rules() {
    let dir = TestDir::new("hls-rules");
    let pair = Pair::start(dir.path());
    let media = Media::standard();
    let name = "rules";
    let addr = pair.edge.flv_addr();
    let missing = get(addr, &playlist_path("nosuch"));
    assert_eq!(
        missing.status,
        404,
        "unknown stream: {}",
        missing.body_text()
    );
    let mut publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    let procs = [&pair.cloud.proc, &pair.edge.proc];
    let first = wait_playlist(
        addr,
        name,
        &[&pair.cloud.proc, &pair.edge.proc, &publisher.proc],
    );
    check_playlist_headers(&first, "playlist");
    let text = first.body_text();
    check_live_playlist(&text);

    // A blocking reload for the hinted part is held until that part exists.
    let hint = hinted_part(&text).expect("checked");
    assert!(
        !lists_part(&text, name, hint),
        "the hinted part is listed already"
    );
    let blocking = format!(
        "{}?_HLS_msn={}&_HLS_part={}",
        playlist_path(name),
        hint.0,
        hint.1
    );
    let held_part = format!("/live/{name}/part-{}-{}.m4s", hint.0, hint.1);
    let sent = Instant::now();
    let part_request = std::thread::spawn(move || get(addr, &held_part));
    let reloaded = get(addr, &blocking);
    let waited = sent.elapsed();
    assert_eq!(
        reloaded.status,
        200,
        "blocking reload: {}",
        reloaded.body_text()
    );
    check_playlist_headers(&reloaded, "blocking reload");
    let reloaded = reloaded.body_text();
    assert!(
        lists_part(&reloaded, name, hint),
        "the blocking reload for {hint:?} answered without that part:\n{reloaded}"
    );
    assert!(waited < Duration::from_secs(10), "held {waited:?}");
    check_live_playlist(&reloaded);
    let part = part_request.join().expect("part request");
    assert_eq!(part.status, 200, "the hinted part: {}", part.body_text());
    assert_eq!(part.header("content-type"), Some("video/mp4"));
    assert!(part
        .header("cache-control")
        .is_some_and(|c| c.contains("max-age")));
    assert_eq!(part.header("access-control-allow-origin"), Some("*"));
    assert!(
        part.body.windows(4).any(|w| w == b"moof"),
        "a part is a moof + mdat"
    );

    let init = get(addr, &format!("/live/{name}/init-0.mp4"));
    assert_eq!(init.status, 200);
    assert_eq!(init.header("content-type"), Some("video/mp4"));
    assert_eq!(
        init.body.get(4..8),
        Some(&b"ftyp"[..]),
        "init starts with ftyp"
    );
    assert_eq!(
        init.header("content-length"),
        Some(init.body.len().to_string().as_str())
    );
    let bad = get(addr, &format!("{}?_HLS_part=1", playlist_path(name)));
    assert_eq!(bad.status, 400, "_HLS_part without _HLS_msn");
    let far = get(
        addr,
        &format!("{}?_HLS_msn={}", playlist_path(name), hint.0 + 10),
    );
    assert_eq!(far.status, 400, "_HLS_msn far ahead");
    for path in [
        format!("/live/{name}/seg-999.m4s"),
        format!("/live/{name}/index.html"),
        "/live/nosuch/init-0.mp4".to_owned(),
    ] {
        assert_eq!(get(addr, &path).status, 404, "{path}");
    }
    let document = get(addr, "/api/openapi.json").body_text();
    assert!(
        document.contains("\"/{app}/{name}/{file}\""),
        "the OpenAPI document lacks the HLS media path"
    );
    let preflight =
        http::request(addr, "OPTIONS", &playlist_path(name), REQUEST_TIMEOUT).expect("OPTIONS");
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));

    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&procs));
    }
    // After the end the playlist is complete: ENDLIST, no hint, every segment fetchable.
    let ended = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
        let r = get(addr, &playlist_path(name));
        (r.status == 200 && r.body_text().contains("#EXT-X-ENDLIST")).then(|| r.body_text())
    })
    .unwrap_or_else(|| {
        panic!(
            "no #EXT-X-ENDLIST after the publish ended\n{}",
            logs(&procs)
        )
    });
    assert!(
        hinted_part(&ended).is_none(),
        "a preload hint after the end"
    );
    let segments: Vec<&str> = ended
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(segments.len() >= 2, "segments after the end:\n{ended}");
    for uri in segments {
        let segment = get(addr, &format!("/live/{uri}"));
        assert_eq!(segment.status, 200, "{uri}");
        assert_eq!(segment.header("content-type"), Some("video/mp4"), "{uri}");
    }
}

#[test]
fn a_codec_hls_cannot_carry_is_named_while_flv_plays_on() {
    let dir = TestDir::new("hls-codec");
    let pair = Pair::start(dir.path());
    let name = "mp3";
    let url = pair.cloud.rtmp_url(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "15",
        ])
        .args(["-c:a", "libmp3lame", "-ar", "44100", "-f", "flv", &url]);
    let mut publisher = Proc::spawn("publisher", cmd, &dir.join("publisher.log"));
    let addr = pair.edge.flv_addr();
    http::wait_live(addr, &Edge::play_path(name), LIVE_TIMEOUT).unwrap_or_else(|e| {
        panic!(
            "{e}\n{}",
            logs(&[&pair.cloud.proc, &pair.edge.proc, &publisher])
        )
    });
    let refused = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        let r = get(addr, &playlist_path(name));
        (r.status != 404).then_some(r)
    })
    .expect("the playlist answers");
    assert_eq!(refused.status, 501, "{}", refused.body_text());
    assert!(
        refused.body_text().contains("mp3"),
        "{}",
        refused.body_text()
    );
    let flv = http::probe(addr, "GET", &Edge::play_path(name)).expect("FLV play");
    assert_eq!(flv.status, 200, "HTTP-FLV of the same stream");
    publisher.wait_timeout(Duration::from_secs(30));
}

/// Under `play_auth: expiry`, on a listener of its own (`hls_addr`): the playlist needs a signed
/// URL, its URIs carry that query so its media play with it (and not without), and a blocking
/// reload adds its `_HLS_*` parameters to the signed query without breaking it.
#[test]
fn signed_urls_cover_the_playlist_and_its_media() {
    const PLAY_KEY: &str = "an-hls-play-key-for-tests";
    let dir = TestDir::new("hls-signed");
    let hls_port = free_port();
    let pair = Pair::start_with(dir.path(), |edge| {
        edge.extra = vec![
            "play_auth: expiry".into(),
            format!("play_key: \"{PLAY_KEY}\""),
            format!("hls_addr: \"127.0.0.1:{hls_port}\""),
        ];
    });
    let media = Media::standard();
    let name = "signed";
    let _publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    let addr = loopback(hls_port);
    let signed = expiry_query("live", name, unix_s() + 600, PLAY_KEY);
    let carried = signed.trim_start_matches('?');
    let path = format!("{}{signed}", playlist_path(name));
    let playlist = poll_until(LIVE_TIMEOUT, Duration::from_millis(50), || {
        http::request(addr, "GET", &path, REQUEST_TIMEOUT)
            .ok()
            .filter(|r| r.status == 200)
    })
    .unwrap_or_else(|| panic!("the signed playlist never answered 200\n{}", pair.logs()));
    let text = playlist.body_text();
    assert_eq!(
        get(addr, &playlist_path(name)).status,
        403,
        "unsigned playlist"
    );
    let uris: Vec<&str> = text
        .lines()
        .filter_map(|l| match l.strip_prefix('#') {
            Some(_) => attribute(l, "URI"),
            None => Some(l),
        })
        .filter(|u| !u.is_empty())
        .collect();
    assert!(!uris.is_empty(), "{text}");
    for uri in &uris {
        assert!(
            uri.ends_with(&format!("?{carried}")),
            "{uri} lacks the query:\n{text}"
        );
    }
    let init = uris
        .iter()
        .find(|u| u.contains("/init-"))
        .unwrap_or_else(|| panic!("no init URI:\n{text}"));
    assert_eq!(
        get(addr, &format!("/live/{init}")).status,
        200,
        "signed init"
    );
    let bare = init.split('?').next().unwrap_or_default();
    assert_eq!(
        get(addr, &format!("/live/{bare}")).status,
        403,
        "unsigned init"
    );
    let (msn, part) = hinted_part(&text).expect("a preload hint");
    let reload = format!("{path}&_HLS_msn={msn}&_HLS_part={part}");
    let reloaded = get(addr, &reload);
    assert_eq!(
        reloaded.status,
        200,
        "signed blocking reload: {}",
        reloaded.body_text()
    );
    assert!(lists_part(&reloaded.body_text(), name, (msn, part)));
    // hls_addr serves HLS only; flv_addr serves it too.
    assert_eq!(
        get(addr, &format!("{}{signed}", Edge::play_path(name))).status,
        404
    );
    assert_eq!(get(pair.edge.flv_addr(), &path).status, 200);
}
