//! FLV muxing: the file header and the framing around a tag body.

use crate::{FlvError, TagType};
use bytes::{BufMut, BytesMut};

/// Bytes of a tag header: type, u24 body length, u24 timestamp + u8 extension, u24 stream id.
pub const TAG_HEADER_LEN: usize = 11;
/// Bytes of the PreviousTagSize field that follows every tag.
pub const TAG_TRAILER_LEN: usize = 4;
/// Largest body the u24 length field can describe.
const MAX_BODY_LEN: usize = 0x00ff_ffff;

/// The 9-byte FLV header followed by PreviousTagSize0 (always 0).
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// Appends one whole tag (header, body, PreviousTagSize) to `out`.
///
/// The timestamp's low 24 bits go in bytes 4..7 and its high 8 bits in byte 7, as the FLV spec's
/// `TimestampExtended` requires; the stream id is always 0.
pub fn write_tag_into(
    out: &mut BytesMut,
    tag_type: TagType,
    timestamp: u32,
    body: &[u8],
) -> Result<(), FlvError> {
    write_tag_parts_into(out, tag_type, timestamp, &[body])
}

/// Like [`write_tag_into`] for a body that arrived in pieces (the fragments of a packet train).
pub fn write_tag_parts_into<P: AsRef<[u8]>>(
    out: &mut BytesMut,
    tag_type: TagType,
    timestamp: u32,
    parts: &[P],
) -> Result<(), FlvError> {
    let body_len: usize = parts.iter().map(|p| p.as_ref().len()).sum();
    let header = tag_header(tag_type, timestamp, body_len)?;
    out.reserve(TAG_HEADER_LEN + body_len + TAG_TRAILER_LEN);
    out.put_slice(&header);
    for part in parts {
        out.put_slice(part.as_ref());
    }
    out.put_slice(&tag_trailer(body_len));
    Ok(())
}

/// The 11-byte header of a tag whose body is `body_len` bytes, for writers that send the body
/// from its own buffer (a file written with vectored I/O) instead of copying it next to the
/// header.
pub fn tag_header(
    tag_type: TagType,
    timestamp: u32,
    body_len: usize,
) -> Result<[u8; TAG_HEADER_LEN], FlvError> {
    if body_len > MAX_BODY_LEN {
        return Err(FlvError::BodyTooLarge(body_len));
    }
    let len = (body_len as u32).to_be_bytes();
    let ts = timestamp.to_be_bytes();
    Ok([
        tag_type as u8,
        len[1],
        len[2],
        len[3],
        ts[1],
        ts[2],
        ts[3],
        ts[0],
        0,
        0,
        0,
    ])
}

/// The PreviousTagSize that follows a tag whose body is `body_len` bytes (at most 2^24 - 1, as
/// [`tag_header`] checks).
pub fn tag_trailer(body_len: usize) -> [u8; TAG_TRAILER_LEN] {
    (body_len as u32 + TAG_HEADER_LEN as u32).to_be_bytes()
}
