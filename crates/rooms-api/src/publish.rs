//! The media path drives the rooms: a publish of a room's stream marks it live (starting it
//! when `auto_start_on_publish` is on), an unpublish marks it interrupted ([`PublishHooks`]),
//! and the watchdog (`jobs`) ends rooms whose stream stays away: after `publish_grace_s` when
//! the anchor's app is not beating either (`publish_timeout`), after `anchor_grace_s` in any case
//! (`heartbeat_timeout`: the app is open but nothing is published); what it looks at is here. A
//! publish of a banned anchor's room is refused.

use crate::hooks::{PublishDecision, PublishHooks};
use crate::list_query::ListQuery;
use crate::live::LiveState;
use crate::state::{Rooms, Watch};
use crate::webhook_events::room_event;
use futures_util::future::BoxFuture;
use relay_rooms::{RoomStatus, StopReason};
use std::collections::HashSet;
use std::time::Instant;

impl Rooms {
    /// Decides on a publish of `app/stream` (already past `publish_auth`).
    pub async fn decide_publish(&self, app: &str, stream: &str) -> PublishDecision {
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
        if let Some(watch) = self.watched.lock().get_mut(&room.live_id) {
            watch.absent_since = None;
            watch.published = true;
        }
        self.tell(
            &room.live_id,
            "stream_status",
            serde_json::json!({ "stream_status": "publishing" }),
        )
        .await;
        self.announce(room_event("stream_published", &room, serde_json::json!({})))
            .await;
        PublishDecision::Room {
            live_id: room.live_id,
        }
    }

    /// The stream of room `live_id` stopped being published.
    pub async fn unpublished(&self, live_id: &str) {
        if let Some(watch) = self.watched.lock().get_mut(live_id) {
            watch.absent_since = Some(Instant::now());
        }
        self.tell(
            live_id,
            "stream_status",
            serde_json::json!({ "stream_status": "interrupted" }),
        )
        .await;
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
    pub(crate) async fn announce(&self, event: relay_rooms::NewEvent) {
        match self.store.enqueue_event(&event).await {
            Ok(()) => self.wake_webhooks(),
            Err(error) => {
                tracing::error!(%error, event = event.event_type, "cannot queue a webhook")
            }
        }
    }

    /// The watched rooms whose anchor is online (beating) now; a room whose presence cannot
    /// be read counts as beating (a shared state away never ends rooms).
    pub(crate) async fn anchors_beating(&self) -> HashSet<String> {
        let anchors: Vec<(String, String)> = self
            .watched
            .lock()
            .iter()
            .map(|(live_id, watch)| (live_id.clone(), watch.anchor_id.clone()))
            .collect();
        let mut beating = HashSet::new();
        for (live_id, anchor_id) in anchors {
            if self
                .live
                .is_online(&live_id, &anchor_id)
                .await
                .unwrap_or(true)
            {
                beating.insert(live_id);
            }
        }
        beating
    }

    /// One look: which watched rooms must end, and why (`beating`: the rooms whose anchor is
    /// online).
    pub(crate) fn due_to_end(
        &self,
        now: Instant,
        beating: &HashSet<String>,
    ) -> Vec<(String, StopReason)> {
        let publishing = |watch: &Watch| self.is_publishing(&watch.stream_name);
        let mut watched = self.watched.lock();
        let mut due = Vec::new();
        for (live_id, watch) in watched.iter_mut() {
            if publishing(watch) {
                watch.absent_since = None;
                continue;
            }
            let absent = now.saturating_duration_since(*watch.absent_since.get_or_insert(now));
            let anchor_beating = beating.contains(live_id);
            if absent >= self.settings.anchor_grace {
                due.push((live_id.clone(), StopReason::HeartbeatTimeout));
            } else if absent >= self.settings.publish_grace && !anchor_beating {
                due.push((live_id.clone(), StopReason::PublishTimeout));
            }
        }
        due
    }

    /// Keeps the peak viewers of live rooms.
    pub(crate) async fn record_peaks(&self) {
        let now = Instant::now();
        let counts: Vec<(String, u64)> = self
            .watched
            .lock()
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

    /// With shared state: announces the streams published here (with their viewers) and
    /// reads those published on other nodes, so no node's watchdog ends a room whose anchor
    /// publishes to another node. A failure keeps what was read last (a shared state away
    /// does not end rooms; the announced keys outlive a missed beat or two).
    pub(crate) async fn sync_streams(&self, now: Instant) {
        let LiveState::Redis(redis) = &self.live else {
            return;
        };
        let keys: Vec<String> = self
            .watched
            .lock()
            .values()
            .map(|watch| self.stream_key(&watch.stream_name))
            .collect();
        let local: Vec<(String, u64)> = keys
            .iter()
            .filter(|key| self.facts.is_live(key))
            .map(|key| (key.clone(), self.facts.viewers(key, now)))
            .collect();
        if let Ok(remote) = redis.sync_streams(&local, &keys).await {
            *self.remote_streams.lock() = remote;
        }
    }

    /// Rooms live in the store (another node or an earlier run started them) are watched from
    /// now on, their stream absent until it shows up. With shared state it runs every few
    /// seconds, and rooms no longer live (ended on another node) are no longer watched.
    pub(crate) async fn watch_live_rooms(&self) {
        // Only rooms watched before the listing began can be missing from it for having ended:
        // one started here meanwhile is kept.
        let before: Vec<String> = self.watched.lock().keys().cloned().collect();
        let mut live = HashSet::new();
        let query = ListQuery {
            status: Some("live".to_owned()),
            page_num: None,
            page_size: Some(relay_control::MAX_PAGE_SIZE),
        };
        let mut page_num = 1;
        loop {
            let query = ListQuery {
                page_num: Some(page_num),
                ..query.clone()
            };
            match self.list(&query).await {
                Ok(page) => {
                    for room in &page.list {
                        live.insert(room.live_id.clone());
                        if !self.watched.lock().contains_key(&room.live_id) {
                            self.watch(room);
                        }
                    }
                    if page.end_page {
                        break;
                    }
                    page_num += 1;
                }
                Err(error) => {
                    tracing::warn!(error = %error.message, "cannot list live rooms to watch");
                    return;
                }
            }
        }
        for live_id in before.iter().filter(|live_id| !live.contains(*live_id)) {
            self.forget(live_id);
        }
    }
}

impl PublishHooks for Rooms {
    fn on_publish<'a>(&'a self, app: &'a str, stream: &'a str) -> BoxFuture<'a, PublishDecision> {
        Box::pin(self.decide_publish(app, stream))
    }

    fn on_unpublish<'a>(&'a self, live_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.unpublished(live_id))
    }
}
