//! NAL units as the ISO/IEC 14496-15 configuration records carry them.

use super::bits::BitReader;
use crate::FlvError;

/// Reads `count` NAL units, each after a 16-bit length (the `sequenceParameterSetLength` /
/// `nalUnitLength` loops of ISO/IEC 14496-15 §5.3.3.1.2 and §8.3.3.1.2), and returns the first.
///
/// All of them are read so that a record cut anywhere in its lists is reported as truncated.
pub(crate) fn first_of_list<'a>(
    r: &mut BitReader<'a>,
    count: u32,
) -> Result<Option<&'a [u8]>, FlvError> {
    let mut first = None;
    for _ in 0..count {
        let len = r.u16()?;
        let nal = r.bytes(len.into())?;
        first = first.or(Some(nal));
    }
    Ok(first)
}

/// Removes the emulation-prevention bytes of an H.264 or H.265 NAL unit.
///
/// An encoder inserts `0x03` after every two zero bytes that would otherwise be followed by a
/// byte `<= 0x03`, so that no start code appears inside a NAL unit (H.264 §7.3.1 and §7.4.1,
/// H.265 §7.3.1.1 and §7.4.2). The syntax elements of a parameter set are defined on the
/// sequence without those bytes, the RBSP, so they must go before any field is read.
pub(crate) fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut rbsp = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &byte in nal {
        if zeros >= 2 && byte == 0x03 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        rbsp.push(byte);
    }
    rbsp
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn drops_only_the_emulation_prevention_byte() {
        assert_eq!(unescape(&[0, 0, 3, 1]), [0, 0, 1]);
        assert_eq!(unescape(&[0, 0, 3, 0, 0, 3, 0]), [0, 0, 0, 0, 0]);
        // A 0x03 after a single zero, or a second 0x03, is data.
        assert_eq!(unescape(&[0, 3, 0, 0, 3, 3]), [0, 3, 0, 0, 3]);
        assert_eq!(unescape(&[0x67, 0x64]), [0x67, 0x64]);
        assert!(unescape(&[]).is_empty());
    }
}
