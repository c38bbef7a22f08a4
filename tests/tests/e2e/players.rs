//! The ways a player can take a stream besides plain HTTP-FLV: WebSocket-FLV.

use crate::{capture_timeout, expect_attached, expect_capture, logs, start_capture, LIVE_TIMEOUT};
use e2e_tests::checks::Join;
use e2e_tests::cluster::{CloudConfig, EdgeConfig};
use e2e_tests::flv::parse;
use e2e_tests::ws::WsCapture;
use e2e_tests::{Cloud, Edge, Media, Publisher, TestDir};
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
    let cloud_cfg = CloudConfig::new(dir.path(), Vec::new());
    let edge_cfg = EdgeConfig::unicast(&cloud_cfg);
    let mut cloud_cfg = cloud_cfg;
    cloud_cfg.client_addr_list = vec![edge_cfg.unicast_target()];
    let edge = Edge::start(dir.path(), "edge", edge_cfg);
    let cloud = Cloud::start(dir.path(), cloud_cfg);
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
