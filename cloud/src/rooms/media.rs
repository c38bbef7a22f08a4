//! The media path drives the rooms: a publish of a room's stream marks it live (starting it
//! when `auto_start_on_publish` is on), an unpublish marks it interrupted, and a watchdog ends
//! rooms whose stream stays away: after `publish_grace_s` when the anchor's app is not beating
//! either (`publish_timeout`), after `anchor_grace_s` in any case (`heartbeat_timeout`: the app
//! is open but nothing is published). The same loop drops viewers that stopped beating, keeps
//! rooms' peak viewers, expires rooms never started, times out PK invitations and reloads kicks
//! and mutes. A publish of a banned anchor's room is refused.

use super::{room_event, store_error, Rooms, Watch};
use relay_rooms::{RoomStatus, StopReason};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the watchdog looks.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Created rooms past their expiry are ended this often, this many at a time.
const EXPIRE_EVERY: Duration = Duration::from_secs(30);
/// Kicks and mutes are reloaded from the store this often (those set on other nodes).
const SANCTIONS_EVERY: Duration = Duration::from_secs(5);
/// Kicks and mutes that ended longer ago than this are deleted.
const SANCTIONS_KEPT_MS: i64 = 24 * 3600 * 1000;
const EXPIRE_BATCH: usize = 100;

/// What a publish is to the rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishDecision {
    /// Not a room's stream: published as any stream.
    NotARoom,
    /// Room `live_id`'s stream, which is now live.
    Room { live_id: String },
    /// Refused, with the reason for the publisher.
    Refused(String),
}

impl Rooms {
    /// Decides on a publish of `app/stream` (already past `publish_auth`).
    pub async fn on_publish(&self, app: &str, stream: &str) -> PublishDecision {
        if app != self.settings.publish_app {
            return PublishDecision::NotARoom;
        }
        let room = match self.store.room_by_stream_name(stream).await {
            Ok(Some(room)) => room,
            Ok(None) => return PublishDecision::NotARoom,
            Err(error) => {
                tracing::error!(%error, stream, "rooms store unavailable at publish");
                return PublishDecision::Refused("room service unavailable".to_owned());
            }
        };
        if let Some(refusal) = self.publish_ban(&room.anchor_id).await {
            return PublishDecision::Refused(refusal);
        }
        let room = match room.status {
            RoomStatus::Ended => return PublishDecision::Refused("this room has ended".to_owned()),
            RoomStatus::Created if !self.settings.auto_start_on_publish => {
                return PublishDecision::Refused("this room has not been started".to_owned())
            }
            RoomStatus::Created => match self.start(&room).await {
                Ok(started) => started,
                Err(error) => return PublishDecision::Refused(error.message),
            },
            RoomStatus::Live => room,
        };
        self.watch(&room);
        if let Some(watch) = super::lock(&self.watched).get_mut(&room.live_id) {
            watch.absent_since = None;
            watch.published = true;
        }
        self.emit(
            &room.live_id,
            "stream_status",
            serde_json::json!({ "stream_status": "publishing" }),
        );
        self.announce(room_event("stream_published", &room, serde_json::json!({})))
            .await;
        PublishDecision::Room {
            live_id: room.live_id,
        }
    }

    /// The stream of room `live_id` stopped being published.
    pub async fn on_unpublish(&self, live_id: &str) {
        if let Some(watch) = super::lock(&self.watched).get_mut(live_id) {
            watch.absent_since = Some(Instant::now());
        }
        self.emit(
            live_id,
            "stream_status",
            serde_json::json!({ "stream_status": "interrupted" }),
        );
        match self.store.get_room(live_id).await {
            Ok(Some(room)) => {
                self.announce(room_event(
                    "stream_unpublished",
                    &room,
                    serde_json::json!({}),
                ))
                .await
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, live_id, "rooms store unavailable at unpublish"),
        }
    }

    /// Writes a webhook event on its own and wakes the sender.
    async fn announce(&self, event: relay_rooms::NewEvent) {
        match self.store.enqueue_event(&event).await {
            Ok(()) => self.wake_webhooks(),
            Err(error) => {
                tracing::error!(%error, event = event.event_type, "cannot queue a webhook")
            }
        }
    }

    /// One look: which watched rooms must end, and why.
    fn due_to_end(&self, now: Instant) -> Vec<(String, StopReason)> {
        let publishing = |watch: &Watch| {
            self.registry
                .get(&self.stream_key(&watch.stream_name))
                .is_some()
        };
        let presence = self.presence();
        let mut watched = super::lock(&self.watched);
        let mut due = Vec::new();
        for (live_id, watch) in watched.iter_mut() {
            if publishing(watch) {
                watch.absent_since = None;
                continue;
            }
            let absent = now.saturating_duration_since(*watch.absent_since.get_or_insert(now));
            let anchor_beating = presence.is_online(live_id, &watch.anchor_id);
            if absent >= self.settings.anchor_grace {
                due.push((live_id.clone(), StopReason::HeartbeatTimeout));
            } else if absent >= self.settings.publish_grace && !anchor_beating {
                due.push((live_id.clone(), StopReason::PublishTimeout));
            }
        }
        due
    }

    /// Keeps the peak viewers of live rooms.
    async fn record_peaks(&self) {
        let now = Instant::now();
        let counts: Vec<(String, u64)> = super::lock(&self.watched)
            .iter()
            .map(|(live_id, watch)| (live_id.clone(), self.viewers_of(&watch.stream_name, now)))
            .collect();
        for (live_id, viewers) in counts.into_iter().filter(|(_, viewers)| *viewers > 0) {
            let viewers = i64::try_from(viewers).unwrap_or(i64::MAX);
            if let Err(error) = self.store.record_viewers(&live_id, viewers).await {
                tracing::warn!(%error, live_id, "cannot record peak viewers");
            }
        }
    }

    /// Rooms live in the store (another node or an earlier run started them) are watched from
    /// now on, their stream absent until it shows up.
    async fn watch_live_rooms(&self) {
        let query = super::server::ListQuery {
            status: Some("live".to_owned()),
            page_num: None,
            page_size: Some(relay_control::MAX_PAGE_SIZE),
        };
        let mut page_num = 1;
        loop {
            let query = super::server::ListQuery {
                page_num: Some(page_num),
                ..query.clone()
            };
            match self.list(&query).await {
                Ok(page) => {
                    for room in &page.list {
                        if !super::lock(&self.watched).contains_key(&room.live_id) {
                            self.watch(room);
                        }
                    }
                    if page.end_page {
                        return;
                    }
                    page_num += 1;
                }
                Err(error) => {
                    tracing::warn!(error = %error.message, "cannot list live rooms to watch");
                    return;
                }
            }
        }
    }
}

/// Runs the watchdog until shutdown.
pub async fn watch_rooms(rooms: Arc<Rooms>, mut shutdown: watch::Receiver<bool>) {
    rooms.watch_live_rooms().await;
    rooms.reload_sanctions().await;
    let mut tick = tokio::time::interval(WATCH_EVERY);
    let mut last_expiry = Instant::now();
    let mut last_sanctions = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                // Likes and views counted since the last tick are stored, not lost.
                rooms.flush_tallies().await;
                return;
            }
        }
        let now = Instant::now();
        let gone = rooms.presence().expire(now);
        if !gone.is_empty() {
            tracing::debug!(
                viewers = gone.len(),
                "viewers dropped after missing heartbeats"
            );
        }
        for (live_id, reason) in rooms.due_to_end(now) {
            match rooms.room(&live_id).await {
                Ok(room) if room.status == RoomStatus::Live => {
                    match rooms.stop(&room, reason).await {
                        Ok(_) => tracing::info!(live_id, reason = reason.as_str(), "room ended"),
                        Err(error) => {
                            tracing::warn!(live_id, error = %error.message, "cannot end a room")
                        }
                    }
                }
                // Ended or deleted elsewhere meanwhile: stop watching it.
                _ => rooms.forget(&live_id),
            }
        }
        rooms.sweep_pks().await;
        rooms.record_peaks().await;
        rooms.emit_counts(now);
        rooms.flush_tallies().await;
        if now.duration_since(last_sanctions) >= SANCTIONS_EVERY {
            last_sanctions = now;
            rooms.reload_sanctions().await;
        }
        if now.duration_since(last_expiry) >= EXPIRE_EVERY {
            last_expiry = now;
            let event = |room: &relay_rooms::Room| super::stopped_event(room);
            match rooms
                .store
                .expire_rooms(EXPIRE_BATCH, Some(&event))
                .await
                .map_err(store_error)
            {
                Ok(expired) if !expired.is_empty() => {
                    tracing::info!(rooms = expired.len(), "rooms never started expired");
                    rooms.wake_webhooks();
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error.message, "cannot expire rooms"),
            }
            let before = super::unix_ms().saturating_sub(SANCTIONS_KEPT_MS);
            if let Err(error) = rooms.store.purge_sanctions(before).await {
                tracing::warn!(%error, "cannot purge old kicks and mutes");
            }
        }
    }
}
