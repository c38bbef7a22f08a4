//! The rules a chat or danmaku message meets before it is stored: its body (text length,
//! `client_msg_id`, the danmaku style), the per-sender rate limit, and the blocked-word list.
//! No I/O and no clock of its own: the limiter is given `now`, so its tests run in virtual time.

use aho_corasick::{AhoCorasick, MatchKind};
use axum::http::StatusCode;
use relay_control::ApiError;
use relay_rooms::MessageKind;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// Code of a message refused for a blocked word, or by the review service.
pub const CODE_BLOCKED: u32 = 607;
/// The longest `client_msg_id`.
pub const MAX_CLIENT_MSG_ID: usize = 64;
/// The window of `chat_rate_per_10s` (a fixed window in the live state, shared by every node
/// with Redis).
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// `POST /client/live/room/{live_id}/message`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// `chat` (the chat list) or `danmaku` (over the video).
    pub kind: MessageKind,
    /// 1 to `chat_max_length` characters.
    pub text: String,
    /// The sender's own id of this message (at most 64 characters), the same on a retry: a
    /// retry answers the first message and is not delivered again.
    #[serde(default)]
    pub client_msg_id: Option<String>,
    /// Danmaku only.
    #[serde(default)]
    pub style: Option<Style>,
}

/// `POST /server/live/{live_id}/message`: a message of the app itself (role `system`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemMessageBody {
    /// 1 to `chat_max_length` characters.
    pub text: String,
    /// `chat` (the default) or `danmaku`.
    #[serde(default = "chat_kind")]
    pub kind: MessageKind,
}

fn chat_kind() -> MessageKind {
    MessageKind::Chat
}

/// How a danmaku flies; every field may be left out (the player's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Style {
    /// `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
}

/// Where a danmaku shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Across the picture.
    Scroll,
    /// Fixed at the top.
    Top,
    /// Fixed at the bottom.
    Bottom,
}

/// How large a danmaku's letters are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// Smaller than the player's default.
    Small,
    /// The player's default.
    Normal,
    /// Larger than the default.
    Large,
}

/// 400 unless `text` has 1 to `max` characters, not all white space.
pub fn check_text(text: &str, max: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("text is empty"));
    }
    let length = text.chars().count();
    if length > max {
        return Err(ApiError::bad_request(format!(
            "text is {length} characters, at most {max} are allowed (chat_max_length)"
        )));
    }
    Ok(())
}

/// Checks a client's message; answers its style as stored (`None` when it had none).
pub fn check_message(
    body: &MessageBody,
    max: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    check_text(&body.text, max)?;
    if let Some(id) = &body.client_msg_id {
        if id.is_empty() || id.chars().count() > MAX_CLIENT_MSG_ID {
            return Err(ApiError::bad_request(format!(
                "client_msg_id must be 1 to {MAX_CLIENT_MSG_ID} characters"
            )));
        }
    }
    let Some(style) = &body.style else {
        return Ok(None);
    };
    if body.kind != MessageKind::Danmaku {
        return Err(ApiError::bad_request("style is for danmaku only"));
    }
    if let Some(color) = &style.color {
        let hex = color.strip_prefix('#').unwrap_or("");
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(format!(
                "style.color {color:?} is not #rrggbb"
            )));
        }
    }
    serde_json::to_value(style)
        .map(Some)
        .map_err(|e| ApiError::internal(format!("cannot keep the style: {e}")))
}

/// What a message with a blocked word gets (`chat_blocked_words_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedWordsAction {
    /// 403 code 607.
    Refuse,
    /// Delivered with each blocked word replaced by as many `*`.
    Mask,
}

impl BlockedWordsAction {
    /// `refuse` or `mask`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "refuse" => Some(BlockedWordsAction::Refuse),
            "mask" => Some(BlockedWordsAction::Mask),
            _ => None,
        }
    }
}

/// A character as the word list compares it: its lower case when that is one character (all
/// but a few), so that folding keeps every character at its place and a match can be masked
/// in the original text.
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// The blocked words (`chat_blocked_words`), found in a text case-insensitively in one pass
/// (Aho-Corasick, from the `aho-corasick` crate, longest match first).
#[derive(Debug, Clone)]
pub struct WordFilter {
    matcher: AhoCorasick,
    action: BlockedWordsAction,
}

impl WordFilter {
    /// A filter of `words` (none empty); `None` for an empty list.
    pub fn new(words: &[String], action: BlockedWordsAction) -> Result<Option<Self>, String> {
        if words.is_empty() {
            return Ok(None);
        }
        if words.iter().any(|word| word.trim().is_empty()) {
            return Err("a blocked word is empty".to_owned());
        }
        let folded: Vec<String> = words
            .iter()
            .map(|w| w.chars().map(fold).collect())
            .collect();
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&folded)
            .map_err(|e| format!("the blocked words cannot be used: {e}"))?;
        Ok(Some(WordFilter { matcher, action }))
    }

    /// `text` as it may be delivered: as it is when it has no blocked word, masked with the
    /// `mask` action, or 403 code 607 with the `refuse` action.
    pub fn apply(&self, text: &str) -> Result<String, ApiError> {
        let folded: String = text.chars().map(fold).collect();
        // Byte offset of each character of `folded`: matches are in bytes, masks in characters.
        let starts: Vec<usize> = folded.char_indices().map(|(at, _)| at).collect();
        let char_at = |byte: usize| starts.partition_point(|start| *start < byte);
        let found: Vec<(usize, usize)> = self
            .matcher
            .find_iter(&folded)
            .map(|m| (char_at(m.start()), char_at(m.end())))
            .collect();
        if found.is_empty() {
            return Ok(text.to_owned());
        }
        if self.action == BlockedWordsAction::Refuse {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the message contains a blocked word",
            )
            .with_code(CODE_BLOCKED));
        }
        let mut chars: Vec<char> = text.chars().collect();
        for (start, end) in found {
            chars[start..end].fill('*');
        }
        Ok(chars.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: MessageKind, text: &str, style: Option<Style>) -> MessageBody {
        MessageBody {
            kind,
            text: text.to_owned(),
            client_msg_id: None,
            style,
        }
    }

    #[test]
    fn bodies_are_checked() {
        assert!(check_message(&body(MessageKind::Chat, "hi", None), 200)
            .unwrap()
            .is_none());
        for (bad, max) in [("", 200), ("  \n", 200), ("abcd", 3)] {
            let error = check_message(&body(MessageKind::Chat, bad, None), max).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
        // Characters, not bytes.
        check_text("弹幕弹幕", 4).unwrap();
        let style = Style {
            color: Some("#00FFaa".to_owned()),
            position: Some(Position::Top),
            size: None,
        };
        let stored = check_message(&body(MessageKind::Danmaku, "hi", Some(style.clone())), 200)
            .unwrap()
            .unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"color": "#00FFaa", "position": "top"})
        );
        let error =
            check_message(&body(MessageKind::Chat, "hi", Some(style.clone())), 200).unwrap_err();
        assert!(error.message.contains("danmaku only"), "{error}");
        for color in ["red", "#12345", "#1234567", "#gggggg", "123456"] {
            let style = Style {
                color: Some(color.to_owned()),
                ..style.clone()
            };
            let error =
                check_message(&body(MessageKind::Danmaku, "hi", Some(style)), 200).unwrap_err();
            assert!(error.message.contains("#rrggbb"), "{color}: {error}");
        }
        let mut with_id = body(MessageKind::Chat, "hi", None);
        with_id.client_msg_id = Some("x".repeat(MAX_CLIENT_MSG_ID + 1));
        assert_eq!(
            check_message(&with_id, 200).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        with_id.client_msg_id = Some("x".repeat(MAX_CLIENT_MSG_ID));
        check_message(&with_id, 200).unwrap();
    }

    #[test]
    fn blocked_words_are_found_in_any_case_and_masked_in_place() {
        let words = ["spam".to_owned(), "Bad Word".to_owned(), "Ärger".to_owned()];
        let mask = WordFilter::new(&words, BlockedWordsAction::Mask)
            .unwrap()
            .unwrap();
        assert_eq!(
            mask.apply("no SPAM, only bad word!").unwrap(),
            "no ****, only ********!"
        );
        assert_eq!(mask.apply("kein äRGER hier").unwrap(), "kein ***** hier");
        assert_eq!(mask.apply("弹幕 spamspam").unwrap(), "弹幕 ********");
        assert_eq!(mask.apply("clean").unwrap(), "clean");
        let refuse = WordFilter::new(&words, BlockedWordsAction::Refuse)
            .unwrap()
            .unwrap();
        let error = refuse.apply("Spam").unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::FORBIDDEN, CODE_BLOCKED)
        );
        assert_eq!(refuse.apply("fine").unwrap(), "fine");
        assert!(WordFilter::new(&[], BlockedWordsAction::Mask)
            .unwrap()
            .is_none());
        assert!(WordFilter::new(&[" ".to_owned()], BlockedWordsAction::Mask).is_err());
    }
}
