//! Gifts: the catalogue, and the ledger of gifts sent with the state of their payment.
//!
//! A ledger row is written `pending` before the payment service is asked, so no payment can
//! happen without a row for it, even when the node dies mid-call. A row is settled (`paid` or
//! `failed`) by one conditional UPDATE from `pending` or `unknown`: whoever settles first wins,
//! every later settler (a retry, the reconciler, the app's confirmation) learns it did not
//! apply, so nothing is applied twice and a paid gift is announced once.
//!
//! Who may ask the payment service is leased through `next_attempt_at`, like the webhook
//! outbox: a caller claims a row by moving it into the future (to the end of its call's
//! timeout), and only a row whose lease has run out can be claimed again. `pending` means a
//! call is (or was, if its node died) under way; `unknown` means the last call was inconclusive
//! and the row waits for its next attempt.

use crate::error::not_found_if_missing_reference;
use crate::paging::Window;
use crate::types::Extends;
use crate::users::{check_key, extends_from_text, extends_to_text};
use crate::{ids, RoomsError, Store};
use relay_control::{Page, PageQuery};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use std::time::Duration;

/// Longest gift name and image URLs, in characters.
const MAX_NAME_CHARS: usize = 100;
const MAX_URL_CHARS: usize = 2048;
/// Longest reason kept in `last_error` or `biz_message`, in characters.
const MAX_ERROR_CHARS: usize = 1000;

const GIFT_COLUMNS: &str = "gift_id, gift_type, name, amount, img, animation_type, \
    animation_img, sort_order, extends, created_at, updated_at";
const RECORD_COLUMNS: &str = "biz_id, client_biz_id, user_id, live_id, anchor_id, gift_id, \
    amount, unit_price, total, status, biz_code, biz_message, last_error, attempts, \
    next_attempt_at, created_at, updated_at, settled_at";

/// A gift of the catalogue: the entry as the app wrote it, and when.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Gift {
    #[serde(flatten)]
    pub entry: NewGift,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A catalogue entry as the app writes it (created, or replaced when `gift_id` exists). As a
/// request body, fields other than these are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGift {
    pub gift_id: i64,
    /// The app's grouping (a tab of the gift panel); `/client/gift/config/{type}` lists one.
    #[serde(rename = "type", default)]
    pub gift_type: i64,
    pub name: String,
    /// Unit price, in the app's currency unit; 0: the sender chooses it (`custom_amount`).
    pub amount: i64,
    #[serde(default)]
    pub img: String,
    #[serde(default)]
    pub animation_type: i64,
    #[serde(default)]
    pub animation_img: String,
    /// Position in the panel, smallest first.
    #[serde(default)]
    pub order: i64,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub extends: Extends,
}

/// Where a gift's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GiftStatus {
    /// Written; the payment service is being asked (or its node died asking).
    Pending,
    /// The payment service took the money. Final.
    Paid,
    /// The payment service refused (`biz_code`, `biz_message`). Final.
    Failed,
    /// The last call had no clear answer (timeout, transport error, an answer that says
    /// neither); the reconciler asks again with the same `biz_id`.
    Unknown,
}

impl GiftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GiftStatus::Pending => "pending",
            GiftStatus::Paid => "paid",
            GiftStatus::Failed => "failed",
            GiftStatus::Unknown => "unknown",
        }
    }

    /// Paid or failed: it never changes again.
    pub fn is_settled(self) -> bool {
        matches!(self, GiftStatus::Paid | GiftStatus::Failed)
    }

    pub(crate) fn parse(text: &str) -> Result<Self, RoomsError> {
        [
            GiftStatus::Pending,
            GiftStatus::Paid,
            GiftStatus::Failed,
            GiftStatus::Unknown,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
        .ok_or_else(|| RoomsError::Corrupt(format!("unknown gift status {text:?}")))
    }
}

/// One gift sent, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GiftRecord {
    /// Server-made; the key the payment service is idempotent on and clients dedupe on.
    pub biz_id: String,
    /// Who gave what to which room, at what price.
    #[serde(flatten)]
    pub sent: NewGiftRecord,
    /// `unit_price × amount`: what is charged.
    pub total: i64,
    pub status: GiftStatus,
    /// The payment service's code and message when it refused (or as the app confirmed).
    pub biz_code: Option<i64>,
    pub biz_message: Option<String>,
    /// Why the last call was inconclusive.
    pub last_error: Option<String>,
    /// Calls to the payment service started so far; also names the current lease.
    pub attempts: i64,
    /// When the row may be claimed again (end of a call's lease, or of the back-off).
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub settled_at: Option<i64>,
}

/// What a send writes: who gives what to which room, priced by the caller (the cloud, from
/// its catalogue; never the client). The store works out the total.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NewGiftRecord {
    /// The sender's own key for this send: a retry with it finds the same row.
    pub client_biz_id: String,
    pub user_id: String,
    pub live_id: String,
    pub anchor_id: String,
    pub gift_id: i64,
    /// How many.
    pub amount: i64,
    /// The price of one, from the catalogue (or the sender's `custom_amount`) when sent.
    pub unit_price: i64,
}

/// What [`Store::open_gift_record`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// A new row, `pending` and claimed by the caller: ask the payment service.
    Created(GiftRecord),
    /// The sender already used this `client_biz_id`: the row as it stands.
    Existing(GiftRecord),
}

/// Who claims a row to ask the payment service again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimant {
    /// The sender retrying: an `unknown` row at once, a `pending` one once its lease ran out.
    Sender,
    /// The reconciler: any unsettled row whose lease or back-off ran out.
    Reconciler,
}

/// Which ledger rows to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiftQuery<'a> {
    Room(&'a str),
    Anchor(&'a str),
    Sender(&'a str),
}

/// How a payment ended, as a settler records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// [`GiftStatus::Paid`] or [`GiftStatus::Failed`].
    pub status: GiftStatus,
    pub biz_code: Option<i64>,
    pub biz_message: Option<String>,
}

/// A room's paid gifts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GiftTotals {
    pub paid_count: i64,
    /// Sum of their `total`.
    pub paid_total: i64,
}

fn gift_from_row(row: &AnyRow) -> Result<Gift, RoomsError> {
    Ok(Gift {
        entry: NewGift {
            gift_id: row.try_get("gift_id")?,
            gift_type: row.try_get("gift_type")?,
            name: row.try_get("name")?,
            amount: row.try_get("amount")?,
            img: row.try_get("img")?,
            animation_type: row.try_get("animation_type")?,
            animation_img: row.try_get("animation_img")?,
            order: row.try_get("sort_order")?,
            extends: extends_from_text(row.try_get("extends")?)?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn record_from_row(row: &AnyRow) -> Result<GiftRecord, RoomsError> {
    Ok(GiftRecord {
        biz_id: row.try_get("biz_id")?,
        sent: NewGiftRecord {
            client_biz_id: row.try_get("client_biz_id")?,
            user_id: row.try_get("user_id")?,
            live_id: row.try_get("live_id")?,
            anchor_id: row.try_get("anchor_id")?,
            gift_id: row.try_get("gift_id")?,
            amount: row.try_get("amount")?,
            unit_price: row.try_get("unit_price")?,
        },
        total: row.try_get("total")?,
        status: GiftStatus::parse(row.try_get("status")?)?,
        biz_code: row.try_get("biz_code")?,
        biz_message: row.try_get("biz_message")?,
        last_error: row.try_get("last_error")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        settled_at: row.try_get("settled_at")?,
    })
}

fn check_text(name: &str, value: &str, max_chars: usize) -> Result<(), RoomsError> {
    if value.chars().count() > max_chars {
        return Err(RoomsError::Invalid(format!(
            "{name} must be at most {max_chars} characters"
        )));
    }
    Ok(())
}

fn check_gift(gift: &NewGift) -> Result<(), RoomsError> {
    if gift.gift_id <= 0 {
        return Err(RoomsError::Invalid(
            "gift_id must be a positive integer".to_owned(),
        ));
    }
    if gift.name.trim().is_empty() {
        return Err(RoomsError::Invalid("name is required".to_owned()));
    }
    check_text("name", &gift.name, MAX_NAME_CHARS)?;
    check_text("img", &gift.img, MAX_URL_CHARS)?;
    check_text("animation_img", &gift.animation_img, MAX_URL_CHARS)?;
    if gift.amount < 0 {
        return Err(RoomsError::Invalid(
            "amount (the unit price) must be 0 (the sender chooses) or more".to_owned(),
        ));
    }
    Ok(())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn clipped(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

impl Store {
    /// Adds `gift` to the catalogue, or replaces the entry with its `gift_id` (keeping when it
    /// was created). Gifts already sent keep the price they were sent at.
    pub async fn put_gift(&self, gift: &NewGift) -> Result<Gift, RoomsError> {
        check_gift(gift)?;
        sqlx::query(
            "INSERT INTO gift_config (gift_id, gift_type, name, amount, img, animation_type, \
             animation_img, sort_order, extends, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (gift_id) DO UPDATE SET gift_type = excluded.gift_type, \
             name = excluded.name, amount = excluded.amount, img = excluded.img, \
             animation_type = excluded.animation_type, animation_img = excluded.animation_img, \
             sort_order = excluded.sort_order, extends = excluded.extends, \
             updated_at = excluded.updated_at",
        )
        .bind(gift.gift_id)
        .bind(gift.gift_type)
        .bind(gift.name.trim())
        .bind(gift.amount)
        .bind(gift.img.as_str())
        .bind(gift.animation_type)
        .bind(gift.animation_img.as_str())
        .bind(gift.order)
        .bind(extends_to_text(&gift.extends)?)
        .bind(self.now())
        .execute(self.pool())
        .await?;
        self.get_gift(gift.gift_id)
            .await?
            .ok_or_else(|| RoomsError::not_found(format!("gift {}", gift.gift_id)))
    }

    pub async fn get_gift(&self, gift_id: i64) -> Result<Option<Gift>, RoomsError> {
        let row = sqlx::query(&format!(
            "SELECT {GIFT_COLUMNS} FROM gift_config WHERE gift_id = $1"
        ))
        .bind(gift_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(gift_from_row).transpose()
    }

    /// The catalogue (one `gift_type` of it when given), in panel order: type, `order`, id.
    pub async fn list_gifts(&self, gift_type: Option<i64>) -> Result<Vec<Gift>, RoomsError> {
        let order = "ORDER BY gift_type, sort_order, gift_id";
        let rows = match gift_type {
            Some(gift_type) => {
                sqlx::query(&format!(
                    "SELECT {GIFT_COLUMNS} FROM gift_config WHERE gift_type = $1 {order}"
                ))
                .bind(gift_type)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {GIFT_COLUMNS} FROM gift_config {order}"))
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(gift_from_row).collect()
    }

    /// Removes a gift from the catalogue; false when there was none. Ledger rows keep its id
    /// and the price it was sent at.
    pub async fn delete_gift(&self, gift_id: i64) -> Result<bool, RoomsError> {
        let deleted = sqlx::query("DELETE FROM gift_config WHERE gift_id = $1")
            .bind(gift_id)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    /// Writes a send as `pending`, claimed by the caller for `lease` (the time its payment
    /// call may take), with a new `biz_id` and `total = unit_price × amount`. When the sender
    /// already used `client_biz_id`, nothing is written and that row is returned as it stands:
    /// one send is one row, however often and however concurrently it is retried.
    pub async fn open_gift_record(
        &self,
        new: &NewGiftRecord,
        lease: Duration,
    ) -> Result<Opened, RoomsError> {
        check_key("client_biz_id", &new.client_biz_id)?;
        check_key("user_id", &new.user_id)?;
        if new.amount <= 0 {
            return Err(RoomsError::Invalid(
                "amount (how many) must be at least 1".to_owned(),
            ));
        }
        if new.unit_price < 0 {
            return Err(RoomsError::Invalid(
                "a unit price cannot be negative".to_owned(),
            ));
        }
        let total = new
            .unit_price
            .checked_mul(new.amount)
            .ok_or_else(|| RoomsError::Invalid("amount × unit price is too large".to_owned()))?;
        let now = self.now();
        let biz_id = ids::biz_id();
        let inserted = sqlx::query(
            "INSERT INTO gift_ledger (biz_id, client_biz_id, user_id, live_id, anchor_id, \
             gift_id, amount, unit_price, total, status, attempts, next_attempt_at, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 1, $10, $11, $11) \
             ON CONFLICT (user_id, client_biz_id) DO NOTHING",
        )
        .bind(biz_id.as_str())
        .bind(new.client_biz_id.as_str())
        .bind(new.user_id.as_str())
        .bind(new.live_id.as_str())
        .bind(new.anchor_id.as_str())
        .bind(new.gift_id)
        .bind(new.amount)
        .bind(new.unit_price)
        .bind(total)
        .bind(now.saturating_add(millis(lease)))
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| {
            not_found_if_missing_reference(e, || {
                format!("room {:?} or user {:?}", new.live_id, new.user_id)
            })
        })?
        .rows_affected();
        if inserted == 1 {
            return self
                .gift_record(&biz_id)
                .await?
                .map(Opened::Created)
                .ok_or_else(|| RoomsError::not_found(format!("gift record {biz_id}")));
        }
        self.gift_record_by_client(&new.user_id, &new.client_biz_id)
            .await?
            .map(Opened::Existing)
            .ok_or_else(|| {
                // The key collided yet the row is gone: rows are never deleted, so this is a
                // biz_id collision, which 124 random bits make practically impossible.
                RoomsError::exists(format!("gift record {biz_id}"))
            })
    }

    /// One ledger row by its `biz_id`.
    pub async fn gift_record(&self, biz_id: &str) -> Result<Option<GiftRecord>, RoomsError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM gift_ledger WHERE biz_id = $1");
        self.fetch_by_key(&sql, biz_id, record_from_row).await
    }

    /// The row of a sender's `client_biz_id`, if that send was made.
    pub async fn gift_record_by_client(
        &self,
        user_id: &str,
        client_biz_id: &str,
    ) -> Result<Option<GiftRecord>, RoomsError> {
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM gift_ledger WHERE user_id = $1 AND client_biz_id = $2"
        ))
        .bind(user_id)
        .bind(client_biz_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Claims an unsettled row for one more payment call, for `lease`: it becomes `pending`,
    /// its `attempts` counted. `None` when it is settled, or someone else's call (or back-off,
    /// for the reconciler) still holds it: of two claimants at once, one gets it.
    pub async fn claim_gift_record(
        &self,
        biz_id: &str,
        lease: Duration,
        claimant: Claimant,
    ) -> Result<Option<GiftRecord>, RoomsError> {
        let due = match claimant {
            Claimant::Sender => {
                "(status = 'unknown' OR (status = 'pending' AND next_attempt_at <= $1))"
            }
            Claimant::Reconciler => "status IN ('pending', 'unknown') AND next_attempt_at <= $1",
        };
        let now = self.now();
        let sql = format!(
            "UPDATE gift_ledger SET status = 'pending', attempts = attempts + 1, \
             next_attempt_at = $2, updated_at = $1 WHERE biz_id = $3 AND {due}"
        );
        let claim = sqlx::query(&sql)
            .bind(now)
            .bind(now.saturating_add(millis(lease)))
            .bind(biz_id);
        self.update_record(biz_id, claim).await
    }

    /// Records how a payment ended: `pending`/`unknown` → paid or failed. `Some` (the row as
    /// settled) only for the call that applied it; `None` when it was settled already (by a
    /// concurrent call, the reconciler or the app) or does not exist. Announce a gift on
    /// `Some` only, and it is announced once.
    pub async fn settle_gift(
        &self,
        biz_id: &str,
        settlement: &Settlement,
    ) -> Result<Option<GiftRecord>, RoomsError> {
        if !settlement.status.is_settled() {
            return Err(RoomsError::Invalid(
                "a gift settles as paid or failed".to_owned(),
            ));
        }
        let settle = sqlx::query(
            "UPDATE gift_ledger SET status = $1, biz_code = $2, biz_message = $3, \
             settled_at = $4, updated_at = $4 \
             WHERE biz_id = $5 AND status IN ('pending', 'unknown')",
        )
        .bind(settlement.status.as_str())
        .bind(settlement.biz_code)
        .bind(settlement.biz_message.as_deref().map(clipped))
        .bind(self.now())
        .bind(biz_id);
        // Settled rows never change again: the read after it sees what this call wrote.
        self.update_record(biz_id, settle).await
    }

    /// Records that the call made under `claimed` (the row as claimed) had no clear answer:
    /// `unknown`, to be asked again at `retry_at`. `None` when the claim was lost meanwhile
    /// (settled by someone else, or claimed again after the lease ran out).
    pub async fn gift_unknown(
        &self,
        claimed: &GiftRecord,
        error: &str,
        retry_at: i64,
    ) -> Result<Option<GiftRecord>, RoomsError> {
        let mark = sqlx::query(
            "UPDATE gift_ledger SET status = 'unknown', last_error = $1, next_attempt_at = $2, \
             updated_at = $3 WHERE biz_id = $4 AND status = 'pending' AND attempts = $5",
        )
        .bind(clipped(error))
        .bind(retry_at)
        .bind(self.now())
        .bind(claimed.biz_id.as_str())
        .bind(claimed.attempts);
        self.update_record(&claimed.biz_id, mark).await
    }

    /// Runs a conditional UPDATE of the row `biz_id`; when it applied, reads the row back.
    /// `None` when its condition did not hold (someone else changed the row first).
    async fn update_record<'q>(
        &self,
        biz_id: &str,
        update: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<Option<GiftRecord>, RoomsError> {
        if update.execute(self.pool()).await?.rows_affected() == 0 {
            return Ok(None);
        }
        self.gift_record(biz_id).await
    }

    /// Up to `limit` unsettled rows the reconciler may claim now, longest waiting first.
    pub async fn due_gift_records(&self, limit: usize) -> Result<Vec<String>, RoomsError> {
        let rows = sqlx::query(
            "SELECT biz_id FROM gift_ledger WHERE status IN ('pending', 'unknown') \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, biz_id LIMIT $2",
        )
        .bind(self.now())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok(row.try_get("biz_id")?)).collect()
    }

    /// A room's, an anchor's or a sender's gifts, every status, newest first.
    pub async fn list_gift_records(
        &self,
        query: GiftQuery<'_>,
        page: PageQuery,
    ) -> Result<Page<GiftRecord>, RoomsError> {
        let window = Window::new(page)?;
        let (column, key) = match query {
            GiftQuery::Room(live_id) => ("live_id", live_id),
            GiftQuery::Anchor(anchor_id) => ("anchor_id", anchor_id),
            GiftQuery::Sender(user_id) => ("user_id", user_id),
        };
        let total: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM gift_ledger WHERE {column} = $1"
        ))
        .bind(key)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        let list = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM gift_ledger WHERE {column} = $1 \
             ORDER BY created_at DESC, biz_id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(key)
        .bind(window.limit())
        .bind(window.offset())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<GiftRecord>, RoomsError>>()?;
        Ok(window.page(total, list))
    }

    /// How many paid gifts a room got, and their sum.
    pub async fn gift_totals(&self, live_id: &str) -> Result<GiftTotals, RoomsError> {
        // CAST: PostgreSQL sums BIGINT as NUMERIC, which the `any` driver does not read.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(total), 0) AS BIGINT) AS s \
             FROM gift_ledger WHERE live_id = $1 AND status = 'paid'",
        )
        .bind(live_id)
        .fetch_one(self.pool())
        .await?;
        Ok(GiftTotals {
            paid_count: row.try_get("n")?,
            paid_total: row.try_get("s")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        for status in [
            GiftStatus::Pending,
            GiftStatus::Paid,
            GiftStatus::Failed,
            GiftStatus::Unknown,
        ] {
            assert_eq!(GiftStatus::parse(status.as_str()).unwrap(), status);
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert!(GiftStatus::Paid.is_settled() && GiftStatus::Failed.is_settled());
        assert!(!GiftStatus::Pending.is_settled() && !GiftStatus::Unknown.is_settled());
        assert_eq!(GiftStatus::parse("refunded").unwrap_err().code(), "corrupt");
    }

    #[test]
    fn catalogue_entries_are_checked() {
        let good = NewGift {
            gift_id: 1,
            name: "Rose".to_owned(),
            amount: 10,
            ..NewGift::default()
        };
        check_gift(&good).unwrap();
        for (bad, needle) in [
            (
                NewGift {
                    gift_id: 0,
                    ..good.clone()
                },
                "gift_id",
            ),
            (
                NewGift {
                    name: " ".to_owned(),
                    ..good.clone()
                },
                "name",
            ),
            (
                NewGift {
                    name: "x".repeat(101),
                    ..good.clone()
                },
                "name",
            ),
            (
                NewGift {
                    amount: -1,
                    ..good.clone()
                },
                "amount",
            ),
            (
                NewGift {
                    img: "x".repeat(3000),
                    ..good.clone()
                },
                "img",
            ),
        ] {
            let error = check_gift(&bad).unwrap_err();
            assert_eq!(error.code(), "invalid");
            assert!(error.to_string().contains(needle), "{error}");
        }
    }
}
