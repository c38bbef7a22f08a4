//! Who may play (optional, off by default): signed play URLs (`play_auth: expiry`, the push
//! URLs' scheme with `play_key`) and an `on_play` hook that asks the app's back end, as SRS's
//! `on_play` and nginx-rtmp's `on_play` do. Both are checked before the edge says whether the
//! stream is live, so a refused player learns nothing about what is served.

use parking_lot::Mutex;
use relay_control::auth::{verify_play, SecretKey};
use relay_control::outbound::SignedPoster;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Decisions of the hook kept at once; beyond, the oldest half is forgotten.
const MAX_CACHED: usize = 4096;

/// Why a player was refused (403); the message goes to the player.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayRefusal {
    /// `play_auth: expiry` and the URL's signed token did not verify (missing, expired or wrongly
    /// signed); holds the reason.
    #[error("play token refused: {0}")]
    Token(String),
    /// The `on_play` app answered, but not 2xx with `{"code": 0}` (or a cached answer said so).
    #[error("the app refused this player")]
    Denied,
    /// The `on_play` request failed or took longer than its timeout; the hook fails closed. Holds
    /// the cause.
    #[error("the app's on_play check did not answer: {0}")]
    Unanswered(String),
}

/// The hook: a signed POST to the app, whose answer is kept for `cache_for`.
pub struct PlayHook {
    poster: SignedPoster,
    timeout: Duration,
    cache_for: Duration,
    decisions: Mutex<HashMap<(String, String), (Instant, bool)>>,
}

/// What the app is asked.
#[derive(Serialize)]
struct OnPlay<'a> {
    action: &'static str,
    app: &'a str,
    stream: &'a str,
    /// The play URL's query as the player sent it (its own parameters, a token).
    param: &'a str,
}

impl PlayHook {
    /// A hook that posts with `poster`, waits at most `timeout` for each answer and reuses answers
    /// for `cache_for` (zero: the app is asked for every player).
    pub fn new(poster: SignedPoster, timeout: Duration, cache_for: Duration) -> Self {
        PlayHook {
            poster,
            timeout,
            cache_for,
            decisions: Mutex::new(HashMap::new()),
        }
    }

    /// The app allows a player when it answers 2xx with `{"code": 0}`; anything else, or no
    /// answer within the timeout, refuses (the hook fails closed). Answers are kept per stream
    /// and query for `cache_for`.
    async fn allows(&self, app: &str, stream: &str, query: &str) -> Result<(), PlayRefusal> {
        let key = (format!("{app}/{stream}"), query.to_owned());
        let now = Instant::now();
        let cached = self
            .decisions
            .lock()
            .get(&key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.cache_for)
            .map(|(_, allowed)| *allowed);
        let allowed = match cached {
            Some(allowed) => allowed,
            None => {
                let body = serde_json::to_vec(&OnPlay {
                    action: "on_play",
                    app,
                    stream,
                    param: query,
                })
                .map_err(|e| PlayRefusal::Unanswered(e.to_string()))?;
                let answer = self
                    .poster
                    .post(&[], body, self.timeout)
                    .await
                    .map_err(PlayRefusal::Unanswered)?;
                let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
                    .ok()
                    .and_then(|value| value.get("code").and_then(serde_json::Value::as_i64));
                let allowed = answer.status.is_success() && code == Some(0);
                let mut decisions = self.decisions.lock();
                if decisions.len() >= MAX_CACHED {
                    let cache_for = self.cache_for;
                    decisions.retain(|_, (at, _)| now.saturating_duration_since(*at) < cache_for);
                    if decisions.len() >= MAX_CACHED {
                        decisions.clear();
                    }
                }
                decisions.insert(key, (now, allowed));
                allowed
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(PlayRefusal::Denied)
        }
    }
}

/// The checks a player passes before it is served.
#[derive(Default)]
pub struct PlayGate {
    /// `play_auth: expiry`: the key play URLs are signed with.
    pub play_key: Option<SecretKey>,
    /// `on_play`: the app is asked about every player; `None`: no hook.
    pub hook: Option<PlayHook>,
}

impl PlayGate {
    /// Whether a player may play `app/stream` with the request's raw `query`.
    pub async fn check(
        &self,
        app: &str,
        stream: &str,
        query: Option<&str>,
    ) -> Result<(), PlayRefusal> {
        if let Some(key) = &self.play_key {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            verify_play(app, stream, query, key, now)
                .map_err(|refusal| PlayRefusal::Token(refusal.to_string()))?;
        }
        if let Some(hook) = &self.hook {
            hook.allows(app, stream, query.unwrap_or_default()).await?;
        }
        Ok(())
    }
}
