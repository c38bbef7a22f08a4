//! What the repair server shares with the publishing sessions: one retransmit cache per live
//! stream, the streams' announcements, and a broadcast of announcements and ends to every edge.

use relay_proto::{Announcement, CloudMessage, Packet, RetransmitCache};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
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
    pub bad_requests: AtomicU64,
    pub packets_requested: AtomicU64,
    pub repairs_sent: AtomicU64,
    pub evicted: AtomicU64,
    pub not_sent: AtomicU64,
    pub unknown_stream: AtomicU64,
}

struct LiveEntry {
    cache: Arc<Mutex<RetransmitCache>>,
    /// `None` once the stream ended (the cache is kept for the grace period).
    announcement: Option<Announcement>,
}

pub struct RepairHub {
    streams: Mutex<HashMap<u32, LiveEntry>>,
    control: broadcast::Sender<CloudMessage>,
    cache_packets: usize,
    cache_bytes: usize,
    pub counters: RepairCounters,
}

/// A publishing session's handle on its stream's cache.
pub struct StreamCache {
    hub: Arc<RepairHub>,
    ssrc: u32,
    cache: Arc<Mutex<RetransmitCache>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RepairHub {
    pub fn new(cache_packets: usize, cache_bytes: usize) -> Arc<Self> {
        let (control, _) = broadcast::channel(CONTROL_BACKLOG);
        Arc::new(RepairHub {
            streams: Mutex::new(HashMap::new()),
            control,
            cache_packets,
            cache_bytes,
            counters: RepairCounters::default(),
        })
    }

    /// Starts caching a new publish and announces it to every edge.
    pub fn open(self: &Arc<Self>, ssrc: u32, announcement: Announcement) -> StreamCache {
        let cache = Arc::new(Mutex::new(RetransmitCache::new(
            self.cache_packets,
            self.cache_bytes,
        )));
        lock(&self.streams).insert(
            ssrc,
            LiveEntry {
                cache: cache.clone(),
                announcement: Some(announcement.clone()),
            },
        );
        let _ = self
            .control
            .send(CloudMessage::Announce { ssrc, announcement });
        StreamCache {
            hub: self.clone(),
            ssrc,
            cache,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CloudMessage> {
        self.control.subscribe()
    }

    /// Announcements of every live stream, for an edge that just connected or fell behind.
    pub fn live_announcements(&self) -> Vec<CloudMessage> {
        lock(&self.streams)
            .iter()
            .filter_map(|(ssrc, entry)| {
                entry
                    .announcement
                    .clone()
                    .map(|announcement| CloudMessage::Announce {
                        ssrc: *ssrc,
                        announcement,
                    })
            })
            .collect()
    }

    /// The cache of `ssrc`, live or in its grace period.
    pub fn cache(&self, ssrc: u32) -> Option<Arc<Mutex<RetransmitCache>>> {
        lock(&self.streams)
            .get(&ssrc)
            .map(|entry| entry.cache.clone())
    }
}

impl StreamCache {
    pub fn insert(&self, packets: &[Packet]) {
        let mut cache = lock(&self.cache);
        for packet in packets {
            cache.insert(packet.clone());
        }
    }

    /// The configuration changed: edges get the new announcement.
    pub fn reannounce(&self, announcement: Announcement) {
        if let Some(entry) = lock(&self.hub.streams).get_mut(&self.ssrc) {
            entry.announcement = Some(announcement.clone());
        }
        let _ = self.hub.control.send(CloudMessage::Announce {
            ssrc: self.ssrc,
            announcement,
        });
    }
}

impl Drop for StreamCache {
    /// Tells every edge the stream ended, and frees the cache after the grace period.
    fn drop(&mut self) {
        if let Some(entry) = lock(&self.hub.streams).get_mut(&self.ssrc) {
            entry.announcement = None;
        }
        let last_seq = lock(&self.cache).newest().unwrap_or_default();
        let _ = self.hub.control.send(CloudMessage::End {
            ssrc: self.ssrc,
            last_seq,
        });
        let hub = self.hub.clone();
        let ssrc = self.ssrc;
        let cache = self.cache.clone();
        let free = async move {
            tokio::time::sleep(CACHE_GRACE).await;
            let mut streams = lock(&hub.streams);
            if streams
                .get(&ssrc)
                .is_some_and(|e| Arc::ptr_eq(&e.cache, &cache))
            {
                streams.remove(&ssrc);
            }
            drop(streams);
            lock(&cache).clear();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(free);
            }
            Err(_) => {
                lock(&self.hub.streams).remove(&ssrc);
            }
        }
    }
}
