//! Likes and page views: counted per room (in memory, or in Redis shared by every node) and
//! added to the store about once a second (a burst of taps is one write), and sent to the
//! room's clients as one aggregated `like` event per second with the delta and the total.
//! With Redis, a flush takes a room's pending counts with `GETDEL`, so whichever node flushes
//! them, each like is stored once.

use crate::auth::ClientCaller;
use crate::clock::unix_ms;
use crate::error::{store_error, CODE_BAD_STATE};
use crate::live::{LiveState, RedisState};
use crate::state::Rooms;
use crate::tallies::Tally;
use crate::views::RoomStatsView;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use relay_control::ApiError;
use relay_control::{ApiJson, Reply};
use relay_rooms::RoomCounts;
use relay_rooms::RoomStatus;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most likes one request may carry (a client batching taps).
pub const MAX_LIKES_PER_REQUEST: i64 = 1000;

impl Rooms {
    /// Adds `count` likes to `live_id`; answers the room's total.
    pub async fn like(&self, live_id: &str, count: i64) -> Result<i64, ApiError> {
        if let LiveState::Redis(redis) = &self.live {
            let stored = async { Ok(self.counts(live_id).await?.likes) };
            return redis.like(live_id, count, stored).await;
        }
        let known = self.tallies.lock().contains_key(live_id);
        if !known {
            let stored = self.counts(live_id).await?;
            self.tallies
                .lock()
                .entry(live_id.to_owned())
                .or_insert_with(|| Tally {
                    stored_likes: stored.likes,
                    ..Tally::default()
                });
        }
        let mut tallies = self.tallies.lock();
        let tally = tallies.entry(live_id.to_owned()).or_default();
        tally.pending_likes += count;
        Ok(tally.stored_likes + tally.pending_likes)
    }

    /// Counts one view of `live_id` (room info read or joined); a view the shared state cannot
    /// take is only logged (statistics, not worth refusing the request).
    pub async fn viewed(&self, live_id: &str) {
        if let LiveState::Redis(redis) = &self.live {
            if let Err(error) = redis.viewed(live_id).await {
                tracing::debug!(live_id, error = %error.message, "page view not counted");
            }
            return;
        }
        self.tallies
            .lock()
            .entry(live_id.to_owned())
            .or_default()
            .pending_views += 1;
    }

    /// The stored counts of `live_id`.
    pub async fn counts(&self, live_id: &str) -> Result<RoomCounts, ApiError> {
        self.store.room_counts(live_id).await.map_err(store_error)
    }

    /// Writes the pending counts and sends each room's new likes to its clients.
    pub async fn flush_tallies(&self) {
        if let LiveState::Redis(redis) = &self.live {
            let watched: Vec<String> = self.watched.lock().keys().cloned().collect();
            for live_id in watched {
                let Ok((likes, views, total)) = redis.take_pending(&live_id).await else {
                    continue;
                };
                self.store_pending(redis, &live_id, likes, views, total)
                    .await;
            }
            return;
        }
        let due: Vec<(String, i64, i64)> = self
            .tallies
            .lock()
            .iter_mut()
            .filter(|(_, t)| t.pending_likes > 0 || t.pending_views > 0)
            .map(|(live_id, t)| {
                let taken = (live_id.clone(), t.pending_likes, t.pending_views);
                t.pending_likes = 0;
                t.pending_views = 0;
                taken
            })
            .collect();
        for (live_id, likes, views) in due {
            if let Err(error) = self.store.add_room_counts(&live_id, likes, views).await {
                // Kept for the next flush rather than lost.
                tracing::warn!(%error, live_id, "cannot store likes and views");
                let mut tallies = self.tallies.lock();
                let tally = tallies.entry(live_id).or_default();
                tally.pending_likes += likes;
                tally.pending_views += views;
                continue;
            }
            let total = {
                let mut tallies = self.tallies.lock();
                let tally = tallies.entry(live_id.clone()).or_default();
                tally.stored_likes += likes;
                let total = tally.stored_likes + tally.pending_likes;
                // A room no longer live is forgotten once all of it is stored.
                if tally.pending_likes == 0
                    && tally.pending_views == 0
                    && !self.watched.lock().contains_key(&live_id)
                {
                    tallies.remove(&live_id);
                }
                total
            };
            if likes > 0 {
                self.tell(
                    &live_id,
                    "like",
                    serde_json::json!({ "delta": likes, "total": total }),
                )
                .await;
            }
        }
    }

    /// Stores counts taken from the shared state (given back when the store refuses them) and
    /// tells the room's clients of the new likes.
    async fn store_pending(
        &self,
        redis: &RedisState,
        live_id: &str,
        likes: i64,
        views: i64,
        total: i64,
    ) {
        if likes == 0 && views == 0 {
            return;
        }
        if let Err(error) = self.store.add_room_counts(live_id, likes, views).await {
            tracing::warn!(%error, live_id, "cannot store likes and views");
            if let Err(error) = redis.give_back(live_id, likes, views).await {
                tracing::error!(live_id, likes, views, error = %error.message, "likes and views lost");
            }
            return;
        }
        if likes > 0 {
            self.tell(
                live_id,
                "like",
                serde_json::json!({ "delta": likes, "total": total }),
            )
            .await;
        }
    }
}

impl Rooms {
    /// `room`'s statistics: stored counts plus what this node has not stored yet, and its paid
    /// gifts.
    pub async fn stats(&self, room: relay_rooms::Room) -> Result<RoomStatsView, ApiError> {
        let stored = self.counts(&room.live_id).await?;
        let gifts = self
            .store
            .gift_totals(&room.live_id)
            .await
            .map_err(store_error)?;
        let (likes, views) = match &self.live {
            LiveState::Redis(redis) => redis.pending(&room.live_id).await?,
            LiveState::Memory(_) => self
                .tallies
                .lock()
                .get(&room.live_id)
                .map_or((0, 0), |t| (t.pending_likes, t.pending_views)),
        };
        let end = room.stopped_at.unwrap_or_else(unix_ms);
        Ok(RoomStatsView {
            duration_s: room
                .started_at
                .map_or(0, |start| (end - start).max(0) / 1000),
            live_id: room.live_id,
            page_views: stored.page_views + views,
            unique_viewers: stored.unique_viewers,
            peak_viewers: room.peak_viewers,
            likes: stored.likes + likes,
            gifts: gifts.paid_count,
            gift_revenue: gifts.paid_total,
        })
    }
}

/// `PUT /client/live/room/{live_id}/like`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(like_room))
        .with_state(rooms)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LikeBody {
    /// Likes in this request (taps batched by the client), 1 to 1000.
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LikeView {
    pub count: i64,
    /// The room's likes so far.
    pub total: i64,
}

/// Likes a live room (not one's own). Clients see the likes as one `like` event a second.
#[utoipa::path(put, path = "/client/live/room/{live_id}/like", request_body = LikeBody,
    params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<LikeView>), (status = 400), (status = 401), (status = 403, description = "the anchor's own room"), (status = 404), (status = 409, description = "code 601: not live")))]
pub async fn like_room(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
    body: Result<ApiJson<LikeBody>, ApiError>,
) -> Result<Reply<LikeView>, ApiError> {
    let ApiJson(body) = body?;
    if !(1..=MAX_LIKES_PER_REQUEST).contains(&body.count) {
        return Err(ApiError::bad_request(format!(
            "count must be 1 to {}",
            MAX_LIKES_PER_REQUEST
        )));
    }
    let room = rooms.room(&live_id).await?;
    if room.anchor_id == caller.user_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "anchors cannot like their own room",
        ));
    }
    if room.status != RoomStatus::Live {
        return Err(
            ApiError::new(StatusCode::CONFLICT, format!("room {live_id} is not live"))
                .with_code(CODE_BAD_STATE),
        );
    }
    rooms.check_not_muted(&live_id, &caller.user_id).await?;
    let total = rooms.like(&live_id, body.count).await?;
    Ok(Reply::ok(LikeView {
        count: body.count,
        total,
    }))
}
