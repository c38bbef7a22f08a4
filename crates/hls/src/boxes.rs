//! A minimal ISO/IEC 14496-12 box writer.
//!
//! Every box starts with a 32-bit size and a four-character type (§4.2). The writer reserves the
//! size when a box opens and patches it when the box closes, so nested boxes are written in one
//! pass into one `Vec<u8>` with no intermediate buffers: the hot path (one `moof` per LL-HLS
//! part) costs a handful of `extend_from_slice` calls per sample.

use crate::HlsError;

/// Appends boxes to a byte vector.
#[derive(Debug, Default)]
pub(crate) struct BoxWriter {
    buf: Vec<u8>,
}

/// Where an open box starts; closing it patches its size.
#[derive(Debug, Clone, Copy)]
#[must_use = "an open box must be closed with BoxWriter::end"]
pub(crate) struct OpenBox(usize);

impl BoxWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        BoxWriter {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Opens a plain box (§4.2 `Box`).
    pub(crate) fn start(&mut self, fourcc: &[u8; 4]) -> OpenBox {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
        OpenBox(at)
    }

    /// Opens a full box (§4.2 `FullBox`): version byte and 24-bit flags after the type.
    pub(crate) fn start_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> OpenBox {
        let open = self.start(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        open
    }

    /// Closes a box, writing its size (header included).
    pub(crate) fn end(&mut self, open: OpenBox, what: &'static str) -> Result<(), HlsError> {
        let size = u32::try_from(self.buf.len() - open.0).map_err(|_| HlsError::TooLarge(what))?;
        self.buf[open.0..open.0 + 4].copy_from_slice(&size.to_be_bytes());
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// The current length: the offset the next byte will have.
    pub(crate) fn position(&self) -> usize {
        self.buf.len()
    }

    /// Overwrites four bytes written earlier (a placeholder such as `trun`'s data offset).
    pub(crate) fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_patched() {
        let mut w = BoxWriter::default();
        let outer = w.start(b"moov");
        let inner = w.start_full(b"mvhd", 1, 0x000203);
        w.u32(7);
        w.end(inner, "mvhd").unwrap();
        w.end(outer, "moov").unwrap();
        let out = w.into_vec();
        assert_eq!(out.len(), 8 + 16);
        assert_eq!(&out[0..8], b"\x00\x00\x00\x18moov");
        assert_eq!(&out[8..16], b"\x00\x00\x00\x10mvhd");
        assert_eq!(&out[16..20], &[1, 0, 2, 3], "version and flags");
        assert_eq!(&out[20..24], &[0, 0, 0, 7]);
    }
}
