//! A tag as the edge keeps it: framed once, shared by every player.

use bytes::{Bytes, BytesMut};
use flv::{FlvError, TagType};
use relay_proto::Fragments;

/// One FLV tag with its 11-byte header and 4-byte PreviousTagSize already around the body, so a
/// player's write is one buffer and each player holds only a reference-counted handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub tag_type: TagType,
    pub timestamp: u32,
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

    /// Frames a configuration tag that came in an announcement.
    pub fn from_tag(tag: &flv::Tag) -> Result<Self, FlvError> {
        let mut framed = BytesMut::new();
        flv::write_tag_into(&mut framed, tag.tag_type, tag.timestamp, &tag.body)?;
        Ok(FlvTag {
            tag_type: tag.tag_type,
            timestamp: tag.timestamp,
            keyframe: tag.is_keyframe(),
            config: tag.is_sequence_header() || tag.is_metadata(),
            framed: framed.freeze(),
        })
    }

    pub fn len(&self) -> usize {
        self.framed.len()
    }

    /// The tag body, without the framing.
    pub fn body(&self) -> &[u8] {
        &self.framed[flv::TAG_HEADER_LEN..self.framed.len() - flv::TAG_TRAILER_LEN]
    }

    pub fn is_empty(&self) -> bool {
        self.framed.is_empty()
    }

    /// Video that needs earlier frames to decode.
    pub fn is_inter_video(&self) -> bool {
        self.tag_type == TagType::Video && !self.keyframe && !self.config
    }
}
