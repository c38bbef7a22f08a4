//! The segmenter and LL-HLS model: tags in, parts, segments and playlists out.

use crate::codec::{self, AudioConfig, AudioKind, Packet, VideoConfig};
use crate::fmp4::{
    init_segment, media_fragment, Fragment, Sample, TrackRun, AUDIO_TRACK_ID, VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
};
use crate::playlist::Resource;
use crate::HlsError;
use bytes::Bytes;
use flv::Tag;
use std::collections::VecDeque;
use std::fmt::Write as _;

/// Packaging settings of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The stream name: URIs are `NAME/...` relative to the media playlist `/APP/NAME.m3u8`.
    pub name: String,
    /// Segment target in ms (default 4000). Segments are cut at the first video keyframe once
    /// this much is buffered, so with the common 2 s keyframe interval they are 4 s long.
    /// `EXT-X-TARGETDURATION` is this rounded up to whole seconds.
    pub segment_target_ms: u32,
    /// Part target in ms (default 500): `EXT-X-PART-INF:PART-TARGET`. At most a third of the
    /// segment target is the common LL-HLS choice; 0.5 s gives 8 parts per 4 s segment, and
    /// with `PART-HOLD-BACK` at three part targets (draft-pantos-hls-rfc8216bis §4.4.3.8: at
    /// least two, three recommended) players stay about 1.5 s behind the edge.
    pub part_target_ms: u32,
    /// Complete segments kept (default 6, at least 3): the playlist window and the memory
    /// bound. RFC 8216 §6.2.2 wants a live playlist to span at least three target durations.
    pub max_segments: usize,
}

impl Config {
    /// The defaults for stream `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Config {
            name: name.into(),
            segment_target_ms: 4000,
            part_target_ms: 500,
            max_segments: 6,
        }
    }
}

/// The answer to a (possibly blocking) media playlist request, RFC 8216bis §6.2.5.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Send this playlist.
    Ready(String),
    /// The requested segment or part does not exist yet (or nothing was packaged yet): hold
    /// the request and poll again when [`Packager::generation`] changes.
    Wait,
    /// Answer 400 Bad Request: `_HLS_part` without `_HLS_msn`, or a segment or part too far
    /// in the future (more than two segments, or the Advance Part Limit of parts, ahead).
    BadRequest(&'static str),
    /// The stream ended before anything was packaged: answer 404.
    Gone,
}

/// Counters for the edge's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tags with nothing to package (metadata, end of sequence, frames before any sequence
    /// header, empty bodies).
    pub ignored: u64,
    /// Tags refused with an error (truncated headers, bad sequence headers).
    pub rejected: u64,
    /// Parts published.
    pub parts: u64,
    /// Segments completed.
    pub segments: u64,
    /// Discontinuities started (codec changes, timestamp jumps).
    pub discontinuities: u64,
}

#[derive(Debug)]
struct Part {
    fragment: Fragment,
    /// Seconds, by the main track.
    duration: f64,
    independent: bool,
}

#[derive(Debug)]
struct Segment {
    msn: u64,
    init: u32,
    discontinuity: bool,
    parts: Vec<Part>,
    duration: f64,
    bytes: usize,
    /// Decode time of the first sample of the lead track, in ms on the FLV timeline.
    start_ms: u64,
}

impl Segment {
    fn new(msn: u64) -> Self {
        Segment {
            msn,
            init: 0,
            discontinuity: false,
            parts: Vec::new(),
            duration: 0.0,
            bytes: 0,
            start_ms: 0,
        }
    }

    fn pieces(&self) -> Vec<Bytes> {
        self.parts
            .iter()
            .flat_map(|p| p.fragment.pieces.iter().cloned())
            .collect()
    }
}

/// A frame waiting for its successor, which gives its duration.
#[derive(Debug)]
struct Pending {
    dts: u64,
    sample: Sample,
}

#[derive(Debug)]
struct Track {
    id: u32,
    video: bool,
    timescale: u32,
    /// Used for the last frame before a cut, and for a first frame that has no successor.
    last_duration: u32,
    pending: Option<Pending>,
    /// Samples of the open part, and the decode time of the first.
    samples: Vec<Sample>,
    base: u64,
    part_ticks: u64,
}

impl Track {
    fn new(id: u32, video: bool, timescale: u32, default_duration: u32) -> Self {
        Track {
            id,
            video,
            timescale,
            last_duration: default_duration,
            pending: None,
            samples: Vec::new(),
            base: 0,
            part_ticks: 0,
        }
    }

    fn ticks(&self, ms: u64) -> u64 {
        ms.saturating_mul(u64::from(self.timescale)) / 1000
    }

    fn push(&mut self, dts: u64, sample: Sample) {
        if self.samples.is_empty() {
            self.base = dts;
        }
        self.part_ticks += u64::from(sample.duration);
        self.samples.push(sample);
    }
}

/// FLV's 32-bit millisecond timestamps on a 64-bit timeline (they wrap after 49.7 days).
#[derive(Debug, Default)]
struct Clock {
    last: Option<u32>,
    epoch: u64,
}

impl Clock {
    fn extend(&mut self, ts: u32) -> u64 {
        const HALF: u32 = 1 << 31;
        if let Some(last) = self.last {
            if ts < last && last - ts > HALF {
                self.epoch += 1 << 32;
            } else if ts > last && ts - last > HALF {
                // A late tag from before the wrap.
                return self.epoch.saturating_sub(1 << 32) + u64::from(ts);
            }
        }
        self.last = Some(ts);
        self.epoch + u64::from(ts)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

/// A frame interval above this is a timestamp jump (publisher restart), packaged as a
/// discontinuity instead of one very long frame.
const MAX_GAP_MS: u64 = 5_000;
/// A step back of more than this is a jump too; smaller ones are jitter (duration 0).
const MAX_BACKSTEP_MS: u64 = 1_000;
/// Samples in one part, and parts in one segment, at most. Durations bound both in a sane
/// stream; these bound memory when a publisher sends frames without advancing timestamps.
const MAX_SAMPLES_PER_PART: usize = 1024;
const MAX_PARTS_PER_SEGMENT: usize = 256;

/// Packages one stream. Feed it tags with [`push`](Self::push); serve what it returns.
#[derive(Debug)]
pub struct Packager {
    config: Config,
    video_config: Option<VideoConfig>,
    audio_config: Option<AudioConfig>,
    /// The tracks of the current init segment.
    video: Option<Track>,
    audio: Option<Track>,
    init_stale: bool,
    inits: VecDeque<(u32, Bytes)>,
    next_init: u32,
    segments: VecDeque<Segment>,
    open: Segment,
    next_discontinuity: bool,
    discontinuity_sequence: u64,
    fragment_sequence: u32,
    clock: Clock,
    /// Wall-clock anchor: (Unix ms, FLV timeline ms) for EXT-X-PROGRAM-DATE-TIME.
    wall_clock: Option<(u64, u64)>,
    generation: u64,
    failed: Option<HlsError>,
    finished: bool,
    stats: Stats,
}

impl Packager {
    /// A packager with nothing received yet. Targets are clamped to sane minimums (part
    /// target at least 100 ms, segment target at least one part, three segments kept).
    pub fn new(mut config: Config) -> Self {
        config.part_target_ms = config.part_target_ms.max(100);
        config.segment_target_ms = config.segment_target_ms.max(config.part_target_ms);
        config.max_segments = config.max_segments.max(3);
        Packager {
            config,
            video_config: None,
            audio_config: None,
            video: None,
            audio: None,
            init_stale: true,
            inits: VecDeque::new(),
            next_init: 0,
            segments: VecDeque::new(),
            open: Segment::new(0),
            next_discontinuity: false,
            discontinuity_sequence: 0,
            fragment_sequence: 1,
            clock: Clock::default(),
            wall_clock: None,
            generation: 0,
            failed: None,
            finished: false,
            stats: Stats::default(),
        }
    }

    /// The settings in force (after clamping).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the next tag, in the order the edge delivers them (DTS order).
    ///
    /// Metadata is ignored; sequence headers set up the init segment (a changed one starts a
    /// new init segment after an `EXT-X-DISCONTINUITY`); frames become samples, published as
    /// parts. An error means this tag was dropped and counted; only
    /// [`HlsError::Unsupported`] is final, and is then returned by every later call.
    pub fn push(&mut self, tag: &Tag) -> Result<(), HlsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            self.stats.ignored += 1;
            return Ok(());
        }
        let packet = match codec::parse(tag) {
            Ok(packet) => packet,
            Err(e) => return Err(self.refuse(e)),
        };
        let result = match packet {
            Packet::Nothing => {
                self.stats.ignored += 1;
                Ok(())
            }
            Packet::Video(config) => {
                if self.video_config.as_ref() != Some(&config) {
                    self.reconfigure();
                    self.video_config = Some(config);
                }
                Ok(())
            }
            Packet::Audio(config) => {
                if self.audio_config.as_ref() != Some(&config) {
                    self.reconfigure();
                    self.audio_config = Some(config);
                }
                Ok(())
            }
            Packet::VideoFrame {
                data,
                composition_ms,
                keyframe,
            } => self.frame(Kind::Video, tag.timestamp, data, composition_ms, keyframe),
            Packet::AudioFrame { data } => self.frame(Kind::Audio, tag.timestamp, data, 0, true),
        };
        result.map_err(|e| self.refuse(e))
    }

    /// Marks the end of the stream: the last frames are written with the previous frame's
    /// duration, the open segment is completed and the playlist gets `#EXT-X-ENDLIST`.
    pub fn finish(&mut self) {
        if self.finished || self.failed.is_some() {
            return;
        }
        let done = self.flush().and_then(|()| self.cut_segment());
        if let Err(e) = done {
            self.refuse(e);
        }
        self.finished = true;
        self.generation += 1;
    }

    /// Anchors the timeline to the wall clock: the tag with timestamp `timestamp` (ms) was
    /// captured, or received, at `unix_ms`. From then on every segment gets an
    /// `EXT-X-PROGRAM-DATE-TIME` (RFC 8216 §4.3.2.6), which players use to measure and hold
    /// their latency. The crate reads no clock itself; the edge calls this, typically once
    /// with the first tag and the time it arrived.
    pub fn set_wall_clock(&mut self, unix_ms: u64, timestamp: u32) {
        let flv_ms = match self.clock.last {
            None => u64::from(timestamp),
            Some(_) => self.clock.epoch + u64::from(timestamp),
        };
        self.wall_clock = Some((unix_ms, flv_ms));
    }

    /// Increases whenever a part, segment, the end or an error appears: a held blocking
    /// request or preload-hinted part can be retried when it changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The sticky error, once the stream cannot be packaged.
    pub fn error(&self) -> Option<&HlsError> {
        self.failed.as_ref()
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Init segment `n` (`NAME/init-<n>.mp4`) while a retained segment uses it.
    pub fn init(&self, n: u32) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|(id, _)| *id == n)
            .map(|(_, b)| b.clone())
    }

    /// Complete media segment `msn` (`NAME/seg-<msn>.m4s`): the concatenation of its parts.
    pub fn segment(&self, msn: u64) -> Option<Vec<Bytes>> {
        self.segments
            .iter()
            .find(|s| s.msn == msn)
            .map(Segment::pieces)
    }

    /// Part `index` of segment `msn` (`NAME/part-<msn>-<index>.m4s`), of a complete segment or
    /// of the one in progress.
    pub fn part(&self, msn: u64, index: u32) -> Option<Vec<Bytes>> {
        let segment = self
            .segments
            .iter()
            .chain(std::iter::once(&self.open))
            .find(|s| s.msn == msn)?;
        segment
            .parts
            .get(index as usize)
            .map(|p| p.fragment.pieces.clone())
    }

    /// Whether part `index` of segment `msn` may still appear: the one the preload hint names,
    /// or the first of the next segment. A request for it should be held rather than 404.
    pub fn part_may_appear(&self, msn: u64, index: u32) -> bool {
        if self.finished || self.failed.is_some() {
            return false;
        }
        (msn == self.open.msn && index as usize == self.open.parts.len())
            || (msn == self.open.msn + 1 && index == 0)
    }

    /// Looks up a resource by its parsed name ([`crate::parse_uri`]).
    pub fn resource(&self, resource: Resource) -> Option<Vec<Bytes>> {
        match resource {
            Resource::Init(n) => self.init(n).map(|b| vec![b]),
            Resource::Segment(msn) => self.segment(msn),
            Resource::Part(msn, i) => self.part(msn, i),
        }
    }

    /// Number of complete segments held (bounded by [`Config::max_segments`]).
    pub fn retained_segments(&self) -> usize {
        self.segments.len()
    }

    /// Answers a media playlist request with the `_HLS_msn` and `_HLS_part` query values
    /// (RFC 8216bis §6.2.5.2): the playlist once it contains segment `msn` (or part `part` of
    /// it), or anything later; [`Reload::Wait`] until then. Without `msn` it is a plain
    /// request, which waits only until the first part exists. After [`finish`](Self::finish)
    /// nothing blocks. The error is [`HlsError::Unsupported`] for a stream this crate cannot
    /// package.
    pub fn poll_playlist(&self, msn: Option<u64>, part: Option<u64>) -> Result<Reload, HlsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if part.is_some() && msn.is_none() {
            return Ok(Reload::BadRequest("_HLS_part without _HLS_msn"));
        }
        let Some(text) = self.media_playlist() else {
            return Ok(if self.finished {
                Reload::Gone
            } else {
                Reload::Wait
            });
        };
        let Some(msn) = msn else {
            return Ok(Reload::Ready(text));
        };
        if self.finished {
            return Ok(Reload::Ready(text));
        }
        let open = self.open.msn;
        if msn > open + 2 {
            return Ok(Reload::BadRequest("_HLS_msn more than two segments ahead"));
        }
        let ready = match part {
            None => msn < open,
            Some(p) if msn < open => {
                let later = msn + 1 < open || !self.open.parts.is_empty();
                match self.segments.iter().find(|s| s.msn == msn) {
                    Some(s) => p < s.parts.len() as u64 || later,
                    None => true, // rolled off: the playlist is newer
                }
            }
            Some(p) if msn == open => {
                let have = self.open.parts.len() as u64;
                if p >= have + self.advance_part_limit() {
                    return Ok(Reload::BadRequest(
                        "_HLS_part beyond the Advance Part Limit",
                    ));
                }
                p < have
            }
            Some(_) => false,
        };
        Ok(if ready {
            Reload::Ready(text)
        } else {
            Reload::Wait
        })
    }

    /// RFC 8216bis §6.2.5.2: three parts, or three seconds' worth when parts are shorter
    /// than a second.
    fn advance_part_limit(&self) -> u64 {
        let part = u64::from(self.config.part_target_ms);
        if part >= 1000 {
            3
        } else {
            3000u64.div_ceil(part)
        }
    }

    /// `EXT-X-TARGETDURATION`: the segment target rounded up to whole seconds.
    fn target_duration(&self) -> u64 {
        u64::from(self.config.segment_target_ms).div_ceil(1000)
    }

    /// The media playlist now, `None` until the first part exists.
    pub fn media_playlist(&self) -> Option<String> {
        if self.segments.is_empty() && self.open.parts.is_empty() {
            return None;
        }
        let name = &self.config.name;
        let td = self.target_duration();
        let part_target = f64::from(self.config.part_target_ms) / 1000.0;
        let mut out = String::with_capacity(256 + 64 * (self.segments.len() + 1) * 9);
        // Version 6: EXT-X-MAP in a playlist without EXT-X-I-FRAMES-ONLY needs it (RFC 8216
        // §7); nothing here needs more (no EXT-X-SKIP, which would need 9).
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{td}\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}\n\
             #EXT-X-PART-INF:PART-TARGET={part_target:.3}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
            3.0 * part_target,
            self.segments.front().map_or(self.open.msn, |s| s.msn),
        );
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        // Parts are listed for the segments within three target durations of the end
        // (RFC 8216bis §4.4.4.9 lets older EXT-X-PART tags go).
        let horizon = 3.0 * td as f64;
        let mut after = self.open.duration;
        let mut show_parts = vec![false; self.segments.len()];
        for (i, s) in self.segments.iter().enumerate().rev() {
            show_parts[i] = after < horizon;
            after += s.duration;
        }
        let mut map: Option<u32> = None;
        let all = self
            .segments
            .iter()
            .zip(show_parts)
            .chain((!self.open.parts.is_empty()).then_some((&self.open, true)));
        for (s, parts) in all {
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.init) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{name}/init-{}.mp4\"", s.init);
                map = Some(s.init);
            }
            if let Some((unix_ms, flv_ms)) = self.wall_clock {
                let at = unix_ms as i128 + s.start_ms as i128 - flv_ms as i128;
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(at));
            }
            if parts {
                for (i, p) in s.parts.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "#EXT-X-PART:DURATION={:.5},URI=\"{name}/part-{}-{i}.m4s\"{}",
                        p.duration,
                        s.msn,
                        if p.independent {
                            ",INDEPENDENT=YES"
                        } else {
                            ""
                        }
                    );
                }
            }
            if !std::ptr::eq(s, &self.open) {
                let _ = writeln!(out, "#EXTINF:{:.5},\n{name}/seg-{}.m4s", s.duration, s.msn);
            }
        }
        if self.finished {
            out.push_str("#EXT-X-ENDLIST\n");
        } else {
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{name}/part-{}-{}.m4s\"",
                self.open.msn,
                self.open.parts.len()
            );
        }
        Some(out)
    }

    /// The multivariant playlist with one variant, `NAME.m3u8`; `None` before the first part.
    /// `BANDWIDTH` is the peak bit rate of the retained segments (RFC 8216 §4.3.4.2), measured
    /// from their bytes and durations; `CODECS` comes from the current sequence headers.
    pub fn multivariant_playlist(&self) -> Option<String> {
        let segments: Vec<&Segment> = if self.segments.is_empty() {
            vec![&self.open]
        } else {
            self.segments.iter().collect()
        };
        let rate = |bytes: usize, seconds: f64| (bytes as f64 * 8.0 / seconds).ceil() as u64;
        let peak = segments
            .iter()
            .filter(|s| s.duration > 0.0)
            .map(|s| rate(s.bytes, s.duration))
            .max()?;
        let (bytes, seconds) = segments
            .iter()
            .fold((0, 0.0), |(b, d), s| (b + s.bytes, d + s.duration));
        let mut codecs = Vec::new();
        if let Some(v) = self.video.as_ref().and(self.video_config.as_ref()) {
            codecs.push(codec::video_codec_string(v));
        }
        if let Some(a) = self.audio.as_ref().and(self.audio_config.as_ref()) {
            codecs.push(codec::audio_codec_string(a));
        }
        let mut out = format!(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={},CODECS=\"{}\"",
            rate(bytes, seconds),
            codecs.join(",")
        );
        if let Some(v) = self.video.as_ref().and(self.video_config.as_ref()) {
            if v.width > 0 && v.height > 0 {
                let _ = write!(out, ",RESOLUTION={}x{}", v.width, v.height);
            }
            if let Some(fps) = v.frame_rate.filter(|f| f.is_finite() && *f > 0.0) {
                let _ = write!(out, ",FRAME-RATE={fps:.3}");
            }
        }
        let _ = write!(out, "\n{}.m3u8\n", self.config.name);
        Some(out)
    }

    /// Counts a refused tag; an unsupported codec also stops packaging for good.
    fn refuse(&mut self, e: HlsError) -> HlsError {
        self.stats.rejected += 1;
        if matches!(e, HlsError::Unsupported { .. } | HlsError::TooLarge(_)) {
            self.failed = Some(e.clone());
            self.generation += 1;
        }
        e
    }

    /// A sequence header changed (or appeared for a track the current init lacks): what was
    /// packaged under the old init is completed, and the next segment starts with the new init
    /// after a discontinuity.
    fn reconfigure(&mut self) {
        self.init_stale = true;
        if self.inits.is_empty() {
            return; // nothing packaged yet: the first init is not built
        }
        if let Err(e) = self.flush().and_then(|()| self.cut_segment()) {
            self.refuse(e);
        }
        self.next_discontinuity = true;
        self.stats.discontinuities += 1;
    }

    fn ensure_init(&mut self) -> Result<(), HlsError> {
        if !self.init_stale {
            return Ok(());
        }
        let bytes = init_segment(self.video_config.as_ref(), self.audio_config.as_ref())?;
        let id = self.next_init;
        self.next_init += 1;
        self.inits.push_back((id, bytes));
        self.video = self
            .video_config
            .as_ref()
            .map(|_| Track::new(VIDEO_TRACK_ID, true, VIDEO_TIMESCALE, VIDEO_TIMESCALE / 30));
        self.audio = self.audio_config.as_ref().map(|a| {
            let frame = match a.kind {
                AudioKind::Aac => 1024,
                AudioKind::Opus => 960,
            };
            Track::new(AUDIO_TRACK_ID, false, a.sample_rate, frame)
        });
        self.init_stale = false;
        Ok(())
    }

    fn track(&mut self, kind: Kind) -> Option<&mut Track> {
        match kind {
            Kind::Video => self.video.as_mut(),
            Kind::Audio => self.audio.as_mut(),
        }
    }

    /// Video leads the cutting when the stream has video; audio-only streams cut by audio.
    fn main_kind(&self) -> Kind {
        if self.video.is_some() {
            Kind::Video
        } else {
            Kind::Audio
        }
    }

    fn frame(
        &mut self,
        kind: Kind,
        timestamp: u32,
        data: Bytes,
        composition_ms: i32,
        sync: bool,
    ) -> Result<(), HlsError> {
        let configured = match kind {
            Kind::Video => self.video_config.is_some(),
            Kind::Audio => self.audio_config.is_some(),
        };
        if !configured {
            self.stats.ignored += 1;
            return Ok(());
        }
        self.ensure_init()?;
        let ms = self.clock.extend(timestamp);
        let Some(track) = self.track(kind) else {
            self.stats.ignored += 1;
            return Ok(());
        };
        let dts = ms * u64::from(track.timescale) / 1000;
        let composition_offset =
            i32::try_from(i64::from(composition_ms) * i64::from(track.timescale) / 1000)
                .unwrap_or(0);
        let max_gap = track.ticks(MAX_GAP_MS);
        let max_back = track.ticks(MAX_BACKSTEP_MS);
        let sample = Sample {
            data,
            duration: 0,
            composition_offset,
            sync,
        };
        if let Some(prev) = track.pending.take() {
            if dts > prev.dts + max_gap || dts + max_back < prev.dts {
                // A timestamp jump: close what there is and start over after a discontinuity.
                let last = u64::from(track.last_duration);
                self.complete(kind, prev, last)?;
                self.flush()?;
                self.cut_segment()?;
                self.next_discontinuity = true;
                self.stats.discontinuities += 1;
            } else {
                let duration = dts.saturating_sub(prev.dts);
                self.complete(kind, prev, duration)?;
            }
        }
        if kind == Kind::Video && sync && self.main_kind() == Kind::Video {
            let target = f64::from(self.config.segment_target_ms) / 1000.0;
            if self.open.duration + self.part_seconds() >= target - 1e-9 {
                self.complete_audio_before(ms)?;
                self.cut_segment()?;
            }
        }
        if let Some(track) = self.track(kind) {
            track.pending = Some(Pending { dts, sample });
        }
        Ok(())
    }

    /// Puts the waiting audio frame in the segment being closed when it starts before `ms`, the
    /// keyframe the next segment starts with, at the track's last frame duration (its successor
    /// has not arrived yet). Without it the segment's audio would end up to a frame short of its
    /// video, the media buffer (which ends where the shorter track does) would end before the
    /// segment, and a player that finds its buffer end inside the segment (hls.js does) asks for
    /// the segment's last parts again instead of the next segment's first.
    fn complete_audio_before(&mut self, ms: u64) -> Result<(), HlsError> {
        let Some(track) = self.audio.as_mut() else {
            return Ok(());
        };
        let starts_before = track.pending.as_ref().is_some_and(|pending| {
            pending.dts * 1000 < ms * u64::from(track.timescale) && track.last_duration > 0
        });
        if !starts_before {
            return Ok(());
        }
        let last = u64::from(track.last_duration);
        match track.pending.take() {
            Some(pending) => self.complete(Kind::Audio, pending, last),
            None => Ok(()),
        }
    }

    /// The track whose samples give the open part its duration: the main track when it has
    /// samples in the part, else the other one (a part of audio only while video stalls).
    fn lead(&self) -> Option<&Track> {
        let (main, other) = match self.main_kind() {
            Kind::Video => (self.video.as_ref(), self.audio.as_ref()),
            Kind::Audio => (self.audio.as_ref(), self.video.as_ref()),
        };
        main.filter(|t| !t.samples.is_empty())
            .or(other.filter(|t| !t.samples.is_empty()))
    }

    /// The open part's duration as the playlist will report it, in seconds.
    fn part_seconds(&self) -> f64 {
        self.lead()
            .map_or(0.0, |t| t.part_ticks as f64 / f64::from(t.timescale))
    }

    /// Places a sample whose duration is now known, closing the part or segment before it
    /// when it would not fit.
    ///
    /// Parts and segments are measured as the playlist reports them (by [`Self::lead`]), so
    /// the limits hold for what players see: no part longer than PART-TARGET, no segment
    /// whose rounded EXTINF exceeds EXT-X-TARGETDURATION (RFC 8216 §4.3.3.1), even when a
    /// keyframe comes too late and the segment is cut without one.
    fn complete(&mut self, kind: Kind, pending: Pending, duration: u64) -> Result<(), HlsError> {
        let main = self.main_kind() == kind;
        let part_target = u64::from(self.config.part_target_ms);
        let segment_target = f64::from(self.config.segment_target_ms) / 1000.0;
        let hard_limit = self.target_duration() as f64 + 0.499;
        let leads = main
            || self.lead().is_none_or(|t| match kind {
                Kind::Video => t.video,
                Kind::Audio => !t.video,
            });
        let open_seconds = self.open.duration;
        let Some(track) = self.track(kind) else {
            return Ok(());
        };
        let part_ticks = track.ticks(part_target);
        // A frame longer than a part (a stall) is shortened to one part; the hole it leaves
        // goes between fragments, whose tfdt keeps the real timeline.
        let hole = duration > part_ticks;
        let duration = duration.min(part_ticks) as u32;
        if duration > 0 {
            track.last_duration = duration;
        }
        let timescale = f64::from(track.timescale);
        let part_after = track.part_ticks + u64::from(duration);
        let part_before_seconds = track.part_ticks as f64 / timescale;
        let audio_only = !track.video && main;
        let too_many = track.samples.len() >= MAX_SAMPLES_PER_PART;
        if self.open.parts.len() >= MAX_PARTS_PER_SEGMENT {
            self.cut_segment()?;
        } else if too_many {
            self.close_part()?;
        } else if leads {
            if open_seconds + part_after as f64 / timescale > hard_limit
                || (audio_only && open_seconds + part_before_seconds >= segment_target - 1e-9)
            {
                self.cut_segment()?;
            } else if part_after > part_ticks {
                self.close_part()?;
            }
        } else if part_after > 2 * part_ticks {
            // Not leading, this track still bounds the part, so a stalled lead cannot make
            // it grow without limit.
            self.close_part()?;
        }
        let Some(track) = self.track(kind) else {
            return Ok(());
        };
        let mut sample = pending.sample;
        sample.duration = duration;
        track.push(pending.dts, sample);
        if hole {
            self.close_part()?;
        }
        Ok(())
    }

    /// Writes every waiting frame with its track's previous duration.
    fn flush(&mut self) -> Result<(), HlsError> {
        for kind in [Kind::Video, Kind::Audio] {
            if let Some(track) = self.track(kind) {
                if let Some(p) = track.pending.take() {
                    let last = u64::from(track.last_duration);
                    self.complete(kind, p, last)?;
                }
            }
        }
        Ok(())
    }

    /// Publishes the open part, if it has any samples.
    fn close_part(&mut self) -> Result<(), HlsError> {
        let mut runs = Vec::with_capacity(2);
        for track in [self.video.as_ref(), self.audio.as_ref()]
            .into_iter()
            .flatten()
        {
            if !track.samples.is_empty() {
                runs.push(TrackRun {
                    track_id: track.id,
                    base_decode_time: track.base,
                    video: track.video,
                    samples: &track.samples,
                });
            }
        }
        if runs.is_empty() {
            return Ok(());
        }
        let fragment = media_fragment(self.fragment_sequence, &runs)?;
        self.fragment_sequence = self.fragment_sequence.wrapping_add(1).max(1);
        let start_ms = self.lead().map_or(0, |t| {
            t.base.saturating_mul(1000) / u64::from(t.timescale.max(1))
        });
        let (duration, independent) = match self.lead() {
            Some(t) => (
                t.part_ticks as f64 / f64::from(t.timescale),
                !t.video || t.samples.first().is_some_and(|s| s.sync),
            ),
            None => (0.0, false),
        };
        for track in [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
        {
            track.samples.clear();
            track.part_ticks = 0;
        }
        if self.open.parts.is_empty() {
            self.open.start_ms = start_ms;
            self.open.init = self.next_init.saturating_sub(1);
            self.open.discontinuity = std::mem::take(&mut self.next_discontinuity);
        }
        self.open.duration += duration;
        self.open.bytes += fragment.len;
        self.open.parts.push(Part {
            fragment,
            duration,
            independent,
        });
        self.stats.parts += 1;
        self.generation += 1;
        Ok(())
    }

    /// Completes the open segment (after publishing its last part) and drops the oldest
    /// beyond [`Config::max_segments`], with the init segments no longer referenced.
    fn cut_segment(&mut self) -> Result<(), HlsError> {
        self.close_part()?;
        if self.open.parts.is_empty() {
            return Ok(());
        }
        let next = Segment::new(self.open.msn + 1);
        let done = std::mem::replace(&mut self.open, next);
        self.segments.push_back(done);
        self.stats.segments += 1;
        while self.segments.len() > self.config.max_segments {
            if let Some(gone) = self.segments.pop_front() {
                if gone.discontinuity {
                    // RFC 8216 §6.2.2: the discontinuity sequence counts removed
                    // discontinuities.
                    self.discontinuity_sequence += 1;
                }
            }
        }
        let oldest = self.segments.front().map_or(u32::MAX, |s| s.init);
        let current = self.next_init.saturating_sub(1);
        self.inits.retain(|(id, _)| *id >= oldest.min(current));
        self.generation += 1;
        Ok(())
    }
}

/// An instant as RFC 3339 / ISO 8601 UTC with milliseconds (`2026-12-02T04:00:00.000Z`), the
/// form EXT-X-PROGRAM-DATE-TIME takes. Days to a civil date by the proleptic Gregorian
/// calendar, in eras of 400 years (146097 days) counted from 0000-03-01.
fn iso8601(unix_ms: i128) -> String {
    let ms = unix_ms.rem_euclid(1000);
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod date_tests {
    #[test]
    fn iso8601() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::iso8601(1_704_067_200_123),
            "2024-01-01T00:00:00.123Z"
        );
        assert_eq!(super::iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            super::iso8601(1_709_251_199_999),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(super::iso8601(-1), "1969-12-31T23:59:59.999Z");
    }
}
