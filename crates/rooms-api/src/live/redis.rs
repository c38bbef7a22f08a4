//! The live state several clouds share through Redis or Valkey (the `redis` crate, with its
//! tokio connection manager that reconnects by itself). Keys start with `redis_prefix`:
//!
//! | key | type | what |
//! |---|---|---|
//! | `events:{room}` | stream | the room's events, `MAXLEN ~` the window; the entry id is the SSE id |
//! | `online:{room}` | sorted set | viewers, scored by their last beat (Unix ms) |
//! | `joined:{room}` | hash | when each viewer joined (Unix ms) |
//! | `seat:{user}` | string | the room a user is in (one at a time), expires with presence |
//! | `kick:{room}:{user}`, `mute:{room}:{user}` | string, PX | until when (Unix ms) |
//! | `likes:{room}` | string | the room's likes (stored plus not yet stored) |
//! | `pending:likes:{room}`, `pending:views:{room}` | string | not yet stored; a flush takes them with `GETDEL`, so no two nodes store the same |
//! | `counts:{room}` | string | the online and viewer counts last sent, so one node sends a change |
//! | `stream:{app/name}` | string, PX | a stream published on some node, with its viewers |
//! | `rate:{key}` | string, PX | a fixed rate window's count |
//!
//! Every call has `redis_timeout_ms`; any failure is a 503 "shared state unavailable: ..."
//! and is counted. Each node reads a room's stream with one task while it has local
//! subscribers and fans the events out through a bounded broadcast channel.

use super::{is_final, RemoteStreams, Seat, SeatPage};
use crate::clock::unix_ms;
use crate::event_hub::{
    event_order, RoomEvent, Subscription, ROOM_EVENT_WINDOW, SUBSCRIBER_BACKLOG,
};
use axum::http::StatusCode;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::FromRedisValue;
use relay_control::ApiError;
use relay_rooms::{PresenceConfig, SanctionKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a room's reader blocks on its stream before it looks whether it still has
/// subscribers.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// Entries a reader takes per read.
const READ_COUNT: usize = 128;
/// How long the keys of a room that ended are kept (a late reconnect still gets the end).
const ENDED_KEPT: Duration = Duration::from_secs(3600);
/// How long a published stream's key lives without a refresh from its node's watchdog.
const STREAM_TTL: Duration = Duration::from_secs(3);

/// How to reach the shared state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`).
    pub url: String,
    /// Prefix of every key, so several deployments can share a server.
    pub prefix: String,
    /// Longest wait for one call.
    pub timeout: Duration,
}

/// The live state in Redis, and this node's readers of the rooms' streams.
pub struct RedisState {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    presence: PresenceConfig,
    /// The local fan-out of each room that has subscribers on this node.
    readers: Mutex<HashMap<String, broadcast::Sender<Arc<RoomEvent>>>>,
    tasks: TaskTracker,
    cancel: CancellationToken,
    errors: AtomicU64,
    online_total: AtomicUsize,
    /// The online count of each room as this node last read it, for room views (which do not
    /// wait on Redis); joins, beats and the watchdog's second refresh it.
    online_seen: Mutex<HashMap<String, usize>>,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One entry of a stream as Redis answers it: its id and its fields and values in turn.
type Entry = (String, Vec<String>);

impl RedisState {
    /// A state over `config`'s server (connected lazily: a server down at start-up gives 503s
    /// until it is up). Fails only on a URL that is not a Redis URL.
    pub fn open(config: &RedisConfig, presence: PresenceConfig) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|error| format!("not a Redis URL ({error})"))?;
        let manager = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.timeout))
            .set_connection_timeout(Some(config.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager)
            .map_err(|error| format!("cannot set up the Redis connection ({error})"))?;
        Ok(Arc::new(RedisState {
            client,
            conn,
            prefix: config.prefix.clone(),
            timeout: config.timeout,
            presence,
            readers: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            errors: AtomicU64::new(0),
            online_total: AtomicUsize::new(0),
            online_seen: Mutex::new(HashMap::new()),
        }))
    }

    /// Redis calls that failed or timed out since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Stops the rooms' readers (their subscribers' streams end) and waits for them.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn unavailable(&self, error: impl std::fmt::Display) -> ApiError {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%error, "shared state (Redis)");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("shared state unavailable: {error}"),
        )
    }

    /// Waits for one call, at most the timeout; a failure is a counted 503.
    async fn within<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.unavailable(error)),
            Err(_) => {
                Err(self.unavailable(format!("no answer within {} ms", self.timeout.as_millis())))
            }
        }
    }

    /// Runs one command.
    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, ApiError> {
        let mut conn = self.conn.clone();
        self.within(cmd.query_async::<T>(&mut conn)).await
    }

    /// Runs a pipeline (a transaction when it is atomic).
    async fn pipeline<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, ApiError> {
        let mut conn = self.conn.clone();
        self.within(pipe.query_async::<T>(&mut conn)).await
    }

    pub(super) async fn append(
        &self,
        live_id: &str,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<(), ApiError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.key("events", live_id))
            .arg("MAXLEN")
            .arg("~")
            .arg(ROOM_EVENT_WINDOW)
            .arg("*")
            .arg("k")
            .arg(kind)
            .arg("d")
            .arg(data.to_string())
            .arg("t")
            .arg(unix_ms());
        self.query::<String>(&cmd).await.map(|_| ())
    }

    /// Subscribes to the local fan-out first (starting the room's reader just after the
    /// stream's last entry when there is none), then reads the backlog after the client's
    /// id: together they leave no hole, and the caller skips live events the backlog had.
    pub(super) async fn subscribe(
        self: &Arc<Self>,
        live_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, ApiError> {
        let key = self.key("events", live_id);
        let existing = self.readers.lock().get(live_id).map(|s| s.subscribe());
        let live = match existing {
            Some(live) => live,
            None => {
                let mut cmd = redis::cmd("XREVRANGE");
                cmd.arg(&key).arg("+").arg("-").arg("COUNT").arg(1);
                let tail: Vec<Entry> = self.query(&cmd).await?;
                let start = tail
                    .first()
                    .map_or_else(|| "0-0".to_owned(), |(id, _)| id.clone());
                let mut readers = self.readers.lock();
                match readers.get(live_id) {
                    Some(sender) => sender.subscribe(),
                    None => {
                        let (sender, live) = broadcast::channel(SUBSCRIBER_BACKLOG);
                        readers.insert(live_id.to_owned(), sender.clone());
                        self.tasks.spawn(read_room(
                            self.clone(),
                            live_id.to_owned(),
                            start,
                            sender,
                        ));
                        live
                    }
                }
            }
        };
        let Some(last) = last_event_id else {
            return Ok(Subscription {
                backlog: Vec::new(),
                gap: false,
                live,
            });
        };
        let after = event_order(last);
        let start = match after {
            Some(_) => format!("({last}"),
            None => "-".to_owned(),
        };
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN").arg(&key);
        pipe.cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1);
        pipe.cmd("XRANGE")
            .arg(&key)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(ROOM_EVENT_WINDOW);
        let (len, first, entries): (usize, Vec<Entry>, Vec<Entry>) = self.pipeline(&pipe).await?;
        let oldest = first.first().and_then(|(id, _)| event_order(id));
        // Trimming leaves at least the window, so a shorter stream lost nothing.
        let gap = match (after, oldest) {
            (None, _) => true,
            (Some(after), Some(oldest)) => len >= ROOM_EVENT_WINDOW && after < oldest,
            (Some(_), None) => false,
        };
        let backlog = entries.into_iter().filter_map(to_event).collect();
        Ok(Subscription { backlog, gap, live })
    }

    pub(super) async fn close(&self, live_id: &str) -> Result<(), ApiError> {
        self.online_seen.lock().remove(live_id);
        let kept = ENDED_KEPT.as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(self.key("online", live_id))
            .arg(self.key("joined", live_id))
            .ignore();
        for kind in ["events", "likes", "counts"] {
            pipe.cmd("PEXPIRE")
                .arg(self.key(kind, live_id))
                .arg(kept)
                .ignore();
        }
        self.pipeline::<()>(&pipe).await
    }

    fn fresh_since(&self, now: i64) -> i64 {
        now - self.presence.expiry.as_millis() as i64
    }

    fn seat_ms(&self) -> u64 {
        self.presence.expiry.as_millis() as u64
    }

    pub(super) async fn join(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        let now = unix_ms();
        let seat_key = self.key("seat", user_id);
        let online = self.key("online", live_id);
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(&seat_key);
        pipe.cmd("ZSCORE").arg(&online).arg(user_id);
        let (seat, score): (Option<String>, Option<f64>) = self.pipeline(&pipe).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(other) = seat.filter(|other| other != live_id) {
            pipe.cmd("ZREM")
                .arg(self.key("online", &other))
                .arg(user_id)
                .ignore();
            pipe.cmd("HDEL")
                .arg(self.key("joined", &other))
                .arg(user_id)
                .ignore();
        }
        let fresh = score.is_some_and(|beat| beat as i64 >= self.fresh_since(now));
        pipe.cmd("ZADD").arg(&online).arg(now).arg(user_id).ignore();
        // A viewer back after expiring joins anew; one still there keeps its joining time.
        pipe.cmd(if fresh { "HSETNX" } else { "HSET" })
            .arg(self.key("joined", live_id))
            .arg(user_id)
            .arg(now)
            .ignore();
        pipe.cmd("SET")
            .arg(&seat_key)
            .arg(live_id)
            .arg("PX")
            .arg(self.seat_ms())
            .ignore();
        self.pipeline::<()>(&pipe).await
    }

    async fn fresh_score(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        let mut cmd = redis::cmd("ZSCORE");
        cmd.arg(self.key("online", live_id)).arg(user_id);
        let score: Option<f64> = self.query(&cmd).await?;
        Ok(score.is_some_and(|beat| beat as i64 >= self.fresh_since(unix_ms())))
    }

    /// One read (is it there and fresh, and the room's count, kept for views), then the beat.
    pub(super) async fn heartbeat(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        let online = self.key("online", live_id);
        let since = self.fresh_since(unix_ms());
        let mut pipe = redis::pipe();
        pipe.cmd("ZSCORE").arg(&online).arg(user_id);
        pipe.cmd("ZCOUNT").arg(&online).arg(since).arg("+inf");
        let (score, count): (Option<f64>, usize) = self.pipeline(&pipe).await?;
        self.online_seen.lock().insert(live_id.to_owned(), count);
        if score.is_none_or(|beat| (beat as i64) < since) {
            return Ok(false);
        }
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&online)
            .arg("XX")
            .arg(unix_ms())
            .arg(user_id)
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(self.key("seat", user_id))
            .arg(self.seat_ms())
            .ignore();
        self.pipeline::<()>(&pipe).await?;
        Ok(true)
    }

    pub(super) async fn leave(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        let fresh = self.fresh_score(live_id, user_id).await?;
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM")
            .arg(self.key("online", live_id))
            .arg(user_id);
        pipe.cmd("HDEL")
            .arg(self.key("joined", live_id))
            .arg(user_id)
            .ignore();
        let (removed,): (usize,) = self.pipeline(&pipe).await?;
        Ok(fresh && removed > 0)
    }

    pub(super) async fn is_online(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        self.fresh_score(live_id, user_id).await
    }

    pub(super) async fn online_count(&self, live_id: &str) -> Result<usize, ApiError> {
        let mut cmd = redis::cmd("ZCOUNT");
        cmd.arg(self.key("online", live_id))
            .arg(self.fresh_since(unix_ms()))
            .arg("+inf");
        let count: usize = self.query(&cmd).await?;
        self.online_seen.lock().insert(live_id.to_owned(), count);
        Ok(count)
    }

    /// The online count of `live_id` as last read here (0 when never).
    pub(super) fn online_seen(&self, live_id: &str) -> usize {
        self.online_seen.lock().get(live_id).copied().unwrap_or(0)
    }

    /// The fresh members, sorted by user id here (the set is ordered by beat), then one page
    /// of them with their joining times.
    pub(super) async fn seats(
        &self,
        live_id: &str,
        skip: usize,
        take: usize,
    ) -> Result<SeatPage, ApiError> {
        let now = unix_ms();
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.key("online", live_id))
            .arg(self.fresh_since(now))
            .arg("+inf");
        let mut users: Vec<String> = self.query(&cmd).await?;
        users.sort();
        let total = users.len();
        let page: Vec<String> = users.into_iter().skip(skip).take(take).collect();
        if page.is_empty() {
            return Ok(SeatPage {
                total,
                seats: Vec::new(),
            });
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.key("joined", live_id)).arg(&page);
        let joined: Vec<Option<i64>> = self.query(&cmd).await?;
        let seats = page
            .into_iter()
            .zip(joined)
            .map(|(user_id, joined)| Seat {
                user_id,
                online: Duration::from_millis(
                    u64::try_from(now - joined.unwrap_or(now)).unwrap_or(0),
                ),
            })
            .collect();
        Ok(SeatPage { total, seats })
    }

    /// Drops the stale members of `live_ids` and counts who is left, for `/metrics`.
    pub(super) async fn expire(&self, live_ids: &[String]) -> Result<usize, ApiError> {
        let cut = self.fresh_since(unix_ms());
        let mut gone = 0;
        let mut online = 0;
        let mut seen = HashMap::new();
        for live_id in live_ids {
            let key = self.key("online", live_id);
            let mut cmd = redis::cmd("ZRANGEBYSCORE");
            cmd.arg(&key).arg("-inf").arg(format!("({cut}"));
            let stale: Vec<String> = self.query(&cmd).await?;
            let mut pipe = redis::pipe();
            if !stale.is_empty() {
                pipe.cmd("ZREM").arg(&key).arg(&stale).ignore();
                pipe.cmd("HDEL")
                    .arg(self.key("joined", live_id))
                    .arg(&stale)
                    .ignore();
            }
            pipe.cmd("ZCARD").arg(&key);
            let (left,): (usize,) = self.pipeline(&pipe).await?;
            gone += stale.len();
            online += left;
            seen.insert(live_id.clone(), left);
        }
        self.online_total.store(online, Ordering::Relaxed);
        // Rooms not watched here any more are forgotten; a join or beat reads them again.
        *self.online_seen.lock() = seen;
        Ok(gone)
    }

    pub(super) fn total_online(&self) -> usize {
        self.online_total.load(Ordering::Relaxed)
    }

    fn sanction_key(&self, live_id: &str, user_id: &str, kind: SanctionKind) -> String {
        let kind = match kind {
            SanctionKind::Kick => "kick",
            SanctionKind::Mute => "mute",
        };
        self.key(kind, &format!("{live_id}:{user_id}"))
    }

    pub(super) async fn sanction(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
        until: i64,
    ) -> Result<(), ApiError> {
        let left = until - unix_ms();
        if left <= 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.sanction_key(live_id, user_id, kind))
            .arg(until)
            .arg("PX")
            .arg(left);
        self.query::<()>(&cmd).await
    }

    pub(super) async fn lift(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<(), ApiError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.sanction_key(live_id, user_id, kind));
        self.query::<()>(&cmd).await
    }

    pub(super) async fn sanctioned_until(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<Option<i64>, ApiError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.sanction_key(live_id, user_id, kind));
        let until: Option<i64> = self.query(&cmd).await?;
        Ok(until.filter(|until| *until > unix_ms()))
    }

    pub(super) async fn rate_take(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, ApiError> {
        let key = self.key("rate", key);
        let window_ms = window.as_millis().max(1) as u64;
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("INCR").arg(&key);
        pipe.cmd("PEXPIRE")
            .arg(&key)
            .arg(window_ms)
            .arg("NX")
            .ignore();
        pipe.cmd("PTTL").arg(&key);
        let (taken, ttl): (u64, i64) = self.pipeline(&pipe).await?;
        if taken <= u64::from(limit) {
            return Ok(None);
        }
        let left = u64::try_from(ttl).unwrap_or(window_ms).min(window_ms);
        Ok(Some(Duration::from_millis(left.max(1))))
    }

    /// Adds `count` likes to `live_id` (its total first set from `stored` when Redis has none);
    /// answers the total.
    pub(crate) async fn like(
        &self,
        live_id: &str,
        count: i64,
        stored: impl std::future::Future<Output = Result<i64, ApiError>>,
    ) -> Result<i64, ApiError> {
        let total = self.key("likes", live_id);
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(&total);
        let known: bool = self.query(&cmd).await?;
        if !known {
            let stored = stored.await?;
            let mut cmd = redis::cmd("SET");
            cmd.arg(&total).arg(stored).arg("NX");
            self.query::<()>(&cmd).await?;
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("INCRBY").arg(&total).arg(count);
        pipe.cmd("INCRBY")
            .arg(self.key("pending:likes", live_id))
            .arg(count)
            .ignore();
        let (total,): (i64,) = self.pipeline(&pipe).await?;
        Ok(total)
    }

    /// Counts one page view of `live_id`.
    pub(crate) async fn viewed(&self, live_id: &str) -> Result<(), ApiError> {
        let mut cmd = redis::cmd("INCR");
        cmd.arg(self.key("pending:views", live_id));
        self.query::<()>(&cmd).await
    }

    /// Takes `live_id`'s likes and views not yet stored (no other node gets them) and its
    /// likes total.
    pub(crate) async fn take_pending(&self, live_id: &str) -> Result<(i64, i64, i64), ApiError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GETDEL").arg(self.key("pending:likes", live_id));
        pipe.cmd("GETDEL").arg(self.key("pending:views", live_id));
        pipe.cmd("GET").arg(self.key("likes", live_id));
        let (likes, views, total): (Option<i64>, Option<i64>, Option<i64>) =
            self.pipeline(&pipe).await?;
        Ok((likes.unwrap_or(0), views.unwrap_or(0), total.unwrap_or(0)))
    }

    /// Gives back pending counts the store refused, for the next flush.
    pub(crate) async fn give_back(
        &self,
        live_id: &str,
        likes: i64,
        views: i64,
    ) -> Result<(), ApiError> {
        let mut pipe = redis::pipe();
        pipe.cmd("INCRBY")
            .arg(self.key("pending:likes", live_id))
            .arg(likes)
            .ignore();
        pipe.cmd("INCRBY")
            .arg(self.key("pending:views", live_id))
            .arg(views)
            .ignore();
        self.pipeline::<()>(&pipe).await
    }

    /// Likes and views of `live_id` not yet stored.
    pub(crate) async fn pending(&self, live_id: &str) -> Result<(i64, i64), ApiError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(self.key("pending:likes", live_id));
        pipe.cmd("GET").arg(self.key("pending:views", live_id));
        let (likes, views): (Option<i64>, Option<i64>) = self.pipeline(&pipe).await?;
        Ok((likes.unwrap_or(0), views.unwrap_or(0)))
    }

    /// Whether `counts` differ from those last sent for `live_id` by any node (and records
    /// them): of two nodes seeing the same change, one sends it.
    pub(crate) async fn counts_changed(
        &self,
        live_id: &str,
        counts: (u64, u64),
    ) -> Result<bool, ApiError> {
        let value = format!("{}:{}", counts.0, counts.1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key("counts", live_id))
            .arg(&value)
            .arg("GET")
            .arg("PX")
            .arg(ENDED_KEPT.as_millis() as u64);
        let before: Option<String> = self.query(&cmd).await?;
        Ok(before.as_deref() != Some(value.as_str()))
    }

    /// Announces the streams published on this node (`local`: stream key and viewers) and
    /// reads which of `watched` are published on any node, with their viewers.
    pub(crate) async fn sync_streams(
        &self,
        local: &[(String, u64)],
        watched: &[String],
    ) -> Result<RemoteStreams, ApiError> {
        let mut pipe = redis::pipe();
        for (stream_key, viewers) in local {
            pipe.cmd("SET")
                .arg(self.key("stream", stream_key))
                .arg(viewers)
                .arg("PX")
                .arg(STREAM_TTL.as_millis() as u64)
                .ignore();
        }
        if watched.is_empty() {
            self.pipeline::<()>(&pipe).await?;
            return Ok(RemoteStreams::new());
        }
        let keys: Vec<String> = watched.iter().map(|k| self.key("stream", k)).collect();
        pipe.cmd("MGET").arg(keys);
        let (viewers,): (Vec<Option<u64>>,) = self.pipeline(&pipe).await?;
        Ok(watched
            .iter()
            .zip(viewers)
            .filter_map(|(key, viewers)| Some((key.clone(), viewers?)))
            .collect())
    }
}

/// An entry of a room's stream as the event its clients get; `None` for one this code did not
/// write (skipped).
fn to_event((id, fields): Entry) -> Option<Arc<RoomEvent>> {
    let mut kind = None;
    let mut data = None;
    let mut at = 0;
    for pair in fields.chunks(2) {
        match pair {
            [name, value] if name == "k" => kind = Some(value.clone()),
            [name, value] if name == "d" => data = serde_json::from_str(value).ok(),
            [name, value] if name == "t" => at = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let seq = event_order(&id).map_or(0, |(_, seq)| seq);
    Some(Arc::new(RoomEvent {
        id,
        seq,
        kind: kind?,
        data: data?,
        at,
    }))
}

/// A room's reader on this node: blocks on the room's stream after the last entry it saw and
/// sends each entry to the local subscribers. It ends when the room has no subscriber here,
/// after the room's final event, at shutdown, or when Redis fails (the subscribers' streams
/// end and the clients reconnect with `Last-Event-ID`).
async fn read_room(
    state: Arc<RedisState>,
    live_id: String,
    mut last: String,
    sender: broadcast::Sender<Arc<RoomEvent>>,
) {
    let key = state.key("events", &live_id);
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(state.timeout))
        .set_response_timeout(Some(READ_BLOCK + state.timeout));
    let connect = state
        .client
        .get_multiplexed_async_connection_with_config(&config);
    let mut conn = state.within(connect).await.ok();
    while let Some(connection) = conn.as_mut() {
        {
            let mut readers = state.readers.lock();
            if sender.receiver_count() == 0 {
                readers.remove(&live_id);
                return;
            }
        }
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(&last);
        type Reply = Option<Vec<(String, Vec<Entry>)>>;
        let read = tokio::select! {
            _ = state.cancel.cancelled() => break,
            read = cmd.query_async::<Reply>(connection) => read,
        };
        match read {
            Ok(reply) => {
                let entries = reply.into_iter().flatten().flat_map(|(_, entries)| entries);
                for entry in entries {
                    last.clone_from(&entry.0);
                    let Some(event) = to_event(entry) else {
                        continue;
                    };
                    let end = is_final(&event);
                    let _ = sender.send(event);
                    if end {
                        conn = None;
                        break;
                    }
                }
            }
            Err(error) => {
                state.unavailable(error);
                conn = None;
            }
        }
    }
    let mut readers = state.readers.lock();
    if readers
        .get(&live_id)
        .is_some_and(|current| current.same_channel(&sender))
    {
        readers.remove(&live_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveState;

    /// A state on the test server (`LIVERELAY_TEST_REDIS_URL`) under a prefix of its own, or
    /// `None` with a note when there is none.
    fn test_state(name: &str) -> Option<LiveState> {
        let Ok(url) = std::env::var("LIVERELAY_TEST_REDIS_URL") else {
            eprintln!("LIVERELAY_TEST_REDIS_URL not set: skipping the Redis test {name}");
            return None;
        };
        let config = RedisConfig {
            url,
            prefix: format!("test:{name}:{}:{}:", std::process::id(), unix_ms()),
            timeout: Duration::from_millis(500),
        };
        let presence = PresenceConfig {
            heartbeat_interval: Duration::from_secs(1),
            expiry: Duration::from_secs(2),
        };
        Some(LiveState::Redis(
            RedisState::open(&config, presence).unwrap(),
        ))
    }

    fn ids(events: &[Arc<RoomEvent>]) -> Vec<String> {
        events.iter().map(|e| e.id.clone()).collect()
    }

    #[tokio::test]
    async fn events_resume_after_the_last_id_and_live_ones_follow() {
        let Some(state) = test_state("events") else {
            return;
        };
        for n in 0..3 {
            state
                .append("r", "like", serde_json::json!({ "n": n }))
                .await
                .unwrap();
        }
        let all = state.subscribe("r", Some("0-0")).await.unwrap();
        assert_eq!(all.backlog.len(), 3);
        assert!(!all.gap);
        let first = all.backlog[0].id.clone();
        let mut resumed = state.subscribe("r", Some(&first)).await.unwrap();
        assert_eq!(ids(&resumed.backlog), ids(&all.backlog[1..]));
        assert_eq!(resumed.backlog[1].data, serde_json::json!({ "n": 2 }));
        state
            .append("r", "gift", serde_json::json!({ "n": 3 }))
            .await
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), resumed.live.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (next.kind.as_str(), &next.data),
            ("gift", &serde_json::json!({ "n": 3 }))
        );
        assert!(event_order(&next.id) > event_order(&resumed.backlog[1].id));
        let odd = state.subscribe("r", Some("not-an-id")).await.unwrap();
        assert!(odd.gap);
        assert_eq!(odd.backlog.len(), 4);
        // The room's end reaches its subscribers, then their streams end.
        state
            .append("r", "live_status", serde_json::json!({ "status": "ended" }))
            .await
            .unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), resumed.live.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(is_final(&end));
        let closed = tokio::time::timeout(Duration::from_secs(5), resumed.live.recv())
            .await
            .unwrap();
        assert!(closed.is_err());
    }

    #[tokio::test]
    async fn presence_kicks_and_rates_are_shared() {
        let Some(state) = test_state("presence") else {
            return;
        };
        state.join("a", "u1").await.unwrap();
        state.join("a", "u2").await.unwrap();
        assert_eq!(state.online_count("a").await.unwrap(), 2);
        state.join("b", "u2").await.unwrap();
        assert_eq!(state.online_count("a").await.unwrap(), 1);
        assert!(!state.heartbeat("a", "u2").await.unwrap());
        assert!(state.heartbeat("b", "u2").await.unwrap());
        assert!(state.is_online("b", "u2").await.unwrap());
        let page = state.seats("a", 0, 10).await.unwrap();
        assert_eq!((page.total, page.seats[0].user_id.as_str()), (1, "u1"));
        assert!(state.leave("a", "u1").await.unwrap());
        assert!(!state.leave("a", "u1").await.unwrap());
        let until = unix_ms() + 60_000;
        state
            .sanction("a", "u3", SanctionKind::Kick, until)
            .await
            .unwrap();
        let kicked = state
            .sanctioned_until("a", "u3", SanctionKind::Kick)
            .await
            .unwrap();
        assert_eq!(kicked, Some(until));
        assert_eq!(
            state
                .sanctioned_until("a", "u3", SanctionKind::Mute)
                .await
                .unwrap(),
            None
        );
        let window = Duration::from_secs(60);
        assert_eq!(state.rate_take("chat:a:u1", 2, window).await.unwrap(), None);
        assert_eq!(state.rate_take("chat:a:u1", 2, window).await.unwrap(), None);
        let retry = state
            .rate_take("chat:a:u1", 2, window)
            .await
            .unwrap()
            .unwrap();
        assert!(retry > Duration::ZERO && retry <= window);
        let LiveState::Redis(redis) = &state else {
            unreachable!()
        };
        assert_eq!(redis.like("a", 5, async { Ok(10) }).await.unwrap(), 15);
        assert_eq!(redis.like("a", 1, async { Ok(999) }).await.unwrap(), 16);
        assert_eq!(redis.take_pending("a").await.unwrap(), (6, 0, 16));
        assert_eq!(redis.take_pending("a").await.unwrap(), (0, 0, 16));
        assert!(redis.counts_changed("a", (1, 0)).await.unwrap());
        assert!(!redis.counts_changed("a", (1, 0)).await.unwrap());
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_a_503() {
        let config = RedisConfig {
            url: "redis://127.0.0.1:1/".to_owned(),
            prefix: "x:".to_owned(),
            timeout: Duration::from_millis(200),
        };
        let state = LiveState::Redis(RedisState::open(&config, PresenceConfig::default()).unwrap());
        let error = state.join("a", "u").await.unwrap_err();
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            error.message.starts_with("shared state unavailable: "),
            "{}",
            error.message
        );
        let LiveState::Redis(redis) = &state else {
            unreachable!()
        };
        assert!(redis.errors() >= 1);
        assert!(RedisState::open(
            &RedisConfig {
                url: "http://nope".to_owned(),
                ..config
            },
            PresenceConfig::default()
        )
        .is_err());
    }
}
