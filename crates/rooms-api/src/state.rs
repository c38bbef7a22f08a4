//! The state the room routes, the media hooks and the jobs share ([`Rooms`]), with what it
//! does on its own: rooms' life (create, start, stop, delete), what is live and who watches,
//! views of rooms, and telling the clients and the webhook sender. The resources' handlers
//! (`users`, `rooms`, `audience`, ...) build on it and it names nothing of theirs; the few
//! resource rules it needs (`check_not_banned`, `pk_info`, `end_pks_of`) are methods of
//! [`Rooms`] itself, written beside their resources.

use crate::clock::unix_s;
use crate::error::{store_error, CODE_BAD_STATE};
use crate::hooks::LiveFacts;
use crate::list_query::ListQuery;
use crate::live::{LiveState, RedisState, RemoteStreams};
use crate::pk_links::PkLink;
use crate::reloaded::Reloaded;
use crate::sanctions::SanctionCache;
use crate::settings::RoomsSettings;
use crate::tallies::Tallies;
use crate::views::{LiveFigures, LiveInfo, OnlineUser, StreamStatus};
use crate::webhook_events::{room_event, stopped_event};
use parking_lot::Mutex;
use relay_control::auth::{sign_push_url, PushKeys, PushScheme};
use relay_control::{ApiError, Page, PageQuery};
use relay_rooms::{Payments, Room, RoomStatus, Store, WebhookHandle};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a heartbeat trusts the room it read (status, anchor, stream): beats do not read
/// the store each time, and a room's start or end here drops it at once.
const BEAT_ROOM_TTL: Duration = Duration::from_secs(2);
/// Rooms the heartbeat cache keeps at most; past it, stale ones go, then all (it only costs
/// a read each).
const BEAT_ROOMS_MAX: usize = 4096;

/// Everything the room routes and the media hooks share.
pub struct Rooms {
    /// Where rooms, users, events and gifts are stored.
    pub store: Store,
    /// The room API's settings.
    pub settings: RoomsSettings,
    pub(crate) publish_auth: PushScheme,
    pub(crate) push_keys: PushKeys,
    /// What the media path knows: which streams are live, who watches them.
    pub(crate) facts: Arc<dyn LiveFacts>,
    /// Events, presence and the rest of the rooms' live state: this node's memory, or Redis
    /// shared by every node.
    pub live: LiveState,
    /// Streams published on other nodes (shared state only), with their viewers, as the
    /// watchdog last read them.
    pub(crate) remote_streams: Mutex<RemoteStreams>,
    /// Rooms as heartbeats last read them, with when.
    pub(crate) beat_rooms: Mutex<HashMap<String, (Instant, Room)>>,
    /// Events not sent after the change they tell of was stored (shared state unavailable).
    pub(crate) events_lost: AtomicU64,
    /// Likes and page views not yet stored, by room (memory state).
    pub(crate) tallies: Mutex<Tallies>,
    /// The counts last sent to each live room's clients, to send only changes (memory state;
    /// shared, Redis keeps them).
    pub(crate) sent_counts: Mutex<HashMap<String, (u64, u64)>>,
    /// Live rooms' media state, by `live_id`.
    pub(crate) watched: Mutex<HashMap<String, Watch>>,
    /// The webhook sender, told when an event is written so it goes out at once; `None` when
    /// `callback_addr` is empty (events are still kept in the outbox).
    pub(crate) webhooks: Option<WebhookHandle>,
    /// The open PK each room is in, by `live_id`, for room views.
    pub(crate) pk_links: Mutex<Reloaded<HashMap<String, PkLink>>>,
    /// Kicks and mutes in force.
    pub(crate) sanctions: Mutex<Reloaded<SanctionCache>>,
    /// Gift payments through the app's payment service; `None` when `gift_addr` is empty
    /// (sending gifts is refused, the catalogue and the ledger still work).
    pub(crate) payments: Option<Payments>,
}

/// What the rooms send to the app's back end: webhooks (`callback_addr`) and gift payments
/// (`gift_addr`), each `None` when its address is empty.
#[derive(Debug, Default)]
pub struct AppLinks {
    /// The webhook sender's handle.
    pub webhooks: Option<WebhookHandle>,
    /// The gift payment client.
    pub payments: Option<Payments>,
    /// The live state shared with the other nodes (`redis_url`); `None`: this node's memory.
    pub shared: Option<Arc<RedisState>>,
}

/// What the watchdog tracks of a live room.
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    /// The room's stream.
    pub(crate) stream_name: String,
    /// The room's anchor.
    pub(crate) anchor_id: String,
    /// Since when the stream has been absent (the room's start, or the last unpublish); `None`
    /// while it is being published.
    pub(crate) absent_since: Option<Instant>,
    /// Whether it has been published since the room went live.
    pub(crate) published: bool,
}

impl Rooms {
    /// The room API over `store`: push URLs signed as `publish_auth` says with `push_keys`,
    /// what is live read from `facts`, webhooks and payments through `app`.
    pub fn new(
        store: Store,
        settings: RoomsSettings,
        publish_auth: PushScheme,
        push_keys: PushKeys,
        facts: Arc<dyn LiveFacts>,
        app: AppLinks,
    ) -> Arc<Self> {
        let live = match app.shared {
            Some(redis) => LiveState::Redis(redis),
            None => LiveState::memory(settings.presence),
        };
        Arc::new(Rooms {
            live,
            remote_streams: Mutex::new(RemoteStreams::new()),
            beat_rooms: Mutex::new(HashMap::new()),
            events_lost: AtomicU64::new(0),
            store,
            settings,
            publish_auth,
            push_keys,
            facts,
            watched: Mutex::new(HashMap::new()),
            sent_counts: Mutex::new(HashMap::new()),
            tallies: Mutex::new(HashMap::new()),
            webhooks: app.webhooks,
            payments: app.payments,
            pk_links: Mutex::new(Reloaded::default()),
            sanctions: Mutex::new(Reloaded::default()),
        })
    }

    /// Tells `live_id`'s clients (on every node); 503 when the shared state is unavailable.
    pub async fn emit(
        &self,
        live_id: &str,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<(), ApiError> {
        self.live.append(live_id, kind, data).await
    }

    /// Tells `live_id`'s clients of a change already stored: a failure is logged and counted,
    /// never turned into an error of what was stored.
    pub(crate) async fn tell(&self, live_id: &str, kind: &str, data: serde_json::Value) {
        if let Err(error) = self.emit(live_id, kind, data).await {
            self.events_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(live_id, kind, error = %error.message, "event not sent to the room's clients");
        }
    }

    /// Events not sent after their change was stored, and Redis calls that failed, since
    /// start, for `/metrics`.
    pub fn shared_errors(&self) -> (u64, u64) {
        let redis = match &self.live {
            LiveState::Redis(redis) => redis.errors(),
            LiveState::Memory(_) => 0,
        };
        (self.events_lost.load(Ordering::Relaxed), redis)
    }

    /// Tells a room's clients its status changed.
    pub(crate) async fn emit_status(&self, room: &Room) {
        self.tell(
            &room.live_id,
            "live_status",
            serde_json::json!({
                "status": room.status.as_str(),
                "stop_reason": room.stop_reason.map(|r| r.as_str()),
            }),
        )
        .await;
    }

    /// Sends each live room's online and viewer counts to its clients when they changed
    /// (called about once a second, so counts are aggregated).
    /// With shared state, of two nodes seeing the same change one sends it.
    pub(crate) async fn emit_counts(&self, now: Instant) {
        let rooms: Vec<(String, String)> = self
            .watched
            .lock()
            .iter()
            .map(|(live_id, watch)| (live_id.clone(), watch.stream_name.clone()))
            .collect();
        for (live_id, stream_name) in rooms {
            let counts = (
                self.live.online_now(&live_id) as u64,
                self.viewers_of(&stream_name, now),
            );
            let changed = match &self.live {
                LiveState::Memory(_) => {
                    self.sent_counts.lock().insert(live_id.clone(), counts) != Some(counts)
                }
                LiveState::Redis(redis) => match redis.counts_changed(&live_id, counts).await {
                    Ok(changed) => changed,
                    Err(_) => continue,
                },
            };
            if changed {
                self.tell(
                    &live_id,
                    "counts",
                    serde_json::json!({ "online_count": counts.0, "viewer_count": counts.1 }),
                )
                .await;
            }
        }
    }

    /// Players of a room's stream on every edge, as the edges last reported.
    /// With shared state, a stream published on another node counts the viewers that node
    /// announced.
    pub(crate) fn viewers_of(&self, stream_name: &str, now: Instant) -> u64 {
        let key = self.stream_key(stream_name);
        let here = self.facts.viewers(&key, now);
        match self.remote_streams.lock().get(&key) {
            Some(remote) if !self.facts.is_live(&key) => here.max(*remote),
            _ => here,
        }
    }

    /// An event was written: the sender takes it now rather than at its next poll.
    pub(crate) fn wake_webhooks(&self) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.notify();
        }
    }

    /// The webhook sender's counters, when there is one.
    pub fn webhook_stats(&self) -> Option<relay_rooms::WebhookStats> {
        self.webhooks.as_ref().map(WebhookHandle::stats)
    }

    /// Live rooms this node watches, and viewers online in all rooms, for `/metrics`.
    pub fn gauges(&self) -> (usize, usize) {
        (self.watched.lock().len(), self.live.total_online())
    }

    /// Whether `user_id` has joined `live_id` and is still beating (on any node, with shared
    /// state).
    pub async fn is_online(&self, live_id: &str, user_id: &str) -> Result<bool, ApiError> {
        self.live.is_online(live_id, user_id).await
    }

    /// The stream key of a room's stream on the media path: `app/<stream name>`.
    pub(crate) fn stream_key(&self, stream_name: &str) -> String {
        format!("{}/{stream_name}", self.settings.publish_app)
    }

    /// Whether a room's stream is being published now (on this node, or with shared state on
    /// another, as its watchdog announced a moment ago).
    pub(crate) fn is_publishing(&self, stream_name: &str) -> bool {
        let key = self.stream_key(stream_name);
        self.facts.is_live(&key) || self.remote_streams.lock().contains_key(&key)
    }

    /// The push URL of `room`, signed as `publish_auth` says and valid for `publish_expire_s`.
    pub fn push_url(&self, room: &Room) -> Result<String, ApiError> {
        let expire_at = unix_s() + self.settings.publish_expire.as_secs() as i64;
        sign_push_url(
            &self.settings.publish_base_url,
            &room.stream_name,
            self.publish_auth,
            &self.push_keys,
            expire_at,
        )
        .map_err(|error| ApiError::internal(format!("cannot sign the push URL: {error}")))
    }

    /// Live figures of `room`.
    pub(crate) fn figures(&self, room: &Room) -> LiveFigures {
        let publishing = self.is_publishing(&room.stream_name);
        let viewer_count = self.viewers_of(&room.stream_name, Instant::now());
        let stream_status = match (room.status, publishing) {
            (_, true) => StreamStatus::Publishing,
            (RoomStatus::Live, false)
                if self
                    .watched
                    .lock()
                    .get(&room.live_id)
                    .is_some_and(|watch| watch.published) =>
            {
                StreamStatus::Interrupted
            }
            _ => StreamStatus::Idle,
        };
        LiveFigures {
            stream_status,
            online_count: self.live.online_now(&room.live_id) as u64,
            viewer_count,
        }
    }

    /// `room` as a viewer sees it (no push URL).
    pub fn view(&self, room: Room) -> LiveInfo {
        let figures = self.figures(&room);
        let pk = match room.status {
            RoomStatus::Live => self.pk_info(&room.live_id),
            _ => None,
        };
        let mut view = LiveInfo::new(room, figures, &self.settings.play);
        view.pk = pk;
        view
    }

    /// `room` as its anchor or the app's server sees it: with a freshly signed push URL while it
    /// can still be published.
    pub fn owner_view(&self, room: Room) -> Result<LiveInfo, ApiError> {
        let push_url = match room.status {
            RoomStatus::Ended => None,
            _ => Some(self.push_url(&room)?),
        };
        let mut view = self.view(room);
        view.push_url = push_url;
        Ok(view)
    }

    /// The room for a heartbeat: as read less than [`BEAT_ROOM_TTL`] ago, or from the store.
    pub(crate) async fn beat_room(&self, live_id: &str) -> Result<Room, ApiError> {
        let now = Instant::now();
        if let Some((_, room)) = self
            .beat_rooms
            .lock()
            .get(live_id)
            .filter(|(at, _)| now.saturating_duration_since(*at) < BEAT_ROOM_TTL)
        {
            return Ok(room.clone());
        }
        let room = self.room(live_id).await?;
        let mut cache = self.beat_rooms.lock();
        if cache.len() >= BEAT_ROOMS_MAX {
            cache.retain(|_, (at, _)| now.saturating_duration_since(*at) < BEAT_ROOM_TTL);
            if cache.len() >= BEAT_ROOMS_MAX {
                cache.clear();
            }
        }
        cache.insert(live_id.to_owned(), (now, room.clone()));
        Ok(room)
    }

    /// The room, or 404.
    pub async fn room(&self, live_id: &str) -> Result<Room, ApiError> {
        self.store
            .get_room(live_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("room {live_id} not found")))
    }

    /// Creates a room (`live_created` goes to the app's back end); 403 code 604 for a banned
    /// anchor.
    pub async fn create(&self, new: relay_rooms::NewRoom) -> Result<Room, ApiError> {
        self.check_not_banned(&new.anchor_id).await?;
        let event = |room: &Room| {
            room_event(
                "live_created",
                room,
                serde_json::json!({ "title": room.title }),
            )
        };
        let room = self
            .store
            .create_room(&new, Some(&event))
            .await
            .map_err(store_error)?;
        self.wake_webhooks();
        Ok(room)
    }

    /// Rooms by status (all when none is given), paged.
    pub async fn list(&self, query: &ListQuery) -> Result<Page<Room>, ApiError> {
        let statuses = query.statuses()?;
        self.store
            .list_rooms(&statuses, query.page())
            .await
            .map_err(store_error)
    }

    /// Rooms by status, paged, as viewers see them.
    pub async fn list_views(&self, query: &ListQuery) -> Result<Page<LiveInfo>, ApiError> {
        Ok(self.list(query).await?.map(|room| self.view(room)))
    }

    /// The viewers online in `live_id`, paged by user id.
    pub async fn online_page(
        &self,
        live_id: &str,
        page: PageQuery,
    ) -> Result<Page<OnlineUser>, ApiError> {
        let (num, size) = page.checked()?;
        let seats = self
            .live
            .seats(live_id, (num - 1).saturating_mul(size), size)
            .await?;
        let list = seats
            .seats
            .into_iter()
            .map(|seat| OnlineUser {
                user_id: seat.user_id,
                online_s: seat.online.as_secs(),
            })
            .collect();
        Ok(Page::new(seats.total, num, size, list))
    }

    /// Starts watching a room that went live (by the API or by its first publish).
    pub(crate) fn watch(&self, room: &Room) {
        let publishing = self.is_publishing(&room.stream_name);
        self.watched.lock().insert(
            room.live_id.clone(),
            Watch {
                stream_name: room.stream_name.clone(),
                anchor_id: room.anchor_id.clone(),
                absent_since: (!publishing).then(Instant::now),
                published: publishing,
            },
        );
    }

    /// Starts a created room; 601 unless it was created (and not expired), 403 code 604 when
    /// its anchor is banned.
    pub async fn start(&self, room: &Room) -> Result<Room, ApiError> {
        self.check_not_banned(&room.anchor_id).await?;
        let event = |room: &Room| room_event("live_started", room, serde_json::json!({}));
        let started = self
            .store
            .start_room(&room.live_id, Some(&event))
            .await
            .map_err(store_error)?;
        let Some(started) = started else {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                format!(
                    "room {} is {}, it cannot start",
                    room.live_id,
                    room.status.as_str()
                ),
            )
            .with_code(CODE_BAD_STATE));
        };
        self.wake_webhooks();
        self.beat_rooms.lock().remove(&started.live_id);
        self.watch(&started);
        self.emit_status(&started).await;
        Ok(started)
    }

    /// Ends a live room with `reason`; 601 unless it was live.
    pub async fn stop(
        &self,
        room: &Room,
        reason: relay_rooms::StopReason,
    ) -> Result<Room, ApiError> {
        self.stop_noted(room, reason, None).await
    }

    /// As [`Rooms::stop`], keeping `note` (an operator's words, a ban's reason) with the room.
    /// The PK the room was in ends too.
    pub async fn stop_noted(
        &self,
        room: &Room,
        reason: relay_rooms::StopReason,
        note: Option<&str>,
    ) -> Result<Room, ApiError> {
        let event = |room: &Room| stopped_event(room);
        let stopped = self
            .store
            .stop_room_noted(&room.live_id, reason, note, Some(&event))
            .await
            .map_err(store_error)?;
        let Some(stopped) = stopped else {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                format!(
                    "room {} is {}, not live",
                    room.live_id,
                    room.status.as_str()
                ),
            )
            .with_code(CODE_BAD_STATE));
        };
        self.end_pks_of(&stopped.live_id).await;
        self.ended(&stopped).await;
        Ok(stopped)
    }

    /// Deletes a room, ending it first when it is live or not yet started.
    pub async fn delete(&self, room: &Room) -> Result<(), ApiError> {
        let deleted_event = |room: &Room| room_event("live_deleted", room, serde_json::json!({}));
        let stopped_event = |room: &Room| stopped_event(room);
        let deleted = self
            .store
            .delete_room(&room.live_id, Some(&deleted_event), Some(&stopped_event))
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("room {} not found", room.live_id)))?;
        self.end_pks_of(&deleted.room.live_id).await;
        self.ended(&deleted.room).await;
        Ok(())
    }

    /// Forgets what was kept live of a room that ended; its clients (on every node) hear it
    /// last.
    pub(crate) async fn ended(&self, room: &Room) {
        self.wake_webhooks();
        self.emit_status(room).await;
        self.forget(&room.live_id);
        if let Err(error) = self.live.close(&room.live_id).await {
            tracing::warn!(live_id = room.live_id, error = %error.message, "cannot clear an ended room's live state");
        }
    }

    /// Stops watching a room on this node (it ended, here or on another node).
    pub(crate) fn forget(&self, live_id: &str) {
        self.watched.lock().remove(live_id);
        self.sent_counts.lock().remove(live_id);
        self.beat_rooms.lock().remove(live_id);
    }
}
