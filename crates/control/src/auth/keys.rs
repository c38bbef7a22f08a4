//! Keys: secrets that never print, and access-key/secret-key pairs kept as a ring so a new pair
//! can be added before the old one is retired (rotation without a flag day).

use super::codec::is_unreserved;
use super::AuthError;
use std::fmt;

/// A shared secret (an SK, the JWT key, a publish key). Never empty: an empty HMAC key would let
/// anyone sign. `Debug` hides the bytes so a logged config cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// A secret from `bytes`; fails with [`AuthError::Config`] when they are empty.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<SecretKey, AuthError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(AuthError::Config("a secret key must not be empty".into()));
        }
        Ok(SecretKey(bytes))
    }

    /// The secret's bytes, for use as an HMAC key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes>)", self.0.len())
    }
}

/// An access key (public, names the pair) and its secret key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    access_key: String,
    secret_key: SecretKey,
}

impl KeyPair {
    /// The access key is 1 to 128 letters, digits, `-`, `_`, `.` or `~`: it travels unescaped
    /// in a header (`Qiniu <AK>:...`) and in a URL query (`token=<AK>:...`), where `:`, `&` or
    /// a space would make it ambiguous.
    pub fn new(access_key: impl Into<String>, secret_key: SecretKey) -> Result<KeyPair, AuthError> {
        let access_key = access_key.into();
        if !(1..=128).contains(&access_key.len()) || !access_key.bytes().all(is_unreserved) {
            return Err(AuthError::Config(format!(
                "access key {access_key:?} must be 1 to 128 letters, digits, '-', '_', '.' or '~'"
            )));
        }
        Ok(KeyPair {
            access_key,
            secret_key,
        })
    }

    /// The public access key that names the pair (sent in `Qiniu <AK>:<sign>` and
    /// `token=<AK>:...`).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The pair's secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret_key
    }
}

/// The pairs a node accepts. The first one signs what this node signs (push URLs); any of them
/// verifies. Access keys are unique, so a signature names exactly one secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    pairs: Vec<KeyPair>,
}

impl KeyRing {
    /// A ring of `pairs`, the first being the signing pair; fails with [`AuthError::Config`] when
    /// an access key is listed twice. An empty ring is allowed (nothing is accepted).
    pub fn new(pairs: Vec<KeyPair>) -> Result<KeyRing, AuthError> {
        for (i, pair) in pairs.iter().enumerate() {
            if pairs[..i]
                .iter()
                .any(|earlier| earlier.access_key == pair.access_key)
            {
                return Err(AuthError::Config(format!(
                    "access key {:?} is listed twice",
                    pair.access_key
                )));
            }
        }
        Ok(KeyRing { pairs })
    }

    /// The pair this node signs with: the first one.
    pub fn signing_pair(&self) -> Option<&KeyPair> {
        self.pairs.first()
    }

    /// The pair of `access_key`, if it is one of ours. Access keys are public, so a plain
    /// comparison reveals nothing.
    pub fn pair_for(&self, access_key: &str) -> Option<&KeyPair> {
        self.pairs.iter().find(|pair| pair.access_key == access_key)
    }

    /// True when no pair is configured, so no signed request or URL can be accepted.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretKey {
        SecretKey::new(text).unwrap()
    }

    #[test]
    fn secrets_are_never_empty_and_never_printed() {
        assert!(matches!(SecretKey::new(""), Err(AuthError::Config(_))));
        let printed = format!("{:?}", KeyPair::new("ak-1", secret("hunter2")).unwrap());
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("ak-1") && printed.contains("7 bytes"),
            "{printed}"
        );
    }

    #[test]
    fn access_keys_that_would_break_parsing_are_refused() {
        for bad in ["", "a:b", "a&b", "a b", "é", &"x".repeat(129)] {
            assert!(KeyPair::new(bad, secret("s")).is_err(), "{bad:?}");
        }
        assert!(KeyPair::new("AK_9-x.y~z", secret("s")).is_ok());
    }

    #[test]
    fn ring_finds_by_access_key_and_signs_with_the_first() {
        let ring = KeyRing::new(vec![
            KeyPair::new("new", secret("s-new")).unwrap(),
            KeyPair::new("old", secret("s-old")).unwrap(),
        ])
        .unwrap();
        assert_eq!(ring.signing_pair().unwrap().access_key(), "new");
        assert_eq!(
            ring.pair_for("old").unwrap().secret_key().as_bytes(),
            b"s-old"
        );
        assert!(ring.pair_for("other").is_none());
        let twice = KeyRing::new(vec![
            KeyPair::new("a", secret("1")).unwrap(),
            KeyPair::new("a", secret("2")).unwrap(),
        ]);
        assert!(matches!(twice, Err(AuthError::Config(m)) if m.contains("twice")));
        assert!(KeyRing::default().signing_pair().is_none());
    }
}
