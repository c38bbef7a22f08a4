//! From FLV tag bodies to track configurations and sample payloads.
//!
//! Legacy FLV video (Adobe FLV spec v10.1, annex E.4.3) puts a 5-byte header before the
//! payload: `FrameType << 4 | CodecID`, `AVCPacketType`, a signed 24-bit composition time. The
//! payload is either the decoder configuration record or length-prefixed NAL units, which is
//! exactly the ISOBMFF sample format of ISO/IEC 14496-15 (§5.3.2 for AVC, §8.3.2 for HEVC), so
//! a sample is the body with the header sliced off: no copy, no NAL rewriting. Enhanced RTMP
//! (E-RTMP v1/v2) uses a flags byte and a FourCC instead; `CodedFrames` of `avc1`/`hvc1` keep the
//! 24-bit composition time, `CodedFramesX` drop it (zero), and `av01` frames are low-overhead
//! OBUs, the AV1-ISOBMFF sample format (§2.4).
//!
//! AAC tags (annex E.4.2) have two bytes of header before the AudioSpecificConfig or a raw
//! AAC frame, again the ISOBMFF sample format (ISO/IEC 14496-14 §3.1, no ADTS). E-RTMP audio
//! (SoundFormat 9) carries `mp4a` the same way and `Opus` as the identification header
//! (RFC 7845 §5.1) followed by raw Opus packets.

use crate::HlsError;
use bytes::Bytes;
use flv::{audio_info, video_composition_time, video_info, Tag, VideoCodec};

const LEGACY_VIDEO_HEADER: usize = 5;
const EX_HEADER: usize = 5;
const EX_HEADER_BIT: u8 = 0x80;
// E-RTMP VideoPacketType values.
const EX_SEQUENCE_START: u8 = 0;
const EX_CODED_FRAMES: u8 = 1;
const EX_SEQUENCE_END: u8 = 2;
const EX_CODED_FRAMES_X: u8 = 3;
// AudioPacketType values.
const EX_AUDIO_CODED_FRAMES: u8 = 1;
const SOUND_FORMAT_AAC: u8 = 10;
const SOUND_FORMAT_EX: u8 = 9;
/// AV1 `OBU_TEMPORAL_DELIMITER` with `obu_has_size_field` and size 0: AV1-ISOBMFF §2.4 says
/// samples should not carry temporal delimiters, and a leading one can be sliced off.
const AV1_TEMPORAL_DELIMITER: [u8; 2] = [0x12, 0x00];

/// The video codecs fMP4 HLS carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoKind {
    /// H.264: sample entry `avc1` with `avcC` (ISO/IEC 14496-15 §5.4).
    Avc,
    /// H.265: sample entry `hvc1` with `hvcC` (ISO/IEC 14496-15 §8.4). `hvc1` rather than
    /// `hev1` because Apple's HLS authoring specification requires it and FLV sequence headers
    /// carry every parameter set in the record, which is what `hvc1` promises.
    Hevc,
    /// AV1: sample entry `av01` with `av1C` (AV1-ISOBMFF §2.3).
    Av1,
}

/// A video track's set-up, from its sequence header.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// The codec.
    pub kind: VideoKind,
    /// The decoder configuration record as the sequence header carries it; it is the payload
    /// of `avcC`, `hvcC` or `av1C` unchanged.
    pub record: Bytes,
    /// Displayed width in pixels (0 when the record does not say).
    pub width: u16,
    /// Displayed height in pixels (0 when the record does not say).
    pub height: u16,
    /// Frames per second when the bitstream says.
    pub frame_rate: Option<f64>,
}

/// The audio codecs fMP4 HLS carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioKind {
    /// AAC: sample entry `mp4a` with `esds` (ISO/IEC 14496-14 §3.1.2, 14496-1 §7.2.6.5).
    Aac,
    /// Opus: sample entry `Opus` with `dOps` (Opus in ISOBMFF §4.3).
    Opus,
}

/// An audio track's set-up, from its sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// The codec.
    pub kind: AudioKind,
    /// AAC: the AudioSpecificConfig; Opus: the identification header (`OpusHead`).
    pub config: Bytes,
    /// Sample rate in Hz: the track timescale (48000 for Opus, which always decodes at 48 kHz).
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u8,
}

/// What one tag turned out to be.
#[derive(Debug)]
pub(crate) enum Packet {
    Video(VideoConfig),
    Audio(AudioConfig),
    VideoFrame {
        data: Bytes,
        composition_ms: i32,
        keyframe: bool,
    },
    AudioFrame {
        data: Bytes,
    },
    /// Nothing to package (end of sequence, metadata, empty frame).
    Nothing,
}

/// Classifies a tag and slices its payload out of the body.
pub(crate) fn parse(tag: &Tag) -> Result<Packet, HlsError> {
    match tag.tag_type {
        flv::TagType::Video => parse_video(tag),
        flv::TagType::Audio => parse_audio(&tag.body),
        flv::TagType::Script => Ok(Packet::Nothing),
    }
}

fn video_codec_name(body: &[u8]) -> String {
    match body.first() {
        Some(&first) if first & EX_HEADER_BIT != 0 => match body.get(1..5) {
            Some(b"vp09") => "vp9".into(),
            Some(fourcc) => format!("FourCC {}", String::from_utf8_lossy(fourcc)),
            None => "truncated E-RTMP video".into(),
        },
        Some(&first) => match first & 0x0f {
            2 => "Sorenson H.263 (codec id 2)".into(),
            3 => "screen video (codec id 3)".into(),
            4 | 5 => "VP6 (codec id 4/5)".into(),
            6 => "screen video 2 (codec id 6)".into(),
            id => format!("video codec id {id}"),
        },
        None => "empty".into(),
    }
}

fn parse_video(tag: &Tag) -> Result<Packet, HlsError> {
    let body = &tag.body;
    let Some(&first) = body.first() else {
        return Ok(Packet::Nothing);
    };
    let kind = match VideoCodec::of(body) {
        Some(VideoCodec::Avc) => VideoKind::Avc,
        Some(VideoCodec::Hevc) => VideoKind::Hevc,
        Some(VideoCodec::Av1) => VideoKind::Av1,
        Some(VideoCodec::Vp9) | Some(VideoCodec::Other) => {
            return Err(HlsError::Unsupported {
                codec: video_codec_name(body),
            })
        }
        None => return Err(HlsError::Truncated("video tag header")),
    };
    if tag.is_sequence_header() {
        return video_config(kind, body).map(Packet::Video);
    }
    // Video info / command frames (FrameType 5) carry no picture.
    let frame_type = if first & EX_HEADER_BIT != 0 {
        (first >> 4) & 0x07
    } else {
        first >> 4
    };
    if frame_type == 5 {
        return Ok(Packet::Nothing);
    }
    let start = if first & EX_HEADER_BIT != 0 {
        match first & 0x0f {
            EX_CODED_FRAMES if kind != VideoKind::Av1 => EX_HEADER + 3,
            EX_CODED_FRAMES | EX_CODED_FRAMES_X => EX_HEADER,
            // SequenceEnd, Metadata, MPEG2TSSequenceStart, Multitrack, ModEx: nothing
            // packaged here (multitrack would need a track choice the edge does not make yet).
            _ => return Ok(Packet::Nothing),
        }
    } else {
        match body.get(1) {
            Some(1) => LEGACY_VIDEO_HEADER,
            Some(_) => return Ok(Packet::Nothing), // end of sequence
            None => return Err(HlsError::Truncated("video tag header")),
        }
    };
    if body.len() < start {
        return Err(HlsError::Truncated("video tag header"));
    }
    let mut data = body.slice(start..);
    if kind == VideoKind::Av1 && data.starts_with(&AV1_TEMPORAL_DELIMITER) {
        data = data.slice(AV1_TEMPORAL_DELIMITER.len()..);
    }
    if data.is_empty() {
        return Ok(Packet::Nothing);
    }
    Ok(Packet::VideoFrame {
        data,
        composition_ms: video_composition_time(body),
        keyframe: tag.is_keyframe(),
    })
}

fn video_config(kind: VideoKind, body: &Bytes) -> Result<VideoConfig, HlsError> {
    // Multitrack sequence starts are recognised by flv but not packaged (see parse_video).
    if body[0] & EX_HEADER_BIT != 0 && body[0] & 0x0f != EX_SEQUENCE_START {
        return Err(HlsError::Unsupported {
            codec: "E-RTMP multitrack video".into(),
        });
    }
    let info = video_info(body).map_err(|e| HlsError::BadSequenceHeader(e.to_string()))?;
    let record = body.slice(
        if body[0] & EX_HEADER_BIT != 0 {
            EX_HEADER
        } else {
            LEGACY_VIDEO_HEADER
        }..,
    );
    let dimension = |v: Option<u32>| v.and_then(|v| u16::try_from(v).ok()).unwrap_or(0);
    Ok(VideoConfig {
        kind,
        record,
        width: dimension(info.width),
        height: dimension(info.height),
        frame_rate: info.frame_rate,
    })
}

fn parse_audio(body: &Bytes) -> Result<Packet, HlsError> {
    let Some(&first) = body.first() else {
        return Ok(Packet::Nothing);
    };
    match first >> 4 {
        SOUND_FORMAT_AAC => match body.get(1) {
            Some(0) => aac_config(body, body.slice(2..)).map(Packet::Audio),
            Some(_) if body.len() > 2 => Ok(Packet::AudioFrame {
                data: body.slice(2..),
            }),
            Some(_) => Ok(Packet::Nothing),
            None => Err(HlsError::Truncated("AAC tag header")),
        },
        SOUND_FORMAT_EX => {
            let fourcc = body
                .get(1..5)
                .ok_or(HlsError::Truncated("E-RTMP audio header"))?;
            let packet_type = first & 0x0f;
            let kind = match fourcc {
                b"mp4a" => AudioKind::Aac,
                b"Opus" => AudioKind::Opus,
                other => {
                    return Err(HlsError::Unsupported {
                        codec: format!("FourCC {}", String::from_utf8_lossy(other)),
                    })
                }
            };
            let payload = body.slice(EX_HEADER..);
            match (packet_type, kind) {
                (EX_SEQUENCE_START, AudioKind::Aac) => aac_config(body, payload).map(Packet::Audio),
                (EX_SEQUENCE_START, AudioKind::Opus) => {
                    opus_config(body, payload).map(Packet::Audio)
                }
                (EX_AUDIO_CODED_FRAMES, _) if !payload.is_empty() => {
                    Ok(Packet::AudioFrame { data: payload })
                }
                (EX_SEQUENCE_END, _) | (EX_AUDIO_CODED_FRAMES, _) => Ok(Packet::Nothing),
                _ => Err(HlsError::Unsupported {
                    codec: "E-RTMP multitrack or multichannel-config audio".into(),
                }),
            }
        }
        format => Err(HlsError::Unsupported {
            codec: match format {
                2 | 14 => "mp3".into(),
                0 | 3 => "pcm".into(),
                1 => "adpcm".into(),
                4..=6 => "nellymoser".into(),
                7 => "g711 a-law".into(),
                8 => "g711 mu-law".into(),
                11 => "speex".into(),
                other => format!("sound format {other}"),
            },
        }),
    }
}

fn aac_config(body: &[u8], asc: Bytes) -> Result<AudioConfig, HlsError> {
    let info = audio_info(body).map_err(|e| HlsError::BadSequenceHeader(e.to_string()))?;
    Ok(AudioConfig {
        kind: AudioKind::Aac,
        config: asc,
        sample_rate: info
            .sample_rate
            .filter(|&r| r > 0)
            .ok_or_else(|| HlsError::BadSequenceHeader("AAC sample rate missing".into()))?,
        // Channel configuration 0 (a program config element) leaves the count to the PCE;
        // the sample entry's field is informative, stereo is the usual value.
        channels: info.channels.unwrap_or(2),
    })
}

fn opus_config(body: &[u8], head: Bytes) -> Result<AudioConfig, HlsError> {
    let info = audio_info(body).map_err(|e| HlsError::BadSequenceHeader(e.to_string()))?;
    Ok(AudioConfig {
        kind: AudioKind::Opus,
        config: head,
        sample_rate: 48_000,
        channels: info.channels.unwrap_or(2),
    })
}

/// The `CODECS` attribute value of a video track (RFC 6381 §3.3, ISO/IEC 14496-15 annex E,
/// AV1-ISOBMFF "Codecs Parameter String").
pub(crate) fn video_codec_string(config: &VideoConfig) -> String {
    let r = &config.record;
    match config.kind {
        // avc1.PPCCLL: profile_idc, constraint flags, level_idc from the record (§5.3.3.1).
        VideoKind::Avc => match r.get(1..4) {
            Some(p) => format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]),
            None => "avc1".into(),
        },
        VideoKind::Hevc => hevc_codec_string(r),
        VideoKind::Av1 => match (r.get(1), r.get(2)) {
            (Some(&b1), Some(&b2)) => {
                let profile = b1 >> 5;
                let level = b1 & 0x1f;
                let tier = if b2 & 0x80 != 0 { 'H' } else { 'M' };
                let depth = match (b2 & 0x40 != 0, b2 & 0x20 != 0) {
                    (true, true) => 12,
                    (true, false) => 10,
                    _ => 8,
                };
                format!("av01.{profile}.{level:02}{tier}.{depth:02}")
            }
            _ => "av01".into(),
        },
    }
}

/// `hvc1.<space><profile>.<compat>.<tier><level>.<constraints>` (ISO/IEC 14496-15 annex E.3):
/// the compatibility flags bit-reversed in hex, trailing zero constraint bytes omitted.
fn hevc_codec_string(r: &[u8]) -> String {
    let Some(head) = r.get(1..13) else {
        return "hvc1".into();
    };
    let space = match head[0] >> 6 {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let tier = if head[0] & 0x20 != 0 { 'H' } else { 'L' };
    let profile = head[0] & 0x1f;
    let compat = u32::from_be_bytes([head[1], head[2], head[3], head[4]]).reverse_bits();
    let level = head[11];
    let mut out = format!("hvc1.{space}{profile}.{compat:x}.{tier}{level}");
    let constraints = &head[5..11];
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for b in &constraints[..used] {
        out.push_str(&format!(".{b:x}"));
    }
    out
}

/// `mp4a.40.<audio object type>` (RFC 6381 §3.3) or `opus` (Opus in ISOBMFF §5.1).
pub(crate) fn audio_codec_string(config: &AudioConfig) -> String {
    match config.kind {
        AudioKind::Opus => "opus".into(),
        AudioKind::Aac => {
            let aot = match config.config.first() {
                Some(&b) if b >> 3 == 31 => match config.config.get(1) {
                    Some(&c) => 32 + (((b & 0x07) << 3) | (c >> 5)),
                    None => 31,
                },
                Some(&b) => b >> 3,
                None => 2,
            };
            format!("mp4a.40.{aot}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flv::TagType;

    #[test]
    fn codec_strings() {
        let avc = VideoConfig {
            kind: VideoKind::Avc,
            record: Bytes::from_static(&[1, 0x64, 0x00, 0x1f, 0xff]),
            width: 0,
            height: 0,
            frame_rate: None,
        };
        assert_eq!(video_codec_string(&avc), "avc1.64001f");
        // Main profile, compatibility flags 0x60000000 -> reversed 0x6, level 93 (3.1).
        let mut hvcc = vec![1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93];
        hvcc.extend_from_slice(&[0; 10]);
        let hevc = VideoConfig {
            kind: VideoKind::Hevc,
            record: Bytes::from(hvcc),
            ..avc.clone()
        };
        assert_eq!(video_codec_string(&hevc), "hvc1.1.6.L93.90");
        let av1 = VideoConfig {
            kind: VideoKind::Av1,
            record: Bytes::from_static(&[0x81, 0x08, 0x0c, 0x00]),
            ..avc
        };
        assert_eq!(video_codec_string(&av1), "av01.0.08M.08");
        let aac = AudioConfig {
            kind: AudioKind::Aac,
            config: Bytes::from_static(&[0x12, 0x10]),
            sample_rate: 44_100,
            channels: 2,
        };
        assert_eq!(audio_codec_string(&aac), "mp4a.40.2");
    }

    #[test]
    fn unsupported_codecs_are_named() {
        let vp9 = Tag::new(TagType::Video, 0, Bytes::from_static(b"\x91vp09\x00"));
        assert_eq!(
            parse(&vp9).unwrap_err(),
            HlsError::Unsupported {
                codec: "vp9".into()
            }
        );
        let h263 = Tag::new(TagType::Video, 0, Bytes::from_static(&[0x12, 0, 0]));
        assert!(matches!(parse(&h263), Err(HlsError::Unsupported { .. })));
        let mp3 = Tag::new(TagType::Audio, 0, Bytes::from_static(&[0x2f, 0xff, 0xfb]));
        assert_eq!(
            parse(&mp3).unwrap_err(),
            HlsError::Unsupported {
                codec: "mp3".into()
            }
        );
    }

    #[test]
    fn payloads_are_slices_after_the_header() {
        let body = Bytes::from_static(&[0x27, 0x01, 0x00, 0x00, 0x42, 0, 0, 0, 1, 0x41]);
        let tag = Tag::new(TagType::Video, 0, body.clone());
        match parse(&tag).unwrap() {
            Packet::VideoFrame {
                data,
                composition_ms,
                keyframe,
            } => {
                assert_eq!(&data[..], &body[5..]);
                assert_eq!(data.as_ptr(), body[5..].as_ptr(), "a slice, not a copy");
                assert_eq!(composition_ms, 0x42);
                assert!(!keyframe);
            }
            other => panic!("{other:?}"),
        }
    }
}
