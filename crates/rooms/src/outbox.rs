//! The webhook outbox: events written with the changes they announce, delivered at least once
//! by whichever node takes them.
//!
//! Taking an event leases it: its `next_attempt_at` moves to the end of the lease in a
//! conditional update that only applies while the event is due, so of two nodes taking at once
//! exactly one gets it. A delivery that fails is rescheduled with exponential back-off; one
//! whose node died is taken again when the lease runs out.
//!
//! An event the receiver has not acknowledged long after it was written (`dead_after` of the
//! worker) becomes a dead letter ([`Store::bury_stale_events`]): kept, listed for operators
//! ([`Store::dead_events`]), never attempted again until one sends it back
//! ([`Store::retry_dead_event`]). Only a due event is buried, never one leased to a delivery
//! under way.

use crate::error::exists_if_unique;
use crate::paging::Window;
use crate::types::{Event, NewEvent};
use crate::{RoomsError, Store};
use relay_control::{Page, PageQuery};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::time::Duration;

const EVENT_COLUMNS: &str = "id, type, body, created_at, attempts, next_attempt_at, \
     delivered_at, last_error, live_id, dead_at";

/// Events still to be delivered (waiting, failed or being sent), for [`Store::count_events`].
pub(crate) const PENDING: &str = "delivered_at IS NULL AND dead_at IS NULL";
/// Dead letters, for [`Store::count_events`].
pub(crate) const DEAD: &str = "dead_at IS NOT NULL";

/// Longest `last_error` kept, in characters: enough for a status line and a body excerpt.
const MAX_ERROR_CHARS: usize = 1000;

/// Waits between failed deliveries: `first` after the first failure, doubling after each
/// further one, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 10 s, 20 s, 40 s ... up to an hour: a receiver down for a day gets about 30 tries.
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(10),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait after the `attempts`-th failed delivery (1 for the first).
    pub fn delay(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 32)).unwrap_or(32);
        self.first
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max)
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn event_from_row(row: &AnyRow) -> Result<Event, RoomsError> {
    let id: String = row.try_get("id")?;
    let body: String = row.try_get("body")?;
    Ok(Event {
        body: serde_json::from_str(&body)
            .map_err(|e| RoomsError::Corrupt(format!("body of event {id}: {e}")))?,
        id,
        event_type: row.try_get("type")?,
        created_at: row.try_get("created_at")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        delivered_at: row.try_get("delivered_at")?,
        last_error: row.try_get("last_error")?,
        live_id: row.try_get("live_id")?,
        dead_at: row.try_get("dead_at")?,
    })
}

/// The room an event body is about: its `live_id` when that is a string.
pub(crate) fn room_of_body(body: &serde_json::Value) -> Option<&str> {
    body.get("live_id")?.as_str()
}

/// Writes `event`, due at once, on `conn` (a transaction's, to go with a change).
pub(crate) async fn insert_event(
    conn: &mut AnyConnection,
    event: &NewEvent,
    now: i64,
) -> Result<(), RoomsError> {
    if event.id.is_empty() || event.event_type.is_empty() {
        return Err(RoomsError::Invalid(
            "an event needs an id and a type".to_owned(),
        ));
    }
    sqlx::query(
        "INSERT INTO webhook_outbox \
         (id, type, body, created_at, attempts, next_attempt_at, live_id) \
         VALUES ($1, $2, $3, $4, 0, $4, $5)",
    )
    .bind(event.id.as_str())
    .bind(event.event_type.as_str())
    .bind(event.body.to_string())
    .bind(now)
    .bind(room_of_body(&event.body))
    .execute(conn)
    .await
    .map_err(|e| exists_if_unique(e, || format!("event {}", event.id)))?;
    Ok(())
}

impl Store {
    /// Puts an event in the outbox on its own (changes of rooms take theirs as an argument,
    /// to write it in their transaction). A repeated id fails with `"exists"`.
    pub async fn enqueue_event(&self, event: &NewEvent) -> Result<(), RoomsError> {
        let mut conn = self.pool().acquire().await?;
        insert_event(&mut conn, event, self.now()).await
    }

    pub async fn get_event(&self, id: &str) -> Result<Option<Event>, RoomsError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM webhook_outbox WHERE id = $1");
        self.fetch_by_key(&sql, id, event_from_row).await
    }

    /// Takes up to `limit` due events, oldest due first, each leased to the caller for
    /// `lease` (no other taker gets it until then) and its `attempts` counted. Deliver each,
    /// then [`Store::mark_delivered`] or [`Store::reschedule_event`].
    pub async fn take_due_events(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Event>, RoomsError> {
        let now = self.now();
        let due = sqlx::query(
            "SELECT id FROM webhook_outbox \
             WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, created_at, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        let lease_end = now.saturating_add(millis(lease));
        let mut taken = Vec::with_capacity(due.len());
        for row in &due {
            let id: String = row.try_get("id")?;
            let won = sqlx::query(
                "UPDATE webhook_outbox SET next_attempt_at = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND delivered_at IS NULL AND dead_at IS NULL \
                 AND next_attempt_at <= $3",
            )
            .bind(lease_end)
            .bind(id.as_str())
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
            if won == 0 {
                continue; // another node took it between our SELECT and UPDATE
            }
            if let Some(event) = self.get_event(&id).await? {
                taken.push(event);
            }
        }
        Ok(taken)
    }

    /// Records a delivery; it is never taken again. False when it was already recorded (or the
    /// id is unknown). The receiver has it, so an event buried meanwhile is no longer dead.
    pub async fn mark_delivered(&self, id: &str) -> Result<bool, RoomsError> {
        let changed = sqlx::query(
            "UPDATE webhook_outbox SET delivered_at = $1, dead_at = NULL \
             WHERE id = $2 AND delivered_at IS NULL",
        )
        .bind(self.now())
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    /// Records a failed delivery of `event` (as taken) and makes it due again after the
    /// back-off for its attempts; returns that time. `None` when the lease was lost: the
    /// event was delivered or taken again by another node since.
    pub async fn reschedule_event(
        &self,
        event: &Event,
        error: &str,
    ) -> Result<Option<i64>, RoomsError> {
        let next = self
            .now()
            .saturating_add(millis(self.backoff().delay(event.attempts)));
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let changed = sqlx::query(
            "UPDATE webhook_outbox SET next_attempt_at = $1, last_error = $2 \
             WHERE id = $3 AND attempts = $4 AND delivered_at IS NULL AND dead_at IS NULL",
        )
        .bind(next)
        .bind(error)
        .bind(event.id.as_str())
        .bind(event.attempts)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok((changed > 0).then_some(next))
    }

    /// Deletes delivered events older than `before` (Unix ms); returns how many.
    pub async fn purge_delivered(&self, before: i64) -> Result<u64, RoomsError> {
        Ok(sqlx::query(
            "DELETE FROM webhook_outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1",
        )
        .bind(before)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Makes dead letters of the due, undelivered events written (or last retried) at or before
    /// `before` (Unix ms) whose delivery was tried; returns how many. Dead events are not taken
    /// again and hold no room's later events back. One never tried was held behind an older
    /// event of its room, and gets its chance once that one is dead.
    pub async fn bury_stale_events(&self, before: i64) -> Result<u64, RoomsError> {
        let now = self.now();
        Ok(sqlx::query(
            "UPDATE webhook_outbox SET dead_at = $1 \
             WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1 \
             AND attempts > 0 AND COALESCE(retried_at, created_at) <= $2",
        )
        .bind(now)
        .bind(before)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// The dead letters, most recently buried first.
    pub async fn dead_events(&self, page: PageQuery) -> Result<Page<Event>, RoomsError> {
        let window = Window::new(page)?;
        let total = self.count_events(DEAD).await?;
        let list = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM webhook_outbox WHERE dead_at IS NOT NULL \
             ORDER BY dead_at DESC, id LIMIT $1 OFFSET $2"
        ))
        .bind(window.limit())
        .bind(window.offset())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<Event>, RoomsError>>()?;
        Ok(window.page(i64::try_from(total).unwrap_or(i64::MAX), list))
    }

    /// Sends dead letter `id` back to the queue: due at once, its attempts counted from 0 and
    /// its age from now (its last error is kept until the next attempt). `NotFound` for an
    /// unknown id, `State` for an event that is not dead.
    pub async fn retry_dead_event(&self, id: &str) -> Result<Event, RoomsError> {
        let now = self.now();
        let changed = sqlx::query(
            "UPDATE webhook_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = $1, \
             retried_at = $1 WHERE id = $2 AND dead_at IS NOT NULL",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        let event = self
            .get_event(id)
            .await?
            .ok_or_else(|| RoomsError::not_found(format!("webhook event {id}")))?;
        if changed == 0 {
            return Err(RoomsError::State(format!(
                "webhook event {id} is not dead ({})",
                if event.delivered_at.is_some() {
                    "delivered"
                } else {
                    "pending"
                }
            )));
        }
        Ok(event)
    }

    /// The events matching `filter` ([`PENDING`], [`DEAD`]).
    pub(crate) async fn count_events(&self, filter: &str) -> Result<u64, RoomsError> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM webhook_outbox WHERE {filter}"
        ))
        .fetch_one(self.pool())
        .await?;
        let count: i64 = row.try_get("n")?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let backoff = Backoff {
            first: Duration::from_secs(10),
            max: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (1..=6).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff.delay(0).as_secs(), 10);
        assert_eq!(backoff.delay(i64::MAX).as_secs(), 60);
    }
}
