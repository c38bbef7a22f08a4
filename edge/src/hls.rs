//! HLS and Low-Latency HLS from the edge: one [`relay_hls::Packager`] per live stream, fed by
//! its stream task with the tags players get; [`crate::hls_http`] serves them.

use crate::config::HlsSettings;
use crate::tag::FlvTag;
use axum::http::HeaderValue;
use parking_lot::Mutex;
use relay_control::metrics::Exposition;
use relay_hls::{Config, HlsError, Packager};
use relay_node::Tasks;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// A blocking playlist request, or a request for the preload-hinted part, is held at most this
/// many target durations (`EXT-X-TARGETDURATION`), then answered 503.
pub const HOLD_TARGETS: u32 = 3;
/// An ended stream's playlist (with `#EXT-X-ENDLIST`) and media stay this many target durations
/// after the end, unless a new publish of the name takes over.
pub const ENDED_TARGETS: u32 = 3;

/// One stream's packager and the signal held requests wait on.
pub struct HlsStream {
    pub(crate) packager: Mutex<Packager>,
    /// The packager's generation, sent whenever it grows.
    pub(crate) generation: watch::Sender<u64>,
    /// Whether the wall-clock anchor is set (with the first tag).
    anchored: AtomicBool,
    /// That the stream cannot be packaged was logged.
    failed_logged: AtomicBool,
    name: String,
    /// How long a blocking request is held.
    pub(crate) hold: Duration,
    /// `Cache-Control` of media: they never change once made.
    pub(crate) media_cache: HeaderValue,
}

impl std::fmt::Debug for HlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlsStream")
            .field("name", &self.name)
            .field("generation", &*self.generation.borrow())
            .finish_non_exhaustive()
    }
}

impl HlsStream {
    fn new(name: &str, settings: &HlsSettings) -> Arc<Self> {
        let key = name.rsplit('/').next().unwrap_or(name);
        let mut config = Config::new(key);
        config.segment_target_ms = settings.segment_ms;
        config.part_target_ms = settings.part_ms;
        config.max_segments = settings.segments;
        let target = Duration::from_secs(u64::from(settings.segment_ms.div_ceil(1000)));
        // Kept about as long as the playlist window; a segment's bytes never change.
        let window = target.as_secs() * settings.segments as u64;
        let media_cache = HeaderValue::from_str(&format!("public, max-age={window}"))
            .unwrap_or(HeaderValue::from_static("public, max-age=10"));
        Arc::new(HlsStream {
            packager: Mutex::new(Packager::new(config)),
            generation: watch::Sender::new(0),
            anchored: AtomicBool::new(false),
            failed_logged: AtomicBool::new(false),
            name: name.to_owned(),
            hold: target * HOLD_TARGETS,
            media_cache,
        })
    }

    /// Packages a tag players get. The lock is held for the packaging only (no I/O).
    pub fn push(&self, tag: &FlvTag) {
        let framed = &tag.framed;
        let body = framed.slice(flv::TAG_HEADER_LEN..framed.len() - flv::TAG_TRAILER_LEN);
        let tag = flv::Tag::new(tag.tag_type, tag.timestamp, body);
        let (result, generation) = {
            let mut packager = self.packager.lock();
            if !self.anchored.swap(true, Ordering::Relaxed) {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                packager.set_wall_clock(now, tag.timestamp);
            }
            (packager.push(&tag), packager.generation())
        };
        if let Err(error) = result {
            match error {
                HlsError::Unsupported { .. } | HlsError::TooLarge(_) => {
                    if !self.failed_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(stream = %self.name, %error, "not packaged for HLS; HTTP-FLV goes on");
                    }
                }
                error => tracing::debug!(stream = %self.name, %error, "tag not packaged for HLS"),
            }
        }
        self.generation.send_if_modified(|current| {
            let grew = *current != generation;
            *current = generation;
            grew
        });
    }

    /// The stream ended: the open segment is completed and the playlist gets `#EXT-X-ENDLIST`.
    pub fn finish(&self) {
        let generation = {
            let mut packager = self.packager.lock();
            packager.finish();
            packager.generation()
        };
        self.generation.send_replace(generation);
    }

    /// Complete segments held, while the stream is live (`None` once it ended).
    pub fn live_segments(&self) -> Option<usize> {
        let packager = self.packager.lock();
        (!packager.is_finished()).then(|| packager.retained_segments())
    }
}

/// Requests counted for `/metrics`.
#[derive(Debug, Default)]
pub struct HlsCounters {
    pub(crate) playlists: AtomicU64,
    pub(crate) inits: AtomicU64,
    pub(crate) segments: AtomicU64,
    pub(crate) parts: AtomicU64,
    pub(crate) playlist_timeouts: AtomicU64,
    pub(crate) part_timeouts: AtomicU64,
}

struct Entry {
    ssrc: u32,
    stream: Arc<HlsStream>,
}

/// The edge's HLS: its settings, the packagers of the streams served (and of ended ones for a
/// short while), and its counters. Shared by the stream tasks and the HTTP handlers.
#[derive(Default)]
pub struct Hls {
    settings: Option<HlsSettings>,
    streams: Mutex<HashMap<String, Entry>>,
    pub(crate) counters: HlsCounters,
}

impl Hls {
    /// HLS as configured; `None` (`enable_hls: false`): no packager, every HLS URL 404.
    pub fn new(settings: Option<HlsSettings>) -> Arc<Self> {
        Arc::new(Hls {
            settings,
            ..Hls::default()
        })
    }

    /// A packager for the publish `ssrc` of `name` (`APP/NAME`), which takes the name over from
    /// any earlier one; `None` when HLS is off.
    pub fn start(&self, name: &str, ssrc: u32) -> Option<Arc<HlsStream>> {
        let settings = self.settings.as_ref()?;
        let stream = HlsStream::new(name, settings);
        let earlier = self.streams.lock().insert(
            name.to_owned(),
            Entry {
                ssrc,
                stream: stream.clone(),
            },
        );
        // A replaced publish's held requests get its end.
        if let Some(earlier) = earlier {
            earlier.stream.finish();
        }
        Some(stream)
    }

    /// The publish `ssrc` of `name` ended (its packager was finished): its playlist stays for
    /// [`ENDED_TARGETS`] target durations, or until shutdown, then it is freed.
    pub fn end(self: &Arc<Self>, name: &str, ssrc: u32, tasks: &Tasks) {
        let Some(settings) = &self.settings else {
            return;
        };
        let linger =
            Duration::from_secs(u64::from(settings.segment_ms.div_ceil(1000))) * ENDED_TARGETS;
        let hls = self.clone();
        let name = name.to_owned();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(linger) => {}
                _ = shutdown.cancelled() => {}
            }
            let mut streams = hls.streams.lock();
            if streams.get(&name).is_some_and(|entry| entry.ssrc == ssrc) {
                streams.remove(&name);
            }
        });
    }

    /// The packager of `name`, live or just ended.
    pub fn get(&self, name: &str) -> Option<Arc<HlsStream>> {
        self.streams
            .lock()
            .get(name)
            .map(|entry| entry.stream.clone())
    }

    /// Whether HLS is on.
    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    /// The HLS counters and the streams packaged, in Prometheus form.
    pub fn render(&self, out: &mut Exposition) {
        if !self.enabled() {
            return;
        }
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.counters;
        for (kind, counter) in [
            ("playlist", &c.playlists),
            ("init", &c.inits),
            ("segment", &c.segments),
            ("part", &c.parts),
        ] {
            out.counter(
                "liverelay_edge_hls_requests_total",
                "HLS responses served with content, by kind (playlist, init, segment, part).",
                &[("kind", kind)],
                load(counter),
            );
        }
        for (kind, counter) in [
            ("playlist", &c.playlist_timeouts),
            ("part", &c.part_timeouts),
        ] {
            out.counter(
                "liverelay_edge_hls_hold_timeouts_total",
                "Blocking playlist reloads and preload-hinted part requests answered 503 \
                 because nothing came within three target durations.",
                &[("kind", kind)],
                load(counter),
            );
        }
        let streams: Vec<(String, Arc<HlsStream>)> = self
            .streams
            .lock()
            .iter()
            .map(|(name, entry)| (name.clone(), entry.stream.clone()))
            .collect();
        out.gauge(
            "liverelay_edge_hls_streams",
            "Streams packaged for HLS (ended ones for a few target durations too).",
            &[],
            streams.len() as f64,
        );
        // Per stream only while live, as the edge's other per-stream series.
        for (name, stream) in &streams {
            if let Some(segments) = stream.live_segments() {
                out.gauge(
                    "liverelay_edge_stream_hls_segments",
                    "Complete HLS segments held for the live stream.",
                    &[("stream", name)],
                    segments as f64,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_newer_publish_takes_the_name_and_an_ended_one_is_freed() {
        assert!(Hls::new(None).start("live/a", 1).is_none(), "HLS off");
        let hls = Hls::new(Some(HlsSettings {
            addr: None,
            segment_ms: 4000,
            part_ms: 500,
            segments: 6,
        }));
        let first = hls.start("live/a", 1).expect("on");
        let second = hls.start("live/a", 2).expect("on");
        assert!(first.live_segments().is_none(), "the replaced one ended");
        assert!(second.live_segments().is_some());
        // The replaced publish ending frees nothing of its successor.
        let tasks = Tasks::new();
        hls.end("live/a", 1, &tasks);
        assert_eq!(tasks.shut_down(Duration::from_secs(1)).await, Ok(()));
        assert!(hls.get("live/a").is_some_and(|s| Arc::ptr_eq(&s, &second)));
        // The successor's end: its packager is freed (here at once, by the shutdown).
        second.finish();
        let tasks = Tasks::new();
        hls.end("live/a", 2, &tasks);
        assert!(
            hls.get("live/a").is_some(),
            "an ended playlist stays a while"
        );
        assert_eq!(tasks.shut_down(Duration::from_secs(1)).await, Ok(()));
        assert!(hls.get("live/a").is_none());
    }
}
