//! What the rooms and the media node say to each other, as two traits: the media node asks
//! the rooms about publishes ([`PublishHooks`], implemented here by [`crate::Rooms`]), and the
//! rooms ask the media node what is live and who is watching ([`LiveFacts`], implemented by the
//! node over its registry of streams and its edges' reports). Neither side knows the other's
//! types.

use futures_util::future::BoxFuture;
use std::time::Instant;

/// What a publish is to the rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishDecision {
    /// Not a room's stream: published as any stream.
    NotARoom,
    /// Room `live_id`'s stream, which is now live.
    Room {
        /// The room whose stream it is.
        live_id: String,
    },
    /// Refused, with the reason for the publisher.
    Refused(String),
}

/// The rooms' say on the media path's publishes: called by the ingest once a publish has
/// passed `publish_auth` and holds its stream name.
pub trait PublishHooks: Send + Sync {
    /// Decides on a publish of `app/stream`: a room's stream goes live (or is refused), any
    /// other stream is not the rooms' business.
    fn on_publish<'a>(&'a self, app: &'a str, stream: &'a str) -> BoxFuture<'a, PublishDecision>;

    /// The stream of room `live_id` (a publish answered [`PublishDecision::Room`]) stopped
    /// being published.
    fn on_unpublish<'a>(&'a self, live_id: &'a str) -> BoxFuture<'a, ()>;
}

/// What the media node knows live about a stream, keyed `app/name` as the ingest names it.
pub trait LiveFacts: Send + Sync {
    /// Whether `stream_key` is being published on this node now.
    fn is_live(&self, stream_key: &str) -> bool;

    /// Players of `stream_key` on every edge, as the edges last reported them at `now`; 0 for
    /// a stream that is not live.
    fn viewers(&self, stream_key: &str, now: Instant) -> u64;
}

/// No stream is ever live: for a room API without a media path (tests, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMedia;

impl LiveFacts for NoMedia {
    fn is_live(&self, _stream_key: &str) -> bool {
        false
    }

    fn viewers(&self, _stream_key: &str, _now: Instant) -> u64 {
        0
    }
}
