//! The review call (`chat_review_url`): before a client's message is stored, the app's back end
//! is asked whether it may go out, synchronously and within `chat_review_timeout_ms`.
//!
//! `POST chat_review_url` with the JSON `{live_id, user_id, kind, text, client_msg_id}`,
//! signed like the webhooks and gift payments (`X-Liverelay-Signature` with
//! `callback_secret`, through [`relay_control::outbound::SignedPoster`]). The answer is a 2xx
//! with the JSON `{"action": "pass" | "block" | "replace", "text": "..."}` (`text` for
//! `replace`: what is delivered instead). Anything else — no answer in time, a transport
//! error, another status, another body — is a failure, and `chat_review_on_error` says what
//! the message gets.

use relay_control::outbound::{excerpt, shown_url, SignedPoster};
use relay_rooms::MessageKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The setting that names the endpoint, for messages.
const URL_KEY: &str = "chat_review_url";

/// What a message gets when the review service fails (`chat_review_on_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewOnError {
    /// Delivered as if the service had said pass.
    Pass,
    /// Refused with 503.
    Block,
}

impl ReviewOnError {
    /// `pass` or `block`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pass" => Some(ReviewOnError::Pass),
            "block" => Some(ReviewOnError::Block),
            _ => None,
        }
    }
}

/// Where messages are reviewed and what a failed review means.
#[derive(Clone)]
pub struct ReviewConfig {
    /// `chat_review_url`: an `http://` or `https://` URL.
    pub url: String,
    /// `callback_secret`, which signs the calls.
    pub secret: String,
    /// `chat_review_timeout_ms`: the longest a call may take, answer read.
    pub timeout: Duration,
    /// `chat_review_on_error`.
    pub on_error: ReviewOnError,
}

impl fmt::Debug for ReviewConfig {
    /// Never shows the secret, nor the URL's query.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReviewConfig")
            .field("url", &shown_url(&self.url))
            .field("secret", &"***")
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .finish()
    }
}

impl ReviewConfig {
    /// The client of the review service, or why the URL cannot be used (the node checks this
    /// at start).
    pub fn reviewer(&self) -> Result<Reviewer, String> {
        let poster = SignedPoster::new(URL_KEY, "chat review", &self.url, &self.secret, &[])?;
        Ok(Reviewer {
            poster,
            timeout: self.timeout,
        })
    }
}

/// What the review service is asked.
#[derive(Debug, Serialize)]
pub struct ReviewRequest<'a> {
    /// The room.
    pub live_id: &'a str,
    /// The sender.
    pub user_id: &'a str,
    /// `chat` or `danmaku`.
    pub kind: MessageKind,
    /// The text, after the blocked-word mask.
    pub text: &'a str,
    /// The sender's id of the message, if it gave one.
    pub client_msg_id: Option<&'a str>,
}

/// What the review service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it as it is.
    Pass,
    /// Refuse it.
    Block,
    /// Deliver this text instead.
    Replace(String),
    /// No usable answer: why, for the log.
    Failed(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Pass,
    Block,
    Replace,
}

#[derive(Deserialize)]
struct Answer {
    action: Action,
    #[serde(default)]
    text: Option<String>,
}

/// Reads the review service's answer.
fn judge(status: axum::http::StatusCode, body: &[u8]) -> Verdict {
    if !status.is_success() {
        return Verdict::Failed(format!("HTTP {status}: {}", excerpt(body)));
    }
    match serde_json::from_slice::<Answer>(body) {
        Ok(Answer {
            action: Action::Pass,
            ..
        }) => Verdict::Pass,
        Ok(Answer {
            action: Action::Block,
            ..
        }) => Verdict::Block,
        Ok(Answer {
            action: Action::Replace,
            text: Some(text),
        }) => Verdict::Replace(text),
        Ok(Answer {
            action: Action::Replace,
            text: None,
        }) => Verdict::Failed("action replace without a text".to_owned()),
        Err(e) => Verdict::Failed(format!("not a review answer ({e}): {}", excerpt(body))),
    }
}

/// The client of the review service: one pooled connection set, reused by every message.
pub struct Reviewer {
    poster: SignedPoster,
    timeout: Duration,
}

impl Reviewer {
    /// Asks about one message.
    pub async fn review(&self, request: &ReviewRequest<'_>) -> Verdict {
        let body = match serde_json::to_vec(request) {
            Ok(body) => body,
            Err(e) => return Verdict::Failed(format!("cannot write the request: {e}")),
        };
        match self.poster.post(&[], body, self.timeout).await {
            Ok(answer) => judge(answer.status, &answer.body),
            Err(reason) => Verdict::Failed(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn answers_are_read_as_the_contract_says() {
        let ok = StatusCode::OK;
        assert_eq!(judge(ok, br#"{"action": "pass"}"#), Verdict::Pass);
        assert_eq!(
            judge(ok, br#"{"action": "block", "text": "x"}"#),
            Verdict::Block
        );
        assert_eq!(
            judge(ok, br#"{"action": "replace", "text": "nice"}"#),
            Verdict::Replace("nice".to_owned())
        );
        for (status, body) in [
            (ok, &br#"{"action": "replace"}"#[..]),
            (ok, br#"{"action": "maybe"}"#),
            (ok, b"pass"),
            (StatusCode::INTERNAL_SERVER_ERROR, br#"{"action": "pass"}"#),
        ] {
            assert!(
                matches!(judge(status, body), Verdict::Failed(_)),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bad_urls_are_refused_and_secrets_never_shown() {
        let config = ReviewConfig {
            url: "ftp://review".to_owned(),
            secret: "a-long-secret-value".to_owned(),
            timeout: Duration::from_millis(500),
            on_error: ReviewOnError::Block,
        };
        let error = config.reviewer().err().unwrap_or_default();
        assert!(error.contains(URL_KEY), "{error}");
        assert!(!format!("{config:?}").contains("a-long-secret"));
        assert_eq!(ReviewOnError::parse("pass"), Some(ReviewOnError::Pass));
        assert_eq!(ReviewOnError::parse("Block"), None);
    }
}
