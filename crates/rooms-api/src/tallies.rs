//! Likes and page views counted in memory, by room, until the next flush to the store.

use std::collections::HashMap;

/// One room's counts not yet in the store, and its total as stored.
#[derive(Debug, Default)]
pub struct Tally {
    /// The store's `likes` when this node first counted the room, plus what it flushed since.
    pub(crate) stored_likes: i64,
    /// Likes counted since the last flush.
    pub(crate) pending_likes: i64,
    /// Page views counted since the last flush.
    pub(crate) pending_views: i64,
}

/// Counts waiting for the next flush, by `live_id`.
pub type Tallies = HashMap<String, Tally>;
