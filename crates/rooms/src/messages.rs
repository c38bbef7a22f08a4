//! Chat and danmaku messages as stored: each room's recent history, so a viewer who opens the
//! room late reads what was said, and every node on one PostgreSQL database reads the same.
//!
//! A sender's retry carries the `client_msg_id` of its first try; a unique key on (room,
//! sender, `client_msg_id`) makes the second insert find the first row, on whichever node it
//! lands, so a retried message is stored and delivered once. A room keeps its newest
//! `keep` messages: every insert deletes the ones older than those (one indexed statement),
//! so no periodic job is needed and a room's history never grows past its bound.

use crate::error::not_found_if_missing_reference;
use crate::paging::Window;
use crate::{ids, RoomsError, Store};
use relay_control::{Page, PageQuery};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa::ToSchema;

/// How a message is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// In the room's chat list.
    Chat,
    /// Flying over the video.
    Danmaku,
}

/// Who wrote a message, as the room's clients show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    /// A viewer of the room.
    Viewer,
    /// The room's anchor.
    Anchor,
    /// An operator (a client token with role admin).
    Admin,
    /// The app's server; the message has no user.
    System,
}

/// Reads a stored name back into one of `all`, whose names `name` gives.
fn parse_name<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
    text: &str,
) -> Result<T, RoomsError> {
    all.iter()
        .copied()
        .find(|value| name(*value) == text)
        .ok_or_else(|| RoomsError::Corrupt(format!("unknown message {what} {text:?}")))
}

impl MessageKind {
    /// The stored (and JSON) name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Chat => "chat",
            MessageKind::Danmaku => "danmaku",
        }
    }

    fn parse(text: &str) -> Result<MessageKind, RoomsError> {
        parse_name(
            &[MessageKind::Chat, MessageKind::Danmaku],
            Self::as_str,
            "kind",
            text,
        )
    }
}

impl MessageRole {
    /// The stored (and JSON) name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::Viewer => "viewer",
            MessageRole::Anchor => "anchor",
            MessageRole::Admin => "admin",
            MessageRole::System => "system",
        }
    }

    fn parse(text: &str) -> Result<MessageRole, RoomsError> {
        parse_name(
            &[
                MessageRole::Viewer,
                MessageRole::Anchor,
                MessageRole::Admin,
                MessageRole::System,
            ],
            Self::as_str,
            "role",
            text,
        )
    }
}

/// A message to store, checked by the caller (the room API owns the length and style rules).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewMessage {
    pub live_id: String,
    /// "" for a system message.
    pub user_id: String,
    pub kind: MessageKind,
    pub text: String,
    /// The danmaku style, as the client gave it (checked).
    pub style: Option<serde_json::Value>,
    pub role: MessageRole,
    /// The sender's own id of this message, the same on a retry.
    pub client_msg_id: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub message_id: String,
    /// What was written, as it was given.
    #[serde(flatten)]
    pub body: NewMessage,
    /// When it was written, Unix ms.
    pub at: i64,
    /// Whether it was withdrawn.
    pub recalled: bool,
}

/// What [`Store::insert_message`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// The row: the new one, or the first one of a retry.
    pub message: Message,
    /// False when the row was already there (a retry with the same `client_msg_id`): it was
    /// delivered then and must not be delivered again.
    pub fresh: bool,
}

const COLUMNS: &str =
    "message_id, live_id, user_id, kind, text, style, role, client_msg_id, created_at, recalled_at";

fn message_from_row(row: &AnyRow) -> Result<Message, RoomsError> {
    let style: Option<String> = row.try_get("style")?;
    let style = style
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| RoomsError::Corrupt(format!("message style: {e}")))?;
    let recalled_at: Option<i64> = row.try_get("recalled_at")?;
    Ok(Message {
        message_id: row.try_get("message_id")?,
        body: NewMessage {
            live_id: row.try_get("live_id")?,
            user_id: row.try_get("user_id")?,
            kind: MessageKind::parse(row.try_get("kind")?)?,
            text: row.try_get("text")?,
            style,
            role: MessageRole::parse(row.try_get("role")?)?,
            client_msg_id: row.try_get("client_msg_id")?,
        },
        at: row.try_get("created_at")?,
        recalled: recalled_at.is_some(),
    })
}

impl Store {
    /// Stores `new` in its room (a room that exists, else `"not_found"`) and deletes the room's
    /// messages older than its newest `keep` (at least 1). A `client_msg_id` this sender
    /// already used in the room answers the first row, with `fresh` false.
    pub async fn insert_message(&self, new: &NewMessage, keep: u32) -> Result<Posted, RoomsError> {
        if let Some(earlier) = self.earlier(new).await? {
            return Ok(Posted {
                message: earlier,
                fresh: false,
            });
        }
        let at = self.now();
        let message = Message {
            message_id: ids::message_id(at),
            body: new.clone(),
            at,
            recalled: false,
        };
        let inserted = sqlx::query(&format!(
            "INSERT INTO room_messages ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) \
             ON CONFLICT (live_id, user_id, client_msg_id) DO NOTHING"
        ))
        .bind(message.message_id.as_str())
        .bind(new.live_id.as_str())
        .bind(new.user_id.as_str())
        .bind(new.kind.as_str())
        .bind(new.text.as_str())
        .bind(new.style.as_ref().map(|style| style.to_string()))
        .bind(new.role.as_str())
        .bind(new.client_msg_id.as_deref())
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(|e| not_found_if_missing_reference(e, || format!("room {:?}", new.live_id)))?
        .rows_affected();
        if inserted == 0 {
            // Another node (or request) wrote this client_msg_id between the look-up and here.
            let earlier = self.earlier(new).await?.ok_or_else(|| {
                RoomsError::Corrupt("a message's client_msg_id clashed with no row".to_owned())
            })?;
            return Ok(Posted {
                message: earlier,
                fresh: false,
            });
        }
        self.prune_messages(&new.live_id, keep).await?;
        Ok(Posted {
            message,
            fresh: true,
        })
    }

    /// The message `user_id` sent in `live_id` with `client_msg_id`, if there is one.
    pub async fn message_by_client(
        &self,
        live_id: &str,
        user_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<Message>, RoomsError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM room_messages \
             WHERE live_id = $1 AND user_id = $2 AND client_msg_id = $3"
        ))
        .bind(live_id)
        .bind(user_id)
        .bind(client_msg_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// The earlier row of a retry of `new`.
    async fn earlier(&self, new: &NewMessage) -> Result<Option<Message>, RoomsError> {
        match new.client_msg_id.as_deref() {
            Some(id) => self.message_by_client(&new.live_id, &new.user_id, id).await,
            None => Ok(None),
        }
    }

    /// Deletes `live_id`'s messages older than its newest `keep`; returns how many.
    pub async fn prune_messages(&self, live_id: &str, keep: u32) -> Result<u64, RoomsError> {
        let offset = i64::from(keep.max(1)) - 1;
        Ok(sqlx::query(
            "DELETE FROM room_messages WHERE live_id = $1 AND message_id < (\
             SELECT message_id FROM room_messages WHERE live_id = $1 \
             ORDER BY message_id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(live_id)
        .bind(offset)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Deletes one message (a message whose delivery failed, so that its retry is new).
    pub async fn delete_message(&self, message_id: &str) -> Result<bool, RoomsError> {
        let deleted = sqlx::query("DELETE FROM room_messages WHERE message_id = $1")
            .bind(message_id)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    /// One message of `live_id`, recalled or not.
    pub async fn get_message(
        &self,
        live_id: &str,
        message_id: &str,
    ) -> Result<Option<Message>, RoomsError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM room_messages WHERE live_id = $1 AND message_id = $2"
        ))
        .bind(live_id)
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// Withdraws a message of `live_id`: true when this call recalled it, false when it was
    /// recalled already (of two nodes recalling at once, one gets true); `"not_found"` when
    /// the room has no such message.
    pub async fn recall_message(
        &self,
        live_id: &str,
        message_id: &str,
    ) -> Result<bool, RoomsError> {
        let changed = sqlx::query(
            "UPDATE room_messages SET recalled_at = $3 \
             WHERE live_id = $1 AND message_id = $2 AND recalled_at IS NULL",
        )
        .bind(live_id)
        .bind(message_id)
        .bind(self.now())
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed > 0 {
            return Ok(true);
        }
        match self.get_message(live_id, message_id).await? {
            Some(_) => Ok(false),
            None => Err(RoomsError::not_found(format!(
                "message {message_id} of room {live_id}"
            ))),
        }
    }

    /// `live_id`'s messages not recalled, newest first, paged.
    pub async fn list_messages(
        &self,
        live_id: &str,
        page: PageQuery,
    ) -> Result<Page<Message>, RoomsError> {
        let window = Window::new(page)?;
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM room_messages WHERE live_id = $1 AND recalled_at IS NULL",
        )
        .bind(live_id)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        let list = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM room_messages WHERE live_id = $1 AND recalled_at IS NULL \
             ORDER BY message_id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(live_id)
        .bind(window.limit())
        .bind(window.offset())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<Message>, RoomsError>>()?;
        Ok(window.page(total, list))
    }
}
