//! Codec details from sequence-header tags, for the stream API: profile, level, picture size and
//! frame rate of the video; codec profile, sample rate and channels of the audio.
//!
//! Every byte here comes from a publisher, so nothing is trusted: each field is read through a
//! bounds-checked [`bits::BitReader`], value ranges the specifications set are checked before
//! they size a loop, and anything short or out of range is a [`FlvError`] naming the field.
//!
//! Tag headers understood: legacy AVC (codec id 7) and HEVC (codec id 12) sequence headers;
//! Enhanced RTMP `SequenceStart` for `avc1`, `hvc1`, `av01` and `vp09`, alone or as the first
//! track of a multitrack tag; AAC sequence headers (legacy SoundFormat 10 or FourCC `mp4a`);
//! FourCC `Opus`; and the other legacy sound formats, whose tags describe themselves.

mod aac;
mod av1;
mod avc;
mod bits;
mod hevc;
mod info;
mod legacy_audio;
mod nal;
mod opus;
mod picture;
#[cfg(test)]
mod test_bits;
mod vp9;
mod vui;

use crate::classify::{
    video_is_sequence_header, AAC_PACKET_SEQUENCE_HEADER, EX_HEADER_BIT, EX_PACKET_MULTITRACK,
    EX_PACKET_SEQUENCE_START, SOUND_FORMAT_AAC, SOUND_FORMAT_EX_HEADER,
};
use crate::{FlvError, VideoCodec};
use bits::BitReader;
pub use info::{AudioInfo, VideoInfo};

const VIDEO_HEADER: &str = "FLV video tag header";
const AUDIO_HEADER: &str = "FLV audio tag header";
const MULTITRACK_HEADER: &str = "E-RTMP multitrack header";
/// Legacy AVC/HEVC: frame type and codec id, AVCPacketType, 24-bit composition time.
const LEGACY_VIDEO_HEADER_LEN: usize = 5;
/// E-RTMP: the flags byte and the FourCC.
const EX_HEADER_LEN: usize = 5;
/// AudioPacketType.Multitrack (E-RTMP v2); video uses 6 ([`EX_PACKET_MULTITRACK`]).
const EX_AUDIO_PACKET_MULTITRACK: u8 = 5;
/// AudioPacketType.CodedFrames.
const EX_AUDIO_PACKET_CODED_FRAMES: u8 = 1;
/// AvMultitrackType values (E-RTMP v2, "Multitrack"); 1 is ManyTracks.
const MULTITRACK_ONE_TRACK: u32 = 0;
const MULTITRACK_MANY_CODECS: u32 = 2;

/// Reads the codec details out of the body of a video sequence-header tag (the body starts with
/// the FLV video header byte).
///
/// H.264 and H.265 give everything: profile and level, the picture size after cropping, and the
/// frame rate when the SPS has VUI timing info. AV1 gives profile and level from its
/// configuration record and the maximum frame size (which encoders set to the frame size) from
/// the sequence header OBU it carries; VP9's record has profile and level only. For a multitrack
/// tag the first track is described.
///
/// Any other tag, including coded frames, is [`FlvError::NotSequenceHeader`].
pub fn video_info(body: &[u8]) -> Result<VideoInfo, FlvError> {
    let (codec, record) = video_record(body)?;
    match codec {
        VideoCodec::Avc => avc::video_info(record),
        VideoCodec::Hevc => hevc::video_info(record),
        VideoCodec::Av1 => av1::video_info(record),
        VideoCodec::Vp9 => vp9::video_info(record),
        VideoCodec::Other => Err(FlvError::NotSequenceHeader),
    }
}

/// The codec and configuration record of a video sequence header, past the legacy or Enhanced
/// RTMP tag header.
fn video_record(body: &[u8]) -> Result<(VideoCodec, &[u8]), FlvError> {
    let first = *body.first().ok_or(FlvError::Truncated(VIDEO_HEADER))?;
    if first & EX_HEADER_BIT == 0 {
        if !video_is_sequence_header(body) {
            return Err(FlvError::NotSequenceHeader);
        }
        let codec = VideoCodec::of(body).ok_or(FlvError::Truncated(VIDEO_HEADER))?;
        let record = body
            .get(LEGACY_VIDEO_HEADER_LEN..)
            .ok_or(FlvError::Truncated(VIDEO_HEADER))?;
        return Ok((codec, record));
    }
    let packet = ex_packet(body, EX_PACKET_MULTITRACK, VIDEO_HEADER)?;
    if packet.packet_type != EX_PACKET_SEQUENCE_START {
        return Err(FlvError::NotSequenceHeader);
    }
    match VideoCodec::from_fourcc(&packet.fourcc) {
        VideoCodec::Other => Err(FlvError::UnknownFourCc(packet.fourcc)),
        codec => Ok((codec, packet.payload)),
    }
}

/// Reads the codec details out of an audio tag body.
///
/// * AAC (SoundFormat 10 or FourCC `mp4a`): the sequence header's AudioSpecificConfig gives the
///   profile, the output sample rate (with SBR, twice the core rate) and the channels. Raw AAC
///   frames are [`FlvError::NotSequenceHeader`].
/// * FourCC `Opus`: the sequence start's identification header gives the channels and the
///   encoder's input sample rate.
/// * MP3: the MPEG audio frame header in the tag, which unlike the FLV flags can say 48 kHz.
/// * Other legacy formats (`pcm`, `pcm_le`, `adpcm`, `nellymoser`, `g711_alaw`, `g711_mulaw`,
///   `speex`, `device_specific`): the rate and channel flags of the FLV audio header, or the
///   fixed values the FLV specification gives Nellymoser 8/16 kHz, G.711 and Speex.
/// * FourCCs `fLaC`, `ac-3`, `ec-3`, `.mp3` with no parser here: the codec name only.
pub fn audio_info(body: &[u8]) -> Result<AudioInfo, FlvError> {
    let first = *body.first().ok_or(FlvError::Truncated(AUDIO_HEADER))?;
    match first >> 4 {
        SOUND_FORMAT_AAC => match body.get(1) {
            Some(&AAC_PACKET_SEQUENCE_HEADER) => aac::audio_info(body.get(2..).unwrap_or(&[])),
            Some(_) => Err(FlvError::NotSequenceHeader),
            None => Err(FlvError::Truncated(AUDIO_HEADER)),
        },
        SOUND_FORMAT_EX_HEADER => ex_audio_info(body),
        _ => legacy_audio::audio_info(body),
    }
}

/// Enhanced RTMP audio (SoundFormat 9): AudioPacketType in the low nibble, then a FourCC.
fn ex_audio_info(body: &[u8]) -> Result<AudioInfo, FlvError> {
    let packet = ex_packet(body, EX_AUDIO_PACKET_MULTITRACK, AUDIO_HEADER)?;
    let sequence_start = packet.packet_type == EX_PACKET_SEQUENCE_START;
    match &packet.fourcc {
        b"mp4a" if sequence_start => aac::audio_info(packet.payload),
        b"Opus" if sequence_start => opus::audio_info(packet.payload),
        b"mp4a" | b"Opus" => Err(FlvError::NotSequenceHeader),
        b".mp3" if packet.packet_type == EX_AUDIO_PACKET_CODED_FRAMES => {
            Ok(legacy_audio::mp3_frame_info(packet.payload)
                .unwrap_or_else(|| AudioInfo::codec_only("mp3")))
        }
        b".mp3" => Ok(AudioInfo::codec_only("mp3")),
        b"fLaC" => Ok(AudioInfo::codec_only("flac")),
        b"ac-3" => Ok(AudioInfo::codec_only("ac3")),
        b"ec-3" => Ok(AudioInfo::codec_only("eac3")),
        _ => Err(FlvError::UnknownFourCc(packet.fourcc)),
    }
}

/// An Enhanced RTMP packet with its tag header taken off.
struct ExPacket<'a> {
    packet_type: u8,
    fourcc: [u8; 4],
    payload: &'a [u8],
}

/// Splits an E-RTMP audio or video body into packet type, FourCC and payload, looking into the
/// first track when the packet type is `multitrack_type` (the value differs between audio and
/// video).
fn ex_packet<'a>(
    body: &'a [u8],
    multitrack_type: u8,
    header: &'static str,
) -> Result<ExPacket<'a>, FlvError> {
    let first = *body.first().ok_or(FlvError::Truncated(header))?;
    let packet_type = first & 0x0f;
    if packet_type == multitrack_type {
        return first_track(body.get(1..).unwrap_or(&[]));
    }
    let fourcc = read_fourcc(&mut BitReader::new(body.get(1..).unwrap_or(&[]), header))?;
    Ok(ExPacket {
        packet_type,
        fourcc,
        payload: body.get(EX_HEADER_LEN..).unwrap_or(&[]),
    })
}

/// The first track of an E-RTMP v2 multitrack body (`rest` starts after the flags byte):
/// `AvMultitrackType << 4 | PacketType`, the FourCC shared by all tracks unless each track has
/// its own, then per track an optional FourCC, the track id and, unless there is only one
/// track, a 24-bit size.
fn first_track(rest: &[u8]) -> Result<ExPacket<'_>, FlvError> {
    let mut r = BitReader::new(rest, MULTITRACK_HEADER);
    let multitrack_type = r.bits(4)?;
    let packet_type = r.bits(4)? as u8;
    if multitrack_type > MULTITRACK_MANY_CODECS {
        return Err(FlvError::InvalidField {
            field: "E-RTMP AvMultitrackType",
            value: multitrack_type.into(),
        });
    }
    // The shared FourCC, or with many codecs the first track's own: the same place either way.
    let fourcc = read_fourcc(&mut r)?;
    r.skip(8)?; // trackId
    let payload = if multitrack_type == MULTITRACK_ONE_TRACK {
        r.bytes(r.remaining() / 8)?
    } else {
        let size = r.bits(24)?; // sizeOfVideoTrack / sizeOfAudioTrack
        r.bytes(size as usize)?
    };
    Ok(ExPacket {
        packet_type,
        fourcc,
        payload,
    })
}

fn read_fourcc(r: &mut BitReader) -> Result<[u8; 4], FlvError> {
    Ok([r.u8()?, r.u8()?, r.u8()?, r.u8()?])
}
