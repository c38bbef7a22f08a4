//! Authentication of relay datagrams with a per-publish key.
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
//! A valid datagram captured on the network can be sent again: [`crate::ReplayWindow`] refuses
//! those.

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

    /// The raw 32 key bytes, as handed to edges in [`crate::CloudMessage::Announce`].
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
