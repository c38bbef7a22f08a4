//! Moderation as stored: anchors banned from broadcasting, and users kicked from (refused
//! re-joining) or muted in one room, each until a time. Kept in the database so they outlive a
//! restart and reach every node; the cloud caches the room sanctions in memory and reloads them.

use crate::error::not_found_if_missing_reference;
use crate::rooms::check_note;
use crate::users::check_user_id;
use crate::{RoomsError, Store};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

/// An anchor banned from creating, starting and publishing rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ban {
    pub user_id: String,
    pub reason: String,
    /// Unix ms; `None`: until lifted.
    pub until_at: Option<i64>,
    /// Who banned: the admin's user id, or "" for the app's server.
    pub banned_by: String,
    pub created_at: i64,
}

/// A kick or a mute of one user in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SanctionKind {
    /// Removed from the room; joining it again is refused until `until_at`.
    Kick,
    /// May not like or send gifts in the room until `until_at`.
    Mute,
}

impl SanctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SanctionKind::Kick => "kick",
            SanctionKind::Mute => "mute",
        }
    }

    fn parse(text: &str) -> Result<Self, RoomsError> {
        match text {
            "kick" => Ok(SanctionKind::Kick),
            "mute" => Ok(SanctionKind::Mute),
            other => Err(RoomsError::Corrupt(format!(
                "unknown sanction kind {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sanction {
    pub live_id: String,
    pub user_id: String,
    pub kind: SanctionKind,
    /// Unix ms.
    pub until_at: i64,
    pub created_at: i64,
    /// Who imposed it: the anchor's user id, or "" for the app's server.
    pub by_whom: String,
}

const BAN_COLUMNS: &str = "user_id, reason, until_at, banned_by, created_at";
const SANCTION_COLUMNS: &str = "live_id, user_id, kind, until_at, created_at, by_whom";
/// The most sanctions [`Store::active_sanctions`] returns.
const MAX_SANCTIONS: i64 = 100_000;

fn ban_from_row(row: &AnyRow) -> Result<Ban, RoomsError> {
    Ok(Ban {
        user_id: row.try_get("user_id")?,
        reason: row.try_get("reason")?,
        until_at: row.try_get("until_at")?,
        banned_by: row.try_get("banned_by")?,
        created_at: row.try_get("created_at")?,
    })
}

fn sanction_from_row(row: &AnyRow) -> Result<Sanction, RoomsError> {
    Ok(Sanction {
        live_id: row.try_get("live_id")?,
        user_id: row.try_get("user_id")?,
        kind: SanctionKind::parse(row.try_get("kind")?)?,
        until_at: row.try_get("until_at")?,
        created_at: row.try_get("created_at")?,
        by_whom: row.try_get("by_whom")?,
    })
}

impl Store {
    /// Bans a registered anchor (else `"not_found"`) until `until_at` (Unix ms, in the future;
    /// `None`: until lifted), replacing any ban it had.
    pub async fn ban_anchor(
        &self,
        user_id: &str,
        reason: &str,
        until_at: Option<i64>,
        banned_by: &str,
    ) -> Result<Ban, RoomsError> {
        check_user_id(user_id)?;
        let reason = check_note(reason)?;
        let now = self.now();
        if until_at.is_some_and(|until| until <= now) {
            return Err(RoomsError::Invalid(
                "until must be in the future".to_owned(),
            ));
        }
        sqlx::query(
            "INSERT INTO anchor_bans (user_id, reason, until_at, banned_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
             reason = excluded.reason, until_at = excluded.until_at, \
             banned_by = excluded.banned_by, created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(reason.as_str())
        .bind(until_at)
        .bind(banned_by)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| not_found_if_missing_reference(e, || format!("user {user_id:?}")))?;
        Ok(Ban {
            user_id: user_id.to_owned(),
            reason,
            until_at,
            banned_by: banned_by.to_owned(),
            created_at: now,
        })
    }

    /// Lifts an anchor's ban; false when there was none.
    pub async fn lift_ban(&self, user_id: &str) -> Result<bool, RoomsError> {
        let removed = sqlx::query("DELETE FROM anchor_bans WHERE user_id = $1")
            .bind(user_id)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// The anchor's ban if it is in force now (one past its `until_at` is not).
    pub async fn active_ban(&self, user_id: &str) -> Result<Option<Ban>, RoomsError> {
        let row = sqlx::query(&format!(
            "SELECT {BAN_COLUMNS} FROM anchor_bans WHERE user_id = $1 \
             AND (until_at IS NULL OR until_at > $2)"
        ))
        .bind(user_id)
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(ban_from_row).transpose()
    }

    /// Kicks or mutes `user_id` in room `live_id` (a room that exists, else `"not_found"`)
    /// until `until_at`, replacing an earlier sanction of that kind.
    pub async fn sanction(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
        until_at: i64,
        by_whom: &str,
    ) -> Result<Sanction, RoomsError> {
        check_user_id(user_id)?;
        let now = self.now();
        sqlx::query(
            "INSERT INTO room_sanctions (live_id, user_id, kind, until_at, created_at, by_whom) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (live_id, user_id, kind) DO UPDATE SET \
             until_at = excluded.until_at, created_at = excluded.created_at, \
             by_whom = excluded.by_whom",
        )
        .bind(live_id)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(until_at)
        .bind(now)
        .bind(by_whom)
        .execute(self.pool())
        .await
        .map_err(|e| not_found_if_missing_reference(e, || format!("room {live_id:?}")))?;
        Ok(Sanction {
            live_id: live_id.to_owned(),
            user_id: user_id.to_owned(),
            kind,
            until_at,
            created_at: now,
            by_whom: by_whom.to_owned(),
        })
    }

    /// Lifts a kick or mute; false when there was none.
    pub async fn lift_sanction(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<bool, RoomsError> {
        let removed = sqlx::query(
            "DELETE FROM room_sanctions WHERE live_id = $1 AND user_id = $2 AND kind = $3",
        )
        .bind(live_id)
        .bind(user_id)
        .bind(kind.as_str())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(removed > 0)
    }

    /// The sanction of `kind` on `user_id` in `live_id` if it is in force now.
    pub async fn active_sanction(
        &self,
        live_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<Option<Sanction>, RoomsError> {
        let row = sqlx::query(&format!(
            "SELECT {SANCTION_COLUMNS} FROM room_sanctions WHERE live_id = $1 AND user_id = $2 \
             AND kind = $3 AND until_at > $4"
        ))
        .bind(live_id)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(sanction_from_row).transpose()
    }

    /// Every sanction in force now (up to 100,000), for a node's cache.
    pub async fn active_sanctions(&self) -> Result<Vec<Sanction>, RoomsError> {
        sqlx::query(&format!(
            "SELECT {SANCTION_COLUMNS} FROM room_sanctions WHERE until_at > $1 \
             ORDER BY until_at DESC LIMIT $2"
        ))
        .bind(self.now())
        .bind(MAX_SANCTIONS)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(sanction_from_row)
        .collect()
    }

    /// Deletes sanctions that ended before `before` (Unix ms); returns how many.
    pub async fn purge_sanctions(&self, before: i64) -> Result<u64, RoomsError> {
        Ok(
            sqlx::query("DELETE FROM room_sanctions WHERE until_at < $1")
                .bind(before)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }
}
