//! Shared inputs for liverelay's data-path and loss-recovery benchmarks (`benches/data_path.rs`).
//!
//! Everything here is deterministic: the same seed gives the same tags, the same packets and the
//! same reordering, so two runs measure the same work.
//!
//! The default stream is a 3 Mb/s H.264 + AAC publish:
//!
//! - video at 30 fps, one keyframe every 60 frames (a 2 s GOP); keyframes ~60 KB, inter frames
//!   ~11 KB (uniform ±30 %), which is ~2.85 Mb/s of video;
//! - AAC-LC at 48 kHz, one ~400 B tag per 1024 samples (46.875 tags/s), ~150 kb/s;
//! - `onMetaData`, an AVC sequence header and an AAC sequence header before the first frame.

pub mod play_check;

use bytes::Bytes;
use edge::tag::FlvTag;
use flv::{Tag, TagType};
use relay_proto::{MediaKey, Packet, Publication, DEFAULT_MAX_DATAGRAM, MEDIA_KEY_LEN};
use std::time::{Duration, Instant};

/// SSRC of the benchmark publish.
pub const SSRC: u32 = 0x5eed_cafe;
/// First sequence number: high bits set, so the 48-bit split is exercised.
pub const FIRST_SEQ: u64 = 0x0000_1234_fff0;

/// Shape of a synthetic audio + video stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamProfile {
    pub fps: u32,
    /// Frames per GOP (keyframe interval).
    pub gop_frames: u32,
    pub keyframe_bytes: usize,
    /// Mean inter frame size; each is drawn uniformly within ±30 %.
    pub inter_bytes: usize,
    pub audio_bytes: usize,
    /// Audio sample rate; one tag per 1024 samples (AAC frame).
    pub audio_rate: u32,
}

impl StreamProfile {
    /// ~3 Mb/s H.264 at 30 fps with a 2 s GOP, plus ~150 kb/s AAC.
    pub const H264_3MBPS: StreamProfile = StreamProfile {
        fps: 30,
        gop_frames: 60,
        keyframe_bytes: 60_000,
        inter_bytes: 11_000,
        audio_bytes: 400,
        audio_rate: 48_000,
    };

    /// Length of one GOP in ms.
    pub fn gop_ms(&self) -> u32 {
        self.gop_frames * 1000 / self.fps
    }
}

/// SplitMix64: a tiny seeded generator, so the bench needs no extra dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// `len` bytes starting with `prefix`, the rest pseudo-random (so nothing compresses or dedups).
fn body(prefix: &[u8], len: usize, rng: &mut SplitMix64) -> Bytes {
    let mut out = Vec::with_capacity(len.max(prefix.len()));
    out.extend_from_slice(prefix);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len.max(prefix.len()));
    Bytes::from(out)
}

/// `onMetaData`, the AVC sequence header and the AAC sequence header, at timestamp 0: the same
/// ones the recovery simulation publishes.
pub fn config_tags() -> Vec<Tag> {
    repair_sim::config_tags().to_vec()
}

/// `gops` GOPs of audio and video interleaved by timestamp, starting with a keyframe at 0.
pub fn media_tags(profile: &StreamProfile, gops: u32, seed: u64) -> Vec<Tag> {
    let mut rng = SplitMix64::new(seed);
    let frames = profile.gop_frames * gops;
    let end_ms = frames as u64 * 1000 / profile.fps as u64;
    let mut tags: Vec<Tag> = Vec::new();
    for frame in 0..frames {
        let ts = (frame as u64 * 1000 / profile.fps as u64) as u32;
        let key = frame % profile.gop_frames == 0;
        let len = if key {
            profile.keyframe_bytes
        } else {
            let spread = (profile.inter_bytes * 3 / 10) as u64;
            profile.inter_bytes - spread as usize + rng.below(2 * spread + 1) as usize
        };
        // FrameType 1 (key) or 2 (inter), CodecID 7, AVCPacketType 1 (NALU), CTS 0.
        let prefix = [if key { 0x17 } else { 0x27 }, 0x01, 0, 0, 0];
        tags.push(Tag::new(TagType::Video, ts, body(&prefix, len, &mut rng)));
    }
    let mut sample = 0u64;
    loop {
        let ts = sample * 1000 / profile.audio_rate as u64;
        if ts >= end_ms {
            break;
        }
        let tag = Tag::new(
            TagType::Audio,
            ts as u32,
            body(&[0xaf, 0x01], profile.audio_bytes, &mut rng),
        );
        tags.push(tag);
        sample += 1024;
    }
    // Stable: at equal timestamps video stays before audio.
    tags.sort_by_key(|t| t.timestamp);
    debug_assert!(tags[0].is_keyframe());
    tags
}

/// Bits per second of a tag list's bodies over `duration_ms`.
pub fn bitrate(tags: &[Tag], duration_ms: u32) -> f64 {
    let bytes: usize = tags.iter().map(|t| t.body.len()).sum();
    bytes as f64 * 8.0 * 1000.0 / duration_ms as f64
}

/// The media key the benches sign and check with.
pub fn media_key() -> MediaKey {
    MediaKey::from_bytes([0xbe; MEDIA_KEY_LEN])
}

/// A publication of [`SSRC`] at the default datagram size.
pub fn publication() -> Publication {
    Publication::new(
        "live/bench".into(),
        1_700_000_000_000,
        SSRC,
        FIRST_SEQ,
        DEFAULT_MAX_DATAGRAM,
        media_key(),
    )
    .expect("default datagram size is valid")
}

/// The instant a tag is pushed at when the publish started at `t0`: its own timestamp.
pub fn at(t0: Instant, tag: &Tag) -> Instant {
    t0 + Duration::from_millis(tag.timestamp as u64)
}

/// Everything a publish of `tags` sends: announcements and tag packets, in sequence order.
pub fn publish(tags: &[Tag]) -> Vec<Packet> {
    let t0 = Instant::now();
    let mut publication = publication();
    let mut out = Vec::new();
    for tag in tags {
        publication
            .push_tag(at(t0, tag), tag.clone(), &mut out)
            .expect("tags fit");
    }
    out
}

/// Everything a publish of `tags` sends, with the time each datagram leaves (since the publish
/// started): announcements, tag packets and the sync packets the cloud sends after
/// [`relay_proto::SYNC_AFTER`] of silence, ending with the sync after the last tag. Tags leave at
/// their own timestamp, as in [`publish`]; a sync leaves when the publication asks for it.
pub fn publish_timed(tags: &[Tag]) -> Vec<(Duration, Packet)> {
    let t0 = Instant::now();
    let mut publication = publication();
    let mut timed = Vec::new();
    let mut out = Vec::new();
    let take = |at: Instant, out: &mut Vec<Packet>, timed: &mut Vec<(Duration, Packet)>| {
        timed.extend(out.drain(..).map(|p| (at - t0, p)));
    };
    for tag in tags {
        let tag_at = at(t0, tag);
        if let Some(due) = publication.poll_timeout().filter(|due| *due <= tag_at) {
            publication.handle_timeout(due, &mut out);
            take(due, &mut out, &mut timed);
        }
        publication
            .push_tag(tag_at, tag.clone(), &mut out)
            .expect("tags fit");
        take(tag_at, &mut out, &mut timed);
    }
    if let Some(due) = publication.poll_timeout() {
        publication.handle_timeout(due, &mut out);
        take(due, &mut out, &mut timed);
    }
    timed
}

/// Which of `count` datagrams a seeded random loss of `rate` (0.0..1.0) drops. The first and the
/// last datagram are always kept: a receiver starts at the first packet it sees, and the last one
/// (the closing sync) reveals any loss just before it, so every lost packet can be noticed.
pub fn loss_pattern(count: usize, rate: f64, seed: u64) -> Vec<bool> {
    let mut rng = SplitMix64::new(seed);
    let threshold = (rate.clamp(0.0, 1.0) * (1u64 << 53) as f64) as u64;
    (0..count)
        .map(|i| i != 0 && i + 1 != count && (rng.next_u64() >> 11) < threshold)
        .collect()
}

/// Swaps items only within consecutive blocks of `window` items (a Fisher-Yates shuffle of each
/// block), so no item moves more than `window - 1` places. The very first item stays first: a
/// reassembler starts its sequence space at the first packet it sees.
pub fn shuffle_within<T>(items: &mut [T], window: usize, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let Some(rest) = items.get_mut(1..) else {
        return;
    };
    for block in rest.chunks_mut(window.max(1)) {
        for i in (1..block.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            block.swap(i, j);
        }
    }
}

/// Tags as the edge keeps them: framed once, ready to share.
pub fn framed(tags: &[Tag]) -> Vec<FlvTag> {
    tags.iter()
        .map(|t| FlvTag::from_tag(t, 0).expect("tags fit the FLV length field"))
        .collect()
}

/// True when `inner` lies entirely inside `outer`'s memory.
pub fn points_into(inner: &[u8], outer: &[u8]) -> bool {
    let outer = outer.as_ptr_range();
    let inner = inner.as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::{
        Message, Packetizer, ReassembledBody, Reassembler, ReassemblerConfig, ReassemblerEvent,
    };

    #[test]
    fn profile_is_about_3_mbps() {
        let p = StreamProfile::H264_3MBPS;
        let tags = media_tags(&p, 5, 1);
        let rate = bitrate(&tags, 5 * p.gop_ms());
        assert!((2.8e6..3.2e6).contains(&rate), "{rate} b/s");
        let audio = tags.iter().filter(|t| t.tag_type == TagType::Audio).count();
        assert_eq!(audio, 469); // ceil(10 s * 48000 / 1024)
        assert_eq!(tags.iter().filter(|t| t.is_keyframe()).count(), 5);
        assert!(tags.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }

    /// The packetizer's payloads are slices of the tag body, not copies.
    #[test]
    fn packetizer_payloads_point_into_the_tag_body() {
        let tag = media_tags(&StreamProfile::H264_3MBPS, 1, 2).swap_remove(0);
        assert!(tag.is_keyframe());
        let mut packetizer =
            Packetizer::new(SSRC, FIRST_SEQ, DEFAULT_MAX_DATAGRAM, media_key()).unwrap();
        let mut out = Vec::new();
        packetizer
            .packetize(&Message::Tag(tag.clone()), &mut out)
            .unwrap();
        assert_eq!(
            out.len(),
            60_000usize.div_ceil(DEFAULT_MAX_DATAGRAM - relay_proto::DATAGRAM_OVERHEAD)
        );
        let mut covered = 0;
        for packet in &out {
            assert!(points_into(&packet.payload, &tag.body));
            assert_eq!(
                packet.payload.as_ptr(),
                tag.body[covered..].as_ptr(),
                "fragments are consecutive slices"
            );
            covered += packet.payload.len();
        }
        assert_eq!(covered, tag.body.len());
    }

    /// On the receive side, reassembled fragments are slices of the received datagrams.
    #[test]
    fn reassembled_fragments_point_into_the_datagrams() {
        let tags = media_tags(&StreamProfile::H264_3MBPS, 1, 3);
        let datagrams: Vec<Bytes> = publish(&tags[..1])
            .iter()
            .map(Packet::to_datagram)
            .collect();
        let mut reassembler = Reassembler::new(SSRC, ReassemblerConfig::default());
        let now = Instant::now();
        for d in &datagrams {
            reassembler.push(now, Packet::open(d.clone(), &media_key()).unwrap());
        }
        let mut found = false;
        while let Some(event) = reassembler.poll_event() {
            if let ReassemblerEvent::Message(m) = event {
                if let ReassembledBody::Tag { fragments, .. } = m.body {
                    // Datagram 0 is the announcement; the keyframe follows.
                    for (part, d) in fragments.parts().iter().zip(&datagrams[1..]) {
                        assert!(points_into(part, d));
                    }
                    assert_eq!(fragments.to_bytes(), tags[0].body);
                    found = true;
                }
            }
        }
        assert!(found);
    }

    #[test]
    fn timed_publish_has_syncs_naming_the_newest_packet() {
        use relay_proto::MessageKind;
        let mut tags = config_tags();
        tags.extend(media_tags(&StreamProfile::H264_3MBPS, 1, 4));
        let timed = publish_timed(&tags);
        let numbered: Vec<&Packet> = timed
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.header.kind != MessageKind::Sync)
            .collect();
        // Same packets as `publish`, in the same order.
        assert_eq!(numbered.len(), publish(&tags).len());
        assert!(numbered
            .windows(2)
            .all(|w| w[1].header.seq == w[0].header.seq + 1));
        assert!(timed.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut newest = None;
        let mut syncs = 0;
        for (_, p) in &timed {
            if p.header.kind == MessageKind::Sync {
                assert_eq!(Some(p.header.seq), newest);
                syncs += 1;
            } else {
                newest = Some(p.header.seq);
            }
        }
        assert_eq!(timed.last().unwrap().1.header.kind, MessageKind::Sync);
        // One per silence of 5 ms or more between tags: most of the 154 tag instants.
        assert!((50..154).contains(&syncs), "{syncs} syncs");
    }

    #[test]
    fn loss_pattern_keeps_the_ends_and_drops_about_the_rate() {
        let lost = loss_pattern(100_000, 0.1, 9);
        assert!(!lost[0] && !lost[99_999]);
        let n = lost.iter().filter(|l| **l).count();
        assert!((9_500..10_500).contains(&n), "{n}");
        assert!(loss_pattern(1000, 0.0, 9).iter().all(|l| !l));
        assert_eq!(loss_pattern(1000, 0.2, 9), loss_pattern(1000, 0.2, 9));
    }

    #[test]
    fn shuffle_stays_within_the_window() {
        let mut items: Vec<usize> = (0..1000).collect();
        shuffle_within(&mut items, 8, 7);
        assert_eq!(items[0], 0);
        assert!(items.iter().enumerate().all(|(i, &v)| i.abs_diff(v) < 8));
        assert_ne!(items, (0..1000).collect::<Vec<_>>());
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }
}
