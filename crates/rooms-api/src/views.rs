//! Rooms as the API shows them. The push URL is a publishing credential: it is filled only for
//! the room's anchor and for the app's server, never in views built for anyone else.

use relay_control::auth::{sign_play_url, SecretKey};
use relay_rooms::{Extends, Room, User};
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use utoipa::ToSchema;

/// What the media path says about the room's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    /// Never published while the room was live (or the room is not live).
    Idle,
    /// Being published now.
    Publishing,
    /// Was published and stopped; the room ends unless it comes back within the grace period.
    Interrupted,
}

/// Play URLs on every configured edge.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlayUrls {
    /// HTTP-FLV, one per edge base URL.
    pub flv: Vec<String>,
}

/// Where rooms are played (`play_base_urls`) and, with `play_auth: expiry`, the key their play
/// URLs are signed with (the edges' `play_key`) and how long they stay valid.
#[derive(Debug, Clone)]
pub struct PlayLinks {
    /// Edge base URLs, each without a trailing `/`.
    pub bases: Vec<String>,
    /// The play key, with `play_auth: expiry`; `None`: play URLs are not signed.
    pub key: Option<SecretKey>,
    /// How long a signed play URL stays valid.
    pub expire: Duration,
}

impl PlayUrls {
    /// The play URLs of the stream `stream_name` on every edge base URL, signed when the edges
    /// check play tokens.
    pub fn of(links: &PlayLinks, stream_name: &str) -> Self {
        let expire_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_add(links.expire.as_secs()) as i64;
        PlayUrls {
            flv: links
                .bases
                .iter()
                .filter_map(|base| {
                    match &links.key {
                    None => Some(format!("{base}/{stream_name}.flv")),
                    Some(key) => sign_play_url(base, stream_name, ".flv", key, expire_at)
                        .map_err(|error| {
                            tracing::warn!(base, %error, "cannot sign a play URL; left out")
                        })
                        .ok(),
                }
                })
                .collect(),
        }
    }
}

/// The PK a room is in (invited or active), as its view shows it: players put the peer's
/// stream beside the room's own.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PkInfo {
    pub pk_id: String,
    pub peer_live_id: String,
    pub peer_play_urls: PlayUrls,
    /// "invited" or "active".
    pub status: String,
}

/// The user mirrored from the app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub nick: String,
    pub avatar: String,
    #[schema(value_type = Object)]
    pub extends: Extends,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            user_id: user.user_id,
            nick: user.nick,
            avatar: user.avatar,
            extends: user.extends,
        }
    }
}

/// A room, with what the relay knows live.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveInfo {
    pub live_id: String,
    pub title: String,
    pub notice: String,
    pub cover_url: String,
    #[schema(value_type = Object)]
    pub extends: Extends,
    pub anchor_id: String,
    /// "created", "live" or "ended".
    pub status: String,
    /// The vendor SDKs' number for `status`: 0 created, 1 live, 2 ended.
    pub live_status: u8,
    pub stream_status: StreamStatus,
    /// Users joined and beating.
    pub online_count: u64,
    /// Players on every edge, as the edges report them.
    pub viewer_count: u64,
    pub peak_viewer_count: u64,
    /// Announced times (Unix ms), as the anchor gave them.
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
    /// Actual times (Unix ms).
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
    /// Why it ended: anchor, server, admin, banned, publish_timeout, heartbeat_timeout, expired,
    /// deleted.
    pub stop_reason: Option<String>,
    /// What the operator who stopped it wrote (admin stop, ban reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_note: Option<String>,
    pub play_urls: PlayUrls,
    /// The PK the room is in (invited or active); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pk: Option<PkInfo>,
    /// The signed RTMP URL to publish with: only in answers to the anchor and the server API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_url: Option<String>,
}

/// What the live side adds to a stored room.
#[derive(Debug, Clone, Copy)]
pub struct LiveFigures {
    pub stream_status: StreamStatus,
    pub online_count: u64,
    pub viewer_count: u64,
}

impl LiveInfo {
    pub fn new(room: Room, figures: LiveFigures, play_bases: &PlayLinks) -> Self {
        let live_status = match room.status {
            relay_rooms::RoomStatus::Created => 0,
            relay_rooms::RoomStatus::Live => 1,
            relay_rooms::RoomStatus::Ended => 2,
        };
        let peak = u64::try_from(room.peak_viewers)
            .unwrap_or(0)
            .max(figures.viewer_count);
        LiveInfo {
            play_urls: PlayUrls::of(play_bases, &room.stream_name),
            live_id: room.live_id,
            title: room.title,
            notice: room.notice,
            cover_url: room.cover_url,
            extends: room.extends,
            anchor_id: room.anchor_id,
            status: room.status.as_str().to_owned(),
            live_status,
            stream_status: figures.stream_status,
            online_count: figures.online_count,
            viewer_count: figures.viewer_count,
            peak_viewer_count: peak,
            start_at: room.start_at,
            end_at: room.end_at,
            created_at: room.created_at,
            started_at: room.started_at,
            stopped_at: room.stopped_at,
            stop_reason: room.stop_reason.map(|r| r.as_str().to_owned()),
            stop_note: room.stop_note,
            pk: None,
            push_url: None,
        }
    }
}

/// The answer to a viewer's heartbeat.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeartbeatView {
    pub live_id: String,
    pub live_status: u8,
    pub stream_status: StreamStatus,
    pub online_count: u64,
    pub viewer_count: u64,
    /// Seconds until the next beat is due.
    pub next_interval_s: u64,
}

/// A client token, as `/server/auth/token` mints it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An online viewer of a room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnlineUser {
    pub user_id: String,
    /// Seconds since the viewer joined.
    pub online_s: u64,
}

/// What a room drew.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomStatsView {
    pub live_id: String,
    /// Room info reads and joins.
    pub page_views: i64,
    /// Distinct users that joined.
    pub unique_viewers: i64,
    /// Most players on all edges at once.
    pub peak_viewers: i64,
    pub likes: i64,
    /// Gifts paid in the room and the sum of their totals.
    pub gifts: i64,
    pub gift_revenue: i64,
    /// From start to stop (or to now while live), seconds.
    pub duration_s: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_control::auth::verify_play;

    #[test]
    fn room_play_urls_are_signed_for_their_stream_when_a_key_is_set() {
        let key = SecretKey::new(b"a-play-key-of-16+".to_vec()).expect("key");
        let links = PlayLinks {
            bases: vec![
                "http://edge-a:7001/live".into(),
                "https://edge-b/live".into(),
            ],
            key: Some(key.clone()),
            expire: Duration::from_secs(600),
        };
        let urls = PlayUrls::of(&links, "room1");
        assert_eq!(urls.flv.len(), 2);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        for url in &urls.flv {
            let (location, query) = url.split_once('?').expect("signed");
            assert!(location.ends_with("/live/room1.flv"), "{url}");
            assert_eq!(verify_play("live", "room1", Some(query), &key, now), Ok(()));
            assert!(verify_play("live", "room1", Some(query), &key, now + 601).is_err());
        }
        let unsigned = PlayUrls::of(&PlayLinks { key: None, ..links }, "room1");
        assert_eq!(unsigned.flv[0], "http://edge-a:7001/live/room1.flv");
    }
}
