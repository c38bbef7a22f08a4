//! Signatures of the webhooks the cloud sends to the app's back end:
//! `X-Liverelay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
//!
//! The time is signed with the body so a receiver can refuse an old delivery replayed by
//! someone who captured it; the `v1=` label leaves room for another algorithm later, and a
//! receiver accepts the header when any `v1` it carries matches (several appear while a secret
//! is being rotated).

use super::codec::{hmac_sha256, sha256_tag_matches};
use std::fmt::Write;

/// The HTTP header carrying a webhook's signature, `t=<unix seconds>,v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Liverelay-Signature";

/// The header value for `body` sent at `t` (Unix seconds).
pub fn sign_webhook(secret: &[u8], t: i64, body: &[u8]) -> String {
    let stamp = t.to_string();
    let tag = hmac_sha256(secret, &[stamp.as_bytes(), b".", body]);
    let mut header = format!("t={stamp},v1=");
    for byte in tag {
        let _ = write!(header, "{byte:02x}");
    }
    header
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefusal {
    /// The header has no `t=`, a non-numeric time, no `v1=` or a `v1=` that is not hex, or a part
    /// without `=`.
    #[error("signature header malformed")]
    Malformed,
    /// No `v1=` signature matches HMAC-SHA256 of `t.body` under the secret: forged, altered or
    /// signed with another secret.
    #[error("signature does not match the body")]
    BadSignature,
    /// The signed time is more than the window away from the receiver's clock: an old delivery,
    /// perhaps replayed.
    #[error("signature time outside the accepted window")]
    Stale,
}

/// Checks a received header against `body`, accepting times within `window_s` of `now`.
pub fn verify_webhook(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    window_s: i64,
) -> Result<(), WebhookRefusal> {
    let mut stamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if stamp.is_none() => stamp = Some(value),
            Some(("v1", value)) => tags.push(decode_hex(value).ok_or(WebhookRefusal::Malformed)?),
            Some(_) => {}
            None => return Err(WebhookRefusal::Malformed),
        }
    }
    let stamp = stamp.ok_or(WebhookRefusal::Malformed)?;
    let t: i64 = stamp.parse().map_err(|_| WebhookRefusal::Malformed)?;
    if tags.is_empty() {
        return Err(WebhookRefusal::Malformed);
    }
    let signed = |tag: &Vec<u8>| sha256_tag_matches(secret, &[stamp.as_bytes(), b".", body], tag);
    if !tags.iter().any(signed) {
        return Err(WebhookRefusal::BadSignature);
    }
    if now.abs_diff(t) > window_s.unsigned_abs() {
        return Err(WebhookRefusal::Stale);
    }
    Ok(())
}

/// Lower- or upper-case hex; `None` for anything else (`from_str_radix` alone would take a sign).
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    let value = |digit: u8| (digit as char).to_digit(16).map(|v| v as u8);
    digits
        .chunks(2)
        .map(|pair| Some(value(pair[0])? << 4 | value(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec-test-0123456789";
    const BODY: &[u8] = br#"{"id":"evt-1","type":"live_started"}"#;

    /// Made with Python: `hmac.new(SECRET, b"1767225600." + BODY, hashlib.sha256).hexdigest()`.
    #[test]
    fn signs_as_the_independent_vector() {
        assert_eq!(
            sign_webhook(SECRET, 1_767_225_600, BODY),
            "t=1767225600,v1=8074e794e7d00bbd90c99872289f5edaa122bdff7765cf34d15ca3b08b9ad487"
        );
    }

    #[test]
    fn verifies_and_refuses() {
        let header = sign_webhook(SECRET, 1000, BODY);
        assert_eq!(verify_webhook(SECRET, &header, BODY, 1000, 300), Ok(()));
        assert_eq!(verify_webhook(SECRET, &header, BODY, 1300, 300), Ok(()));
        assert_eq!(
            verify_webhook(SECRET, &header, BODY, 1301, 300),
            Err(WebhookRefusal::Stale)
        );
        assert_eq!(
            verify_webhook(SECRET, &header, b"{}", 1000, 300),
            Err(WebhookRefusal::BadSignature)
        );
        assert_eq!(
            verify_webhook(b"other-secret", &header, BODY, 1000, 300),
            Err(WebhookRefusal::BadSignature)
        );
        let moved = header.replace("t=1000", "t=1001");
        assert_eq!(
            verify_webhook(SECRET, &moved, BODY, 1000, 300),
            Err(WebhookRefusal::BadSignature)
        );
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify_webhook(SECRET, &rotated, BODY, 1000, 300), Ok(()));
        for bad in [
            "",
            "t=1000",
            "v1=00",
            "t=x,v1=00",
            "t=1000,v1=zz",
            "t=1000,v1=0",
            "garbage",
        ] {
            assert_eq!(
                verify_webhook(SECRET, bad, BODY, 1000, 300),
                Err(WebhookRefusal::Malformed),
                "{bad:?}"
            );
        }
    }
}
