//! RTMP ingest: one task per connection, the RTMP library behind [`IngestSession`].

mod bound;
mod connection;
mod metadata;
mod rml;

pub use bound::Bound;
pub use connection::{serve_rtmp, IngestContext};

use crate::error::CloudError;
use bytes::Bytes;
use relay_control::metrics::Exposition;
use relay_control::{ConnectionLimiter, ConnectionLimits};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What an RTMP connection may cost before it publishes (`rtmp_*` keys). Anyone can open one,
/// so until a publish is accepted a connection gets little time and little memory: connections
/// are bounded in all and per source address; the handshake and `connect` must be done within
/// `handshake_timeout` and the publish accepted within `publish_timeout` of the accept (a peer
/// that drips one byte at a time is not idle, so only these deadlines end it); and the bytes
/// read before the publish is accepted are bounded by `max_unpublished_bytes`, which bounds
/// the largest message (and chunk) the library can be made to buffer for an unauthenticated
/// peer, whatever chunk size it sets (RTMP allows 16 MiB messages). A publishing connection is
/// closed when it sends nothing for `idle_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct RtmpLimits {
    /// Connections held in all and per source address (`rtmp_max_connections`,
    /// `rtmp_max_connections_per_ip`).
    pub connections: ConnectionLimits,
    /// From accept to a finished handshake and `connect` (`rtmp_handshake_timeout_s`).
    pub handshake_timeout: Duration,
    /// From accept to an accepted publish (`rtmp_publish_timeout_s`).
    pub publish_timeout: Duration,
    /// Longest time without a byte received (`rtmp_idle_timeout_s`).
    pub idle_timeout: Duration,
    /// Bytes read before the publish is accepted (`rtmp_max_unpublished_bytes`).
    pub max_unpublished_bytes: usize,
    /// How long a publish waits for the room service's decision before it is refused.
    pub decision_timeout: Duration,
}

/// The RTMP listener's connections and what its bounds closed, for `/metrics`.
#[derive(Debug)]
pub struct RtmpStats {
    /// The listener's connection slots; refusals feed
    /// `liverelay_cloud_connections_refused_total{listener="rtmp"}`.
    pub connections: Arc<ConnectionLimiter>,
    closed: [AtomicU64; Bound::ALL.len()],
    pub(super) decision_timeouts: AtomicU64,
}

impl RtmpStats {
    /// Zeroed counters and a connection limiter sized by `limits.connections`.
    pub fn new(limits: &RtmpLimits) -> Arc<Self> {
        Arc::new(RtmpStats {
            connections: ConnectionLimiter::new("rtmp", limits.connections),
            closed: Default::default(),
            decision_timeouts: AtomicU64::new(0),
        })
    }

    pub(super) fn closed_by(&self, bound: Bound) {
        self.closed[bound as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the connection series, `liverelay_cloud_rtmp_closed_total{reason}` and
    /// `liverelay_cloud_rtmp_publish_decision_timeouts_total`.
    pub fn render(&self, out: &mut Exposition) {
        self.connections.render(out, "liverelay_cloud");
        for bound in Bound::ALL {
            out.counter(
                "liverelay_cloud_rtmp_closed_total",
                "RTMP connections closed at a bound, by reason (see the rtmp_* keys).",
                &[("reason", bound.label())],
                self.closed[bound as usize].load(Ordering::Relaxed),
            );
        }
        out.counter(
            "liverelay_cloud_rtmp_publish_decision_timeouts_total",
            "Publishes refused because the room service did not decide within rtmp_publish_decision_timeout_ms.",
            &[],
            self.decision_timeouts.load(Ordering::Relaxed),
        );
    }
}

/// What an RTMP session asks of the cloud, in the order it happened.
#[derive(Debug)]
pub enum IngestEvent {
    /// Bytes to write back to the peer, in order.
    Send(Vec<u8>),
    /// The peer sent `connect` for `app`; answered with `accept` or `reject` of `request`.
    ConnectRequested {
        /// Id to answer the request with.
        request: u32,
        /// The RTMP application named in `connect`.
        app: String,
    },
    /// The peer asks to publish `key` under `app`; answered by `request`.
    PublishRequested {
        /// Id to answer the request with.
        request: u32,
        /// The application of the publish, possibly with a `?query`.
        app: String,
        /// The stream name as sent, with any `?query` (signed URL parameters) still on it.
        key: String,
    },
    /// The peer asks to play; the cloud always refuses (players use an edge).
    PlayRequested {
        /// Id to answer the request with.
        request: u32,
    },
    /// The peer ended its publish: the stream ends and edges are told.
    PublishFinished,
    /// An `onMetaData` script tag body, rebuilt from `@setDataFrame`.
    Metadata(Bytes),
    /// One audio message: an FLV audio tag body.
    Audio {
        /// RTMP timestamp in ms.
        timestamp: u32,
        /// The tag body as received.
        data: Bytes,
    },
    /// One video message: an FLV video tag body.
    Video {
        /// RTMP timestamp in ms.
        timestamp: u32,
        /// The tag body as received.
        data: Bytes,
    },
}

/// The server side of one RTMP connection, handshake included. Sans-IO: bytes in, events out.
/// The cloud depends on this trait only, so the RTMP library can be replaced.
pub trait IngestSession: Send {
    /// Feeds bytes read from the peer; returns what they produced, replies included.
    fn handle_input(&mut self, bytes: &[u8]) -> Result<Vec<IngestEvent>, CloudError>;
    /// Accepts the connect or publish request `request`; returns the replies to send.
    fn accept(&mut self, request: u32) -> Result<Vec<IngestEvent>, CloudError>;
    /// Refuses request `request` with status `code` (e.g. `NetStream.Publish.BadName`) and
    /// `description`; returns the replies to send.
    fn reject(
        &mut self,
        request: u32,
        code: &str,
        description: &str,
    ) -> Result<Vec<IngestEvent>, CloudError>;
}
