//! Chat and danmaku: a client writes to a live room it has joined, the app's server writes as
//! the system, and both reach the room's clients as `message` events on its event stream, in
//! order with the room's other events; the server or an operator recalls a message
//! (`message_recalled`). Every message is a stored row, so the history is the same on every
//! node of one database.
//!
//! A client's message goes: body checked → room live → a retry (same `client_msg_id`)
//! answers the first message and stops here → not kicked (605), not muted (606), joined (403)
//! → rate limit (429 with `Retry-After`) → blocked words (607 or masked) → review call →
//! stored (the unique key deduplicates racing retries) → delivered. A delivery that fails
//! deletes the row, so a retry with the same `client_msg_id` is sent afresh.

use crate::auth::{signed, AdminCaller, ClientCaller};
use crate::chat_review::{ReviewOnError, ReviewRequest, Reviewer, Verdict};
use crate::chat_rules::{
    check_message, check_text, MessageBody, Style, SystemMessageBody, WordFilter, CODE_BLOCKED,
    RATE_WINDOW,
};
use crate::error::{store_error, CODE_BAD_STATE};
use crate::settings::ChatSettings;
use crate::state::Rooms;
use axum::extract::{Path, State};
use axum::http::header::RETRY_AFTER;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use relay_control::{ApiError, ApiJson, ApiQuery, Page, PageQuery, Reply};
use relay_rooms::{Message, MessageKind, MessageRole, NewMessage, Room, RoomStatus};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest history page.
const MAX_HISTORY_PAGE: usize = 100;

/// What the chat routes keep besides [`Rooms`]: the word list and the review client, made
/// once from the settings (the rate windows are in the live state, shared with Redis).
pub(crate) struct ChatDesk {
    settings: ChatSettings,
    words: Option<WordFilter>,
    /// The review client (or why it could not be made: every review then fails) and what a
    /// failed review means.
    review: Option<(Result<Reviewer, String>, ReviewOnError)>,
}

impl ChatDesk {
    fn new(settings: &ChatSettings) -> ChatDesk {
        let words = WordFilter::new(&settings.blocked_words, settings.blocked_words_action)
            .unwrap_or_else(|error| {
                // The node checked the list at start; this is only reached by a test's settings.
                tracing::error!(%error, "chat_blocked_words unusable, not applied");
                None
            });
        ChatDesk {
            settings: settings.clone(),
            words,
            review: settings
                .review
                .as_ref()
                .map(|config| (config.reviewer(), config.on_error)),
        }
    }

    /// The text `text` is delivered as, after the review service (when there is one).
    async fn reviewed(&self, request: ReviewRequest<'_>) -> Result<String, ApiError> {
        let Some((reviewer, on_error)) = &self.review else {
            return Ok(request.text.to_owned());
        };
        let verdict = match reviewer {
            Ok(reviewer) => reviewer.review(&request).await,
            Err(reason) => Verdict::Failed(reason.clone()),
        };
        let failed = |reason: String| {
            tracing::warn!(%reason, live_id = request.live_id, "chat review failed");
            match on_error {
                ReviewOnError::Pass => Ok(request.text.to_owned()),
                ReviewOnError::Block => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the message could not be reviewed (the review service did not answer); \
                     it was not sent, try again later",
                )),
            }
        };
        match verdict {
            Verdict::Pass => Ok(request.text.to_owned()),
            Verdict::Block => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the message was refused by review",
            )
            .with_code(CODE_BLOCKED)),
            Verdict::Replace(text) => match check_text(&text, self.settings.max_length) {
                Ok(()) => Ok(text),
                Err(error) => failed(format!("replacement text refused: {}", error.message)),
            },
            Verdict::Failed(reason) => failed(reason),
        }
    }
}

/// A message as the room's clients get it (the `message` event's data and the answers).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub message_id: String,
    pub live_id: String,
    /// "" for a system message.
    pub user_id: String,
    pub kind: MessageKind,
    pub text: String,
    /// Danmaku style, null when none was given.
    #[schema(value_type = Option<Style>)]
    pub style: Option<serde_json::Value>,
    pub role: MessageRole,
    /// When it was written, Unix ms.
    pub at: i64,
    pub recalled: bool,
}

impl From<Message> for MessageView {
    fn from(message: Message) -> Self {
        let body = message.body;
        MessageView {
            message_id: message.message_id,
            live_id: body.live_id,
            user_id: body.user_id,
            kind: body.kind,
            text: body.text,
            style: body.style,
            role: body.role,
            at: message.at,
            recalled: message.recalled,
        }
    }
}

/// What a recall answers, and the `message_recalled` event's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecalledView {
    pub message_id: String,
    pub live_id: String,
}

/// A refused message: an API error, or the rate limit with its wait in whole seconds.
enum Refusal {
    Api(ApiError),
    Slow(ApiError, u64),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal::Api(error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(error) => error.into_response(),
            Refusal::Slow(error, wait_s) => {
                ([(RETRY_AFTER, wait_s.to_string())], error).into_response()
            }
        }
    }
}

/// Sends `data` to `live_id`'s clients as a `kind` event.
async fn deliver(
    rooms: &Rooms,
    live_id: &str,
    kind: &str,
    data: serde_json::Value,
) -> Result<(), ApiError> {
    rooms.emit(live_id, kind, data).await
}

/// The room, which must be live (601 otherwise).
async fn live_room(rooms: &Rooms, live_id: &str) -> Result<Room, ApiError> {
    let room = rooms.room(live_id).await?;
    if room.status != RoomStatus::Live {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "room {live_id} is {}: messages go to live rooms",
                room.status.as_str()
            ),
        )
        .with_code(CODE_BAD_STATE));
    }
    Ok(room)
}

/// Stores `new` and delivers it; a retry that raced its first try answers that one undelivered.
async fn post(rooms: &Rooms, desk: &ChatDesk, new: NewMessage) -> Result<MessageView, ApiError> {
    let posted = rooms
        .store
        .insert_message(&new, desk.settings.history_per_room)
        .await
        .map_err(store_error)?;
    let view = MessageView::from(posted.message);
    if !posted.fresh {
        return Ok(view);
    }
    let data = serde_json::to_value(&view)
        .map_err(|e| ApiError::internal(format!("cannot write the message event: {e}")))?;
    if let Err(error) = deliver(rooms, &view.live_id, "message", data).await {
        if let Err(undo) = rooms.store.delete_message(&view.message_id).await {
            tracing::error!(%undo, message_id = view.message_id, "cannot delete an undelivered message");
        }
        return Err(error);
    }
    Ok(view)
}

/// `/client` messages and history, `/server` system messages and recalls, `/admin` recalls.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    let desk = Arc::new(ChatDesk::new(&rooms.settings.chat));
    let server = OpenApiRouter::new()
        .routes(routes!(server_message))
        .routes(routes!(server_recall));
    signed(&rooms, server)
        .routes(routes!(client_message))
        .routes(routes!(client_messages))
        .routes(routes!(admin_recall))
        .layer(Extension(desk))
        .with_state(rooms)
}

/// Sends a chat message or a danmaku to a live room the caller has joined (its anchor need
/// not join). Delivered to the room's clients as a `message` event. A retry with the same
/// `client_msg_id` answers the first message and is not delivered again.
#[utoipa::path(post, path = "/client/live/room/{live_id}/message", request_body = MessageBody,
    params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<MessageView>), (status = 400), (status = 401),
        (status = 403, description = "not joined; code 605: kicked; code 606: muted; code 607: blocked word or refused by review"),
        (status = 404), (status = 409, description = "code 601: the room is not live"),
        (status = 429, description = "over chat_rate_per_10s; Retry-After says when to try again"),
        (status = 503, description = "the review service failed and chat_review_on_error is block")))]
pub async fn client_message(
    caller: ClientCaller,
    admin: Result<AdminCaller, ApiError>,
    State(rooms): State<Arc<Rooms>>,
    Extension(desk): Extension<Arc<ChatDesk>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<MessageBody>, ApiError>,
) -> Result<Reply<MessageView>, Response> {
    client_post(&rooms, &desk, caller, admin.is_ok(), &live_id, body)
        .await
        .map(Reply::ok)
        .map_err(IntoResponse::into_response)
}

async fn client_post(
    rooms: &Rooms,
    desk: &ChatDesk,
    caller: ClientCaller,
    is_admin: bool,
    live_id: &str,
    body: Result<ApiJson<MessageBody>, ApiError>,
) -> Result<MessageView, Refusal> {
    let ApiJson(body) = body?;
    let style = check_message(&body, desk.settings.max_length)?;
    let room = live_room(rooms, live_id).await?;
    let user_id = caller.user_id;
    if let Some(client_msg_id) = &body.client_msg_id {
        let earlier = rooms
            .store
            .message_by_client(live_id, &user_id, client_msg_id)
            .await
            .map_err(store_error)?;
        if let Some(earlier) = earlier {
            return Ok(earlier.into());
        }
    }
    let role = if room.anchor_id == user_id {
        MessageRole::Anchor
    } else if is_admin {
        MessageRole::Admin
    } else {
        MessageRole::Viewer
    };
    rooms.check_not_kicked(live_id, &user_id).await?;
    rooms.check_not_muted(live_id, &user_id).await?;
    if role != MessageRole::Anchor && !rooms.is_online(live_id, &user_id).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("not in room {live_id}: join it before sending messages"),
        )
        .into());
    }
    let limit = desk.settings.rate_per_10s;
    let window_key = format!("chat:{live_id}:{user_id}");
    let admitted = match limit {
        0 => None,
        _ => {
            rooms
                .live
                .rate_take(&window_key, limit, RATE_WINDOW)
                .await?
        }
    };
    if let Some(wait) = admitted {
        let wait_s = wait.as_secs_f64().ceil().max(1.0) as u64;
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "at most {} messages per 10 s in a room; try again in {wait_s} s",
                desk.settings.rate_per_10s
            ),
        );
        return Err(Refusal::Slow(error, wait_s));
    }
    let text = match &desk.words {
        Some(words) => words.apply(&body.text)?,
        None => body.text,
    };
    let text = desk
        .reviewed(ReviewRequest {
            live_id,
            user_id: &user_id,
            kind: body.kind,
            text: &text,
            client_msg_id: body.client_msg_id.as_deref(),
        })
        .await?;
    let new = NewMessage {
        live_id: live_id.to_owned(),
        user_id,
        kind: body.kind,
        text,
        style,
        role,
        client_msg_id: body.client_msg_id,
    };
    Ok(post(rooms, desk, new).await?)
}

/// The room's last messages, newest first; recalled ones are left out. `page_size` is at
/// most 100 (a larger one is taken as 100).
#[utoipa::path(get, path = "/client/live/room/{live_id}/messages",
    params(("live_id" = String, Path), PageQuery),
    responses((status = 200, body = Reply<Page<MessageView>>), (status = 400), (status = 401), (status = 404)))]
pub async fn client_messages(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<MessageView>>, ApiError> {
    let ApiQuery(page) = query?;
    rooms.room(&live_id).await?;
    let page = PageQuery {
        page_num: page.page_num,
        page_size: page.page_size.map(|size| size.min(MAX_HISTORY_PAGE)),
    };
    let history = rooms
        .store
        .list_messages(&live_id, page)
        .await
        .map_err(store_error)?;
    Ok(Reply::ok(history.map(MessageView::from)))
}

/// A message of the app itself (role `system`, no user) to a live room: delivered like the
/// clients' messages, with no join check, rate limit, word list or review.
#[utoipa::path(post, path = "/server/live/{live_id}/message", request_body = SystemMessageBody,
    params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<MessageView>), (status = 400), (status = 401), (status = 404),
        (status = 409, description = "code 601: the room is not live")))]
pub async fn server_message(
    State(rooms): State<Arc<Rooms>>,
    Extension(desk): Extension<Arc<ChatDesk>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<SystemMessageBody>, ApiError>,
) -> Result<Reply<MessageView>, ApiError> {
    let ApiJson(body) = body?;
    check_text(&body.text, desk.settings.max_length)?;
    live_room(&rooms, &live_id).await?;
    let new = NewMessage {
        live_id,
        user_id: String::new(),
        kind: body.kind,
        text: body.text,
        style: None,
        role: MessageRole::System,
        client_msg_id: None,
    };
    Ok(Reply::ok(post(&rooms, &desk, new).await?))
}

/// Withdraws a message: left out of the history from now on, and the room's clients get
/// `message_recalled` (only the first time: a second recall answers the same and sends
/// nothing).
async fn recall(
    rooms: &Rooms,
    live_id: String,
    message_id: String,
) -> Result<Reply<RecalledView>, ApiError> {
    rooms.room(&live_id).await?;
    let now_recalled = rooms
        .store
        .recall_message(&live_id, &message_id)
        .await
        .map_err(store_error)?;
    let view = RecalledView {
        message_id,
        live_id,
    };
    if now_recalled {
        let data = serde_json::json!({ "message_id": view.message_id, "live_id": view.live_id });
        deliver(rooms, &view.live_id, "message_recalled", data).await?;
    }
    Ok(Reply::ok(view))
}

/// Recalls a message of the room (the app's server).
#[utoipa::path(post, path = "/server/live/{live_id}/message/{message_id}/recall",
    params(("live_id" = String, Path), ("message_id" = String, Path)),
    responses((status = 200, body = Reply<RecalledView>), (status = 401), (status = 404)))]
pub async fn server_recall(
    State(rooms): State<Arc<Rooms>>,
    Path((live_id, message_id)): Path<(String, String)>,
) -> Result<Reply<RecalledView>, ApiError> {
    recall(&rooms, live_id, message_id).await
}

/// Recalls a message of the room (an operator).
#[utoipa::path(post, path = "/admin/live/{live_id}/message/{message_id}/recall",
    params(("live_id" = String, Path), ("message_id" = String, Path)),
    responses((status = 200, body = Reply<RecalledView>), (status = 401), (status = 403), (status = 404)))]
pub async fn admin_recall(
    admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    Path((live_id, message_id)): Path<(String, String)>,
) -> Result<Reply<RecalledView>, ApiError> {
    tracing::info!(live_id, message_id, by = admin.user_id, "message recalled");
    recall(&rooms, live_id, message_id).await
}
