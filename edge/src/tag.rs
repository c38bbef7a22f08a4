//! A tag as the edge keeps it: framed once, shared by every player.

use bytes::{Bytes, BytesMut};
use flv::{FlvError, TagType};
use relay_proto::Fragments;

/// One FLV tag with its 11-byte header and 4-byte PreviousTagSize already around the body, so a
/// player's write is one buffer and each player holds only a reference-counted handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// Audio, video or script data.
    pub tag_type: TagType,
    /// Timestamp in ms as written in the header, the task's offset for adopted players included.
    pub timestamp: u32,
    /// A video keyframe: where a player starts, or resumes after drops or a gap.
    pub keyframe: bool,
    /// A sequence header or `onMetaData`.
    pub config: bool,
    /// Header, body and trailer.
    pub framed: Bytes,
}

impl FlvTag {
    /// Frames a reassembled body: the one copy of a tag body the edge makes, shared by all players.
    pub fn from_fragments(
        tag_type: TagType,
        timestamp: u32,
        keyframe: bool,
        config: bool,
        fragments: &Fragments,
    ) -> Result<Self, FlvError> {
        let mut framed = BytesMut::new();
        flv::write_tag_parts_into(&mut framed, tag_type, timestamp, fragments.parts())?;
        Ok(FlvTag {
            tag_type,
            timestamp,
            keyframe,
            config,
            framed: framed.freeze(),
        })
    }

    /// Frames a configuration tag that came in an announcement, `offset` ms later than its
    /// own timestamp.
    pub fn from_tag(tag: &flv::Tag, offset: u32) -> Result<Self, FlvError> {
        let timestamp = tag.timestamp.wrapping_add(offset);
        let mut framed = BytesMut::new();
        flv::write_tag_into(&mut framed, tag.tag_type, timestamp, &tag.body)?;
        Ok(FlvTag {
            tag_type: tag.tag_type,
            timestamp,
            keyframe: tag.is_keyframe(),
            config: tag.is_sequence_header() || tag.is_metadata(),
            framed: framed.freeze(),
        })
    }

    /// The same tag `offset` ms later (a copy: for the few configuration tags of a stream
    /// whose timeline was shifted after they arrived).
    pub fn shifted(&self, offset: u32) -> Self {
        if offset == 0 {
            return self.clone();
        }
        let timestamp = self.timestamp.wrapping_add(offset);
        let mut framed = BytesMut::from(&self.framed[..]);
        framed[4..7].copy_from_slice(&timestamp.to_be_bytes()[1..]);
        framed[7] = (timestamp >> 24) as u8;
        FlvTag {
            timestamp,
            framed: framed.freeze(),
            ..self.clone()
        }
    }

    /// Size in bytes with header and trailer: what the tag takes of a player's queue.
    pub fn len(&self) -> usize {
        self.framed.len()
    }

    /// The tag body, without the framing.
    pub fn body(&self) -> &[u8] {
        &self.framed[flv::TAG_HEADER_LEN..self.framed.len() - flv::TAG_TRAILER_LEN]
    }

    /// Whether the framed buffer is empty (a framed tag never is).
    pub fn is_empty(&self) -> bool {
        self.framed.is_empty()
    }

    /// The latest time the tag stands for: its presentation time for video (decoding time plus
    /// composition offset), its timestamp otherwise.
    pub fn presentation_end(&self) -> u32 {
        if self.tag_type != TagType::Video {
            return self.timestamp;
        }
        let offset = flv::video_composition_time(self.body()).max(0) as u32;
        self.timestamp.saturating_add(offset)
    }

    /// Video that needs earlier frames to decode.
    pub fn is_inter_video(&self) -> bool {
        self.tag_type == TagType::Video && !self.keyframe && !self.config
    }
}
