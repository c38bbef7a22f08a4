//! The webhook worker against a real HTTP receiver, on both databases. The store runs on the
//! real clock here (the worker sleeps in real time) with back-off in milliseconds.

use crate::receiver::{for_event, script, Received, Receiver, Reply, PATH};
use crate::support::TestDb;
use relay_control::auth::{verify_webhook, SIGNATURE_HEADER};
use relay_rooms::{
    Backoff, Event, NewEvent, Store, WebhookConfig, WebhookHandle, WebhookWorker, EVENT_HEADER,
    EVENT_ID_HEADER,
};
use serde_json::{json, Value};
use sqlx::Executor;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const SECRET: &str = "whsec-delivery-tests";
const FAST_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(20),
    max: Duration::from_millis(200),
};
/// How long a stop may take before it counts as not prompt.
const PROMPT: Duration = Duration::from_secs(1);

on_both_databases!(
    delivered_once_signed_and_marked,
    retried_with_backoff_until_the_receiver_recovers,
    what_counts_as_a_success,
    unreachable_and_slow_receivers_are_failures,
    room_order_survives_a_failure,
    a_dead_letter_releases_its_room,
    a_room_waits_for_an_event_another_node_holds,
    two_workers_never_send_one_event_at_once,
    events_written_before_a_restart_are_delivered,
    shutdown_is_prompt,
    https_with_a_private_ca,
    old_delivered_events_are_purged,
);

/// The store on the real clock, with `backoff`.
async fn open(db: &TestDb, backoff: Backoff) -> Store {
    Store::open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", db.url))
        .with_backoff(backoff)
}

/// Defaults scaled down for tests: short timeout, lease and poll.
fn config(url: &str) -> WebhookConfig {
    let mut config = WebhookConfig::parse(url, SECRET).unwrap();
    config.timeout = Duration::from_secs(1);
    config.lease = Duration::from_secs(3);
    config.poll_interval = Duration::from_millis(50);
    config
}

struct Running {
    handle: WebhookHandle,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start(store: &Store, config: WebhookConfig) -> Running {
    let worker = WebhookWorker::new(store.clone(), config).unwrap();
    let handle = worker.handle();
    let (stop, shutdown) = watch::channel(false);
    Running {
        handle,
        stop,
        task: tokio::spawn(worker.run(shutdown)),
    }
}

impl Running {
    /// Signals shutdown and waits for the worker to end; returns how long that took.
    async fn stop(self) -> Duration {
        let asked = Instant::now();
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the worker stops")
            .expect("the worker does not panic");
        asked.elapsed()
    }
}

fn event(event_type: &str, body: Value) -> NewEvent {
    NewEvent::new(event_type, body)
}

/// Writes `events` a few milliseconds apart, so their written order is their time order.
async fn enqueue_in_order(store: &Store, events: &[&NewEvent]) {
    for event in events {
        store.enqueue_event(event).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

async fn stored(store: &Store, id: &str) -> Event {
    store
        .get_event(id)
        .await
        .unwrap()
        .expect("the event is stored")
}

/// Polls `check` until it holds; fails the test after a few seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "still not {what} after 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_delivered(store: &Store, ids: &[&str]) {
    for id in ids {
        eventually(&format!("delivered: {id}"), || async {
            stored(store, id).await.delivered_at.is_some()
        })
        .await;
    }
}

/// Runs a worker with `config` until `event` (in the outbox) has failed once; returns why.
async fn first_failure(store: &Store, config: WebhookConfig, event: &NewEvent) -> String {
    let worker = start(store, config);
    worker.handle.notify();
    eventually(&format!("failed: {}", event.id), || async {
        stored(store, &event.id).await.last_error.is_some()
    })
    .await;
    worker.stop().await;
    stored(store, &event.id)
        .await
        .last_error
        .unwrap_or_default()
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn delivered_once_signed_and_marked(db: TestDb) {
    let receiver = Receiver::start(script(|_| Reply::ok())).await;
    let store = open(&db, FAST_BACKOFF).await;
    let mut slow_poll = config(&receiver.url);
    slow_poll.poll_interval = Duration::from_secs(30);
    let worker = start(&store, slow_poll);

    let created = event("live_created", json!({"live_id": "r1", "title": "Hi ü"}));
    store.enqueue_event(&created).await.unwrap();
    worker.handle.notify();
    receiver.wait_accepted(&created.id).await;
    // The worker sleeps for 30 s now: only the wake-up can bring the next event out in time.
    let started = event("live_started", json!({"live_id": "r1"}));
    store.enqueue_event(&started).await.unwrap();
    worker.handle.notify();
    receiver.wait_accepted(&started.id).await;
    wait_delivered(&store, &[&created.id, &started.id]).await;

    let got = receiver.for_event(&created.id);
    assert_eq!(got.len(), 1);
    let request = &got[0];
    assert_eq!(request.path, PATH);
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header(EVENT_HEADER), "live_created");
    assert_eq!(request.header(EVENT_ID_HEADER), created.id);
    assert!(request.header("user-agent").starts_with("liverelay/"));
    let row = stored(&store, &created.id).await;
    assert_eq!(
        request.json(),
        json!({
            "id": created.id,
            "type": "live_created",
            "time": row.created_at,
            "data": {"live_id": "r1", "title": "Hi ü"},
        })
    );
    let signature = request.header(SIGNATURE_HEADER);
    assert_eq!(
        verify_webhook(
            SECRET.as_bytes(),
            signature,
            &request.body,
            unix_seconds(),
            300
        ),
        Ok(()),
        "{signature}"
    );
    assert!(verify_webhook(b"other", signature, &request.body, unix_seconds(), 300).is_err());
    assert_eq!((row.attempts, row.last_error), (1, None));

    // Recorded as delivered: waking the worker again sends nothing.
    worker.handle.notify();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.received().len(), 2);
    let stats = worker.handle.stats();
    assert_eq!((stats.delivered, stats.failed_attempts), (2, 0));
    assert!(worker.stop().await < PROMPT);
}

async fn retried_with_backoff_until_the_receiver_recovers(db: TestDb) {
    let receiver = Receiver::start(script(|r| match r.nth {
        0 | 1 => Reply::status(500, "database is down"),
        _ => Reply::ok(),
    }))
    .await;
    let store = open(&db, FAST_BACKOFF).await;
    let worker = start(&store, config(&receiver.url));
    let stopped = event("live_stopped", json!({"live_id": "r1", "reason": "anchor"}));
    store.enqueue_event(&stopped).await.unwrap();
    worker.handle.notify();
    receiver.wait_accepted(&stopped.id).await;
    wait_delivered(&store, &[&stopped.id]).await;

    let got = receiver.for_event(&stopped.id);
    assert_eq!(got.len(), 3);
    // 20 ms after the first failure, 40 ms after the second (less a millisecond of rounding).
    assert!(got[1].at - got[0].at >= Duration::from_millis(19));
    assert!(got[2].at - got[1].at >= Duration::from_millis(39));
    assert_eq!(got[0].body, got[2].body, "the same event each time");
    let row = stored(&store, &stopped.id).await;
    assert_eq!(row.attempts, 3);
    assert_eq!(
        row.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error: database is down")
    );
    let stats = worker.handle.stats();
    assert_eq!((stats.delivered, stats.failed_attempts), (1, 2));
    eventually("counted as no longer pending", || async {
        worker.handle.stats().pending == 0
    })
    .await;
    worker.stop().await;
}

async fn what_counts_as_a_success(db: TestDb) {
    let redirected = event("live_created", json!({"live_id": "r1"}));
    let plain = event("user_kicked", json!({"user_id": "u1"}));
    let elsewhere = Arc::new(std::sync::OnceLock::<String>::new());
    let to = Arc::clone(&elsewhere);
    let redirected_id = redirected.id.clone();
    let receiver = Receiver::start(script(move |r| {
        if r.event_id != redirected_id {
            return Reply::status(200, "ok");
        }
        match r.nth {
            0 => Reply::redirect(to.get().cloned().unwrap_or_default()),
            1 => Reply::status(200, r#"{"code":1,"message":"busy"}"#),
            _ => Reply::status(204, ""),
        }
    }))
    .await;
    elsewhere
        .set(format!("{}/elsewhere", receiver.origin()))
        .unwrap();
    let store = open(&db, FAST_BACKOFF).await;
    let worker = start(&store, config(&receiver.url));
    store.enqueue_event(&redirected).await.unwrap();
    store.enqueue_event(&plain).await.unwrap();
    worker.handle.notify();
    wait_delivered(&store, &[&redirected.id, &plain.id]).await;

    // The redirect was a failure, not followed; so was code 1; the empty 204 was a success.
    let got = receiver.for_event(&redirected.id);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.path == PATH), "redirect not followed");
    let row = stored(&store, &redirected.id).await;
    assert_eq!(row.attempts, 3);
    assert_eq!(
        row.last_error.as_deref(),
        Some(r#"HTTP 200 OK with code 1: {"code":1,"message":"busy"}"#)
    );
    // A 2xx answer that is not JSON is a success.
    assert_eq!(receiver.for_event(&plain.id).len(), 1);
    assert_eq!(stored(&store, &plain.id).await.attempts, 1);
    worker.stop().await;
}

async fn unreachable_and_slow_receivers_are_failures(db: TestDb) {
    let store = open(&db, FAST_BACKOFF).await;

    // Nothing listens there: the connection error is the stored reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let lost = event("live_started", json!({"live_id": "r1"}));
    store.enqueue_event(&lost).await.unwrap();
    let error = first_failure(&store, config(&url), &lost).await;
    assert!(error.to_lowercase().contains("connect"), "{error}");

    // The first answer comes after the timeout: a failure, retried.
    let slow = event("live_stopped", json!({"live_id": "r2"}));
    let receiver = Receiver::start(for_event(&slow.id, |nth| match nth {
        0 => Reply::ok().after(Duration::from_secs(3)),
        _ => Reply::ok(),
    }))
    .await;
    let mut short = config(&receiver.url);
    short.timeout = Duration::from_millis(200);
    short.lease = Duration::from_secs(1);
    let worker = start(&store, short);
    store.enqueue_event(&slow).await.unwrap();
    worker.handle.notify();
    wait_delivered(&store, &[&slow.id]).await;
    let row = stored(&store, &slow.id).await;
    assert_eq!(row.attempts, 2);
    assert_eq!(row.last_error.as_deref(), Some("no answer within 200 ms"));
    assert_eq!(receiver.for_event(&slow.id).len(), 2);
    assert!(worker.handle.stats().failed_attempts >= 1);
    worker.stop().await;
}

/// The successful requests of `ids`' events, in the order they arrived.
fn accepted_order(received: &[Received], ids: &HashSet<&str>) -> Vec<String> {
    received
        .iter()
        .filter(|r| ids.contains(r.event_id.as_str()) && r.reply.accepts())
        .map(|r| r.event_id.clone())
        .collect()
}

/// An event the receiver refuses for longer than `dead_after` is given up on: no longer sent,
/// counted as dead, and the later events of its room, held behind it as long (but never tried
/// themselves), go out after it.
async fn a_dead_letter_releases_its_room(db: TestDb) {
    let refused = event("live_created", json!({"live_id": "r1"}));
    let next = event("live_started", json!({"live_id": "r1"}));
    let receiver = Receiver::start(for_event(&refused.id, |_| Reply::status(500, "never"))).await;
    let store = open(&db, FAST_BACKOFF).await;
    let mut config = config(&receiver.url);
    config.dead_after = Some(Duration::from_millis(400));
    let worker = start(&store, config);
    enqueue_in_order(&store, &[&refused, &next]).await;
    worker.handle.notify();
    wait_delivered(&store, &[&next.id]).await;
    let dead = stored(&store, &refused.id).await;
    assert!(
        dead.dead_at.is_some() && dead.delivered_at.is_none(),
        "{dead:?}"
    );
    assert!(dead.attempts >= 1, "{dead:?}");
    assert_eq!(
        dead.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error: never")
    );
    let sent = receiver.for_event(&refused.id).len();
    assert_eq!(usize::try_from(dead.attempts).unwrap(), sent);
    let order: Vec<String> = receiver
        .received()
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    assert_eq!(
        order.last(),
        Some(&next.id),
        "after the dead one: {order:?}"
    );
    assert_eq!(receiver.for_event(&next.id).len(), 1);
    eventually("counted dead", || async {
        let stats = worker.handle.stats();
        stats.dead == 1 && stats.pending == 0
    })
    .await;
    // Never sent again, however long the worker runs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.for_event(&refused.id).len(), sent);
    worker.stop().await;
}

async fn room_order_survives_a_failure(db: TestDb) {
    let a1 = event("live_created", json!({"live_id": "r1"}));
    let a2 = event("live_started", json!({"live_id": "r1"}));
    let a3 = event("live_stopped", json!({"live_id": "r1", "reason": "anchor"}));
    let b1 = event("live_created", json!({"live_id": "r2"}));
    let loose = event("user_kicked", json!({"user_id": "u1"}));
    let late = event("live_deleted", json!({"live_id": "r1"}));
    // r1's first event fails twice; everything else is accepted at once.
    let receiver = Receiver::start(for_event(&a1.id, |nth| match nth {
        0 | 1 => Reply::status(503, "try later"),
        _ => Reply::ok(),
    }))
    .await;
    let store = open(
        &db,
        Backoff {
            first: Duration::from_millis(150),
            max: Duration::from_millis(150),
        },
    )
    .await;
    let worker = start(&store, config(&receiver.url));
    enqueue_in_order(&store, &[&a1, &a2, &a3, &b1, &loose]).await;
    worker.handle.notify();
    receiver
        .wait_until("r1's first failure", |log| {
            log.iter().any(|r| r.event_id == a1.id)
        })
        .await;
    // Written while r1's first event waits out its back-off: it must wait too.
    store.enqueue_event(&late).await.unwrap();
    worker.handle.notify();
    receiver.wait_accepted(&late.id).await;
    wait_delivered(
        &store,
        &[&a1.id, &a2.id, &a3.id, &b1.id, &loose.id, &late.id],
    )
    .await;

    let received = receiver.received();
    let room: HashSet<&str> = [&a1, &a2, &a3, &late]
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        accepted_order(&received, &room),
        [&a1.id, &a2.id, &a3.id, &late.id].map(String::clone),
        "r1 in the order written"
    );
    for later in [&a2, &a3, &late] {
        let got = receiver.for_event(&later.id);
        assert_eq!(
            got.len(),
            1,
            "sent once, after r1's first event went through"
        );
        // Held back without counting attempts.
        assert_eq!(stored(&store, &later.id).await.attempts, 1);
    }
    assert_eq!(receiver.for_event(&a1.id).len(), 3);
    assert_eq!(stored(&store, &a1.id).await.attempts, 3);
    // Other rooms did not wait for r1.
    let a1_accepted = receiver.for_event(&a1.id)[2].at;
    for other in [&b1, &loose] {
        let got = receiver.for_event(&other.id);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].at < a1_accepted,
            "{} waited for r1",
            other.event_type
        );
    }
    worker.stop().await;
}

async fn a_room_waits_for_an_event_another_node_holds(db: TestDb) {
    let receiver = Receiver::start(script(|_| Reply::ok())).await;
    let store = open(&db, FAST_BACKOFF).await;
    let [first, middle, last] = ["live_created", "live_started", "live_stopped"]
        .map(|kind| event(kind, json!({"live_id": "r1"})));
    enqueue_in_order(&store, &[&first, &middle, &last]).await;
    // Another node has taken the middle one: leased for 300 ms more, as if being sent.
    let lease_end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 300;
    let mut raw = db.raw().await;
    raw.execute(
        format!(
            "UPDATE webhook_outbox SET attempts = 1, next_attempt_at = {lease_end} \
             WHERE id = '{}'",
            middle.id
        )
        .as_str(),
    )
    .await
    .unwrap();

    let worker = start(&store, config(&receiver.url));
    worker.handle.notify();
    wait_delivered(&store, &[&first.id, &middle.id, &last.id]).await;
    let ids: HashSet<&str> = [&first, &middle, &last]
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        accepted_order(&receiver.received(), &ids),
        [&first.id, &middle.id, &last.id].map(String::clone),
        "the first went at once, the last only after the middle one"
    );
    assert_eq!(receiver.received().len(), 3, "each once");
    // The last one was held, not tried: one attempt, when it was sent.
    assert_eq!(stored(&store, &last.id).await.attempts, 1);
    worker.stop().await;
}

async fn two_workers_never_send_one_event_at_once(db: TestDb) {
    let receiver = Receiver::start(script(|_| Reply::ok().after(Duration::from_millis(5)))).await;
    let node_a = open(&db, FAST_BACKOFF).await;
    let node_b = open(&db, FAST_BACKOFF).await;
    let mut small = config(&receiver.url);
    small.batch = 4;
    small.poll_interval = Duration::from_millis(20);
    let workers = [start(&node_a, small.clone()), start(&node_b, small)];

    let mut rooms: HashMap<String, Vec<String>> = HashMap::new();
    let mut all = Vec::new();
    for n in 0..40 {
        let body = if n % 4 == 3 {
            json!({"n": n})
        } else {
            json!({"live_id": format!("room{}", n % 5), "n": n})
        };
        let new = event("live_updated", body);
        node_a.enqueue_event(&new).await.unwrap();
        if n % 4 != 3 {
            rooms
                .entry(format!("room{}", n % 5))
                .or_default()
                .push(new.id.clone());
        }
        all.push(new.id);
        if n % 10 == 0 {
            workers[n % 2].handle.notify();
        }
    }
    for worker in &workers {
        worker.handle.notify();
    }
    let ids: Vec<&str> = all.iter().map(String::as_str).collect();
    wait_delivered(&node_a, &ids).await;

    let received = receiver.received();
    assert_eq!(receiver.overlaps(), 0, "an event was sent by both at once");
    let mut per_event: HashMap<&str, usize> = HashMap::new();
    for request in &received {
        *per_event.entry(request.event_id.as_str()).or_default() += 1;
    }
    assert!(
        ids.iter().all(|id| per_event.get(id) == Some(&1)),
        "each event once: {per_event:?}"
    );
    // Each room's events in the outbox's order (time written, then id).
    for (room, events) in rooms {
        let mut expected = Vec::new();
        for id in &events {
            let row = stored(&node_a, id).await;
            expected.push((row.created_at, row.id));
        }
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
        let members: HashSet<&str> = events.iter().map(String::as_str).collect();
        assert_eq!(accepted_order(&received, &members), expected, "{room}");
    }
    let delivered: u64 = workers.iter().map(|w| w.handle.stats().delivered).sum();
    assert_eq!(delivered, 40);
    for worker in workers {
        worker.stop().await;
    }
}

async fn events_written_before_a_restart_are_delivered(db: TestDb) {
    let up = Arc::new(AtomicBool::new(false));
    let receiver_up = Arc::clone(&up);
    let receiver = Receiver::start(script(move |_| {
        if receiver_up.load(Ordering::SeqCst) {
            Reply::ok()
        } else {
            Reply::status(503, "maintenance")
        }
    }))
    .await;
    let before: Vec<NewEvent> = (0..3)
        .map(|n| event("live_created", json!({"live_id": format!("r{n}")})))
        .collect();
    let store = open(&db, FAST_BACKOFF).await;
    let worker = start(&store, config(&receiver.url));
    for new in &before {
        store.enqueue_event(new).await.unwrap();
    }
    worker.handle.notify();
    receiver
        .wait_until("a failed try of each", |log| {
            before
                .iter()
                .all(|e| log.iter().any(|r| r.event_id == e.id))
        })
        .await;
    eventually("3 pending, 3 failures counted", || async {
        let stats = worker.handle.stats();
        stats.pending == 3 && stats.failed_attempts >= 3
    })
    .await;
    worker.stop().await;
    store.close().await;
    drop(store);

    // Written while no worker runs, then a new store and worker, as after a restart.
    let reopened = open(&db, FAST_BACKOFF).await;
    let while_down = event("live_started", json!({"live_id": "r0"}));
    reopened.enqueue_event(&while_down).await.unwrap();
    up.store(true, Ordering::SeqCst);
    let worker = start(&reopened, config(&receiver.url));
    let mut ids: Vec<&str> = before.iter().map(|e| e.id.as_str()).collect();
    ids.push(&while_down.id);
    wait_delivered(&reopened, &ids).await;
    for id in &ids {
        let accepted = receiver
            .for_event(id)
            .iter()
            .filter(|r| r.reply.accepts())
            .count();
        assert_eq!(accepted, 1, "{id}");
    }
    assert_eq!(worker.handle.stats().delivered, 4);
    worker.stop().await;
}

async fn shutdown_is_prompt(db: TestDb) {
    let hang = event("live_started", json!({"live_id": "r1"}));
    let receiver = Receiver::start(for_event(&hang.id, |_| {
        Reply::ok().after(Duration::from_secs(30))
    }))
    .await;
    let store = open(&db, FAST_BACKOFF).await;

    // Idle between polls.
    let mut idle = config(&receiver.url);
    idle.poll_interval = Duration::from_secs(30);
    let worker = start(&store, idle.clone());
    let quick = event("live_created", json!({"live_id": "r0"}));
    store.enqueue_event(&quick).await.unwrap();
    worker.handle.notify();
    wait_delivered(&store, &[&quick.id]).await;
    let took = worker.stop().await;
    assert!(took < PROMPT, "idle worker took {took:?} to stop");

    // In the middle of a delivery that would take 10 s to time out.
    let mut patient = idle;
    patient.timeout = Duration::from_secs(10);
    patient.lease = Duration::from_secs(20);
    let worker = start(&store, patient);
    store.enqueue_event(&hang).await.unwrap();
    worker.handle.notify();
    receiver
        .wait_until("the hanging delivery", |log| {
            log.iter().any(|r| r.event_id == hang.id)
        })
        .await;
    let took = worker.stop().await;
    assert!(took < PROMPT, "busy worker took {took:?} to stop");
    // Released for the next start: due now, the cut-short attempt not counted.
    let row = stored(&store, &hang.id).await;
    assert_eq!((row.attempts, row.delivered_at), (0, None));
    assert!(
        row.next_attempt_at
            <= SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
    );
}

async fn https_with_a_private_ca(db: TestDb) {
    let (receiver, cert) = Receiver::start_tls(script(|_| Reply::ok())).await;
    assert!(receiver.url.starts_with("https://"));
    let store = open(&db, FAST_BACKOFF).await;
    let first = event("live_created", json!({"live_id": "r1"}));
    store.enqueue_event(&first).await.unwrap();

    // Without the CA the certificate is refused (or, on a machine without any system roots,
    // the worker refuses to start).
    match WebhookWorker::new(store.clone(), config(&receiver.url)) {
        Err(error) => assert!(error.to_string().contains("root certificate"), "{error}"),
        Ok(_) => {
            let error = first_failure(&store, config(&receiver.url), &first).await;
            assert!(error.to_lowercase().contains("certificate"), "{error}");
            assert!(receiver.received().is_empty());
        }
    }

    let mut trusting = config(&receiver.url);
    trusting.ca_certs = vec![cert];
    let worker = start(&store, trusting);
    worker.handle.notify();
    receiver.wait_accepted(&first.id).await;
    wait_delivered(&store, &[&first.id]).await;
    let request = &receiver.for_event(&first.id)[0];
    assert_eq!(
        verify_webhook(
            SECRET.as_bytes(),
            request.header(SIGNATURE_HEADER),
            &request.body,
            unix_seconds(),
            300
        ),
        Ok(())
    );
    worker.stop().await;
}

async fn old_delivered_events_are_purged(db: TestDb) {
    let kept = event("live_created", json!({"live_id": "r1"}));
    let receiver = Receiver::start(for_event(&kept.id, |_| Reply::status(500, ""))).await;
    let store = open(&db, FAST_BACKOFF).await;
    let mut eager = config(&receiver.url);
    eager.retention = Duration::ZERO;
    eager.purge_every = Duration::from_millis(20);
    let worker = start(&store, eager);
    let gone = event("live_created", json!({"live_id": "r2"}));
    store.enqueue_event(&kept).await.unwrap();
    store.enqueue_event(&gone).await.unwrap();
    worker.handle.notify();
    receiver.wait_accepted(&gone.id).await;
    eventually("purged once delivered", || async {
        store.get_event(&gone.id).await.unwrap().is_none()
    })
    .await;
    // Undelivered events are never purged.
    assert!(stored(&store, &kept.id).await.attempts >= 1);
    worker.stop().await;
}
