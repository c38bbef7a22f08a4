//! The cloud's retransmit cache of one stream.
//!
//! A power-of-two ring indexed by sequence number (`seq & mask`): insert and lookup are O(1) with
//! no hashing and no allocation after start. It holds the newest packets, bounded by a packet
//! count and by payload bytes; payloads are slices of the tag bodies, so caching copies nothing.
//! A keyframe index lets an edge that asked for an evicted packet resume at the next keyframe.

use crate::packet::{MessageKind, Packet};
use crate::repair::{CloudMessage, NackRequest};
use crate::SEQUENCE_MASK;
use std::collections::VecDeque;

/// What the cache knows of a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The packet is cached; the answer is its datagram as first sent.
    Found(&'a Packet),
    /// Sent, but pushed out of the cache; `next_keyframe` is the first packet of the oldest
    /// keyframe still cached after it, where the receiver can resume.
    Evicted {
        /// First packet of the oldest cached keyframe after the asked-for packet; `None` when none
        /// is cached.
        next_keyframe: Option<u64>,
    },
    /// Not sent (yet): a sequence number beyond the newest packet.
    NotSent,
}

/// Sequence numbers inside are unwrapped to 64 bits (the wire's 48-bit numbers wrap), so the
/// ring and the keyframe index stay ordered across the wrap.
#[derive(Debug)]
pub struct RetransmitCache {
    slots: Vec<Option<Packet>>,
    mask: u64,
    max_packets: usize,
    max_bytes: usize,
    bytes: usize,
    /// Oldest cached sequence number (valid when `len > 0`).
    oldest: u64,
    len: usize,
    /// First packets of cached keyframe messages, oldest first.
    keyframes: VecDeque<u64>,
}

impl RetransmitCache {
    /// Holds at most `max_packets` packets and `max_bytes` payload bytes (at least one packet).
    pub fn new(max_packets: usize, max_bytes: usize) -> Self {
        let capacity = max_packets.max(1).next_power_of_two();
        RetransmitCache {
            slots: vec![None; capacity],
            mask: capacity as u64 - 1,
            max_packets: max_packets.max(1),
            max_bytes,
            bytes: 0,
            oldest: 0,
            len: 0,
            keyframes: VecDeque::new(),
        }
    }

    /// Packets cached now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no packet is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Payload bytes cached now (headers not counted), bounded by the `max_bytes` given to
    /// [`RetransmitCache::new`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The newest cached sequence number (48-bit, as on the wire).
    pub fn newest(&self) -> Option<u64> {
        (self.len > 0).then(|| (self.end() - 1) & SEQUENCE_MASK)
    }

    /// The 64-bit number of a 48-bit wire number: the one nearest the end of the cache.
    fn unwrap(&self, wire: u64) -> u64 {
        let end = self.end();
        let span = SEQUENCE_MASK + 1;
        let candidate = (end & !SEQUENCE_MASK) | (wire & SEQUENCE_MASK);
        [
            candidate.checked_sub(span),
            Some(candidate),
            candidate.checked_add(span),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|c| c.abs_diff(end))
        .unwrap_or(candidate)
    }

    /// Where an edge that learns of the stream now should start: the first packet of the newest
    /// cached keyframe, so that it repairs the current group of pictures and its players start
    /// at once, or one past the newest packet when no keyframe is cached (or nothing was sent
    /// yet: `None`). The stream's metadata and sequence headers reach the edge with the
    /// announcement, so nothing before the keyframe is needed.
    pub fn resume_point(&self) -> Option<u64> {
        let newest = self.newest()?;
        Some(
            self.keyframes
                .back()
                .map_or(newest + 1, |keyframe| *keyframe)
                & SEQUENCE_MASK,
        )
    }

    /// The next sequence number expected (one past the newest cached).
    fn end(&self) -> u64 {
        self.oldest + self.len as u64
    }

    /// Adds the next packet of the stream. Packets must come in sequence order; a packet that
    /// does not follow the newest one restarts the cache.
    pub fn insert(&mut self, packet: Packet) {
        if packet.header.kind == MessageKind::Sync {
            return;
        }
        let seq = if self.len > 0 {
            self.unwrap(packet.header.seq)
        } else {
            packet.header.seq
        };
        if self.len > 0 && seq != self.end() {
            self.clear();
        }
        if self.len == 0 {
            self.oldest = seq;
        }
        while self.len > 0
            && (self.len >= self.max_packets || self.bytes + packet.payload.len() > self.max_bytes)
        {
            self.evict_oldest();
        }
        if self.len == 0 {
            self.oldest = seq;
        }
        if packet.header.keyframe && packet.header.start && packet.header.kind == MessageKind::Tag {
            self.keyframes.push_back(seq);
        }
        self.bytes += packet.payload.len();
        self.slots[(seq & self.mask) as usize] = Some(packet);
        self.len += 1;
    }

    /// What the cache has of a wire sequence number.
    pub fn lookup(&self, wire: u64) -> Lookup<'_> {
        let seq = self.unwrap(wire);
        if self.len > 0 && seq >= self.oldest && seq < self.end() {
            if let Some(packet) = &self.slots[(seq & self.mask) as usize] {
                return Lookup::Found(packet);
            }
        }
        if seq >= self.end() || (self.len == 0 && seq >= self.oldest) {
            return Lookup::NotSent;
        }
        Lookup::Evicted {
            next_keyframe: self
                .keyframes
                .iter()
                .copied()
                .find(|k| *k > seq)
                .map(|k| k & SEQUENCE_MASK),
        }
    }

    /// Answers every packet a NACK names: the packet (`copies` times), evicted, or not sent.
    pub fn answer(&self, request: &NackRequest, out: &mut Vec<CloudMessage>) {
        for range in &request.ranges {
            for seq in range.seqs() {
                match self.lookup(seq) {
                    Lookup::Found(packet) => {
                        let datagram = packet.to_datagram();
                        for _ in 0..request.copies.max(1) {
                            out.push(CloudMessage::Repair(datagram.clone()));
                        }
                    }
                    Lookup::Evicted { next_keyframe } => out.push(CloudMessage::Evicted {
                        ssrc: request.ssrc,
                        seq,
                        next_keyframe,
                    }),
                    Lookup::NotSent => out.push(CloudMessage::NotSent {
                        ssrc: request.ssrc,
                        seq,
                    }),
                }
            }
        }
    }

    /// Frees everything (the stream ended).
    pub fn clear(&mut self) {
        while self.len > 0 {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(packet) = self.slots[(self.oldest & self.mask) as usize].take() {
            self.bytes -= packet.payload.len();
        }
        if self.keyframes.front() == Some(&self.oldest) {
            self.keyframes.pop_front();
        }
        self.oldest += 1;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::PacketHeader;
    use bytes::Bytes;

    fn packet(seq: u64, len: usize, keyframe: bool) -> Packet {
        Packet {
            header: PacketHeader {
                ssrc: 1,
                seq,
                timestamp: 0,
                kind: MessageKind::Tag,
                tag_type: 9,
                start: true,
                end: true,
                keyframe,
                config: false,
                fragment_index: 0,
                message_len: len as u32,
            },
            payload: Bytes::from(vec![seq as u8; len]),
            auth: [0; crate::AUTH_TAG_LEN],
        }
    }

    #[test]
    fn bounded_by_packets_with_evicted_and_not_sent_answers() {
        let mut cache = RetransmitCache::new(5, usize::MAX);
        for seq in 100..110 {
            cache.insert(packet(seq, 10, seq == 103 || seq == 107));
        }
        assert_eq!(cache.len(), 5);
        assert!(matches!(cache.lookup(105), Lookup::Found(p) if p.header.seq == 105));
        assert!(matches!(cache.lookup(109), Lookup::Found(_)));
        assert_eq!(
            cache.lookup(104),
            Lookup::Evicted {
                next_keyframe: Some(107)
            }
        );
        assert_eq!(
            cache.lookup(0),
            Lookup::Evicted {
                next_keyframe: Some(107)
            }
        );
        assert_eq!(cache.lookup(110), Lookup::NotSent);
        assert_eq!(cache.lookup(u64::MAX), Lookup::NotSent);
        cache.clear();
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }

    #[test]
    fn an_edge_told_now_resumes_at_the_newest_cached_keyframe() {
        let mut cache = RetransmitCache::new(5, usize::MAX);
        assert_eq!(cache.resume_point(), None);
        cache.insert(packet(100, 10, false));
        assert_eq!(cache.resume_point(), Some(101));
        cache.insert(packet(101, 10, true));
        cache.insert(packet(102, 10, false));
        cache.insert(packet(103, 10, true));
        cache.insert(packet(104, 10, false));
        assert_eq!(cache.resume_point(), Some(103));
        for seq in 105..110 {
            cache.insert(packet(seq, 10, false));
        }
        assert_eq!(cache.resume_point(), Some(110), "keyframe 103 was evicted");
        cache.insert(packet(SEQUENCE_MASK, 10, true));
        cache.insert(packet(0, 10, false));
        assert_eq!(
            cache.resume_point(),
            Some(SEQUENCE_MASK),
            "restarted, then wrapped"
        );
    }

    #[test]
    fn answers_every_named_packet() {
        use crate::repair::NackRange;
        let mut cache = RetransmitCache::new(4, usize::MAX);
        for seq in 10..20 {
            cache.insert(packet(seq, 3, false));
        }
        let request = NackRequest {
            ssrc: 1,
            id: 0,
            copies: 2,
            ranges: NackRange::pack(&[15, 17, 25]),
        };
        let mut out = Vec::new();
        cache.answer(&request, &mut out);
        let summary: Vec<String> = out
            .iter()
            .map(|m| match m {
                CloudMessage::Repair(d) => {
                    format!("repair{}", Packet::parse(d.clone()).unwrap().header.seq)
                }
                CloudMessage::Evicted { seq, .. } => format!("evicted{seq}"),
                CloudMessage::NotSent { seq, .. } => format!("notsent{seq}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(summary, ["evicted15", "repair17", "repair17", "notsent25"]);
    }

    #[test]
    fn bounded_by_bytes() {
        let mut cache = RetransmitCache::new(1000, 100);
        for seq in 0..20 {
            cache.insert(packet(seq, 30, false));
        }
        assert_eq!((cache.len(), cache.bytes()), (3, 90));
        assert_eq!(
            cache.lookup(16),
            Lookup::Evicted {
                next_keyframe: None
            }
        );
        // One packet larger than the byte bound is still kept alone.
        cache.insert(packet(20, 500, false));
        assert_eq!(cache.len(), 1);
        assert!(matches!(cache.lookup(20), Lookup::Found(_)));
    }

    #[test]
    fn survives_the_48_bit_wrap() {
        let mut cache = RetransmitCache::new(8, usize::MAX);
        let top = SEQUENCE_MASK;
        for seq in [top - 2, top - 1, top, 0, 1] {
            cache.insert(packet(seq, 1, seq == top));
        }
        assert_eq!(cache.len(), 5);
        assert!(matches!(cache.lookup(top - 1), Lookup::Found(p) if p.header.seq == top - 1));
        assert!(matches!(cache.lookup(1), Lookup::Found(p) if p.header.seq == 1));
        assert_eq!(cache.lookup(2), Lookup::NotSent);
        assert_eq!(cache.newest(), Some(1));
        for seq in 2..10 {
            cache.insert(packet(seq, 1, false));
        }
        assert_eq!(
            cache.lookup(top - 1),
            Lookup::Evicted {
                next_keyframe: None
            }
        );
    }

    #[test]
    fn ring_wraps_around_its_capacity() {
        let mut cache = RetransmitCache::new(8, usize::MAX);
        for seq in (1u64 << 40)..(1u64 << 40) + 1000 {
            cache.insert(packet(seq, 1, false));
            assert!(matches!(cache.lookup(seq), Lookup::Found(p) if p.header.seq == seq));
        }
        assert_eq!(cache.len(), 8);
    }
}
