//! Messages of the repair connection between an edge and the cloud (carried over QUIC).
//!
//! Edge to cloud: [`EdgeMessage::Hello`] first on the control stream, then NACKs in QUIC
//! datagrams, and every few seconds a [`EdgeMessage::Viewers`] report on the control stream.
//! Cloud to edge: [`CloudMessage::Welcome`] or [`CloudMessage::Refused`], stream announcements
//! (with each publish's media key) and ends on the control stream, and one answer for every
//! requested packet: the packet itself, "evicted", "not sent" or "unknown stream"; or, for a
//! request over the edge's answer budget, one "throttled".
//!
//! A NACK names packets as a base sequence number and a 64-bit bitmap of the 64 that follow it
//! (bit i set: base + 1 + i is missing), the generic NACK of RFC 4585 §6.2.1 widened to our
//! 48-bit numbers and a longer bitmap.
//!
//! Every message is a type byte and a body; on a stream each is preceded by its u32 length.
//! Integers are big-endian.

use crate::{Announcement, MediaKey, ProtoError, MEDIA_KEY_LEN, SEQUENCE_MASK};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Version spoken in Hello / Welcome. Version 2 hands edges the per-publish media keys.
pub const REPAIR_VERSION: u16 = 2;
/// The QUIC ALPN of the repair protocol: a version 1 peer cannot even connect.
pub const REPAIR_ALPN: &[u8] = b"liverelay-repair/2";
/// Most ranges in one NACK: 64 ranges of 65 packets answer at most 4160 packets per request.
pub const MAX_NACK_RANGES: usize = 64;
/// Largest control-stream frame accepted.
pub const MAX_FRAME_LEN: usize = 1 << 20;
const MAX_TEXT_LEN: usize = 1024;
/// Most streams in one viewer report (an edge serves at most 1024 at once).
pub const MAX_VIEWER_REPORT: usize = 4096;
/// Most copies of a packet an edge may ask for (for retries on a very lossy path).
pub const MAX_COPIES: u8 = 3;

/// One base sequence number and a bitmap of the 64 after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackRange {
    /// The first missing sequence number (48-bit on the wire; masked when encoded). Always named,
    /// whatever the bitmap.
    pub base: u64,
    /// Bit `i` set: `base + 1 + i` is missing too (bit 0 is the packet right after `base`), as in
    /// the BLP field of RFC 4585 §6.2.1 but 64 bits wide.
    pub bitmap: u64,
}

impl NackRange {
    /// The wire (48-bit) sequence numbers the range names, in order.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.base & SEQUENCE_MASK).chain(
            (0..64)
                .filter(|bit| self.bitmap & (1 << bit) != 0)
                .map(|bit| (self.base + 1 + bit) & SEQUENCE_MASK),
        )
    }

    /// Packs sorted, distinct sequence numbers into as few ranges as possible (the numbers may
    /// be unwrapped past 48 bits: they are masked on the wire).
    pub fn pack(seqs: &[u64]) -> Vec<NackRange> {
        let mut ranges: Vec<NackRange> = Vec::new();
        for &seq in seqs {
            match ranges.last_mut() {
                Some(range) if seq > range.base && seq - range.base <= 64 => {
                    range.bitmap |= 1 << (seq - range.base - 1)
                }
                _ => ranges.push(NackRange {
                    base: seq,
                    bitmap: 0,
                }),
            }
        }
        ranges
    }
}

/// A request for lost packets of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NackRequest {
    /// SSRC of the stream whose packets are missing (the relay header's stream id, RFC 3550 §5.1
    /// style).
    pub ssrc: u32,
    /// Distinct per request of one receiver: an edge sends every request twice, and the cloud
    /// answers the first copy that arrives and drops the other by this id.
    pub id: u32,
    /// How many copies of each packet to send back (1 normally, more on retries).
    pub copies: u8,
    /// The missing packets, at most [`MAX_NACK_RANGES`] of them (extra ranges are dropped when
    /// encoding); a decoded request has at least one.
    pub ranges: Vec<NackRange>,
}

impl NackRequest {
    /// How many packets the request names (each range names its base and one per bitmap bit).
    pub fn packets(&self) -> u64 {
        self.ranges
            .iter()
            .map(|range| 1 + u64::from(range.bitmap.count_ones()))
            .sum()
    }
}

/// A message an edge sends the cloud on its repair connection.
///
/// Wire layout: type byte `0x01` Hello, `0x02` NACK, `0x03` viewer report, then the body; integers
/// big-endian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeMessage {
    /// The edge's first message on the control stream; the cloud answers with
    /// [`CloudMessage::Welcome`] or [`CloudMessage::Refused`].
    Hello {
        /// Repair protocol version the edge speaks; must equal [`REPAIR_VERSION`] or the cloud
        /// refuses.
        version: u16,
        /// The shared edge token the cloud checks before accepting the edge (at most 1024 bytes of
        /// UTF-8).
        token: String,
        /// The edge's name, for the cloud's logs and stream views (at most 1024 bytes of UTF-8).
        edge_name: String,
    },
    /// A request for lost packets of one stream, sent in a QUIC datagram (RFC 9221); each named
    /// packet gets one answer.
    Nack(NackRequest),
    /// The players the edge serves now, per stream it has any for. A full report: a stream left
    /// out has none. Lets the cloud count a stream's viewers across edges.
    Viewers(Vec<ViewerCount>),
}

/// Players of one stream on one edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewerCount {
    /// SSRC of the stream.
    pub ssrc: u32,
    /// Players currently watching that stream on this edge.
    pub players: u32,
}

/// A message the cloud sends an edge on its repair connection.
///
/// Type bytes `0x81`..`0x89`; control messages (welcome, refusal, announcements, ends) go on the
/// control stream, answers to NACKs unordered (datagram when it fits, RFC 9221, else a
/// unidirectional stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudMessage {
    /// The cloud accepted the edge's hello.
    Welcome {
        /// Repair protocol version the cloud speaks ([`REPAIR_VERSION`]).
        version: u16,
    },
    /// The cloud refused the edge's hello (wrong version, unknown token, or no hello); the cloud
    /// closes the connection after it.
    Refused {
        /// Why, in words for the edge's log (at most 1024 bytes).
        reason: String,
    },
    /// A live publish: its key (every one of its datagrams is signed with it; the only way an
    /// edge learns it), the sequence number an edge told now should expect first (earlier
    /// packets are not its to repair), and the announcement.
    Announce {
        /// SSRC the publish's datagrams carry.
        ssrc: u32,
        /// The publish's media key, with which every one of its datagrams is authenticated.
        key: MediaKey,
        /// First sequence number (48-bit) this edge should expect and may repair.
        first_seq: u64,
        /// The stream's name, start time and the metadata and sequence headers a player needs first.
        announcement: Announcement,
    },
    /// The stream ended; `last_seq` is its final packet (the in-band end of stream), so an edge
    /// finishes repairing the tail before it closes the stream.
    End {
        /// SSRC of the stream that ended.
        ssrc: u32,
        /// Sequence number (48-bit) of the stream's last packet, the in-band end of stream.
        last_seq: u64,
    },
    /// A retransmitted relay datagram, byte for byte as first sent.
    Repair(Bytes),
    /// The packet asked for was sent but has left the retransmit cache; the edge gives up on it and
    /// may resume at `next_keyframe`.
    Evicted {
        /// SSRC of the stream asked about.
        ssrc: u32,
        /// The sequence number (48-bit) asked for.
        seq: u64,
        /// First packet of the oldest keyframe still cached after `seq`, where the edge can resume;
        /// `None` when no later keyframe is cached (`u64::MAX` on the wire).
        next_keyframe: Option<u64>,
    },
    /// The packet asked for lies beyond the newest packet the cloud has sent (or cached) for the
    /// stream: nothing to repeat yet.
    NotSent {
        /// SSRC of the stream asked about.
        ssrc: u32,
        /// The sequence number (48-bit) asked for.
        seq: u64,
    },
    /// The cloud has no live publish with this SSRC (ended, or never announced); the whole request
    /// is answered with this one message.
    UnknownStream {
        /// SSRC the request named.
        ssrc: u32,
    },
    /// The request `id` was not answered: the edge is over its answer budget. It asks again
    /// later, as for a lost answer.
    Throttled {
        /// SSRC of the throttled request.
        ssrc: u32,
        /// The [`NackRequest::id`] of the throttled request.
        id: u32,
    },
}

mod tag {
    pub const HELLO: u8 = 0x01;
    pub const NACK: u8 = 0x02;
    pub const VIEWERS: u8 = 0x03;
    pub const WELCOME: u8 = 0x81;
    pub const REFUSED: u8 = 0x82;
    pub const ANNOUNCE: u8 = 0x83;
    pub const END: u8 = 0x84;
    pub const REPAIR: u8 = 0x85;
    pub const EVICTED: u8 = 0x86;
    pub const NOT_SENT: u8 = 0x87;
    pub const UNKNOWN_STREAM: u8 = 0x88;
    pub const THROTTLED: u8 = 0x89;
}

fn bad(what: &'static str) -> ProtoError {
    ProtoError::BadRepairMessage(what)
}

fn put_text(out: &mut BytesMut, text: &str) {
    let text = &text.as_bytes()[..text.len().min(MAX_TEXT_LEN)];
    out.put_u16(text.len() as u16);
    out.put_slice(text);
}

fn get_text(body: &mut Bytes) -> Result<String, ProtoError> {
    if body.remaining() < 2 {
        return Err(bad("text length missing"));
    }
    let len = body.get_u16() as usize;
    if len > MAX_TEXT_LEN || body.remaining() < len {
        return Err(bad("text runs past the end"));
    }
    String::from_utf8(body.split_to(len).to_vec()).map_err(|_| bad("text is not UTF-8"))
}

fn get_seq(body: &mut Bytes) -> Result<u64, ProtoError> {
    if body.remaining() < 8 {
        return Err(bad("sequence number missing"));
    }
    let seq = body.get_u64();
    if seq > SEQUENCE_MASK {
        return Err(bad("sequence number beyond 48 bits"));
    }
    Ok(seq)
}

fn get_u32(body: &mut Bytes) -> Result<u32, ProtoError> {
    if body.remaining() < 4 {
        return Err(bad("field missing"));
    }
    Ok(body.get_u32())
}

fn finish<T>(body: Bytes, value: T) -> Result<T, ProtoError> {
    if body.has_remaining() {
        return Err(bad("trailing bytes"));
    }
    Ok(value)
}

impl EdgeMessage {
    /// The message's wire form: type byte and body, without the stream length prefix (see
    /// [`frame`]). Texts longer than 1024 bytes, ranges beyond [`MAX_NACK_RANGES`] and viewer
    /// counts beyond [`MAX_VIEWER_REPORT`] are cut off.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            EdgeMessage::Hello {
                version,
                token,
                edge_name,
            } => {
                out.put_u8(tag::HELLO);
                out.put_u16(*version);
                put_text(&mut out, token);
                put_text(&mut out, edge_name);
            }
            EdgeMessage::Nack(request) => {
                out.put_u8(tag::NACK);
                out.put_u32(request.ssrc);
                out.put_u32(request.id);
                out.put_u8(request.copies);
                let ranges = &request.ranges[..request.ranges.len().min(MAX_NACK_RANGES)];
                out.put_u8(ranges.len() as u8);
                for range in ranges {
                    out.put_u64(range.base & SEQUENCE_MASK);
                    out.put_u64(range.bitmap);
                }
            }
            EdgeMessage::Viewers(counts) => {
                out.put_u8(tag::VIEWERS);
                let counts = &counts[..counts.len().min(MAX_VIEWER_REPORT)];
                out.put_u16(counts.len() as u16);
                for count in counts {
                    out.put_u32(count.ssrc);
                    out.put_u32(count.players);
                }
            }
        }
        out.freeze()
    }

    /// Parses one message (type byte and body, no length prefix).
    ///
    /// Fails with [`ProtoError::BadRepairMessage`] on an empty or unknown message, a truncated
    /// field, text that is not UTF-8 or longer than 1024 bytes, a sequence number beyond 48 bits, a
    /// NACK asking for 0 or more than [`MAX_COPIES`] copies or with 0 or more than
    /// [`MAX_NACK_RANGES`] ranges, an oversized viewer report, or trailing bytes.
    pub fn decode(mut body: Bytes) -> Result<Self, ProtoError> {
        if !body.has_remaining() {
            return Err(bad("empty message"));
        }
        match body.get_u8() {
            tag::HELLO => {
                if body.remaining() < 2 {
                    return Err(bad("hello too short"));
                }
                let version = body.get_u16();
                let token = get_text(&mut body)?;
                let edge_name = get_text(&mut body)?;
                finish(
                    body,
                    EdgeMessage::Hello {
                        version,
                        token,
                        edge_name,
                    },
                )
            }
            tag::NACK => {
                if body.remaining() < 10 {
                    return Err(bad("NACK too short"));
                }
                let ssrc = body.get_u32();
                let id = body.get_u32();
                let copies = body.get_u8();
                if copies == 0 || copies > MAX_COPIES {
                    return Err(bad("NACK asks for 0 or too many copies"));
                }
                let count = body.get_u8() as usize;
                if count == 0 || count > MAX_NACK_RANGES {
                    return Err(bad("NACK with no or too many ranges"));
                }
                let mut ranges = Vec::with_capacity(count);
                for _ in 0..count {
                    let base = get_seq(&mut body)?;
                    if body.remaining() < 8 {
                        return Err(bad("NACK bitmap missing"));
                    }
                    ranges.push(NackRange {
                        base,
                        bitmap: body.get_u64(),
                    });
                }
                finish(
                    body,
                    EdgeMessage::Nack(NackRequest {
                        ssrc,
                        id,
                        copies,
                        ranges,
                    }),
                )
            }
            tag::VIEWERS => {
                if body.remaining() < 2 {
                    return Err(bad("viewer report too short"));
                }
                let count = body.get_u16() as usize;
                if count > MAX_VIEWER_REPORT || body.remaining() < count * 8 {
                    return Err(bad("viewer report count does not match its length"));
                }
                let counts = (0..count)
                    .map(|_| ViewerCount {
                        ssrc: body.get_u32(),
                        players: body.get_u32(),
                    })
                    .collect();
                finish(body, EdgeMessage::Viewers(counts))
            }
            _ => Err(bad("unknown edge message type")),
        }
    }
}

impl CloudMessage {
    /// The message's wire form: type byte and body, without the stream length prefix (see
    /// [`frame`]). A repair answer is the type byte followed by the datagram unchanged.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            CloudMessage::Welcome { version } => {
                out.put_u8(tag::WELCOME);
                out.put_u16(*version);
            }
            CloudMessage::Refused { reason } => {
                out.put_u8(tag::REFUSED);
                put_text(&mut out, reason);
            }
            CloudMessage::Announce {
                ssrc,
                key,
                first_seq,
                announcement,
            } => {
                out.put_u8(tag::ANNOUNCE);
                out.put_u32(*ssrc);
                out.put_slice(key.as_bytes());
                out.put_u64(*first_seq & SEQUENCE_MASK);
                out.put_slice(&announcement.encode());
            }
            CloudMessage::End { ssrc, last_seq } => {
                out.put_u8(tag::END);
                out.put_u32(*ssrc);
                out.put_u64(*last_seq & SEQUENCE_MASK);
            }
            CloudMessage::Repair(datagram) => {
                out.reserve(1 + datagram.len());
                out.put_u8(tag::REPAIR);
                out.put_slice(datagram);
            }
            CloudMessage::Evicted {
                ssrc,
                seq,
                next_keyframe,
            } => {
                out.put_u8(tag::EVICTED);
                out.put_u32(*ssrc);
                out.put_u64(*seq);
                out.put_u64(next_keyframe.map_or(u64::MAX, |k| k & SEQUENCE_MASK));
            }
            CloudMessage::NotSent { ssrc, seq } => {
                out.put_u8(tag::NOT_SENT);
                out.put_u32(*ssrc);
                out.put_u64(*seq);
            }
            CloudMessage::UnknownStream { ssrc } => {
                out.put_u8(tag::UNKNOWN_STREAM);
                out.put_u32(*ssrc);
            }
            CloudMessage::Throttled { ssrc, id } => {
                out.put_u8(tag::THROTTLED);
                out.put_u32(*ssrc);
                out.put_u32(*id);
            }
        }
        out.freeze()
    }

    /// Parses one message (type byte and body, no length prefix).
    ///
    /// Fails with [`ProtoError::BadRepairMessage`] on an empty or unknown message, a truncated
    /// field, bad text, a sequence number beyond 48 bits or trailing bytes; an announcement that
    /// does not decode fails with its own error. A repair answer's datagram is not checked here.
    pub fn decode(mut body: Bytes) -> Result<Self, ProtoError> {
        if !body.has_remaining() {
            return Err(bad("empty message"));
        }
        match body.get_u8() {
            tag::WELCOME => {
                if body.remaining() < 2 {
                    return Err(bad("welcome too short"));
                }
                let version = body.get_u16();
                finish(body, CloudMessage::Welcome { version })
            }
            tag::REFUSED => {
                let reason = get_text(&mut body)?;
                finish(body, CloudMessage::Refused { reason })
            }
            tag::ANNOUNCE => {
                let ssrc = get_u32(&mut body)?;
                if body.remaining() < MEDIA_KEY_LEN {
                    return Err(bad("announcement key missing"));
                }
                let mut raw = [0u8; MEDIA_KEY_LEN];
                body.copy_to_slice(&mut raw);
                let first_seq = get_seq(&mut body)?;
                let announcement = Announcement::decode(body)?;
                Ok(CloudMessage::Announce {
                    ssrc,
                    key: MediaKey::from_bytes(raw),
                    first_seq,
                    announcement,
                })
            }
            tag::END => {
                let ssrc = get_u32(&mut body)?;
                let last_seq = get_seq(&mut body)?;
                finish(body, CloudMessage::End { ssrc, last_seq })
            }
            tag::REPAIR => Ok(CloudMessage::Repair(body)),
            tag::EVICTED => {
                let ssrc = get_u32(&mut body)?;
                let seq = get_seq(&mut body)?;
                if body.remaining() < 8 {
                    return Err(bad("evicted answer too short"));
                }
                let next = body.get_u64();
                let next_keyframe = (next != u64::MAX).then_some(next & SEQUENCE_MASK);
                finish(
                    body,
                    CloudMessage::Evicted {
                        ssrc,
                        seq,
                        next_keyframe,
                    },
                )
            }
            tag::NOT_SENT => {
                let ssrc = get_u32(&mut body)?;
                let seq = get_seq(&mut body)?;
                finish(body, CloudMessage::NotSent { ssrc, seq })
            }
            tag::UNKNOWN_STREAM => {
                let ssrc = get_u32(&mut body)?;
                finish(body, CloudMessage::UnknownStream { ssrc })
            }
            tag::THROTTLED => {
                let ssrc = get_u32(&mut body)?;
                let id = get_u32(&mut body)?;
                finish(body, CloudMessage::Throttled { ssrc, id })
            }
            _ => Err(bad("unknown cloud message type")),
        }
    }
}

/// Splits length-prefixed frames off a control-stream buffer.
pub fn take_frame(buffer: &mut BytesMut) -> Result<Option<Bytes>, ProtoError> {
    if buffer.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
    if len == 0 || len > MAX_FRAME_LEN {
        return Err(bad("frame length out of range"));
    }
    if buffer.len() < 4 + len {
        return Ok(None);
    }
    buffer.advance(4);
    Ok(Some(buffer.split_to(len).freeze()))
}

/// Prefixes a message with its length for a control stream.
pub fn frame(message: Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + message.len());
    out.put_u32(message.len() as u32);
    out.put_slice(&message);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_across_the_48_bit_wrap_name_wire_numbers() {
        let top = SEQUENCE_MASK;
        let ranges = NackRange::pack(&[top, top + 1, top + 3]);
        let named: Vec<u64> = ranges[0].seqs().collect();
        assert_eq!(named, [top, 0, 2]);
    }

    #[test]
    fn pack_and_expand_ranges() {
        let seqs = [10, 11, 12, 74, 75, 200];
        let ranges = NackRange::pack(&seqs);
        assert_eq!(ranges.len(), 3);
        let expanded: Vec<u64> = ranges
            .iter()
            .flat_map(|r| r.seqs().collect::<Vec<_>>())
            .collect();
        assert_eq!(expanded, seqs);
        let request = NackRequest {
            ssrc: 1,
            id: 1,
            copies: 1,
            ranges,
        };
        assert_eq!(request.packets(), seqs.len() as u64);
    }

    #[test]
    fn messages_round_trip_and_truncations_fail() {
        let edge = [
            EdgeMessage::Hello {
                version: 1,
                token: "secret".into(),
                edge_name: "edge-1".into(),
            },
            EdgeMessage::Nack(NackRequest {
                ssrc: 9,
                id: 7,
                copies: 2,
                ranges: NackRange::pack(&[5, 6, 90]),
            }),
            EdgeMessage::Viewers(vec![
                ViewerCount {
                    ssrc: 9,
                    players: 3,
                },
                ViewerCount {
                    ssrc: u32::MAX,
                    players: 0,
                },
            ]),
        ];
        for message in edge {
            let bytes = message.encode();
            assert_eq!(EdgeMessage::decode(bytes.clone()).unwrap(), message);
            for cut in 0..bytes.len() {
                assert!(
                    EdgeMessage::decode(bytes.slice(..cut)).is_err(),
                    "{message:?} cut {cut}"
                );
            }
        }
        let cloud = [
            CloudMessage::Welcome { version: 1 },
            CloudMessage::Refused {
                reason: "bad token".into(),
            },
            CloudMessage::End {
                ssrc: 3,
                last_seq: 99,
            },
            CloudMessage::Evicted {
                ssrc: 3,
                seq: 77,
                next_keyframe: Some(90),
            },
            CloudMessage::Evicted {
                ssrc: 3,
                seq: 77,
                next_keyframe: None,
            },
            CloudMessage::NotSent {
                ssrc: 3,
                seq: 1 << 47,
            },
            CloudMessage::UnknownStream { ssrc: 4 },
            CloudMessage::Throttled { ssrc: 4, id: 9 },
            CloudMessage::Announce {
                ssrc: 5,
                key: MediaKey::from_bytes([0xa5; MEDIA_KEY_LEN]),
                first_seq: SEQUENCE_MASK,
                announcement: Announcement {
                    stream: "live/a".into(),
                    epoch: 1_700_000_000_000,
                    config_tags: Vec::new(),
                },
            },
        ];
        for message in cloud {
            let bytes = message.encode();
            assert_eq!(CloudMessage::decode(bytes.clone()).unwrap(), message);
            for cut in 0..bytes.len() {
                assert!(
                    CloudMessage::decode(bytes.slice(..cut)).is_err(),
                    "{message:?} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn bogus_requests_are_refused() {
        let nack = |copies: u8, count: u8, base: u64| {
            let mut out = BytesMut::new();
            out.put_u8(tag::NACK);
            out.put_u32(1);
            out.put_u32(0);
            out.put_u8(copies);
            out.put_u8(count);
            for _ in 0..count {
                out.put_u64(base);
                out.put_u64(0);
            }
            EdgeMessage::decode(out.freeze())
        };
        assert!(nack(1, 1, 5).is_ok());
        assert!(nack(0, 1, 5).is_err());
        assert!(nack(9, 1, 5).is_err());
        assert!(nack(1, 0, 5).is_err());
        assert!(nack(1, 65, 5).is_err());
        assert!(nack(1, 1, 1 << 48).is_err());
        assert!(EdgeMessage::decode(Bytes::from_static(&[0x7f])).is_err());
        let mut buffer = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0][..]);
        assert!(take_frame(&mut buffer).is_err());
    }

    #[test]
    fn frames_split_a_stream() {
        let mut buffer = BytesMut::new();
        buffer.extend_from_slice(&frame(Bytes::from_static(b"ab")));
        buffer.extend_from_slice(&frame(Bytes::from_static(b"cde"))[..3]);
        assert_eq!(
            take_frame(&mut buffer).unwrap(),
            Some(Bytes::from_static(b"ab"))
        );
        assert_eq!(take_frame(&mut buffer).unwrap(), None);
    }
}
