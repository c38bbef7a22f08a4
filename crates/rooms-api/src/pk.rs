//! PK between two live rooms: the inviting room's anchor invites, the invited room's anchor
//! accepts or rejects within `pk_invite_timeout_s`, either anchor stops it, and it ends with
//! either room. Both anchors keep publishing their own streams; while the rooms are paired their
//! views carry the peer room's id and play URLs, so players can show the two side by side.
//!
//! The sessions live in the store (conditional transitions, so two nodes never both accept or
//! stop one); each node keeps the open ones in memory for room views, reloaded by the watchdog,
//! which also times out unanswered invitations and ends sessions whose room ended elsewhere.
//! Every change goes to both rooms' clients as a `pk` event; `pk_started` and `pk_stopped`
//! webhooks are written with the change.
//!
//! The vendor's `/client/relay/...` paths are aliases: `relay/start` invites (the invited
//! anchor still answers, and an accepted PK is active at once: there is no separate "media
//! joined" step), `relay/{id}` reads, `relay/{id}/stop` stops.

use crate::auth::ClientCaller;
use crate::error::{store_error, CODE_BAD_STATE};
use crate::pk_links::{links_of, PkLink};
use crate::state::Rooms;
use crate::views::{PkInfo, PlayLinks, PlayUrls};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use relay_control::{ApiError, ApiJson, Reply};
use relay_rooms::{NewEvent, PkSession, PkStatus, PK_STOPPED};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A webhook about a session: `live_id` is the inviting room's, so the session's events reach
/// the app in order with that room's.
fn pk_webhook(kind: &str, pk: &PkSession) -> NewEvent {
    let duration_s = match (pk.started_at, pk.ended_at) {
        (Some(started), Some(ended)) => (ended - started).max(0) / 1000,
        _ => 0,
    };
    NewEvent::new(
        kind,
        serde_json::json!({
            "live_id": pk.init_room_id,
            "pk_id": pk.pk_id,
            "status": pk.status.as_str(),
            "init_room_id": pk.init_room_id,
            "recv_room_id": pk.recv_room_id,
            "init_anchor_id": pk.init_anchor_id,
            "recv_anchor_id": pk.recv_anchor_id,
            "started_at": pk.started_at,
            "ended_at": pk.ended_at,
            "end_reason": pk.end_reason,
            "stopped_by": pk.stopped_by,
            "duration_s": duration_s,
        }),
    )
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

impl Rooms {
    /// The PK `live_id` is in, as its view shows it.
    pub(super) fn pk_info(&self, live_id: &str) -> Option<PkInfo> {
        self.pk_links.lock().value.get(live_id).map(|link| PkInfo {
            pk_id: link.pk_id.clone(),
            peer_live_id: link.peer_live_id.clone(),
            peer_play_urls: PlayUrls::of(&self.settings.play, &link.peer_stream_name),
            status: link.status.as_str().to_owned(),
        })
    }

    /// Keeps the rooms' links up to date with a session as it now is.
    fn remember_pk(&self, pk: &PkSession) {
        let mut cache = self.pk_links.lock();
        let links = cache.change();
        for (live_id, link) in links_of(pk) {
            if pk.status.is_open() {
                links.insert(live_id, link);
            } else if links.get(&live_id).is_some_and(|l| l.pk_id == pk.pk_id) {
                links.remove(&live_id);
            }
        }
    }

    /// A session changed: views, both rooms' clients (a `pk` event) and the webhook sender.
    async fn announce_pk(&self, pk: &PkSession) {
        self.remember_pk(pk);
        let data = serde_json::json!({
            "pk_id": pk.pk_id,
            "status": pk.status.as_str(),
            "init_room_id": pk.init_room_id,
            "recv_room_id": pk.recv_room_id,
            "init_anchor_id": pk.init_anchor_id,
            "recv_anchor_id": pk.recv_anchor_id,
            "answer_by": pk.answer_by,
            "end_reason": pk.end_reason,
        });
        self.tell(&pk.init_room_id, "pk", data.clone()).await;
        self.tell(&pk.recv_room_id, "pk", data).await;
        self.wake_webhooks();
    }

    /// The session, or 404.
    async fn pk(&self, pk_id: &str) -> Result<PkSession, ApiError> {
        self.store
            .get_pk(pk_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("PK {pk_id} not found")))
    }

    /// `caller`, the anchor of `init_room_id`, invites `recv_room_id`. 403 for anyone else;
    /// 409 code 601 unless both rooms are live, code 603 when either is in a PK already.
    pub async fn invite_pk(
        &self,
        caller: &str,
        init_room_id: &str,
        recv_room_id: &str,
    ) -> Result<PkSession, ApiError> {
        let init = self.room(init_room_id).await?;
        if init.anchor_id != caller {
            return Err(forbidden(format!(
                "only the anchor of room {init_room_id} may invite from it"
            )));
        }
        let answer_ms =
            i64::try_from(self.settings.pk_invite_timeout.as_millis()).unwrap_or(i64::MAX);
        let pk = self
            .store
            .invite_pk(init_room_id, recv_room_id, answer_ms)
            .await
            .map_err(store_error)?;
        tracing::info!(
            pk_id = pk.pk_id,
            init_room_id,
            recv_room_id,
            "PK invitation"
        );
        self.announce_pk(&pk).await;
        Ok(pk)
    }

    /// The invited room's anchor answers. 403 for anyone else (the inviter included); 409 code
    /// 601 when the invitation is no longer open.
    pub async fn answer_pk(
        &self,
        caller: &str,
        pk_id: &str,
        accept: bool,
    ) -> Result<PkSession, ApiError> {
        let pk = self.pk(pk_id).await?;
        if pk.recv_anchor_id != caller {
            return Err(forbidden(format!(
                "only the anchor of the invited room {} may answer",
                pk.recv_room_id
            )));
        }
        let started = |pk: &PkSession| pk_webhook("pk_started", pk);
        let answered = self
            .store
            .answer_pk(pk_id, accept, Some(&started))
            .await
            .map_err(store_error)?;
        let Some(answered) = answered else {
            return Err(self.not_open(pk_id, "waiting for an answer").await);
        };
        self.announce_pk(&answered).await;
        Ok(answered)
    }

    /// Either anchor stops an invited or active session. 403 for anyone else; 409 code 601
    /// when it is not open.
    pub async fn stop_pk(&self, caller: &str, pk_id: &str) -> Result<PkSession, ApiError> {
        let pk = self.pk(pk_id).await?;
        if caller != pk.init_anchor_id && caller != pk.recv_anchor_id {
            return Err(forbidden(format!(
                "only the anchors of rooms {} and {} may stop PK {pk_id}",
                pk.init_room_id, pk.recv_room_id
            )));
        }
        let stopped = |pk: &PkSession| pk_webhook("pk_stopped", pk);
        let done = self
            .store
            .stop_pk(pk_id, PK_STOPPED, Some(caller), Some(&stopped))
            .await
            .map_err(store_error)?;
        let Some((_, ended)) = done else {
            return Err(self.not_open(pk_id, "open").await);
        };
        self.announce_pk(&ended).await;
        Ok(ended)
    }

    /// 409 code 601 for a session that is no longer `wanted`, saying what it is.
    async fn not_open(&self, pk_id: &str, wanted: &str) -> ApiError {
        let now = match self.pk(pk_id).await {
            Ok(pk) if pk.status == PkStatus::Invited => "past its answer time".to_owned(),
            Ok(pk) => pk.status.as_str().to_owned(),
            Err(error) => return error,
        };
        ApiError::new(
            StatusCode::CONFLICT,
            format!("PK {pk_id} is {now}, not {wanted}"),
        )
        .with_code(CODE_BAD_STATE)
    }

    /// A room ended: its open session ends too, and both rooms hear it.
    pub(super) async fn end_pks_of(&self, live_id: &str) {
        let stopped = |pk: &PkSession| pk_webhook("pk_stopped", pk);
        match self.store.end_room_pks(live_id, Some(&stopped)).await {
            Ok(ended) => {
                for (_, pk) in &ended {
                    tracing::info!(pk_id = pk.pk_id, live_id, "PK ended with its room");
                    self.announce_pk(pk).await;
                }
            }
            Err(error) => {
                tracing::warn!(%error, live_id, "cannot end the PK of a room that ended (the watchdog will)")
            }
        }
    }

    /// The watchdog's look at PKs: invitations past their time time out, sessions whose room
    /// ended elsewhere end, and the open ones are reloaded for views.
    pub(super) async fn sweep_pks(&self) {
        match self.store.timeout_pk_invites().await {
            Ok(timed_out) => {
                for pk in &timed_out {
                    tracing::info!(pk_id = pk.pk_id, "PK invitation timed out");
                    self.announce_pk(pk).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot time out PK invitations"),
        }
        let stopped = |pk: &PkSession| pk_webhook("pk_stopped", pk);
        match self.store.end_orphan_pks(Some(&stopped)).await {
            Ok(ended) => {
                for (_, pk) in &ended {
                    self.announce_pk(pk).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot end the PKs of rooms that ended"),
        }
        let seen = self.pk_links.lock().changes;
        match self.store.open_pk_sessions().await {
            Ok(open) => {
                let links: HashMap<String, PkLink> = open.iter().flat_map(links_of).collect();
                self.pk_links.lock().reload(seen, links);
            }
            Err(error) => tracing::warn!(%error, "cannot read open PKs"),
        }
    }
}

/// `/client/pk/...` and the vendor's `/client/relay/...` aliases of the same handlers.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(invite))
        .routes(routes!(pk_info))
        .routes(routes!(answer))
        .routes(routes!(stop))
        .routes(routes!(relay_start))
        .routes(routes!(relay_info))
        .routes(routes!(relay_stop))
        .with_state(rooms)
}

/// How a PK session is answered: [`PkView`] under `/client/pk`, [`RelayView`] under the
/// vendor's `/client/relay` aliases.
trait PkShape: Serialize {
    fn of(pk: PkSession, play: &PlayLinks) -> Self;
}

impl PkShape for PkView {
    fn of(pk: PkSession, play: &PlayLinks) -> Self {
        PkView::new(pk, play)
    }
}

impl PkShape for RelayView {
    fn of(pk: PkSession, _play: &PlayLinks) -> Self {
        pk.into()
    }
}

/// An invitation, answered in shape `V`.
async fn invited<V: PkShape>(
    caller: &ClientCaller,
    rooms: &Rooms,
    body: InviteBody,
) -> Result<Reply<V>, ApiError> {
    let pk = rooms
        .invite_pk(&caller.user_id, &body.init_room_id, &body.recv_room_id)
        .await?;
    Ok(Reply::ok(V::of(pk, &rooms.settings.play)))
}

/// A session read, answered in shape `V`.
async fn read<V: PkShape>(rooms: &Rooms, pk_id: &str) -> Result<Reply<V>, ApiError> {
    let pk = rooms.pk(pk_id).await?;
    Ok(Reply::ok(V::of(pk, &rooms.settings.play)))
}

/// A session stopped by `caller`, answered in shape `V`.
async fn stopped<V: PkShape>(
    caller: &ClientCaller,
    rooms: &Rooms,
    pk_id: &str,
) -> Result<Reply<V>, ApiError> {
    let pk = rooms.stop_pk(&caller.user_id, pk_id).await?;
    Ok(Reply::ok(V::of(pk, &rooms.settings.play)))
}

/// A PK session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PkView {
    pub pk_id: String,
    /// invited, active, rejected, timeout or ended.
    pub status: String,
    pub init_room_id: String,
    pub recv_room_id: String,
    pub init_anchor_id: String,
    pub recv_anchor_id: String,
    pub init_play_urls: PlayUrls,
    pub recv_play_urls: PlayUrls,
    /// Unix ms.
    pub created_at: i64,
    /// An invitation not answered by then times out (Unix ms).
    pub answer_by: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// stopped (by an anchor) or room_ended, for an ended session.
    pub end_reason: Option<String>,
    pub stopped_by: Option<String>,
}

impl PkView {
    fn new(pk: PkSession, play_bases: &PlayLinks) -> Self {
        PkView {
            init_play_urls: PlayUrls::of(play_bases, &pk.init_stream_name),
            recv_play_urls: PlayUrls::of(play_bases, &pk.recv_stream_name),
            pk_id: pk.pk_id,
            status: pk.status.as_str().to_owned(),
            init_room_id: pk.init_room_id,
            recv_room_id: pk.recv_room_id,
            init_anchor_id: pk.init_anchor_id,
            recv_anchor_id: pk.recv_anchor_id,
            created_at: pk.created_at,
            answer_by: pk.answer_by,
            started_at: pk.started_at,
            ended_at: pk.ended_at,
            end_reason: pk.end_reason,
            stopped_by: pk.stopped_by,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    /// The caller's room (it must be its anchor).
    pub init_room_id: String,
    /// The room invited; its anchor answers.
    pub recv_room_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    pub accept: bool,
}

/// The anchor of `init_room_id` invites `recv_room_id`; both rooms' clients get a `pk` event.
#[utoipa::path(post, path = "/client/pk/invite", request_body = InviteBody, responses(
    (status = 200, body = Reply<PkView>), (status = 400), (status = 401),
    (status = 403, description = "not the anchor of init_room_id"), (status = 404),
    (status = 409, description = "code 601: a room is not live; code 603: a room is in a PK or has an invitation pending")))]
pub async fn invite(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<InviteBody>, ApiError>,
) -> Result<Reply<PkView>, ApiError> {
    let ApiJson(body) = body?;
    invited(&caller, &rooms, body).await
}

/// One PK session, for any client.
#[utoipa::path(get, path = "/client/pk/{pk_id}", params(("pk_id" = String, Path)), responses(
    (status = 200, body = Reply<PkView>), (status = 401), (status = 404)))]
pub async fn pk_info(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(pk_id): Path<String>,
) -> Result<Reply<PkView>, ApiError> {
    read(&rooms, &pk_id).await
}

/// The invited room's anchor accepts (the PK is active at once) or rejects.
#[utoipa::path(post, path = "/client/pk/{pk_id}/answer", params(("pk_id" = String, Path)),
    request_body = AnswerBody, responses(
    (status = 200, body = Reply<PkView>), (status = 400), (status = 401),
    (status = 403, description = "not the invited room's anchor"), (status = 404),
    (status = 409, description = "code 601: answered, stopped or timed out already")))]
pub async fn answer(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(pk_id): Path<String>,
    body: Result<ApiJson<AnswerBody>, ApiError>,
) -> Result<Reply<PkView>, ApiError> {
    let ApiJson(body) = body?;
    let pk = rooms
        .answer_pk(&caller.user_id, &pk_id, body.accept)
        .await?;
    Ok(Reply::ok(PkView::new(pk, &rooms.settings.play)))
}

/// Either anchor stops an invited or active PK.
#[utoipa::path(post, path = "/client/pk/{pk_id}/stop", params(("pk_id" = String, Path)), responses(
    (status = 200, body = Reply<PkView>), (status = 401),
    (status = 403, description = "not one of the two anchors"), (status = 404),
    (status = 409, description = "code 601: not open")))]
pub async fn stop(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(pk_id): Path<String>,
) -> Result<Reply<PkView>, ApiError> {
    stopped(&caller, &rooms, &pk_id).await
}

/// The vendor's relay status number for a session: 0 waiting for the receiver, 1 agreed (here:
/// active, as there is no separate "media joined" step), 5 not accepted (rejected or timed
/// out), 6 stopped.
fn relay_status(status: PkStatus) -> u8 {
    match status {
        PkStatus::Invited => 0,
        PkStatus::Active => 1,
        PkStatus::Rejected | PkStatus::Timeout => 5,
        PkStatus::Ended => 6,
    }
}

/// A PK session in the vendor's relay shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RelayView {
    /// The session id (`pk_id`), under both the vendor's names.
    pub sid: String,
    pub relay_id: String,
    pub init_user_id: String,
    pub init_room_id: String,
    pub recv_user_id: String,
    pub recv_room_id: String,
    /// 0 invited, 1 active, 5 rejected or timed out, 6 ended.
    pub relay_status: u8,
    /// The same as a word: invited, active, rejected, timeout, ended.
    pub status: String,
    /// Unix ms.
    pub start_at: Option<i64>,
    pub stop_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<PkSession> for RelayView {
    fn from(pk: PkSession) -> Self {
        RelayView {
            sid: pk.pk_id.clone(),
            relay_id: pk.pk_id,
            init_user_id: pk.init_anchor_id,
            init_room_id: pk.init_room_id,
            recv_user_id: pk.recv_anchor_id,
            recv_room_id: pk.recv_room_id,
            relay_status: relay_status(pk.status),
            status: pk.status.as_str().to_owned(),
            start_at: pk.started_at,
            stop_at: pk.ended_at,
            created_at: pk.created_at,
            updated_at: pk.updated_at,
        }
    }
}

/// The vendor's relay start body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayStartBody {
    pub init_room_id: String,
    pub recv_room_id: String,
    /// When given, it must be the anchor of `recv_room_id`.
    pub recv_user_id: Option<String>,
    /// Accepted for the vendor's clients; not kept.
    #[schema(value_type = Option<Object>)]
    #[allow(
        dead_code,
        reason = "read only so that vendor clients sending it are not refused"
    )]
    pub extends: Option<serde_json::Value>,
}

/// Alias of `POST /client/pk/invite` under the vendor's path: the invited anchor answers with
/// `POST /client/pk/{pk_id}/answer`, and an accepted PK is active at once.
#[utoipa::path(post, path = "/client/relay/start", request_body = RelayStartBody, responses(
    (status = 200, body = Reply<RelayView>), (status = 400), (status = 401), (status = 403),
    (status = 404), (status = 409, description = "code 601: a room is not live; code 603: a room is in a PK")))]
pub async fn relay_start(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<RelayStartBody>, ApiError>,
) -> Result<Reply<RelayView>, ApiError> {
    let ApiJson(body) = body?;
    if let Some(recv_user_id) = &body.recv_user_id {
        let recv = rooms.room(&body.recv_room_id).await?;
        if recv.anchor_id != *recv_user_id {
            return Err(ApiError::bad_request(format!(
                "recv_user_id {recv_user_id} is not the anchor of room {}",
                body.recv_room_id
            )));
        }
    }
    let invite = InviteBody {
        init_room_id: body.init_room_id,
        recv_room_id: body.recv_room_id,
    };
    invited(&caller, &rooms, invite).await
}

/// Alias of `GET /client/pk/{pk_id}` in the vendor's relay shape.
#[utoipa::path(get, path = "/client/relay/{pk_id}", params(("pk_id" = String, Path)), responses(
    (status = 200, body = Reply<RelayView>), (status = 401), (status = 404)))]
pub async fn relay_info(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(pk_id): Path<String>,
) -> Result<Reply<RelayView>, ApiError> {
    read(&rooms, &pk_id).await
}

/// Alias of `POST /client/pk/{pk_id}/stop`.
#[utoipa::path(post, path = "/client/relay/{pk_id}/stop", params(("pk_id" = String, Path)), responses(
    (status = 200, body = Reply<RelayView>), (status = 401), (status = 403), (status = 404),
    (status = 409, description = "code 601: not open")))]
pub async fn relay_stop(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(pk_id): Path<String>,
) -> Result<Reply<RelayView>, ApiError> {
    stopped(&caller, &rooms, &pk_id).await
}
