//! The relay's own wire formats: RTP datagrams into the edge's receiver, announcements, and the
//! repair connection's framing and messages. Kept to the public parse/push calls so the targets
//! follow the format as it changes.

use bytes::{Bytes, BytesMut};
use relay_proto::{
    take_frame, Announcement, CloudMessage, EdgeMessage, MediaKey, Packet, Receiver,
    ReceiverConfig, ReplayWindow, Source, DATAGRAM_OVERHEAD, MEDIA_KEY_LEN,
};
use std::time::{Duration, Instant};

/// The media key the seeds are signed with, so the fuzzer starts from datagrams that pass the
/// edge's authentication.
pub const FUZZ_MEDIA_KEY: [u8; MEDIA_KEY_LEN] = [0x46; MEDIA_KEY_LEN];

/// Datagrams of the input, each prefixed by its length (one byte, times 8 so a datagram can
/// span several fragments' worth), pushed into one receiver 1 ms apart: as network
/// packets when their tag verifies with [`FUZZ_MEDIA_KEY`] (and the replay window lets them
/// through), else as repairs; the receiver's timers are run and its events and NACKs drained.
///
/// Invariants: a parsed packet re-encodes to a datagram that parses to the same packet, and the
/// receiver never emits a message of a stream it was not given.
pub fn rtp_receiver(data: &[u8]) {
    let start = Instant::now();
    let key = MediaKey::from_bytes(FUZZ_MEDIA_KEY);
    let mut replay = ReplayWindow::default();
    let mut receiver: Option<Receiver> = None;
    let mut rest = data;
    let mut step = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let len = (usize::from(len) * 8).min(tail.len());
        let (datagram, after) = tail.split_at(len);
        rest = after;
        step += 1;
        let now = start + Duration::from_millis(step);
        let datagram = Bytes::copy_from_slice(datagram);
        // As the edge's UDP reader takes them (tag, then replay window), else as repairs take
        // them (parsed only: they came over the authenticated connection).
        let (packet, source) = match Packet::open(datagram.clone(), &key) {
            Ok(packet) => {
                if replay
                    .accept(packet.header.seq, packet.header.kind)
                    .is_err()
                {
                    continue;
                }
                (packet, Source::Network)
            }
            Err(_) => match Packet::parse(datagram) {
                Ok(packet) => (packet, Source::Repair),
                Err(_) => continue,
            },
        };
        let again = Packet::parse(packet.to_datagram()).expect("a re-encoded packet parses");
        assert_eq!(again, packet, "parse(encode(packet)) is the packet");
        assert_eq!(
            packet.to_datagram().len(),
            DATAGRAM_OVERHEAD + packet.payload.len()
        );
        let ssrc = packet.header.ssrc;
        let receiver = receiver.get_or_insert_with(|| {
            let mut receiver = Receiver::new(ssrc, ReceiverConfig::default());
            // As an edge told of the stream a little before this packet.
            receiver.start_at(packet.header.seq.saturating_sub(step % 3));
            receiver
        });
        if packet.header.ssrc != receiver.ssrc() {
            continue;
        }
        receiver.push(now, packet, source);
        if let Some(deadline) = receiver.poll_timeout() {
            receiver.handle_timeout(deadline.max(now));
        }
        while receiver.poll_event().is_some() {}
        while let Some(nack) = receiver.poll_nack(now) {
            assert_eq!(nack.ssrc, ssrc, "NACKs name the receiver's stream");
        }
    }
}

/// Announcement bodies: decode, and a decoded one re-encodes to one that decodes the same.
pub fn announcement(data: &[u8]) {
    if let Ok(decoded) = Announcement::decode(Bytes::copy_from_slice(data)) {
        let again = Announcement::decode(decoded.encode()).expect("a re-encoded announcement");
        assert_eq!(again, decoded, "decode(encode(a)) is a");
    }
}

/// A repair control stream as the cloud and the edge read it: frames split off with
/// `take_frame` (the input arrives in two reads), each decoded as an edge message and as a
/// cloud message; whatever decodes re-encodes to a frame that decodes the same.
pub fn repair_messages(data: &[u8]) {
    let (first, second) = data.split_at(data.len() / 2);
    let mut buffer = BytesMut::from(first);
    for read in [None, Some(second)] {
        if let Some(bytes) = read {
            buffer.extend_from_slice(bytes);
        }
        // After an error the stream is closed, as the cloud and the edge close it.
        while let Ok(Some(frame)) = take_frame(&mut buffer) {
            check_message(frame);
        }
    }
}

fn check_message(frame: Bytes) {
    if let Ok(message) = EdgeMessage::decode(frame.clone()) {
        let again = EdgeMessage::decode(message.encode()).expect("a re-encoded edge message");
        assert_eq!(again, message, "decode(encode(m)) is m for edge messages");
    }
    if let Ok(message) = CloudMessage::decode(frame) {
        let again = CloudMessage::decode(message.encode()).expect("a re-encoded cloud message");
        assert_eq!(again, message, "decode(encode(m)) is m for cloud messages");
    }
}
