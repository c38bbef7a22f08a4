//! FLV tags as liverelay carries them.
//!
//! An RTMP audio, video or data message has the same bytes as an FLV tag body, so the cloud wraps
//! each message in a [`Tag`] without touching its body, and the edge writes tags to players with
//! the 11-byte header and 4-byte trailer of the FLV file format (Adobe FLV spec v10.1, annex E).
//!
//! Bodies are [`Bytes`]: cloning a tag clones a handle, never the payload.
//!
//! Classification ([`Tag::is_keyframe`], [`Tag::is_sequence_header`]) understands legacy AVC
//! (codec id 7), the common HEVC convention (codec id 12), Enhanced RTMP video and audio
//! (FourCC headers: `hvc1`, `av01`, `vp09`, `avc1`, `Opus`, `mp4a`, ...) and AAC.
//!
//! [`video_info`] and [`audio_info`] read codec details (profile, level, picture size, frame
//! rate; sample rate, channels) out of sequence-header tags for the stream API.

#![warn(missing_docs)]

mod classify;
mod codec_info;
mod error;
mod reader;
mod writer;

pub use classify::{video_composition_time, AudioCodec, VideoCodec};
pub use codec_info::{audio_info, video_info, AudioInfo, VideoInfo};
pub use error::FlvError;
pub use reader::TagReader;
pub use writer::{
    file_header, tag_header, tag_trailer, write_tag_into, write_tag_parts_into, TAG_HEADER_LEN,
    TAG_TRAILER_LEN,
};

use bytes::Bytes;

/// FLV tag type (the low five bits of the first header byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TagType {
    /// Type 8: audio.
    Audio = 8,
    /// Type 9: video.
    Video = 9,
    /// Type 18: AMF0 script data (`onMetaData`).
    Script = 18,
}

impl TagType {
    /// Maps the FLV/RTMP message type number to a tag type.
    pub fn from_u8(value: u8) -> Result<Self, FlvError> {
        match value {
            8 => Ok(TagType::Audio),
            9 => Ok(TagType::Video),
            18 => Ok(TagType::Script),
            other => Err(FlvError::UnknownTagType(other)),
        }
    }
}

/// One FLV tag: type, decoding timestamp in milliseconds and the body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Audio, video or script data.
    pub tag_type: TagType,
    /// Decoding timestamp in ms (FLV's 24-bit field plus its extension byte).
    pub timestamp: u32,
    /// The tag body as it follows the 11-byte tag header, without the PreviousTagSize trailer.
    pub body: Bytes,
}

impl Tag {
    /// A tag of `tag_type` at `timestamp` (ms) with `body`.
    pub fn new(tag_type: TagType, timestamp: u32, body: Bytes) -> Self {
        Tag {
            tag_type,
            timestamp,
            body,
        }
    }

    /// A video tag that a decoder can start from (an IDR / random-access picture).
    pub fn is_keyframe(&self) -> bool {
        self.tag_type == TagType::Video && classify::video_is_keyframe(&self.body)
    }

    /// A decoder configuration tag: AVC/HEVC/AV1 configuration record or AAC AudioSpecificConfig
    /// (or their Enhanced RTMP SequenceStart forms). Such tags are kept by the edge's GOP cache
    /// and sent to every new player before any frame.
    pub fn is_sequence_header(&self) -> bool {
        match self.tag_type {
            TagType::Video => classify::video_is_sequence_header(&self.body),
            TagType::Audio => classify::audio_is_sequence_header(&self.body),
            TagType::Script => false,
        }
    }

    /// Script data whose first AMF0 value is the string `onMetaData`.
    pub fn is_metadata(&self) -> bool {
        self.tag_type == TagType::Script && classify::script_is_on_metadata(&self.body)
    }
}
