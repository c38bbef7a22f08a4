//! The room API's background jobs, each run until shutdown: the watchdog ([`watch_rooms`]:
//! rooms whose stream stays away end, viewers that stopped beating are dropped, peaks, counts,
//! likes and page views are kept, rooms never started expire, PK invitations time out, kicks
//! and mutes are reloaded) and the gift reconciler ([`reconcile_gifts`]: payments whose call
//! said nothing are asked again until they settle).

use crate::clock::unix_ms;
use crate::error::store_error;
use crate::live::LiveState;
use crate::state::Rooms;
use crate::webhook_events::stopped_event;
use relay_rooms::RoomStatus;
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
                if let LiveState::Redis(redis) = &rooms.live {
                    redis.shutdown().await;
                }
                return;
            }
        }
        let now = Instant::now();
        let watched: Vec<String> = rooms.watched.lock().keys().cloned().collect();
        match rooms.live.expire(&watched).await {
            Ok(0) => {}
            Ok(gone) => tracing::debug!(viewers = gone, "viewers dropped after missing heartbeats"),
            Err(error) => tracing::debug!(error = %error.message, "cannot expire viewers"),
        }
        rooms.sync_streams(now).await;
        let beating = rooms.anchors_beating().await;
        for (live_id, reason) in rooms.due_to_end(now, &beating) {
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
                _ => {
                    rooms.forget(&live_id);
                    if let Err(error) = rooms.live.close(&live_id).await {
                        tracing::debug!(live_id, error = %error.message, "cannot clear a room");
                    }
                }
            }
        }
        rooms.sweep_pks().await;
        rooms.record_peaks().await;
        rooms.emit_counts(now).await;
        rooms.flush_tallies().await;
        if now.duration_since(last_sanctions) >= SANCTIONS_EVERY {
            last_sanctions = now;
            rooms.reload_sanctions().await;
            if rooms.live.is_shared() {
                rooms.watch_live_rooms().await;
            }
        }
        if now.duration_since(last_expiry) >= EXPIRE_EVERY {
            last_expiry = now;
            let event = |room: &relay_rooms::Room| stopped_event(room);
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
            let before = unix_ms().saturating_sub(SANCTIONS_KEPT_MS);
            if let Err(error) = rooms.store.purge_sanctions(before).await {
                tracing::warn!(%error, "cannot purge old kicks and mutes");
            }
        }
    }
}

/// Every `gift_reconcile_s`, settles the payments whose call said nothing (timed out, failed in
/// transport, or was cut short when a node died): asks the payment service again with the same
/// `biz_id`, and announces each gift it finds paid. Runs on every node (a row is claimed by
/// one); returns at shutdown, a call under way then being left for the next start.
pub async fn reconcile_gifts(rooms: Arc<Rooms>, mut shutdown: watch::Receiver<bool>) {
    let Some(payments) = rooms.payments.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(rooms.settings.gift_reconcile);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let pass = tokio::select! {
            _ = tick.tick() => payments.reconcile(),
            _ = shutdown.changed() => return,
        };
        let settled = tokio::select! {
            settled = pass => settled,
            _ = shutdown.changed() => return,
        };
        match settled {
            Ok(settled) => {
                for record in &settled {
                    rooms.announce_gift(record).await;
                }
            }
            Err(error) => tracing::warn!(%error, "gift reconciler: cannot take unsettled gifts"),
        }
    }
}
