use crate::support::{TestDb, T0};
use relay_control::PageQuery;
use relay_rooms::{Backoff, Event, NewEvent, Store};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

on_both_databases!(
    a_lease_goes_to_one_taker,
    failed_deliveries_back_off,
    delivered_events_are_not_taken_again,
    events_keep_their_room_in_a_column,
    stale_events_become_dead_letters_until_retried,
);

/// Two nodes taking at once; returns what each got.
async fn take_on_both(a: &Store, b: &Store, limit: usize) -> (Vec<Event>, Vec<Event>) {
    let [first, second] = [a.clone(), b.clone()]
        .map(|store| tokio::spawn(async move { store.take_due_events(limit, LEASE).await }));
    (
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    )
}

async fn a_lease_goes_to_one_taker(db: TestDb) {
    let node_a = db.open().await;
    let node_b = db.open().await;
    let event = NewEvent::new("live_started", json!({"live_id": "abc"}));
    node_a.enqueue_event(&event).await.unwrap();

    let (got_a, got_b) = take_on_both(&node_a, &node_b, 10).await;
    assert_eq!(got_a.len() + got_b.len(), 1, "a: {got_a:?} b: {got_b:?}");
    let taken = got_a.into_iter().chain(got_b).next().unwrap();
    assert_eq!(taken.id, event.id);
    assert_eq!(taken.attempts, 1);
    assert_eq!(taken.next_attempt_at, T0 + 30_000, "leased until");
    assert_eq!(taken.body, json!({"live_id": "abc"}));

    // Leased: nobody gets it until the lease runs out (the taker may have died).
    assert!(node_a.take_due_events(10, LEASE).await.unwrap().is_empty());
    db.clock.advance(29_999);
    assert!(node_b.take_due_events(10, LEASE).await.unwrap().is_empty());
    db.clock.advance(1);
    let again = node_b.take_due_events(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].attempts, again[0].next_attempt_at),
        (2, T0 + 60_000)
    );

    // Many events, two takers at once: each event to exactly one of them.
    let mut ids = HashSet::new();
    for n in 0..20 {
        let event = NewEvent::new("live_created", json!({"n": n}));
        node_a.enqueue_event(&event).await.unwrap();
        ids.insert(event.id);
    }
    let (got_a, got_b) = take_on_both(&node_a, &node_b, 100).await;
    let mut taken = HashSet::new();
    for event in got_a.iter().chain(&got_b) {
        assert!(taken.insert(event.id.clone()), "{} taken twice", event.id);
        assert_eq!(event.attempts, 1);
    }
    assert_eq!(taken, ids);
    // The limit is kept; among events due at the same time the oldest goes first.
    db.clock.advance(30_000);
    let three = node_a.take_due_events(3, LEASE).await.unwrap();
    assert_eq!(three.len(), 3);
    assert_eq!(three[0].id, event.id, "created first");
}

async fn failed_deliveries_back_off(db: TestDb) {
    let store = db.open().await.with_backoff(Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(4),
    });
    let event = NewEvent::new("live_stopped", json!({"live_id": "x", "reason": "anchor"}));
    store.enqueue_event(&event).await.unwrap();

    let mut expected_waits = vec![1000, 2000, 4000, 4000].into_iter();
    let mut previous: Option<Event> = None;
    for attempt in 1..=4 {
        let taken = store.take_due_events(10, LEASE).await.unwrap();
        assert_eq!(taken.len(), 1, "attempt {attempt}");
        let taken = taken.into_iter().next().unwrap();
        assert_eq!(taken.attempts, attempt);
        let now = db.clock.now();
        let wait = expected_waits.next().unwrap();
        let error = format!("HTTP 503 on attempt {attempt}");
        let next = store.reschedule_event(&taken, &error).await.unwrap();
        assert_eq!(next, Some(now + wait), "attempt {attempt}");
        let stored = store.get_event(&event.id).await.unwrap().unwrap();
        assert_eq!(stored.last_error.as_deref(), Some(error.as_str()));
        assert_eq!(
            (stored.next_attempt_at, stored.delivered_at),
            (now + wait, None)
        );

        db.clock.advance(wait - 1);
        assert!(store.take_due_events(10, LEASE).await.unwrap().is_empty());
        db.clock.advance(1);
        previous = Some(taken);
    }
    // A node whose lease was taken over cannot reschedule what the new holder has.
    let current = store.take_due_events(10, LEASE).await.unwrap();
    assert_eq!(current[0].attempts, 5);
    let stale = previous.unwrap();
    assert_eq!(store.reschedule_event(&stale, "late").await.unwrap(), None);
    let stored = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!(stored.next_attempt_at, db.clock.now() + 30_000);

    // Long errors are cut, not refused.
    let long = "e".repeat(5000);
    store
        .reschedule_event(&current[0], &long)
        .await
        .unwrap()
        .unwrap();
    let stored = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!(stored.last_error.map(|e| e.len()), Some(1000));
}

async fn delivered_events_are_not_taken_again(db: TestDb) {
    let store = db.open().await;
    let body = json!({"live_id": "r1", "nested": {"list": [1, 2.5, null, "ü"], "ok": true}});
    let event = NewEvent::new("live_created", body.clone());
    store.enqueue_event(&event).await.unwrap();
    let stored = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        Event {
            id: event.id.clone(),
            event_type: "live_created".to_owned(),
            body,
            created_at: T0,
            attempts: 0,
            next_attempt_at: T0,
            delivered_at: None,
            last_error: None,
            live_id: Some("r1".to_owned()),
            dead_at: None,
        }
    );
    let duplicate = store.enqueue_event(&event).await.unwrap_err();
    assert_eq!(duplicate.code(), "exists", "{duplicate}");

    let taken = store.take_due_events(10, LEASE).await.unwrap();
    assert_eq!(taken.len(), 1);
    db.clock.advance(200);
    assert!(store.mark_delivered(&event.id).await.unwrap());
    assert!(
        !store.mark_delivered(&event.id).await.unwrap(),
        "already recorded"
    );
    assert!(!store.mark_delivered("no-such-event").await.unwrap());
    // Even a late failure report from the taker does not bring it back.
    assert_eq!(
        store.reschedule_event(&taken[0], "timeout").await.unwrap(),
        None
    );

    db.clock.advance(86_400_000);
    assert!(store.take_due_events(10, LEASE).await.unwrap().is_empty());
    let delivered = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!(delivered.delivered_at, Some(T0 + 200));

    let pending = NewEvent::new("live_started", json!({}));
    store.enqueue_event(&pending).await.unwrap();
    assert_eq!(
        store.purge_delivered(T0 + 200).await.unwrap(),
        0,
        "strictly older"
    );
    assert_eq!(store.purge_delivered(T0 + 201).await.unwrap(), 1);
    assert_eq!(store.get_event(&event.id).await.unwrap(), None);
    assert!(
        store.get_event(&pending.id).await.unwrap().is_some(),
        "undelivered kept"
    );
}

/// The room is the body's `live_id` when that is a string, none otherwise; the column is
/// indexed (the order check reads it instead of matching bodies).
async fn events_keep_their_room_in_a_column(db: TestDb) {
    let store = db.open().await;
    for (body, room) in [
        (json!({"live_id": "r_%1"}), Some("r_%1")),
        (json!({"live_id": 7}), None),
        (json!({"other": "r1"}), None),
        (json!({"nested": {"live_id": "r1"}}), None),
    ] {
        let event = NewEvent::new("live_created", body.clone());
        store.enqueue_event(&event).await.unwrap();
        let stored = store.get_event(&event.id).await.unwrap().unwrap();
        assert_eq!(stored.live_id.as_deref(), room, "{body}");
    }
    let mut conn = db.raw().await;
    let indexed: i64 = sqlx::query_scalar(match db.kind {
        crate::support::Kind::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' \
             AND name = 'webhook_outbox_room'"
        }
        crate::support::Kind::Postgres => {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'webhook_outbox_room' \
             AND schemaname = current_schema()"
        }
    })
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(indexed, 1, "the room index");
}

fn first_page(size: usize) -> PageQuery {
    PageQuery {
        page_num: Some(1),
        page_size: Some(size),
    }
}

/// An event undelivered past the cut-off is buried once due (never while leased), no longer
/// taken nor counted as pending; a retry brings it back with its attempts from 0 and its age
/// from then; a living or unknown event cannot be retried.
async fn stale_events_become_dead_letters_until_retried(db: TestDb) {
    let store = db.open().await;
    let old = NewEvent::new("live_started", json!({"live_id": "r1"}));
    store.enqueue_event(&old).await.unwrap();
    db.clock.advance(1);
    let untried = NewEvent::new("live_stopped", json!({"live_id": "r1"}));
    store.enqueue_event(&untried).await.unwrap();
    db.clock.advance(999);
    let young = NewEvent::new("live_deleted", json!({"live_id": "r1"}));
    store.enqueue_event(&young).await.unwrap();

    // Leased: not buried even past the cut-off.
    let taken = store.take_due_events(1, LEASE).await.unwrap();
    assert_eq!(taken[0].id, old.id);
    assert_eq!(store.bury_stale_events(T0 + 1).await.unwrap(), 0, "leased");
    store
        .reschedule_event(&taken[0], "HTTP 500: down")
        .await
        .unwrap();
    db.clock.advance(60_000);
    // Due again and written at or before the cut-off: buried. Not the younger one, nor one as
    // old that was never tried (held behind the old one, it gets its chance once that is dead).
    assert_eq!(store.bury_stale_events(T0 + 1).await.unwrap(), 1);
    assert_eq!(store.bury_stale_events(T0 + 1).await.unwrap(), 0, "once");
    let dead = store.get_event(&old.id).await.unwrap().unwrap();
    assert_eq!(dead.dead_at, Some(T0 + 61_000));
    assert_eq!(dead.last_error.as_deref(), Some("HTTP 500: down"));
    let mut due: Vec<String> = store
        .take_due_events(10, LEASE)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    due.sort();
    let mut expected = vec![untried.id.clone(), young.id.clone()];
    expected.sort();
    assert_eq!(due, expected, "the dead one is not taken");
    assert!(store.mark_delivered(&young.id).await.unwrap());
    assert!(store.mark_delivered(&untried.id).await.unwrap());

    let page = store.dead_events(first_page(10)).await.unwrap();
    assert_eq!((page.total_count, page.list.len()), (1, 1));
    assert_eq!(page.list[0].id, old.id);
    assert_eq!(page.list[0].attempts, 1);
    assert_eq!(page.list[0].live_id.as_deref(), Some("r1"));
    let bad_page = store
        .dead_events(PageQuery {
            page_num: Some(0),
            page_size: Some(10),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_page.code(), "invalid", "{bad_page}");

    // Retried: pending again at once, attempts from 0, and young for dead_after.
    let not_dead = store.retry_dead_event(&young.id).await.unwrap_err();
    assert_eq!(not_dead.code(), "state", "{not_dead}");
    assert!(not_dead.to_string().contains("delivered"), "{not_dead}");
    let unknown = store.retry_dead_event("no-such-event").await.unwrap_err();
    assert_eq!(unknown.code(), "not_found", "{unknown}");
    let retried = store.retry_dead_event(&old.id).await.unwrap();
    assert_eq!(
        (retried.dead_at, retried.attempts, retried.next_attempt_at),
        (None, 0, T0 + 61_000)
    );
    let again = store.retry_dead_event(&old.id).await.unwrap_err();
    assert_eq!(again.code(), "state");
    assert!(again.to_string().contains("pending"), "{again}");
    assert_eq!(
        store.dead_events(first_page(10)).await.unwrap().total_count,
        0
    );
    let taken = store.take_due_events(10, LEASE).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        (taken[0].id.as_str(), taken[0].attempts),
        (old.id.as_str(), 1)
    );
    store.reschedule_event(&taken[0], "again").await.unwrap();
    db.clock.advance(3_600_000);
    assert_eq!(
        store.bury_stale_events(T0 + 60_000).await.unwrap(),
        0,
        "its age counts from the retry"
    );
    assert_eq!(store.bury_stale_events(T0 + 61_000).await.unwrap(), 1);
}
