//! Play authentication at the edge: signed play URLs (`play_auth: expiry`) and the app's
//! `on_play` hook.

use e2e_tests::cluster::Pair;
use e2e_tests::http;
use e2e_tests::rooms::{expiry_query, serve_http, unix_s};
use e2e_tests::{Edge, Media, Publisher, TestDir};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PLAY_KEY: &str = "a-play-key-for-the-tests";

/// The hook's requests: headers and body.
type Asked = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A stream published under a `play_auth: expiry` edge whose `on_play` hook refuses the stream
/// `live/denied`: no token, a forged one, an expired one and another stream's get 403; a valid
/// token plays; a valid token for a stream the hook refuses gets 403; the hook's requests are
/// signed and name the stream.
#[test]
fn play_tokens_and_the_on_play_hook_decide_who_plays() {
    let media = Media::standard();
    let dir = TestDir::new("playauth");
    let asked: Asked = Arc::default();
    let record = asked.clone();
    let hook = serve_http(move |headers, body| {
        let denied = body.contains("\"stream\":\"denied\"");
        if let Ok(mut asked) = record.lock() {
            asked.push((headers, body));
        }
        if denied {
            (200, r#"{"code":403,"message":"not for you"}"#.to_owned())
        } else {
            (200, r#"{"code":0}"#.to_owned())
        }
    });
    let mut pair = Pair::start_with(dir.path(), |edge| {
        edge.extra = vec![
            "play_auth: expiry".into(),
            format!("play_key: \"{PLAY_KEY}\""),
            format!("on_play: \"http://{hook}/on_play\""),
            "on_play_secret: \"a-hook-secret-of-16+\"".into(),
            "on_play_cache_s: 0".into(),
        ];
    });
    let name = "guarded";
    let mut publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    let expire = unix_s() + 600;
    let path = |name: &str, query: &str| format!("{}{query}", Edge::play_path(name));
    let signed = expiry_query("live", name, expire, PLAY_KEY);
    http::wait_live(
        pair.edge.flv_addr(),
        &path(name, &signed),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("a signed play URL does not play: {e}\n{}", pair.logs()));
    let status = |path: String| {
        http::probe(pair.edge.flv_addr(), "HEAD", &path)
            .unwrap_or_else(|e| panic!("edge: {e}"))
            .status
    };
    for (what, query) in [
        ("no token", String::new()),
        (
            "a forged token",
            expiry_query("live", name, expire, "not-the-play-key-at-all"),
        ),
        (
            "an expired token",
            expiry_query("live", name, unix_s() - 10, PLAY_KEY),
        ),
        (
            "another stream's token",
            expiry_query("live", "other", expire, PLAY_KEY),
        ),
    ] {
        assert_eq!(status(path(name, &query)), 403, "{what} was let in");
    }
    assert_eq!(status(path(name, &signed)), 200, "the signed URL");
    let denied = expiry_query("live", "denied", expire, PLAY_KEY);
    assert_eq!(
        status(path("denied", &denied)),
        403,
        "a player the on_play hook refused"
    );
    let asked = asked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(
        asked
            .iter()
            .any(|(_, body)| body.contains("\"stream\":\"denied\"")),
        "the hook was not asked about the refused stream: {asked:?}"
    );
    assert!(
        asked.iter().all(|(headers, _)| headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-liverelay-signature"))),
        "an on_play request was not signed"
    );
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", pair.logs());
    }
    pair.edge.proc.assert_running("after the players");
}
