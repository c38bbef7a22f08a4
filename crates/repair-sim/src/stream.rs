//! A synthetic H.264 + AAC publish, generated tag by tag as virtual time passes.
//!
//! - First `onMetaData`, an AVC sequence header (`0x17 0x00 ...`) and an AAC sequence header
//!   (`0xaf 0x00 ...`), all at timestamp 0.
//! - Video at `fps`: a keyframe (`0x17 0x01 ...`) every `gop_frames` frames, about 8 times the
//!   size of an inter frame (`0x27 0x01 ...`); sizes vary ±20 % (inter) and ±10 % (key).
//! - AAC at 48 kHz, one tag per 1024 samples (46.875 per second), 300..=400 bytes (`0xaf 0x01`).
//! - Sizes are chosen so the tag bodies add up to `bitrate_bps`.
//!
//! Every media body carries a running counter right after its 5-byte (video) or 2-byte (audio)
//! header, so no two tags are alike, then pseudo-random filler copied from a seeded pool (a
//! `memcpy`, cheap even in debug builds).

use bytes::Bytes;
use flv::{Tag, TagType};
use netem::SplitMix64;

const AUDIO_RATE: u64 = 48_000;
const AUDIO_SAMPLES_PER_TAG: u64 = 1024;
const AUDIO_MIN: usize = 300;
const AUDIO_MAX: usize = 400;
/// A keyframe is this many inter frames.
const KEYFRAME_RATIO: usize = 8;
const POOL_LEN: usize = 1 << 18;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// What kind of tag a generated tag is (known from how it was made, not from its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagKind {
    Config,
    Keyframe,
    Inter,
    Audio,
}

pub(crate) struct Generated {
    pub tag: Tag,
    pub kind: TagKind,
    /// Nanoseconds after the start of the publish when the tag is due.
    pub due_ns: u64,
}

pub(crate) struct StreamGen {
    fps: u64,
    gop_frames: u64,
    inter_mean: usize,
    rng: SplitMix64,
    pool: Vec<u8>,
    started: bool,
    video_next: u64,
    /// Frames since the last keyframe.
    gop_position: u64,
    audio_next: u64,
    counter: u64,
}

impl StreamGen {
    pub fn new(bitrate_bps: u64, fps: u32, gop_frames: u32, seed: u64) -> Self {
        let fps = u64::from(fps.max(1));
        let gop_frames = u64::from(gop_frames.max(1));
        let mut rng = SplitMix64::new(seed);
        let mut pool = Vec::with_capacity(POOL_LEN);
        while pool.len() < POOL_LEN {
            pool.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        let audio_bytes_per_sec =
            (AUDIO_MIN + AUDIO_MAX) as f64 / 2.0 * AUDIO_RATE as f64 / AUDIO_SAMPLES_PER_TAG as f64;
        let video_bytes_per_sec = (bitrate_bps as f64 / 8.0 - audio_bytes_per_sec).max(0.0);
        // One GOP lasts gop_frames / fps seconds and weighs (gop_frames - 1 + 8) inter frames.
        let gop_bytes = video_bytes_per_sec * gop_frames as f64 / fps as f64;
        let inter_mean = (gop_bytes / (gop_frames as f64 - 1.0 + KEYFRAME_RATIO as f64)) as usize;
        StreamGen {
            fps,
            gop_frames,
            inter_mean: inter_mean.max(64),
            rng,
            pool,
            started: false,
            video_next: 0,
            gop_position: 0,
            audio_next: 0,
            counter: 0,
        }
    }

    fn video_due(&self) -> u64 {
        self.video_next * NANOS_PER_SEC / self.fps
    }

    fn audio_due(&self) -> u64 {
        self.audio_next * AUDIO_SAMPLES_PER_TAG * NANOS_PER_SEC / AUDIO_RATE
    }

    /// When the next tag is due, in nanoseconds after the start.
    pub fn next_due(&self) -> u64 {
        if !self.started {
            return 0;
        }
        self.video_due().min(self.audio_due())
    }

    /// The tags due at or before `now_ns`, in stream order (video first at equal times).
    pub fn pop_due(&mut self, now_ns: u64, out: &mut Vec<Generated>) {
        if !self.started {
            self.started = true;
            for tag in config_tags() {
                out.push(Generated {
                    tag,
                    kind: TagKind::Config,
                    due_ns: 0,
                });
            }
        }
        loop {
            let (video, audio) = (self.video_due(), self.audio_due());
            let due = video.min(audio);
            if due > now_ns {
                return;
            }
            let timestamp = (due / 1_000_000) as u32;
            let generated = if video <= audio {
                let key = self.gop_position == 0;
                self.gop_position = (self.gop_position + 1) % self.gop_frames;
                self.video_next += 1;
                let (len, prefix, kind) = if key {
                    let mean = self.inter_mean * KEYFRAME_RATIO;
                    let len = self.vary(mean, 10);
                    (len, [0x17, 0x01, 0, 0, 0], TagKind::Keyframe)
                } else {
                    let len = self.vary(self.inter_mean, 20);
                    (len, [0x27, 0x01, 0, 0, 0], TagKind::Inter)
                };
                Generated {
                    tag: Tag::new(TagType::Video, timestamp, self.body(&prefix, len)),
                    kind,
                    due_ns: due,
                }
            } else {
                self.audio_next += 1;
                let spread = (AUDIO_MAX - AUDIO_MIN + 1) as u64;
                let len = AUDIO_MIN + (self.rng.next_u64() % spread) as usize;
                Generated {
                    tag: Tag::new(TagType::Audio, timestamp, self.body(&[0xaf, 0x01], len)),
                    kind: TagKind::Audio,
                    due_ns: due,
                }
            };
            out.push(generated);
        }
    }

    /// `mean` ± `percent` %, uniformly.
    fn vary(&mut self, mean: usize, percent: usize) -> usize {
        let spread = (mean * percent / 100) as u64;
        mean - spread as usize + (self.rng.next_u64() % (2 * spread + 1)) as usize
    }

    /// `prefix`, the tag counter (8 bytes), then filler from the pool, `len` bytes in all.
    fn body(&mut self, prefix: &[u8], len: usize) -> Bytes {
        self.counter += 1;
        let mut body = Vec::with_capacity(len.max(prefix.len() + 8));
        body.extend_from_slice(prefix);
        body.extend_from_slice(&self.counter.to_be_bytes());
        let mut offset = (self.rng.next_u64() % POOL_LEN as u64) as usize;
        while body.len() < len {
            let take = (len - body.len()).min(POOL_LEN - offset);
            body.extend_from_slice(&self.pool[offset..offset + take]);
            offset = 0;
        }
        Bytes::from(body)
    }
}

/// `onMetaData`, the AVC sequence header and the AAC sequence header, at timestamp 0.
pub fn config_tags() -> [Tag; 3] {
    let mut metadata = vec![0x02, 0x00, 0x0a];
    metadata.extend_from_slice(b"onMetaData");
    metadata.extend_from_slice(&[0x08, 0, 0, 0, 3]);
    for (key, value) in [("width", 1280.0f64), ("height", 720.0), ("framerate", 30.0)] {
        metadata.extend_from_slice(&(key.len() as u16).to_be_bytes());
        metadata.extend_from_slice(key.as_bytes());
        metadata.push(0x00);
        metadata.extend_from_slice(&value.to_be_bytes());
    }
    metadata.extend_from_slice(&[0, 0, 9]);
    // FrameType 1, CodecID 7, AVCPacketType 0, CTS 0, then an AVCDecoderConfigurationRecord.
    let mut avc = vec![
        0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x19,
    ];
    avc.extend_from_slice(&[0x67; 25]);
    avc.extend_from_slice(&[0x01, 0x00, 0x04, 0x68, 0xeb, 0xe3, 0xcb]);
    let tags = [
        Tag::new(TagType::Script, 0, Bytes::from(metadata)),
        Tag::new(TagType::Video, 0, Bytes::from(avc)),
        Tag::new(
            TagType::Audio,
            0,
            Bytes::from_static(&[0xaf, 0x00, 0x11, 0x90]),
        ),
    ];
    debug_assert!(tags[0].is_metadata());
    debug_assert!(tags[1].is_sequence_header() && tags[2].is_sequence_header());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_has_the_asked_shape_and_rate() {
        let mut stream = StreamGen::new(3_000_000, 30, 60, 1);
        let mut out = Vec::new();
        stream.pop_due(10 * NANOS_PER_SEC - 1, &mut out);
        let bytes: usize = out.iter().map(|g| g.tag.body.len()).sum();
        let bps = bytes as f64 * 8.0 / 10.0;
        assert!((2_850_000.0..3_150_000.0).contains(&bps), "{bps}");
        let count = |kind| out.iter().filter(|g| g.kind == kind).count();
        assert_eq!(count(TagKind::Config), 3);
        assert_eq!(count(TagKind::Keyframe), 5);
        assert_eq!(count(TagKind::Inter), 295);
        assert_eq!(count(TagKind::Audio), 469);
        for g in &out {
            match g.kind {
                TagKind::Config => assert!(g.tag.is_sequence_header() || g.tag.is_metadata()),
                TagKind::Keyframe => assert!(g.tag.is_keyframe()),
                TagKind::Inter => {
                    assert!(!g.tag.is_keyframe() && !g.tag.is_sequence_header());
                    assert_eq!(g.tag.body[..2], [0x27, 0x01]);
                }
                TagKind::Audio => {
                    assert_eq!(g.tag.body[..2], [0xaf, 0x01]);
                    assert!((AUDIO_MIN..=AUDIO_MAX).contains(&g.tag.body.len()));
                }
            }
        }
        assert!(out.windows(2).all(|w| w[0].due_ns <= w[1].due_ns));
        let bodies: std::collections::HashSet<_> = out.iter().map(|g| g.tag.body.clone()).collect();
        assert_eq!(bodies.len(), out.len(), "every tag is distinct");
    }
}
