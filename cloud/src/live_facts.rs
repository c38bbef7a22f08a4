//! What the room API reads from the media path, from the node's registry of live streams and
//! the edges' reports the repair hub keeps.

use crate::registry::Registry;
use crate::repair::RepairHub;
use relay_rooms_api::LiveFacts;
use std::sync::Arc;
use std::time::Instant;

/// The cloud's live facts: a stream is live while it is in the registry; its viewers are the
/// players every edge last reported for its SSRC.
pub struct MediaFacts {
    /// The live streams: a room's stream is live while its key is registered here.
    pub registry: Arc<Registry>,
    /// The edges' last reports, summed per SSRC into a stream's viewers.
    pub hub: Arc<RepairHub>,
}

impl LiveFacts for MediaFacts {
    fn is_live(&self, stream_key: &str) -> bool {
        self.registry.get(stream_key).is_some()
    }

    fn viewers(&self, stream_key: &str, now: Instant) -> u64 {
        self.registry.get(stream_key).map_or(0, |stream| {
            self.hub
                .edge_links(Some(stream.ssrc), now)
                .iter()
                .map(|edge| edge.viewers)
                .sum()
        })
    }
}
