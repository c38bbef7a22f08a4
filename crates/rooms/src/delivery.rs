//! Webhook delivery: the worker that takes due events from the outbox and POSTs them, signed, to
//! the app's back end (`callback_addr`), until the node shuts down.
//!
//! Delivery is at least once. An event is leased while it is sent ([`Store::take_due_events`]),
//! so two nodes never send it at the same time; an answer that is not a success reschedules it
//! with back-off, and a node that dies mid-send leaves it to be taken again when the lease ends.
//! Receivers drop repeats by the event id.
//!
//! Events of one room (`live_id` in their body, kept in a column of its own) reach the receiver
//! in the order they were written, because a back end applying `live_stopped` before
//! `live_started` would get the room wrong. Within a batch a room's events go one after the
//! other and the first failure stops the rest; an event is also held back while an older event
//! of its room is still undelivered anywhere (failed and waiting, or being sent by another
//! node). Held events are released without counting an attempt. Different rooms are delivered
//! concurrently.
//!
//! An event still undelivered `dead_after` after it was written, and tried, becomes a dead
//! letter ([`Store::bury_stale_events`]), checked before each take: it is not attempted again,
//! and the events of its room behind it go on (a receiver that refuses one event forever must
//! not stop its room's webhooks for good). Operators list and retry dead letters through the
//! admin API.

use crate::outbox::{DEAD, PENDING};
use crate::{Event, RoomsError, Store};
use hyper::StatusCode;
use relay_control::outbound::{excerpt, shown_url, SignedPoster};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The event's type, so a receiver can route before parsing the body.
pub const EVENT_HEADER: &str = "X-Liverelay-Event";
/// The event's id, the same as in the body: the key a receiver drops repeats by.
pub const EVENT_ID_HEADER: &str = "X-Liverelay-Event-Id";

/// Shortest pause between polls when a retry is due sooner, so a run of immediate retries
/// cannot spin the loop.
const MIN_NAP: Duration = Duration::from_millis(5);
/// The setting that names the endpoint, for messages.
const CALLBACK_KEY: &str = "callback_addr";
/// Most time kept free at the end of a lease after a send's timeout, for recording the outcome
/// before another node may take the event.
const LEASE_GUARD: Duration = Duration::from_secs(1);

/// Where and how to deliver. [`WebhookConfig::parse`] fills in the defaults; the fields are
/// public for the cloud's settings (and tests) to tune.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The app's endpoint (`callback_addr`): an `http://` or `https://` URL.
    pub url: String,
    /// The shared secret every delivery is signed with (`callback_secret`).
    pub secret: String,
    /// Longest a delivery may take, from connecting to reading the answer (default 5 s).
    pub timeout: Duration,
    /// Most events taken at once (default 16); their rooms are delivered concurrently.
    pub batch: usize,
    /// How long a taken event is reserved for this worker (default 30 s). Must exceed
    /// `timeout`: no send starts unless it can end within the lease.
    pub lease: Duration,
    /// How often the outbox is looked at without a wake-up (default 1 s); also how soon an
    /// event held behind another node's delivery is looked at again.
    pub poll_interval: Duration,
    /// Delivered events older than this are deleted (default 7 days).
    pub retention: Duration,
    /// How often that purge runs (default hourly, and once at start).
    pub purge_every: Duration,
    /// An event still undelivered this long after it was written (or retried) is a dead
    /// letter, no longer attempted (default a day; `None`: never).
    pub dead_after: Option<Duration>,
    /// DER certificates trusted for `https://` besides the system's roots, for a back end
    /// whose certificate comes from a private CA.
    pub ca_certs: Vec<Vec<u8>>,
}

impl fmt::Debug for WebhookConfig {
    /// Never shows the secret, nor the URL's query (tokens often travel there).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &shown_url(&self.url))
            .field("secret", &"***")
            .field("timeout", &self.timeout)
            .field("batch", &self.batch)
            .field("lease", &self.lease)
            .field("poll_interval", &self.poll_interval)
            .field("retention", &self.retention)
            .field("purge_every", &self.purge_every)
            .field("dead_after", &self.dead_after)
            .field("ca_certs", &self.ca_certs.len())
            .finish()
    }
}

/// A webhook setting that cannot work; the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookConfigError(String);

impl WebhookConfig {
    /// The configuration for `url` and `secret` with the defaults, or why they cannot be used.
    pub fn parse(url: &str, secret: &str) -> Result<WebhookConfig, WebhookConfigError> {
        let config = WebhookConfig {
            url: url.trim().to_owned(),
            secret: secret.to_owned(),
            timeout: Duration::from_secs(5),
            batch: 16,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 24 * 3600),
            purge_every: Duration::from_secs(3600),
            dead_after: Some(Duration::from_secs(24 * 3600)),
            ca_certs: Vec::new(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every field ([`WebhookWorker::new`] does too, as the fields are public).
    pub fn validate(&self) -> Result<(), WebhookConfigError> {
        relay_control::outbound::parse_url(CALLBACK_KEY, &self.url).map_err(WebhookConfigError)?;
        let bad = |message: &str| Err(WebhookConfigError(message.to_owned()));
        if self.secret.trim().is_empty() {
            return bad(
                "callback_secret is empty: webhooks are signed with it and receivers check the \
                 signature, so set a long random secret shared with the app's back end",
            );
        }
        if self.timeout.is_zero() {
            return bad("webhook timeout must be more than zero");
        }
        if self.lease <= self.timeout {
            return bad(
                "webhook lease must be longer than the timeout: a delivery still under way when \
                 its lease ends could be sent again by another node at the same time",
            );
        }
        if self.batch == 0 {
            return bad("webhook batch must be at least 1");
        }
        if self.poll_interval.is_zero() || self.purge_every.is_zero() {
            return bad("webhook poll_interval and purge_every must be more than zero");
        }
        if self.dead_after.is_some_and(|after| after.is_zero()) {
            return bad("webhook dead_after must be more than zero (None: never)");
        }
        Ok(())
    }
}

/// Delivery counters since the worker was made.
#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    pending: AtomicU64,
    dead: AtomicU64,
}

/// The counters at one moment, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events the receiver accepted.
    pub delivered: u64,
    /// Deliveries that failed (an event failing three times counts three).
    pub failed_attempts: u64,
    /// Events not yet delivered, as last counted (about once per poll interval): a gauge that
    /// grows while the receiver is down.
    pub pending: u64,
    /// Dead letters (given up on, waiting for an operator's retry), counted with `pending`.
    pub dead: u64,
}

/// What the rest of the node keeps of a worker: a way to wake it and its counters. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct WebhookHandle {
    wake: Arc<Notify>,
    counters: Arc<Counters>,
}

impl WebhookHandle {
    /// Asks the worker to look at the outbox now, so an event just written goes out within
    /// milliseconds instead of at the next poll. Call it after the transaction that wrote the
    /// event commits; a call while the worker is busy is remembered, not lost.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    pub fn stats(&self) -> WebhookStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        WebhookStats {
            delivered: get(&self.counters.delivered),
            failed_attempts: get(&self.counters.failed),
            pending: get(&self.counters.pending),
            dead: get(&self.counters.dead),
        }
    }
}

/// The delivery worker. Make it with [`WebhookWorker::new`], keep its [`WebhookHandle`], then
/// spawn [`WebhookWorker::run`].
pub struct WebhookWorker {
    shared: Arc<Shared>,
    wake: Arc<Notify>,
}

/// What every delivery task reads.
struct Shared {
    store: Store,
    config: WebhookConfig,
    poster: SignedPoster,
    counters: Arc<Counters>,
}

impl fmt::Debug for WebhookWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookWorker")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// The body of every delivery.
#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    /// When the event was written, Unix ms.
    time: i64,
    data: &'a serde_json::Value,
}

impl WebhookWorker {
    /// A worker delivering `store`'s outbox as `config` says. Fails when the configuration is
    /// invalid, or for an `https://` URL when no trusted root certificate can be loaded.
    pub fn new(store: Store, config: WebhookConfig) -> Result<WebhookWorker, WebhookConfigError> {
        config.validate()?;
        let poster = SignedPoster::new(
            CALLBACK_KEY,
            "webhook",
            &config.url,
            &config.secret,
            &config.ca_certs,
        )
        .map_err(WebhookConfigError)?;
        Ok(WebhookWorker {
            shared: Arc::new(Shared {
                store,
                config,
                poster,
                counters: Arc::default(),
            }),
            wake: Arc::new(Notify::new()),
        })
    }

    pub fn handle(&self) -> WebhookHandle {
        WebhookHandle {
            wake: Arc::clone(&self.wake),
            counters: Arc::clone(&self.shared.counters),
        }
    }

    /// Delivers until `shutdown` turns true (or its sender is dropped). Returns promptly: a
    /// delivery under way is abandoned and its event released for the next start, which may
    /// send it again (receivers drop repeats by id). Never fails: database and network errors
    /// are logged and retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let shared = self.shared;
        let config = &shared.config;
        tracing::info!(url = %shown_url(&config.url), batch = config.batch, "webhook delivery started");
        let mut next_purge = Some(Instant::now());
        let mut next_count = Some(Instant::now());
        loop {
            if stop_requested(&shutdown) {
                break;
            }
            if reached(next_purge) {
                if until_stopped(shared.purge(), &mut shutdown).await.is_none() {
                    break;
                }
                next_purge = Instant::now().checked_add(config.purge_every);
            }
            if until_stopped(shared.bury(), &mut shutdown).await.is_none() {
                break;
            }
            let taken_at = Instant::now();
            // Not cut short by shutdown: a take dropped mid-query may have leased events in the
            // database already, which would then wait out the lease after a restart. Finished,
            // it is handed back at once if shutdown came meanwhile.
            let taken = match shared
                .store
                .take_due_events(config.batch, config.lease)
                .await
            {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "webhook outbox: cannot take due events");
                    Vec::new()
                }
            };
            if stop_requested(&shutdown) {
                shared.put_back(&taken, shared.store.now()).await;
                break;
            }
            let full = taken.len() >= config.batch;
            let retry_at = if taken.is_empty() {
                None
            } else {
                deliver_batch(&shared, taken, taken_at, &shutdown).await
            };
            if reached(next_count) {
                if until_stopped(shared.count_pending(), &mut shutdown)
                    .await
                    .is_none()
                {
                    break;
                }
                next_count = Instant::now().checked_add(config.poll_interval);
            }
            if full {
                continue; // more may be due already
            }
            let nap = retry_at.map_or(config.poll_interval, |at| {
                let wait = u64::try_from(at.saturating_sub(shared.store.now())).unwrap_or(0);
                Duration::from_millis(wait).clamp(MIN_NAP, config.poll_interval.max(MIN_NAP))
            });
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = self.wake.notified() => {}
                _ = stopped(&mut shutdown) => break,
            }
        }
        tracing::info!("webhook delivery stopped");
    }
}

/// Whether `at` has come; `None` is a time too far away to represent, which never comes.
fn reached(at: Option<Instant>) -> bool {
    at.is_some_and(|at| Instant::now() >= at)
}

fn stop_requested(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Resolves once `shutdown` is true or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// `work`'s output, or `None` when shutdown came first (the work is dropped).
async fn until_stopped<F: Future>(
    work: F,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<F::Output> {
    tokio::select! {
        output = work => Some(output),
        _ = stopped(shutdown) => None,
    }
}

/// A room's events from one batch, oldest first; an event without a room is a group alone.
struct Group {
    room: Option<String>,
    events: Vec<Event>,
}

fn by_room(events: Vec<Event>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for event in events {
        let Some(room) = event.live_id.clone() else {
            groups.push(Group {
                room: None,
                events: vec![event],
            });
            continue;
        };
        match index.get(&room).and_then(|&at| groups.get_mut(at)) {
            Some(group) => group.events.push(event),
            None => {
                index.insert(room.clone(), groups.len());
                groups.push(Group {
                    room: Some(room),
                    events: vec![event],
                });
            }
        }
    }
    // Taken in due order, which a retry can make differ from the order they were written in.
    for group in &mut groups {
        group
            .events
            .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    }
    groups
}

/// Delivers one batch, rooms concurrently; returns the earliest time (store ms) something it
/// put back becomes due, so the loop can wake for it before the next poll.
async fn deliver_batch(
    shared: &Arc<Shared>,
    events: Vec<Event>,
    taken_at: Instant,
    shutdown: &watch::Receiver<bool>,
) -> Option<i64> {
    let mut tasks = JoinSet::new();
    for group in by_room(events) {
        let shared = Arc::clone(shared);
        let shutdown = shutdown.clone();
        tasks.spawn(async move { shared.deliver_room(group, taken_at, shutdown).await });
    }
    let mut first_due = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(due) => first_due = earliest(first_due, due),
            Err(error) => tracing::error!(%error, "webhook delivery task failed"),
        }
    }
    first_due
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What one send came to.
enum Sent {
    Delivered,
    Failed(String),
    /// Shutdown came first; whether the receiver got it is unknown.
    Abandoned,
}

impl Shared {
    /// Delivers a room's events in order. Returns when something put back becomes due.
    async fn deliver_room(
        &self,
        group: Group,
        taken_at: Instant,
        mut shutdown: watch::Receiver<bool>,
    ) -> Option<i64> {
        let Group { room, mut events } = group;
        let mut held_until = None;
        if let Some(room) = &room {
            match self.wait_for_older(room, &mut events).await {
                Ok(until) => held_until = until,
                Err(error) => {
                    // Sending could overtake an older event: leave them for the next poll.
                    tracing::warn!(%error, room = %room, "webhook outbox: cannot check the order of a room's events");
                    self.put_back(&events, self.store.now()).await;
                    return None;
                }
            }
        }
        for (at, event) in events.iter().enumerate() {
            let rest = events.get(at..).unwrap_or_default();
            if stop_requested(&shutdown) || !self.lease_allows_send(taken_at) {
                let now = self.store.now();
                self.put_back(rest, now).await;
                return earliest(held_until, Some(now));
            }
            let sent = tokio::select! {
                sent = self.send(event) => sent,
                _ = stopped(&mut shutdown) => Sent::Abandoned,
            };
            match sent {
                Sent::Delivered => self.delivered(event).await,
                Sent::Abandoned => {
                    self.put_back(rest, self.store.now()).await;
                    return None;
                }
                Sent::Failed(error) => {
                    let later = events.get(at + 1..).unwrap_or_default();
                    return earliest(held_until, self.failed(event, &error, later).await);
                }
            }
        }
        held_until
    }

    async fn delivered(&self, event: &Event) {
        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(event_id = %event.id, event_type = %event.event_type, attempt = event.attempts, "webhook delivered");
        if let Err(error) = self.store.mark_delivered(&event.id).await {
            // The receiver has it; it will get it again after the lease, and drop the repeat.
            tracing::warn!(event_id = %event.id, %error, "webhook delivered but not recorded");
        }
    }

    /// Reschedules a failed event and holds the room's `later` events behind it.
    async fn failed(&self, event: &Event, error: &str, later: &[Event]) -> Option<i64> {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        let retry_at = match self.store.reschedule_event(event, error).await {
            Ok(Some(at)) => Some(at),
            Ok(None) => None, // the lease was lost; whoever has the event now delivers it
            Err(e) => {
                tracing::warn!(event_id = %event.id, error = %e, "webhook outbox: cannot reschedule");
                None
            }
        };
        tracing::warn!(
            event_id = %event.id,
            event_type = %event.event_type,
            attempt = event.attempts,
            error,
            retry_at,
            "webhook delivery failed"
        );
        // Until then the event is leased as taken, so the held ones wait at least as long.
        let until = retry_at.unwrap_or(event.next_attempt_at);
        self.put_back(later, until).await;
        retry_at
    }

    /// Holds back the events of `events` (a room's, oldest first) that an undelivered older
    /// event outside the batch must precede: failed and waiting, taken by another node, or
    /// not due yet. The ones before it stay to be sent. Returns when the held ones are due.
    async fn wait_for_older(
        &self,
        room: &str,
        events: &mut Vec<Event>,
    ) -> Result<Option<i64>, RoomsError> {
        let Some(last) = events.last() else {
            return Ok(None);
        };
        let older = self.store.undelivered_before(room, last).await?;
        let outside: Vec<&Older> = older
            .iter()
            .filter(|o| !events.iter().any(|e| e.id == o.id))
            .collect();
        let Some(first) = outside.iter().map(|o| (o.created_at, &o.id)).min() else {
            return Ok(None);
        };
        let due = outside.iter().map(|o| o.due).min().unwrap_or(first.0);
        let cut = events
            .iter()
            .position(|e| (e.created_at, &e.id) > first)
            .unwrap_or(events.len());
        let held = events.split_off(cut);
        let until = self.hold_until(due);
        tracing::debug!(
            room,
            held = held.len(),
            until,
            "webhook events held behind an older event of their room"
        );
        self.put_back(&held, until).await;
        Ok(Some(until))
    }

    /// Whether a send started now ends (by its timeout) inside the lease, with room to spare
    /// for recording the outcome.
    fn lease_allows_send(&self, taken_at: Instant) -> bool {
        let config = &self.config;
        let guard = (config.lease.saturating_sub(config.timeout) / 2).min(LEASE_GUARD);
        taken_at
            .elapsed()
            .saturating_add(config.timeout)
            .saturating_add(guard)
            <= config.lease
    }

    /// When to look again at events waiting for an older one due at `due`. An older event due
    /// within a lease may be another node's delivery under way, which ends sooner: look again
    /// after a poll interval rather than wait out its lease.
    fn hold_until(&self, due: i64) -> i64 {
        let now = self.store.now();
        if due.saturating_sub(now) > millis(self.config.lease) {
            due
        } else {
            due.min(now.saturating_add(millis(self.config.poll_interval)))
        }
    }

    /// One POST and its answer.
    async fn send(&self, event: &Event) -> Sent {
        match self.exchange(event).await {
            Ok(()) => Sent::Delivered,
            Err(error) => Sent::Failed(error),
        }
    }

    /// One POST and its answer; `Err` is the short reason stored and logged.
    async fn exchange(&self, event: &Event) -> Result<(), String> {
        let payload = Payload {
            id: &event.id,
            event_type: &event.event_type,
            time: event.created_at,
            data: &event.body,
        };
        let body = serde_json::to_vec(&payload).map_err(|e| format!("cannot encode: {e}"))?;
        let headers = [
            (EVENT_HEADER, event.event_type.as_str()),
            (EVENT_ID_HEADER, event.id.as_str()),
        ];
        let answer = self
            .poster
            .post(&headers, body, self.config.timeout)
            .await?;
        judge(answer.status, answer.location.as_deref(), &answer.body)
    }

    async fn purge(&self) {
        let before = self
            .store
            .now()
            .saturating_sub(millis(self.config.retention));
        match self.store.purge_delivered(before).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "webhook outbox: old delivered events deleted"),
            Err(error) => tracing::warn!(%error, "webhook outbox: purge failed"),
        }
    }

    async fn count_pending(&self) {
        for (filter, gauge) in [
            (PENDING, &self.counters.pending),
            (DEAD, &self.counters.dead),
        ] {
            match self.store.count_events(filter).await {
                Ok(count) => gauge.store(count, Ordering::Relaxed),
                Err(error) => tracing::warn!(%error, "webhook outbox: cannot count events"),
            }
        }
    }

    /// Makes dead letters of the events undelivered for longer than `dead_after`.
    async fn bury(&self) {
        let Some(after) = self.config.dead_after else {
            return;
        };
        let before = self.store.now().saturating_sub(millis(after));
        match self.store.bury_stale_events(before).await {
            Ok(0) => {}
            Ok(buried) => tracing::warn!(
                buried,
                dead_after_s = after.as_secs(),
                "webhook outbox: events given up on (dead letters, see GET /admin/webhook/dead)"
            ),
            Err(error) => tracing::warn!(%error, "webhook outbox: cannot look for stale events"),
        }
    }

    /// Gives taken events back, due at `until`, their attempt uncounted (they were not sent,
    /// or a send was cut short by shutdown). Failures are only logged: the lease then runs out
    /// and the event is taken again.
    async fn put_back(&self, events: &[Event], until: i64) {
        for event in events {
            if let Err(error) = self.store.put_back_event(event, until).await {
                tracing::warn!(event_id = %event.id, %error, "webhook outbox: cannot release an event");
            }
        }
    }
}

/// Success is a 2xx answer whose body, when it is a JSON object with a `code`, has code 0 (the
/// app's own "ok"). Redirects are failures: the signed request is not sent anywhere else.
fn judge(status: StatusCode, location: Option<&str>, answer: &[u8]) -> Result<(), String> {
    if status.is_success() {
        let code = match serde_json::from_slice::<serde_json::Value>(answer) {
            Ok(serde_json::Value::Object(mut fields)) => fields.remove("code"),
            _ => None,
        };
        return match code {
            None => Ok(()),
            Some(code) if code.as_i64() == Some(0) => Ok(()),
            Some(code) => Err(format!(
                "HTTP {status} with code {code}: {}",
                excerpt(answer)
            )),
        };
    }
    if status.is_redirection() {
        return Err(format!(
            "HTTP {status}: redirects are not followed (to {})",
            location.map_or_else(|| "nowhere".to_owned(), shown_url)
        ));
    }
    Err(format!("HTTP {status}: {}", excerpt(answer)))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// An undelivered event of a room, as the order check needs it.
pub(crate) struct Older {
    id: String,
    created_at: i64,
    /// Its `next_attempt_at`: the end of its back-off, or of another taker's lease.
    due: i64,
}

impl Store {
    /// The undelivered, living events of `room` written before `last` (in the outbox's
    /// order: time written, then id). A dead letter holds nothing back.
    pub(crate) async fn undelivered_before(
        &self,
        room: &str,
        last: &Event,
    ) -> Result<Vec<Older>, RoomsError> {
        let rows = sqlx::query(&format!(
            "SELECT id, created_at, next_attempt_at FROM webhook_outbox \
             WHERE live_id = $1 AND {PENDING} \
             AND (created_at < $2 OR (created_at = $2 AND id < $3))"
        ))
        .bind(room)
        .bind(last.created_at)
        .bind(last.id.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Older {
                    id: row.try_get("id")?,
                    created_at: row.try_get("created_at")?,
                    due: row.try_get("next_attempt_at")?,
                })
            })
            .collect()
    }

    /// Ends this taker's lease on `event` (as taken) without counting the attempt: due again at
    /// `due`. False when the lease was already lost.
    pub(crate) async fn put_back_event(&self, event: &Event, due: i64) -> Result<bool, RoomsError> {
        let changed = sqlx::query(
            "UPDATE webhook_outbox SET next_attempt_at = $1, attempts = attempts - 1 \
             WHERE id = $2 AND attempts = $3 AND delivered_at IS NULL AND dead_at IS NULL",
        )
        .bind(due)
        .bind(event.id.as_str())
        .bind(event.attempts)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_refuses_what_cannot_work() {
        let config = WebhookConfig::parse("https://app.example/hooks?token=abc", "s3cret").unwrap();
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert!(config.lease > config.timeout);
        WebhookConfig::parse(" http://127.0.0.1:8080 ", "x").unwrap();
        // Every URL check is in `outbound`; here, that its messages name this key.
        for url in [
            "",
            "ftp://app.example/hook",
            "http://user:pw@app.example/hook",
        ] {
            let error = WebhookConfig::parse(url, "secret").unwrap_err().to_string();
            assert!(error.starts_with("callback_addr: "), "{url}: {error}");
            assert!(!error.contains("pw"), "{error}");
        }
        for secret in ["", "  "] {
            let error = WebhookConfig::parse("http://h/", secret)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("callback_secret is empty"), "{error}");
        }
        let mut config = WebhookConfig::parse("http://h/", "s").unwrap();
        config.lease = config.timeout;
        assert!(config.validate().unwrap_err().to_string().contains("lease"));
        config.lease = config.timeout * 2;
        config.batch = 0;
        assert!(config.validate().unwrap_err().to_string().contains("batch"));
    }

    #[test]
    fn debug_hides_the_secret_and_the_query() {
        let config =
            WebhookConfig::parse("https://app.example:8443/hooks?token=abc", "s3cret").unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("https://app.example/hooks"), "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("token"),
            "{shown}"
        );
    }

    #[test]
    fn answers_are_judged() {
        let ok = StatusCode::OK;
        assert_eq!(judge(ok, None, b""), Ok(()));
        assert_eq!(judge(StatusCode::NO_CONTENT, None, b""), Ok(()));
        assert_eq!(judge(ok, None, b"ok"), Ok(()));
        assert_eq!(judge(ok, None, br#"{"code":0,"message":"ok"}"#), Ok(()));
        assert_eq!(judge(ok, None, br#"{"received":true}"#), Ok(()));
        assert_eq!(judge(ok, None, b"[1]"), Ok(()));
        let refused = judge(ok, None, br#"{"code":1,"message":"busy"}"#).unwrap_err();
        assert!(
            refused.starts_with("HTTP 200 OK with code 1: "),
            "{refused}"
        );
        assert!(judge(ok, None, br#"{"code":"0"}"#).is_err());
        let error = judge(StatusCode::INTERNAL_SERVER_ERROR, None, b"boom\nat line 3").unwrap_err();
        assert_eq!(error, "HTTP 500 Internal Server Error: boom at line 3");
        let moved = judge(StatusCode::FOUND, Some("https://elsewhere/x?t=1"), b"").unwrap_err();
        assert_eq!(
            moved,
            "HTTP 302 Found: redirects are not followed (to https://elsewhere/x)"
        );
        let long = "x".repeat(5000);
        let error = judge(StatusCode::BAD_GATEWAY, None, long.as_bytes()).unwrap_err();
        assert!(error.len() < 250, "{}", error.len());
    }

    fn event(id: &str, created_at: i64, body: serde_json::Value) -> Event {
        Event {
            live_id: crate::outbox::room_of_body(&body).map(str::to_owned),
            dead_at: None,
            id: id.to_owned(),
            event_type: "live_started".to_owned(),
            body,
            created_at,
            attempts: 1,
            next_attempt_at: 0,
            delivered_at: None,
            last_error: None,
        }
    }

    #[test]
    fn batches_split_by_room_oldest_first() {
        use serde_json::json;
        let events = vec![
            event("b", 20, json!({"live_id": "r1"})),
            event("x", 5, json!({"other": 1})),
            event("c", 10, json!({"live_id": "r2"})),
            event("a", 10, json!({"live_id": "r1"})),
            event("y", 5, json!({"live_id": 7})),
            event("a0", 10, json!({"live_id": "r1"})),
        ];
        let groups: Vec<(Option<String>, Vec<String>)> = by_room(events)
            .into_iter()
            .map(|g| (g.room, g.events.into_iter().map(|e| e.id).collect()))
            .collect();
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            groups,
            vec![
                (Some("r1".to_owned()), ids(&["a", "a0", "b"])),
                (None, ids(&["x"])),
                (Some("r2".to_owned()), ids(&["c"])),
                (None, ids(&["y"])),
            ]
        );
    }
}
