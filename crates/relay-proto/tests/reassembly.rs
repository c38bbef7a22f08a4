//! End-to-end tests of the sans-IO core:
//! `Packetizer` -> `Packet::to_datagram` -> `Packet::parse` -> `Reassembler`.
//!
//! Time is virtual: every receiver has a base instant `t0` and packets arrive at `t0 + k ms`.
//! Randomness is seeded (`StdRng::seed_from_u64`), so every run sees the same inputs.

use bytes::Bytes;
use flv::{Tag, TagType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relay_proto::{
    Announcement, MediaKey, Message, MessageKind, Packet, PacketHeader, Packetizer, ProtoError,
    PushOutcome, Reassembled, ReassembledBody, Reassembler, ReassemblerConfig, ReassemblerEvent,
    ReassemblerStats, AUTH_TAG_LEN, DATAGRAM_OVERHEAD, DEFAULT_MAX_DATAGRAM, HEADER_LEN,
    PAYLOAD_TYPE, SEQUENCE_MASK,
};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SSRC: u32 = 0x5eed_cafe;

/// The key every test packet is signed with (the reassembler never checks it).
fn key() -> MediaKey {
    MediaKey::from_bytes([0x5e; 32])
}
const OTHER_SSRC: u32 = 0x0bad_f00d;
/// Payload bytes per packet at the default datagram size: 1400 - 24.
const PAYLOAD: usize = DEFAULT_MAX_DATAGRAM - DATAGRAM_OVERHEAD;
const DEADLINE: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------------
// Building messages
// ---------------------------------------------------------------------------------------------

/// Deterministic, position-dependent filler bytes (xorshift64), different for every seed.
fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `prefix` followed by filler, cut to exactly `len` bytes.
fn body_with_prefix(prefix: &[u8], len: usize, seed: u64) -> Bytes {
    let mut body = filler(len, seed);
    let n = prefix.len().min(len);
    body[..n].copy_from_slice(&prefix[..n]);
    Bytes::from(body)
}

/// An AVC video tag: a keyframe (FrameType 1) or an inter frame (FrameType 2), NALU packet type.
fn video(timestamp: u32, len: usize, keyframe: bool) -> Message {
    let first = if keyframe { 0x17 } else { 0x27 };
    let body = body_with_prefix(&[first, 0x01], len, u64::from(timestamp) ^ len as u64);
    Message::Tag(Tag::new(TagType::Video, timestamp, body))
}

/// A raw AAC audio tag.
fn audio(timestamp: u32, len: usize) -> Message {
    let body = body_with_prefix(&[0xaf, 0x01], len, u64::from(timestamp) << 20 ^ len as u64);
    Message::Tag(Tag::new(TagType::Audio, timestamp, body))
}

/// A script tag that is not `onMetaData`.
fn script(timestamp: u32, len: usize) -> Message {
    let body = body_with_prefix(
        &[0x02, 0x00, 0x04],
        len,
        u64::from(timestamp) << 40 ^ len as u64,
    );
    Message::Tag(Tag::new(TagType::Script, timestamp, body))
}

fn metadata_tag(len: usize) -> Tag {
    let mut prefix = vec![0x02, 0x00, 0x0a];
    prefix.extend_from_slice(b"onMetaData");
    prefix.push(0x08);
    Tag::new(
        TagType::Script,
        0,
        body_with_prefix(&prefix, len.max(14), 7),
    )
}

fn avc_sequence_header(len: usize) -> Tag {
    Tag::new(
        TagType::Video,
        0,
        body_with_prefix(&[0x17, 0x00, 0, 0, 0, 0x01, 0x64], len, 11),
    )
}

fn aac_sequence_header() -> Tag {
    Tag::new(
        TagType::Audio,
        0,
        Bytes::from_static(&[0xaf, 0x00, 0x11, 0x90]),
    )
}

fn announcement(config_len: usize) -> Announcement {
    Announcement {
        stream: "live/cam-1.main".into(),
        epoch: 1_700_000_000_123,
        config_tags: vec![
            metadata_tag(300),
            avc_sequence_header(config_len),
            aac_sequence_header(),
        ],
    }
}

/// One tag of `len` bytes whose type cycles with `i`: video keyframe, audio, script, video inter.
fn cycling_tag(i: usize, timestamp: u32, len: usize) -> Message {
    match i % 4 {
        0 => video(timestamp, len, true),
        1 => audio(timestamp, len),
        2 => script(timestamp, len),
        _ => video(timestamp, len, false),
    }
}

/// A plausible stream: an announcement, mostly small audio and video of 1..=6 packets, a keyframe
/// every 25 tags preceded by an announcement, metadata now and then, and an end of stream.
fn mixed_stream(seed: u64, count: usize) -> Vec<Message> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = vec![Message::Announce(announcement(40))];
    for i in 0..count {
        let ts = 20 * i as u32;
        let message = match rng.random_range(0..10) {
            _ if i % 25 == 0 => {
                out.push(Message::Announce(announcement(40)));
                video(ts, rng.random_range(3 * PAYLOAD..6 * PAYLOAD), true)
            }
            0..=3 => audio(ts, rng.random_range(1..400)),
            4..=8 => video(ts, rng.random_range(1..3 * PAYLOAD), false),
            _ => Message::Tag(metadata_tag(rng.random_range(14..2 * PAYLOAD))),
        };
        out.push(message);
    }
    out.push(Message::End);
    out
}

fn message_body(message: &Message) -> Bytes {
    match message {
        Message::Tag(tag) => tag.body.clone(),
        Message::Announce(announcement) => announcement.encode(),
        Message::End => Bytes::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// What was sent: the message, the wire sequence number of its first packet, how many packets,
/// the timestamp its packets carry, and the indexes of its packets in the sender's packet list.
#[derive(Debug, Clone)]
struct Sent {
    message: Message,
    first_seq: u64,
    packets: std::ops::Range<usize>,
    timestamp: u32,
}

/// A packetizer plus the bookkeeping a test needs, checking the packet layout of every message.
struct Sender {
    packetizer: Packetizer,
    max_payload: usize,
    last_timestamp: u32,
    packets: Vec<Packet>,
    sent: Vec<Sent>,
}

impl Sender {
    fn new(ssrc: u32, first_seq: u64, max_datagram: usize) -> Self {
        let packetizer =
            Packetizer::new(ssrc, first_seq, max_datagram, key()).expect("valid datagram size");
        assert_eq!(packetizer.ssrc(), ssrc);
        assert_eq!(packetizer.next_seq(), first_seq & SEQUENCE_MASK);
        Sender {
            packetizer,
            max_payload: max_datagram - DATAGRAM_OVERHEAD,
            last_timestamp: 0,
            packets: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Packetizes `message`, checks its packets against the wire format, and returns their range.
    fn send(&mut self, message: Message) -> std::ops::Range<usize> {
        let first_seq = self.packetizer.next_seq();
        let from = self.packets.len();
        self.packetizer
            .packetize(&message, &mut self.packets)
            .expect("packetize");
        let packets = from..self.packets.len();
        if let Message::Tag(tag) = &message {
            self.last_timestamp = tag.timestamp;
        }
        let body = message_body(&message);
        let expected_count = body.len().div_ceil(self.max_payload).max(1);
        assert_eq!(
            packets.len(),
            expected_count,
            "packet count for {} bytes",
            body.len()
        );
        assert_eq!(
            self.packetizer.next_seq(),
            (first_seq + expected_count as u64) & SEQUENCE_MASK
        );
        let (kind, tag_type, keyframe, config) = expected_header_fields(&message);
        let mut joined = Vec::with_capacity(body.len());
        for (i, packet) in self.packets[packets.clone()].iter().enumerate() {
            let h = &packet.header;
            let last = i + 1 == expected_count;
            assert_eq!(h.ssrc, self.packetizer.ssrc());
            assert_eq!(h.seq, (first_seq + i as u64) & SEQUENCE_MASK);
            assert_eq!(h.timestamp, self.last_timestamp);
            assert_eq!(
                (h.kind, h.tag_type, h.keyframe, h.config),
                (kind, tag_type, keyframe, config)
            );
            assert_eq!((h.start, h.end), (i == 0, last));
            assert_eq!(h.fragment_index as usize, i);
            assert_eq!(h.message_len as usize, body.len());
            if !last {
                assert_eq!(
                    packet.payload.len(),
                    self.max_payload,
                    "every packet but the last is full"
                );
            }
            joined.extend_from_slice(&packet.payload);
        }
        assert_eq!(joined, body, "fragments concatenate to the message");
        self.sent.push(Sent {
            message,
            first_seq,
            packets: packets.clone(),
            timestamp: self.last_timestamp,
        });
        packets
    }

    fn send_all(&mut self, messages: impl IntoIterator<Item = Message>) {
        for message in messages {
            self.send(message);
        }
    }
}

/// (kind, tag type, keyframe, config) as the wire should carry them, from the FLV classification.
fn expected_header_fields(message: &Message) -> (MessageKind, u8, bool, bool) {
    match message {
        Message::Tag(tag) => (
            MessageKind::Tag,
            tag.tag_type as u8,
            tag.is_keyframe(),
            tag.is_sequence_header() || tag.is_metadata(),
        ),
        Message::Announce(_) => (MessageKind::Announce, 0, false, false),
        Message::End => (MessageKind::End, 0, false, false),
    }
}

/// The wire sequence number of the sender's `i`th packet.
fn seq_of(sender: &Sender, i: usize) -> u64 {
    sender.packets[i].header.seq
}

/// Serializes a packet and parses it back, as a UDP hop would.
fn over_the_wire(packet: &Packet, max_datagram: usize) -> Packet {
    let datagram = packet.to_datagram();
    assert_eq!(datagram.len(), DATAGRAM_OVERHEAD + packet.payload.len());
    assert!(
        datagram.len() <= max_datagram,
        "datagram of {} bytes",
        datagram.len()
    );
    let parsed = Packet::parse(datagram).expect("a packetizer's datagram parses");
    assert_eq!(&parsed, packet, "parse(to_datagram(p)) == p");
    parsed
}

// ---------------------------------------------------------------------------------------------
// Receiving
// ---------------------------------------------------------------------------------------------

/// A reassembler driven in virtual time.
struct Harness {
    rx: Reassembler,
    t0: Instant,
    /// Virtual ms of the last delivery.
    clock: u64,
    /// What the last push reported.
    outcome: PushOutcome,
}

impl Harness {
    fn new(config: ReassemblerConfig) -> Self {
        Harness {
            rx: Reassembler::new(SSRC, config),
            t0: Instant::now(),
            clock: 0,
            outcome: PushOutcome::default(),
        }
    }

    fn with_defaults() -> Self {
        Self::new(ReassemblerConfig::default())
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Delivers `packet` (through serialization) at virtual time `ms`; returns the new events.
    fn push_at(&mut self, ms: u64, packet: &Packet) -> Vec<ReassemblerEvent> {
        assert!(ms >= self.clock, "virtual time never goes back");
        self.clock = ms;
        let packet = over_the_wire(packet, usize::MAX);
        self.outcome = self.rx.push(self.at(ms), packet);
        self.events()
    }

    /// Delivers `packet` one ms after the previous delivery.
    fn push(&mut self, packet: &Packet) -> Vec<ReassemblerEvent> {
        self.push_at(self.clock + 1, packet)
    }

    fn push_all<'a>(
        &mut self,
        packets: impl IntoIterator<Item = &'a Packet>,
    ) -> Vec<ReassemblerEvent> {
        packets.into_iter().flat_map(|p| self.push(p)).collect()
    }

    fn timeout_at(&mut self, now: Instant) -> Vec<ReassemblerEvent> {
        self.rx.handle_timeout(now);
        self.events()
    }

    fn events(&mut self) -> Vec<ReassemblerEvent> {
        std::iter::from_fn(|| self.rx.poll_event()).collect()
    }

    fn stats(&self) -> ReassemblerStats {
        self.rx.stats()
    }
}

/// Checks one reassembled message against what was sent, field by field and byte for byte.
fn assert_reassembled(got: &Reassembled, sent: &Sent) {
    assert_eq!(got.ssrc, SSRC);
    assert_eq!(
        got.first_seq & SEQUENCE_MASK,
        sent.first_seq,
        "first_seq (mod 2^48)"
    );
    assert_eq!(got.timestamp, sent.timestamp, "timestamp");
    match (&sent.message, &got.body) {
        (
            Message::Tag(tag),
            ReassembledBody::Tag {
                tag_type,
                keyframe,
                config,
                fragments,
            },
        ) => {
            assert_eq!(*tag_type, tag.tag_type);
            assert_eq!(*keyframe, tag.is_keyframe(), "keyframe flag");
            assert_eq!(
                *config,
                tag.is_sequence_header() || tag.is_metadata(),
                "config flag"
            );
            assert_eq!(fragments.len(), tag.body.len());
            assert_eq!(fragments.is_empty(), tag.body.is_empty());
            assert_eq!(
                fragments.parts().len(),
                sent.packets.len(),
                "one part per packet"
            );
            assert_eq!(
                fragments.parts().iter().map(Bytes::len).sum::<usize>(),
                tag.body.len()
            );
            assert!(
                fragments.to_bytes() == tag.body,
                "body bytes of a {} byte tag",
                tag.body.len()
            );
        }
        (Message::Announce(expected), ReassembledBody::Announce(got)) => assert_eq!(got, expected),
        (Message::End, ReassembledBody::End) => {}
        (sent, got) => panic!("sent {sent:?}, reassembled {got:?}"),
    }
}

/// The events are exactly the sent messages, in order, with no gap.
fn assert_delivered(events: &[ReassemblerEvent], sent: &[Sent]) {
    let gaps: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, ReassemblerEvent::Gap { .. }))
        .collect();
    assert!(gaps.is_empty(), "unexpected gaps: {gaps:?}");
    assert_eq!(events.len(), sent.len(), "number of messages");
    for (event, sent) in events.iter().zip(sent) {
        let ReassemblerEvent::Message(got) = event else {
            unreachable!()
        };
        assert_reassembled(got, sent);
    }
}

fn assert_message(event: &ReassemblerEvent, sent: &Sent) {
    match event {
        ReassemblerEvent::Message(got) => assert_reassembled(got, sent),
        other => panic!("expected message at seq {}, got {other:?}", sent.first_seq),
    }
}

/// Stats of a run where every packet arrived exactly once and nothing was lost.
fn clean_stats(packets: usize, messages: usize) -> ReassemblerStats {
    ReassemblerStats {
        packets: packets as u64,
        messages: messages as u64,
        ..ReassemblerStats::default()
    }
}

/// Delivers every message's packets in order and checks that each message comes out exactly when
/// its last packet arrives, never earlier.
fn deliver_in_order_checking_each(sender: &Sender, rx: &mut Harness) {
    for sent in &sender.sent {
        let packets = &sender.packets[sent.packets.clone()];
        let (last, init) = packets.split_last().unwrap();
        for packet in init {
            assert_eq!(rx.push(packet), vec![], "emitted before its last packet");
        }
        let events = rx.push(last);
        assert_eq!(events.len(), 1, "exactly one message per last packet");
        assert_message(&events[0], sent);
        assert_eq!(rx.rx.poll_timeout(), None);
    }
}

/// Sorts packet indexes by `index + random(0..window)`, keeping packet 0 first (the reassembler
/// starts its sequence space at the first packet it sees).
fn shuffled_order(len: usize, window: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut keyed: Vec<(usize, usize)> = (0..len)
        .map(|i| {
            (
                if i == 0 {
                    0
                } else {
                    i + rng.random_range(0..window)
                },
                i,
            )
        })
        .collect();
    keyed.sort();
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    assert_eq!(order[0], 0);
    order
}

/// Runs `f` on another thread and fails (instead of hanging the suite) if it takes over 10 s.
fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within 10 s: infinite loop"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the worker thread panicked"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Round trips of every size
// ---------------------------------------------------------------------------------------------

#[test]
fn tags_from_empty_to_over_a_megabyte_round_trip() {
    let sizes = [
        0,
        1,
        2,
        PAYLOAD - 1,
        PAYLOAD,
        PAYLOAD + 1,
        2 * PAYLOAD,
        2 * PAYLOAD + 1,
        65_535,
        1_048_576 + 17,
    ];
    let mut sender = Sender::new(SSRC, 1_000, DEFAULT_MAX_DATAGRAM);
    for (i, &len) in sizes.iter().enumerate() {
        sender.send(cycling_tag(i, 1_000 + 33 * i as u32, len));
    }
    let counts: Vec<usize> = sender.sent.iter().map(|s| s.packets.len()).collect();
    // 1360 payload bytes a datagram: 1400 less the 24 header and 16 tag bytes.
    assert_eq!(counts, [1, 1, 1, 1, 1, 2, 2, 3, 49, 772]);
    for packet in &sender.packets {
        let len = packet.to_datagram().len();
        assert!(
            len == DEFAULT_MAX_DATAGRAM || packet.header.end,
            "short non-final datagram"
        );
    }
    let mut rx = Harness::with_defaults();
    deliver_in_order_checking_each(&sender, &mut rx);
    assert_eq!(rx.stats(), clean_stats(sender.packets.len(), sizes.len()));
}

#[test]
fn every_fragment_boundary_with_tiny_datagrams() {
    for max_payload in 1..=16usize {
        let max_datagram = DATAGRAM_OVERHEAD + max_payload;
        let mut sender = Sender::new(SSRC, 77 * max_payload as u64, max_datagram);
        for len in 0..=200usize {
            sender.send(cycling_tag(len, len as u32, len));
        }
        for packet in &sender.packets {
            over_the_wire(packet, max_datagram);
        }
        let mut rx = Harness::with_defaults();
        deliver_in_order_checking_each(&sender, &mut rx);
        let expected_packets: usize = (0..=200usize)
            .map(|len| len.div_ceil(max_payload).max(1))
            .sum();
        assert_eq!(
            sender.packets.len(),
            expected_packets,
            "max payload {max_payload}"
        );
        assert_eq!(rx.stats(), clean_stats(expected_packets, 201));
    }
}

#[test]
fn flags_follow_flv_classification_and_header_bytes_match_the_spec() {
    let cases: [(Tag, bool, bool); 8] = [
        (avc_sequence_header(40), false, true),
        (
            Tag::new(
                TagType::Video,
                5,
                Bytes::from_static(&[0x17, 0x01, 0, 0, 0, 0x65]),
            ),
            true,
            false,
        ),
        (
            Tag::new(
                TagType::Video,
                6,
                Bytes::from_static(&[0x27, 0x01, 0, 0, 0, 0x41]),
            ),
            false,
            false,
        ),
        (
            Tag::new(
                TagType::Video,
                7,
                Bytes::from_static(b"\x91hvc1\x00\x00\x00\x00"),
            ),
            true,
            false,
        ),
        (aac_sequence_header(), false, true),
        (
            Tag::new(TagType::Audio, 8, Bytes::from_static(&[0xaf, 0x01, 0x21])),
            false,
            false,
        ),
        (metadata_tag(100), false, true),
        (
            Tag::new(
                TagType::Script,
                9,
                Bytes::from_static(b"\x02\x00\x04onCuePoint"),
            ),
            false,
            false,
        ),
    ];
    let mut sender = Sender::new(SSRC, 0, DEFAULT_MAX_DATAGRAM);
    for (tag, keyframe, config) in &cases {
        let range = sender.send(Message::Tag(tag.clone()));
        let h = sender.packets[range.start].header;
        assert_eq!((h.keyframe, h.config), (*keyframe, *config), "{tag:?}");
    }
    let mut rx = Harness::with_defaults();
    let events = rx.push_all(&sender.packets);
    assert_delivered(&events, &sender.sent);
    for (event, (_, keyframe, config)) in events.iter().zip(&cases) {
        let ReassemblerEvent::Message(Reassembled {
            body:
                ReassembledBody::Tag {
                    keyframe: k,
                    config: c,
                    ..
                },
            ..
        }) = event
        else {
            panic!("{event:?}")
        };
        assert_eq!((k, c), (keyframe, config));
    }

    // The 24 header bytes, laid out by hand from the diagram in the crate docs.
    let header = PacketHeader {
        ssrc: 0xdead_beef,
        seq: 0x1234_5678_9abc,
        timestamp: 0x0102_0304,
        kind: MessageKind::Tag,
        tag_type: 9,
        start: true,
        end: true,
        keyframe: true,
        config: false,
        fragment_index: 0,
        message_len: 3,
    };
    let datagram = Packet::signed(header, Bytes::from_static(b"xyz"), &key()).to_datagram();
    assert!(
        key().verify(&datagram),
        "the tag covers everything before it"
    );
    assert_eq!(
        &key().tag(&[&datagram[..datagram.len() - AUTH_TAG_LEN]])[..],
        &datagram[datagram.len() - AUTH_TAG_LEN..],
        "the tag is the last 16 bytes"
    );
    assert_eq!(
        &datagram[..datagram.len() - AUTH_TAG_LEN],
        &[
            0x80,
            0x80 | PAYLOAD_TYPE,
            0x9a,
            0xbc, // V=2, M, PT 96, seq low 16
            0x01,
            0x02,
            0x03,
            0x04, // timestamp
            0xde,
            0xad,
            0xbe,
            0xef, // SSRC
            0x80 | 0x40 | 0x20,
            9,
            0x00,
            0x00, // S E K, kind 0, v 0; tag type; fragment index
            0x00,
            0x00,
            0x00,
            0x03, // message length
            0x12,
            0x34,
            0x56,
            0x78, // seq bits 16..47
            b'x',
            b'y',
            b'z',
        ][..]
    );
    let control = PacketHeader {
        kind: MessageKind::End,
        tag_type: 0,
        keyframe: false,
        config: true,
        start: true,
        end: false,
        ..header
    }
    .encode();
    assert_eq!(control[1], PAYLOAD_TYPE, "no marker without the end flag");
    assert_eq!(control[12], 0x80 | 0x10 | (2 << 2), "S, C, kind 2");
}

#[test]
fn packetizer_limits() {
    assert_eq!(
        Packetizer::new(SSRC, 0, DATAGRAM_OVERHEAD, key()).unwrap_err(),
        ProtoError::DatagramTooSmall(DATAGRAM_OVERHEAD)
    );
    assert_eq!(
        Packetizer::new(SSRC, 0, 0, key()).unwrap_err(),
        ProtoError::DatagramTooSmall(0)
    );

    // One payload byte per packet: 65536 fragments is the most a message may have.
    let mut sender = Sender::new(SSRC, SEQUENCE_MASK - 100, DATAGRAM_OVERHEAD + 1);
    let mut out = Vec::new();
    let too_large = audio(0, (1 << 16) + 1);
    assert_eq!(
        sender.packetizer.packetize(&too_large, &mut out),
        Err(ProtoError::MessageTooLarge((1 << 16) + 1))
    );
    assert!(out.is_empty());
    assert_eq!(
        sender.packetizer.next_seq(),
        SEQUENCE_MASK - 100,
        "nothing consumed"
    );

    let range = sender.send(video(1, 1 << 16, true));
    assert_eq!(range.len(), 1 << 16);
    assert_eq!(
        sender.packets.last().unwrap().header.fragment_index,
        u16::MAX
    );
    sender.send(audio(2, 3));
    // A window as large as the message lets it through (the default window is smaller; see
    // `message_larger_than_the_window_is_not_dropped_silently`).
    let mut rx = Harness::new(ReassemblerConfig {
        window: 1 << 16,
        ..ReassemblerConfig::default()
    });
    deliver_in_order_checking_each(&sender, &mut rx);
    assert_eq!(rx.stats(), clean_stats((1 << 16) + 3, 2));
}

// ---------------------------------------------------------------------------------------------
// 2. Sequence wrap
// ---------------------------------------------------------------------------------------------

/// Sends multi-packet messages whose packets straddle `first_seq`'s wrap, delivers them in
/// order and with neighbours swapped, and checks the wire bits of the sequence numbers.
fn check_wrap(first_seq: u64) {
    let mut sender = Sender::new(SSRC, first_seq, DEFAULT_MAX_DATAGRAM);
    let messages = (0..12).map(|i| cycling_tag(i, 40 * i as u32, 1 + (i * 1_777) % (4 * PAYLOAD)));
    sender.send_all(messages);
    let n = sender.packets.len() as u64;
    for (i, packet) in sender.packets.iter().enumerate() {
        let seq = (first_seq + i as u64) & SEQUENCE_MASK;
        let datagram = packet.to_datagram();
        assert_eq!(u16::from_be_bytes([datagram[2], datagram[3]]), seq as u16);
        let high = u32::from_be_bytes(datagram[20..24].try_into().unwrap());
        assert_eq!(u64::from(high), seq >> 16);
    }
    let wraps_16 = (first_seq & 0xffff) + n > 0x1_0000;
    let wraps_48 = (first_seq & SEQUENCE_MASK) + n > SEQUENCE_MASK + 1;
    assert!(wraps_16, "the test must cross a 16-bit boundary");

    let mut rx = Harness::with_defaults();
    deliver_in_order_checking_each(&sender, &mut rx);
    assert_eq!(rx.stats(), clean_stats(n as usize, 12));

    // Swap neighbours (1,2), (3,4), ...: every packet after the wrap that is swapped forward
    // arrives before its predecessor.
    let mut order: Vec<usize> = (0..sender.packets.len()).collect();
    for pair in order[1..].chunks_mut(2) {
        pair.reverse();
    }
    let mut rx = Harness::with_defaults();
    let events = rx.push_all(order.iter().map(|&i| &sender.packets[i]));
    assert_delivered(&events, &sender.sent);
    assert_eq!(rx.stats(), clean_stats(n as usize, 12));
    if wraps_48 {
        let after = sender
            .sent
            .iter()
            .position(|s| s.first_seq < first_seq)
            .unwrap();
        assert!(
            after > 0 && after < 12,
            "messages on both sides of the 48-bit wrap"
        );
    }
}

#[test]
fn sequence_wraps_at_16_bits() {
    check_wrap(0xffff - 5);
    check_wrap(0x7_0000_ffff - 2);
}

#[test]
fn sequence_wraps_at_48_bits() {
    check_wrap(SEQUENCE_MASK - 5);
    check_wrap(SEQUENCE_MASK);
}

#[test]
fn first_seq_is_taken_modulo_2_48() {
    let packetizer = Packetizer::new(SSRC, (1 << 48) + 7, DEFAULT_MAX_DATAGRAM, key()).unwrap();
    assert_eq!(packetizer.next_seq(), 7);
    let packetizer = Packetizer::new(SSRC, u64::MAX, DEFAULT_MAX_DATAGRAM, key()).unwrap();
    assert_eq!(packetizer.next_seq(), SEQUENCE_MASK);
    let mut sender = Sender::new(SSRC, u64::MAX, DEFAULT_MAX_DATAGRAM);
    sender.send(video(0, 3 * PAYLOAD, true));
    let seqs: Vec<u64> = sender.packets.iter().map(|p| p.header.seq).collect();
    assert_eq!(seqs, [SEQUENCE_MASK, 0, 1]);
}

// ---------------------------------------------------------------------------------------------
// 3. Reordering
// ---------------------------------------------------------------------------------------------

#[test]
fn reordering_within_a_window_loses_nothing() {
    for seed in [1, 2, 3, 0xfeed] {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sender = Sender::new(SSRC, rng.random(), DEFAULT_MAX_DATAGRAM);
        sender.send_all(mixed_stream(seed, 150));
        let order = shuffled_order(sender.packets.len(), 16, &mut rng);
        assert!(
            order.windows(2).filter(|w| w[0] > w[1]).count() > sender.packets.len() / 4,
            "the shuffle must actually reorder"
        );
        let mut rx = Harness::with_defaults();
        let events = rx.push_all(order.iter().map(|&i| &sender.packets[i]));
        assert_delivered(&events, &sender.sent);
        assert_eq!(
            rx.stats(),
            clean_stats(sender.packets.len(), sender.sent.len())
        );
        assert_eq!(rx.rx.poll_timeout(), None);
        assert_eq!(rx.timeout_at(rx.at(rx.clock + 10_000)), vec![]);
    }
}

#[test]
fn message_is_emitted_exactly_when_its_missing_fragment_arrives() {
    let mut sender = Sender::new(SSRC, 500, DEFAULT_MAX_DATAGRAM);
    sender.send(audio(0, 100));
    let video_packets = sender.send(video(10, 5 * PAYLOAD, true));
    sender.send(audio(20, 100));
    let mut rx = Harness::with_defaults();
    let events = rx.push(&sender.packets[0]);
    assert_message(&events[0], &sender.sent[0]);
    // The video tag's fragments backwards, then the following audio: nothing until fragment 0.
    for i in video_packets.clone().skip(1).rev() {
        assert_eq!(rx.push(&sender.packets[i]), vec![]);
        let expected = if i + 1 == video_packets.end {
            PushOutcome {
                new_holes: Some((seq_of(&sender, 1), seq_of(&sender, 4))),
                filled_hole: false,
                seq: Some(seq_of(&sender, 5)),
            }
        } else {
            PushOutcome {
                new_holes: None,
                filled_hole: true,
                seq: Some(seq_of(&sender, i)),
            }
        };
        assert_eq!(rx.outcome, expected);
    }
    assert_eq!(rx.push(&sender.packets[video_packets.end]), vec![]);
    // The hole at fragment 0 is due since the last packet before it (the audio, at 1 ms).
    assert_eq!(rx.rx.poll_timeout(), Some(rx.at(1) + DEADLINE));
    let events = rx.push(&sender.packets[video_packets.start]);
    assert_delivered(&events, &sender.sent[1..]);
    assert_eq!(rx.rx.poll_timeout(), None);
    assert_eq!(rx.stats(), clean_stats(7, 3));
}

// ---------------------------------------------------------------------------------------------
// 4. Duplicates
// ---------------------------------------------------------------------------------------------

/// Delivers packets by index in `order` (with repeats). A repeat is late when its message has
/// already been emitted, else a duplicate; checks both counters exactly.
fn check_duplicates(sender: &Sender, order: &[usize]) {
    let mut rx = Harness::with_defaults();
    let mut seen = vec![false; sender.packets.len()];
    let mut emitted = 0; // messages emitted so far
    let mut emitted_end = 0; // packet index after the last emitted message
    let (mut duplicates, mut late) = (0, 0);
    let mut events = Vec::new();
    for &i in order {
        if seen[i] {
            if i < emitted_end {
                late += 1;
            } else {
                duplicates += 1;
            }
        }
        seen[i] = true;
        for event in rx.push(&sender.packets[i]) {
            assert!(matches!(event, ReassemblerEvent::Message(_)), "{event:?}");
            emitted_end = sender.sent[emitted].packets.end;
            emitted += 1;
            events.push(event);
        }
    }
    assert!(seen.iter().all(|&s| s));
    assert_delivered(&events, &sender.sent);
    let extra = order.len() - sender.packets.len();
    assert_eq!(duplicates + late, extra);
    assert!(
        duplicates > 0 && late > 0,
        "both kinds of repeat are exercised"
    );
    let stats = rx.stats();
    assert_eq!(
        (stats.duplicates, stats.late),
        (duplicates as u64, late as u64)
    );
    assert_eq!(stats.duplicates + stats.late, extra as u64);
    assert_eq!(stats.packets, order.len() as u64);
    assert_eq!(stats.messages, sender.sent.len() as u64);
    assert_eq!((stats.discarded, stats.lost, stats.malformed), (0, 0, 0));
}

#[test]
fn every_packet_twice_and_some_three_times() {
    let mut sender = Sender::new(SSRC, 0xfff0, DEFAULT_MAX_DATAGRAM);
    sender.send_all(mixed_stream(9, 60));
    let mut order = Vec::new();
    for i in 0..sender.packets.len() {
        order.extend([i, i]);
        if i % 7 == 6 {
            order.push(i - 5); // a third copy, interleaved with later packets
        }
    }
    check_duplicates(&sender, &order);
}

#[test]
fn duplicates_mixed_with_reordering() {
    for seed in [4, 5, 6] {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sender = Sender::new(SSRC, rng.random(), DEFAULT_MAX_DATAGRAM);
        sender.send_all(mixed_stream(seed, 80));
        let mut order = shuffled_order(sender.packets.len(), 12, &mut rng);
        // Insert 1..=2 extra copies of a third of the packets a few positions later.
        for _ in 0..sender.packets.len() / 3 {
            let from = rng.random_range(0..order.len());
            let copy = order[from];
            for _ in 0..rng.random_range(1..=2) {
                let to = (from + rng.random_range(1..40)).min(order.len());
                order.insert(to, copy);
            }
        }
        check_duplicates(&sender, &order);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Loss
// ---------------------------------------------------------------------------------------------

/// audio, a 5-packet video keyframe, audio, a 2-packet video frame, audio.
fn loss_scenario() -> (Sender, std::ops::Range<usize>) {
    let mut sender = Sender::new(SSRC, 0xffff - 3, DEFAULT_MAX_DATAGRAM);
    sender.send(audio(0, 300));
    let broken = sender.send(video(40, 5 * PAYLOAD - 100, true));
    sender.send(audio(45, 200));
    sender.send(video(80, PAYLOAD + 9, false));
    sender.send(audio(90, 1));
    (sender, broken)
}

#[test]
fn lost_fragment_drops_its_tag_after_the_deadline_only() {
    for dropped_fragment in 0..5 {
        let (sender, broken) = loss_scenario();
        let dropped = broken.start + dropped_fragment;
        let mut rx = Harness::with_defaults();
        let mut events = Vec::new();
        // Packet i arrives at ms i + 1.
        for (i, packet) in sender.packets.iter().enumerate() {
            if i != dropped {
                events.extend(rx.push_at(i as u64 + 1, packet));
            }
            if i == dropped + 1 {
                let seq = seq_of(&sender, dropped);
                assert_eq!(rx.outcome.new_holes, Some((seq, seq)));
            }
        }
        assert_delivered(&events, &sender.sent[..1]);
        // The hole is due since the packet before it arrived (packet `dropped - 1`, at ms
        // `dropped`), not since the packet that revealed it.
        let deadline = rx.at(dropped as u64) + DEADLINE;
        assert_eq!(
            rx.rx.poll_timeout(),
            Some(deadline),
            "fragment {dropped_fragment}"
        );

        assert_eq!(rx.timeout_at(deadline - Duration::from_nanos(1)), vec![]);
        assert_eq!(rx.rx.poll_timeout(), Some(deadline));
        let events = rx.timeout_at(deadline);
        assert_eq!(events[0], ReassemblerEvent::Gap { lost: 1 });
        assert_eq!(events.len(), 4);
        for (event, sent) in events[1..].iter().zip(&sender.sent[2..]) {
            assert_message(event, sent);
        }
        assert_eq!(rx.rx.poll_timeout(), None);
        assert_eq!(
            rx.stats(),
            ReassemblerStats {
                packets: sender.packets.len() as u64 - 1,
                discarded: 4,
                lost: 1,
                messages: 4,
                ..ReassemblerStats::default()
            }
        );

        // The lost fragment turning up afterwards changes nothing.
        assert_eq!(
            rx.push_at(
                deadline.duration_since(rx.t0).as_millis() as u64 + 1,
                &sender.packets[dropped]
            ),
            vec![]
        );
        assert_eq!(rx.outcome, PushOutcome::default());
        assert_eq!(rx.stats().late, 1);
        assert_eq!(rx.stats().messages, 4);
    }
}

#[test]
fn successive_holes_expire_in_turn() {
    let (sender, broken) = loss_scenario();
    let second_video = sender.sent[3].packets.clone();
    let drops = [broken.start + 2, second_video.start];
    let mut rx = Harness::with_defaults();
    for (i, packet) in sender.packets.iter().enumerate() {
        if !drops.contains(&i) {
            rx.push_at(i as u64 + 1, packet);
        }
    }
    let first_deadline = rx.at(drops[0] as u64) + DEADLINE;
    let second_deadline = rx.at(drops[1] as u64) + DEADLINE;
    assert_eq!(rx.rx.poll_timeout(), Some(first_deadline));
    let events = rx.timeout_at(first_deadline);
    assert_eq!(events[0], ReassemblerEvent::Gap { lost: 1 });
    assert_eq!(events.len(), 2);
    assert_message(&events[1], &sender.sent[2]);
    assert_eq!(rx.rx.poll_timeout(), Some(second_deadline));
    let events = rx.timeout_at(second_deadline);
    assert_eq!(events[0], ReassemblerEvent::Gap { lost: 1 });
    assert_eq!(events.len(), 2);
    assert_message(&events[1], &sender.sent[4]);
    let stats = rx.stats();
    assert_eq!((stats.lost, stats.discarded, stats.messages), (2, 4 + 1, 3));
}

#[test]
fn holes_that_expire_together_make_one_gap() {
    let (sender, broken) = loss_scenario();
    // Fragments 1 and 3 of the keyframe: one message, two holes.
    let drops = [broken.start + 1, broken.start + 3];
    let mut rx = Harness::with_defaults();
    for (i, packet) in sender.packets.iter().enumerate() {
        if !drops.contains(&i) {
            rx.push_at(i as u64 + 1, packet);
        }
    }
    let late_enough = rx.at(1_000);
    let events = rx.timeout_at(late_enough);
    assert_eq!(events[0], ReassemblerEvent::Gap { lost: 2 });
    assert_delivered(&events[1..], &sender.sent[2..]);
    assert_eq!(rx.stats().discarded, 3);
}

#[test]
fn lost_tail_is_due_from_the_last_arrival() {
    // A lost last fragment is unknown until a later packet reveals it. It is then due since the
    // last packet before it arrived: after a silence longer than the deadline it goes at once.
    for revealed_at in [10, 70_000] {
        let mut sender = Sender::new(SSRC, 10, DEFAULT_MAX_DATAGRAM);
        let frame = sender.send(video(0, 3 * PAYLOAD, true));
        sender.send(audio(5, 10));
        let mut rx = Harness::with_defaults();
        rx.push_at(1, &sender.packets[0]);
        rx.push_at(2, &sender.packets[1]);
        assert_eq!(
            rx.rx.poll_timeout(),
            None,
            "nothing known missing: no timer"
        );
        assert_eq!(rx.timeout_at(rx.at(5)), vec![]);
        let deadline = rx.at(2) + DEADLINE;
        let mut events = rx.push_at(revealed_at, &sender.packets[frame.end]);
        let tail = seq_of(&sender, frame.end - 1);
        assert_eq!(rx.outcome.new_holes, Some((tail, tail)));
        if rx.at(revealed_at) < deadline {
            assert_eq!(events, vec![]);
            assert_eq!(rx.rx.poll_timeout(), Some(deadline));
            assert_eq!(rx.timeout_at(deadline - Duration::from_nanos(1)), vec![]);
            events = rx.timeout_at(deadline);
        }
        assert_eq!(events[0], ReassemblerEvent::Gap { lost: 1 });
        assert_delivered(&events[1..], &sender.sent[1..]);
        let stats = rx.stats();
        assert_eq!((stats.lost, stats.discarded, stats.messages), (1, 2, 1));
    }
}

#[test]
fn expected_tail_and_abandoned_hole() {
    let mut sender = Sender::new(SSRC, 10, DEFAULT_MAX_DATAGRAM);
    sender.send(video(0, 3 * PAYLOAD, true));
    sender.send(audio(5, 10));
    sender.send(audio(6, 10));
    let seq = |i: usize| seq_of(&sender, i);
    let mut rx = Harness::with_defaults();
    rx.push_at(1, &sender.packets[0]);
    rx.push_at(2, &sender.packets[1]);
    // The caller decides by time that the tail is due: a hole, due since the last arrival.
    assert_eq!(
        rx.rx.expect_through(rx.at(20), seq(2)),
        Some((seq(2), seq(2)))
    );
    assert_eq!(
        rx.rx.expect_through(rx.at(21), seq(2)),
        None,
        "already known"
    );
    assert_eq!(rx.rx.highest_seq(), Some(seq(2)));
    assert_eq!(rx.rx.next_seq(), Some(seq(0)));
    assert_eq!(rx.rx.poll_timeout(), Some(rx.at(2) + DEADLINE));
    assert_eq!(rx.events(), vec![]);
    // The sender cannot repair it: given up at once, before the deadline.
    rx.rx.abandon(rx.at(30), seq(2));
    assert_eq!(rx.events(), vec![ReassemblerEvent::Gap { lost: 1 }]);
    assert_eq!(rx.rx.next_seq(), Some(seq(3)));
    assert_eq!(rx.rx.poll_timeout(), None);
    // Abandoning what is not a hole (behind, or not yet seen) changes nothing.
    rx.rx.abandon(rx.at(31), seq(1));
    rx.rx.abandon(rx.at(31), seq(4));
    assert_eq!(rx.events(), vec![]);
    let mut events = rx.push_at(40, &sender.packets[3]);
    events.extend(rx.push_at(41, &sender.packets[4]));
    assert_delivered(&events, &sender.sent[1..]);
    let stats = rx.stats();
    assert_eq!((stats.lost, stats.discarded, stats.messages), (1, 2, 2));
}

#[test]
fn hole_is_due_from_the_arrival_of_the_highest_packet_before_it() {
    let mut sender = Sender::new(SSRC, 0xfffe, DEFAULT_MAX_DATAGRAM);
    sender.send_all((0..5).map(|i| audio(i, 10))); // one packet each
    let mut rx = Harness::with_defaults();
    let mut events = rx.push_at(1, &sender.packets[0]);
    events.extend(rx.push_at(2, &sender.packets[2]));
    assert_eq!(rx.rx.poll_timeout(), Some(rx.at(1) + DEADLINE));
    // The reordered packet 1 fills its hole; it is older than packet 2, so it does not move
    // the due time of holes found later.
    events.extend(rx.push_at(3, &sender.packets[1]));
    assert!(rx.outcome.filled_hole);
    events.extend(rx.push_at(4, &sender.packets[4]));
    assert_eq!(rx.rx.poll_timeout(), Some(rx.at(2) + DEADLINE));
    assert_delivered(&events, &sender.sent[..3]);
    let events = rx.timeout_at(rx.at(2) + DEADLINE);
    assert_eq!(events[0], ReassemblerEvent::Gap { lost: 1 });
    assert_delivered(&events[1..], &sender.sent[4..]);
}

#[test]
fn hole_filled_just_before_the_deadline_gives_no_gap() {
    let (sender, broken) = loss_scenario();
    let held = broken.start + 2;
    let mut rx = Harness::with_defaults();
    let mut events = Vec::new();
    for (i, packet) in sender.packets.iter().enumerate() {
        if i != held {
            events.extend(rx.push_at(i as u64 + 1, packet));
        }
    }
    let deadline = rx.rx.poll_timeout().unwrap();
    assert_eq!(deadline, rx.at(held as u64) + DEADLINE);
    events.extend(rx.timeout_at(deadline - Duration::from_millis(1)));
    let just_before = (deadline - Duration::from_millis(1))
        .duration_since(rx.t0)
        .as_millis() as u64;
    events.extend(rx.push_at(just_before, &sender.packets[held]));
    assert!(rx.outcome.filled_hole);
    assert_eq!(rx.outcome.seq, Some(seq_of(&sender, held)));
    assert_delivered(&events, &sender.sent);
    assert_eq!(
        rx.stats(),
        clean_stats(sender.packets.len(), sender.sent.len())
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Announcements and end of stream
// ---------------------------------------------------------------------------------------------

#[test]
fn announcement_and_end_round_trip() {
    let big = announcement(3 * PAYLOAD); // a multi-packet announcement
    let empty = Announcement {
        stream: "app_2/X".into(),
        epoch: u64::MAX,
        config_tags: Vec::new(),
    };
    let mut sender = Sender::new(SSRC, 0xffff, DEFAULT_MAX_DATAGRAM);
    sender.send(Message::Announce(big.clone()));
    sender.send(Message::Tag(metadata_tag(200)));
    sender.send(video(1_234, 2 * PAYLOAD, true));
    sender.send(audio(1_240, 50));
    sender.send(Message::Announce(big.clone()));
    sender.send(Message::Announce(empty.clone()));
    sender.send(Message::End);
    assert!(sender.sent[0].packets.len() >= 4);
    let timestamps: Vec<u32> = sender.sent.iter().map(|s| s.timestamp).collect();
    assert_eq!(timestamps, [0, 0, 1_234, 1_240, 1_240, 1_240, 1_240]);
    let end = &sender.packets[sender.sent[6].packets.start];
    assert_eq!(end.header.message_len, 0);
    assert!(end.payload.is_empty() && end.header.start && end.header.end);
    assert_eq!(end.to_datagram().len(), DATAGRAM_OVERHEAD);

    let mut rx = Harness::with_defaults();
    deliver_in_order_checking_each(&sender, &mut rx);
    // And in a reordered delivery, byte-exact again.
    let mut rx = Harness::with_defaults();
    let order = shuffled_order(sender.packets.len(), 6, &mut StdRng::seed_from_u64(6));
    let events = rx.push_all(order.iter().map(|&i| &sender.packets[i]));
    assert_delivered(&events, &sender.sent);
    let ReassemblerEvent::Message(Reassembled {
        body: ReassembledBody::Announce(got),
        ..
    }) = &events[0]
    else {
        panic!("{:?}", events[0])
    };
    assert_eq!(got.config_tags.len(), 3);
    assert_eq!(got.config_tags[1].body.len(), 3 * PAYLOAD);
    assert!(got.config_tags[1].is_sequence_header() && got.config_tags[0].is_metadata());
}

#[test]
fn undecodable_announcement_is_counted_not_emitted() {
    let mut sender = Sender::new(SSRC, 0, DEFAULT_MAX_DATAGRAM);
    sender.send(audio(0, 10));
    sender.send(Message::Announce(Announcement {
        stream: "not a stream name".into(),
        epoch: 1,
        config_tags: Vec::new(),
    }));
    sender.send(audio(20, 10));
    let mut rx = Harness::with_defaults();
    let events = rx.push_all(&sender.packets);
    assert_eq!(events.len(), 2);
    assert_message(&events[0], &sender.sent[0]);
    assert_message(&events[1], &sender.sent[2]);
    assert_eq!(rx.stats().malformed, 1);
    assert_eq!(rx.stats().messages, 2);
}

// ---------------------------------------------------------------------------------------------
// 7. Garbage
// ---------------------------------------------------------------------------------------------

/// An independent reading of the wire format: does `d` describe a valid packet?
fn spec_says_valid(d: &[u8]) -> bool {
    if d.len() < DATAGRAM_OVERHEAD {
        return false;
    }
    let flags = d[12];
    let kind = (flags >> 2) & 0x03;
    let marker = d[1] & 0x80 != 0;
    let (start, end) = (flags & 0x80 != 0, flags & 0x40 != 0);
    let index = u16::from_be_bytes([d[14], d[15]]);
    let len = u32::from_be_bytes(d[16..20].try_into().unwrap()) as usize;
    let payload = d.len() - DATAGRAM_OVERHEAD;
    d[0] == 0x80
        && d[1] & 0x7f == PAYLOAD_TYPE
        && flags & 0x03 == 0
        && marker == end
        && start == (index == 0)
        && match kind {
            0 => matches!(d[13], 8 | 9 | 18),
            // Sync: "a single empty packet (S and E set, length 0)".
            3 => d[13] == 0 && start && end && len == 0,
            _ => d[13] == 0,
        }
        && payload <= len
        && (payload > 0 || len == 0)
}

/// Random bytes, half of them nudged towards a valid header so that every check is reached.
fn random_datagram(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(0..64);
    let mut d = vec![0u8; len];
    rng.fill(&mut d[..]);
    if len >= DATAGRAM_OVERHEAD && rng.random_bool(0.5) {
        d[0] = if rng.random_bool(0.9) { 0x80 } else { d[0] };
        d[1] = (d[1] & 0x80)
            | if rng.random_bool(0.9) {
                PAYLOAD_TYPE
            } else {
                d[1] & 0x7f
            };
        let start = rng.random_bool(0.5);
        let end = if rng.random_bool(0.9) {
            d[1] & 0x80 != 0
        } else {
            rng.random()
        };
        let kind = rng.random_range(0..4u8);
        let version = if rng.random_bool(0.9) {
            0
        } else {
            rng.random_range(0..4)
        };
        d[12] = u8::from(start) << 7 | u8::from(end) << 6 | (d[12] & 0x30) | kind << 2 | version;
        d[13] = *[0, 8, 9, 18, d[13]].get(rng.random_range(0..5)).unwrap();
        let index: u16 = if start == rng.random_bool(0.9) {
            0
        } else {
            rng.random()
        };
        d[14..16].copy_from_slice(&index.to_be_bytes());
        let message_len = ((len - DATAGRAM_OVERHEAD) as u32 + rng.random_range(0..3))
            .wrapping_sub(u32::from(rng.random_bool(0.2)));
        d[16..20].copy_from_slice(&message_len.to_be_bytes());
    }
    d
}

#[test]
fn parse_agrees_with_the_spec_on_random_datagrams() {
    let mut rng = StdRng::seed_from_u64(0x6a7b);
    let mut rx = Harness::with_defaults();
    let (mut ok, mut err) = (0, 0);
    for _ in 0..50_000 {
        let d = random_datagram(&mut rng);
        let valid = spec_says_valid(&d);
        match Packet::parse(Bytes::from(d.clone())) {
            Ok(packet) => {
                assert!(valid, "parse accepted an invalid datagram {d:02x?}");
                assert_eq!(&packet.to_datagram()[..], &d[..], "re-encoding is exact");
                assert_eq!(&packet.payload[..], &d[HEADER_LEN..d.len() - AUTH_TAG_LEN]);
                // Most have a random SSRC and are ignored; some are ours.
                let mut packet = packet;
                if rng.random_bool(0.5) {
                    packet.header.ssrc = SSRC;
                }
                rx.rx.push(rx.at(ok), packet);
                ok += 1;
            }
            Err(e) => {
                assert!(!valid, "parse refused a valid datagram {d:02x?}: {e}");
                err += 1;
            }
        }
    }
    assert!(
        ok > 1_000 && err > 10_000,
        "both outcomes exercised: {ok} ok, {err} err"
    );
    rx.timeout_at(rx.at(1_000_000_000));
    let _ = rx.events();
}

#[test]
fn sync_packet_without_start_flag_is_rejected() {
    let sender = {
        let mut sender = Sender::new(SSRC, 5, DEFAULT_MAX_DATAGRAM);
        sender.send(audio(0, 10));
        sender
    };
    let sync = sender.packetizer.sync().expect("something was sent");
    assert!(Packet::parse(sync.to_datagram()).is_ok());
    let mut bad = sync.to_datagram().to_vec();
    bad[12] &= !0x80; // clear S
    bad[14..16].copy_from_slice(&7u16.to_be_bytes()); // so that S and the index agree
    assert!(
        matches!(
            Packet::parse(Bytes::from(bad)),
            Err(ProtoError::Inconsistent(_))
        ),
        "the crate docs define a sync packet as S and E set, length 0"
    );
}

#[test]
fn sync_packets_name_the_newest_packet_and_carry_no_message() {
    let mut sender = Sender::new(SSRC, SEQUENCE_MASK - 1, DEFAULT_MAX_DATAGRAM);
    assert_eq!(sender.packetizer.sync(), None, "nothing sent yet");
    sender.send(video(7, 2 * PAYLOAD, true)); // seqs 2^48 - 2 and 2^48 - 1
    let sync = sender.packetizer.sync().unwrap();
    assert_eq!(sync.header.seq, SEQUENCE_MASK);
    sender.send(audio(9, 10)); // seq 0, after the wrap
    let sync = over_the_wire(&sender.packetizer.sync().unwrap(), DATAGRAM_OVERHEAD);
    let h = sync.header;
    assert_eq!(
        (h.kind, h.seq, h.timestamp, h.ssrc),
        (MessageKind::Sync, 0, 9, SSRC)
    );
    assert!(h.start && h.end && h.message_len == 0 && sync.payload.is_empty());
    assert_eq!(
        sender.packetizer.next_seq(),
        1,
        "a sync takes no sequence number"
    );
    // A reassembler ignores sync packets entirely, wherever they fall.
    let mut rx = Harness::with_defaults();
    let mut events = rx.push(&sync);
    events.extend(rx.push(&sender.packets[0]));
    events.extend(rx.push(&sync));
    events.extend(rx.push_all(&sender.packets[1..]));
    events.extend(rx.push(&sync));
    assert_delivered(&events, &sender.sent);
    assert_eq!(rx.stats(), clean_stats(3, 2));
}

#[test]
fn truncated_datagrams() {
    let mut sender = Sender::new(SSRC, 0x1234_5678, DEFAULT_MAX_DATAGRAM);
    sender.send(video(0, 2 * PAYLOAD + 100, true));
    sender.send(audio(10, 90));
    sender.send(audio(20, 80));
    let datagrams: Vec<Bytes> = sender.packets.iter().map(Packet::to_datagram).collect();
    for d in &datagrams {
        for cut in 0..DATAGRAM_OVERHEAD {
            assert_eq!(
                Packet::parse(d.slice(..cut)),
                Err(ProtoError::Truncated(cut))
            );
        }
        assert!(matches!(
            Packet::parse(d.slice(..DATAGRAM_OVERHEAD)),
            Err(ProtoError::Inconsistent(_))
        ));
    }
    // A shortened payload still parses (the header cannot tell), but the reassembler never
    // emits a message whose bytes do not add up to its length.
    let mut rx = Harness::with_defaults();
    let mut events = Vec::new();
    for (i, d) in datagrams.iter().enumerate() {
        let d = match i {
            1 => d.slice(..d.len() - 1), // the middle fragment of the video tag
            3 => d.slice(..DATAGRAM_OVERHEAD + 40), // the single packet of the first audio tag
            _ => d.clone(),
        };
        let packet = Packet::parse(d).expect("parses");
        rx.rx.push(rx.at(i as u64), packet);
        events.extend(rx.events());
    }
    // Each broken tag is a gap in the media, though no packet was lost.
    assert_eq!(
        events[..2],
        [
            ReassemblerEvent::Gap { lost: 0 },
            ReassemblerEvent::Gap { lost: 0 }
        ]
    );
    assert_delivered(&events[2..], &sender.sent[2..]);
    let stats = rx.stats();
    assert_eq!(
        (stats.malformed, stats.discarded, stats.lost, stats.messages),
        (2, 4, 0, 1)
    );
}

#[test]
fn inconsistent_fragments_are_never_joined() {
    type Corrupt = fn(&mut PacketHeader);
    let corruptions: [(&str, Corrupt); 4] = [
        ("fragment index", |h| h.fragment_index = 2),
        ("message length", |h| h.message_len += 1),
        ("tag type", |h| h.tag_type = 8),
        ("kind", |h| {
            h.kind = MessageKind::Announce;
            h.tag_type = 0;
        }),
    ];
    for (what, corrupt) in corruptions {
        let mut sender = Sender::new(SSRC, 900, DEFAULT_MAX_DATAGRAM);
        sender.send(audio(0, 50));
        let frame = sender.send(video(1, 2 * PAYLOAD + 1, true));
        sender.send(audio(2, 50));
        let mut packets = sender.packets.clone();
        corrupt(&mut packets[frame.start + 1].header);
        let mut rx = Harness::with_defaults();
        let events = rx.push_all(&packets);
        assert_eq!(events.len(), 3, "{what}: {events:?}");
        assert_message(&events[0], &sender.sent[0]);
        assert_eq!(events[1], ReassemblerEvent::Gap { lost: 0 }, "{what}");
        assert_message(&events[2], &sender.sent[2]);
        let stats = rx.stats();
        assert_eq!(
            (stats.malformed, stats.discarded, stats.lost, stats.messages),
            (1, 3, 0, 2),
            "{what}"
        );
    }
}

#[test]
fn reassembler_survives_random_packets_of_its_ssrc() {
    let mut rng = StdRng::seed_from_u64(0xdead);
    for round in 0..20 {
        let mut rx = Harness::new(ReassemblerConfig {
            deadline: Duration::from_millis(5),
            window: 256,
        });
        let base: u64 = rng.random::<u64>() & SEQUENCE_MASK;
        for step in 0..2_000u64 {
            let message_len = rng.random_range(0..40u32);
            let payload = rng
                .random_range(0..=message_len.min(16))
                .max(u32::from(message_len > 0));
            let start = rng.random_bool(0.3);
            let kind =
                [MessageKind::Tag, MessageKind::Announce, MessageKind::End][rng.random_range(0..3)];
            let far = if round % 2 == 0 {
                0
            } else {
                rng.random_range(0..4) * (1 << 40)
            };
            let header = PacketHeader {
                ssrc: SSRC,
                seq: (base + rng.random_range(0..300) + far) & SEQUENCE_MASK,
                timestamp: rng.random(),
                kind,
                tag_type: if kind == MessageKind::Tag { 9 } else { 0 },
                start,
                end: rng.random_bool(0.4),
                keyframe: rng.random(),
                config: rng.random(),
                fragment_index: if start { 0 } else { rng.random_range(1..4) },
                message_len,
            };
            let payload = Bytes::from(filler(payload as usize, step));
            let packet = over_the_wire(&Packet::signed(header, payload, &key()), usize::MAX);
            rx.rx.push(rx.at(step), packet);
            if step % 50 == 0 {
                rx.rx.handle_timeout(rx.at(step));
            }
            for event in rx.events() {
                if let ReassemblerEvent::Message(Reassembled {
                    body: ReassembledBody::Tag { fragments, .. },
                    ..
                }) = event
                {
                    assert_eq!(fragments.to_bytes().len(), fragments.len());
                }
            }
        }
    }
}

#[test]
fn other_ssrcs_are_ignored() {
    let mut ours = Sender::new(SSRC, 1_000, DEFAULT_MAX_DATAGRAM);
    let mut theirs = Sender::new(OTHER_SSRC, 1_000, DEFAULT_MAX_DATAGRAM);
    ours.send_all(mixed_stream(21, 30));
    theirs.send_all(mixed_stream(22, 30));
    let mut rx = Harness::with_defaults();
    // The foreign stream goes first, so a reassembler keyed wrongly would start from it.
    let mut events = rx.push_all(&theirs.packets[..5]);
    for (i, packet) in ours.packets.iter().enumerate() {
        events.extend(rx.push(packet));
        if let Some(foreign) = theirs.packets.get(i + 5) {
            events.extend(rx.push(foreign));
        }
    }
    assert_delivered(&events, &ours.sent);
    assert_eq!(rx.stats(), clean_stats(ours.packets.len(), ours.sent.len()));
    assert_eq!(rx.rx.ssrc(), SSRC);
}

/// A copy of `packet` with its sequence number moved by `offset` (mod 2^48).
fn forged(packet: &Packet, offset: u64) -> Packet {
    let mut forged = packet.clone();
    forged.header.seq = (packet.header.seq + offset) & SEQUENCE_MASK;
    forged
}

#[test]
fn far_sequence_garbage_does_not_flush_the_stream() {
    let mut sender = Sender::new(SSRC, 0x1_0000, DEFAULT_MAX_DATAGRAM);
    sender.send_all(mixed_stream(31, 40));
    let n = sender.packets.len();
    let mut rx = Harness::with_defaults();
    let mut events = Vec::new();
    let mut injected = 0;
    for (i, packet) in sender.packets.iter().enumerate() {
        events.extend(rx.push(packet));
        if i % 10 == 5 {
            // Far ahead, far behind (which unwraps ahead of the 48-bit space's other half), and
            // garbage that looks like the start of a message. Each is far from the previous one,
            // so no two confirm a jump.
            let offset =
                [1 << 40, SEQUENCE_MASK - (1 << 41), 3 << 44][(i / 10) % 3] + i as u64 * 1_000;
            events.extend(rx.push(&forged(&sender.packets[0], offset)));
            events.extend(rx.push(&forged(packet, offset + (1 << 20))));
            injected += 2;
        }
    }
    assert!(injected >= 10);
    assert_delivered(&events, &sender.sent);
    let stats = rx.stats();
    assert_eq!(stats.packets, (n + injected) as u64);
    assert_eq!(stats.messages, sender.sent.len() as u64);
    assert_eq!((stats.discarded, stats.lost, stats.malformed), (0, 0, 0));
}

#[test]
fn genuine_jump_is_followed_once_continued() {
    for partial in [false, true] {
        let mut before = Sender::new(SSRC, 100, DEFAULT_MAX_DATAGRAM);
        before.send_all((0..5).map(|i| cycling_tag(i, i as u32, 500 + 700 * i)));
        let cut = before.send(video(50, 4 * PAYLOAD, true));
        // The sender restarts on the same SSRC far ahead.
        let mut after = Sender::new(SSRC, 100 + (1 << 30), DEFAULT_MAX_DATAGRAM);
        after.send(video(1_000, 2 * PAYLOAD, true));
        after.send(audio(1_001, 10));
        after.send(video(1_002, 3 * PAYLOAD, false));

        let mut rx = Harness::with_defaults();
        let sent_before = if partial { cut.start + 2 } else { cut.start };
        let events = rx.push_all(&before.packets[..sent_before]);
        assert_delivered(&events, &before.sent[..5]);
        // The first far packet alone is not believed...
        assert_eq!(rx.push(&after.packets[0]), vec![]);
        // ...the next one continues it: the old state is given up with a gap (no hole was
        // held, so none counts as lost; a half-received message is discarded), and the new
        // messages come out.
        let events = rx.push_all(&after.packets[1..]);
        assert_eq!(events[0], ReassemblerEvent::Gap { lost: 0 });
        assert_delivered(&events[1..], &after.sent);
        let stats = rx.stats();
        assert_eq!(stats.discarded, if partial { 2 } else { 0 });
        assert_eq!(stats.messages, 5 + 3);
        // Packets of the old sequence space are now late.
        assert_eq!(rx.push(&before.packets[sent_before]), vec![]);
        assert_eq!(rx.stats().late, 1);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Joining mid-stream
// ---------------------------------------------------------------------------------------------

#[test]
fn joining_mid_message_discards_orphans() {
    let mut sender = Sender::new(SSRC, 0xfffe, DEFAULT_MAX_DATAGRAM);
    let first = sender.send(video(0, 5 * PAYLOAD, true));
    sender.send(audio(1, 100));
    sender.send(video(2, 3 * PAYLOAD, false));
    sender.send(Message::End);
    for join in 1..first.len() {
        let mut rx = Harness::with_defaults();
        let orphans = first.len() - join;
        let events = rx.push_all(&sender.packets[join..]);
        assert_delivered(&events, &sender.sent[1..]);
        let stats = rx.stats();
        assert_eq!(stats.discarded, orphans as u64, "joined at fragment {join}");
        assert_eq!(stats.messages, 3);
        assert_eq!((stats.lost, stats.late, stats.malformed), (0, 0, 0));
    }
}

#[test]
fn joining_with_reordering_around_the_join_point() {
    let mut sender = Sender::new(SSRC, 42, DEFAULT_MAX_DATAGRAM);
    sender.send(video(0, 5 * PAYLOAD, true));
    sender.send(video(1, 3 * PAYLOAD, false));
    sender.send(audio(2, 100));
    let p = &sender.packets;
    let mut rx = Harness::with_defaults();
    // Fragment 3 first, then fragment 1 (behind the join point: late), then 4, then the next
    // message with its middle fragment before its first.
    let mut events = Vec::new();
    for i in [3, 1, 4, 6, 5, 7, 8] {
        events.extend(rx.push(&p[i]));
    }
    assert_delivered(&events, &sender.sent[1..]);
    let stats = rx.stats();
    assert_eq!((stats.discarded, stats.late, stats.messages), (2, 1, 2));
}

#[test]
fn joining_at_a_message_start_discards_nothing() {
    let mut sender = Sender::new(SSRC, 7, DEFAULT_MAX_DATAGRAM);
    sender.send(video(0, 2 * PAYLOAD, true));
    let second = sender.send(video(1, 2 * PAYLOAD, false));
    sender.send(audio(2, 5));
    let mut rx = Harness::with_defaults();
    let events = rx.push_all(&sender.packets[second.start..]);
    assert_delivered(&events, &sender.sent[1..]);
    assert_eq!(rx.stats(), clean_stats(3, 2));
}

// ---------------------------------------------------------------------------------------------
// Window limits
// ---------------------------------------------------------------------------------------------

#[test]
fn forced_out_hole_keeps_the_complete_messages_behind_it() {
    let mut sender = Sender::new(SSRC, 0, DEFAULT_MAX_DATAGRAM);
    sender.send_all((0..12).map(|i| audio(i, 10))); // seq i carries message i
    let mut rx = Harness::new(ReassemblerConfig {
        deadline: DEADLINE,
        window: 8,
    });
    // seq 0 starts the stream, 1 is lost, 2..=7 arrive and wait behind the hole.
    let mut events = rx.push(&sender.packets[0]);
    events.extend(rx.push_all(&sender.packets[2..=7]));
    assert_delivered(&events, &sender.sent[..1]);
    // 8..=10 are lost too and seq 11 arrives: it does not fit in a window of 8 from seq 1, so
    // the hole at 1 is given up before its deadline. Messages 2..=7 are complete and untouched
    // by that hole; they must come out, not be thrown away with it.
    let events = rx.push(&sender.packets[11]);
    assert_eq!(events[0], ReassemblerEvent::Gap { lost: 1 });
    assert_delivered(&events[1..], &sender.sent[2..=7]);
    assert_eq!(rx.stats().discarded, 0);
}

#[test]
fn confirmed_jump_longer_than_the_window_keeps_its_first_message() {
    // This used to loop forever in insert(); the guard turns a hang into a failure.
    let (events, jumped) = within_seconds(|| {
        let mut sender = Sender::new(SSRC, 0, DEFAULT_MAX_DATAGRAM);
        sender.send(audio(0, 10));
        let mut jumped = Sender::new(SSRC, 1_000, DEFAULT_MAX_DATAGRAM);
        jumped.send_all((0..21).map(|i| audio(i, 10)));
        let mut rx = Harness::new(ReassemblerConfig {
            deadline: DEADLINE,
            window: 16,
        });
        let mut events = rx.push(&sender.packets[0]);
        events.extend(rx.push(&jumped.packets[0])); // seq 1000: held as a possible jump
        events.extend(rx.push(&jumped.packets[20])); // seq 1020 confirms it, 20 > window
        (events, jumped.sent)
    });
    assert!(
        matches!(events[1], ReassemblerEvent::Gap { .. }),
        "{events:?}"
    );
    // Seq 1000 is a whole one-packet message: it must be emitted, not discarded. Then 1020 is
    // past the window: the oldest unseen numbers (1001..=1004) are given up at once.
    assert_eq!(events.len(), 4, "{events:?}");
    assert_message(&events[2], &jumped[0]);
    assert_eq!(events[3], ReassemblerEvent::Gap { lost: 4 });
}

#[test]
fn message_larger_than_the_window_is_reported_as_a_gap() {
    let mut sender = Sender::new(SSRC, 0, DATAGRAM_OVERHEAD + 16);
    sender.send(audio(0, 16));
    sender.send(video(1, 10 * 16, true)); // 10 fragments
    sender.send(video(2, 16, false));
    let mut rx = Harness::new(ReassemblerConfig {
        deadline: DEADLINE,
        window: 8,
    });
    let events = rx.push_all(&sender.packets);
    // The keyframe cannot fit: the caller is told, with no packet lost, before the next frame.
    assert_eq!(events.len(), 3, "{events:?}");
    assert_message(&events[0], &sender.sent[0]);
    assert_eq!(events[1], ReassemblerEvent::Gap { lost: 0 });
    assert_message(&events[2], &sender.sent[2]);
    let stats = rx.stats();
    assert_eq!((stats.discarded, stats.lost, stats.messages), (10, 0, 2));
}
