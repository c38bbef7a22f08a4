//! PK sessions: two live rooms' anchors broadcasting against each other.
//!
//! A session is invited by the inviting room's anchor, then accepted (active) or rejected by
//! the invited room's anchor, or times out unanswered; an invited or active session ends when
//! either anchor stops it or either room ends. Every change is a conditional UPDATE on the
//! status it starts from (as for rooms), so of two nodes accepting, or stopping, one session
//! exactly one applies; `pk_started` and `pk_stopped` webhooks are written in the same
//! transaction. A room is in at most one open (invited or active) session: an invitation holds
//! both rooms' rows while it checks that and writes the session.

use crate::outbox::insert_event;
use crate::rooms::fetch_room;
use crate::types::{NewEvent, RoomStatus};
use crate::{ids, RoomsError, Store};
use serde::Serialize;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

/// Where a PK session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PkStatus {
    /// Waiting for the invited room's anchor.
    Invited,
    /// Accepted: the two rooms are in a PK.
    Active,
    /// The invited anchor said no.
    Rejected,
    /// Not answered in time.
    Timeout,
    /// Stopped by an anchor, or one of the rooms ended (see `end_reason`).
    Ended,
}

impl PkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PkStatus::Invited => "invited",
            PkStatus::Active => "active",
            PkStatus::Rejected => "rejected",
            PkStatus::Timeout => "timeout",
            PkStatus::Ended => "ended",
        }
    }

    /// Invited or active: the rooms are taken.
    pub fn is_open(self) -> bool {
        matches!(self, PkStatus::Invited | PkStatus::Active)
    }

    fn parse(text: &str) -> Result<Self, RoomsError> {
        [
            PkStatus::Invited,
            PkStatus::Active,
            PkStatus::Rejected,
            PkStatus::Timeout,
            PkStatus::Ended,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
        .ok_or_else(|| RoomsError::Corrupt(format!("unknown PK status {text:?}")))
    }
}

/// Why an open session ended, kept in `end_reason`.
pub const PK_STOPPED: &str = "stopped";
pub const PK_ROOM_ENDED: &str = "room_ended";

/// A PK session as stored, with both rooms' stream names (for their play URLs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PkSession {
    pub pk_id: String,
    pub init_room_id: String,
    pub recv_room_id: String,
    pub init_anchor_id: String,
    pub recv_anchor_id: String,
    pub init_stream_name: String,
    pub recv_stream_name: String,
    pub status: PkStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// An invitation unanswered at this time (Unix ms) times out.
    pub answer_by: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// [`PK_STOPPED`] or [`PK_ROOM_ENDED`] for a session that ended.
    pub end_reason: Option<String>,
    /// The anchor who stopped it.
    pub stopped_by: Option<String>,
}

impl PkSession {
    /// The other room of the session, and its stream name, seen from `live_id`; `None` when
    /// `live_id` is not one of its rooms.
    pub fn peer_of(&self, live_id: &str) -> Option<(&str, &str)> {
        if live_id == self.init_room_id {
            Some((&self.recv_room_id, &self.recv_stream_name))
        } else if live_id == self.recv_room_id {
            Some((&self.init_room_id, &self.init_stream_name))
        } else {
            None
        }
    }
}

/// Builds the webhook event announcing a change of a session, from the session as the change
/// left it; written in the change's transaction, only when it applied.
pub type PkEventFor<'a> = Option<&'a (dyn Fn(&PkSession) -> NewEvent + Sync)>;

const PK_SELECT: &str = "SELECT p.pk_id, p.init_room_id, p.recv_room_id, p.init_anchor_id, \
    p.recv_anchor_id, ri.stream_name AS init_stream_name, rr.stream_name AS recv_stream_name, \
    p.status, p.created_at, p.updated_at, p.answer_by, p.started_at, p.ended_at, p.end_reason, \
    p.stopped_by FROM pk_sessions p JOIN rooms ri ON ri.live_id = p.init_room_id \
    JOIN rooms rr ON rr.live_id = p.recv_room_id";

/// Sessions that hold a room (open ones).
const OPEN: &str = "p.status IN ('invited', 'active')";

/// The most sessions one sweep reads or changes; the next sweep takes the rest.
const SWEEP_LIMIT: i64 = 1000;

fn pk_from_row(row: &AnyRow) -> Result<PkSession, RoomsError> {
    Ok(PkSession {
        pk_id: row.try_get("pk_id")?,
        init_room_id: row.try_get("init_room_id")?,
        recv_room_id: row.try_get("recv_room_id")?,
        init_anchor_id: row.try_get("init_anchor_id")?,
        recv_anchor_id: row.try_get("recv_anchor_id")?,
        init_stream_name: row.try_get("init_stream_name")?,
        recv_stream_name: row.try_get("recv_stream_name")?,
        status: PkStatus::parse(row.try_get("status")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        answer_by: row.try_get("answer_by")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
        stopped_by: row.try_get("stopped_by")?,
    })
}

async fn fetch_pk(conn: &mut AnyConnection, pk_id: &str) -> Result<PkSession, RoomsError> {
    let row = sqlx::query(&format!("{PK_SELECT} WHERE p.pk_id = $1"))
        .bind(pk_id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| RoomsError::not_found(format!("PK {pk_id:?}")))?;
    pk_from_row(&row)
}

impl Store {
    /// Invites `recv_room_id` to a PK with `init_room_id`; the invitation must be answered
    /// within `answer_within_ms`. Both rooms must exist (`"not_found"`), differ (`"invalid"`),
    /// be live (`"state"`) and be in no open session (`"busy"`).
    pub async fn invite_pk(
        &self,
        init_room_id: &str,
        recv_room_id: &str,
        answer_within_ms: i64,
    ) -> Result<PkSession, RoomsError> {
        if init_room_id == recv_room_id {
            return Err(RoomsError::Invalid(
                "a room cannot be in a PK with itself".to_owned(),
            ));
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        // Hold both rooms (PostgreSQL locks the rows until commit; SQLite's write lock is held
        // already) so that no other invitation for them, and no stop, comes in between the
        // check and the insert. Always in the same order, so two crossing invitations cannot
        // deadlock.
        let mut pair = [init_room_id, recv_room_id];
        pair.sort_unstable();
        for live_id in pair {
            let held = sqlx::query(
                "UPDATE rooms SET updated_at = updated_at \
                 WHERE live_id = $1 AND status = 'live' AND deleted_at IS NULL",
            )
            .bind(live_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if held == 0 {
                let room = fetch_room(&mut tx, live_id).await;
                tx.rollback().await?;
                return Err(match room {
                    Ok(room) if room.deleted_at.is_none() => RoomsError::State(format!(
                        "room {live_id} is {}, not live",
                        room.status.as_str()
                    )),
                    Ok(_) => RoomsError::not_found(format!("room {live_id:?}")),
                    Err(error) => error,
                });
            }
        }
        let taken = sqlx::query(&format!(
            "SELECT p.pk_id, p.init_room_id, p.recv_room_id FROM pk_sessions p WHERE {OPEN} \
             AND (p.init_room_id IN ($1, $2) OR p.recv_room_id IN ($1, $2)) LIMIT 1"
        ))
        .bind(init_room_id)
        .bind(recv_room_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = taken {
            let pk_id: String = row.try_get("pk_id")?;
            let init: String = row.try_get("init_room_id")?;
            let recv: String = row.try_get("recv_room_id")?;
            let busy = if init == init_room_id || recv == init_room_id {
                init_room_id
            } else {
                recv_room_id
            };
            tx.rollback().await?;
            return Err(RoomsError::Busy(format!(
                "room {busy} is already in PK {pk_id} (invited or active)"
            )));
        }
        let init = fetch_room(&mut tx, init_room_id).await?;
        let recv = fetch_room(&mut tx, recv_room_id).await?;
        let pk_id = ids::pk_id();
        sqlx::query(
            "INSERT INTO pk_sessions (pk_id, init_room_id, recv_room_id, init_anchor_id, \
             recv_anchor_id, status, created_at, updated_at, answer_by) \
             VALUES ($1, $2, $3, $4, $5, 'invited', $6, $6, $7)",
        )
        .bind(pk_id.as_str())
        .bind(init_room_id)
        .bind(recv_room_id)
        .bind(init.anchor_id.as_str())
        .bind(recv.anchor_id.as_str())
        .bind(now)
        .bind(now.saturating_add(answer_within_ms.max(0)))
        .execute(&mut *tx)
        .await?;
        let session = fetch_pk(&mut tx, &pk_id).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The session, in whatever status.
    pub async fn get_pk(&self, pk_id: &str) -> Result<Option<PkSession>, RoomsError> {
        let sql = format!("{PK_SELECT} WHERE p.pk_id = $1");
        self.fetch_by_key(&sql, pk_id, pk_from_row).await
    }

    /// The open (invited or active) session `live_id` is in, if any.
    pub async fn open_pk_of(&self, live_id: &str) -> Result<Option<PkSession>, RoomsError> {
        let sql = format!(
            "{PK_SELECT} WHERE {OPEN} AND (p.init_room_id = $1 OR p.recv_room_id = $1) LIMIT 1"
        );
        self.fetch_by_key(&sql, live_id, pk_from_row).await
    }

    /// Every open session (up to a thousand), oldest first: what nodes cache for room views.
    pub async fn open_pk_sessions(&self) -> Result<Vec<PkSession>, RoomsError> {
        self.pk_list(&format!(
            "{PK_SELECT} WHERE {OPEN} ORDER BY p.created_at, p.pk_id LIMIT $1"
        ))
        .await
    }

    async fn pk_list(&self, sql: &str) -> Result<Vec<PkSession>, RoomsError> {
        sqlx::query(sql)
            .bind(SWEEP_LIMIT)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(pk_from_row)
            .collect()
    }

    /// The invited anchor's answer: invited → active (`accept`, writing `on_started`) or
    /// rejected. `None` when the session is not invited any more (answered, stopped, timed
    /// out: of two answers exactly one applies) or its answer time has passed.
    pub async fn answer_pk(
        &self,
        pk_id: &str,
        accept: bool,
        on_started: PkEventFor<'_>,
    ) -> Result<Option<PkSession>, RoomsError> {
        let now = self.now();
        let (sql, event) = if accept {
            (
                "UPDATE pk_sessions SET status = 'active', started_at = $1, updated_at = $1 \
                 WHERE pk_id = $2 AND status = 'invited' AND answer_by > $1",
                on_started,
            )
        } else {
            (
                "UPDATE pk_sessions SET status = 'rejected', ended_at = $1, updated_at = $1 \
                 WHERE pk_id = $2 AND status = 'invited' AND answer_by > $1",
                None,
            )
        };
        let query = sqlx::query(sql).bind(now).bind(pk_id.to_owned());
        self.pk_transition(pk_id, query, event).await
    }

    /// Ends an open session with `reason` ([`PK_STOPPED`], [`PK_ROOM_ENDED`]); `stopped_by`
    /// is the anchor who did. Returns the status it had and the session as ended, `None` when
    /// it was not open (of two stops exactly one applies). `on_stopped` is written only when
    /// the session was active (it had its `pk_started`).
    pub async fn stop_pk(
        &self,
        pk_id: &str,
        reason: &str,
        stopped_by: Option<&str>,
        on_stopped: PkEventFor<'_>,
    ) -> Result<Option<(PkStatus, PkSession)>, RoomsError> {
        let now = self.now();
        // One conditional update per open status, so the one that applies tells which status
        // the session had, even if another node moved it meanwhile.
        for was in [PkStatus::Active, PkStatus::Invited] {
            let query = sqlx::query(
                "UPDATE pk_sessions SET status = 'ended', ended_at = $1, updated_at = $1, \
                 end_reason = $2, stopped_by = $3 WHERE pk_id = $4 AND status = $5",
            )
            .bind(now)
            .bind(reason.to_owned())
            .bind(stopped_by.map(str::to_owned))
            .bind(pk_id.to_owned())
            .bind(was.as_str());
            let event = if was == PkStatus::Active {
                on_stopped
            } else {
                None
            };
            if let Some(session) = self.pk_transition(pk_id, query, event).await? {
                return Ok(Some((was, session)));
            }
        }
        Ok(None)
    }

    /// Ends the open sessions `live_id` is in (the room ended), reason [`PK_ROOM_ENDED`];
    /// returns each with the status it had.
    pub async fn end_room_pks(
        &self,
        live_id: &str,
        on_stopped: PkEventFor<'_>,
    ) -> Result<Vec<(PkStatus, PkSession)>, RoomsError> {
        let rows = sqlx::query(&format!(
            "SELECT p.pk_id FROM pk_sessions p WHERE {OPEN} \
             AND (p.init_room_id = $1 OR p.recv_room_id = $1)"
        ))
        .bind(live_id)
        .fetch_all(self.pool())
        .await?;
        self.stop_each(&rows, on_stopped).await
    }

    /// Ends every open session one of whose rooms is no longer live (it ended on a node that
    /// stopped before ending its PK, or on a node of an older build); returns them.
    pub async fn end_orphan_pks(
        &self,
        on_stopped: PkEventFor<'_>,
    ) -> Result<Vec<(PkStatus, PkSession)>, RoomsError> {
        let live = RoomStatus::Live.as_str();
        let rows = sqlx::query(&format!(
            "SELECT p.pk_id FROM pk_sessions p JOIN rooms ri ON ri.live_id = p.init_room_id \
             JOIN rooms rr ON rr.live_id = p.recv_room_id WHERE {OPEN} AND (ri.status <> $1 \
             OR rr.status <> $1 OR ri.deleted_at IS NOT NULL OR rr.deleted_at IS NOT NULL) \
             LIMIT $2"
        ))
        .bind(live)
        .bind(SWEEP_LIMIT)
        .fetch_all(self.pool())
        .await?;
        self.stop_each(&rows, on_stopped).await
    }

    async fn stop_each(
        &self,
        rows: &[AnyRow],
        on_stopped: PkEventFor<'_>,
    ) -> Result<Vec<(PkStatus, PkSession)>, RoomsError> {
        let mut ended = Vec::new();
        for row in rows {
            let pk_id: String = row.try_get("pk_id")?;
            if let Some(done) = self
                .stop_pk(&pk_id, PK_ROOM_ENDED, None, on_stopped)
                .await?
            {
                ended.push(done);
            }
        }
        Ok(ended)
    }

    /// Invitations unanswered past their `answer_by` → timeout; returns them. Safe on every
    /// node at once: each times out on exactly one.
    pub async fn timeout_pk_invites(&self) -> Result<Vec<PkSession>, RoomsError> {
        let now = self.now();
        let due = sqlx::query(
            "SELECT pk_id FROM pk_sessions WHERE status = 'invited' AND answer_by <= $1 \
             ORDER BY answer_by, pk_id LIMIT $2",
        )
        .bind(now)
        .bind(SWEEP_LIMIT)
        .fetch_all(self.pool())
        .await?;
        let mut timed_out = Vec::new();
        for row in &due {
            let pk_id: String = row.try_get("pk_id")?;
            let query = sqlx::query(
                "UPDATE pk_sessions SET status = 'timeout', ended_at = $1, updated_at = $1 \
                 WHERE pk_id = $2 AND status = 'invited' AND answer_by <= $1",
            )
            .bind(now)
            .bind(pk_id.clone());
            if let Some(session) = self.pk_transition(&pk_id, query, None).await? {
                timed_out.push(session);
            }
        }
        Ok(timed_out)
    }

    /// Runs a conditional UPDATE of one session in a write transaction; when it changed the
    /// row, reads the session back and writes the event built from it, in that transaction.
    async fn pk_transition<'q>(
        &self,
        pk_id: &str,
        update: Query<'q, Any, AnyArguments<'q>>,
        event: PkEventFor<'_>,
    ) -> Result<Option<PkSession>, RoomsError> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        if update.execute(&mut *tx).await?.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let session = fetch_pk(&mut tx, pk_id).await?;
        if let Some(make) = event {
            insert_event(&mut tx, &make(&session), now).await?;
        }
        tx.commit().await?;
        Ok(Some(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_two_are_open() {
        for status in [
            PkStatus::Invited,
            PkStatus::Active,
            PkStatus::Rejected,
            PkStatus::Timeout,
            PkStatus::Ended,
        ] {
            assert_eq!(PkStatus::parse(status.as_str()).unwrap(), status);
            assert_eq!(
                status.is_open(),
                matches!(status, PkStatus::Invited | PkStatus::Active)
            );
        }
        assert_eq!(PkStatus::parse("stopped").unwrap_err().code(), "corrupt");
    }
}
