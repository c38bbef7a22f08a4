//! The `cloud:` keys of the live-room API, checked at start like every other key.

use super::file::CloudConfig;
use relay_control::auth::{PlayKeyRefusal, PushKeys, SecretKey, ServerAuth};
use relay_node::NodeError;
use relay_rooms::{Backoff, PaymentConfig, PresenceConfig, WebhookConfig};
use relay_rooms_api::{
    BlockedWordsAction, ChatSettings, PlayLinks, ReviewConfig, ReviewOnError, RoomsSettings,
    WordFilter,
};
use std::time::Duration;

/// Shortest `jwt_key`: tokens are HS256, and a short key can be searched for offline from one
/// token.
const MIN_JWT_KEY_LEN: usize = 16;

fn bad(key: &str, reason: impl Into<String>) -> NodeError {
    NodeError::bad_value(key, reason)
}

/// The secret webhooks and payment calls are signed with, checked when `setting` uses it.
fn signing_secret(config: &CloudConfig, setting: &str) -> Result<(), NodeError> {
    if config.callback_secret.len() < MIN_JWT_KEY_LEN {
        return Err(bad(
            "cloud.callback_secret",
            format!("must be at least {MIN_JWT_KEY_LEN} characters when {setting} is set"),
        ));
    }
    Ok(())
}

/// The gift keys: the payment service (none when `gift_addr` is ""), its timeout, the
/// custom-amount bound and the reconciler's interval.
fn gift_settings(config: &CloudConfig) -> Result<(Option<PaymentConfig>, Duration), NodeError> {
    if !(100..=60_000).contains(&config.gift_timeout_ms) {
        return Err(bad("cloud.gift_timeout_ms", "must be 100 to 60000 ms"));
    }
    if config.gift_max_custom_amount < 1 {
        return Err(bad("cloud.gift_max_custom_amount", "must be at least 1"));
    }
    let reconcile = seconds("cloud.gift_reconcile_s", config.gift_reconcile_s, 1..=3600)?;
    let payment = match config.gift_addr.as_str() {
        "" => None,
        addr => {
            signing_secret(config, "gift_addr")?;
            let mut payment = PaymentConfig::parse(addr, &config.callback_secret)
                .map_err(|e| bad("cloud.gift_addr", e.to_string()))?;
            payment.timeout = Duration::from_millis(config.gift_timeout_ms);
            payment.retry.first = reconcile;
            Some(payment)
        }
    };
    Ok((payment, reconcile))
}

/// Most words in `chat_blocked_words`, and the longest one (characters).
const MAX_BLOCKED_WORDS: usize = 10_000;
const MAX_BLOCKED_WORD_CHARS: usize = 64;

/// The chat keys: lengths, rate, history, the word list and the review call.
fn chat_settings(config: &CloudConfig) -> Result<ChatSettings, NodeError> {
    if !(1..=5000).contains(&config.chat_max_length) {
        return Err(bad("cloud.chat_max_length", "must be 1 to 5000 characters"));
    }
    if config.chat_rate_per_10s > 1000 {
        return Err(bad(
            "cloud.chat_rate_per_10s",
            "must be 0 (no limit) to 1000 messages",
        ));
    }
    if !(1..=100_000).contains(&config.chat_history_per_room) {
        return Err(bad("cloud.chat_history_per_room", "must be 1 to 100000"));
    }
    let words = &config.chat_blocked_words;
    if words.len() > MAX_BLOCKED_WORDS {
        return Err(bad(
            "cloud.chat_blocked_words",
            format!("at most {MAX_BLOCKED_WORDS} words"),
        ));
    }
    if let Some(word) = words
        .iter()
        .find(|word| word.trim().is_empty() || word.chars().count() > MAX_BLOCKED_WORD_CHARS)
    {
        return Err(bad(
            "cloud.chat_blocked_words",
            format!("{word:?}: each word must be 1 to {MAX_BLOCKED_WORD_CHARS} characters"),
        ));
    }
    let action = BlockedWordsAction::parse(&config.chat_blocked_words_action)
        .ok_or_else(|| bad("cloud.chat_blocked_words_action", "must be refuse or mask"))?;
    WordFilter::new(words, action).map_err(|e| bad("cloud.chat_blocked_words", e))?;
    if !(50..=10_000).contains(&config.chat_review_timeout_ms) {
        return Err(bad(
            "cloud.chat_review_timeout_ms",
            "must be 50 to 10000 ms",
        ));
    }
    let on_error = ReviewOnError::parse(&config.chat_review_on_error)
        .ok_or_else(|| bad("cloud.chat_review_on_error", "must be block or pass"))?;
    let review = match config.chat_review_url.trim() {
        "" => None,
        url => {
            signing_secret(config, "chat_review_url")?;
            let review = ReviewConfig {
                url: url.to_owned(),
                secret: config.callback_secret.clone(),
                timeout: Duration::from_millis(config.chat_review_timeout_ms),
                on_error,
            };
            // Made once here to check the URL (and TLS set-up); the room API makes its own.
            review
                .reviewer()
                .map_err(|e| bad("cloud.chat_review_url", e))?;
            Some(review)
        }
    };
    Ok(ChatSettings {
        max_length: config.chat_max_length,
        rate_per_10s: config.chat_rate_per_10s,
        history_per_room: config.chat_history_per_room,
        blocked_words: words.clone(),
        blocked_words_action: action,
        review,
    })
}

/// The key room play URLs are signed with: the edges' `play_key`, with `play_auth: expiry`.
fn play_key(config: &CloudConfig) -> Result<Option<SecretKey>, NodeError> {
    relay_control::auth::play_key(&config.play_auth, &config.play_key).map_err(|refusal| {
        let key = match refusal {
            PlayKeyRefusal::Scheme => "cloud.play_auth",
            PlayKeyRefusal::Key => "cloud.play_key",
        };
        bad(key, refusal.to_string())
    })
}

/// `value` as seconds in `range`, for key `key`.
fn seconds(
    key: &str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, NodeError> {
    if !range.contains(&value) {
        return Err(bad(
            key,
            format!("must be {} to {} seconds", range.start(), range.end()),
        ));
    }
    Ok(Duration::from_secs(value))
}

/// `scheme://host[:port]/app`: the scheme is one of `schemes`, the app one path segment.
fn base_url<'a>(key: &str, value: &'a str, schemes: &[&str]) -> Result<&'a str, NodeError> {
    let shape = || {
        bad(
            key,
            format!("{value:?} is not {}://HOST[:PORT]/APP", schemes.join("|")),
        )
    };
    let (scheme, rest) = value.split_once("://").ok_or_else(shape)?;
    let (host, app) = rest.split_once('/').ok_or_else(shape)?;
    let app_ok = !app.is_empty()
        && app
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !schemes.contains(&scheme) || host.is_empty() || !app_ok {
        return Err(shape());
    }
    Ok(app)
}

/// The shared live state's server, prefix and timeout; `None` when `redis_url` is empty. Several
/// clouds sharing their rooms' live state must share their rooms too: `database_url` is then
/// PostgreSQL.
pub fn redis_settings(
    config: &CloudConfig,
) -> Result<Option<relay_rooms_api::RedisConfig>, NodeError> {
    if config.redis_url.is_empty() {
        return Ok(None);
    }
    let host = config.redis_url.strip_prefix("redis://").unwrap_or("");
    if host.is_empty() || host.starts_with('/') {
        return Err(bad(
            "cloud.redis_url",
            "must be \"\" (one node, in memory) or redis://[USER:PASSWORD@]HOST:PORT[/DB]",
        ));
    }
    let prefix = &config.redis_prefix;
    if prefix.is_empty() || prefix.len() > 64 || prefix.chars().any(char::is_whitespace) {
        return Err(bad(
            "cloud.redis_prefix",
            "must be 1 to 64 characters with no space",
        ));
    }
    if !(config.database_url.starts_with("postgres://")
        || config.database_url.starts_with("postgresql://"))
    {
        return Err(bad(
            "cloud.redis_url",
            "clouds sharing their live state through Redis must share one PostgreSQL: set database_url to postgres://...",
        ));
    }
    let timeout_ms = config.redis_timeout_ms;
    if !(50..=10_000).contains(&timeout_ms) {
        return Err(bad("cloud.redis_timeout_ms", "must be 50 to 10000"));
    }
    Ok(Some(relay_rooms_api::RedisConfig {
        url: config.redis_url.clone(),
        prefix: prefix.clone(),
        timeout: Duration::from_millis(timeout_ms),
    }))
}

/// The room API's settings from the `cloud:` keys, each checked.
pub fn rooms_settings(
    config: &CloudConfig,
    push_keys: &PushKeys,
) -> Result<RoomsSettings, NodeError> {
    let database_url = match config.database_url.as_str() {
        "" => format!(
            "sqlite://{}/rooms.db",
            config.data_dir.trim_end_matches('/')
        ),
        url if url.starts_with("sqlite://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://") =>
        {
            url.to_owned()
        }
        _ => {
            return Err(bad(
                "cloud.database_url",
                "must be \"\" (SQLite in data_dir), sqlite://PATH or postgres://...",
            ))
        }
    };
    if config.jwt_key.len() < MIN_JWT_KEY_LEN {
        return Err(bad(
            "cloud.jwt_key",
            format!("must be at least {MIN_JWT_KEY_LEN} characters"),
        ));
    }
    let jwt_key = SecretKey::new(config.jwt_key.as_bytes())
        .map_err(|e| bad("cloud.jwt_key", e.to_string()))?;
    let server_auth = config
        .server_auth
        .then(|| ServerAuth::new(push_keys.key_ring.clone()));
    if server_auth.is_some() && push_keys.key_ring.is_empty() {
        return Err(bad(
                "cloud.server_auth",
                "needs at least one pair in cloud.server_keys (or server_auth: false on a trusted network)",
            ));
    }
    let publish_app = base_url(
        "cloud.publish_base_url",
        &config.publish_base_url,
        &["rtmp"],
    )?
    .to_owned();
    for url in &config.play_base_urls {
        base_url("cloud.play_base_urls", url, &["http", "https"])?;
    }
    let heartbeat_interval = seconds(
        "cloud.heartbeat_interval_s",
        config.heartbeat_interval_s,
        1..=300,
    )?;
    let expiry = seconds(
        "cloud.presence_expire_s",
        config.presence_expire_s,
        2..=3600,
    )?;
    if expiry <= heartbeat_interval {
        return Err(bad(
            "cloud.presence_expire_s",
            "must be longer than cloud.heartbeat_interval_s",
        ));
    }
    let dead_after = match config.callback_dead_after_s {
        0 => None,
        after => Some(seconds(
            "cloud.callback_dead_after_s",
            after,
            1..=30 * 86_400,
        )?),
    };
    let callback = match config.callback_addr.as_str() {
        "" => None,
        addr => {
            signing_secret(config, "callback_addr")?;
            let mut webhooks = WebhookConfig::parse(addr, &config.callback_secret)
                .map_err(|e| bad("cloud.callback_addr", e.to_string()))?;
            webhooks.dead_after = dead_after;
            Some(webhooks)
        }
    };
    let first_retry = seconds("cloud.callback_retry_s", config.callback_retry_s, 1..=3600)?;
    let (gift_payment, gift_reconcile) = gift_settings(config)?;
    Ok(RoomsSettings {
        database_url,
        jwt_key,
        server_auth,
        publish_expire: seconds(
            "cloud.publish_expire_s",
            config.publish_expire_s,
            60..=30 * 86_400,
        )?,
        publish_base_url: config.publish_base_url.trim_end_matches('/').to_owned(),
        publish_app,
        play: PlayLinks {
            bases: config
                .play_base_urls
                .iter()
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect(),
            key: play_key(config)?,
            expire: seconds(
                "cloud.play_expire_s",
                config.play_expire_s,
                60..=30 * 86_400,
            )?,
        },
        auto_start_on_publish: config.auto_start_on_publish,
        presence: PresenceConfig {
            heartbeat_interval,
            expiry,
        },
        publish_grace: seconds("cloud.publish_grace_s", config.publish_grace_s, 1..=86_400)?,
        anchor_grace: seconds("cloud.anchor_grace_s", config.anchor_grace_s, 1..=86_400)?,
        callback,
        callback_backoff: Backoff {
            first: first_retry,
            max: Duration::from_secs(3600).max(first_retry),
        },
        pk_invite_timeout: seconds(
            "cloud.pk_invite_timeout_s",
            config.pk_invite_timeout_s,
            1..=3600,
        )?,
        kick_block: seconds("cloud.kick_block_s", config.kick_block_s, 1..=30 * 86_400)?,
        gift_payment,
        gift_max_custom_amount: config.gift_max_custom_amount,
        gift_reconcile,
        chat: chat_settings(config)?,
        events_token_ttl: seconds(
            "cloud.events_token_ttl_s",
            config.events_token_ttl_s,
            1..=3600,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change to the defaults, and the start of the error it must give.
    type Case = (fn(&mut CloudConfig), &'static str);

    fn chat(change: impl FnOnce(&mut CloudConfig)) -> Result<ChatSettings, String> {
        let mut config = CloudConfig::default();
        change(&mut config);
        chat_settings(&config).map_err(|e| e.to_string())
    }

    #[test]
    fn chat_keys_have_defaults_and_refuse_bad_values() {
        let defaults = chat(|_| {}).unwrap();
        assert_eq!(
            (
                defaults.max_length,
                defaults.rate_per_10s,
                defaults.history_per_room,
                defaults.blocked_words_action,
            ),
            (200, 10, 1000, BlockedWordsAction::Refuse)
        );
        assert!(defaults.blocked_words.is_empty() && defaults.review.is_none());
        let cases: Vec<Case> = vec![
            (|c| c.chat_max_length = 0, "cloud.chat_max_length: "),
            (|c| c.chat_rate_per_10s = 1001, "cloud.chat_rate_per_10s: "),
            (
                |c| c.chat_history_per_room = 0,
                "cloud.chat_history_per_room: ",
            ),
            (
                |c| c.chat_blocked_words = vec![" ".into()],
                "cloud.chat_blocked_words: ",
            ),
            (
                |c| c.chat_blocked_words = vec!["x".repeat(65)],
                "cloud.chat_blocked_words: ",
            ),
            (
                |c| c.chat_blocked_words_action = "drop".into(),
                "cloud.chat_blocked_words_action: ",
            ),
            (
                |c| c.chat_review_timeout_ms = 10,
                "cloud.chat_review_timeout_ms: ",
            ),
            (
                |c| c.chat_review_on_error = "retry".into(),
                "cloud.chat_review_on_error: ",
            ),
            (
                |c| c.chat_review_url = "http://app/review".into(),
                "cloud.callback_secret: ",
            ),
            (
                |c| {
                    c.chat_review_url = "app/review".into();
                    c.callback_secret = "0123456789abcdef".into();
                },
                "cloud.chat_review_url: ",
            ),
        ];
        for (change, prefix) in cases {
            let error = chat(change).unwrap_err();
            assert!(error.starts_with(prefix), "{prefix}: {error}");
        }
        let set = chat(|c| {
            c.chat_rate_per_10s = 0;
            c.chat_blocked_words = vec!["spam".into()];
            c.chat_blocked_words_action = "mask".into();
            c.chat_review_url = "http://127.0.0.1:9/review".into();
            c.callback_secret = "0123456789abcdef".into();
            c.chat_review_timeout_ms = 750;
            c.chat_review_on_error = "pass".into();
        })
        .unwrap();
        assert_eq!(set.rate_per_10s, 0);
        assert_eq!(set.blocked_words_action, BlockedWordsAction::Mask);
        let review = set.review.expect("a review");
        assert_eq!(
            (review.timeout, review.on_error),
            (Duration::from_millis(750), ReviewOnError::Pass)
        );
    }
}
