//! The live-room API on the cloud's `api_addr`: `/server` for the app's back end (signed
//! requests), `/client` for apps (JWT), `/admin` (admin JWT), with the vendor room servers'
//! paths, fields and envelope. Rooms are stored in [`relay_rooms::Store`]; who is watching, the
//! rooms' events and the other live state are in memory or shared through Redis
//! ([`LiveState`]); whether the anchor is on air comes from the
//! media path, through [`LiveFacts`], and the media path hears of rooms through
//! [`PublishHooks`]. [`Rooms::router`] gives the routes with their OpenAPI document;
//! [`watch_rooms`] and [`reconcile_gifts`] are the jobs to run beside them.
//!
//! The files are layered, each using only those below it:
//! - at the bottom, what has no handler: the clock (`clock`), errors, settings, views, the
//!   webhook events (`webhook_events`), the chat rules and review call (`chat_rules`,
//!   `chat_review`), and the in-memory state each resource keeps: the event
//!   hub (`event_hub`), like tallies (`tallies`), PK links (`pk_links`), the sanction cache
//!   (`sanctions`), in `reloaded` caches where the watchdog reloads them;
//! - `live`: the rooms' live state (events, presence, likes, kicks, counts, streams, rate
//!   windows) in this node's memory or in Redis shared by every node, over the event hub;
//! - `state`: [`Rooms`] and its domain methods, over the bottom;
//! - `auth`: who calls, read with the state's keys;
//! - the resources' handlers (`users`, `rooms`, `audience`, `events` with its
//!   token (`events_token`) and WebSocket variant (`events_ws`), `likes`, `gifts` over
//!   `gift_rules`, `pk`, `moderation`, `chat`, the outbox's dead letters `webhooks`), the
//!   media hooks (`publish`) and the jobs (`jobs`);
//! - this file, which only declares, re-exports and assembles the routes and their document.

mod audience;
mod auth;
mod chat;
mod chat_review;
mod chat_rules;
mod clock;
mod error;
mod event_hub;
mod events;
mod events_token;
mod events_ws;
mod gift_rules;
mod gifts;
mod hooks;
mod jobs;
mod likes;
mod list_query;
mod live;
mod moderation;
mod pk;
mod pk_links;
mod publish;
mod reloaded;
mod rooms;
mod sanctions;
mod settings;
mod state;
mod tagging;
mod tallies;
mod users;
mod views;
mod webhook_events;
mod webhooks;

pub use chat_review::{ReviewConfig, ReviewOnError};
pub use chat_rules::{BlockedWordsAction, WordFilter};
pub use clock::{unix_ms, unix_s};
pub use error::{store_error, CODE_BAD_STATE};
pub use event_hub::EventHub;
pub use hooks::{LiveFacts, NoMedia, PublishDecision, PublishHooks};
pub use jobs::{reconcile_gifts, watch_rooms};
pub use live::{LiveState, RedisConfig, RedisState, Seat, SeatPage};
pub use settings::{ChatSettings, RoomsSettings};
pub use state::{AppLinks, Rooms};
pub use tagging::tagged;
pub use views::PlayLinks;
pub use webhook_events::room_event;

use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

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
    gift_rules::SendBody,
    gifts::ConfirmBody,
    chat::MessageView,
    chat_rules::Style
)))]
struct RoomsDoc;

impl Rooms {
    /// `/server`, `/client` and `/admin`, with their OpenAPI document: every path in it is
    /// a route, and every route is in it.
    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::with_openapi(<RoomsDoc as utoipa::OpenApi>::openapi())
            .merge(tagged(users::router(self.clone()), "users"))
            .merge(tagged(rooms::router(self.clone()), "rooms"))
            .merge(tagged(audience::router(self.clone()), "audience"))
            .merge(tagged(events::router(self.clone()), "events"))
            .merge(tagged(events_token::router(self.clone()), "events"))
            .merge(tagged(events_ws::router(self.clone()), "events"))
            .merge(tagged(likes::router(self.clone()), "likes"))
            .merge(tagged(gifts::router(self.clone()), "gifts"))
            .merge(tagged(pk::router(self.clone()), "pk"))
            .merge(tagged(moderation::router(self.clone()), "moderation"))
            .merge(tagged(chat::router(self.clone()), "chat"))
            .merge(tagged(webhooks::router(self.clone()), "webhooks"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_control::auth::{PushKeys, PushScheme};
    use relay_rooms::{Backoff, PresenceConfig, Store};
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
            chat: ChatSettings::default(),
            events_token_ttl: seconds(60),
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

    /// The `room_json` fuzz corpus and its crash inputs (fuzz/corpus, fuzz/regressions) through
    /// every JSON request body of the room API, parsed as `ApiJson` parses them (the bodies are
    /// private to this crate, so the replay is here).
    #[test]
    fn request_bodies_take_the_room_json_corpus() {
        use super::{
            chat_rules, events_ws, gift_rules, gifts, likes, moderation, pk, rooms, users,
        };
        use fuzz_harness::json_body;
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut parsed_users = 0;
        let mut parsed_messages = 0;
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
                json_body::<gift_rules::SendBody>(&body);
                json_body::<gifts::ConfirmBody>(&body);
                json_body::<moderation::KickBody>(&body);
                json_body::<moderation::MuteBody>(&body);
                json_body::<moderation::BanBody>(&body);
                json_body::<pk::InviteBody>(&body);
                json_body::<pk::AnswerBody>(&body);
                json_body::<pk::RelayStartBody>(&body);
                if let Some(message) = json_body::<chat_rules::MessageBody>(&body) {
                    // Its checks take whatever parses, without a panic.
                    let checked = chat_rules::check_message(&message, 200);
                    parsed_messages += usize::from(checked.is_ok());
                }
                json_body::<chat_rules::SystemMessageBody>(&body);
                json_body::<events_ws::ClientFrame>(&body);
            }
        }
        assert_eq!(parsed_users, 1, "the corpus's user seed is a user body");
        assert_eq!(
            parsed_messages, 1,
            "the corpus's message seed is a valid message body"
        );
    }
}
