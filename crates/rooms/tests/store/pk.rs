use crate::rooms::{anchor, create, due_events, start};
use crate::support::{TestDb, T0};
use relay_rooms::{NewEvent, PkSession, PkStatus, StopReason, Store, PK_ROOM_ENDED, PK_STOPPED};
use serde_json::json;

/// Answer time given to invitations in these tests.
const ANSWER_MS: i64 = 10_000;

fn pk_event(kind: &'static str) -> impl Fn(&PkSession) -> NewEvent + Send + Sync + Clone {
    move |pk: &PkSession| {
        NewEvent::new(
            kind,
            json!({"live_id": pk.init_room_id, "pk_id": pk.pk_id, "status": pk.status}),
        )
    }
}

/// Anchors `a`, `b`, `c`, each with a live room; the rooms' ids in that order.
async fn three_live_rooms(store: &Store) -> [String; 3] {
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        anchor(store, name, name).await;
        let room = create(store, name, name).await;
        start(store, &room.live_id).await;
        ids.push(room.live_id);
    }
    [ids[0].clone(), ids[1].clone(), ids[2].clone()]
}

on_both_databases!(
    invite_answer_and_stop,
    answers_and_stops_apply_once_across_nodes,
    invitations_time_out,
    a_room_that_ends_ends_its_pk,
);

async fn invite_answer_and_stop(db: TestDb) {
    let store = db.open().await;
    let [a, b, c] = three_live_rooms(&store).await;
    let started = pk_event("pk_started");
    let stopped = pk_event("pk_stopped");

    let pk = store.invite_pk(&a, &b, ANSWER_MS).await.unwrap();
    assert_eq!(pk.status, PkStatus::Invited);
    assert_eq!(
        (pk.init_anchor_id.as_str(), pk.recv_anchor_id.as_str()),
        ("a", "b")
    );
    assert_eq!((pk.created_at, pk.answer_by), (T0, T0 + ANSWER_MS));
    assert_eq!(pk.peer_of(&a).map(|(id, _)| id), Some(b.as_str()));
    assert_eq!(pk.peer_of(&b).map(|(id, _)| id), Some(a.as_str()));
    assert_eq!(pk.peer_of(&c), None);
    let room_b = store.get_room(&b).await.unwrap().unwrap();
    assert_eq!(
        pk.peer_of(&a).map(|(_, s)| s),
        Some(room_b.stream_name.as_str())
    );

    // A room with a pending invitation, on either side, cannot take another.
    for (init, recv) in [(&a, &b), (&b, &a), (&c, &a), (&b, &c)] {
        let error = store.invite_pk(init, recv, ANSWER_MS).await.unwrap_err();
        assert_eq!(error.code(), "busy", "{error}");
    }
    assert_eq!(
        store.invite_pk(&a, &a, ANSWER_MS).await.unwrap_err().code(),
        "invalid"
    );
    assert_eq!(
        store
            .invite_pk(&c, "no-such-room", ANSWER_MS)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(store.open_pk_of(&a).await.unwrap(), Some(pk.clone()));
    assert_eq!(store.open_pk_of(&c).await.unwrap(), None);

    db.clock.advance(1000);
    let active = store
        .answer_pk(&pk.pk_id, true, Some(&started))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (active.status, active.started_at),
        (PkStatus::Active, Some(T0 + 1000))
    );
    assert_eq!(
        store.answer_pk(&pk.pk_id, false, None).await.unwrap(),
        None,
        "answered already"
    );
    let error = store.invite_pk(&c, &b, ANSWER_MS).await.unwrap_err();
    assert!(error.to_string().contains(&pk.pk_id), "{error}");
    assert_eq!(
        store.open_pk_sessions().await.unwrap(),
        std::slice::from_ref(&active)
    );

    db.clock.advance(1000);
    let (was, ended) = store
        .stop_pk(&pk.pk_id, PK_STOPPED, Some("b"), Some(&stopped))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((was, ended.status), (PkStatus::Active, PkStatus::Ended));
    assert_eq!(ended.ended_at, Some(T0 + 2000));
    assert_eq!(
        (ended.end_reason.as_deref(), ended.stopped_by.as_deref()),
        (Some(PK_STOPPED), Some("b"))
    );
    assert_eq!(
        store
            .stop_pk(&pk.pk_id, PK_STOPPED, Some("a"), Some(&stopped))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_pk(&pk.pk_id).await.unwrap(), Some(ended));
    assert!(store.open_pk_sessions().await.unwrap().is_empty());

    // The rooms are free again; a rejected invitation frees them too, and writes no event.
    let second = store.invite_pk(&b, &a, ANSWER_MS).await.unwrap();
    let rejected = store
        .answer_pk(&second.pk_id, false, Some(&started))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rejected.status, PkStatus::Rejected);
    // Stopping an invitation ends it without a pk_stopped: no pk_started went out.
    let third = store.invite_pk(&a, &c, ANSWER_MS).await.unwrap();
    let (was, _) = store
        .stop_pk(&third.pk_id, PK_STOPPED, Some("a"), Some(&stopped))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(was, PkStatus::Invited);
    let events: Vec<String> = due_events(&store).await.into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["pk_started", "pk_stopped"]);

    // Only live rooms: a stopped room cannot be invited.
    store.stop_room(&c, StopReason::Anchor, None).await.unwrap();
    let error = store.invite_pk(&a, &c, ANSWER_MS).await.unwrap_err();
    assert_eq!(error.code(), "state", "{error}");
    assert!(error.to_string().contains("not live"), "{error}");
}

async fn answers_and_stops_apply_once_across_nodes(db: TestDb) {
    // Two stores on one database: two cloud nodes.
    let node_a = db.open().await;
    let node_b = db.open().await;
    let [a, b, c] = three_live_rooms(&node_a).await;
    let started = pk_event("pk_started");
    let stopped = pk_event("pk_stopped");
    for round in 0..4 {
        // Two invitations racing for room b: exactly one is made.
        let invites = [(node_a.clone(), &a), (node_b.clone(), &c)].map(|(store, init)| {
            let (init, recv) = (init.clone(), b.clone());
            tokio::spawn(async move { store.invite_pk(&init, &recv, ANSWER_MS).await })
        });
        let mut made = Vec::new();
        for invite in invites {
            match invite.await.unwrap() {
                Ok(pk) => made.push(pk),
                Err(error) => assert_eq!(error.code(), "busy", "round {round}: {error}"),
            }
        }
        assert_eq!(made.len(), 1, "round {round}: invitations made");
        let pk_id = made[0].pk_id.clone();

        let answers = [node_a.clone(), node_b.clone()].map(|store| {
            let (pk_id, started) = (pk_id.clone(), started.clone());
            tokio::spawn(async move { store.answer_pk(&pk_id, true, Some(&started)).await })
        });
        let mut accepted = 0;
        for answer in answers {
            accepted += usize::from(answer.await.unwrap().unwrap().is_some());
        }
        assert_eq!(accepted, 1, "round {round}: accepts that applied");

        let stops = [(node_a.clone(), "a"), (node_b.clone(), "b")].map(|(store, by)| {
            let (pk_id, stopped) = (pk_id.clone(), stopped.clone());
            tokio::spawn(async move {
                store
                    .stop_pk(&pk_id, PK_STOPPED, Some(by), Some(&stopped))
                    .await
            })
        });
        let mut winners = Vec::new();
        for stop in stops {
            winners.extend(stop.await.unwrap().unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: stops that applied");
        let stored = node_b.get_pk(&pk_id).await.unwrap().unwrap();
        assert_eq!(stored.stopped_by, winners[0].1.stopped_by);
    }
    // One pk_started and one pk_stopped per round: the losers wrote none.
    let events = due_events(&node_a).await;
    let count = |kind: &str| events.iter().filter(|(k, _)| k == kind).count();
    assert_eq!(
        (count("pk_started"), count("pk_stopped")),
        (4, 4),
        "{events:?}"
    );
}

async fn invitations_time_out(db: TestDb) {
    let store = db.open().await;
    let [a, b, c] = three_live_rooms(&store).await;
    let pk = store.invite_pk(&a, &b, 2000).await.unwrap();
    let other = store.invite_pk(&c, &a, 2000).await.unwrap_err();
    assert_eq!(other.code(), "busy");
    db.clock.advance(1999);
    assert!(store.timeout_pk_invites().await.unwrap().is_empty());
    db.clock.advance(1);
    // Past its time an invitation cannot be accepted, even before the sweep has run.
    assert_eq!(store.answer_pk(&pk.pk_id, true, None).await.unwrap(), None);
    let timed_out = store.timeout_pk_invites().await.unwrap();
    assert_eq!(timed_out.len(), 1);
    assert_eq!(
        (timed_out[0].status, timed_out[0].ended_at),
        (PkStatus::Timeout, Some(T0 + 2000))
    );
    assert!(store.timeout_pk_invites().await.unwrap().is_empty());
    assert_eq!(
        store
            .stop_pk(&pk.pk_id, PK_STOPPED, Some("a"), None)
            .await
            .unwrap(),
        None,
        "a timed-out invitation is not open"
    );
    store.invite_pk(&c, &a, 2000).await.unwrap();
    assert!(due_events(&store).await.is_empty());
}

async fn a_room_that_ends_ends_its_pk(db: TestDb) {
    let store = db.open().await;
    let [a, b, c] = three_live_rooms(&store).await;
    let started = pk_event("pk_started");
    let stopped = pk_event("pk_stopped");
    let pk = store.invite_pk(&a, &b, ANSWER_MS).await.unwrap();
    store
        .answer_pk(&pk.pk_id, true, Some(&started))
        .await
        .unwrap()
        .unwrap();

    db.clock.advance(500);
    store.stop_room(&b, StopReason::Anchor, None).await.unwrap();
    let ended = store.end_room_pks(&b, Some(&stopped)).await.unwrap();
    assert_eq!(ended.len(), 1);
    let (was, session) = &ended[0];
    assert_eq!((*was, session.status), (PkStatus::Active, PkStatus::Ended));
    assert_eq!(
        (session.end_reason.as_deref(), session.stopped_by.as_deref()),
        (Some(PK_ROOM_ENDED), None)
    );
    assert_eq!(session.ended_at, Some(T0 + 500));
    assert!(store
        .end_room_pks(&b, Some(&stopped))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.open_pk_of(&a).await.unwrap(), None);

    // A room that ended without its PK being ended (its node went down in between): the sweep
    // ends the session.
    let orphan = store.invite_pk(&a, &c, ANSWER_MS).await.unwrap();
    store.stop_room(&c, StopReason::Admin, None).await.unwrap();
    let swept = store.end_orphan_pks(Some(&stopped)).await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].1.pk_id, orphan.pk_id);
    assert_eq!(swept[0].0, PkStatus::Invited);
    assert!(store
        .end_orphan_pks(Some(&stopped))
        .await
        .unwrap()
        .is_empty());
    // Deleting a room counts as its end too.
    let d = create(&store, "c", "d").await.live_id;
    start(&store, &d).await;
    store.invite_pk(&d, &a, ANSWER_MS).await.unwrap();
    store.delete_room(&d, None, None).await.unwrap().unwrap();
    assert_eq!(store.end_orphan_pks(None).await.unwrap().len(), 1);

    // pk_started, then one pk_stopped for the active session; none for the invitations.
    let events: Vec<String> = due_events(&store).await.into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["pk_started", "pk_stopped"]);
}
