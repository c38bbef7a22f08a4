//! Keyframe and sequence-header detection from the first bytes of a tag body.
//!
//! Legacy video byte 0 is `FrameType << 4 | CodecID`; Enhanced RTMP (veovera E-RTMP v1/v2) sets
//! bit 7 (IsExHeader), keeps FrameType in bits 6..4 and puts a PacketType in bits 3..0, followed by
//! a FourCC. Legacy audio byte 0 is `SoundFormat << 4 | rate | size | type`; E-RTMP v2 audio uses
//! SoundFormat 9 and puts an AudioPacketType in the low nibble.

/// Video codecs a tag can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// Legacy codec id 7 or FourCC `avc1`.
    Avc,
    /// Legacy codec id 12 (common extension) or FourCC `hvc1`.
    Hevc,
    /// FourCC `av01`.
    Av1,
    /// FourCC `vp09`.
    Vp9,
    /// Any other legacy codec id or FourCC.
    Other,
}

/// Audio codecs a tag can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// SoundFormat 10 or FourCC `mp4a`.
    Aac,
    /// Anything else (MP3, Opus, FLAC, AC-3, ...).
    Other,
}

const FRAME_TYPE_KEY: u8 = 1;
const CODEC_ID_AVC: u8 = 7;
const CODEC_ID_HEVC: u8 = 12;
const AVC_PACKET_SEQUENCE_HEADER: u8 = 0;
pub(crate) const EX_HEADER_BIT: u8 = 0x80;
pub(crate) const EX_PACKET_SEQUENCE_START: u8 = 0;
pub(crate) const EX_PACKET_MULTITRACK: u8 = 6;
pub(crate) const SOUND_FORMAT_AAC: u8 = 10;
pub(crate) const SOUND_FORMAT_EX_HEADER: u8 = 9;
pub(crate) const AAC_PACKET_SEQUENCE_HEADER: u8 = 0;

fn video_frame_type(first: u8) -> u8 {
    if first & EX_HEADER_BIT != 0 {
        (first >> 4) & 0x07
    } else {
        first >> 4
    }
}

pub(crate) fn video_is_keyframe(body: &[u8]) -> bool {
    match body.first() {
        // A sequence header carries FrameType 1 too, but no picture: it is not a start point.
        Some(&first) => {
            video_frame_type(first) == FRAME_TYPE_KEY && !video_is_sequence_header(body)
        }
        None => false,
    }
}

pub(crate) fn video_is_sequence_header(body: &[u8]) -> bool {
    let Some(&first) = body.first() else {
        return false;
    };
    if first & EX_HEADER_BIT != 0 {
        let packet_type = first & 0x0f;
        // Multitrack tags wrap their own packet type; E-RTMP v2 puts it in the next byte's low nibble.
        if packet_type == EX_PACKET_MULTITRACK {
            return body
                .get(1)
                .is_some_and(|b| b & 0x0f == EX_PACKET_SEQUENCE_START);
        }
        return packet_type == EX_PACKET_SEQUENCE_START && body.len() >= 5;
    }
    let codec = first & 0x0f;
    (codec == CODEC_ID_AVC || codec == CODEC_ID_HEVC)
        && body.get(1) == Some(&AVC_PACKET_SEQUENCE_HEADER)
}

pub(crate) fn audio_is_sequence_header(body: &[u8]) -> bool {
    let Some(&first) = body.first() else {
        return false;
    };
    match first >> 4 {
        SOUND_FORMAT_AAC => body.get(1) == Some(&AAC_PACKET_SEQUENCE_HEADER),
        SOUND_FORMAT_EX_HEADER => first & 0x0f == EX_PACKET_SEQUENCE_START && body.len() >= 5,
        _ => false,
    }
}

/// The composition time offset (PTS − DTS, ms) of a coded video frame: a signed 24-bit field
/// after the AVCPacketType in legacy AVC/HEVC tags, after the FourCC in E-RTMP CodedFrames
/// of `avc1`/`hvc1`. Zero for everything else (CodedFramesX means 0 by definition).
pub fn video_composition_time(body: &[u8]) -> i32 {
    let Some(&first) = body.first() else {
        return 0;
    };
    let field = if first & EX_HEADER_BIT != 0 {
        let coded_frames = first & 0x0f == 1;
        let has_cts = matches!(body.get(1..5), Some(b"avc1") | Some(b"hvc1"));
        if !(coded_frames && has_cts) {
            return 0;
        }
        body.get(5..8)
    } else {
        let codec = first & 0x0f;
        if !(codec == CODEC_ID_AVC || codec == CODEC_ID_HEVC) || body.get(1) != Some(&1) {
            return 0;
        }
        body.get(2..5)
    };
    match field {
        // Sign-extend the 24-bit value.
        Some(&[a, b, c]) => i32::from_be_bytes([a, b, c, 0]) >> 8,
        _ => 0,
    }
}

/// AMF0 string marker (0x02), u16 length 10, then the bytes `onMetaData`.
pub(crate) fn script_is_on_metadata(body: &[u8]) -> bool {
    body.len() >= 13 && body[0] == 0x02 && body[1..3] == [0, 10] && &body[3..13] == b"onMetaData"
}

impl VideoCodec {
    /// The codec of a video tag body, `None` for an empty body.
    pub fn of(body: &[u8]) -> Option<Self> {
        let first = *body.first()?;
        if first & EX_HEADER_BIT != 0 {
            return body.get(1..5).map(Self::from_fourcc);
        }
        Some(match first & 0x0f {
            CODEC_ID_AVC => VideoCodec::Avc,
            CODEC_ID_HEVC => VideoCodec::Hevc,
            _ => VideoCodec::Other,
        })
    }

    /// The codec an Enhanced RTMP video FourCC names.
    pub(crate) fn from_fourcc(fourcc: &[u8]) -> Self {
        match fourcc {
            b"avc1" => VideoCodec::Avc,
            b"hvc1" => VideoCodec::Hevc,
            b"av01" => VideoCodec::Av1,
            b"vp09" => VideoCodec::Vp9,
            _ => VideoCodec::Other,
        }
    }
}

impl AudioCodec {
    /// The codec of an audio tag body, `None` for an empty body.
    pub fn of(body: &[u8]) -> Option<Self> {
        let first = *body.first()?;
        Some(match first >> 4 {
            SOUND_FORMAT_AAC => AudioCodec::Aac,
            SOUND_FORMAT_EX_HEADER if body.get(1..5) == Some(b"mp4a") => AudioCodec::Aac,
            _ => AudioCodec::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tag, TagType};
    use bytes::Bytes;

    fn video(body: &'static [u8]) -> Tag {
        Tag::new(TagType::Video, 0, Bytes::from_static(body))
    }

    fn audio(body: &'static [u8]) -> Tag {
        Tag::new(TagType::Audio, 0, Bytes::from_static(body))
    }

    #[test]
    fn avc_keyframe_and_sequence_header() {
        let seq = video(&[0x17, 0x00, 0, 0, 0, 1, 0x64]);
        assert!(seq.is_sequence_header());
        assert!(!seq.is_keyframe());
        let idr = video(&[0x17, 0x01, 0, 0, 0x21, 0, 0, 0, 1, 0x65]);
        assert!(idr.is_keyframe());
        assert!(!idr.is_sequence_header());
        let inter = video(&[0x27, 0x01, 0, 0, 0x21]);
        assert!(!inter.is_keyframe());
        assert!(!inter.is_sequence_header());
        assert_eq!(
            super::VideoCodec::of(&idr.body),
            Some(super::VideoCodec::Avc)
        );
    }

    #[test]
    fn legacy_hevc_codec_id_12() {
        assert!(video(&[0x1c, 0x00, 0, 0, 0]).is_sequence_header());
        assert!(video(&[0x1c, 0x01, 0, 0, 0]).is_keyframe());
        assert!(!video(&[0x2c, 0x01, 0, 0, 0]).is_keyframe());
    }

    #[test]
    fn enhanced_rtmp_hevc_and_av1() {
        // IsExHeader | FrameType 1 | PacketType 0 (SequenceStart), FourCC hvc1.
        let seq = video(b"\x90hvc1\x01\x02");
        assert!(seq.is_sequence_header());
        assert!(!seq.is_keyframe());
        // FrameType 1, PacketType 1 (CodedFrames).
        let key = video(b"\x91hvc1\x00\x00\x00\x00");
        assert!(key.is_keyframe());
        // FrameType 2, PacketType 3 (CodedFramesX).
        let inter = video(b"\xa3hvc1\x00");
        assert!(!inter.is_keyframe());
        assert_eq!(
            super::VideoCodec::of(&key.body),
            Some(super::VideoCodec::Hevc)
        );
        assert_eq!(
            super::VideoCodec::of(b"\x91av01"),
            Some(super::VideoCodec::Av1)
        );
        // A truncated ExHeader is never a sequence header.
        assert!(!video(b"\x90hv").is_sequence_header());
    }

    #[test]
    fn aac_and_enhanced_audio() {
        assert!(audio(&[0xaf, 0x00, 0x11, 0x90]).is_sequence_header());
        assert!(!audio(&[0xaf, 0x01, 0x21]).is_sequence_header());
        assert!(!audio(&[0xaf, 0x01]).is_keyframe());
        // SoundFormat 9 (ExHeader), AudioPacketType 0 (SequenceStart), FourCC Opus.
        assert!(audio(b"\x90Opus\x01").is_sequence_header());
        assert!(!audio(b"\x91Opus\x01").is_sequence_header());
        assert_eq!(
            super::AudioCodec::of(b"\xaf\x01"),
            Some(super::AudioCodec::Aac)
        );
        assert_eq!(
            super::AudioCodec::of(b"\x2f"),
            Some(super::AudioCodec::Other)
        );
    }

    #[test]
    fn composition_times() {
        use super::video_composition_time as cts;
        assert_eq!(cts(&[0x27, 0x01, 0x00, 0x00, 0x42, 0, 0]), 0x42);
        assert_eq!(cts(&[0x27, 0x01, 0xff, 0xff, 0xfe]), -2);
        assert_eq!(cts(&[0x17, 0x00, 0x00, 0x00, 0x42]), 0, "sequence header");
        assert_eq!(cts(b"\xa1hvc1\x00\x01\x00"), 256);
        assert_eq!(cts(b"\xa3hvc1"), 0, "CodedFramesX");
        assert_eq!(
            cts(b"\xa1av01\x00\x01\x00"),
            0,
            "AV1 has no composition time"
        );
        assert_eq!(cts(&[0x27, 0x01]), 0, "truncated");
    }

    #[test]
    fn empty_bodies_are_nothing() {
        assert!(!video(&[]).is_keyframe());
        assert!(!video(&[]).is_sequence_header());
        assert!(!audio(&[]).is_sequence_header());
        assert_eq!(super::VideoCodec::of(&[]), None);
    }

    #[test]
    fn metadata_detection() {
        let mut body = vec![0x02, 0x00, 0x0a];
        body.extend_from_slice(b"onMetaData");
        body.push(0x08);
        let tag = Tag::new(TagType::Script, 0, Bytes::from(body));
        assert!(tag.is_metadata());
        let other = Tag::new(TagType::Script, 0, Bytes::from_static(b"\x02\x00\x04onCu"));
        assert!(!other.is_metadata());
    }
}
