//! Which streams are live on this cloud, with the figures the API and `/metrics` report.
//!
//! Shared state behind short-held mutexes; the media path only touches atomics,
//! except for sequence headers and keyframes (a few per second), which update [`MediaFacts`].

use crate::repair::StreamRepairStats;
use flv::{Tag, TagType};
use parking_lot::{Mutex, MutexGuard};
use relay_control::views::{AudioView, VideoView};
use relay_control::RateMeter;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Speeds are recomputed at most this often, as livego does.
const SPEED_WINDOW: Duration = Duration::from_secs(5);

/// The live streams by key, and the node's publish counters.
#[derive(Debug, Default)]
pub struct Registry {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    next_stream_id: AtomicU64,
    /// Publishes accepted since start.
    pub publishes: AtomicU64,
    /// Publishes refused (name taken, bad name, bad stream key) since start.
    pub refused: AtomicU64,
}

/// One live publish.
#[derive(Debug)]
pub struct LiveStream {
    /// The name the stream is live under: a room's name, or `app/name` for an open publish;
    /// the registry key and the `stream` label of its metrics.
    pub key: String,
    /// `rtmp://LOCAL_ADDR/KEY`, as livestat reports it.
    pub url: String,
    /// 1, 2, 3… in the order publishes were accepted since start.
    pub stream_id: u64,
    /// Random RTP SSRC of this publish; edges and the repair hub know the stream by it.
    pub ssrc: u32,
    /// The publisher's address.
    pub publisher: SocketAddr,
    /// Unix ms when the publish started; also the wire epoch.
    pub start_time: u64,
    /// When the publish started, for `liverelay_cloud_stream_uptime_seconds`.
    pub started: Instant,
    /// Video tag body bytes received (`liverelay_cloud_ingest_bytes_total{kind="video"}`).
    pub video_bytes: AtomicU64,
    /// Audio tag body bytes received (`liverelay_cloud_ingest_bytes_total{kind="audio"}`).
    pub audio_bytes: AtomicU64,
    /// FLV tags received, script data included (`liverelay_cloud_ingest_tags_total`).
    pub tags: AtomicU64,
    /// RTP packets sent, each counted once whatever the destinations
    /// (`liverelay_cloud_sent_packets_total`).
    pub packets_sent: AtomicU64,
    /// Bytes of those datagrams, relay header and authentication tag included
    /// (`liverelay_cloud_sent_bytes_total`).
    pub bytes_sent: AtomicU64,
    /// What the repair server did for this stream, shared with its repair hub entry.
    pub repair: Arc<StreamRepairStats>,
    media: Mutex<MediaFacts>,
    speeds: Mutex<Speeds>,
}

/// What the sequence headers, metadata and keyframes told about the stream.
#[derive(Debug, Clone, Default)]
pub struct MediaFacts {
    /// Codec, profile, level, size and frame rate from the last video sequence header.
    pub video: Option<VideoView>,
    /// Codec, profile, sample rate and channels from the last audio sequence header (or the
    /// first audio tag until one comes).
    pub audio: Option<AudioView>,
    /// `framerate` from `onMetaData`, used when the bitstream gives none.
    pub metadata_frame_rate: Option<f64>,
    last_keyframe: Option<u32>,
    /// Distance between the last two keyframes in ms; jumps of 10 minutes or more and
    /// backward steps are ignored.
    pub keyframe_interval_ms: Option<u32>,
}

impl MediaFacts {
    /// Takes what a sequence header, keyframe or (until one is known) audio tag tells.
    pub fn observe(&mut self, tag: &Tag) {
        match tag.tag_type {
            TagType::Video if tag.is_sequence_header() => {
                self.video = crate::media_info::video(&tag.body)
            }
            TagType::Video if tag.is_keyframe() => self.keyframe(tag.timestamp),
            TagType::Audio if tag.is_sequence_header() || self.audio.is_none() => {
                self.audio = crate::media_info::audio(&tag.body)
            }
            _ => {}
        }
    }

    /// The frame rate the bitstream gives, else the one `onMetaData` claims.
    pub fn video_view(&self) -> Option<VideoView> {
        let mut video = self.video.clone()?;
        video.frame_rate = video.frame_rate.or(self.metadata_frame_rate);
        Some(video)
    }

    /// A keyframe at `timestamp` (ms): the interval is the distance from the previous one.
    pub fn keyframe(&mut self, timestamp: u32) {
        if let Some(previous) = self.last_keyframe {
            let interval = timestamp.wrapping_sub(previous);
            // A republish or a timestamp jump is not an interval.
            if interval > 0 && interval < 600_000 {
                self.keyframe_interval_ms = Some(interval);
            }
        }
        self.last_keyframe = Some(timestamp);
    }
}

#[derive(Debug)]
struct Speeds {
    video: RateMeter,
    audio: RateMeter,
}

/// Ingest rates in kbit/s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IngestRates {
    /// Video ingest rate in kbit/s over the last completed window of at least 5 s.
    pub video_kbps: f64,
    /// Audio ingest rate in kbit/s over the last completed window of at least 5 s.
    pub audio_kbps: f64,
}

/// A snapshot for `/stat/livestat`, in livego's shape.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PublisherStat {
    /// The name the stream is live under (a room's name, or `app/name`).
    pub key: String,
    /// `rtmp://LOCAL_ADDR/KEY`.
    pub url: String,
    /// 1, 2, 3… in the order publishes were accepted since start.
    pub stream_id: u64,
    /// RTP SSRC of the publish.
    pub ssrc: u32,
    /// Unix ms when the publish started.
    pub start_time: u64,
    /// Video tag bytes received so far.
    pub video_total_bytes: u64,
    /// kbit/s over the last window of at least 5 s.
    pub video_speed: u64,
    /// Audio tag bytes received so far.
    pub audio_total_bytes: u64,
    /// kbit/s over the last window of at least 5 s.
    pub audio_speed: u64,
}

/// Removes the stream from the registry when the publish ends, however it ends.
#[derive(Debug)]
pub struct Claim {
    registry: Arc<Registry>,
    stream: Arc<LiveStream>,
}

impl Claim {
    /// The registered stream this claim holds.
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

/// Who publishes what, as a publish starts.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The name to go live under; refused while a stream of that key is live.
    pub key: String,
    /// The publish URL livestat shows.
    pub url: String,
    /// The publish's RTP SSRC.
    pub ssrc: u32,
    /// The publisher's address.
    pub publisher: SocketAddr,
    /// Unix ms when the publish started (the wire epoch).
    pub start_time: u64,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<LiveStream>>> {
        self.streams.lock()
    }

    /// Registers a publish, or `None` if its key is already live.
    pub fn claim(self: &Arc<Self>, request: PublishRequest) -> Option<Claim> {
        let mut streams = self.lock();
        if streams.contains_key(&request.key) {
            return None;
        }
        let now = Instant::now();
        let stream = Arc::new(LiveStream {
            key: request.key.clone(),
            url: request.url,
            stream_id: self.next_stream_id.fetch_add(1, Ordering::Relaxed) + 1,
            ssrc: request.ssrc,
            publisher: request.publisher,
            start_time: request.start_time,
            started: now,
            video_bytes: AtomicU64::new(0),
            audio_bytes: AtomicU64::new(0),
            tags: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            repair: Arc::default(),
            media: Mutex::default(),
            speeds: Mutex::new(Speeds {
                video: RateMeter::new(now, SPEED_WINDOW),
                audio: RateMeter::new(now, SPEED_WINDOW),
            }),
        });
        streams.insert(request.key, stream.clone());
        self.publishes.fetch_add(1, Ordering::Relaxed);
        Some(Claim {
            registry: self.clone(),
            stream,
        })
    }

    /// Every live stream, or only `key`, sorted by key.
    pub fn streams(&self, key: Option<&str>) -> Vec<Arc<LiveStream>> {
        let mut streams: Vec<Arc<LiveStream>> = self
            .lock()
            .values()
            .filter(|s| key.is_none_or(|k| s.key == k))
            .cloned()
            .collect();
        streams.sort_by(|a, b| a.key.cmp(&b.key));
        streams
    }

    /// The live stream of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Arc<LiveStream>> {
        self.lock().get(key).cloned()
    }

    /// How many streams are live (`liverelay_cloud_streams`).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no stream is live.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// livestat's view of every live stream, or only `key`.
    pub fn publishers(&self, key: Option<&str>, now: Instant) -> Vec<PublisherStat> {
        self.streams(key).iter().map(|s| s.stat(now)).collect()
    }
}

impl LiveStream {
    /// The media facts, locked; hold it briefly, the publishing session updates it.
    pub fn media(&self) -> MutexGuard<'_, MediaFacts> {
        self.media.lock()
    }

    /// Ingest rates over the last completed window of at least 5 s.
    pub fn rates(&self, now: Instant) -> IngestRates {
        let mut speeds = self.speeds.lock();
        let kbps = |bytes_per_second: f64| bytes_per_second * 8.0 / 1000.0;
        IngestRates {
            video_kbps: kbps(
                speeds
                    .video
                    .rate(now, self.video_bytes.load(Ordering::Relaxed)),
            ),
            audio_kbps: kbps(
                speeds
                    .audio
                    .rate(now, self.audio_bytes.load(Ordering::Relaxed)),
            ),
        }
    }

    fn stat(&self, now: Instant) -> PublisherStat {
        let rates = self.rates(now);
        PublisherStat {
            key: self.key.clone(),
            url: self.url.clone(),
            stream_id: self.stream_id,
            ssrc: self.ssrc,
            start_time: self.start_time,
            video_total_bytes: self.video_bytes.load(Ordering::Relaxed),
            video_speed: rates.video_kbps.round() as u64,
            audio_total_bytes: self.audio_bytes.load(Ordering::Relaxed),
            audio_speed: rates.audio_kbps.round() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str, ssrc: u32) -> PublishRequest {
        PublishRequest {
            key: key.into(),
            url: format!("rtmp://x/{key}"),
            ssrc,
            publisher: SocketAddr::from(([127, 0, 0, 1], 5000)),
            start_time: 1000,
        }
    }

    #[test]
    fn one_publisher_per_key_and_release_on_drop() {
        let registry = Arc::new(Registry::default());
        let claim = registry.claim(request("live/a", 5)).unwrap();
        assert!(registry.claim(request("live/a", 6)).is_none());
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
        assert_eq!(registry.len(), 1);
        drop(claim);
        assert!(registry.publishers(None, later).is_empty());
        assert!(registry.claim(request("live/a", 7)).is_some());
        assert_eq!(registry.publishes.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn keyframe_interval_is_the_last_distance() {
        let mut facts = MediaFacts::default();
        facts.keyframe(0);
        assert_eq!(facts.keyframe_interval_ms, None);
        facts.keyframe(2000);
        facts.keyframe(4000);
        assert_eq!(facts.keyframe_interval_ms, Some(2000));
        facts.keyframe(4000);
        assert_eq!(facts.keyframe_interval_ms, Some(2000));
    }
}
