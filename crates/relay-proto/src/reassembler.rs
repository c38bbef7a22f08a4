//! Putting packets of one SSRC back together into messages, in order.
//!
//! The reassembler keeps a window of slots indexed by sequence number. A slot is either a received
//! packet or a hole. A hole is due when the last packet before it arrived: a packet lost in a
//! silence (an outage) is as old as the silence, not as young as the packet that revealed it.
//! Messages leave strictly in sequence order, each only when all of its fragments are present. A
//! hole still open the configured deadline after it was due is given up: the message it belongs to is
//! dropped whole and a [`ReassemblerEvent::Gap`] tells the caller, who must then wait for a
//! keyframe before sending more video. A broken message is never emitted.

use crate::packet::{MessageKind, Packet, PacketHeader};
use crate::{Announcement, SEQUENCE_MASK};
use bytes::{Bytes, BytesMut};
use flv::TagType;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Tuning of a [`Reassembler`].
#[derive(Debug, Clone, Copy)]
pub struct ReassemblerConfig {
    /// How long a hole is waited for (reordering now, repair later) before its message is dropped.
    pub deadline: Duration,
    /// Most sequence numbers held at once. A packet further ahead forces the oldest out.
    pub window: usize,
}

impl Default for ReassemblerConfig {
    fn default() -> Self {
        ReassemblerConfig {
            deadline: Duration::from_millis(300),
            window: 16_384,
        }
    }
}

/// The bytes of a message as received: slices of the datagrams, never copied here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragments {
    parts: Vec<Bytes>,
    len: usize,
}

impl Fragments {
    /// Total bytes of the message, over all fragments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty message (an end of stream, or an empty tag body).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fragments in order, each a slice of its datagram's payload.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// The message in one buffer: free for a one-packet message, one copy otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match self.parts.as_slice() {
            [] => Bytes::new(),
            [only] => only.clone(),
            parts => {
                let mut out = BytesMut::with_capacity(self.len);
                for part in parts {
                    out.extend_from_slice(part);
                }
                out.freeze()
            }
        }
    }
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// SSRC of the stream the message came on (RFC 3550 §5.1).
    pub ssrc: u32,
    /// Sequence number of the message's first packet, as on the wire (48 bits).
    pub first_seq: u64,
    /// The message's timestamp from its packets' RTP timestamp field: the FLV DTS in ms.
    pub timestamp: u32,
    /// What the message is, with its bytes.
    pub body: ReassembledBody,
}

/// The content of a reassembled message, by [`MessageKind`] (sync packets carry no message and
/// never appear here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReassembledBody {
    /// An FLV tag body, to be framed again as a tag with the message's timestamp.
    Tag {
        /// Audio, video or script data, from the header's tag type.
        tag_type: TagType,
        /// A video keyframe: where a player can start, or resume after a gap.
        keyframe: bool,
        /// Sequence header or `onMetaData`.
        config: bool,
        /// The tag body in its received slices.
        fragments: Fragments,
    },
    /// The stream's announcement, decoded.
    Announce(Announcement),
    /// The publisher stopped: the in-band end of stream.
    End,
}

/// What a reassembler has for its caller, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReassemblerEvent {
    /// The next complete message, in sequence order.
    Message(Reassembled),
    /// Messages were dropped: `lost` packets were given up on (0 when every dropped packet had
    /// arrived, as for a message larger than the window or a malformed one).
    Gap {
        /// Holes given up on in this gap; packets lost for good.
        lost: u64,
    },
}

/// Counters since the reassembler was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblerStats {
    /// Packets of this SSRC taken by [`Reassembler::push`] (sync packets excluded), duplicates and
    /// late ones included.
    pub packets: u64,
    /// Packets whose sequence number was already held.
    pub duplicates: u64,
    /// Arrived after their sequence number had been passed.
    pub late: u64,
    /// Received, but part of a message that could not be completed.
    pub discarded: u64,
    /// Holes given up on.
    pub lost: u64,
    /// Messages whose fragments disagreed or whose body did not decode.
    pub malformed: u64,
    /// Messages emitted whole.
    pub messages: u64,
}

#[derive(Debug)]
enum Slot {
    /// `due`: when the packet should have come (the arrival of the last packet before it).
    /// `abandoned`: the sender said it cannot repair this one; give it up at once.
    Hole {
        due: Instant,
        abandoned: bool,
    },
    Received(Packet),
}

/// What one [`Reassembler::push`] did, for loss tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushOutcome {
    /// Sequence numbers that became holes (first, last), noticed now.
    pub new_holes: Option<(u64, u64)>,
    /// The packet filled a hole (a late or repaired packet).
    pub filled_hole: bool,
    /// The 64-bit sequence number the packet was placed at, if it was kept.
    pub seq: Option<u64>,
}

/// A sequence jump beyond the window is believed only when the next packet continues it.
const JUMP_CONFIRM_SPAN: u64 = 64;

/// Reassembles one SSRC's packets. Sans-IO: feed it `(now, packet)` and `now` at its deadlines.
#[derive(Debug)]
pub struct Reassembler {
    config: ReassemblerConfig,
    ssrc: u32,
    /// Sequence number of `slots[0]`.
    next: Option<u64>,
    slots: VecDeque<Slot>,
    /// Leading slots known to be consecutive fragments of the message that starts at `slots[0]`.
    verified: usize,
    highest: Option<u64>,
    /// Where the stream starts for this receiver, until its first packet arrives.
    start: Option<u64>,
    /// When the packet at `highest` arrived: the due time of holes found after it.
    last_arrival: Option<Instant>,
    jump: Option<(u64, Packet)>,
    events: VecDeque<ReassemblerEvent>,
    stats: ReassemblerStats,
}

impl Reassembler {
    /// An empty reassembler for `ssrc` that starts at the first packet it gets (or where
    /// [`Reassembler::start_at`] says).
    pub fn new(ssrc: u32, config: ReassemblerConfig) -> Self {
        Reassembler {
            config,
            ssrc,
            next: None,
            slots: VecDeque::new(),
            verified: 0,
            highest: None,
            start: None,
            last_arrival: None,
            jump: None,
            events: VecDeque::new(),
            stats: ReassemblerStats::default(),
        }
    }

    /// The SSRC this reassembler takes packets of.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// How long a hole is waited for after it was due.
    pub fn deadline(&self) -> Duration {
        self.config.deadline
    }

    /// Changes the deadline; holes already open are then given up by the new one.
    pub fn set_deadline(&mut self, deadline: Duration) {
        self.config.deadline = deadline;
    }

    /// Its counters so far.
    pub fn stats(&self) -> ReassemblerStats {
        self.stats
    }

    /// Takes one packet of this SSRC (others are ignored) received at `now`.
    pub fn push(&mut self, now: Instant, packet: Packet) -> PushOutcome {
        // Sync packets carry no message; the receiver reads them before this.
        if packet.header.ssrc != self.ssrc || packet.header.kind == MessageKind::Sync {
            return PushOutcome::default();
        }
        self.stats.packets += 1;
        let seq = self.unwrap_seq(packet.header.seq);
        // The announced start matters only for the first packet; it is spent either way.
        if let Some(start) = self
            .start
            .take()
            .filter(|start| seq > *start && seq - start < self.config.window as u64)
        {
            // Packets between the start and this one were sent and missed: the general path
            // below makes them holes due now.
            self.next = Some(start);
        }
        let Some(next) = self.next else {
            self.next = Some(seq);
            self.highest = Some(seq);
            self.last_arrival = Some(now);
            self.slots.push_back(Slot::Received(packet));
            self.drain(now);
            return PushOutcome {
                seq: Some(seq),
                ..Default::default()
            };
        };
        if seq < next {
            self.stats.late += 1;
            return PushOutcome::default();
        }
        let highest = self.highest.unwrap_or(seq);
        if seq > highest + self.config.window as u64 && !self.confirm_jump(now, seq, &packet) {
            return PushOutcome::default();
        }
        let outcome = self.insert(now, seq, packet);
        self.drain(now);
        outcome
    }

    /// Expects the stream to start at `seq` (a wire number): once a later packet or
    /// [`expect_through`](Self::expect_through) shows packets from `seq` on were sent, the
    /// missing ones are holes. Only before the first packet; a first packet before `seq` starts
    /// the stream there instead.
    pub fn start_at(&mut self, seq: u64) {
        if self.next.is_none() {
            self.start = Some(seq & SEQUENCE_MASK);
        }
    }

    /// The next sequence number to be delivered (everything before it is done with).
    pub fn next_seq(&self) -> Option<u64> {
        self.next
    }

    /// The highest sequence number seen.
    pub fn highest_seq(&self) -> Option<u64> {
        self.highest
    }

    /// Marks `first..=last` as holes noticed now, when they are known to be due but have not
    /// come (the tail of a message, detected by time). Returns the holes made.
    pub fn expect_through(&mut self, now: Instant, last: u64) -> Option<(u64, u64)> {
        if self.next.is_none() {
            let start = self.start.filter(|start| last >= *start)?;
            self.start = None;
            self.next = Some(start);
            self.highest = Some(start);
            self.last_arrival = Some(now);
            self.slots.push_back(Slot::Hole {
                due: now,
                abandoned: false,
            });
            let rest = self
                .expect_through(now, last)
                .map_or(start, |(_, last)| last);
            return Some((start, rest));
        }
        let (next, highest) = (self.next?, self.highest?);
        if last <= highest {
            return None;
        }
        let last = last.min(next + self.config.window as u64 - 1);
        let first = highest + 1;
        let due = self.last_arrival.unwrap_or(now);
        while (self.slots.len() as u64) < last - next + 1 {
            self.slots.push_back(Slot::Hole {
                due,
                abandoned: false,
            });
        }
        self.highest = Some(last);
        (first <= last).then_some((first, last))
    }

    /// The sender cannot repair `seq`: give its hole up without waiting for the deadline.
    pub fn abandon(&mut self, now: Instant, seq: u64) {
        let Some(next) = self.next else {
            return;
        };
        if let Some(Slot::Hole { abandoned, .. }) = seq
            .checked_sub(next)
            .and_then(|i| self.slots.get_mut(i as usize))
        {
            *abandoned = true;
            self.drain(now);
        }
    }

    /// Call at (or after) the instant [`poll_timeout`](Self::poll_timeout) returned.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.drain(now);
    }

    /// When a hole will be given up on, if one is blocking output.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.slots.get(self.verified) {
            Some(Slot::Hole { due, .. }) => Some(*due + self.config.deadline),
            _ => None,
        }
    }

    /// The next message or gap, in stream order; call until `None` after every push and timeout.
    pub fn poll_event(&mut self) -> Option<ReassemblerEvent> {
        self.events.pop_front()
    }

    /// Extends a 48-bit wire sequence number to 64 bits, taking the value nearest the highest seen.
    pub fn unwrap_seq(&self, wire: u64) -> u64 {
        match self.highest {
            Some(highest) => crate::seq::extend_near(highest, wire),
            None => wire & SEQUENCE_MASK,
        }
    }

    /// A packet far beyond the window is either garbage or a real jump (a sender restart on the
    /// same SSRC, or a very long outage). Believe it only when the next packet continues it.
    fn confirm_jump(&mut self, now: Instant, seq: u64, packet: &Packet) -> bool {
        match self.jump.take() {
            Some((first, first_packet)) if seq > first && seq - first <= JUMP_CONFIRM_SPAN => {
                // Complete messages held go out first; what is left is given up. The numbers
                // skipped by the jump were never part of this stream's flow: not counted lost.
                self.drain(now);
                let holes = self.flush_all();
                self.report_gap(holes);
                self.next = Some(first);
                self.highest = Some(first);
                self.last_arrival = Some(now);
                self.slots.push_back(Slot::Received(first_packet));
                true
            }
            _ => {
                self.jump = Some((seq, packet.clone()));
                false
            }
        }
    }

    /// Drops every slot; returns how many were holes.
    fn flush_all(&mut self) -> u64 {
        let mut holes = 0;
        for slot in self.slots.drain(..) {
            match slot {
                Slot::Received(_) => self.stats.discarded += 1,
                Slot::Hole { .. } => holes += 1,
            }
        }
        self.verified = 0;
        holes
    }

    fn insert(&mut self, now: Instant, seq: u64, packet: Packet) -> PushOutcome {
        let window = self.config.window as u64;
        while let Some(next) = self.next {
            if seq < next + window {
                break;
            }
            if self.slots.is_empty() {
                // Nothing held: skip straight to the window that holds `seq`.
                let skipped = seq + 1 - window - next;
                self.next = Some(next + skipped);
                self.report_gap(skipped);
                break;
            }
            // No room: complete messages at the front leave first; then the oldest slot is
            // given up whatever its deadline.
            self.drain(now);
            if self.next.is_some_and(|n| seq >= n + window) && !self.slots.is_empty() {
                self.pop_front_given_up();
            }
        }
        let Some(next) = self.next else {
            return PushOutcome::default();
        };
        let index = (seq - next) as usize;
        let mut outcome = PushOutcome {
            seq: Some(seq),
            ..Default::default()
        };
        if self.slots.len() < index {
            let first = next + self.slots.len() as u64;
            outcome.new_holes = Some((first, seq - 1));
        }
        let due = self.last_arrival.unwrap_or(now);
        while self.slots.len() <= index {
            self.slots.push_back(Slot::Hole {
                due,
                abandoned: false,
            });
        }
        match &self.slots[index] {
            Slot::Received(_) => {
                self.stats.duplicates += 1;
                outcome.seq = None;
            }
            Slot::Hole { .. } => {
                outcome.filled_hole =
                    outcome.new_holes.is_none() && self.highest.is_some_and(|h| seq <= h);
                self.slots[index] = Slot::Received(packet);
            }
        }
        if self.highest.is_none_or(|h| seq > h) {
            self.highest = Some(seq);
            self.last_arrival = Some(now);
        }
        outcome
    }

    fn pop_front(&mut self) -> Option<Slot> {
        let slot = self.slots.pop_front()?;
        self.next = self.next.map(|n| n + 1);
        self.verified = self.verified.saturating_sub(1);
        Some(slot)
    }

    /// Drops the front slot of a message that cannot complete; the caller learns of it as a gap
    /// even when every packet dropped had arrived (a message larger than the window).
    fn pop_front_given_up(&mut self) {
        match self.pop_front() {
            Some(Slot::Hole { .. }) => self.report_gap(1),
            Some(Slot::Received(_)) => {
                self.stats.discarded += 1;
                self.report_gap(0);
            }
            None => {}
        }
        self.verified = 0;
    }

    fn report_gap(&mut self, lost: u64) {
        self.stats.lost += lost;
        if let Some(ReassemblerEvent::Gap { lost: pending }) = self.events.back_mut() {
            *pending += lost;
        } else {
            self.events.push_back(ReassemblerEvent::Gap { lost });
        }
    }

    fn expired(&self, slot: &Slot, now: Instant) -> bool {
        match slot {
            Slot::Hole { due, abandoned } => *abandoned || now >= *due + self.config.deadline,
            Slot::Received(_) => false,
        }
    }

    /// Emits every message that is complete at the front, gives up expired holes, drops packets
    /// that cannot start a message.
    fn drain(&mut self, now: Instant) {
        loop {
            let start = match self.slots.front() {
                None => return,
                Some(slot @ Slot::Hole { .. }) => {
                    if !self.expired(slot, now) {
                        return;
                    }
                    self.pop_front_given_up();
                    continue;
                }
                Some(Slot::Received(packet)) if !packet.header.start => {
                    self.pop_front();
                    self.stats.discarded += 1;
                    continue;
                }
                Some(Slot::Received(packet)) => packet.header,
            };
            match self.scan_message(&start, now) {
                Scan::Complete(last) => self.emit(last),
                Scan::Waiting => return,
                Scan::GiveUp(through) => {
                    for _ in 0..=through {
                        self.pop_front_given_up();
                    }
                }
                Scan::Malformed(before) => {
                    self.stats.malformed += 1;
                    for _ in 0..before {
                        self.pop_front();
                        self.stats.discarded += 1;
                    }
                    self.report_gap(0);
                    self.verified = 0;
                }
            }
        }
    }

    /// Checks the fragments after a start packet, resuming where the last scan stopped.
    fn scan_message(&mut self, start: &PacketHeader, now: Instant) -> Scan {
        let mut index = self.verified.max(1);
        if start.end {
            return Scan::Complete(0);
        }
        loop {
            match self.slots.get(index) {
                None => {
                    self.verified = index;
                    return Scan::Waiting;
                }
                Some(slot @ Slot::Hole { .. }) => {
                    self.verified = index;
                    return if self.expired(slot, now) {
                        Scan::GiveUp(index)
                    } else {
                        Scan::Waiting
                    };
                }
                Some(Slot::Received(packet)) => {
                    let h = &packet.header;
                    let consistent = !h.start
                        && h.kind == start.kind
                        && h.tag_type == start.tag_type
                        && h.message_len == start.message_len
                        && h.fragment_index as usize == index;
                    if !consistent {
                        return Scan::Malformed(index);
                    }
                    if h.end {
                        return Scan::Complete(index);
                    }
                    index += 1;
                }
            }
        }
    }

    fn emit(&mut self, last: usize) {
        let first_seq = self.next.unwrap_or_default() & SEQUENCE_MASK;
        let mut parts = Vec::with_capacity(last + 1);
        let mut header = None;
        for _ in 0..=last {
            if let Some(Slot::Received(packet)) = self.pop_front() {
                header.get_or_insert(packet.header);
                parts.push(packet.payload);
            }
        }
        self.verified = 0;
        let Some(header) = header else {
            return;
        };
        let len = parts.iter().map(Bytes::len).sum();
        if len != header.message_len as usize {
            self.stats.malformed += 1;
            self.stats.discarded += parts.len() as u64;
            self.report_gap(0);
            return;
        }
        let fragments = Fragments { parts, len };
        let body = match header.kind {
            MessageKind::Tag => match TagType::from_u8(header.tag_type) {
                Ok(tag_type) => Some(ReassembledBody::Tag {
                    tag_type,
                    keyframe: header.keyframe,
                    config: header.config,
                    fragments,
                }),
                Err(_) => None,
            },
            MessageKind::Announce => Announcement::decode(fragments.to_bytes())
                .ok()
                .map(ReassembledBody::Announce),
            MessageKind::End => Some(ReassembledBody::End),
            // Never stored: see `push`.
            MessageKind::Sync => None,
        };
        let Some(body) = body else {
            self.stats.malformed += 1;
            // A broken tag is a gap in the media; a broken announcement loses nothing.
            if header.kind == MessageKind::Tag {
                self.report_gap(0);
            }
            return;
        };
        self.stats.messages += 1;
        self.events
            .push_back(ReassemblerEvent::Message(Reassembled {
                ssrc: self.ssrc,
                first_seq,
                timestamp: header.timestamp,
                body,
            }));
    }
}

enum Scan {
    /// The message ends at this slot index.
    Complete(usize),
    Waiting,
    /// The hole at this index expired: drop slots up to and including it.
    GiveUp(usize),
    /// The slot at this index does not continue the message: drop the slots before it.
    Malformed(usize),
}
