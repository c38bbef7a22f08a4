//! What the repair server shares with the publishing sessions: one retransmit cache per live
//! stream, the streams' announcements, a broadcast of announcements and ends to every edge, and
//! the connected edges with what they report.

use parking_lot::Mutex;
use relay_control::views::EdgeLinkView;
use relay_control::RateMeter;
use relay_proto::{
    Announcement, CloudMessage, MediaKey, Packet, Publication, RetransmitCache, ViewerCount,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// A cache outlives its stream this long, for edges still repairing the last packets.
const CACHE_GRACE: Duration = Duration::from_secs(5);
/// Control messages waiting for slow edge connections; one that falls further behind is sent the
/// full list of live streams again.
const CONTROL_BACKLOG: usize = 1024;

/// Counters of the repair server, for logs and the metrics endpoint.
#[derive(Debug, Default)]
pub struct RepairCounters {
    pub edges_accepted: AtomicU64,
    pub edges_refused: AtomicU64,
    pub nacks: AtomicU64,
    /// NACKs refused for an edge's answer budget (`nack_budget_pps`).
    pub nacks_throttled: AtomicU64,
    pub bad_requests: AtomicU64,
    pub packets_requested: AtomicU64,
    pub repairs_sent: AtomicU64,
    pub evicted: AtomicU64,
    pub not_sent: AtomicU64,
    pub unknown_stream: AtomicU64,
}

/// The repair server's work for one stream, shared with the stream's registry entry.
#[derive(Debug, Default)]
pub struct StreamRepairStats {
    /// NACKs edges sent for the stream (`liverelay_cloud_stream_nacks_total`).
    pub nacks: AtomicU64,
    /// Packets those NACKs named, summed over their sequence ranges.
    pub packets_requested: AtomicU64,
    /// Packets sent again from the cache (`liverelay_cloud_stream_repaired_total`).
    pub repaired: AtomicU64,
    /// "Evicted" answers: a requested packet had already left the cache
    /// (`liverelay_cloud_stream_evicted_total`).
    pub evicted: AtomicU64,
    /// "Not sent" answers: a requested packet lies beyond the newest one sent.
    pub not_sent: AtomicU64,
}

/// NACK rates are computed over windows this long.
const NACK_RATE_WINDOW: Duration = Duration::from_secs(5);

/// One connected edge.
struct EdgeLink {
    name: String,
    addr: SocketAddr,
    connection: quinn::Connection,
    streams: HashMap<u32, EdgeStreamLink>,
}

/// One edge's traffic for one stream.
struct EdgeStreamLink {
    nacks: u64,
    nack_rate: RateMeter,
    viewers: u64,
}

impl EdgeStreamLink {
    fn new() -> Self {
        EdgeStreamLink {
            nacks: 0,
            nack_rate: RateMeter::new(Instant::now(), NACK_RATE_WINDOW),
            viewers: 0,
        }
    }
}

/// Removes its edge from the hub when the connection ends, however it ends.
pub struct EdgeRegistration {
    hub: Arc<RepairHub>,
    id: u64,
}

impl Drop for EdgeRegistration {
    fn drop(&mut self) {
        self.hub.edges.lock().remove(&self.id);
    }
}

struct LiveEntry {
    cache: Arc<Mutex<RetransmitCache>>,
    stats: Arc<StreamRepairStats>,
    /// The publish's media key, told to edges with every announcement.
    key: MediaKey,
    /// The publish's first sequence number.
    first_seq: u64,
    /// `None` once the stream ended (the cache is kept for the grace period).
    announcement: Option<Announcement>,
}

impl LiveEntry {
    /// The announcement for an edge told now: it should start at the newest cached keyframe
    /// (packets are cached before they are sent) and repair what it missed of it, so an edge
    /// that connects after the publish started still gives its waiting players the stream from
    /// a keyframe at once; the first packet if none was sent yet.
    fn announce(&self, ssrc: u32) -> Option<CloudMessage> {
        let announcement = self.announcement.clone()?;
        let first_seq = self.cache.lock().resume_point().unwrap_or(self.first_seq);
        Some(CloudMessage::Announce {
            ssrc,
            key: self.key.clone(),
            first_seq,
            announcement,
        })
    }
}

/// Shared state of the repair path: each live stream's retransmit cache by SSRC, the
/// connected edges and their reports, and the control broadcast to every edge connection.
pub struct RepairHub {
    streams: Mutex<HashMap<u32, LiveEntry>>,
    edges: Mutex<HashMap<u64, EdgeLink>>,
    next_edge: AtomicU64,
    control: broadcast::Sender<CloudMessage>,
    cache_packets: usize,
    cache_bytes: usize,
    /// Node-wide repair counters (`liverelay_cloud_edges_*_total`, `_repair_*_total`).
    pub counters: RepairCounters,
}

/// A publishing session's handle on its stream's cache.
pub struct StreamCache {
    hub: Arc<RepairHub>,
    ssrc: u32,
    cache: Arc<Mutex<RetransmitCache>>,
}

impl RepairHub {
    /// A hub whose stream caches each keep at most `cache_packets` packets and
    /// `cache_bytes` payload bytes (`rtp_cache_size`, `rtp_cache_bytes`).
    pub fn new(cache_packets: usize, cache_bytes: usize) -> Arc<Self> {
        let (control, _) = broadcast::channel(CONTROL_BACKLOG);
        Arc::new(RepairHub {
            streams: Mutex::new(HashMap::new()),
            edges: Mutex::new(HashMap::new()),
            next_edge: AtomicU64::new(0),
            control,
            cache_packets,
            cache_bytes,
            counters: RepairCounters::default(),
        })
    }

    /// Starts caching a new publish, before it sends anything, and announces it with its key
    /// to every edge; `stats` count the repairs.
    pub fn open(
        self: &Arc<Self>,
        ssrc: u32,
        publication: &Publication,
        stats: Arc<StreamRepairStats>,
    ) -> StreamCache {
        let cache = Arc::new(Mutex::new(RetransmitCache::new(
            self.cache_packets,
            self.cache_bytes,
        )));
        let entry = LiveEntry {
            cache: cache.clone(),
            stats,
            key: publication.key().clone(),
            first_seq: publication.next_seq(),
            announcement: Some(publication.announcement()),
        };
        let message = entry.announce(ssrc);
        self.streams.lock().insert(ssrc, entry);
        if let Some(message) = message {
            let _ = self.control.send(message);
        }
        StreamCache {
            hub: self.clone(),
            ssrc,
            cache,
        }
    }

    /// A receiver of the control messages (announcements, ends) for every edge connection;
    /// one more than 1024 messages behind gets `Lagged` and must resend the live list.
    pub fn subscribe(&self) -> broadcast::Receiver<CloudMessage> {
        self.control.subscribe()
    }

    /// Announcements of every live stream, for an edge that just connected or fell behind.
    pub fn live_announcements(&self) -> Vec<CloudMessage> {
        self.streams
            .lock()
            .iter()
            .filter_map(|(ssrc, entry)| entry.announce(*ssrc))
            .collect()
    }

    /// The cache of `ssrc` and its stream's repair counters, live or in its grace period.
    pub fn cache(
        &self,
        ssrc: u32,
    ) -> Option<(Arc<Mutex<RetransmitCache>>, Arc<StreamRepairStats>)> {
        self.streams
            .lock()
            .get(&ssrc)
            .map(|entry| (entry.cache.clone(), entry.stats.clone()))
    }

    /// Packets and bytes held in `ssrc`'s cache.
    pub fn cache_occupancy(&self, ssrc: u32) -> Option<(usize, usize)> {
        let (cache, _) = self.cache(ssrc)?;
        let cache = cache.lock();
        Some((cache.len(), cache.bytes()))
    }

    /// Lists a newly accepted edge until the returned registration is dropped.
    pub fn register_edge(
        self: &Arc<Self>,
        name: String,
        connection: quinn::Connection,
    ) -> EdgeRegistration {
        let id = self.next_edge.fetch_add(1, Ordering::Relaxed);
        let link = EdgeLink {
            name,
            addr: connection.remote_address(),
            connection,
            streams: HashMap::new(),
        };
        self.edges.lock().insert(id, link);
        EdgeRegistration {
            hub: self.clone(),
            id,
        }
    }

    /// Edges connected to the repair server now (`liverelay_cloud_edges`).
    pub fn edge_count(&self) -> usize {
        self.edges.lock().len()
    }

    /// Counts a NACK `edge` sent for `ssrc`.
    pub fn count_nack(&self, edge: &EdgeRegistration, ssrc: u32) {
        if let Some(link) = self.edges.lock().get_mut(&edge.id) {
            link.streams
                .entry(ssrc)
                .or_insert_with(EdgeStreamLink::new)
                .nacks += 1;
        }
    }

    /// Takes `edge`'s full report of its players per stream.
    pub fn report_viewers(&self, edge: &EdgeRegistration, counts: &[ViewerCount]) {
        let mut edges = self.edges.lock();
        let Some(link) = edges.get_mut(&edge.id) else {
            return;
        };
        for stream in link.streams.values_mut() {
            stream.viewers = 0;
        }
        for count in counts {
            link.streams
                .entry(count.ssrc)
                .or_insert_with(EdgeStreamLink::new)
                .viewers = u64::from(count.players);
        }
        // Forget streams this edge neither watches nor asked about any more.
        let live = self.streams.lock();
        link.streams
            .retain(|ssrc, stream| stream.viewers > 0 || live.contains_key(ssrc));
    }

    /// Every edge connected now, with its traffic for `ssrc`, or for all streams with `None`.
    pub fn edge_links(&self, ssrc: Option<u32>, now: Instant) -> Vec<EdgeLinkView> {
        let mut edges = self.edges.lock();
        let mut views: Vec<EdgeLinkView> = edges
            .values_mut()
            .map(|link| {
                let (mut nacks, mut nack_rate, mut viewers) = (0, 0.0, 0);
                for (_, stream) in link
                    .streams
                    .iter_mut()
                    .filter(|(s, _)| ssrc.is_none_or(|ssrc| **s == ssrc))
                {
                    nacks += stream.nacks;
                    nack_rate += stream.nack_rate.rate(now, stream.nacks);
                    viewers += stream.viewers;
                }
                EdgeLinkView {
                    name: link.name.clone(),
                    addr: link.addr.to_string(),
                    rtt_ms: link.connection.rtt().as_secs_f64() * 1000.0,
                    nacks,
                    nack_rate,
                    viewers,
                }
            })
            .collect();
        views.sort_by(|a, b| (&a.name, &a.addr).cmp(&(&b.name, &b.addr)));
        views
    }
}

impl StreamCache {
    /// Caches packets just made for this stream, before they are sent, so a NACK racing
    /// the send finds them.
    pub fn insert(&self, packets: &[Packet]) {
        let mut cache = self.cache.lock();
        for packet in packets {
            cache.insert(packet.clone());
        }
    }

    /// The configuration changed: edges get the new announcement.
    pub fn reannounce(&self, announcement: Announcement) {
        let message = self
            .hub
            .streams
            .lock()
            .get_mut(&self.ssrc)
            .and_then(|entry| {
                entry.announcement = Some(announcement);
                entry.announce(self.ssrc)
            });
        if let Some(message) = message {
            let _ = self.hub.control.send(message);
        }
    }
}

impl Drop for StreamCache {
    /// Tells every edge the stream ended, and frees the cache after the grace period.
    fn drop(&mut self) {
        if let Some(entry) = self.hub.streams.lock().get_mut(&self.ssrc) {
            entry.announcement = None;
        }
        let last_seq = self.cache.lock().newest().unwrap_or_default();
        let _ = self.hub.control.send(CloudMessage::End {
            ssrc: self.ssrc,
            last_seq,
        });
        let hub = self.hub.clone();
        let ssrc = self.ssrc;
        let cache = self.cache.clone();
        let free = async move {
            tokio::time::sleep(CACHE_GRACE).await;
            let mut streams = hub.streams.lock();
            if streams
                .get(&ssrc)
                .is_some_and(|e| Arc::ptr_eq(&e.cache, &cache))
            {
                streams.remove(&ssrc);
            }
            drop(streams);
            cache.lock().clear();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(free);
            }
            Err(_) => {
                self.hub.streams.lock().remove(&ssrc);
            }
        }
    }
}
