//! Cutting messages into packets.

use crate::auth::MediaKey;
use crate::packet::{MessageKind, Packet, PacketHeader, DATAGRAM_OVERHEAD};
use crate::{Announcement, ProtoError, SEQUENCE_MASK};
use bytes::Bytes;
use flv::Tag;

/// Largest datagram the cloud sends unless configured otherwise: fits a 1500-byte Ethernet MTU
/// with room for IP, UDP and tunnel headers.
pub const DEFAULT_MAX_DATAGRAM: usize = 1400;

/// What a sender puts on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An FLV tag, with its type, timestamp and body.
    Tag(Tag),
    /// The stream's announcement, sent in-band so receivers learn the stream name and set-up.
    Announce(Announcement),
    /// The publisher stopped: one empty end-of-stream packet.
    End,
}

/// Cuts messages of one publish into packets with consecutive sequence numbers.
///
/// Fragments are slices of the message body: a tag body is never copied here. Every packet is
/// signed with the publish's key.
#[derive(Debug, Clone)]
pub struct Packetizer {
    ssrc: u32,
    key: MediaKey,
    next_seq: u64,
    max_payload: usize,
    last_timestamp: u32,
    sent_any: bool,
}

impl Packetizer {
    /// `first_seq` should be random (RFC 3550 §5.1); it is taken modulo 2^48. `max_datagram`
    /// counts the headers and the authentication tag.
    pub fn new(
        ssrc: u32,
        first_seq: u64,
        max_datagram: usize,
        key: MediaKey,
    ) -> Result<Self, ProtoError> {
        if max_datagram <= DATAGRAM_OVERHEAD {
            return Err(ProtoError::DatagramTooSmall(max_datagram));
        }
        Ok(Packetizer {
            ssrc,
            key,
            next_seq: first_seq & SEQUENCE_MASK,
            sent_any: false,
            max_payload: max_datagram - DATAGRAM_OVERHEAD,
            last_timestamp: 0,
        })
    }

    /// SSRC every packet of this publish carries.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The key every packet is signed with.
    pub fn key(&self) -> &MediaKey {
        &self.key
    }

    /// The sequence number the next packet will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// A sync packet naming the newest packet sent, if any was (see [`MessageKind::Sync`]).
    pub fn sync(&self) -> Option<Packet> {
        if !self.sent_any {
            return None;
        }
        let newest = self.next_seq.wrapping_sub(1) & SEQUENCE_MASK;
        Some(Packet::signed(
            PacketHeader {
                ssrc: self.ssrc,
                seq: newest,
                timestamp: self.last_timestamp,
                kind: MessageKind::Sync,
                tag_type: 0,
                start: true,
                end: true,
                keyframe: false,
                config: false,
                fragment_index: 0,
                message_len: 0,
            },
            Bytes::new(),
            &self.key,
        ))
    }

    /// Appends the packets of `message` to `out`. Control messages take the last tag's timestamp.
    pub fn packetize(
        &mut self,
        message: &Message,
        out: &mut Vec<Packet>,
    ) -> Result<(), ProtoError> {
        let encoded;
        let (kind, tag_type, keyframe, config, body) = match message {
            Message::Tag(tag) => {
                self.last_timestamp = tag.timestamp;
                let config = tag.is_sequence_header() || tag.is_metadata();
                (
                    MessageKind::Tag,
                    tag.tag_type as u8,
                    tag.is_keyframe(),
                    config,
                    &tag.body,
                )
            }
            Message::Announce(announcement) => {
                encoded = announcement.encode();
                (MessageKind::Announce, 0, false, false, &encoded)
            }
            Message::End => {
                encoded = Bytes::new();
                (MessageKind::End, 0, false, false, &encoded)
            }
        };
        let fragments = body.len().div_ceil(self.max_payload).max(1);
        if fragments > 1 << 16 {
            return Err(ProtoError::MessageTooLarge(body.len()));
        }
        out.reserve(fragments);
        for index in 0..fragments {
            let from = index * self.max_payload;
            let to = (from + self.max_payload).min(body.len());
            out.push(Packet::signed(
                PacketHeader {
                    ssrc: self.ssrc,
                    seq: self.next_seq,
                    timestamp: self.last_timestamp,
                    kind,
                    tag_type,
                    start: index == 0,
                    end: index + 1 == fragments,
                    keyframe,
                    config,
                    fragment_index: index as u16,
                    message_len: body.len() as u32,
                },
                body.slice(from..to),
                &self.key,
            ));
            self.next_seq = (self.next_seq + 1) & SEQUENCE_MASK;
            self.sent_any = true;
        }
        Ok(())
    }
}
