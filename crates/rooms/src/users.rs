//! Users mirrored from the app: the app registers its users (its own ids) so rooms can name
//! their anchor and show nick and avatar without calling back into the app.

use crate::error::exists_if_unique;
use crate::paging::placeholders;
use crate::types::{BatchRegistered, Extends, NewUser, User, UserUpdate};
use crate::{RoomsError, Store};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashSet;

/// The most users one batch registers, and the most ids one look-up takes: bounded so one
/// request cannot hold a write transaction or build a statement without limit.
pub const MAX_BATCH: usize = 200;
const MAX_USER_ID_BYTES: usize = 128;

const USER_COLUMNS: &str = "user_id, nick, avatar, extends, created_at, updated_at";

pub(crate) fn check_user_id(user_id: &str) -> Result<(), RoomsError> {
    check_key("user_id", user_id)
}

/// An identifier the app or a client chooses (`user_id`, `client_biz_id`): 1 to 128 bytes, no
/// control characters, so it fits an index and a log line.
pub(crate) fn check_key(name: &str, value: &str) -> Result<(), RoomsError> {
    if value.is_empty() || value.len() > MAX_USER_ID_BYTES {
        return Err(RoomsError::Invalid(format!(
            "{name} must be 1 to {MAX_USER_ID_BYTES} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(RoomsError::Invalid(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks a list of ids: at most [`MAX_BATCH`], each valid, none twice.
fn check_id_list<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> Result<(), RoomsError> {
    if ids.len() > MAX_BATCH {
        return Err(RoomsError::Invalid(format!(
            "at most {MAX_BATCH} users at a time"
        )));
    }
    let mut seen = HashSet::new();
    for id in ids {
        check_user_id(id)?;
        if !seen.insert(id) {
            return Err(RoomsError::Invalid(format!(
                "user_id {id:?} is given twice"
            )));
        }
    }
    Ok(())
}

pub(crate) fn extends_to_text(extends: &Extends) -> Result<String, RoomsError> {
    serde_json::to_string(extends).map_err(|e| RoomsError::Invalid(format!("extends: {e}")))
}

pub(crate) fn extends_from_text(text: &str) -> Result<Extends, RoomsError> {
    serde_json::from_str(text).map_err(|e| RoomsError::Corrupt(format!("extends {text:?}: {e}")))
}

fn user_from_row(row: &AnyRow) -> Result<User, RoomsError> {
    Ok(User {
        user_id: row.try_get("user_id")?,
        nick: row.try_get("nick")?,
        avatar: row.try_get("avatar")?,
        extends: extends_from_text(row.try_get("extends")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Registers one user. An id already registered fails with code `"exists"` and changes
    /// nothing (use [`Store::update_user`] to change a user).
    pub async fn register_user(&self, user: &NewUser) -> Result<User, RoomsError> {
        check_user_id(&user.user_id)?;
        let now = self.now();
        sqlx::query(
            "INSERT INTO users (user_id, nick, avatar, extends, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(user.user_id.as_str())
        .bind(user.nick.as_str())
        .bind(user.avatar.as_str())
        .bind(extends_to_text(&user.extends)?)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| exists_if_unique(e, || format!("user {:?}", user.user_id)))?;
        Ok(User {
            user_id: user.user_id.clone(),
            nick: user.nick.clone(),
            avatar: user.avatar.clone(),
            extends: user.extends.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    /// Registers up to [`MAX_BATCH`] users in one transaction. Ids already registered are left
    /// as they are and reported in `existed`, so a batch can be sent again after a failure.
    /// An invalid or repeated id refuses the whole batch.
    pub async fn register_users(&self, users: &[NewUser]) -> Result<BatchRegistered, RoomsError> {
        check_id_list(users.iter().map(|u| u.user_id.as_str()))?;
        let mut outcome = BatchRegistered::default();
        if users.is_empty() {
            return Ok(outcome);
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        for user in users {
            let inserted = sqlx::query(
                "INSERT INTO users (user_id, nick, avatar, extends, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user.user_id.as_str())
            .bind(user.nick.as_str())
            .bind(user.avatar.as_str())
            .bind(extends_to_text(&user.extends)?)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                outcome.registered.push(user.user_id.clone());
            } else {
                outcome.existed.push(user.user_id.clone());
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Changes the fields given in `update`; fails with `"not_found"` for an unknown id.
    pub async fn update_user(
        &self,
        user_id: &str,
        update: &UserUpdate,
    ) -> Result<User, RoomsError> {
        check_user_id(user_id)?;
        let extends = update.extends.as_ref().map(extends_to_text).transpose()?;
        let changed = sqlx::query(
            "UPDATE users SET nick = COALESCE($1, nick), avatar = COALESCE($2, avatar), \
             extends = COALESCE($3, extends), updated_at = $4 WHERE user_id = $5",
        )
        .bind(update.nick.clone())
        .bind(update.avatar.clone())
        .bind(extends)
        .bind(self.now())
        .bind(user_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(RoomsError::not_found(format!("user {user_id:?}")));
        }
        self.get_user(user_id)
            .await?
            .ok_or_else(|| RoomsError::not_found(format!("user {user_id:?}")))
    }

    pub async fn get_user(&self, user_id: &str) -> Result<Option<User>, RoomsError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = $1");
        self.fetch_by_key(&sql, user_id, user_from_row).await
    }

    /// The users among `user_ids` (at most [`MAX_BATCH`], none twice) that are registered, in
    /// the order asked; unknown ids are left out.
    pub async fn get_users(&self, user_ids: &[String]) -> Result<Vec<User>, RoomsError> {
        check_id_list(user_ids.iter().map(String::as_str))?;
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE user_id IN ({})",
            placeholders(1, user_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in user_ids {
            query = query.bind(id.as_str());
        }
        let mut found = query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<User>, RoomsError>>()?;
        found.sort_by_key(|user| user_ids.iter().position(|id| *id == user.user_id));
        Ok(found)
    }
}
