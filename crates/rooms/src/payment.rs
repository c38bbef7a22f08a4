//! Paying for gifts: the call to the app's payment service (`gift_addr`) and the rules that
//! keep one send one charge.
//!
//! Every call carries the ledger row's `biz_id`, and the payment service must be idempotent on
//! it (asked twice for one `biz_id`, it charges once and answers the same). The cloud then asks
//! as often as it needs to learn the outcome — after a timeout, after a crash — but never with
//! a second `biz_id` for the same send: the row, and its `biz_id`, are written before the first
//! call, and a retried send finds the row by its `client_biz_id`.
//!
//! The call: `POST gift_addr` with the JSON `{biz_id, user_id, live_id, anchor_id, gift_id,
//! amount, unit_price, total}`, signed like the webhooks (`X-Liverelay-Signature`). The answer
//! is the usual envelope: a 2xx with `code` 0 (and `data.status` absent or 1) is paid; a 2xx
//! with another `code`, or `data.status` 2, is refused; anything else — no answer within the
//! timeout, a transport error, another HTTP status, a body without a code — says nothing, and
//! the row waits as `unknown` for the reconciler ([`Payments::reconcile`]).

use crate::gifts::{Claimant, GiftRecord, GiftStatus, NewGiftRecord, Opened, Settlement};
use crate::{Backoff, RoomsError, Store};
use hyper::StatusCode;
use relay_control::outbound::{excerpt, shown_url, SignedPoster};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The settings that name the endpoint and its secret, for messages.
const ADDR_KEY: &str = "gift_addr";
const SECRET_KEY: &str = "callback_secret";
/// Kept free after a call's timeout before its row may be claimed again, so a call that ends
/// at its timeout has recorded its outcome before anyone else asks.
const LEASE_GUARD: Duration = Duration::from_secs(1);
/// How often a retried send looks whether the call under way for its row has ended.
const WAIT_STEP: Duration = Duration::from_millis(25);
/// Longest wait before asking again about a row whose calls keep saying nothing.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(600);

/// Where payments go and how long a call may take. [`PaymentConfig::parse`] fills in the
/// defaults; the fields are public for the cloud's settings (and tests) to tune.
#[derive(Clone)]
pub struct PaymentConfig {
    /// The payment service (`gift_addr`): an `http://` or `https://` URL.
    pub url: String,
    /// The secret calls are signed with (`callback_secret`, shared with the webhooks).
    pub secret: String,
    /// Longest a call may take, from connecting to reading the answer (`gift_timeout_ms`).
    pub timeout: Duration,
    /// Waits before asking again after a call said nothing: `first`, doubling per attempt.
    pub retry: Backoff,
    /// Most unsettled rows one reconciler pass takes; their calls run concurrently.
    pub batch: usize,
    /// DER certificates trusted for `https://` besides the system's roots.
    pub ca_certs: Vec<Vec<u8>>,
}

impl fmt::Debug for PaymentConfig {
    /// Never shows the secret, nor the URL's query.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentConfig")
            .field("url", &shown_url(&self.url))
            .field("secret", &"***")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("batch", &self.batch)
            .field("ca_certs", &self.ca_certs.len())
            .finish()
    }
}

impl PaymentConfig {
    /// The configuration for `url` and `secret` with a 3 s timeout and retries 5 s after an
    /// inconclusive call, doubling up to 10 minutes; or why they cannot be used.
    pub fn parse(url: &str, secret: &str) -> Result<PaymentConfig, RoomsError> {
        let config = PaymentConfig {
            url: url.trim().to_owned(),
            secret: secret.to_owned(),
            timeout: Duration::from_secs(3),
            retry: Backoff {
                first: Duration::from_secs(5),
                max: MAX_RETRY_WAIT,
            },
            batch: 16,
            ca_certs: Vec::new(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every field ([`Payments::new`] does too, as the fields are public).
    pub fn validate(&self) -> Result<(), RoomsError> {
        relay_control::outbound::parse_url(ADDR_KEY, &self.url).map_err(RoomsError::Invalid)?;
        let bad = |message: String| Err(RoomsError::Invalid(message));
        if self.secret.trim().is_empty() {
            return bad(format!(
                "{SECRET_KEY} is empty: payment calls are signed with it, so set a long random \
                 secret shared with the app's back end"
            ));
        }
        if self.timeout.is_zero() || self.retry.first.is_zero() {
            return bad("the payment timeout and retry wait must be more than zero".to_owned());
        }
        if self.batch == 0 {
            return bad("the payment batch must be at least 1".to_owned());
        }
        Ok(())
    }

    /// How long a claimed row is reserved for its call.
    fn lease(&self) -> Duration {
        self.timeout.saturating_add(LEASE_GUARD)
    }
}

/// What the payment service's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Paid,
    Refused {
        code: i64,
        message: String,
    },
    /// Nothing certain: the reason, kept in `last_error`.
    Unclear(String),
}

/// Reads an answer as the payment contract says (see the module's documentation).
fn judge(status: StatusCode, answer: &[u8]) -> Verdict {
    if !status.is_success() {
        return Verdict::Unclear(format!("HTTP {status}: {}", excerpt(answer)));
    }
    let envelope = match serde_json::from_slice::<serde_json::Value>(answer) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => {
            return Verdict::Unclear(format!(
                "HTTP {status} without a JSON envelope: {}",
                excerpt(answer)
            ))
        }
    };
    let Some(code) = envelope.get("code").and_then(serde_json::Value::as_i64) else {
        return Verdict::Unclear(format!(
            "HTTP {status} without an integer code: {}",
            excerpt(answer)
        ));
    };
    let message = envelope
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_owned();
    if code != 0 {
        return Verdict::Refused { code, message };
    }
    let paid_status = envelope.get("data").and_then(|data| data.get("status"));
    match paid_status {
        None | Some(serde_json::Value::Null) => Verdict::Paid,
        Some(value) if value.as_i64() == Some(1) => Verdict::Paid,
        Some(value) if value.as_i64() == Some(2) => Verdict::Refused { code, message },
        Some(other) => Verdict::Unclear(format!("code 0 with data.status {other}")),
    }
}

/// The body of a payment call.
#[derive(Serialize)]
struct Charge<'a> {
    biz_id: &'a str,
    user_id: &'a str,
    live_id: &'a str,
    anchor_id: &'a str,
    gift_id: i64,
    amount: i64,
    unit_price: i64,
    total: i64,
}

/// What a send (or a retry of one) came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Paid {
    /// The ledger row as it stands after this call.
    pub record: GiftRecord,
    /// This call settled the row (paid or failed): it, and only it, announces the outcome.
    pub settled_here: bool,
    /// Why the payment is not settled yet, when it is not.
    pub unsettled_because: Option<String>,
}

/// Pays for gifts and reconciles the unsettled ones. Cheap to clone.
#[derive(Clone)]
pub struct Payments {
    store: Store,
    config: Arc<PaymentConfig>,
    poster: Arc<SignedPoster>,
}

impl fmt::Debug for Payments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payments")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Payments {
    /// Payments into `store`'s ledger as `config` says. Fails when the configuration is
    /// invalid, or for an `https://` URL when no trusted root certificate can be loaded.
    pub fn new(store: Store, config: PaymentConfig) -> Result<Payments, RoomsError> {
        config.validate()?;
        let poster = SignedPoster::new(
            ADDR_KEY,
            "payment",
            &config.url,
            &config.secret,
            &config.ca_certs,
        )
        .map_err(RoomsError::Invalid)?;
        Ok(Payments {
            store,
            config: Arc::new(config),
            poster: Arc::new(poster),
        })
    }

    pub fn config(&self) -> &PaymentConfig {
        &self.config
    }

    /// Sends a gift: writes its row (or finds the one this `client_biz_id` already has) and
    /// asks the payment service, unless the row is settled or another call for it is under way
    /// (then waits for that call). A retry never pays twice and never makes a second `biz_id`.
    pub async fn send(&self, new: &NewGiftRecord) -> Result<Paid, RoomsError> {
        match self
            .store
            .open_gift_record(new, self.config.lease())
            .await?
        {
            Opened::Created(record) => self.charge(record).await,
            Opened::Existing(record) => self.resume(record).await,
        }
    }

    /// Carries on with a row already written: its outcome when settled, else one more call
    /// with its `biz_id` (or the outcome of the call under way).
    pub async fn resume(&self, record: GiftRecord) -> Result<Paid, RoomsError> {
        if record.status.is_settled() {
            return Ok(unchanged(record, None));
        }
        let claim = self
            .store
            .claim_gift_record(&record.biz_id, self.config.lease(), Claimant::Sender)
            .await?;
        match claim {
            Some(claimed) => self.charge(claimed).await,
            None => self.wait_for_call(record).await,
        }
    }

    /// One reconciler pass: claims up to `batch` unsettled rows whose wait is over and asks
    /// about each, concurrently. Returns the rows this pass settled (announce the paid ones).
    /// Safe on every node at once: a row is claimed by one.
    pub async fn reconcile(&self) -> Result<Vec<GiftRecord>, RoomsError> {
        let due = self.store.due_gift_records(self.config.batch).await?;
        let mut calls = JoinSet::new();
        for biz_id in due {
            let payments = self.clone();
            calls.spawn(async move {
                let claimed = payments
                    .store
                    .claim_gift_record(&biz_id, payments.config.lease(), Claimant::Reconciler)
                    .await?;
                match claimed {
                    Some(claimed) => payments.charge(claimed).await.map(Some),
                    None => Ok(None), // another node (or a retried send) has it
                }
            });
        }
        let mut settled = Vec::new();
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok(Ok(Some(paid))) if paid.settled_here => settled.push(paid.record),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "gift reconciler: a row failed"),
                Err(error) => tracing::error!(%error, "gift reconciler task failed"),
            }
        }
        Ok(settled)
    }

    /// Asks the payment service about a row this caller claimed, and records the answer.
    async fn charge(&self, claimed: GiftRecord) -> Result<Paid, RoomsError> {
        let verdict = self.call(&claimed).await;
        let settlement = match verdict {
            Verdict::Paid => Settlement {
                status: GiftStatus::Paid,
                biz_code: None,
                biz_message: None,
            },
            Verdict::Refused { code, message } => Settlement {
                status: GiftStatus::Failed,
                biz_code: Some(code),
                biz_message: Some(message),
            },
            Verdict::Unclear(reason) => {
                let wait = self.config.retry.delay(claimed.attempts);
                let retry_at = self.store.now().saturating_add(millis(wait));
                tracing::warn!(
                    biz_id = %claimed.biz_id,
                    attempt = claimed.attempts,
                    reason,
                    retry_in_ms = millis(wait),
                    "gift payment unclear; the reconciler asks again"
                );
                return match self.store.gift_unknown(&claimed, &reason, retry_at).await? {
                    Some(record) => Ok(unchanged(record, Some(reason))),
                    None => self.reread(&claimed.biz_id, Some(reason)).await,
                };
            }
        };
        match self.store.settle_gift(&claimed.biz_id, &settlement).await? {
            Some(record) => {
                tracing::info!(
                    biz_id = %record.biz_id,
                    status = record.status.as_str(),
                    total = record.total,
                    attempt = record.attempts,
                    "gift payment settled"
                );
                Ok(Paid {
                    record,
                    settled_here: true,
                    unsettled_because: None,
                })
            }
            // Settled meanwhile by someone else (the app's confirmation, a reconciler that
            // took the row after our lease): theirs stands.
            None => self.reread(&claimed.biz_id, None).await,
        }
    }

    /// The row as it stands, for a caller that did not settle it.
    async fn reread(&self, biz_id: &str, because: Option<String>) -> Result<Paid, RoomsError> {
        let record = self
            .store
            .gift_record(biz_id)
            .await?
            .ok_or_else(|| RoomsError::not_found(format!("gift record {biz_id}")))?;
        let because = (!record.status.is_settled()).then_some(because).flatten();
        Ok(unchanged(record, because))
    }

    /// Waits for the call under way for `record` to end (at most until its lease does), then
    /// answers with the row as it stands.
    async fn wait_for_call(&self, record: GiftRecord) -> Result<Paid, RoomsError> {
        let deadline = Instant::now() + self.config.lease();
        let mut current = record;
        while current.status == GiftStatus::Pending && Instant::now() < deadline {
            tokio::time::sleep(WAIT_STEP).await;
            current = self
                .store
                .gift_record(&current.biz_id)
                .await?
                .ok_or_else(|| RoomsError::not_found(format!("gift record {}", current.biz_id)))?;
        }
        let because = match current.status {
            GiftStatus::Pending => {
                Some("the payment call for this send is still under way".to_owned())
            }
            GiftStatus::Unknown => current.last_error.clone(),
            _ => None,
        };
        Ok(unchanged(current, because))
    }

    /// One signed POST with the row's `biz_id` and price.
    async fn call(&self, record: &GiftRecord) -> Verdict {
        let sent = &record.sent;
        let charge = Charge {
            biz_id: &record.biz_id,
            user_id: &sent.user_id,
            live_id: &sent.live_id,
            anchor_id: &sent.anchor_id,
            gift_id: sent.gift_id,
            amount: sent.amount,
            unit_price: sent.unit_price,
            total: record.total,
        };
        let body = match serde_json::to_vec(&charge) {
            Ok(body) => body,
            Err(error) => return Verdict::Unclear(format!("cannot encode the call: {error}")),
        };
        match self.poster.post(&[], body, self.config.timeout).await {
            Ok(answer) => judge(answer.status, &answer.body),
            Err(reason) => Verdict::Unclear(reason),
        }
    }
}

fn unchanged(record: GiftRecord, unsettled_because: Option<String>) -> Paid {
    Paid {
        record,
        settled_here: false,
        unsettled_because,
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_as_the_contract_says() {
        let ok = StatusCode::OK;
        assert_eq!(judge(ok, br#"{"code":0}"#), Verdict::Paid);
        assert_eq!(
            judge(ok, br#"{"code":0,"data":{"status":1}}"#),
            Verdict::Paid
        );
        assert_eq!(judge(ok, br#"{"code":0,"data":null}"#), Verdict::Paid);
        assert_eq!(
            judge(ok, br#"{"code":400001,"message":"insufficient balance"}"#),
            Verdict::Refused {
                code: 400001,
                message: "insufficient balance".to_owned()
            }
        );
        assert_eq!(
            judge(
                ok,
                br#"{"code":0,"message":"declined","data":{"status":2}}"#
            ),
            Verdict::Refused {
                code: 0,
                message: "declined".to_owned()
            }
        );
        for (status, body) in [
            (ok, &br#"{"code":0,"data":{"status":0}}"#[..]),
            (ok, b"paid"),
            (ok, br#"{"code":"0"}"#),
            (ok, br#"{"message":"ok"}"#),
            (StatusCode::INTERNAL_SERVER_ERROR, br#"{"code":0}"#),
            (StatusCode::BAD_GATEWAY, br#"{"code":400001}"#),
            (StatusCode::FOUND, b""),
        ] {
            let verdict = judge(status, body);
            assert!(
                matches!(verdict, Verdict::Unclear(_)),
                "{status} {}: {verdict:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn config_refuses_what_cannot_work() {
        let config = PaymentConfig::parse("http://127.0.0.1:9/pay", "s3cret").unwrap();
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(config.lease(), Duration::from_secs(4));
        let error = PaymentConfig::parse("ftp://x/pay", "s")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("gift_addr: "), "{error}");
        let error = PaymentConfig::parse("http://x/pay", " ")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("callback_secret is empty"), "{error}");
        let mut config = PaymentConfig::parse("http://x/pay", "s").unwrap();
        config.timeout = Duration::ZERO;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("timeout"));
        let shown = format!(
            "{:?}",
            PaymentConfig::parse("https://x/pay?t=1", "s3cret").unwrap()
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("t=1"),
            "{shown}"
        );
    }
}
