//! The state the room routes, the media hooks and the jobs share ([`Rooms`]), with what it
//! does on its own: rooms' life (create, start, stop, delete), what is live and who watches,
//! views of rooms, and telling the clients and the webhook sender. The resources' handlers
//! (`users`, `rooms`, `audience`, ...) build on it and it names nothing of theirs; the few
//! resource rules it needs (`check_not_banned`, `pk_info`, `end_pks_of`) are methods of
//! [`Rooms`] itself, written beside their resources.

use crate::clock::{unix_ms, unix_s};
use crate::error::{store_error, CODE_BAD_STATE};
use crate::event_hub::EventHub;
use crate::hooks::LiveFacts;
use crate::list_query::ListQuery;
use crate::pk_links::PkLink;
use crate::reloaded::Reloaded;
use crate::sanctions::SanctionCache;
use crate::settings::RoomsSettings;
use crate::tallies::Tallies;
use crate::views::{LiveFigures, LiveInfo, OnlineUser, StreamStatus};
use crate::webhook_events::{room_event, stopped_event};
use parking_lot::{Mutex, MutexGuard};
use relay_control::auth::{sign_push_url, PushKeys, PushScheme};
use relay_control::{ApiError, Page, PageQuery};
use relay_rooms::{Payments, Presence, Room, RoomStatus, Store, WebhookHandle};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

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
    pub(crate) presence: Mutex<Presence>,
    /// What happens in each room, for its clients (SSE).
    pub events: EventHub,
    /// Likes and page views not yet stored, by room.
    pub(crate) tallies: Mutex<Tallies>,
    /// The counts last sent to each live room's clients, to send only changes.
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
        Arc::new(Rooms {
            presence: Mutex::new(Presence::new(settings.presence)),
            store,
            settings,
            publish_auth,
            push_keys,
            facts,
            watched: Mutex::new(HashMap::new()),
            events: EventHub::new(unix_ms()),
            sent_counts: Mutex::new(HashMap::new()),
            tallies: Mutex::new(HashMap::new()),
            webhooks: app.webhooks,
            payments: app.payments,
            pk_links: Mutex::new(Reloaded::default()),
            sanctions: Mutex::new(Reloaded::default()),
        })
    }

    /// Tells `live_id`'s clients.
    pub fn emit(&self, live_id: &str, kind: &str, data: serde_json::Value) {
        self.events.publish(live_id, kind, data, unix_ms());
    }

    /// Tells a room's clients its status changed.
    pub(crate) fn emit_status(&self, room: &Room) {
        self.emit(
            &room.live_id,
            "live_status",
            serde_json::json!({
                "status": room.status.as_str(),
                "stop_reason": room.stop_reason.map(|r| r.as_str()),
            }),
        );
    }

    /// Sends each live room's online and viewer counts to its clients when they changed
    /// (called about once a second, so counts are aggregated).
    pub(crate) fn emit_counts(&self, now: Instant) {
        let rooms: Vec<(String, String)> = self
            .watched
            .lock()
            .iter()
            .map(|(live_id, watch)| (live_id.clone(), watch.stream_name.clone()))
            .collect();
        for (live_id, stream_name) in rooms {
            let counts = (
                self.presence().online_count(&live_id) as u64,
                self.viewers_of(&stream_name, now),
            );
            let changed = self.sent_counts.lock().insert(live_id.clone(), counts) != Some(counts);
            if changed {
                self.emit(
                    &live_id,
                    "counts",
                    serde_json::json!({ "online_count": counts.0, "viewer_count": counts.1 }),
                );
            }
        }
    }

    /// Players of a room's stream on every edge, as the edges last reported.
    pub(crate) fn viewers_of(&self, stream_name: &str, now: Instant) -> u64 {
        self.facts.viewers(&self.stream_key(stream_name), now)
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
        (self.watched.lock().len(), self.presence().total_online())
    }

    pub(crate) fn presence(&self) -> MutexGuard<'_, Presence> {
        self.presence.lock()
    }

    /// Whether `user_id` has joined `live_id` and is still beating (on this node).
    pub fn is_online(&self, live_id: &str, user_id: &str) -> bool {
        self.presence().is_online(live_id, user_id)
    }

    /// The stream key of a room's stream on the media path: `app/<stream name>`.
    pub(crate) fn stream_key(&self, stream_name: &str) -> String {
        format!("{}/{stream_name}", self.settings.publish_app)
    }

    /// Whether a room's stream is being published now.
    pub(crate) fn is_publishing(&self, stream_name: &str) -> bool {
        self.facts.is_live(&self.stream_key(stream_name))
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
            online_count: self.presence().online_count(&room.live_id) as u64,
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
    pub fn online_page(
        &self,
        live_id: &str,
        page: PageQuery,
        now: Instant,
    ) -> Result<Page<OnlineUser>, ApiError> {
        let (num, size) = page.checked()?;
        let presence = self.presence();
        let total = presence.online_count(live_id);
        let list = presence
            .viewers(live_id, (num - 1).saturating_mul(size), size)
            .into_iter()
            .map(|(user_id, joined)| OnlineUser {
                user_id,
                online_s: now.saturating_duration_since(joined).as_secs(),
            })
            .collect();
        Ok(Page::new(total, num, size, list))
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
        self.watch(&started);
        self.emit_status(&started);
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
        self.ended(&stopped);
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
        self.ended(&deleted.room);
        Ok(())
    }

    /// Forgets what was kept live of a room that ended; its clients hear it last.
    pub(crate) fn ended(&self, room: &Room) {
        self.wake_webhooks();
        self.emit_status(room);
        self.forget(&room.live_id);
    }

    pub(crate) fn forget(&self, live_id: &str) {
        self.watched.lock().remove(live_id);
        self.sent_counts.lock().remove(live_id);
        self.presence().close_room(live_id);
        self.events.close(live_id);
    }
}
