//! The keys of the live-room API, as the node's configuration checked them.

use crate::chat_review::ReviewConfig;
use crate::chat_rules::BlockedWordsAction;
use crate::views::PlayLinks;
use relay_control::auth::{SecretKey, ServerAuth};
use relay_rooms::{Backoff, PaymentConfig, PresenceConfig, WebhookConfig};
use std::time::Duration;

/// The room API's settings: where rooms are stored, how callers are authenticated, how push
/// and play URLs are made, and the timings of presence, grace periods, PKs, kicks and gifts.
#[derive(Debug, Clone)]
pub struct RoomsSettings {
    /// `sqlite://...` or `postgres://...`; the default is a SQLite file in `data_dir`.
    pub database_url: String,
    /// The key client and admin JWTs are signed with (`jwt_key`).
    pub jwt_key: SecretKey,
    /// `None`: `server_auth: false`, the `/server` group trusts its network.
    pub server_auth: Option<ServerAuth>,
    /// How long a signed push URL stays valid (`publish_expire_s`).
    pub publish_expire: Duration,
    /// `rtmp://host:port/app`: push URLs are this plus `/<stream name>`.
    pub publish_base_url: String,
    /// The app of `publish_base_url`: a publish to `app/<stream name>` is the room's.
    pub publish_app: String,
    /// `http://edge:7001/live` and the like: play URLs are each plus `/<stream name>.flv`,
    /// signed when `play_auth` is `expiry`.
    pub play: PlayLinks,
    /// A publish of a created room's stream starts the room (`auto_start_on_publish`).
    pub auto_start_on_publish: bool,
    /// Heartbeat interval and expiry of viewers' presence.
    pub presence: PresenceConfig,
    /// How long a live room's stream may be away while its anchor's app is not beating
    /// (`publish_grace_s`).
    pub publish_grace: Duration,
    /// How long a live room's stream may be away in any case (`anchor_grace_s`).
    pub anchor_grace: Duration,
    /// Where webhooks go and how they are signed; `None` when `callback_addr` is "".
    pub callback: Option<WebhookConfig>,
    /// Waits between failed deliveries: `callback_retry_s` doubling up to an hour.
    pub callback_backoff: Backoff,
    /// How long a PK invitation waits for its answer.
    pub pk_invite_timeout: Duration,
    /// How long a kicked user may not join the room again.
    pub kick_block: Duration,
    /// Where gifts are paid (`gift_addr`, signed with `callback_secret`, `gift_timeout_ms`);
    /// `None` when `gift_addr` is "": sending gifts is refused.
    pub gift_payment: Option<PaymentConfig>,
    /// Highest unit price a sender may choose for a custom-amount gift.
    pub gift_max_custom_amount: i64,
    /// How often the reconciler looks for unsettled payments, and the first wait before an
    /// inconclusive one is asked again.
    pub gift_reconcile: Duration,
    /// How long an event-stream token may be used to open its room's stream
    /// (`events_token_ttl_s`).
    pub events_token_ttl: Duration,
    /// Chat and danmaku: lengths, rate, history, blocked words and the review call.
    pub chat: ChatSettings,
}

/// The `chat_*` keys.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Longest message, in characters (`chat_max_length`).
    pub max_length: usize,
    /// Messages one user may send in one room per 10 s; 0: no limit (`chat_rate_per_10s`).
    pub rate_per_10s: u32,
    /// Messages kept per room; each new one deletes the older (`chat_history_per_room`).
    pub history_per_room: u32,
    /// Words refused or masked, matched case-insensitively (`chat_blocked_words`).
    pub blocked_words: Vec<String>,
    /// What a message with one of them gets (`chat_blocked_words_action`).
    pub blocked_words_action: BlockedWordsAction,
    /// The review call; `None` when `chat_review_url` is "".
    pub review: Option<ReviewConfig>,
}

impl Default for ChatSettings {
    /// The shipped defaults: 200 characters, 10 messages per 10 s, 1000 kept, no word list,
    /// no review.
    fn default() -> Self {
        ChatSettings {
            max_length: 200,
            rate_per_10s: 10,
            history_per_room: 1000,
            blocked_words: Vec::new(),
            blocked_words_action: BlockedWordsAction::Refuse,
            review: None,
        }
    }
}
