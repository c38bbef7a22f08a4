//! What the auth tests share: the key pairs and the instant the vectors were made for.
#![allow(dead_code)] // each test file uses its own part

use relay_control::auth::{KeyPair, KeyRing, SecretKey};

pub const AK: &str = "ak-test";
pub const SK: &str = "liverelay-sk-0001";
/// 2025-03-14T09:26:53Z.
pub const NOW: i64 = 1_741_944_413;
/// `NOW` as an `X-Qiniu-Date`.
pub const DATE: &str = "20250314T092653Z";

pub fn secret(text: &str) -> SecretKey {
    SecretKey::new(text).unwrap()
}

pub fn pair(ak: &str, sk: &str) -> KeyPair {
    KeyPair::new(ak, secret(sk)).unwrap()
}

pub fn ring(pairs: &[(&str, &str)]) -> KeyRing {
    KeyRing::new(pairs.iter().map(|(ak, sk)| pair(ak, sk)).collect()).unwrap()
}

/// Ours plus a second known pair, to show that a known AK with the wrong secret fails.
pub fn test_ring() -> KeyRing {
    ring(&[(AK, SK), ("ak-other", "another-secret")])
}
