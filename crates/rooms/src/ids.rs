//! Server-made identifiers. All come from the thread RNG (a CSPRNG seeded by the OS), so none
//! can be guessed from another: a room's `live_id` is shown to viewers, its `stream_name` is
//! not, and knowing one must not give the other (the vendor servers derived one from the other).

use rand::Rng;
use std::sync::atomic::{AtomicU16, Ordering};

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `len` characters of `[0-9a-z]`: URL-, file-name- and stream-name-safe, case-insensitive.
fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A room id: 22 characters, about 113 random bits.
pub(crate) fn live_id() -> String {
    random_token(22)
}

/// A PK session's id: 20 characters, about 103 random bits (anchors and viewers see it, and
/// only the two anchors may act on it, so it need not be secret, just unique).
pub(crate) fn pk_id() -> String {
    random_token(20)
}

/// A room's stream name (the `NAME` of `live/NAME`): 24 characters, about 124 random bits,
/// drawn independently of the room's `live_id`.
pub(crate) fn stream_name() -> String {
    random_token(24)
}

/// A gift's `biz_id`, the key the payment service is idempotent on: 24 characters, about 124
/// random bits, so no client can guess another's and none repeats across nodes.
pub(crate) fn biz_id() -> String {
    random_token(24)
}

/// A chat message's id: its time `at` (Unix ms) in 12 hex digits, so ids sort as the messages
/// were written; then this process's message count in 4 hex digits (wrapping), so two messages
/// of one millisecond from one node keep their order; then 10 random characters (about 51
/// bits) that keep two nodes' ids apart.
pub(crate) fn message_id(at: i64) -> String {
    static COUNT: AtomicU16 = AtomicU16::new(0);
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("{:012x}{count:04x}{}", at.max(0), random_token(10))
}

/// A random (version 4) UUID in its usual text form, for webhook event ids.
pub(crate) fn uuid_v4() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tokens_have_their_length_and_alphabet_and_do_not_repeat() {
        let ids: HashSet<String> = (0..1000).map(|_| live_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 22);
            assert!(id.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
        }
        assert_eq!(stream_name().len(), 24);
        assert_eq!(biz_id().len(), 24);
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!("89ab".contains(&parts[3][..1]), "{id}");
        assert_ne!(uuid_v4(), id);
    }
}
