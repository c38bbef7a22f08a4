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
/// peer, whatever chunk size it sets (RTMP allows 16 MiB messages). A publishing connection is closed when it sends nothing for
/// `idle_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct RtmpLimits {
    pub connections: ConnectionLimits,
    pub handshake_timeout: Duration,
    pub publish_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_unpublished_bytes: usize,
    /// How long a publish waits for the room service's decision before it is refused.
    pub decision_timeout: Duration,
}

/// The RTMP listener's connections and what its bounds closed, for `/metrics`.
#[derive(Debug)]
pub struct RtmpStats {
    pub connections: Arc<ConnectionLimiter>,
    closed: [AtomicU64; Bound::ALL.len()],
    pub(super) decision_timeouts: AtomicU64,
}

impl RtmpStats {
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
    ConnectRequested {
        request: u32,
        app: String,
    },
    PublishRequested {
        request: u32,
        app: String,
        key: String,
    },
    PlayRequested {
        request: u32,
    },
    PublishFinished,
    /// An `onMetaData` script tag body, rebuilt from `@setDataFrame`.
    Metadata(Bytes),
    Audio {
        timestamp: u32,
        data: Bytes,
    },
    Video {
        timestamp: u32,
        data: Bytes,
    },
}

/// The server side of one RTMP connection, handshake included. Sans-IO: bytes in, events out.
/// The cloud depends on this trait only, so the RTMP library can be replaced.
pub trait IngestSession: Send {
    fn handle_input(&mut self, bytes: &[u8]) -> Result<Vec<IngestEvent>, CloudError>;
    fn accept(&mut self, request: u32) -> Result<Vec<IngestEvent>, CloudError>;
    fn reject(
        &mut self,
        request: u32,
        code: &str,
        description: &str,
    ) -> Result<Vec<IngestEvent>, CloudError>;
}
