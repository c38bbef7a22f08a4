//! The sans-IO core of liverelay: FLV tags in RTP over UDP.
//!
//! Nothing here owns a socket or reads a clock. [`Packetizer`] turns messages into packets;
//! [`Reassembler`] takes packets with the time they arrived and gives back whole messages, the
//! gaps it gave up on, and when it next needs to be woken. The cloud and edge binaries drive them.
//!
//! # Wire format
//!
//! Every datagram is one RTP packet (RFC 3550 §5.1): the RTP header, a 12-byte payload header, a
//! slice of one *message*, and a 16-byte authentication tag. A message is an FLV tag body, a
//! stream announcement or an end of stream. All integers are big-endian.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P=0|X=0|CC=0 |M|  PT = 96    |   sequence number (low 16)    |  RTP header
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  (RFC 3550 §5.1)
//! |                timestamp (FLV DTS, 1 kHz clock)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                             SSRC                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |S|E|K|C|kind |v|   tag type    |        fragment index         |  payload header
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     message length (bytes)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              sequence number, bits 16..47 (high)              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    message bytes (fragment)                 ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! |        authentication tag (16 bytes), RFC 3711 §3.1 place     |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! - **M** (marker) is set on the last packet of a message, and equals **E**.
//! - **PT** is 96, from the dynamic range (RFC 3551 §3).
//! - **SSRC** is random per publish (RFC 3550 §8), so a republish or a restarted cloud never
//!   continues an old stream's sequence space. A receiver keys all state by SSRC.
//! - The **timestamp** is the FLV decoding timestamp in milliseconds: the RTP clock rate is
//!   1000 Hz. Announcements and end-of-stream messages carry the last tag's timestamp.
//! - The **sequence number** is 48 bits: the RTP field holds bits 0..15 and the payload header
//!   bits 16..47. A receiver that joins at any point knows the full number from one packet, so
//!   repair requests can name packets without first agreeing on a rollover counter. 48 bits last
//!   nine years at a million packets per second.
//! - Payload header byte 0: **S** (0x80) first packet of a message, **E** (0x40) last packet,
//!   **K** (0x20) the message is a video keyframe tag, **C** (0x10) the message is a decoder
//!   configuration tag (sequence header) or `onMetaData`, **kind** in bits 3..2
//!   (0 FLV tag, 1 announcement, 2 end of stream, 3 sync), **v** in bits 1..0 (version, 0).
//! - **tag type** is the FLV tag type (8 audio, 9 video, 18 script) for kind 0, else 0.
//! - **fragment index** counts the packets of the message from 0, so the first packet of any
//!   message is at `sequence − fragment index`; a message has at most 65536 fragments.
//! - **message length** is the length of the whole message, the same in every fragment.
//! - Fragments fill each datagram up to the sender's largest datagram (1400 bytes by default,
//!   headers and tag included), so every packet but the last of a message is full.
//! - The **authentication tag** is the first 16 bytes of HMAC-SHA-256 (RFC 2104, FIPS 180-4),
//!   keyed with the publish's 32-byte media key, over every byte of the datagram before the tag
//!   (RTP header, payload header, fragment). The key is random per publish and is sent to edges
//!   only over the authenticated repair connection ([`CloudMessage::Announce`]). A receiver
//!   looks up the key by SSRC, checks the tag before parsing anything else, then refuses a
//!   sequence number it has seen or one more than 4096 behind the newest ([`ReplayWindow`],
//!   RFC 3711 §3.3.2). A datagram of an SSRC it has no key for is dropped without a trace: names,
//!   epochs and streams are learned only from the cloud.
//!
//! A message is whole when the packets from an S packet to the next E packet are all present with
//! consecutive sequence numbers and fragment indexes, and their bytes add up to the length.
//!
//! ## Announcement body (kind 1)
//!
//! ```text
//! u8  version (1)
//! u64 epoch: wall-clock ms since the Unix epoch when the publish started
//! u16 name length, then the stream name in UTF-8 ("app/name")
//! u8  number of configuration tags, then for each:
//!     u8 FLV tag type, u32 timestamp, u32 body length, body
//! ```
//!
//! The cloud sends one when a publish starts, before every video keyframe, and at least once a
//! second, carrying the stream's current `onMetaData` and sequence headers. An edge that joins
//! mid-stream (or restarts) therefore learns the stream's name and can start a player on the very
//! next keyframe with everything a decoder needs. The (SSRC, epoch) pair names one publish.
//!
//! ## End of stream (kind 2)
//!
//! An empty message: the publisher has stopped. Edges end their players' responses.
//!
//! ## Sync (kind 3)
//!
//! Not a message and not numbered: a single empty packet (S and E set, length 0) whose sequence
//! number is the newest packet the sender has sent. The sender sends one after 5 ms without
//! sending anything, so a receiver learns at once that a packet nothing followed (the last audio
//! tag before a pause, the tail of a frame) was lost, and can ask for it.
//!
//! ## Repair
//!
//! Lost packets are fetched from the sender over a separate QUIC connection; its messages are
//! described in the `repair` module ([`EdgeMessage`], [`CloudMessage`]). A repaired packet is
//! the original datagram, byte for byte, tag included.
//!
//! ## Joining a stream
//!
//! An edge starts serving a stream when the repair connection announces it: SSRC, key, the
//! sequence number to expect first, name and epoch. Datagrams that raced ahead of that
//! announcement were dropped for want of a key; the receiver treats everything from the first
//! expected number as due ([`Receiver::start_at`]) and asks for what it missed.

#![warn(missing_docs)]

mod announcement;
mod auth;
mod cache;
mod error;
mod histogram;
mod jitter;
mod packet;
mod packetizer;
mod publication;
mod reassembler;
mod receiver;
mod repair;
mod replay;
mod responder;
mod rtt;
mod seq;

pub use announcement::{is_valid_stream_name, Announcement};
pub use auth::{AuthTag, MediaKey, AUTH_TAG_LEN, MEDIA_KEY_LEN};
pub use cache::{Lookup, RetransmitCache};
pub use error::ProtoError;
pub use histogram::{LatencyHistogram, LATENCY_BUCKETS_MS};
pub use jitter::JitterEstimator;
pub use packet::{
    MessageKind, Packet, PacketHeader, DATAGRAM_OVERHEAD, HEADER_LEN, PAYLOAD_HEADER_LEN,
    RTP_HEADER_LEN,
};
pub use packetizer::{Message, Packetizer, DEFAULT_MAX_DATAGRAM};
pub use publication::{Publication, ANNOUNCE_INTERVAL, SYNC_AFTER};
pub use reassembler::{
    Fragments, PushOutcome, Reassembled, ReassembledBody, Reassembler, ReassemblerConfig,
    ReassemblerEvent, ReassemblerStats,
};
pub use receiver::{Receiver, ReceiverConfig, RecoveryStats, Source, MAX_RTT_DEADLINE};
pub use repair::{
    frame, take_frame, CloudMessage, EdgeMessage, NackRange, NackRequest, ViewerCount, MAX_COPIES,
    MAX_FRAME_LEN, MAX_NACK_RANGES, MAX_VIEWER_REPORT, REPAIR_ALPN, REPAIR_VERSION,
};
pub use replay::{Replay, ReplayWindow, REPLAY_WINDOW};
pub use responder::{AnswerBudget, Answered, RepairResponder};
pub use rtt::RttEstimator;

/// The RTP payload type of relay packets (dynamic range, RFC 3551 §3).
pub const PAYLOAD_TYPE: u8 = 96;
/// Sequence numbers on the wire are 48 bits wide.
pub const SEQUENCE_MASK: u64 = (1 << 48) - 1;
