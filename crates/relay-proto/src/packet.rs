//! One datagram: RTP header, payload header, fragment bytes, authentication tag.

use crate::auth::{AuthTag, MediaKey, AUTH_TAG_LEN};
use crate::{ProtoError, PAYLOAD_TYPE, SEQUENCE_MASK};
use bytes::{Buf, Bytes, BytesMut};

/// RTP fixed header without CSRCs (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;
/// The relay's payload header.
pub const PAYLOAD_HEADER_LEN: usize = 12;
/// Bytes before the fragment in every datagram.
pub const HEADER_LEN: usize = RTP_HEADER_LEN + PAYLOAD_HEADER_LEN;
/// Bytes of every datagram besides its fragment: the headers and the authentication tag.
pub const DATAGRAM_OVERHEAD: usize = HEADER_LEN + AUTH_TAG_LEN;

const FLAG_START: u8 = 0x80;
const FLAG_END: u8 = 0x40;
const FLAG_KEYFRAME: u8 = 0x20;
const FLAG_CONFIG: u8 = 0x10;
const PAYLOAD_VERSION: u8 = 0;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// An FLV tag body.
    Tag,
    /// A stream announcement (see the crate docs).
    Announce,
    /// The publisher stopped.
    End,
    /// Not a message: after a silence, the sender's newest sequence number (this packet's), so
    /// a receiver learns of lost packets that nothing else followed. Takes no sequence number.
    Sync,
}

impl MessageKind {
    fn to_bits(self) -> u8 {
        match self {
            MessageKind::Tag => 0,
            MessageKind::Announce => 1,
            MessageKind::End => 2,
            MessageKind::Sync => 3,
        }
    }

    /// The two kind bits: every value has a meaning.
    fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => MessageKind::Tag,
            1 => MessageKind::Announce,
            2 => MessageKind::End,
            _ => MessageKind::Sync,
        }
    }
}

/// Everything in the 24 header bytes of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// SSRC of the publish the packet belongs to (RFC 3550 §5.1): picks the media key and the
    /// stream.
    pub ssrc: u32,
    /// The 48-bit sequence number.
    pub seq: u64,
    /// FLV DTS in ms.
    pub timestamp: u32,
    /// What the packet's message is (kind bits of the payload header flags).
    pub kind: MessageKind,
    /// FLV tag type for [`MessageKind::Tag`], else 0.
    pub tag_type: u8,
    /// First fragment of its message (fragment index 0).
    pub start: bool,
    /// Last fragment of its message; also sent as the RTP marker bit.
    pub end: bool,
    /// The message is a video keyframe (lets a receiver resume after a gap).
    pub keyframe: bool,
    /// The message is configuration: metadata or a codec sequence header.
    pub config: bool,
    /// Position of this fragment in its message, from 0.
    pub fragment_index: u16,
    /// Length in bytes of the whole message this fragment belongs to (0 for end and sync).
    pub message_len: u32,
}

/// A parsed datagram. `payload` is a slice of the received buffer (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The parsed 24 header bytes.
    pub header: PacketHeader,
    /// The fragment: a slice of the message body, between the header and the authentication tag.
    pub payload: Bytes,
    /// The tag over the encoded header and the payload (see the `auth` module).
    pub auth: AuthTag,
}

impl PacketHeader {
    /// The 24 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = 2 << 6;
        out[1] = (u8::from(self.end) << 7) | PAYLOAD_TYPE;
        out[2..4].copy_from_slice(&(self.seq as u16).to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut flags = (self.kind.to_bits() << 2) | PAYLOAD_VERSION;
        for (on, bit) in [
            (self.start, FLAG_START),
            (self.end, FLAG_END),
            (self.keyframe, FLAG_KEYFRAME),
            (self.config, FLAG_CONFIG),
        ] {
            if on {
                flags |= bit;
            }
        }
        out[12] = flags;
        out[13] = self.tag_type;
        out[14..16].copy_from_slice(&self.fragment_index.to_be_bytes());
        out[16..20].copy_from_slice(&self.message_len.to_be_bytes());
        out[20..24].copy_from_slice(&(((self.seq & SEQUENCE_MASK) >> 16) as u32).to_be_bytes());
        out
    }

    fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, ProtoError> {
        let version = bytes[0] >> 6;
        if version != 2 {
            return Err(ProtoError::BadRtpVersion(version));
        }
        if bytes[0] & 0x3f != 0 {
            return Err(ProtoError::UnsupportedRtpFeature);
        }
        let payload_type = bytes[1] & 0x7f;
        if payload_type != PAYLOAD_TYPE {
            return Err(ProtoError::ForeignPayloadType(payload_type));
        }
        let marker = bytes[1] & 0x80 != 0;
        let flags = bytes[12];
        if flags & 0x03 != PAYLOAD_VERSION {
            return Err(ProtoError::BadPayloadVersion(flags & 0x03));
        }
        let kind = MessageKind::from_bits(flags >> 2);
        let low = u16::from_be_bytes([bytes[2], bytes[3]]) as u64;
        let high = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]) as u64;
        let header = PacketHeader {
            ssrc: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            seq: (high << 16) | low,
            timestamp: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            kind,
            tag_type: bytes[13],
            start: flags & FLAG_START != 0,
            end: flags & FLAG_END != 0,
            keyframe: flags & FLAG_KEYFRAME != 0,
            config: flags & FLAG_CONFIG != 0,
            fragment_index: u16::from_be_bytes([bytes[14], bytes[15]]),
            message_len: u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
        };
        if marker != header.end {
            return Err(ProtoError::Inconsistent(
                "RTP marker differs from the end flag",
            ));
        }
        if header.start != (header.fragment_index == 0) {
            return Err(ProtoError::Inconsistent(
                "start flag and fragment index disagree",
            ));
        }
        match kind {
            MessageKind::Tag if !matches!(header.tag_type, 8 | 9 | 18) => {
                Err(ProtoError::BadTagType(header.tag_type))
            }
            MessageKind::Announce | MessageKind::End | MessageKind::Sync
                if header.tag_type != 0 =>
            {
                Err(ProtoError::Inconsistent(
                    "tag type set on a control message",
                ))
            }
            MessageKind::Sync if header.message_len != 0 || !header.start || !header.end => Err(
                ProtoError::Inconsistent("a sync packet is a single empty packet"),
            ),
            _ => Ok(header),
        }
    }
}

impl Packet {
    /// A packet of `header` and `payload` signed with `key`.
    pub fn signed(header: PacketHeader, payload: Bytes, key: &MediaKey) -> Packet {
        let auth = key.tag(&[&header.encode(), &payload]);
        Packet {
            header,
            payload,
            auth,
        }
    }

    /// The SSRC of a datagram, read before anything else so its key can be looked up.
    pub fn peek_ssrc(datagram: &[u8]) -> Option<u32> {
        let bytes = datagram.get(8..12)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Checks a received datagram's tag with its stream's key, then parses it.
    pub fn open(datagram: Bytes, key: &MediaKey) -> Result<Packet, ProtoError> {
        if !key.verify(&datagram) {
            return Err(ProtoError::BadAuthTag);
        }
        Packet::parse(datagram)
    }

    /// Parses a datagram without checking its tag: for datagrams that came over an
    /// authenticated channel (repairs), and for tools. The payload stays a slice of `datagram`.
    pub fn parse(mut datagram: Bytes) -> Result<Packet, ProtoError> {
        if datagram.len() < DATAGRAM_OVERHEAD {
            return Err(ProtoError::Truncated(datagram.len()));
        }
        let head: &[u8; HEADER_LEN] = datagram[..HEADER_LEN]
            .try_into()
            .map_err(|_| ProtoError::Truncated(datagram.len()))?;
        let header = PacketHeader::decode(head)?;
        let mut auth = [0u8; AUTH_TAG_LEN];
        auth.copy_from_slice(&datagram[datagram.len() - AUTH_TAG_LEN..]);
        datagram.truncate(datagram.len() - AUTH_TAG_LEN);
        // Advancing the owned handle, not slicing it, saves a reference-count round trip.
        datagram.advance(HEADER_LEN);
        let payload = datagram;
        if payload.len() as u64 > header.message_len as u64 {
            return Err(ProtoError::Inconsistent("fragment longer than its message"));
        }
        if payload.is_empty() && header.message_len != 0 {
            return Err(ProtoError::Inconsistent(
                "empty fragment of a non-empty message",
            ));
        }
        Ok(Packet {
            header,
            payload,
            auth,
        })
    }

    /// The whole datagram in one buffer (a copy: for repairs, tests, tools and forwarders; the
    /// cloud sends header, payload and tag as three I/O slices instead).
    pub fn to_datagram(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(DATAGRAM_OVERHEAD + self.payload.len());
        out.extend_from_slice(&self.header.encode());
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&self.auth);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> PacketHeader {
        PacketHeader {
            ssrc: 0xdead_beef,
            seq: 0x1234_5678_9abc,
            timestamp: 0x0102_0304,
            kind: MessageKind::Tag,
            tag_type: 9,
            start: true,
            end: false,
            keyframe: true,
            config: false,
            fragment_index: 0,
            message_len: 5000,
        }
    }

    fn key() -> MediaKey {
        MediaKey::from_bytes([3; crate::MEDIA_KEY_LEN])
    }

    #[test]
    fn header_round_trip() {
        let packet = Packet::signed(header(), Bytes::from_static(b"abc"), &key());
        let datagram = packet.to_datagram();
        assert_eq!(Packet::peek_ssrc(&datagram), Some(0xdead_beef));
        assert_eq!(Packet::parse(datagram.clone()).unwrap(), packet);
        assert_eq!(Packet::open(datagram, &key()).unwrap(), packet);
    }

    #[test]
    fn open_refuses_another_key_and_any_change() {
        let datagram = Packet::signed(header(), Bytes::from_static(b"abc"), &key()).to_datagram();
        let other = MediaKey::from_bytes([4; crate::MEDIA_KEY_LEN]);
        assert_eq!(
            Packet::open(datagram.clone(), &other),
            Err(ProtoError::BadAuthTag)
        );
        let mut changed = datagram.to_vec();
        changed[HEADER_LEN] ^= 0x20;
        assert_eq!(
            Packet::open(Bytes::from(changed), &key()),
            Err(ProtoError::BadAuthTag)
        );
    }

    #[test]
    fn rejects_bad_datagrams() {
        let good = Packet::signed(header(), Bytes::from_static(b"abc"), &key()).to_datagram();
        assert_eq!(
            Packet::parse(good.slice(..10)),
            Err(ProtoError::Truncated(10))
        );
        let mut bad = good.to_vec();
        bad[0] = 0x40;
        assert_eq!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::BadRtpVersion(1))
        );
        let mut bad = good.to_vec();
        bad[1] = 0x61;
        assert_eq!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::ForeignPayloadType(0x61))
        );
        let mut bad = good.to_vec();
        bad[12] |= 0x0c;
        assert!(matches!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::Inconsistent(_))
        ));
        let mut bad = good.to_vec();
        bad[12] |= 0x01;
        assert_eq!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::BadPayloadVersion(1))
        );
        let mut bad = good.to_vec();
        bad[13] = 7;
        assert_eq!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::BadTagType(7))
        );
        let mut bad = good.to_vec();
        bad[1] |= 0x80;
        assert!(matches!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::Inconsistent(_))
        ));
        let mut bad = good.to_vec();
        bad[16..20].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::Inconsistent(_))
        ));
    }
}
