//! PK between two live rooms and moderation on a real cloud, on SQLite and on PostgreSQL: who may
//! invite, answer and stop, the 409 of a room already paired, room views showing the peer, the
//! invitation timeout and a room's end reaching the other room's event stream; kicks, and bans
//! refused at create, start and a real RTMP publish.

use crate::logs;
use crate::rooms::{refused, room_state, start};
use e2e_tests::rooms::{Db, EventStream, RoomsApi};
use e2e_tests::util::poll_until;
use e2e_tests::{Media, Publisher};
use serde_json::{json, Value};
use std::time::Duration;

on_both_databases! {
    pk_invite_accept_and_stop => pk_flow_on_sqlite, pk_flow_on_postgres;
    pk_timeout_and_room_end_reach_both_streams => pk_events_on_sqlite, pk_events_on_postgres;
    kicks_and_bans => moderation_on_sqlite, moderation_on_postgres;
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// A room of the anchor holding `token`, created and started by it: its view.
fn live_room(api: &RoomsApi, token: &str, title: &str) -> Value {
    let room = api
        .client(
            token,
            "POST",
            "/client/live/room/instance",
            Some(&json!({ "title": title })),
        )
        .ok("create a room");
    let path = format!("/client/live/room/{}", text(&room, "live_id"));
    api.client(token, "PUT", &path, None).ok("start the room")
}

/// The stream name of a room, from its push URL (only the anchor's views carry one).
fn peer_stream(room: &Value) -> String {
    let push = text(room, "push_url");
    let base = push.split('?').next().unwrap_or_default();
    base.rsplit('/').next().unwrap_or_default().to_owned()
}

/// What a viewer reads of a room.
fn info(api: &RoomsApi, token: &str, live_id: &str) -> Value {
    api.client(
        token,
        "GET",
        &format!("/client/live/room/info/{live_id}"),
        None,
    )
    .ok("room info")
}

fn invite(api: &RoomsApi, token: &str, init: &str, recv: &str) -> e2e_tests::rooms::Answer {
    let body = json!({ "init_room_id": init, "recv_room_id": recv });
    api.client(token, "POST", "/client/pk/invite", Some(&body))
}

fn answer(api: &RoomsApi, token: &str, pk_id: &str, accept: bool) -> e2e_tests::rooms::Answer {
    let body = json!({ "accept": accept });
    api.client(
        token,
        "POST",
        &format!("/client/pk/{pk_id}/answer"),
        Some(&body),
    )
}

fn pk_invite_accept_and_stop(db: Db) {
    let label = format!("pk-flow-{db:?}").to_lowercase();
    let Some(cluster) = start(db, &label, &["pk_invite_timeout_s: 60"]) else {
        return;
    };
    let api = cluster.api;
    let [ann, bob, cat, viewer] = ["ann", "bob", "cat", "viewer"].map(|user| api.token(user));
    let (room_a, room_b, room_c) = (
        live_room(&api, &ann, "A"),
        live_room(&api, &bob, "B"),
        live_room(&api, &cat, "C"),
    );
    let (a, b, c) = (
        text(&room_a, "live_id"),
        text(&room_b, "live_id"),
        text(&room_c, "live_id"),
    );

    // Only the anchor of the inviting room invites.
    invite(&api, &viewer, &a, &b).expect_error("a viewer inviting", 403, 403, "anchor");
    invite(&api, &bob, &a, &b).expect_error("another anchor inviting from A", 403, 403, "anchor");
    let pk = invite(&api, &ann, &a, &b).ok("ann invites B");
    let pk_id = text(&pk, "pk_id");
    assert_eq!(
        (text(&pk, "status"), text(&pk, "recv_anchor_id")),
        ("invited".to_owned(), "bob".to_owned())
    );
    // Paired rooms (an invitation pending) can neither invite nor be invited.
    invite(&api, &ann, &a, &c).expect_error("A, in a PK, invites", 409, 603, "already in PK");
    invite(&api, &cat, &c, &b).expect_error("B, in a PK, is invited", 409, 603, "already in PK");
    invite(&api, &bob, &b, &c).expect_error("B, in a PK, invites", 409, 603, "already in PK");
    // Only the invited room's anchor answers: not the inviter, not a viewer.
    answer(&api, &ann, &pk_id, true).expect_error("the inviter accepting", 403, 403, "invited");
    answer(&api, &viewer, &pk_id, true).expect_error("a viewer accepting", 403, 403, "invited");
    let active = answer(&api, &bob, &pk_id, true).ok("bob accepts");
    assert_eq!(text(&active, "status"), "active");
    answer(&api, &bob, &pk_id, true).expect_error("accepting twice", 409, 601, "active");

    // Both rooms' views show the other room and where to play it.
    for (room, peer) in [(&a, &room_b), (&b, &room_a)] {
        let view = info(&api, &viewer, room);
        assert_eq!(view["pk"]["pk_id"], pk_id.as_str(), "{view}");
        assert_eq!(view["pk"]["status"], "active", "{view}");
        assert_eq!(view["pk"]["peer_live_id"], peer["live_id"], "{view}");
        assert_eq!(
            view["pk"]["peer_play_urls"]["flv"], peer["play_urls"]["flv"],
            "{view}"
        );
        let play = view["pk"]["peer_play_urls"]["flv"][0]
            .as_str()
            .unwrap_or_default();
        assert!(
            play.ends_with(&format!("/live/{}.flv", peer_stream(peer))),
            "{view}"
        );
    }
    assert!(info(&api, &viewer, &c)["pk"].is_null());
    let relay = api
        .client(&viewer, "GET", &format!("/client/relay/{pk_id}"), None)
        .ok("read the PK as a relay");
    assert_eq!(
        (relay["relay_status"].as_u64(), text(&relay, "init_user_id")),
        (Some(1), "ann".to_owned())
    );

    // Either anchor stops it, nobody else; then the views lose the peer.
    let stop = format!("/client/pk/{pk_id}/stop");
    api.client(&viewer, "POST", &stop, None)
        .expect_error("a viewer stopping", 403, 403, "anchors");
    let ended = api.client(&bob, "POST", &stop, None).ok("bob stops");
    assert_eq!(
        (
            text(&ended, "status"),
            text(&ended, "end_reason"),
            text(&ended, "stopped_by")
        ),
        ("ended".to_owned(), "stopped".to_owned(), "bob".to_owned())
    );
    api.client(&ann, "POST", &stop, None)
        .expect_error("stopping twice", 409, 601, "ended");
    for room in [&a, &b] {
        let view = info(&api, &viewer, room);
        assert!(
            view["pk"].is_null(),
            "a PK left in the view after it ended: {view}"
        );
    }

    // The vendor's relay start invites; a rejection frees both rooms.
    let started = api
        .client(
            &cat,
            "POST",
            "/client/relay/start",
            Some(&json!({ "init_room_id": c, "recv_room_id": a, "recv_user_id": "ann" })),
        )
        .ok("relay start");
    assert_eq!(started["relay_status"], 0, "{started}");
    let relay_id = text(&started, "relay_id");
    assert_eq!(info(&api, &viewer, &a)["pk"]["status"], "invited");
    answer(&api, &ann, &relay_id, false).ok("ann rejects");
    let rejected = api
        .client(&cat, "GET", &format!("/client/relay/{relay_id}"), None)
        .ok("read the relay");
    assert_eq!(
        (rejected["relay_status"].as_u64(), text(&rejected, "status")),
        (Some(5), "rejected".to_owned())
    );
    invite(&api, &ann, &a, &c).ok("A and C are free again");

    // Every PK and moderation route is in the OpenAPI document.
    let document = api.openapi();
    for path in [
        "/client/pk/invite",
        "/client/pk/{pk_id}",
        "/client/pk/{pk_id}/answer",
        "/client/pk/{pk_id}/stop",
        "/client/relay/start",
        "/client/relay/{pk_id}",
        "/client/relay/{pk_id}/stop",
        "/server/live/{live_id}/kick",
        "/server/live/{live_id}/mute",
        "/client/live/room/{live_id}/kick",
        "/client/live/room/{live_id}/mute",
        "/server/anchor/{user_id}/ban",
        "/admin/anchor/{user_id}/ban",
    ] {
        assert!(document["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    for method in ["post", "delete", "get"] {
        assert!(
            document["paths"]["/server/anchor/{user_id}/ban"][method].is_object(),
            "OpenAPI lacks {method} of the ban"
        );
    }
}

fn pk_timeout_and_room_end_reach_both_streams(db: Db) {
    let label = format!("pk-events-{db:?}").to_lowercase();
    let Some(cluster) = start(db, &label, &["pk_invite_timeout_s: 1"]) else {
        return;
    };
    let api = cluster.api;
    let [ann, bob, viewer] = ["ann", "bob", "viewer"].map(|user| api.token(user));
    let a = text(&live_room(&api, &ann, "A"), "live_id");
    let b = text(&live_room(&api, &bob, "B"), "live_id");
    let streams = [&a, &b].map(|room| {
        let stream = EventStream::open(api.addr, &viewer, room, Duration::from_secs(40));
        assert_eq!(
            stream.wait_answered(Duration::from_secs(5)),
            200,
            "events of {room}"
        );
        stream
    });
    let procs = || logs(&[&cluster.cloud.proc]);

    // Unanswered for a second: timeout, told to both rooms.
    let pk_id = text(&invite(&api, &ann, &a, &b).ok("invite"), "pk_id");
    let with = |status: &'static str, pk_id: String| {
        move |data: &Value| data["pk_id"] == pk_id.as_str() && data["status"] == status
    };
    for (room, stream) in [&a, &b].iter().zip(&streams) {
        let invited = stream.wait_for("pk", Duration::from_secs(5), with("invited", pk_id.clone()));
        assert!(
            invited.is_some(),
            "room {room} was not told of the invitation: {:?}",
            stream.events()
        );
        let timeout = stream.wait_for("pk", Duration::from_secs(6), with("timeout", pk_id.clone()));
        let timeout = timeout.unwrap_or_else(|| {
            panic!(
                "room {room} was not told of the timeout: {:?}\n{}",
                stream.events(),
                procs()
            )
        });
        assert_eq!(
            (
                text(&timeout, "init_room_id"),
                text(&timeout, "recv_room_id")
            ),
            (a.clone(), b.clone())
        );
    }
    let read = api
        .client(&viewer, "GET", &format!("/client/pk/{pk_id}"), None)
        .ok("read the PK");
    assert_eq!(text(&read, "status"), "timeout");
    answer(&api, &bob, &pk_id, true).expect_error(
        "accepting after the timeout",
        409,
        601,
        "timeout",
    );

    // Accepted in time (the timeout counts from the invitation), then A's anchor ends its room:
    // the PK ends and B's clients hear it.
    let pk = invite(&api, &ann, &a, &b).ok("invite again");
    let second = text(&pk, "pk_id");
    answer(&api, &bob, &second, true).ok("bob accepts");
    api.client(&ann, "DELETE", &format!("/client/live/room/{a}"), None)
        .ok("ann stops room A");
    let ended = streams[1].wait_for("pk", Duration::from_secs(5), with("ended", second.clone()));
    let ended = ended.unwrap_or_else(|| {
        panic!(
            "room B was not told: {:?}\n{}",
            streams[1].events(),
            procs()
        )
    });
    assert_eq!(text(&ended, "end_reason"), "room_ended");
    assert!(
        streams[0]
            .wait_for("pk", Duration::from_secs(1), with("ended", second.clone()))
            .is_some(),
        "room A's own clients hear it before its stream ends: {:?}",
        streams[0].events()
    );
    let read = api
        .client(&viewer, "GET", &format!("/client/pk/{second}"), None)
        .ok("read the PK");
    assert_eq!(text(&read, "status"), "ended");
    assert!(info(&api, &viewer, &b)["pk"].is_null());
    invite(&api, &bob, &b, &a).expect_error("inviting an ended room", 409, 601, "not live");
}

fn kicks_and_bans(db: Db) {
    let label = format!("moderation-{db:?}").to_lowercase();
    let Some(cluster) = start(db, &label, &["kick_block_s: 600"]) else {
        return;
    };
    let api = cluster.api;
    let [ann, vic, val] = ["ann", "vic", "val"].map(|user| api.token(user));
    let live_id = text(&live_room(&api, &ann, "show"), "live_id");
    let join = format!("/client/live/room/user/{live_id}");
    for viewer in [&vic, &val] {
        api.client(viewer, "POST", &join, None).ok("join");
    }
    assert_eq!(
        info(&api, &vic, &live_id)["online_count"],
        3,
        "anchor and two viewers"
    );

    // Kicked by the server, then by the anchor: gone from the count, refused when re-joining.
    let kicked = api
        .server(
            "POST",
            &format!("/server/live/{live_id}/kick"),
            Some(&json!({"user_id": "vic"})),
        )
        .ok("server kicks vic");
    assert_eq!(kicked["was_online"], true, "{kicked}");
    assert_eq!(info(&api, &val, &live_id)["online_count"], 2);
    api.client(&vic, "POST", &join, None).expect_error(
        "vic re-joining",
        403,
        605,
        "removed from room",
    );
    let kick = format!("/client/live/room/{live_id}/kick");
    api.client(&vic, "POST", &kick, Some(&json!({"user_id": "val"})))
        .expect_error("a viewer kicking", 403, 403, "anchor");
    api.client(&ann, "POST", &kick, Some(&json!({"user_id": "val"})))
        .ok("the anchor kicks val");
    assert_eq!(info(&api, &ann, &live_id)["online_count"], 1);
    api.client(&val, "POST", &join, None).expect_error(
        "val re-joining",
        403,
        605,
        "removed from room",
    );
    let muted = api
        .client(
            &ann,
            "POST",
            &format!("/client/live/room/{live_id}/mute"),
            Some(&json!({"user_id": "vic", "duration_s": 60})),
        )
        .ok("the anchor mutes vic");
    assert_eq!(muted["muted"], true);

    // A ban ends the anchor's live room and refuses create, start and publish until lifted.
    api.register("bea");
    let bea = api.token("bea");
    let on_air = text(&live_room(&api, &bea, "on air"), "live_id");
    let waiting = api.create_room("bea", "later");
    let waiting_id = text(&waiting, "live_id");
    let push_url = text(&waiting, "push_url");
    let ban = api
        .server(
            "POST",
            "/server/anchor/bea/ban",
            Some(&json!({"reason": "spam", "until": 0})),
        )
        .ok("ban bea");
    assert_eq!(ban["stopped_rooms"], json!([on_air]), "{ban}");
    let stopped = room_state(&api, &on_air);
    assert_eq!(
        (text(&stopped, "stop_reason"), text(&stopped, "stop_note")),
        ("banned".to_owned(), "spam".to_owned())
    );
    api.client(
        &bea,
        "POST",
        "/client/live/room/instance",
        Some(&json!({"title": "x"})),
    )
    .expect_error("a banned anchor creating", 403, 604, "banned");
    api.server(
        "POST",
        "/server/live",
        Some(&json!({"anchor_id": "bea", "title": "x"})),
    )
    .expect_error("creating for a banned anchor", 403, 604, "spam");
    api.client(
        &bea,
        "PUT",
        &format!("/client/live/room/{waiting_id}"),
        None,
    )
    .expect_error("a banned anchor starting", 403, 604, "banned");
    assert!(
        refused(&cluster, "banned-publish", &push_url),
        "a banned anchor's publish was accepted\n{}",
        logs(&[&cluster.cloud.proc])
    );
    assert_eq!(room_state(&api, &waiting_id)["status"], "created");
    let read = api
        .server("GET", "/server/anchor/bea/ban", None)
        .ok("read the ban");
    assert_eq!(text(&read, "reason"), "spam");

    let admin = api
        .server("GET", "/server/auth/admin/token?user_id=ops", None)
        .ok("admin token");
    let admin = text(&admin, "access_token");
    api.client(&admin, "DELETE", "/admin/anchor/bea/ban", None)
        .ok("an admin lifts the ban");
    api.server("GET", "/server/anchor/bea/ban", None)
        .expect_error("a lifted ban", 404, 404, "not banned");
    let mut publisher = Publisher::start(&cluster.dir, "unbanned", Media::standard(), &push_url);
    let live = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
        (room_state(&api, &waiting_id)["status"] == "live").then_some(())
    });
    publisher.proc.kill();
    assert!(
        live.is_some(),
        "the publish after the ban was lifted did not start the room\n{}",
        logs(&[&cluster.cloud.proc])
    );

    // An operator's stop keeps its note; the reason stays admin.
    let stopped = api
        .client(
            &admin,
            "POST",
            &format!("/admin/live/{waiting_id}/stop"),
            Some(&json!({"reason": "terms of service"})),
        )
        .ok("admin stop with a reason");
    assert_eq!(
        (text(&stopped, "stop_reason"), text(&stopped, "stop_note")),
        ("admin".to_owned(), "terms of service".to_owned())
    );
}
