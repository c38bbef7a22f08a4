//! A most-significant-bit-first reader over a byte slice.
//!
//! Every codec structure read here (H.264/H.265 RBSPs, the ISO BMFF configuration records, the
//! AAC AudioSpecificConfig, the AV1 sequence header) is a big-endian bit string. Reading past the
//! end is an error naming the structure, never a panic.

use crate::FlvError;

/// Reads bits in order from a byte slice; knows the name of what it reads for its errors.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`; `what` names the structure in errors ("H.264 SPS").
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        BitReader { data, pos: 0, what }
    }

    /// Bits not yet read.
    pub(crate) fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    fn truncated(&self) -> FlvError {
        FlvError::Truncated(self.what)
    }

    pub(crate) fn bit(&mut self) -> Result<bool, FlvError> {
        let byte = *self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| self.truncated())?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// An unsigned `n`-bit field, `n` at most 32 (u(n) in the ITU-T syntax tables).
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        debug_assert!(n <= 32);
        if self.remaining() < n as usize {
            return Err(self.truncated());
        }
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.bit()?);
        }
        // At most 32 bits were shifted in, so this never truncates.
        Ok(value as u32)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FlvError> {
        Ok(self.bits(8)? as u8)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, FlvError> {
        Ok(self.bits(16)? as u16)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), FlvError> {
        if self.remaining() < n {
            return Err(self.truncated());
        }
        self.pos += n;
        Ok(())
    }

    /// The next `n` whole bytes. Only meaningful on a byte boundary, where the callers (the
    /// byte-oriented configuration records) always are.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], FlvError> {
        if !self.pos.is_multiple_of(8) {
            return Err(FlvError::InvalidField {
                field: self.what,
                value: self.pos as u64,
            });
        }
        let start = self.pos / 8;
        let slice = start
            .checked_add(n)
            .and_then(|end| self.data.get(start..end))
            .ok_or_else(|| self.truncated())?;
        self.pos += n * 8;
        Ok(slice)
    }

    /// ue(v): unsigned Exp-Golomb code (H.264 §9.1, H.265 §9.2).
    ///
    /// Values up to 2^32 − 2 are legal, so at most 31 leading zero bits; more is corrupt input.
    pub(crate) fn ue(&mut self) -> Result<u32, FlvError> {
        let mut leading_zeros = 0u32;
        while !self.bit()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return Err(FlvError::ExpGolombTooLong(self.what));
            }
        }
        let suffix = u64::from(self.bits(leading_zeros)?);
        // 2^31 - 1 + (2^31 - 1) fits in u32.
        Ok(((1u64 << leading_zeros) - 1 + suffix) as u32)
    }

    /// se(v): signed Exp-Golomb code, mapped from ue(v) as 1, −1, 2, −2, ... (H.264 §9.1.1).
    pub(crate) fn se(&mut self) -> Result<i32, FlvError> {
        let code = i64::from(self.ue()?);
        let magnitude = (code + 1) / 2;
        let value = if code % 2 == 1 { magnitude } else { -magnitude };
        // |value| <= 2^31 - 1.
        Ok(value as i32)
    }
}

/// Reads the version byte a configuration record starts with; a record of another version has
/// another layout, so nothing after it can be trusted.
pub(super) fn read_version(
    r: &mut BitReader,
    expected: u8,
    field: &'static str,
) -> Result<(), FlvError> {
    let version = r.u8()?;
    if version != expected {
        return Err(FlvError::InvalidField {
            field,
            value: version.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_fields_cross_byte_boundaries() {
        let mut r = BitReader::new(&[0b1010_1100, 0b0101_0011, 0xff], "test");
        assert!(r.bit().unwrap());
        assert_eq!(r.bits(3).unwrap(), 0b010);
        assert_eq!(r.bits(8).unwrap(), 0b1100_0101);
        assert_eq!(r.remaining(), 12);
        assert_eq!(r.bits(12).unwrap(), 0b0011_1111_1111);
        assert_eq!(r.bit(), Err(FlvError::Truncated("test")));
    }

    #[test]
    fn exp_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 00101 | 0001000 -> ue 0, 1, 2, 3, 4, 7
        let bytes = [0b1010_0110, 0b0100_0010, 0b1000_1000];
        let mut r = BitReader::new(&bytes, "test");
        let values: Vec<u32> = (0..6).map(|_| r.ue().unwrap()).collect();
        assert_eq!(values, [0, 1, 2, 3, 4, 7]);

        // se: codes 1, 2, 3, 4 -> 1, -1, 2, -2
        let bytes = [0b0100_1100, 0b1000_0101];
        let mut r = BitReader::new(&bytes, "test");
        let values: Vec<i32> = (0..4).map(|_| r.se().unwrap()).collect();
        assert_eq!(values, [1, -1, 2, -2]);
    }

    #[test]
    fn longest_legal_and_too_long_exp_golomb() {
        // 31 zeros, a one, 31 ones: 2^32 - 2.
        let mut bytes = vec![0u8; 3];
        bytes.extend_from_slice(&[0b0000_0001, 0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(BitReader::new(&bytes, "t").ue(), Ok(u32::MAX - 1));
        let zeros = [0u8; 5];
        assert_eq!(
            BitReader::new(&zeros, "t").ue(),
            Err(FlvError::ExpGolombTooLong("t"))
        );
        assert_eq!(
            BitReader::new(&[0, 0, 0, 1], "t").ue(),
            Err(FlvError::Truncated("t"))
        );
    }

    #[test]
    fn byte_slices_need_alignment_and_length() {
        let data = [1, 2, 3, 4];
        let mut r = BitReader::new(&data, "rec");
        assert_eq!(r.bytes(2).unwrap(), &[1, 2]);
        assert_eq!(r.bytes(3), Err(FlvError::Truncated("rec")));
        r.skip(1).unwrap();
        assert!(matches!(r.bytes(1), Err(FlvError::InvalidField { .. })));
        assert_eq!(
            BitReader::new(&data, "rec").bytes(usize::MAX),
            Err(FlvError::Truncated("rec"))
        );
    }
}
