use thiserror::Error;

/// Everything that can be wrong with a datagram or a message on the relay's wire.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtoError {
    #[error(
        "datagram of {0} bytes is shorter than the relay header and authentication tag (40 bytes)"
    )]
    Truncated(usize),
    #[error("RTP version {0} is not 2")]
    BadRtpVersion(u8),
    #[error("RTP padding, extension or CSRC bits are set; the relay never sends them")]
    UnsupportedRtpFeature,
    #[error("RTP payload type {0} is not the relay's ({expected})", expected = crate::PAYLOAD_TYPE)]
    ForeignPayloadType(u8),
    #[error("payload header version {0} is not supported")]
    BadPayloadVersion(u8),
    #[error("tag packet with unknown FLV tag type {0}")]
    BadTagType(u8),
    #[error("inconsistent packet: {0}")]
    Inconsistent(&'static str),
    #[error("announcement is malformed: {0}")]
    BadAnnouncement(&'static str),
    #[error("largest datagram {0} leaves no room for payload besides the 24-byte header and 16-byte tag")]
    DatagramTooSmall(usize),
    #[error("repair message is malformed: {0}")]
    BadRepairMessage(&'static str),
    #[error("authentication tag does not match: not sent by the cloud with this stream's key")]
    BadAuthTag,
    #[error("message of {0} bytes needs more than 65536 fragments")]
    MessageTooLarge(usize),
}
