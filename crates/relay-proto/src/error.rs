use thiserror::Error;

/// Everything that can be wrong with a datagram or a message on the relay's wire.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtoError {
    /// A datagram (of this many bytes) is shorter than the 24 header bytes plus the 16-byte
    /// authentication tag.
    #[error(
        "datagram of {0} bytes is shorter than the relay header and authentication tag (40 bytes)"
    )]
    Truncated(usize),
    /// The RTP version field (top two bits, RFC 3550 §5.1) is not 2; carries the version found.
    #[error("RTP version {0} is not 2")]
    BadRtpVersion(u8),
    /// The RTP padding, extension or CSRC-count bits (RFC 3550 §5.1) are set; the relay's header
    /// never uses them.
    #[error("RTP padding, extension or CSRC bits are set; the relay never sends them")]
    UnsupportedRtpFeature,
    /// The RTP payload type is not the relay's dynamic payload type (RFC 3550 §5.1); carries the
    /// type found.
    #[error("RTP payload type {0} is not the relay's ({expected})", expected = crate::PAYLOAD_TYPE)]
    ForeignPayloadType(u8),
    /// The low two bits of the payload header's flags (its version) are not 0; carries the version
    /// found.
    #[error("payload header version {0} is not supported")]
    BadPayloadVersion(u8),
    /// A tag packet's FLV tag type is not 8 (audio), 9 (video) or 18 (script data); carries the
    /// type found.
    #[error("tag packet with unknown FLV tag type {0}")]
    BadTagType(u8),
    /// The header fields contradict each other or the payload: RTP marker and end flag differ,
    /// start flag and fragment index disagree, a control message has a tag type, a sync packet is
    /// not one empty packet, or the fragment is longer than its message or empty in a non-empty
    /// one. Carries which.
    #[error("inconsistent packet: {0}")]
    Inconsistent(&'static str),
    /// A stream announcement does not decode (unknown version, bad name, too many tags, or
    /// truncated); carries what was wrong.
    #[error("announcement is malformed: {0}")]
    BadAnnouncement(&'static str),
    /// A packetizer was asked for a largest datagram (bytes) that leaves no payload after the
    /// 24-byte header and 16-byte tag.
    #[error("largest datagram {0} leaves no room for payload besides the 24-byte header and 16-byte tag")]
    DatagramTooSmall(usize),
    /// A repair-connection message or frame does not decode (see [`crate::EdgeMessage::decode`] and
    /// [`crate::CloudMessage::decode`]); carries what was wrong.
    #[error("repair message is malformed: {0}")]
    BadRepairMessage(&'static str),
    /// The datagram's authentication tag does not verify with its stream's media key (RFC 3711 §3.4
    /// style): forged, corrupted or from another publish.
    #[error("authentication tag does not match: not sent by the cloud with this stream's key")]
    BadAuthTag,
    /// A message (of this many bytes) would need more than 65536 fragments, the limit of the 16-bit
    /// fragment index.
    #[error("message of {0} bytes needs more than 65536 fragments")]
    MessageTooLarge(usize),
}
