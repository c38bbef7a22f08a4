//! Which streams are live on this cloud, with the figures `/stat/livestat` reports.
//!
//! Shared state behind a short-held `std::sync::Mutex`; the media path only touches atomics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Speeds are recomputed at most this often, as livego does.
const SPEED_WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Registry {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    next_stream_id: AtomicU64,
}

/// One live publish.
#[derive(Debug)]
pub struct LiveStream {
    pub key: String,
    pub url: String,
    pub stream_id: u64,
    pub ssrc: u32,
    /// Unix ms when the publish started; also the wire epoch.
    pub start_time: u64,
    pub video_bytes: AtomicU64,
    pub audio_bytes: AtomicU64,
    speeds: Mutex<Speeds>,
}

#[derive(Debug)]
struct Speeds {
    at: Instant,
    video_bytes: u64,
    audio_bytes: u64,
    video_kbps: u64,
    audio_kbps: u64,
}

/// A snapshot for the API.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct PublisherStat {
    pub key: String,
    pub url: String,
    pub stream_id: u64,
    pub ssrc: u32,
    pub start_time: u64,
    pub video_total_bytes: u64,
    /// kbit/s over the last window of at least 5 s.
    pub video_speed: u64,
    pub audio_total_bytes: u64,
    pub audio_speed: u64,
}

/// Removes the stream from the registry when the publish ends, however it ends.
#[derive(Debug)]
pub struct Claim {
    registry: Arc<Registry>,
    stream: Arc<LiveStream>,
}

impl Claim {
    pub fn stream(&self) -> &Arc<LiveStream> {
        &self.stream
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut streams = self.registry.lock();
        if streams
            .get(&self.stream.key)
            .is_some_and(|s| Arc::ptr_eq(s, &self.stream))
        {
            streams.remove(&self.stream.key);
        }
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveStream>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a publish of `key`, or `None` if `key` is already live.
    pub fn claim(
        self: &Arc<Self>,
        key: &str,
        url: String,
        ssrc: u32,
        start_time: u64,
    ) -> Option<Claim> {
        let mut streams = self.lock();
        if streams.contains_key(key) {
            return None;
        }
        let stream = Arc::new(LiveStream {
            key: key.to_owned(),
            url,
            stream_id: self.next_stream_id.fetch_add(1, Ordering::Relaxed) + 1,
            ssrc,
            start_time,
            video_bytes: AtomicU64::new(0),
            audio_bytes: AtomicU64::new(0),
            speeds: Mutex::new(Speeds {
                at: Instant::now(),
                video_bytes: 0,
                audio_bytes: 0,
                video_kbps: 0,
                audio_kbps: 0,
            }),
        });
        streams.insert(key.to_owned(), stream.clone());
        Some(Claim {
            registry: self.clone(),
            stream,
        })
    }

    /// Every live stream, or only `key`, sorted by key.
    pub fn publishers(&self, key: Option<&str>, now: Instant) -> Vec<PublisherStat> {
        let streams: Vec<Arc<LiveStream>> = self
            .lock()
            .values()
            .filter(|s| key.is_none_or(|k| s.key == k))
            .cloned()
            .collect();
        let mut stats: Vec<PublisherStat> = streams.iter().map(|s| s.stat(now)).collect();
        stats.sort_by(|a, b| a.key.cmp(&b.key));
        stats
    }
}

impl LiveStream {
    fn stat(&self, now: Instant) -> PublisherStat {
        let video = self.video_bytes.load(Ordering::Relaxed);
        let audio = self.audio_bytes.load(Ordering::Relaxed);
        let mut speeds = self.speeds.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(speeds.at);
        if elapsed >= SPEED_WINDOW {
            let ms = elapsed.as_millis().max(1) as u64;
            speeds.video_kbps = (video - speeds.video_bytes) * 8 / ms;
            speeds.audio_kbps = (audio - speeds.audio_bytes) * 8 / ms;
            speeds.at = now;
            speeds.video_bytes = video;
            speeds.audio_bytes = audio;
        }
        PublisherStat {
            key: self.key.clone(),
            url: self.url.clone(),
            stream_id: self.stream_id,
            ssrc: self.ssrc,
            start_time: self.start_time,
            video_total_bytes: video,
            video_speed: speeds.video_kbps,
            audio_total_bytes: audio,
            audio_speed: speeds.audio_kbps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_publisher_per_key_and_release_on_drop() {
        let registry = Arc::new(Registry::default());
        let claim = registry
            .claim("live/a", "rtmp://x/live/a".into(), 5, 1000)
            .unwrap();
        assert!(registry.claim("live/a", String::new(), 6, 0).is_none());
        claim
            .stream()
            .video_bytes
            .fetch_add(125_000, Ordering::Relaxed);
        let later = Instant::now() + Duration::from_secs(10);
        let stats = registry.publishers(Some("live/a"), later);
        assert_eq!(stats.len(), 1);
        assert_eq!(
            (
                stats[0].ssrc,
                stats[0].start_time,
                stats[0].video_total_bytes
            ),
            (5, 1000, 125_000)
        );
        assert!(
            stats[0].video_speed > 0 && stats[0].video_speed <= 100,
            "{}",
            stats[0].video_speed
        );
        assert!(registry.publishers(Some("live/b"), later).is_empty());
        drop(claim);
        assert!(registry.publishers(None, later).is_empty());
        assert!(registry.claim("live/a", String::new(), 7, 0).is_some());
    }
}
