//! Rooms: creation, reads, and the state machine created → live → ended.
//!
//! Every change of state is one conditional UPDATE whose WHERE clause states the status it
//! starts from; the number of rows it changed says whether it applied. Two nodes racing to start
//! (or stop) the same room therefore cannot both succeed, whatever the database, and the
//! loser learns it did not apply. The event announcing a change is written in the same
//! transaction, so a change is never committed without its webhook, nor the reverse.

use crate::error::not_found_if_missing_reference;
use crate::outbox::insert_event;
use crate::paging::{bind_texts, contains_pattern, placeholders, Window, LIKE_ESCAPE};
use crate::types::{
    Deleted, EventFor, NewRoom, Room, RoomStatus, RoomUpdate, StopReason, DEFAULT_ROOM_TTL_MS,
};
use crate::users::{check_user_id, extends_from_text, extends_to_text};
use crate::{ids, RoomsError, Store};
use relay_control::{Page, PageQuery};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

const ROOM_COLUMNS: &str = "r.live_id, r.anchor_id, r.title, r.notice, r.cover_url, r.extends, \
    r.status, r.stream_name, r.start_at, r.end_at, r.created_at, r.updated_at, r.expire_at, \
    r.started_at, r.stopped_at, r.stop_reason, r.stop_note, r.peak_viewers, r.deleted_at";

/// Listing order: live rooms first, then those about to start, then ended ones; newest first
/// within each (the id breaks ties, so pages never overlap).
const STATUS_ORDER: &str = "CASE r.status WHEN 'live' THEN 0 WHEN 'created' THEN 1 ELSE 2 END, \
    r.created_at DESC, r.live_id DESC";
const NEWEST_FIRST: &str = "r.created_at DESC, r.live_id DESC";

/// Longest search keyword, in characters.
const MAX_KEYWORD_CHARS: usize = 100;

/// Longest note kept with a stop (or a ban), in characters: a sentence or two for the record.
pub const MAX_NOTE_CHARS: usize = 500;

/// A note as given, refused when longer than [`MAX_NOTE_CHARS`] (rather than cut, so what was
/// written is what is kept).
pub(crate) fn check_note(note: &str) -> Result<String, RoomsError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(RoomsError::Invalid(format!(
            "a note is at most {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(note.to_owned())
}

/// How many times [`Store::delete_room`] re-reads a room whose status moved under it. Statuses
/// only move forward (created → live → ended), so two passes always suffice.
const DELETE_PASSES: usize = 3;

fn room_from_row(row: &AnyRow) -> Result<Room, RoomsError> {
    let stop_reason: Option<String> = row.try_get("stop_reason")?;
    Ok(Room {
        live_id: row.try_get("live_id")?,
        anchor_id: row.try_get("anchor_id")?,
        title: row.try_get("title")?,
        notice: row.try_get("notice")?,
        cover_url: row.try_get("cover_url")?,
        extends: extends_from_text(row.try_get("extends")?)?,
        status: RoomStatus::parse(row.try_get("status")?)?,
        stream_name: row.try_get("stream_name")?,
        start_at: row.try_get("start_at")?,
        end_at: row.try_get("end_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expire_at: row.try_get("expire_at")?,
        started_at: row.try_get("started_at")?,
        stopped_at: row.try_get("stopped_at")?,
        stop_reason: stop_reason.as_deref().map(StopReason::parse).transpose()?,
        stop_note: row.try_get("stop_note")?,
        peak_viewers: row.try_get("peak_viewers")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// The room with this id, deleted or not, read inside a transaction.
pub(crate) async fn fetch_room(
    conn: &mut AnyConnection,
    live_id: &str,
) -> Result<Room, RoomsError> {
    let row = sqlx::query(&format!(
        "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.live_id = $1"
    ))
    .bind(live_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| RoomsError::not_found(format!("room {live_id:?}")))?;
    room_from_row(&row)
}

impl Store {
    /// Creates a room in status `created` for a registered anchor (else `"not_found"`), with a
    /// new `live_id` and `stream_name`. `event` (e.g. `live_created`) is written with it.
    pub async fn create_room(
        &self,
        new: &NewRoom,
        event: EventFor<'_>,
    ) -> Result<Room, RoomsError> {
        check_user_id(&new.anchor_id)?;
        let now = self.now();
        let expire_at = new
            .expire_at
            .or(new.end_at)
            .unwrap_or(now.saturating_add(DEFAULT_ROOM_TTL_MS));
        if expire_at <= now {
            return Err(RoomsError::Invalid(
                "expire_at (or end_at) must be in the future".to_owned(),
            ));
        }
        let live_id = ids::live_id();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO rooms (live_id, anchor_id, title, notice, cover_url, extends, status, \
             stream_name, start_at, end_at, created_at, updated_at, expire_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'created', $7, $8, $9, $10, $10, $11)",
        )
        .bind(live_id.as_str())
        .bind(new.anchor_id.as_str())
        .bind(new.title.as_str())
        .bind(new.notice.as_str())
        .bind(new.cover_url.as_str())
        .bind(extends_to_text(&new.extends)?)
        .bind(ids::stream_name())
        .bind(new.start_at)
        .bind(new.end_at)
        .bind(now)
        .bind(expire_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| not_found_if_missing_reference(e, || format!("user {:?}", new.anchor_id)))?;
        let room = fetch_room(&mut tx, &live_id).await?;
        if let Some(make) = event {
            insert_event(&mut tx, &make(&room), now).await?;
        }
        tx.commit().await?;
        Ok(room)
    }

    /// The room, unless it does not exist or was deleted.
    pub async fn get_room(&self, live_id: &str) -> Result<Option<Room>, RoomsError> {
        self.room_where("r.live_id = $1", live_id).await
    }

    /// The (not deleted) room publishing as `stream_name`: how ingest finds a stream's room.
    pub async fn room_by_stream_name(&self, stream_name: &str) -> Result<Option<Room>, RoomsError> {
        self.room_where("r.stream_name = $1", stream_name).await
    }

    async fn room_where(&self, condition: &str, value: &str) -> Result<Option<Room>, RoomsError> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE {condition} AND r.deleted_at IS NULL"
        );
        self.fetch_by_key(&sql, value, room_from_row).await
    }

    /// Rooms in any of `statuses` (every status when empty): live first, then created, then
    /// ended, newest first within each.
    pub async fn list_rooms(
        &self,
        statuses: &[RoomStatus],
        page: PageQuery,
    ) -> Result<Page<Room>, RoomsError> {
        if statuses.is_empty() {
            return self.room_page("1 = 1", &[], STATUS_ORDER, page).await;
        }
        let filter = format!("r.status IN ({})", placeholders(1, statuses.len()));
        let args: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
        self.room_page(&filter, &args, STATUS_ORDER, page).await
    }

    /// Rooms whose title, `live_id` or anchor's nick contains `keyword`, ignoring case (ASCII
    /// case on SQLite, which folds nothing else); `%` and `_` in it match only themselves.
    /// Listed like [`Store::list_rooms`].
    pub async fn search_rooms(
        &self,
        keyword: &str,
        page: PageQuery,
    ) -> Result<Page<Room>, RoomsError> {
        let keyword = keyword.trim();
        if keyword.is_empty() || keyword.chars().count() > MAX_KEYWORD_CHARS {
            return Err(RoomsError::Invalid(format!(
                "keyword must be 1 to {MAX_KEYWORD_CHARS} characters"
            )));
        }
        let like = format!("LIKE LOWER($1) ESCAPE '{LIKE_ESCAPE}'");
        let filter = format!(
            "LOWER(r.title) {like} OR LOWER(r.live_id) {like} OR r.anchor_id IN \
             (SELECT u.user_id FROM users u WHERE LOWER(u.nick) {like})"
        );
        let args = [contains_pattern(keyword)];
        self.room_page(&filter, &args, STATUS_ORDER, page).await
    }

    /// An anchor's rooms, every status, newest first.
    pub async fn list_anchor_rooms(
        &self,
        anchor_id: &str,
        page: PageQuery,
    ) -> Result<Page<Room>, RoomsError> {
        let args = [anchor_id.to_owned()];
        self.room_page("r.anchor_id = $1", &args, NEWEST_FIRST, page)
            .await
    }

    /// One page of the not-deleted rooms matching `filter` (placeholders from `$1`, bound to
    /// `args`), with the count of all of them.
    async fn room_page(
        &self,
        filter: &str,
        args: &[String],
        order: &str,
        page: PageQuery,
    ) -> Result<Page<Room>, RoomsError> {
        let window = Window::new(page)?;
        let count_sql =
            format!("SELECT COUNT(*) AS n FROM rooms r WHERE r.deleted_at IS NULL AND ({filter})");
        let total: i64 = bind_texts(sqlx::query(&count_sql), args)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let list_sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.deleted_at IS NULL AND ({filter}) \
             ORDER BY {order} LIMIT ${} OFFSET ${}",
            args.len() + 1,
            args.len() + 2
        );
        let list = bind_texts(sqlx::query(&list_sql), args)
            .bind(window.limit())
            .bind(window.offset())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(room_from_row)
            .collect::<Result<Vec<Room>, RoomsError>>()?;
        Ok(window.page(total, list))
    }

    /// Changes title, notice, cover or extends (those given) of a room not deleted.
    pub async fn update_room(
        &self,
        live_id: &str,
        update: &RoomUpdate,
    ) -> Result<Room, RoomsError> {
        let extends = update.extends.as_ref().map(extends_to_text).transpose()?;
        let query = sqlx::query(
            "UPDATE rooms SET title = COALESCE($1, title), notice = COALESCE($2, notice), \
             cover_url = COALESCE($3, cover_url), extends = COALESCE($4, extends), \
             updated_at = $5 WHERE live_id = $6 AND deleted_at IS NULL",
        )
        .bind(update.title.clone())
        .bind(update.notice.clone())
        .bind(update.cover_url.clone())
        .bind(extends)
        .bind(self.now())
        .bind(live_id.to_owned());
        self.transition(live_id, query, &[])
            .await?
            .ok_or_else(|| RoomsError::not_found(format!("room {live_id:?}")))
    }

    /// Created → live. `None` when the room is not `created` (already started or ended, a
    /// second node won the race), has passed its `expire_at`, or does not exist.
    pub async fn start_room(
        &self,
        live_id: &str,
        event: EventFor<'_>,
    ) -> Result<Option<Room>, RoomsError> {
        let query = sqlx::query(
            "UPDATE rooms SET status = 'live', started_at = $1, updated_at = $1 \
             WHERE live_id = $2 AND status = 'created' AND deleted_at IS NULL AND expire_at > $1",
        )
        .bind(self.now())
        .bind(live_id.to_owned());
        self.transition(live_id, query, &[event]).await
    }

    /// Live → ended, recording `reason`. `None` when the room is not live (never started,
    /// already stopped: of two nodes stopping it, exactly one gets the room back).
    pub async fn stop_room(
        &self,
        live_id: &str,
        reason: StopReason,
        event: EventFor<'_>,
    ) -> Result<Option<Room>, RoomsError> {
        self.stop_room_noted(live_id, reason, None, event).await
    }

    /// As [`Store::stop_room`], keeping `note` (what an operator wrote, a ban's reason) in the
    /// room's `stop_note`, at most [`MAX_NOTE_CHARS`] characters.
    pub async fn stop_room_noted(
        &self,
        live_id: &str,
        reason: StopReason,
        note: Option<&str>,
        event: EventFor<'_>,
    ) -> Result<Option<Room>, RoomsError> {
        let note = note.map(check_note).transpose()?;
        let query = sqlx::query(
            "UPDATE rooms SET status = 'ended', stopped_at = $1, updated_at = $1, stop_reason = $2, \
             stop_note = $3 WHERE live_id = $4 AND status = 'live' AND deleted_at IS NULL",
        )
        .bind(self.now())
        .bind(reason.as_str())
        .bind(note)
        .bind(live_id.to_owned());
        self.transition(live_id, query, &[event]).await
    }

    /// The anchor's rooms that are live now (to stop them when the anchor is banned).
    pub async fn live_rooms_of(&self, anchor_id: &str) -> Result<Vec<Room>, RoomsError> {
        sqlx::query(&format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.anchor_id = $1 AND r.status = 'live' \
             AND r.deleted_at IS NULL ORDER BY r.created_at, r.live_id"
        ))
        .bind(anchor_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(room_from_row)
        .collect()
    }

    /// Deletes a room (soft: the row stays for history, reads no longer return it). A room
    /// still live or created ends with reason `deleted`. `on_deleted` is written in any case,
    /// `on_stopped` only when the room was live. `None` when there is no such room or it was
    /// already deleted.
    pub async fn delete_room(
        &self,
        live_id: &str,
        on_deleted: EventFor<'_>,
        on_stopped: EventFor<'_>,
    ) -> Result<Option<Deleted>, RoomsError> {
        let now = self.now();
        // One conditional update per status it may have, so the one that applies tells which
        // status the room had when it was deleted, even if another node moved it meanwhile.
        for _ in 0..DELETE_PASSES {
            for was in [RoomStatus::Live, RoomStatus::Created, RoomStatus::Ended] {
                let query = sqlx::query(
                    "UPDATE rooms SET status = 'ended', stop_reason = COALESCE(stop_reason, 'deleted'), \
                     stopped_at = COALESCE(stopped_at, $1), deleted_at = $1, updated_at = $1 \
                     WHERE live_id = $2 AND status = $3 AND deleted_at IS NULL",
                )
                .bind(now)
                .bind(live_id.to_owned())
                .bind(was.as_str());
                let stopped = if was == RoomStatus::Live {
                    on_stopped
                } else {
                    None
                };
                if let Some(room) = self
                    .transition(live_id, query, &[on_deleted, stopped])
                    .await?
                {
                    return Ok(Some(Deleted { was, room }));
                }
            }
            if self.get_room(live_id).await?.is_none() {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Ends (reason `expired`) up to `limit` rooms still `created` after their `expire_at`,
    /// each with its event; returns them. Safe to run on every node at once: each room is
    /// expired by exactly one.
    pub async fn expire_rooms(
        &self,
        limit: usize,
        event: EventFor<'_>,
    ) -> Result<Vec<Room>, RoomsError> {
        let now = self.now();
        let due = sqlx::query(
            "SELECT live_id FROM rooms WHERE status = 'created' AND deleted_at IS NULL \
             AND expire_at <= $1 ORDER BY expire_at, live_id LIMIT $2",
        )
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        let mut expired = Vec::new();
        for row in &due {
            let live_id: String = row.try_get("live_id")?;
            let query = sqlx::query(
                "UPDATE rooms SET status = 'ended', stop_reason = 'expired', stopped_at = $1, \
                 updated_at = $1 WHERE live_id = $2 AND status = 'created' \
                 AND deleted_at IS NULL AND expire_at <= $1",
            )
            .bind(now)
            .bind(live_id.clone());
            if let Some(room) = self.transition(&live_id, query, &[event]).await? {
                expired.push(room);
            }
        }
        Ok(expired)
    }

    /// Raises a live room's `peak_viewers` to `viewers` if that is a new peak; returns whether
    /// it was. Never lowers it, so nodes reporting at once keep the highest.
    pub async fn record_viewers(&self, live_id: &str, viewers: i64) -> Result<bool, RoomsError> {
        let changed = sqlx::query(
            "UPDATE rooms SET peak_viewers = $1 WHERE live_id = $2 AND status = 'live' \
             AND deleted_at IS NULL AND peak_viewers < $1",
        )
        .bind(viewers)
        .bind(live_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    /// Runs a conditional UPDATE of one room in a write transaction; when it changed the row,
    /// reads the room back and writes the events built from it, all in that transaction.
    async fn transition<'q>(
        &self,
        live_id: &str,
        update: Query<'q, Any, AnyArguments<'q>>,
        events: &[EventFor<'_>],
    ) -> Result<Option<Room>, RoomsError> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        if update.execute(&mut *tx).await?.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let room = fetch_room(&mut tx, live_id).await?;
        for make in events.iter().flatten() {
            insert_event(&mut tx, &make(&room), now).await?;
        }
        tx.commit().await?;
        Ok(Some(room))
    }
}
