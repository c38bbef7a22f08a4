//! Extending 48-bit wire sequence numbers to 64 bits.

use crate::SEQUENCE_MASK;

/// The 64-bit number whose low 48 bits are `wire` and which lies nearest `reference` (the idea of
/// RFC 3550 appendix A.1, applied to our 48-bit numbers).
pub(crate) fn extend_near(reference: u64, wire: u64) -> u64 {
    let wire = wire & SEQUENCE_MASK;
    let span = SEQUENCE_MASK + 1;
    let candidate = (reference & !SEQUENCE_MASK) | wire;
    [
        candidate.checked_sub(span),
        Some(candidate),
        candidate.checked_add(span),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|c| c.abs_diff(reference))
    .unwrap_or(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_across_the_48_bit_wrap() {
        assert_eq!(extend_near(5, 7), 7);
        assert_eq!(extend_near(SEQUENCE_MASK - 1, 2), SEQUENCE_MASK + 3);
        assert_eq!(extend_near(SEQUENCE_MASK + 3, SEQUENCE_MASK), SEQUENCE_MASK);
    }
}
