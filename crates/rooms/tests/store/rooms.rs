use crate::support::{TestDb, T0};
use relay_control::PageQuery;
use relay_rooms::{
    Event, NewEvent, NewRoom, NewUser, Room, RoomStatus, RoomUpdate, StopReason, Store,
    DEFAULT_ROOM_TTL_MS,
};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

pub(crate) async fn anchor(store: &Store, id: &str, nick: &str) {
    store
        .register_user(&NewUser {
            user_id: id.to_owned(),
            nick: nick.to_owned(),
            ..NewUser::default()
        })
        .await
        .unwrap();
}

fn room_of(anchor_id: &str, title: &str) -> NewRoom {
    NewRoom {
        anchor_id: anchor_id.to_owned(),
        title: title.to_owned(),
        ..NewRoom::default()
    }
}

pub(crate) async fn create(store: &Store, anchor_id: &str, title: &str) -> Room {
    store
        .create_room(&room_of(anchor_id, title), None)
        .await
        .unwrap()
}

/// Starts a room that must start.
pub(crate) async fn start(store: &Store, live_id: &str) -> Room {
    store.start_room(live_id, None).await.unwrap().unwrap()
}

fn page(num: usize, size: usize) -> PageQuery {
    PageQuery {
        page_num: Some(num),
        page_size: Some(size),
    }
}

pub(crate) fn announce(
    kind: &'static str,
) -> impl Fn(&Room) -> NewEvent + Send + Sync + Clone + 'static {
    move |room: &Room| {
        NewEvent::new(
            kind,
            json!({"live_id": room.live_id, "status": room.status, "reason": room.stop_reason}),
        )
    }
}

/// Every event due now, as (type, live_id), leasing them away.
pub(crate) async fn due_events(store: &Store) -> Vec<(String, String)> {
    let taken: Vec<Event> = store
        .take_due_events(1000, Duration::from_secs(3600))
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = taken
        .into_iter()
        .map(|e| {
            (
                e.event_type,
                e.body["live_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

fn ids(rooms: &[Room]) -> Vec<&str> {
    rooms.iter().map(|r| r.live_id.as_str()).collect()
}

on_both_databases!(
    create_and_read,
    start_and_stop_apply_once,
    concurrent_transitions_apply_exactly_once,
    lists_page_with_totals,
    search_takes_wildcards_literally,
    soft_delete_hides_the_room,
    rooms_never_started_expire,
    updates_and_peak_viewers,
);

async fn create_and_read(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let created = announce("live_created");
    let new = NewRoom {
        anchor_id: "ann".to_owned(),
        title: "Hello".to_owned(),
        notice: "Tonight".to_owned(),
        cover_url: "https://img.example/c.jpg".to_owned(),
        extends: json!({"topic": "music"}).as_object().cloned().unwrap(),
        start_at: Some(T0 + 60_000),
        end_at: None,
        expire_at: None,
    };
    let room = store.create_room(&new, Some(&created)).await.unwrap();
    assert_eq!(room.status, RoomStatus::Created);
    assert_eq!((room.created_at, room.updated_at), (T0, T0));
    assert_eq!(room.expire_at, T0 + DEFAULT_ROOM_TTL_MS);
    assert_eq!((room.start_at, room.end_at), (Some(T0 + 60_000), None));
    assert_eq!(
        (room.started_at, room.stopped_at, room.stop_reason),
        (None, None, None)
    );
    assert_eq!((room.peak_viewers, room.deleted_at), (0, None));
    assert_eq!((room.live_id.len(), room.stream_name.len()), (22, 24));
    assert!(!room.stream_name.contains(&room.live_id) && !room.live_id.contains(&room.stream_name));
    assert_eq!(room.extends["topic"], json!("music"));
    assert_eq!(
        (room.title.as_str(), room.notice.as_str()),
        ("Hello", "Tonight")
    );

    assert_eq!(
        store.get_room(&room.live_id).await.unwrap(),
        Some(room.clone())
    );
    assert_eq!(
        store.room_by_stream_name(&room.stream_name).await.unwrap(),
        Some(room.clone())
    );
    assert_eq!(store.get_room("no-such-room").await.unwrap(), None);
    assert_eq!(
        store.room_by_stream_name(&room.live_id).await.unwrap(),
        None
    );

    let other = create(&store, "ann", "Second").await;
    assert_ne!(other.live_id, room.live_id);
    assert_ne!(other.stream_name, room.stream_name);
    // The event went in with the room, carrying the id the store made.
    assert_eq!(
        due_events(&store).await,
        [("live_created".to_owned(), room.live_id.clone())]
    );

    let ghost = store
        .create_room(&room_of("ghost", "nobody's"), Some(&created))
        .await
        .unwrap_err();
    assert_eq!(ghost.code(), "not_found", "{ghost}");
    assert!(ghost.to_string().contains("ghost"), "{ghost}");
    assert_eq!(
        store
            .list_rooms(&[], page(1, 20))
            .await
            .unwrap()
            .total_count,
        2
    );
    assert!(
        due_events(&store).await.is_empty(),
        "no event for a room not made"
    );

    // expire_at: the one given, else end_at, else a day after creation; never in the past.
    let cases = [
        (Some(T0 + 7_200_000), None, Some(T0 + 7_200_000)),
        (Some(T0 + 7_200_000), Some(T0 + 600_000), Some(T0 + 600_000)),
        (None, Some(T0), None),
        (Some(T0 - 1), None, None),
    ];
    for (end_at, expire_at, expected) in cases {
        let new = NewRoom {
            end_at,
            expire_at,
            ..room_of("ann", "timed")
        };
        let made = store.create_room(&new, None).await;
        match expected {
            Some(at) => assert_eq!(made.unwrap().expire_at, at),
            None => assert_eq!(made.unwrap_err().code(), "invalid"),
        }
    }
}

async fn start_and_stop_apply_once(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let room = create(&store, "ann", "Show").await;
    let id = room.live_id.as_str();
    let started = announce("live_started");
    let stopped = announce("live_stopped");

    assert_eq!(
        store
            .stop_room(id, StopReason::Anchor, Some(&stopped))
            .await
            .unwrap(),
        None
    );
    db.clock.advance(1000);
    let live = store.start_room(id, Some(&started)).await.unwrap().unwrap();
    assert_eq!(live.status, RoomStatus::Live);
    assert_eq!(
        (live.started_at, live.updated_at),
        (Some(T0 + 1000), T0 + 1000)
    );
    assert_eq!(store.start_room(id, Some(&started)).await.unwrap(), None);
    assert_eq!(
        store.get_room(id).await.unwrap().unwrap().status,
        RoomStatus::Live
    );

    db.clock.advance(5000);
    let ended = store
        .stop_room(id, StopReason::HeartbeatTimeout, Some(&stopped))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, RoomStatus::Ended);
    assert_eq!(ended.stop_reason, Some(StopReason::HeartbeatTimeout));
    assert_eq!(ended.stopped_at, Some(T0 + 6000));
    assert_eq!(
        store
            .stop_room(id, StopReason::Admin, Some(&stopped))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.start_room(id, Some(&started)).await.unwrap(), None);
    let stored = store.get_room(id).await.unwrap().unwrap();
    assert_eq!(stored, ended);
    assert_eq!(store.start_room("no-such-room", None).await.unwrap(), None);

    // One event per change that applied; the refused ones wrote none.
    assert_eq!(
        due_events(&store).await,
        [
            ("live_started".to_owned(), id.to_owned()),
            ("live_stopped".to_owned(), id.to_owned()),
        ]
    );
}

async fn concurrent_transitions_apply_exactly_once(db: TestDb) {
    // Two stores on one database: two cloud nodes.
    let node_a = db.open().await;
    let node_b = db.open().await;
    anchor(&node_a, "ann", "Ann").await;
    let stopped = announce("live_stopped");
    for round in 0..5 {
        let id = create(&node_a, "ann", &format!("race {round}"))
            .await
            .live_id;

        let starts = [node_a.clone(), node_b.clone()].map(|store| {
            let id = id.clone();
            tokio::spawn(async move { store.start_room(&id, None).await })
        });
        let mut applied = 0;
        for start in starts {
            applied += usize::from(start.await.unwrap().unwrap().is_some());
        }
        assert_eq!(applied, 1, "round {round}: starts that applied");

        let stops = [
            (node_a.clone(), StopReason::Anchor),
            (node_b.clone(), StopReason::Server),
        ]
        .map(|(store, reason)| {
            let id = id.clone();
            let stopped = stopped.clone();
            tokio::spawn(async move { store.stop_room(&id, reason, Some(&stopped)).await })
        });
        let mut winners = Vec::new();
        for stop in stops {
            winners.extend(stop.await.unwrap().unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: stops that applied");
        let stored = node_b.get_room(&id).await.unwrap().unwrap();
        assert_eq!(stored.status, RoomStatus::Ended);
        assert_eq!(stored.stop_reason, winners[0].stop_reason);
    }
    // Exactly one live_stopped per room: the losers wrote no event.
    let events = due_events(&node_a).await;
    assert_eq!(events.len(), 5, "{events:?}");
    let rooms: HashSet<&String> = events.iter().map(|(_, id)| id).collect();
    assert_eq!(rooms.len(), 5);
}

async fn lists_page_with_totals(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    anchor(&store, "bob", "Bob").await;
    let mut rooms = Vec::new();
    for n in 0..5 {
        rooms.push(create(&store, "ann", &format!("r{n}")).await.live_id);
        db.clock.advance(1000);
    }
    let bobs = create(&store, "bob", "bob's").await.live_id;
    for live in [1, 3, 4] {
        start(&store, &rooms[live]).await;
    }
    store
        .stop_room(&rooms[4], StopReason::Anchor, None)
        .await
        .unwrap()
        .unwrap();
    let r = |n: usize| rooms[n].as_str();

    let upcoming = [RoomStatus::Live, RoomStatus::Created];
    let first = store.list_rooms(&upcoming, page(1, 2)).await.unwrap();
    assert_eq!(
        (first.total_count, first.page_total, first.end_page),
        (5, 3, false)
    );
    assert_eq!(ids(&first.list), [r(3), r(1)], "live first, newest first");
    let second = store.list_rooms(&upcoming, page(2, 2)).await.unwrap();
    assert_eq!(ids(&second.list), [bobs.as_str(), r(2)]);
    let third = store.list_rooms(&upcoming, page(3, 2)).await.unwrap();
    assert_eq!((ids(&third.list), third.end_page), (vec![r(0)], true));
    let beyond = store.list_rooms(&upcoming, page(4, 2)).await.unwrap();
    assert_eq!(
        (beyond.list.len(), beyond.total_count, beyond.end_page),
        (0, 5, true)
    );

    let all = store.list_rooms(&[], page(1, 10)).await.unwrap();
    assert_eq!(
        (all.total_count, all.page_total, all.end_page),
        (6, 1, true)
    );
    assert_eq!(
        ids(&all.list),
        [r(3), r(1), bobs.as_str(), r(2), r(0), r(4)]
    );
    let ended = store
        .list_rooms(&[RoomStatus::Ended], page(1, 10))
        .await
        .unwrap();
    assert_eq!(ids(&ended.list), [r(4)]);
    let live = store
        .list_rooms(&[RoomStatus::Live], page(1, 10))
        .await
        .unwrap();
    assert_eq!(live.total_count, 2);

    let anns = store.list_anchor_rooms("ann", page(1, 2)).await.unwrap();
    assert_eq!((anns.total_count, anns.page_total), (5, 3));
    assert_eq!(ids(&anns.list), [r(4), r(3)], "every status, newest first");
    let nobody = store.list_anchor_rooms("nobody", page(1, 2)).await.unwrap();
    assert_eq!(
        (nobody.total_count, nobody.page_total, nobody.end_page),
        (0, 0, true)
    );

    for (num, size) in [(0, 10), (1, 0), (1, 201)] {
        let error = store.list_rooms(&[], page(num, size)).await.unwrap_err();
        assert_eq!(error.code(), "invalid", "{num}/{size}: {error}");
    }
}

async fn search_takes_wildcards_literally(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "s1", "Zed_Star").await;
    anchor(&store, "s2", "Plain").await;
    let percent = create(&store, "s2", "#100% Fun").await.live_id;
    let hundred = create(&store, "s2", "#100 percent").await.live_id;
    let underscore = create(&store, "s2", "a_b").await.live_id;
    let axb = create(&store, "s2", "axb").await.live_id;
    let news = create(&store, "s2", "ABC News").await.live_id;
    let quiet = create(&store, "s1", "Quiet").await.live_id;
    let bang = create(&store, "s2", "Hi!").await.live_id;

    // Room ids are random `[0-9a-z]` and match too (see `by_id` below), so every keyword here
    // holds a character no id has: a plain "abc" would find one room in a few hundred runs.
    let found = |keyword: &'static str| {
        let store = store.clone();
        async move {
            let page = store.search_rooms(keyword, page(1, 50)).await.unwrap();
            assert_eq!(page.total_count, page.list.len(), "{keyword}");
            let mut ids: Vec<String> = page.list.into_iter().map(|r| r.live_id).collect();
            ids.sort();
            ids
        }
    };
    let sorted = |ids: &[&String]| {
        let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(found("%").await, sorted(&[&percent]));
    assert_eq!(found("100%").await, sorted(&[&percent]));
    assert_eq!(found("#100").await, sorted(&[&percent, &hundred]));
    assert_eq!(
        found("a_b").await,
        sorted(&[&underscore]),
        "_ is not a wildcard"
    );
    // '_' is in one title and in one anchor's nick.
    assert_eq!(found("_").await, sorted(&[&underscore, &quiet]));
    assert_eq!(
        found("!").await,
        sorted(&[&bang]),
        "the escape character itself"
    );
    assert_eq!(found("abc n").await, sorted(&[&news]));
    assert_eq!(found("  C NEWS ").await, sorted(&[&news]));
    assert_eq!(
        found("zed_").await,
        sorted(&[&quiet]),
        "anchor nick, any case"
    );
    assert!(found("zz z").await.is_empty());
    let by_id = store
        .search_rooms(&axb.to_uppercase(), page(1, 50))
        .await
        .unwrap();
    assert_eq!(ids(&by_id.list), [axb.as_str()]);

    let paged = store.search_rooms("#100", page(2, 1)).await.unwrap();
    assert_eq!(
        (paged.total_count, paged.page_total, paged.end_page),
        (2, 2, true)
    );
    assert_eq!(paged.list.len(), 1);
    for bad in ["", "   ", &"x".repeat(101)] {
        assert_eq!(
            store
                .search_rooms(bad, page(1, 10))
                .await
                .unwrap_err()
                .code(),
            "invalid"
        );
    }
}

async fn soft_delete_hides_the_room(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let deleted = announce("live_deleted");
    let stopped = announce("live_stopped");
    let delete = |live_id: String| {
        let (store, deleted, stopped) = (store.clone(), deleted.clone(), stopped.clone());
        async move {
            store
                .delete_room(&live_id, Some(&deleted), Some(&stopped))
                .await
                .unwrap()
        }
    };

    let created = create(&store, "ann", "Findme created").await;
    db.clock.advance(1000);
    let gone = delete(created.live_id.clone()).await.unwrap();
    assert_eq!(gone.was, RoomStatus::Created);
    assert_eq!(gone.room.status, RoomStatus::Ended);
    assert_eq!(gone.room.stop_reason, Some(StopReason::Deleted));
    assert_eq!(
        (gone.room.deleted_at, gone.room.stopped_at),
        (Some(T0 + 1000), Some(T0 + 1000))
    );
    assert_eq!(store.get_room(&created.live_id).await.unwrap(), None);
    assert_eq!(
        store
            .room_by_stream_name(&created.stream_name)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.start_room(&created.live_id, None).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .delete_room(&created.live_id, Some(&deleted), None)
            .await
            .unwrap(),
        None
    );
    let update = store
        .update_room(&created.live_id, &RoomUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(update.code(), "not_found");

    let live = create(&store, "ann", "Findme live").await;
    start(&store, &live.live_id).await;
    let gone = delete(live.live_id.clone()).await.unwrap();
    assert_eq!(
        (gone.was, gone.room.stop_reason),
        (RoomStatus::Live, Some(StopReason::Deleted))
    );

    let ended = create(&store, "ann", "Findme ended").await;
    start(&store, &ended.live_id).await;
    store
        .stop_room(&ended.live_id, StopReason::Admin, None)
        .await
        .unwrap()
        .unwrap();
    let gone = delete(ended.live_id.clone()).await.unwrap();
    assert_eq!(gone.was, RoomStatus::Ended);
    assert_eq!(
        gone.room.stop_reason,
        Some(StopReason::Admin),
        "the real reason stays"
    );

    let kept = create(&store, "ann", "Findme kept").await;
    assert_eq!(
        store.delete_room("no-such-room", None, None).await.unwrap(),
        None
    );
    let listed = store.list_rooms(&[], page(1, 10)).await.unwrap();
    assert_eq!(
        (listed.total_count, ids(&listed.list)),
        (1, vec![kept.live_id.as_str()])
    );
    let searched = store.search_rooms("findme", page(1, 10)).await.unwrap();
    assert_eq!(ids(&searched.list), [kept.live_id.as_str()]);
    assert_eq!(
        store
            .list_anchor_rooms("ann", page(1, 10))
            .await
            .unwrap()
            .total_count,
        1
    );

    // live_deleted for all three, live_stopped only for the one that was live.
    let mut expected = vec![
        ("live_deleted".to_owned(), created.live_id.clone()),
        ("live_deleted".to_owned(), live.live_id.clone()),
        ("live_deleted".to_owned(), ended.live_id.clone()),
        ("live_stopped".to_owned(), live.live_id.clone()),
    ];
    expected.sort();
    assert_eq!(due_events(&store).await, expected);
}

async fn rooms_never_started_expire(db: TestDb) {
    let node_a = db.open().await;
    let node_b = db.open().await;
    anchor(&node_a, "ann", "Ann").await;
    let soon = |title: &str, ms: i64| NewRoom {
        expire_at: Some(T0 + ms),
        ..room_of("ann", title)
    };
    let stale = node_a
        .create_room(&soon("stale", 10_000), None)
        .await
        .unwrap();
    let started = node_a
        .create_room(&soon("started", 10_000), None)
        .await
        .unwrap();
    let fresh = create(&node_a, "ann", "fresh").await;
    start(&node_a, &started.live_id).await;
    let expired_event = announce("live_stopped");

    db.clock.advance(9_999);
    assert!(node_a
        .expire_rooms(100, Some(&expired_event))
        .await
        .unwrap()
        .is_empty());
    db.clock.advance(1);
    // Past expire_at a room cannot start, even before the sweep has ended it.
    assert_eq!(node_b.start_room(&stale.live_id, None).await.unwrap(), None);
    let expired = node_a
        .expire_rooms(100, Some(&expired_event))
        .await
        .unwrap();
    assert_eq!(ids(&expired), [stale.live_id.as_str()]);
    assert_eq!(expired[0].status, RoomStatus::Ended);
    assert_eq!(expired[0].stop_reason, Some(StopReason::Expired));
    assert_eq!(expired[0].stopped_at, Some(T0 + 10_000));
    assert!(node_a
        .expire_rooms(100, Some(&expired_event))
        .await
        .unwrap()
        .is_empty());
    let status = |id: String| {
        let store = node_b.clone();
        async move { store.get_room(&id).await.unwrap().unwrap().status }
    };
    assert_eq!(status(started.live_id.clone()).await, RoomStatus::Live);
    assert_eq!(status(fresh.live_id.clone()).await, RoomStatus::Created);
    assert_eq!(
        due_events(&node_a).await,
        [("live_stopped".to_owned(), stale.live_id.clone())]
    );

    // A batch limit, and two nodes sweeping at once: each room expired exactly once.
    for n in 0..6 {
        node_a
            .create_room(&soon(&format!("batch {n}"), 20_000), None)
            .await
            .unwrap();
    }
    db.clock.advance(10_000);
    let first = node_a.expire_rooms(2, None).await.unwrap();
    assert_eq!(first.len(), 2);
    let sweeps = [node_a.clone(), node_b.clone()].map(|store| {
        let event = expired_event.clone();
        tokio::spawn(async move { store.expire_rooms(100, Some(&event)).await })
    });
    let mut swept = Vec::new();
    for sweep in sweeps {
        swept.extend(sweep.await.unwrap().unwrap());
    }
    let distinct: HashSet<&str> = ids(&swept).into_iter().collect();
    assert_eq!((swept.len(), distinct.len()), (4, 4));
    assert_eq!(
        due_events(&node_b).await.len(),
        4,
        "one event per room expired"
    );
    assert_eq!(status(fresh.live_id).await, RoomStatus::Created);
}

async fn updates_and_peak_viewers(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let room = NewRoom {
        notice: "old notice".to_owned(),
        ..room_of("ann", "Old title")
    };
    let room = store.create_room(&room, None).await.unwrap();
    let id = room.live_id.as_str();

    db.clock.advance(2000);
    let updated = store
        .update_room(
            id,
            &RoomUpdate {
                title: Some("New title".to_owned()),
                extends: Some(json!({"pinned": 1}).as_object().cloned().unwrap()),
                ..RoomUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.title, "New title");
    assert_eq!(updated.notice, "old notice");
    assert_eq!(updated.extends["pinned"], json!(1));
    assert_eq!((updated.created_at, updated.updated_at), (T0, T0 + 2000));
    assert_eq!(store.get_room(id).await.unwrap().unwrap(), updated);
    assert_eq!(
        store
            .update_room("no-such-room", &RoomUpdate::default())
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );

    assert!(!store.record_viewers(id, 10).await.unwrap(), "not live yet");
    start(&store, id).await;
    assert!(store.record_viewers(id, 10).await.unwrap());
    assert!(!store.record_viewers(id, 5).await.unwrap());
    assert!(!store.record_viewers(id, 10).await.unwrap());
    assert!(store.record_viewers(id, 12).await.unwrap());
    assert_eq!(store.get_room(id).await.unwrap().unwrap().peak_viewers, 12);
    let ended = store
        .stop_room(id, StopReason::Anchor, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.peak_viewers, 12);
    assert!(!store.record_viewers(id, 50).await.unwrap(), "ended");
    assert_eq!(store.get_room(id).await.unwrap().unwrap().peak_viewers, 12);
}
