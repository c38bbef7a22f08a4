//! Moderation: kicking a user from a room (removed from presence, re-joining refused for
//! `kick_block_s`), muting a user in a room (no likes or gifts: [`Rooms::check_not_muted`] is what
//! that code asks), and banning an anchor (refused at room create, start and RTMP publish; its
//! live rooms end with reason `banned`).
//!
//! All of it is stored, so it outlives a restart and reaches every node. Kicks and mutes are
//! also cached in memory, because a mute is checked on every like: the node that applies one
//! caches it at once, and every node reloads them from the store every few seconds. With
//! shared state (Redis) a kick or mute is also a key with its expiry, which every node checks,
//! so it holds everywhere at once. Bans are
//! read from the store where they are checked (create, start, publish: none of them hot).

use crate::auth::{signed, AdminCaller, ClientCaller};
use crate::clock::unix_ms;
use crate::error::store_error;
use crate::rooms::anchor_only;
use crate::sanctions::SanctionCache;
use crate::state::Rooms;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use relay_control::{ApiError, ApiJson, Reply};
use relay_rooms::{Ban, Room, SanctionKind, StopReason};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Code of a request refused because the anchor is banned.
pub const CODE_BANNED: u32 = 604;
/// Code of a join refused because the user was kicked from the room.
pub const CODE_KICKED: u32 = 605;
/// Code of a like or gift refused because the user is muted in the room.
pub const CODE_MUTED: u32 = 606;

/// The longest mute, in seconds (30 days).
const MAX_MUTE_S: u64 = 30 * 86_400;

fn ban_message(ban: &Ban) -> String {
    let until = match ban.until_at {
        Some(at) => format!("until {at} (Unix ms)"),
        None => "until the ban is lifted".to_owned(),
    };
    let reason = if ban.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", ban.reason)
    };
    format!("anchor {} is banned {until}{reason}", ban.user_id)
}

impl Rooms {
    /// When the kick or mute of `kind` on `user_id` in `live_id` ends (Unix ms), if it is in
    /// force now.
    async fn sanctioned_until(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<Option<i64>, ApiError> {
        let key = (live_id.to_owned(), user_id.to_owned(), kind);
        let cached = self
            .sanctions
            .lock()
            .value
            .get(&key)
            .copied()
            .filter(|until| *until > unix_ms());
        match cached {
            Some(until) => Ok(Some(until)),
            None => self.live.sanctioned_until(live_id, user_id, kind).await,
        }
    }

    /// Whether `user_id` is muted in `live_id` now: a muted user may not like or send gifts.
    /// From memory (no database access), so it can be asked on every like.
    #[cfg(test)]
    pub async fn is_muted(&self, live_id: &str, user_id: &str) -> bool {
        matches!(
            self.sanctioned_until(live_id, user_id, SanctionKind::Mute)
                .await,
            Ok(Some(_))
        )
    }

    /// 403 code 606 when `user_id` is muted in `live_id`, saying until when: the answer the
    /// like and gift routes give a muted user.
    pub async fn check_not_muted(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        match self
            .sanctioned_until(live_id, user_id, SanctionKind::Mute)
            .await?
        {
            None => Ok(()),
            Some(until) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("you are muted in room {live_id} until {until} (Unix ms)"),
            )
            .with_code(CODE_MUTED)),
        }
    }

    /// 403 code 605 when `user_id` was kicked from `live_id` and may not join yet.
    pub(super) async fn check_not_kicked(
        &self,
        live_id: &str,
        user_id: &str,
    ) -> Result<(), ApiError> {
        match self
            .sanctioned_until(live_id, user_id, SanctionKind::Kick)
            .await?
        {
            None => Ok(()),
            Some(until) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "you were removed from room {live_id}; you may join it again after {until} (Unix ms)"
                ),
            )
            .with_code(CODE_KICKED)),
        }
    }

    /// 403 code 604 when `anchor_id` is banned now.
    pub async fn check_not_banned(&self, anchor_id: &str) -> Result<(), ApiError> {
        match self
            .store
            .active_ban(anchor_id)
            .await
            .map_err(store_error)?
        {
            None => Ok(()),
            Some(ban) => {
                Err(ApiError::new(StatusCode::FORBIDDEN, ban_message(&ban)).with_code(CODE_BANNED))
            }
        }
    }

    /// The refusal of a publish when the room's anchor is banned (`None`: not banned).
    pub(super) async fn publish_ban(&self, anchor_id: &str) -> Option<String> {
        match self.store.active_ban(anchor_id).await {
            Ok(ban) => ban.map(|ban| ban_message(&ban)),
            Err(error) => {
                tracing::error!(%error, anchor_id, "rooms store unavailable at publish (ban)");
                Some("room service unavailable".to_owned())
            }
        }
    }

    /// Stores a kick or mute and caches it.
    async fn sanction(
        &self,
        room: &Room,
        user_id: &str,
        kind: SanctionKind,
        until: i64,
        by: &str,
    ) -> Result<(), ApiError> {
        if user_id == room.anchor_id {
            return Err(ApiError::bad_request(
                "the room's anchor cannot be kicked or muted in its own room",
            ));
        }
        self.store
            .sanction(&room.live_id, user_id, kind, until, by)
            .await
            .map_err(store_error)?;
        self.sanctions
            .lock()
            .change()
            .insert((room.live_id.clone(), user_id.to_owned(), kind), until);
        // Stored and cached here; other nodes see it at once through the shared state, or at
        // their next reload when it is unavailable (the 503 says so).
        self.live
            .sanction(&room.live_id, user_id, kind, until)
            .await
    }

    /// Removes `user_id` from `room` and refuses its re-join for `kick_block_s`; the room's
    /// clients get a `kicked` event.
    pub async fn kick(&self, room: &Room, user_id: &str, by: &str) -> Result<KickView, ApiError> {
        let block_ms = i64::try_from(self.settings.kick_block.as_millis()).unwrap_or(i64::MAX);
        let until = unix_ms().saturating_add(block_ms);
        self.sanction(room, user_id, SanctionKind::Kick, until, by)
            .await?;
        let was_online = self.live.leave(&room.live_id, user_id).await?;
        self.tell(
            &room.live_id,
            "kicked",
            serde_json::json!({ "user_id": user_id, "until": until }),
        )
        .await;
        tracing::info!(live_id = room.live_id, user_id, by, "user kicked");
        Ok(KickView {
            live_id: room.live_id.clone(),
            user_id: user_id.to_owned(),
            was_online,
            until,
        })
    }

    /// Mutes `user_id` in `room` for `duration_s` (0 lifts a mute); the room's clients get a
    /// `muted` event.
    pub async fn mute(
        &self,
        room: &Room,
        user_id: &str,
        duration_s: u64,
        by: &str,
    ) -> Result<MuteView, ApiError> {
        if duration_s > MAX_MUTE_S {
            return Err(ApiError::bad_request(format!(
                "duration_s is at most {MAX_MUTE_S} (30 days); 0 lifts the mute"
            )));
        }
        let until = if duration_s == 0 {
            self.store
                .lift_sanction(&room.live_id, user_id, SanctionKind::Mute)
                .await
                .map_err(store_error)?;
            let key = (room.live_id.clone(), user_id.to_owned(), SanctionKind::Mute);
            self.sanctions.lock().change().remove(&key);
            self.live
                .lift(&room.live_id, user_id, SanctionKind::Mute)
                .await?;
            None
        } else {
            let until = unix_ms().saturating_add((duration_s * 1000) as i64);
            self.sanction(room, user_id, SanctionKind::Mute, until, by)
                .await?;
            Some(until)
        };
        self.tell(
            &room.live_id,
            "muted",
            serde_json::json!({ "user_id": user_id, "muted": until.is_some(), "until": until }),
        )
        .await;
        Ok(MuteView {
            live_id: room.live_id.clone(),
            user_id: user_id.to_owned(),
            muted: until.is_some(),
            until,
        })
    }

    /// Bans `user_id` and ends its live rooms (reason `banned`, the ban's reason as their note).
    pub async fn ban(&self, user_id: &str, body: BanBody, by: &str) -> Result<BanView, ApiError> {
        let until = body.until.filter(|until| *until != 0);
        let ban = self
            .store
            .ban_anchor(user_id, &body.reason, until, by)
            .await
            .map_err(store_error)?;
        tracing::info!(user_id, by, reason = ban.reason, "anchor banned");
        let live = self
            .store
            .live_rooms_of(user_id)
            .await
            .map_err(store_error)?;
        let mut stopped_rooms = Vec::new();
        for room in live {
            let note = (!ban.reason.is_empty()).then_some(ban.reason.as_str());
            match self.stop_noted(&room, StopReason::Banned, note).await {
                Ok(stopped) => stopped_rooms.push(stopped.live_id),
                // Ended meanwhile by something else: nothing left to stop.
                Err(error) if error.status == StatusCode::CONFLICT => {}
                Err(error) => return Err(error),
            }
        }
        Ok(BanView::new(ban, stopped_rooms))
    }

    /// Reloads the kicks and mutes in force from the store (set on other nodes too).
    pub(super) async fn reload_sanctions(&self) {
        let seen = self.sanctions.lock().changes;
        match self.store.active_sanctions().await {
            Ok(all) => {
                let cache: SanctionCache = all
                    .into_iter()
                    .map(|s| ((s.live_id, s.user_id, s.kind), s.until_at))
                    .collect();
                self.sanctions.lock().reload(seen, cache);
            }
            Err(error) => tracing::warn!(%error, "cannot reload kicks and mutes"),
        }
    }
}

/// Kicks, mutes and bans: `/server` (behind the server signature), the anchor's `/client`
/// and `/admin`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    let server = OpenApiRouter::new()
        .routes(routes!(server_kick))
        .routes(routes!(server_mute))
        .routes(routes!(server_ban, server_lift_ban, server_ban_info));
    signed(&rooms, server)
        .routes(routes!(anchor_kick))
        .routes(routes!(anchor_mute))
        .routes(routes!(admin_ban, admin_lift_ban, admin_ban_info))
        .with_state(rooms)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KickBody {
    pub user_id: String,
}

/// What a kick did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KickView {
    pub live_id: String,
    pub user_id: String,
    /// Whether the user was in the room (it is not any more).
    pub was_online: bool,
    /// Joining the room again is refused until then (Unix ms).
    pub until: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    pub user_id: String,
    /// How long, up to 30 days; 0 lifts the mute.
    pub duration_s: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MuteView {
    pub live_id: String,
    pub user_id: String,
    pub muted: bool,
    /// Unix ms; absent when the mute was lifted.
    pub until: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanBody {
    /// Why, for the record and the anchor (at most 500 characters).
    #[serde(default)]
    pub reason: String,
    /// Until when (Unix ms, in the future); absent, null or 0: until lifted.
    pub until: Option<i64>,
}

/// A ban in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BanView {
    pub user_id: String,
    pub reason: String,
    /// Unix ms; null: until lifted.
    pub until: Option<i64>,
    /// The admin who banned, "" for the app's server.
    pub banned_by: String,
    pub created_at: i64,
    /// The anchor's rooms this ban stopped (reason `banned`).
    pub stopped_rooms: Vec<String>,
}

impl BanView {
    fn new(ban: Ban, stopped_rooms: Vec<String>) -> Self {
        BanView {
            user_id: ban.user_id,
            reason: ban.reason,
            until: ban.until_at,
            banned_by: ban.banned_by,
            created_at: ban.created_at,
            stopped_rooms,
        }
    }
}

/// The ban of `user_id` in force, or 404.
async fn ban_info(rooms: &Rooms, user_id: &str) -> Result<Reply<BanView>, ApiError> {
    let ban = rooms
        .store
        .active_ban(user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("anchor {user_id} is not banned")))?;
    Ok(Reply::ok(BanView::new(ban, Vec::new())))
}

/// Lifts the ban of `user_id`, or 404 when there was none.
async fn lift_ban(rooms: &Rooms, user_id: &str) -> Result<Reply<serde_json::Value>, ApiError> {
    if !rooms.store.lift_ban(user_id).await.map_err(store_error)? {
        return Err(ApiError::not_found(format!(
            "anchor {user_id} is not banned"
        )));
    }
    tracing::info!(user_id, "anchor ban lifted");
    Ok(Reply::ok(serde_json::json!({ "user_id": user_id })))
}

/// Removes a user from a room; it may not join again for `kick_block_s`.
#[utoipa::path(post, path = "/server/live/{live_id}/kick", params(("live_id" = String, Path)),
    request_body = KickBody, responses((status = 200, body = Reply<KickView>), (status = 400),
    (status = 401), (status = 404)))]
pub async fn server_kick(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<KickBody>, ApiError>,
) -> Result<Reply<KickView>, ApiError> {
    let ApiJson(body) = body?;
    let room = rooms.room(&live_id).await?;
    Ok(Reply::ok(rooms.kick(&room, &body.user_id, "").await?))
}

/// Mutes a user in a room (no likes, no gifts) for `duration_s`; 0 lifts it.
#[utoipa::path(post, path = "/server/live/{live_id}/mute", params(("live_id" = String, Path)),
    request_body = MuteBody, responses((status = 200, body = Reply<MuteView>), (status = 400),
    (status = 401), (status = 404)))]
pub async fn server_mute(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<MuteBody>, ApiError>,
) -> Result<Reply<MuteView>, ApiError> {
    let ApiJson(body) = body?;
    let room = rooms.room(&live_id).await?;
    Ok(Reply::ok(
        rooms
            .mute(&room, &body.user_id, body.duration_s, "")
            .await?,
    ))
}

/// Room `live_id`, or 403 unless `caller` is its anchor.
async fn own_room(
    rooms: &Rooms,
    caller: &ClientCaller,
    live_id: &str,
    action: &str,
) -> Result<Room, ApiError> {
    let room = rooms.room(live_id).await?;
    anchor_only(caller, &room, action)?;
    Ok(room)
}

/// The anchor removes a user from its room.
#[utoipa::path(post, path = "/client/live/room/{live_id}/kick", params(("live_id" = String, Path)),
    request_body = KickBody, responses((status = 200, body = Reply<KickView>), (status = 400),
    (status = 401), (status = 403), (status = 404)))]
pub async fn anchor_kick(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<KickBody>, ApiError>,
) -> Result<Reply<KickView>, ApiError> {
    let ApiJson(body) = body?;
    let room = own_room(&rooms, &caller, &live_id, "kick users from").await?;
    Ok(Reply::ok(
        rooms.kick(&room, &body.user_id, &caller.user_id).await?,
    ))
}

/// The anchor mutes a user in its room (0 lifts it).
#[utoipa::path(post, path = "/client/live/room/{live_id}/mute", params(("live_id" = String, Path)),
    request_body = MuteBody, responses((status = 200, body = Reply<MuteView>), (status = 400),
    (status = 401), (status = 403), (status = 404)))]
pub async fn anchor_mute(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<MuteBody>, ApiError>,
) -> Result<Reply<MuteView>, ApiError> {
    let ApiJson(body) = body?;
    let room = own_room(&rooms, &caller, &live_id, "mute users in").await?;
    let by = caller.user_id;
    Ok(Reply::ok(
        rooms
            .mute(&room, &body.user_id, body.duration_s, &by)
            .await?,
    ))
}

/// Bans a registered anchor: refused at room create, start and publish; its live rooms end
/// (reason `banned`).
#[utoipa::path(post, path = "/server/anchor/{user_id}/ban", params(("user_id" = String, Path)),
    request_body = BanBody, responses((status = 200, body = Reply<BanView>), (status = 400),
    (status = 401), (status = 404)))]
pub async fn server_ban(
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
    body: Result<ApiJson<BanBody>, ApiError>,
) -> Result<Reply<BanView>, ApiError> {
    let ApiJson(body) = body?;
    Ok(Reply::ok(rooms.ban(&user_id, body, "").await?))
}

/// Lifts an anchor's ban.
#[utoipa::path(delete, path = "/server/anchor/{user_id}/ban", params(("user_id" = String, Path)),
    responses((status = 200, body = Reply<Object>), (status = 401), (status = 404)))]
pub async fn server_lift_ban(
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    lift_ban(&rooms, &user_id).await
}

/// The anchor's ban in force (404 when not banned).
#[utoipa::path(get, path = "/server/anchor/{user_id}/ban", params(("user_id" = String, Path)),
    responses((status = 200, body = Reply<BanView>), (status = 401), (status = 404)))]
pub async fn server_ban_info(
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
) -> Result<Reply<BanView>, ApiError> {
    ban_info(&rooms, &user_id).await
}

/// An operator bans an anchor (as the server route, recorded with the admin's id).
#[utoipa::path(post, path = "/admin/anchor/{user_id}/ban", params(("user_id" = String, Path)),
    request_body = BanBody, responses((status = 200, body = Reply<BanView>), (status = 400),
    (status = 401), (status = 403), (status = 404)))]
pub async fn admin_ban(
    admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
    body: Result<ApiJson<BanBody>, ApiError>,
) -> Result<Reply<BanView>, ApiError> {
    let ApiJson(body) = body?;
    Ok(Reply::ok(rooms.ban(&user_id, body, &admin.user_id).await?))
}

/// An operator lifts an anchor's ban.
#[utoipa::path(delete, path = "/admin/anchor/{user_id}/ban", params(("user_id" = String, Path)),
    responses((status = 200, body = Reply<Object>), (status = 401), (status = 403), (status = 404)))]
pub async fn admin_lift_ban(
    _admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    lift_ban(&rooms, &user_id).await
}

/// The anchor's ban in force, for operators.
#[utoipa::path(get, path = "/admin/anchor/{user_id}/ban", params(("user_id" = String, Path)),
    responses((status = 200, body = Reply<BanView>), (status = 401), (status = 403), (status = 404)))]
pub async fn admin_ban_info(
    _admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(user_id): Path<String>,
) -> Result<Reply<BanView>, ApiError> {
    ban_info(&rooms, &user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_rooms::{NewRoom, NewUser};

    async fn rooms_in(dir: &std::path::Path) -> Arc<Rooms> {
        crate::tests::rooms_in(dir).await
    }

    #[tokio::test]
    async fn a_muted_user_is_refused_likes_and_gifts_until_the_mute_ends() {
        let dir = std::env::temp_dir().join(format!("cloud-mute-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rooms = rooms_in(&dir).await;
        for user_id in ["ann", "vic"] {
            let user = NewUser {
                user_id: user_id.into(),
                ..NewUser::default()
            };
            rooms.store.register_user(&user).await.unwrap();
        }
        let new = NewRoom {
            anchor_id: "ann".into(),
            title: "show".into(),
            ..NewRoom::default()
        };
        let room = rooms.store.create_room(&new, None).await.unwrap();
        let other = rooms.store.create_room(&new, None).await.unwrap();
        assert!(!rooms.is_muted(&room.live_id, "vic").await);

        let muted = rooms.mute(&room, "vic", 60, "ann").await.unwrap();
        assert!(muted.muted);
        assert!(rooms.is_muted(&room.live_id, "vic").await);
        assert!(
            !rooms.is_muted(&other.live_id, "vic").await,
            "one room only"
        );
        assert!(!rooms.is_muted(&room.live_id, "bob").await);
        // What the like and gift routes answer a muted user.
        let refusal = rooms
            .check_not_muted(&room.live_id, "vic")
            .await
            .unwrap_err();
        assert_eq!(
            (refusal.status, refusal.code),
            (StatusCode::FORBIDDEN, CODE_MUTED)
        );
        assert!(refusal.message.contains("muted"), "{}", refusal.message);
        rooms.check_not_muted(&room.live_id, "bob").await.unwrap();
        let anchor = rooms.mute(&room, "ann", 60, "").await.unwrap_err();
        assert_eq!(anchor.status, StatusCode::BAD_REQUEST);
        let too_long = rooms.mute(&room, "vic", MAX_MUTE_S + 1, "").await;
        assert_eq!(too_long.unwrap_err().status, StatusCode::BAD_REQUEST);

        // Stored: a node started afresh on the same database knows it once it has loaded.
        let restarted = rooms_in(&dir).await;
        assert!(!restarted.is_muted(&room.live_id, "vic").await);
        restarted.reload_sanctions().await;
        assert!(restarted.is_muted(&room.live_id, "vic").await);

        // Over at its time, and lifted with a duration of 0.
        let key = (room.live_id.clone(), "vic".to_owned(), SanctionKind::Mute);
        restarted
            .sanctions
            .lock()
            .change()
            .insert(key, unix_ms() - 1);
        assert!(!restarted.is_muted(&room.live_id, "vic").await);
        let lifted = rooms.mute(&room, "vic", 0, "ann").await.unwrap();
        assert!(!lifted.muted && lifted.until.is_none());
        assert!(!rooms.is_muted(&room.live_id, "vic").await);
        restarted.reload_sanctions().await;
        assert!(!restarted.is_muted(&room.live_id, "vic").await);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ban_messages_say_until_when_and_why() {
        let ban = |until_at, reason: &str| Ban {
            user_id: "ann".into(),
            reason: reason.into(),
            until_at,
            banned_by: String::new(),
            created_at: 0,
        };
        assert_eq!(
            ban_message(&ban(None, "")),
            "anchor ann is banned until the ban is lifted"
        );
        assert_eq!(
            ban_message(&ban(Some(5000), "spam")),
            "anchor ann is banned until 5000 (Unix ms): spam"
        );
    }
}
