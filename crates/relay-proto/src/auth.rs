//! Authentication of relay datagrams with a per-publish key, and replay protection.
//!
//! SRTP's model (RFC 3711 §3.4, §4.2): every datagram ends in an authentication tag computed over
//! everything before it, with a key that only the sender and its receivers know. The relay's tag
//! is HMAC-SHA-256 truncated to its first 128 bits (the HMAC-SHA-256-128 of RFC 4868 §2.6)
//! rather than SRTP's 80-bit HMAC-SHA1: the media is not secret, so there is no cipher, and
//! 16 bytes a datagram keep forging out of reach without a per-packet nonce to manage.
//!
//! The cloud draws a fresh random key for every publish and hands it to its edges only over the
//! authenticated repair connection, together with the stream's announcement; multicast receivers
//! share it. A receiver checks the tag before it looks at anything else in the datagram, so a
//! forged or corrupted packet costs it one lookup by SSRC and one HMAC, and no state.
//!
//! A valid datagram captured on the network can be sent again. [`ReplayWindow`] refuses a
//! sequence number already seen or older than its window, as the replay list of RFC 3711 §3.3.2
//! does. Packets repaired over the QUIC connection are authenticated by that connection and do
//! not pass through it.

use crate::packet::MessageKind;
use crate::seq::extend_near;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// Bytes of the authentication tag at the end of every datagram.
pub const AUTH_TAG_LEN: usize = 16;
/// Bytes of a per-publish media key.
pub const MEDIA_KEY_LEN: usize = 32;

/// The tag carried at the end of a datagram.
pub type AuthTag = [u8; AUTH_TAG_LEN];

/// One publish's key. The keyed HMAC state is computed once; clones share it.
#[derive(Clone)]
pub struct MediaKey {
    inner: Arc<KeyState>,
}

struct KeyState {
    raw: [u8; MEDIA_KEY_LEN],
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKey(..)")
    }
}

impl PartialEq for MediaKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.raw == other.inner.raw
    }
}

impl Eq for MediaKey {}

impl MediaKey {
    /// A key from 32 bytes; the sender must draw them from a cryptographic random source.
    pub fn from_bytes(raw: [u8; MEDIA_KEY_LEN]) -> Self {
        // HMAC takes a key of any length: this cannot fail.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&raw)
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        MediaKey {
            inner: Arc::new(KeyState { raw, keyed }),
        }
    }

    pub fn as_bytes(&self) -> &[u8; MEDIA_KEY_LEN] {
        &self.inner.raw
    }

    /// The tag of a datagram made of `parts` in order (header and payload, never copied).
    pub fn tag(&self, parts: &[&[u8]]) -> AuthTag {
        let mut mac = self.inner.keyed.clone();
        for part in parts {
            mac.update(part);
        }
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; AUTH_TAG_LEN];
        tag.copy_from_slice(&full[..AUTH_TAG_LEN]);
        tag
    }

    /// Whether `datagram` ends in a valid tag over the rest of it. Compares in constant time.
    pub fn verify(&self, datagram: &[u8]) -> bool {
        let Some(covered_len) = datagram.len().checked_sub(AUTH_TAG_LEN) else {
            return false;
        };
        let (covered, tag) = datagram.split_at(covered_len);
        let mut mac = self.inner.keyed.clone();
        mac.update(covered);
        mac.verify_truncated_left(tag).is_ok()
    }
}

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
    fn a_tag_verifies_only_with_its_key_and_bytes() {
        let key = MediaKey::from_bytes([7; MEDIA_KEY_LEN]);
        let mut datagram = b"header and payload".to_vec();
        let tag = key.tag(&[b"header ", b"and payload"]);
        datagram.extend_from_slice(&tag);
        assert!(key.verify(&datagram));
        assert!(!MediaKey::from_bytes([8; MEDIA_KEY_LEN]).verify(&datagram));
        for i in 0..datagram.len() {
            let mut flipped = datagram.clone();
            flipped[i] ^= 0x01;
            assert!(!key.verify(&flipped), "a flipped bit at byte {i} verified");
        }
        assert!(!key.verify(&datagram[..AUTH_TAG_LEN - 1]));
        assert!(!key.verify(&datagram[1..]));
    }

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
