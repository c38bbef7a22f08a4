//! The live-room API on the cloud's `api_addr`: `/server` for the app's back end (signed
//! requests), `/client` for apps (JWT), `/admin` (admin JWT), with the vendor room servers'
//! paths, fields and envelope. Rooms are stored in [`relay_rooms::Store`]; who is watching is in
//! memory ([`Presence`]); whether the anchor is on air comes from the media path, through
//! [`LiveFacts`], and the media path hears of rooms through [`PublishHooks`]. [`Rooms::router`]
//! gives the routes with their OpenAPI document; [`watch_rooms`] and [`reconcile_gifts`] are the
//! jobs to run beside them.

mod audience;
mod auth;
mod error;
mod events;
mod gift_rules;
mod gifts;
mod hooks;
mod jobs;
mod likes;
mod moderation;
mod pk;
mod publish;
mod rooms;
mod settings;
mod users;
mod views;

pub use error::{store_error, CODE_BAD_STATE};
pub use events::EventHub;
pub use hooks::{LiveFacts, NoMedia, PublishDecision, PublishHooks};
pub use jobs::{reconcile_gifts, watch_rooms};
pub use settings::RoomsSettings;
pub use views::PlayLinks;

use parking_lot::{Mutex, MutexGuard};
use relay_control::auth::{sign_push_url, PushKeys, PushScheme};
use relay_control::{ApiError, Page, PageQuery};
use relay_rooms::{NewEvent, Payments, Presence, Room, RoomStatus, Store, WebhookHandle};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use utoipa_axum::router::OpenApiRouter;
use views::{LiveFigures, LiveInfo, StreamStatus};

/// The schemas of the room API that no route names directly, for the cloud's document (the
/// paths come from the routes themselves, see [`Rooms::router`]).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    views::LiveInfo,
    views::HeartbeatView,
    views::TokenView,
    views::UserView,
    views::PkInfo,
    pk::PkView,
    pk::RelayView,
    moderation::KickView,
    moderation::MuteView,
    moderation::BanView,
    relay_rooms::Gift,
    relay_rooms::NewGift,
    relay_rooms::GiftRecord,
    relay_rooms::NewGiftRecord,
    relay_rooms::GiftStatus,
    gifts::GiftTotalsView,
    gifts::SendBody,
    gifts::ConfirmBody
)))]
struct RoomsDoc;

/// Everything the room routes and the media hooks share.
pub struct Rooms {
    /// Where rooms, users, events and gifts are stored.
    pub store: Store,
    /// The room API's settings.
    pub settings: RoomsSettings,
    publish_auth: PushScheme,
    push_keys: PushKeys,
    /// What the media path knows: which streams are live, who watches them.
    facts: Arc<dyn LiveFacts>,
    presence: Mutex<Presence>,
    /// What happens in each room, for its clients (SSE).
    pub events: events::EventHub,
    /// Likes and page views not yet stored, by room.
    tallies: Mutex<likes::Tallies>,
    /// The counts last sent to each live room's clients, to send only changes.
    sent_counts: Mutex<HashMap<String, (u64, u64)>>,
    /// Live rooms' media state, by `live_id`.
    watched: Mutex<HashMap<String, Watch>>,
    /// The webhook sender, told when an event is written so it goes out at once; `None` when
    /// `callback_addr` is empty (events are still kept in the outbox).
    webhooks: Option<WebhookHandle>,
    /// The open PK each room is in, by `live_id`, for room views.
    pk_links: Mutex<Reloaded<HashMap<String, pk::PkLink>>>,
    /// Kicks and mutes in force.
    sanctions: Mutex<Reloaded<moderation::SanctionCache>>,
    /// Gift payments through the app's payment service; `None` when `gift_addr` is empty
    /// (sending gifts is refused, the catalogue and the ledger still work).
    payments: Option<Payments>,
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

/// A cache the watchdog reloads from the store and this node's requests change in between. A
/// reload whose read began before a local change is dropped (the next one has the change), so
/// a kick or a PK's end made here never flickers back for a moment.
#[derive(Debug, Default)]
struct Reloaded<T> {
    value: T,
    /// Local changes so far.
    changes: u64,
}

impl<T> Reloaded<T> {
    /// The value, to change it.
    fn change(&mut self) -> &mut T {
        self.changes += 1;
        &mut self.value
    }

    /// Replaces the value with one read from the store after `seen` local changes, unless
    /// another local change came since.
    fn reload(&mut self, seen: u64, value: T) {
        if self.changes == seen {
            self.value = value;
        }
    }
}

/// What the watchdog tracks of a live room.
#[derive(Debug, Clone)]
struct Watch {
    stream_name: String,
    anchor_id: String,
    /// Since when the stream has been absent (the room's start, or the last unpublish); `None`
    /// while it is being published.
    absent_since: Option<Instant>,
    /// Whether it has been published since the room went live.
    published: bool,
}

/// Now, in Unix milliseconds.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in Unix seconds.
pub fn unix_s() -> i64 {
    unix_ms() / 1000
}

/// `router` with every operation of its document tagged `tag` (its resource), so that OpenAPI
/// viewers group the operations as the code does.
pub fn tagged<S: Clone + Send + Sync + 'static>(
    mut router: OpenApiRouter<S>,
    tag: &str,
) -> OpenApiRouter<S> {
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .tags
                .get_or_insert_with(Vec::new)
                .push(tag.to_owned());
        }
    }
    router
}

/// A webhook event about `room`.
pub fn room_event(kind: &str, room: &Room, extra: serde_json::Value) -> NewEvent {
    let mut body = serde_json::json!({
        "live_id": room.live_id,
        "anchor_id": room.anchor_id,
        "status": room.status.as_str(),
    });
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    NewEvent::new(kind, body)
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
            events: events::EventHub::new(unix_ms()),
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
    fn emit_status(&self, room: &Room) {
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
    fn emit_counts(&self, now: Instant) {
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
    fn viewers_of(&self, stream_name: &str, now: Instant) -> u64 {
        self.facts.viewers(&self.stream_key(stream_name), now)
    }

    /// An event was written: the sender takes it now rather than at its next poll.
    fn wake_webhooks(&self) {
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

    /// `/server`, `/client` and `/admin`, with their OpenAPI document: every path in it is
    /// a route, and every route is in it.
    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::with_openapi(<RoomsDoc as utoipa::OpenApi>::openapi())
            .merge(tagged(users::router(self.clone()), "users"))
            .merge(tagged(rooms::router(self.clone()), "rooms"))
            .merge(tagged(audience::router(self.clone()), "audience"))
            .merge(tagged(events::router(self.clone()), "events"))
            .merge(tagged(likes::router(self.clone()), "likes"))
            .merge(tagged(gifts::router(self.clone()), "gifts"))
            .merge(tagged(pk::router(self.clone()), "pk"))
            .merge(tagged(moderation::router(self.clone()), "moderation"))
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        self.presence.lock()
    }

    /// Whether `user_id` has joined `live_id` and is still beating (on this node).
    pub fn is_online(&self, live_id: &str, user_id: &str) -> bool {
        self.presence().is_online(live_id, user_id)
    }

    /// The stream key of a room's stream on the media path: `app/<stream name>`.
    fn stream_key(&self, stream_name: &str) -> String {
        format!("{}/{stream_name}", self.settings.publish_app)
    }

    /// Whether a room's stream is being published now.
    fn is_publishing(&self, stream_name: &str) -> bool {
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
    fn figures(&self, room: &Room) -> LiveFigures {
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
    pub async fn list(&self, query: &rooms::ListQuery) -> Result<Page<Room>, ApiError> {
        let statuses = query.statuses()?;
        self.store
            .list_rooms(&statuses, query.page())
            .await
            .map_err(store_error)
    }

    /// Rooms by status, paged, as viewers see them.
    pub async fn list_views(&self, query: &rooms::ListQuery) -> Result<Page<LiveInfo>, ApiError> {
        Ok(self.list(query).await?.map(|room| self.view(room)))
    }

    /// The viewers online in `live_id`, paged by user id.
    pub fn online_page(
        &self,
        live_id: &str,
        page: PageQuery,
        now: Instant,
    ) -> Result<Page<views::OnlineUser>, ApiError> {
        let (num, size) = page.checked()?;
        let presence = self.presence();
        let total = presence.online_count(live_id);
        let list = presence
            .viewers(live_id, (num - 1).saturating_mul(size), size)
            .into_iter()
            .map(|(user_id, joined)| views::OnlineUser {
                user_id,
                online_s: now.saturating_duration_since(joined).as_secs(),
            })
            .collect();
        Ok(Page::new(total, num, size, list))
    }

    /// Starts watching a room that went live (by the API or by its first publish).
    fn watch(&self, room: &Room) {
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
    fn ended(&self, room: &Room) {
        self.wake_webhooks();
        self.emit_status(room);
        self.forget(&room.live_id);
    }

    fn forget(&self, live_id: &str) {
        self.watched.lock().remove(live_id);
        self.sent_counts.lock().remove(live_id);
        self.presence().close_room(live_id);
        self.events.close(live_id);
    }
}

fn stopped_event(room: &Room) -> NewEvent {
    let duration_s = match (room.started_at, room.stopped_at) {
        (Some(started), Some(stopped)) => (stopped - started).max(0) / 1000,
        _ => 0,
    };
    room_event(
        "live_stopped",
        room,
        serde_json::json!({
            "reason": room.stop_reason.map(|r| r.as_str()),
            "duration_s": duration_s,
            "peak_viewers": room.peak_viewers,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_rooms::{Backoff, PresenceConfig};
    use std::time::Duration;

    /// Settings as the cloud's defaults make them, the rooms stored in `dir`.
    pub(crate) fn settings_in(dir: &std::path::Path) -> RoomsSettings {
        let seconds = Duration::from_secs;
        RoomsSettings {
            database_url: format!("sqlite://{}/rooms.db", dir.display()),
            jwt_key: relay_control::auth::SecretKey::new(
                b"a-test-jwt-key-of-32-characters!".to_vec(),
            )
            .expect("a key"),
            server_auth: None,
            publish_expire: seconds(86_400),
            publish_base_url: "rtmp://127.0.0.1:1935/live".to_owned(),
            publish_app: "live".to_owned(),
            play: PlayLinks {
                bases: vec!["http://127.0.0.1:7001/live".to_owned()],
                key: None,
                expire: seconds(3600),
            },
            auto_start_on_publish: true,
            presence: PresenceConfig {
                heartbeat_interval: seconds(10),
                expiry: seconds(30),
            },
            publish_grace: seconds(30),
            anchor_grace: seconds(300),
            callback: None,
            callback_backoff: Backoff {
                first: seconds(5),
                max: seconds(3600),
            },
            pk_invite_timeout: seconds(30),
            kick_block: seconds(600),
            gift_payment: None,
            gift_max_custom_amount: 1_000_000,
            gift_reconcile: seconds(10),
        }
    }

    /// A `Rooms` on a fresh SQLite file in `dir` (created), without a media path.
    pub(crate) async fn rooms_in(dir: &std::path::Path) -> Arc<Rooms> {
        std::fs::create_dir_all(dir).expect("a test directory");
        let settings = settings_in(dir);
        let store = Store::open(&settings.database_url).await.expect("a store");
        Rooms::new(
            store,
            settings,
            PushScheme::None,
            PushKeys::default(),
            Arc::new(NoMedia),
            AppLinks::default(),
        )
    }

    /// Every operation of the document is a route: asked with its method (path parameters
    /// filled in, no body, no credentials), it answers something other than the router's
    /// fallbacks. And no two operations share an id.
    #[tokio::test]
    async fn every_documented_operation_is_routed_under_an_id_of_its_own() {
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use tower::ServiceExt;

        const UNROUTED: StatusCode = StatusCode::IM_A_TEAPOT;
        let dir = std::env::temp_dir().join(format!("rooms-api-routes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rooms = rooms_in(&dir).await;
        let (router, document) = rooms.router().split_for_parts();
        let router = router
            .fallback(|| async { UNROUTED })
            .method_not_allowed_fallback(|| async { UNROUTED });
        let document = serde_json::to_value(&document).expect("a document");
        let paths = document["paths"].as_object().expect("paths");
        assert!(paths.len() > 50, "{} paths", paths.len());
        let mut ids = std::collections::HashSet::new();
        for (path, item) in paths {
            let uri: String = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "p1"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            for (method, operation) in item.as_object().expect("a path item") {
                let Ok(method) = method.to_uppercase().parse::<axum::http::Method>() else {
                    continue;
                };
                let id = operation["operationId"].as_str().expect("an operation id");
                assert!(ids.insert(id.to_owned()), "operation id {id} used twice");
                let request = Request::builder()
                    .method(method.clone())
                    .uri(&uri)
                    .body(Body::empty())
                    .expect("a request");
                let answer = router.clone().oneshot(request).await.expect("an answer");
                assert_ne!(answer.status(), UNROUTED, "{method} {path} is not routed");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_reload_read_before_a_local_change_is_dropped() {
        let mut cache: Reloaded<Vec<&str>> = Reloaded::default();
        let seen = cache.changes;
        cache.change().push("kicked here");
        cache.reload(seen, vec!["read before the kick"]);
        assert_eq!(cache.value, ["kicked here"]);
        let seen = cache.changes;
        cache.reload(seen, vec!["kicked here", "kicked elsewhere"]);
        assert_eq!(cache.value, ["kicked here", "kicked elsewhere"]);
    }

    /// The `room_json` fuzz corpus and its crash inputs (fuzz/corpus, fuzz/regressions) through
    /// every JSON request body of the room API, parsed as `ApiJson` parses them (the bodies are
    /// private to this crate, so the replay is here).
    #[test]
    fn request_bodies_take_the_room_json_corpus() {
        use super::{gifts, likes, moderation, pk, rooms, users};
        use fuzz_harness::json_body;
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut parsed_users = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join("room_json")) else {
                continue;
            };
            for entry in entries {
                let body = std::fs::read(entry.expect("an entry").path()).expect("an input");
                parsed_users += usize::from(json_body::<users::UserBody>(&body).is_some());
                json_body::<users::UsersBody>(&body);
                json_body::<users::UserUpdateBody>(&body);
                json_body::<rooms::RoomBody>(&body);
                json_body::<rooms::AdminStopBody>(&body);
                json_body::<likes::LikeBody>(&body);
                json_body::<gifts::SendBody>(&body);
                json_body::<gifts::ConfirmBody>(&body);
                json_body::<moderation::KickBody>(&body);
                json_body::<moderation::MuteBody>(&body);
                json_body::<moderation::BanBody>(&body);
                json_body::<pk::InviteBody>(&body);
                json_body::<pk::AnswerBody>(&body);
                json_body::<pk::RelayStartBody>(&body);
            }
        }
        assert_eq!(parsed_users, 1, "the corpus's user seed is a user body");
    }
}
