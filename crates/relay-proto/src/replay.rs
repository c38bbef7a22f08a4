//! Replay protection for authenticated datagrams.
//!
//! A valid datagram captured on the network can be sent again. [`ReplayWindow`] refuses a
//! sequence number already seen or older than its window, as the replay list of RFC 3711 §3.3.2
//! does. Packets repaired over the QUIC connection are authenticated by that connection and do
//! not pass through it.

use crate::packet::MessageKind;
use crate::seq::extend_near;

/// Sequence numbers remembered behind the newest one; older packets are refused as replays.
/// 4096 packets is more than a second of a 20 Mb/s stream: far beyond any reordering the network
/// does, while a packet this late has long been asked for over the repair connection.
pub const REPLAY_WINDOW: u64 = 4096;
const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// The replay list of one stream (RFC 3711 §3.3.2): the newest sequence number accepted and a
/// bitmap of the [`REPLAY_WINDOW`] before it. Fed only with authenticated packets.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    newest: Option<u64>,
    seen: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            newest: None,
            seen: [0; WORDS],
        }
    }
}

/// Why [`ReplayWindow::accept`] refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// This sequence number was accepted before.
    Repeated,
    /// Older than the window.
    TooOld,
}

impl ReplayWindow {
    /// Accepts a packet's 48-bit sequence number once. A sync packet is not numbered (it repeats
    /// the newest number sent): it is accepted unless it names a number behind the newest,
    /// and it marks nothing, so the packet it names is still accepted when it comes.
    pub fn accept(&mut self, wire_seq: u64, kind: MessageKind) -> Result<(), Replay> {
        let Some(newest) = self.newest else {
            self.newest = Some(wire_seq);
            if kind != MessageKind::Sync {
                self.mark(wire_seq);
            }
            return Ok(());
        };
        let seq = extend_near(newest, wire_seq);
        if seq > newest {
            self.forget(newest + 1, seq);
            self.newest = Some(seq);
        } else if kind == MessageKind::Sync {
            return if seq == newest {
                Ok(())
            } else {
                Err(Replay::Repeated)
            };
        } else if newest - seq >= REPLAY_WINDOW {
            return Err(Replay::TooOld);
        }
        if kind == MessageKind::Sync {
            return Ok(());
        }
        if self.is_marked(seq) {
            return Err(Replay::Repeated);
        }
        self.mark(seq);
        Ok(())
    }

    fn position(seq: u64) -> (usize, u64) {
        let slot = seq % REPLAY_WINDOW;
        ((slot / 64) as usize, 1 << (slot % 64))
    }

    fn is_marked(&self, seq: u64) -> bool {
        let (word, bit) = Self::position(seq);
        self.seen[word] & bit != 0
    }

    fn mark(&mut self, seq: u64) {
        let (word, bit) = Self::position(seq);
        self.seen[word] |= bit;
    }

    /// Clears the slots of `first..=last`, which now belong to numbers not yet seen.
    fn forget(&mut self, first: u64, last: u64) {
        if last - first >= REPLAY_WINDOW {
            self.seen = [0; WORDS];
            return;
        }
        for seq in first..=last {
            let (word, bit) = Self::position(seq);
            self.seen[word] &= !bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SEQUENCE_MASK;

    #[test]
    fn the_window_accepts_each_number_once() {
        let mut window = ReplayWindow::default();
        assert_eq!(window.accept(100, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(100, MessageKind::Tag), Err(Replay::Repeated));
        // Reordered: 103 before 101 and 102.
        assert_eq!(window.accept(103, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(101, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(102, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(101, MessageKind::Tag), Err(Replay::Repeated));
        // A sync names the newest number without taking it.
        assert_eq!(window.accept(103, MessageKind::Sync), Ok(()));
        assert_eq!(window.accept(102, MessageKind::Sync), Err(Replay::Repeated));
        assert_eq!(window.accept(110, MessageKind::Sync), Ok(()));
        assert_eq!(window.accept(110, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(104, MessageKind::Tag), Ok(()));
        // Far ahead: everything behind the window is too old, numbers inside it are new.
        let far = 110 + REPLAY_WINDOW + 5;
        assert_eq!(window.accept(far, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(110, MessageKind::Tag), Err(Replay::TooOld));
        assert_eq!(window.accept(far - 1, MessageKind::Tag), Ok(()));
        assert_eq!(
            window.accept(far - 1, MessageKind::Tag),
            Err(Replay::Repeated)
        );
    }

    #[test]
    fn the_window_follows_the_48_bit_wrap() {
        let mut window = ReplayWindow::default();
        assert_eq!(window.accept(SEQUENCE_MASK - 1, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(SEQUENCE_MASK, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(0, MessageKind::Tag), Ok(()));
        assert_eq!(window.accept(1, MessageKind::Tag), Ok(()));
        assert_eq!(
            window.accept(SEQUENCE_MASK, MessageKind::Tag),
            Err(Replay::Repeated)
        );
        assert_eq!(window.accept(0, MessageKind::Tag), Err(Replay::Repeated));
    }
}
