//! Test-only writer for building parameter sets and headers bit by bit.

/// Appends bits most significant first; the inverse of `BitReader`.
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    len: usize,
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        BitWriter {
            bytes: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn bit(&mut self, bit: bool) -> &mut Self {
        if self.len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 0x80 >> (self.len % 8);
            }
        }
        self.len += 1;
        self
    }

    /// The low `n` bits of `value`, most significant first.
    pub(crate) fn bits(&mut self, n: u32, value: u64) -> &mut Self {
        for shift in (0..n).rev() {
            self.bit((value >> shift) & 1 == 1);
        }
        self
    }

    pub(crate) fn ue(&mut self, value: u32) -> &mut Self {
        let code = u64::from(value) + 1;
        let len = 64 - code.leading_zeros();
        self.bits(len - 1, 0).bits(len, code)
    }

    pub(crate) fn se(&mut self, value: i32) -> &mut Self {
        let code = if value > 0 {
            2 * value.unsigned_abs() - 1
        } else {
            2 * value.unsigned_abs()
        };
        self.ue(code)
    }

    /// rbsp_trailing_bits(): a one, then zeros to the byte boundary.
    pub(crate) fn trailing_bits(&mut self) -> &mut Self {
        self.bit(true);
        while !self.len.is_multiple_of(8) {
            self.bit(false);
        }
        self
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The bytes with emulation-prevention bytes inserted, as a NAL unit carries them.
    pub(crate) fn escaped(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 8);
        let mut zeros = 0;
        for &byte in &self.bytes {
            if zeros >= 2 && byte <= 3 {
                out.push(3);
                zeros = 0;
            }
            zeros = if byte == 0 { zeros + 1 } else { 0 };
            out.push(byte);
        }
        out
    }
}
