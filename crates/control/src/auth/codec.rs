//! The primitives every scheme here shares: HMAC tags (RFC 2104), URL-safe base64 (RFC 4648 §5)
//! and tag checks in constant time.

use base64::alphabet::URL_SAFE;
use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Letters, digits, `-`, `_`, `.` and `~`: the characters a URL carries as they are
/// (RFC 3986 §2.3), so names made of them read the same escaped or not.
pub(crate) fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte)
}

/// URL-safe base64 with padding, as the vendor signers emit it (Go's `base64.URLEncoding`).
pub(crate) fn b64_padded(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE.encode(bytes)
}

/// URL-safe base64 without padding, as JWT segments are written (RFC 7515 §2).
pub(crate) fn b64_unpadded(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes URL-safe base64 with or without its padding: clients differ, and padding carries no
/// information. Non-canonical encodings (stray low bits) are refused, so one tag has one text.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    const EITHER: GeneralPurpose = GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    EITHER.decode(text).ok()
}

fn keyed<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> M {
    // HMAC hashes long keys and pads short ones (RFC 2104 §2): every length is valid, so this
    // cannot fail whatever the key.
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// HMAC-SHA1 over the concatenation of `parts`.
pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    keyed::<Hmac<Sha1>>(key, parts)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Whether `tag` is HMAC-SHA1 over `parts`, compared in constant time so the time taken says
/// nothing about how many leading bytes were right.
pub(crate) fn sha1_tag_matches(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    keyed::<Hmac<Sha1>>(key, parts).verify_slice(tag).is_ok()
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    keyed::<Hmac<Sha256>>(key, parts)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Whether `tag` is HMAC-SHA256 over `parts`, in constant time.
pub(crate) fn sha256_tag_matches(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    keyed::<Hmac<Sha256>>(key, parts).verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2202 and RFC 4231 both use test case 2: key "Jefe", given here in two parts.
    const JEFE_DATA: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];

    #[test]
    fn base64_padding_is_optional_but_bits_are_canonical() {
        assert_eq!(b64_decode("YWI="), Some(b"ab".to_vec()));
        assert_eq!(b64_decode("YWI"), Some(b"ab".to_vec()));
        assert_eq!(b64_decode("-_8"), Some(vec![0xfb, 0xff]));
        // "YWJ" carries a stray low bit after "ab".
        assert_eq!(b64_decode("YWJ"), None);
        assert_eq!(
            b64_decode("+/8="),
            None,
            "standard alphabet is not URL-safe"
        );
        assert_eq!(b64_decode("YW I"), None);
    }

    #[test]
    fn hmac_sha1_rfc2202_case_2() {
        // effcdf6ae5eb2fa2d27416d5f184df9c259a7c79 in the RFC's hex.
        let tag = hmac_sha1(b"Jefe", JEFE_DATA);
        assert_eq!(b64_padded(&tag), "7_zfauXrL6LSdBbV8YTfnCWafHk=");
        assert!(sha1_tag_matches(b"Jefe", JEFE_DATA, &tag));
        assert!(!sha1_tag_matches(b"Jeff", JEFE_DATA, &tag));
        assert!(!sha1_tag_matches(b"Jefe", JEFE_DATA, &tag[..19]));
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        // 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843 in the RFC's hex.
        let tag = hmac_sha256(b"Jefe", JEFE_DATA);
        let expected = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM";
        assert_eq!(b64_unpadded(&tag), expected);
        assert!(sha256_tag_matches(b"Jefe", JEFE_DATA, &tag));
        assert!(!sha256_tag_matches(b"Jefe", JEFE_DATA, &tag[1..]));
    }
}
