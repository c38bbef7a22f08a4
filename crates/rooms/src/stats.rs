//! Per-room statistics: likes and page views (counted in memory by each node and added here in
//! batches, so a burst of taps is one write a second, not one per tap), and unique viewers (a
//! row per room and user, written once per user).

use crate::{RoomsError, Store};
use serde::Serialize;
use sqlx::Row;

/// What has been counted of one room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RoomCounts {
    pub likes: i64,
    pub page_views: i64,
    pub unique_viewers: i64,
}

impl Store {
    /// Adds `likes` and `page_views` to `live_id`'s totals.
    pub async fn add_room_counts(
        &self,
        live_id: &str,
        likes: i64,
        page_views: i64,
    ) -> Result<(), RoomsError> {
        sqlx::query(
            "INSERT INTO room_stats (live_id, likes, page_views) VALUES ($1, $2, $3) \
             ON CONFLICT (live_id) DO UPDATE SET likes = room_stats.likes + excluded.likes, \
             page_views = room_stats.page_views + excluded.page_views",
        )
        .bind(live_id)
        .bind(likes)
        .bind(page_views)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Notes that `user_id` watched `live_id`; true the first time.
    pub async fn record_viewer(&self, live_id: &str, user_id: &str) -> Result<bool, RoomsError> {
        let added = sqlx::query(
            "INSERT INTO room_viewers (live_id, user_id, joined_at) VALUES ($1, $2, $3) \
             ON CONFLICT (live_id, user_id) DO NOTHING",
        )
        .bind(live_id)
        .bind(user_id)
        .bind(self.now())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(added > 0)
    }

    /// The counts of `live_id` (zeros for a room nothing was counted for).
    pub async fn room_counts(&self, live_id: &str) -> Result<RoomCounts, RoomsError> {
        let row = sqlx::query(
            "SELECT COALESCE((SELECT likes FROM room_stats WHERE live_id = $1), 0) AS likes, \
             COALESCE((SELECT page_views FROM room_stats WHERE live_id = $1), 0) AS page_views, \
             (SELECT COUNT(*) FROM room_viewers WHERE live_id = $1) AS unique_viewers",
        )
        .bind(live_id)
        .fetch_one(self.pool())
        .await?;
        Ok(RoomCounts {
            likes: row.try_get("likes")?,
            page_views: row.try_get("page_views")?,
            unique_viewers: row.try_get("unique_viewers")?,
        })
    }
}
