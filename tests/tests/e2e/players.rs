//! The ways a player can take a stream: WebSocket-FLV, and HTTP-FLV asked in other shapes than
//! the usual first `GET` of an HTTP/1.1 connection.

use crate::{capture_timeout, expect_attached, expect_capture, logs, start_capture, LIVE_TIMEOUT};
use e2e_tests::checks::Join;
use e2e_tests::cluster::Pair;
use e2e_tests::flv::parse;
use e2e_tests::http::{play_asking, Asked};
use e2e_tests::ws::WsCapture;
use e2e_tests::{Edge, Media, Publisher, TestDir};
use std::time::{Duration, Instant};

/// A WebSocket-FLV player and an HTTP-FLV player, both joined before the publish, get the same
/// bytes: the HTTP player's body (checked packet for packet against the source) is the WebSocket
/// messages joined. The first message is the 13-byte FLV header and every other one exactly one
/// tag; the edge ends with a normal close (1000) when the stream ends, and counted the socket as
/// a player while it played.
#[test]
fn websocket_player_gets_the_http_players_bytes() {
    let media = Media::standard();
    let dir = TestDir::new("wsflv");
    let Pair { cloud, edge } = Pair::start(dir.path());
    let procs = [&cloud.proc, &edge.proc];
    let name = "wsflv";
    let mut http = start_capture(&edge, "http-player", name, media);
    let ws = WsCapture::start(
        "ws-player",
        edge.flv_addr(),
        &Edge::play_path(name),
        LIVE_TIMEOUT,
        capture_timeout(media),
    );
    let mut publisher = Publisher::start(&dir, "publisher-wsflv", media, &cloud.rtmp_url(name));
    expect_attached(&mut http, &procs);
    if ws.wait_connected(LIVE_TIMEOUT).is_none() {
        panic!("the WebSocket player was never accepted\n{}", logs(&procs));
    }
    // The gauge comes from the streams' snapshots, taken a few times a second.
    let counted_by = Instant::now() + Duration::from_secs(5);
    let players = loop {
        let players = e2e_tests::prometheus::scrape(edge.flv_addr())
            .get("liverelay_edge_players", &[])
            .unwrap_or(-1.0);
        if players == 2.0 || Instant::now() > counted_by {
            break players;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&procs));
    }
    let http_body = expect_capture(http, media, &dir, Join::Start, &procs).flv;
    let received = ws
        .finish()
        .unwrap_or_else(|e| panic!("WebSocket player: {e}\n{}", logs(&procs)));
    assert_eq!(players, 2.0, "players while both played");
    assert_eq!(received.texts, 0, "text messages");
    assert_eq!(
        received.close,
        Some((1000, "the stream ended".to_string())),
        "the close frame"
    );
    let first = received.messages.first().expect("at least one message");
    assert_eq!(first.len(), 13, "the first message is the FLV header");
    for (i, message) in received.messages.iter().enumerate().skip(1) {
        let tag_len = 11 + u32::from_be_bytes([0, message[1], message[2], message[3]]) as usize + 4;
        assert_eq!(message.len(), tag_len, "message {i} is not exactly one tag");
    }
    let joined = received.concatenated();
    let ws_flv = parse(&joined).expect("the WebSocket messages joined are FLV");
    assert_eq!(
        ws_flv.tags, http_body.tags,
        "the WebSocket player's tags are the HTTP player's"
    );
    assert_eq!(ws_flv.header, http_body.header);
}

/// The edge answers a connection's first `GET /APP/NAME.flv` on the socket and everything else
/// through its router; every way of asking gets the same stream. Joined at the start: an HTTP/1.1
/// player (chunked, checked packet for packet against the source), an HTTP/1.0 one (not
/// chunked, ended by the close), and one whose GET follows a HEAD on the same keep-alive
/// connection (the router's answer). All three get the same FLV header and tags.
#[test]
fn every_way_of_asking_for_flv_gets_the_same_stream() {
    let media = Media::standard();
    let dir = TestDir::new("flvasks");
    let Pair { cloud, edge } = Pair::start(dir.path());
    let procs = [&cloud.proc, &edge.proc];
    let name = "flvasks";
    let path = Edge::play_path(name);
    let mut http11 = start_capture(&edge, "http11-player", name, media);
    let others = [Asked::Http10, Asked::AfterHead].map(|asked| {
        let player = play_asking(
            asked,
            edge.flv_addr(),
            &path,
            LIVE_TIMEOUT,
            capture_timeout(media),
        );
        (asked, player)
    });
    let mut publisher = Publisher::start(&dir, "publisher-flvasks", media, &cloud.rtmp_url(name));
    expect_attached(&mut http11, &procs);
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&procs));
    }
    let reference = expect_capture(http11, media, &dir, Join::Start, &procs).flv;
    for (asked, player) in others {
        let response = player
            .join()
            .unwrap_or_else(|_| Err("player thread panicked".into()))
            .unwrap_or_else(|e| panic!("{asked:?}: {e}\n{}", logs(&procs)));
        assert!(response.complete, "{asked:?}: {:?}", response.error);
        let chunked = response.header("transfer-encoding");
        match asked {
            Asked::Http10 => assert_eq!(chunked, None, "an HTTP/1.0 body is not chunked"),
            Asked::AfterHead => assert_eq!(chunked, Some("chunked"), "{asked:?}"),
        }
        assert_eq!(
            response.header("content-type"),
            Some("video/x-flv"),
            "{asked:?}"
        );
        let flv = parse(&response.body).unwrap_or_else(|e| panic!("{asked:?}: {e}"));
        assert_eq!(flv.header, reference.header, "{asked:?}: the FLV header");
        assert_eq!(
            flv.tags.len(),
            reference.tags.len(),
            "{asked:?}: tags against the HTTP/1.1 player's"
        );
        assert!(flv.tags == reference.tags, "{asked:?}: the tags differ");
    }
}
