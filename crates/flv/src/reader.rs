//! Incremental FLV demuxing: feed bytes as they arrive, take whole tags out.

use crate::{FlvError, Tag, TagType, TAG_HEADER_LEN, TAG_TRAILER_LEN};
use bytes::{Buf, BytesMut};

const FILE_HEADER_MIN: usize = 9;

/// Reads an FLV byte stream (a file or an HTTP-FLV response) tag by tag.
///
/// Bodies are split off the internal buffer without copying. The PreviousTagSize of every tag is
/// checked, so a stream that lost or gained bytes is reported at the first tag it broke.
#[derive(Debug, Default)]
pub struct TagReader {
    buffer: BytesMut,
    header: Option<FileHeader>,
}

/// What the FLV file header announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// The header's TypeFlagsAudio bit (0x04): the file says it has audio tags.
    pub has_audio: bool,
    /// The header's TypeFlagsVideo bit (0x01): the file says it has video tags.
    pub has_video: bool,
}

impl TagReader {
    /// A reader that expects the 9-byte FLV file header first, with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The file header, once it has been read.
    pub fn file_header(&self) -> Option<FileHeader> {
        self.header
    }

    /// The next whole tag, `Ok(None)` when more bytes are needed.
    pub fn next_tag(&mut self) -> Result<Option<Tag>, FlvError> {
        if self.header.is_none() && !self.read_file_header()? {
            return Ok(None);
        }
        if self.buffer.len() < TAG_HEADER_LEN {
            return Ok(None);
        }
        let head = &self.buffer[..TAG_HEADER_LEN];
        let tag_type = TagType::from_u8(head[0] & 0x1f)?;
        let body_len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
        let timestamp = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
        let total = TAG_HEADER_LEN + body_len + TAG_TRAILER_LEN;
        if self.buffer.len() < total {
            return Ok(None);
        }
        self.buffer.advance(TAG_HEADER_LEN);
        let body = self.buffer.split_to(body_len).freeze();
        let found = self.buffer.get_u32();
        let expected = (TAG_HEADER_LEN + body_len) as u32;
        if found != expected {
            return Err(FlvError::BadPreviousTagSize { expected, found });
        }
        Ok(Some(Tag::new(tag_type, timestamp, body)))
    }

    fn read_file_header(&mut self) -> Result<bool, FlvError> {
        if self.buffer.len() < FILE_HEADER_MIN {
            return Ok(false);
        }
        let signature = [self.buffer[0], self.buffer[1], self.buffer[2]];
        if &signature != b"FLV" {
            return Err(FlvError::BadSignature(signature));
        }
        if self.buffer[3] != 1 {
            return Err(FlvError::BadVersion(self.buffer[3]));
        }
        let header_len = u32::from_be_bytes([
            self.buffer[5],
            self.buffer[6],
            self.buffer[7],
            self.buffer[8],
        ]);
        if header_len < FILE_HEADER_MIN as u32 {
            return Err(FlvError::BadHeaderLength(header_len));
        }
        let skip = header_len as usize + TAG_TRAILER_LEN;
        if self.buffer.len() < skip {
            return Ok(false);
        }
        let flags = self.buffer[4];
        self.header = Some(FileHeader {
            has_audio: flags & 0x04 != 0,
            has_video: flags & 0x01 != 0,
        });
        self.buffer.advance(skip);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{file_header, write_tag_into};
    use bytes::Bytes;

    fn sample_stream() -> (Vec<u8>, Vec<Tag>) {
        let tags = vec![
            Tag::new(
                TagType::Script,
                0,
                Bytes::from_static(b"\x02\x00\x0aonMetaData"),
            ),
            Tag::new(TagType::Video, 0, Bytes::from_static(&[0x17, 0, 0, 0, 0])),
            Tag::new(TagType::Audio, 23, Bytes::from_static(&[0xaf, 1, 2, 3])),
            // A timestamp past 2^24 ms exercises the extension byte.
            Tag::new(TagType::Video, 0x1234_5678, Bytes::from(vec![0x27; 70_000])),
        ];
        let mut out = BytesMut::new();
        out.extend_from_slice(&file_header(true, true));
        for tag in &tags {
            write_tag_into(&mut out, tag.tag_type, tag.timestamp, &tag.body).unwrap();
        }
        (out.to_vec(), tags)
    }

    #[test]
    fn round_trip_byte_by_byte() {
        let (bytes, tags) = sample_stream();
        let mut reader = TagReader::new();
        let mut got = Vec::new();
        for byte in bytes {
            reader.push(&[byte]);
            while let Some(tag) = reader.next_tag().unwrap() {
                got.push(tag);
            }
        }
        assert_eq!(got, tags);
        assert_eq!(
            reader.file_header(),
            Some(FileHeader {
                has_audio: true,
                has_video: true
            })
        );
    }

    #[test]
    fn corrupt_streams_are_reported() {
        let mut reader = TagReader::new();
        reader.push(b"FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        assert_eq!(reader.next_tag(), Err(FlvError::BadSignature(*b"FLX")));

        let (mut bytes, _) = sample_stream();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let mut reader = TagReader::new();
        reader.push(&bytes);
        let mut result = Ok(None);
        for _ in 0..5 {
            result = reader.next_tag();
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(FlvError::BadPreviousTagSize { .. })));
    }

    #[test]
    fn oversized_body_is_refused() {
        let body = vec![0u8; 0x0100_0000];
        let mut out = BytesMut::new();
        assert_eq!(
            write_tag_into(&mut out, TagType::Video, 0, &body),
            Err(FlvError::BodyTooLarge(0x0100_0000))
        );
    }
}
