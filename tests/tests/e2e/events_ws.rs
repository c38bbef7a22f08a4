//! A room's events over a WebSocket on a real cloud (`GET /client/live/room/{id}/events/ws`):
//! the same events as the SSE stream, one JSON text frame each, opened with the event-stream
//! token or a client token, resumed with `?last_event_id=` (a `reset` first when the id is no
//! longer kept), frames from the client answered, and a close when the room ends. The client
//! is tungstenite, an independent RFC 6455 implementation.

use crate::rooms::start;
use e2e_tests::http::probe;
use e2e_tests::rooms::{Db, RoomsApi};
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

type Socket = tungstenite::WebSocket<TcpStream>;

/// Opens `path` as a WebSocket, with a client token in `Authorization` when given; the HTTP
/// status when the upgrade is refused.
fn connect(addr: SocketAddr, path: &str, bearer: Option<&str>) -> Result<Socket, u16> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("a request");
    if let Some(token) = bearer {
        let value = format!("Bearer {token}").parse().expect("a header value");
        request.headers_mut().insert("authorization", value);
    }
    let stream = TcpStream::connect(addr).expect("connect");
    match tungstenite::client(request, stream) {
        Ok((socket, _)) => {
            socket
                .get_ref()
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("a read timeout");
            Ok(socket)
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("upgrade of {path}: {e}"),
    }
}

/// What the socket got next: a JSON text frame, or the close frame's code (`Err`).
fn next_frame(socket: &mut Socket, deadline: Instant) -> Result<Value, Option<u16>> {
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                return Ok(serde_json::from_str(text.as_str()).expect("a JSON frame"))
            }
            Ok(Message::Close(frame)) => return Err(frame.map(|f| u16::from(f.code))),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading the socket: {e}"),
        }
    }
    panic!("no frame within the deadline")
}

/// Reads frames until one matches; fails after 10 s.
fn frame_where(socket: &mut Socket, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match next_frame(socket, deadline) {
            Ok(frame) if matches(&frame) => return frame,
            Ok(_) => {}
            Err(code) => panic!("closed ({code:?}) before the frame looked for"),
        }
    }
}

/// A room of the caller of `anchor` (a client token), started, with the caller of `viewer`
/// joined; its id.
pub fn live_room(api: &RoomsApi, anchor: &str, title: &str, viewer: Option<&str>) -> String {
    let room = api
        .client(
            anchor,
            "POST",
            "/client/live/room/instance",
            Some(&json!({"title": title})),
        )
        .ok("create a room");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    let start = format!("/client/live/room/{live_id}");
    api.client(anchor, "PUT", &start, None).ok("start the room");
    if let Some(viewer) = viewer {
        let join = format!("/client/live/room/user/{live_id}");
        api.client(viewer, "POST", &join, None).ok("join the room");
    }
    live_id
}

#[test]
fn room_events_over_a_websocket() {
    let Some(cluster) = start(Db::Sqlite, "events-ws", &[]) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");
    api.register("fan");
    let (anchor, fan) = (api.token("anchor"), api.token("fan"));
    let live_id = live_room(&api, &anchor, "ws", Some(&fan));
    let other = api.create_room("anchor", "other");
    let other_id = other["live_id"].as_str().unwrap_or_default().to_owned();
    let token = api
        .client(
            &fan,
            "POST",
            &format!("/client/live/room/{live_id}/events/token"),
            None,
        )
        .ok("mint an event-stream token")["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ws = |id: &str, query: &str| format!("/client/live/room/{id}/events/ws{query}");

    // Who may open it.
    assert_eq!(connect(api.addr, &ws(&live_id, ""), None).err(), Some(401));
    assert_eq!(
        connect(api.addr, &ws(&other_id, &format!("?token={token}")), None).err(),
        Some(401),
        "another room's token"
    );
    assert_eq!(
        connect(api.addr, &ws(&live_id, &format!("?token={fan}")), None).err(),
        Some(401),
        "a client token in the URL"
    );
    assert_eq!(
        connect(api.addr, &ws("no-such-room", ""), Some(&fan)).err(),
        Some(404)
    );
    let plain = probe(api.addr, "GET", &ws(&live_id, &format!("?token={token}"))).expect("GET");
    assert_eq!(plain.status, 400, "a GET that is no upgrade");

    let mut socket = connect(api.addr, &ws(&live_id, &format!("?token={token}")), None)
        .expect("the upgrade with the event-stream token");
    let like_path = format!("/client/live/room/{live_id}/like");
    api.client(&fan, "PUT", &like_path, Some(&json!({"count": 2})))
        .ok("like");
    let first = frame_where(&mut socket, |f| f["event"] == "like");
    assert_eq!(first["data"]["delta"], 2);
    let first_id = first["id"].as_str().unwrap_or_default().to_owned();
    assert!(first_id.contains('-'), "a BOOT-SEQ id: {first}");

    // Frames from the client are answered, with their id.
    let chat = json!({"type": "message", "kind": "chat", "text": "hi", "id": 7});
    socket
        .send(Message::Text(chat.to_string().into()))
        .expect("send");
    let answer = frame_where(&mut socket, |f| f["type"] == "error");
    assert_eq!(answer["id"], 7);
    socket.send(Message::Text("not json".into())).expect("send");
    let garbage = frame_where(&mut socket, |f| f["type"] == "error");
    assert_eq!(garbage["id"], Value::Null);

    api.client(&fan, "PUT", &like_path, Some(&json!({"count": 1})))
        .ok("like again");
    let second = frame_where(&mut socket, |f| f["event"] == "like");
    assert_eq!(second["data"]["delta"], 1);

    // Resumed after the first like (a client token in the header this time): the second comes
    // first; with an id of no run of this node, a reset comes first.
    let mut resumed = connect(
        api.addr,
        &ws(&live_id, &format!("?last_event_id={first_id}")),
        Some(&fan),
    )
    .expect("the upgrade with a client token");
    let deadline = Instant::now() + Duration::from_secs(10);
    let backlog = next_frame(&mut resumed, deadline).expect("a frame");
    assert_eq!(backlog, second, "the event after the last one seen");
    let mut stale =
        connect(api.addr, &ws(&live_id, "?last_event_id=0-0"), Some(&fan)).expect("the upgrade");
    let reset = next_frame(&mut stale, deadline).expect("a frame");
    assert_eq!(reset, json!({"id": null, "event": "reset", "data": {}}));

    // The room ends: its final status, then a normal close.
    api.client(
        &anchor,
        "DELETE",
        &format!("/client/live/room/{live_id}"),
        None,
    )
    .ok("stop");
    frame_where(&mut socket, |f| {
        f["event"] == "live_status" && f["data"]["status"] == "ended"
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let closed = loop {
        match next_frame(&mut socket, deadline) {
            Ok(_) => continue,
            Err(code) => break code,
        }
    };
    assert_eq!(closed, Some(1000));
    assert_eq!(
        connect(api.addr, &ws(&live_id, ""), Some(&fan)).err(),
        Some(409),
        "an ended room"
    );
}
