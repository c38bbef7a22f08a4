//! What the fan-out load tool (`src/bin/fanout.rs`) checks of one HTTP-FLV player's bytes,
//! without any socket: the response head (status 200), the body's framing (chunked or raw until
//! close) and the FLV inside it (the header, then tags whose types, sizes and previous-tag sizes
//! agree, FLV spec v10.1 annex E). Bytes are fed as they arrive; each complete tag is reported
//! with its timestamp so the tool can time it.
//!
//! It keeps no copy of the stream: a few header bytes at a time, so ten thousand players fit in
//! one process.

/// The longest response head accepted; the edge's is a few hundred bytes.
const MAX_HEAD: usize = 8192;
/// FLV header (9 bytes) plus PreviousTagSize0.
const FLV_START: usize = 13;
/// An FLV tag header.
const TAG_HEADER: usize = 11;

/// Why a player's bytes are not a well-formed HTTP-FLV stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The response head is too long or not HTTP.
    Head,
    /// The status was not 200.
    Status(u16),
    /// Chunked framing broken (size line or trailing CRLF).
    Chunk,
    /// Not `FLV`, version 1, header size 9, PreviousTagSize0 0.
    FlvHeader,
    /// A tag type other than audio (8), video (9) or script (18), or a filtered tag.
    TagType(u8),
    /// A tag's stream id not 0.
    StreamId,
    /// A previous-tag size that is not 11 + the tag's data size.
    PreviousTagSize {
        /// 11 + the data size of the tag just read.
        expected: u32,
        /// What followed it.
        found: u32,
    },
}

/// A complete tag, as the parser saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagSeen {
    /// 8 audio, 9 video, 18 script.
    pub tag_type: u8,
    /// The tag's timestamp in milliseconds (extended byte included).
    pub timestamp: u32,
    /// Its data size.
    pub size: u32,
    /// Script data, or an audio or video sequence header (AAC / AVC packet type 0, or an
    /// enhanced-RTMP SequenceStart): configuration, whose timestamp says nothing of when it is
    /// due.
    pub config: bool,
}

#[derive(Debug)]
enum Framing {
    /// Reading the response head.
    Head,
    /// The body runs until the connection closes.
    Raw,
    /// Chunked (RFC 9112 §7.1): reading a size line.
    ChunkSize { size: u64, digits: bool, ext: bool },
    /// Inside a chunk, this many bytes left.
    ChunkData(u64),
    /// Expecting the CR LF after a chunk (how many of the two are read).
    ChunkEnd(u8),
    /// The last chunk was seen.
    Done,
}

#[derive(Debug)]
enum Flv {
    Start,
    TagHeader,
    Data { left: u32 },
    PreviousSize,
}

/// One player's parser: feed it bytes with [`PlayCheck::feed`].
#[derive(Debug)]
pub struct PlayCheck {
    framing: Framing,
    head: Vec<u8>,
    flv: Flv,
    /// The header bytes being collected (FLV start, tag header or previous size).
    partial: [u8; FLV_START],
    filled: usize,
    tag: TagSeen,
    /// The first two data bytes of the tag being read (codec and packet type).
    lead: [u8; 2],
    body_bytes: u64,
}

impl Default for PlayCheck {
    fn default() -> Self {
        PlayCheck {
            framing: Framing::Head,
            head: Vec::new(),
            flv: Flv::Start,
            partial: [0; FLV_START],
            filled: 0,
            tag: TagSeen {
                tag_type: 0,
                timestamp: 0,
                size: 0,
                config: false,
            },
            lead: [0; 2],
            body_bytes: 0,
        }
    }
}

impl PlayCheck {
    /// Bytes of the FLV body so far (framing excluded).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Whether the body ended in-band (the last chunk of a chunked body).
    pub fn ended(&self) -> bool {
        matches!(self.framing, Framing::Done)
    }

    /// Takes bytes off the wire; `on_tag` is called for every tag completed by them.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        on_tag: &mut impl FnMut(TagSeen),
    ) -> Result<(), Malformed> {
        while !bytes.is_empty() {
            match &mut self.framing {
                Framing::Head => {
                    let before = self.head.len();
                    self.head.extend_from_slice(bytes);
                    let Some(end) = find(&self.head, b"\r\n\r\n") else {
                        if self.head.len() > MAX_HEAD {
                            return Err(Malformed::Head);
                        }
                        return Ok(());
                    };
                    let used = end + 4 - before;
                    self.framing = parse_head(&self.head[..end])?;
                    self.head = Vec::new();
                    bytes = &bytes[used..];
                }
                Framing::Raw => {
                    self.flv_bytes(bytes, on_tag)?;
                    return Ok(());
                }
                Framing::ChunkSize { size, digits, ext } => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    match byte {
                        b'\n' if *digits => {
                            self.framing = if *size == 0 {
                                Framing::Done
                            } else {
                                Framing::ChunkData(*size)
                            }
                        }
                        b'\r' => {}
                        _ if *ext => {}
                        b';' => *ext = true,
                        _ => {
                            let digit = (byte as char).to_digit(16).ok_or(Malformed::Chunk)?;
                            *size = size
                                .checked_mul(16)
                                .and_then(|s| s.checked_add(u64::from(digit)))
                                .ok_or(Malformed::Chunk)?;
                            *digits = true;
                        }
                    }
                }
                Framing::ChunkData(left) => {
                    let take = bytes
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= take as u64;
                    if *left == 0 {
                        self.framing = Framing::ChunkEnd(0);
                    }
                    let (data, rest) = bytes.split_at(take);
                    self.flv_bytes(data, on_tag)?;
                    bytes = rest;
                }
                Framing::ChunkEnd(read) => {
                    let expected = if *read == 0 { b'\r' } else { b'\n' };
                    if bytes[0] != expected {
                        return Err(Malformed::Chunk);
                    }
                    bytes = &bytes[1..];
                    *read += 1;
                    if *read == 2 {
                        self.framing = Framing::ChunkSize {
                            size: 0,
                            digits: false,
                            ext: false,
                        };
                    }
                }
                // The empty trailer section's CR LF; anything else after the last chunk is not
                // HTTP/1.1 framing.
                Framing::Done => {
                    if !matches!(bytes[0], b'\r' | b'\n') {
                        return Err(Malformed::Chunk);
                    }
                    bytes = &bytes[1..];
                }
            }
        }
        Ok(())
    }

    /// Collects `want` header bytes into `partial`; true once they are all there.
    fn collect(&mut self, bytes: &mut &[u8], want: usize) -> bool {
        let take = (want - self.filled).min(bytes.len());
        self.partial[self.filled..self.filled + take].copy_from_slice(&bytes[..take]);
        self.filled += take;
        *bytes = &bytes[take..];
        self.filled == want
    }

    fn flv_bytes(
        &mut self,
        mut bytes: &[u8],
        on_tag: &mut impl FnMut(TagSeen),
    ) -> Result<(), Malformed> {
        self.body_bytes += bytes.len() as u64;
        while !bytes.is_empty() {
            match &mut self.flv {
                Flv::Start => {
                    if !self.collect(&mut bytes, FLV_START) {
                        return Ok(());
                    }
                    let p = &self.partial;
                    if &p[..3] != b"FLV" || p[3] != 1 || be(&p[5..9]) != 9 || be(&p[9..13]) != 0 {
                        return Err(Malformed::FlvHeader);
                    }
                    self.filled = 0;
                    self.flv = Flv::TagHeader;
                }
                Flv::TagHeader => {
                    if !self.collect(&mut bytes, TAG_HEADER) {
                        return Ok(());
                    }
                    let p = &self.partial;
                    let tag_type = p[0];
                    if !matches!(tag_type, 8 | 9 | 18) {
                        return Err(Malformed::TagType(tag_type));
                    }
                    if be(&p[8..11]) != 0 {
                        return Err(Malformed::StreamId);
                    }
                    let size = be(&p[1..4]);
                    self.tag = TagSeen {
                        tag_type,
                        timestamp: be(&p[4..7]) | u32::from(p[7]) << 24,
                        size,
                        config: false,
                    };
                    self.lead = [0xff; 2];
                    self.filled = 0;
                    self.flv = Flv::Data { left: size };
                }
                Flv::Data { left } => {
                    for (at, byte) in bytes.iter().enumerate().take(2) {
                        if let Some(slot) = (self.tag.size - *left)
                            .checked_add(at as u32)
                            .and_then(|i| self.lead.get_mut(i as usize))
                        {
                            *slot = *byte;
                        }
                    }
                    let take = bytes.len().min(*left as usize);
                    *left -= take as u32;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        self.flv = Flv::PreviousSize;
                    }
                }
                Flv::PreviousSize => {
                    if !self.collect(&mut bytes, 4) {
                        return Ok(());
                    }
                    let found = be(&self.partial[..4]);
                    let expected = TAG_HEADER as u32 + self.tag.size;
                    if found != expected {
                        return Err(Malformed::PreviousTagSize { expected, found });
                    }
                    self.filled = 0;
                    self.flv = Flv::TagHeader;
                    self.tag.config = is_config(self.tag.tag_type, self.lead);
                    on_tag(self.tag);
                }
            }
        }
        Ok(())
    }
}

/// Whether a tag with these first data bytes is configuration (FLV spec v10.1 E.4.2.1 and
/// E.4.3.1; enhanced RTMP's extended video header).
fn is_config(tag_type: u8, lead: [u8; 2]) -> bool {
    match tag_type {
        8 => lead[0] >> 4 == 10 && lead[1] == 0,
        9 if lead[0] & 0x80 != 0 => lead[0] & 0x0f == 0,
        9 => lead[0] & 0x0f == 7 && lead[1] == 0,
        _ => true,
    }
}

/// Big-endian unsigned integer of up to four bytes.
fn be(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |n, b| n << 8 | u32::from(*b))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status line and the body's framing from a response head (without its blank line).
fn parse_head(head: &[u8]) -> Result<Framing, Malformed> {
    let text = std::str::from_utf8(head).map_err(|_| Malformed::Head)?;
    let mut lines = text.split("\r\n");
    let status = lines.next().ok_or(Malformed::Head)?;
    let code = status
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(Malformed::Head)?;
    if code != 200 {
        return Err(Malformed::Status(code));
    }
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    Ok(if chunked {
        Framing::ChunkSize {
            size: 0,
            digits: false,
            ext: false,
        }
    } else {
        Framing::Raw
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(tag_type: u8, timestamp: u32, data: &[u8]) -> Vec<u8> {
        let size = data.len() as u32;
        let mut out = vec![tag_type];
        out.extend_from_slice(&size.to_be_bytes()[1..]);
        out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
        out.push((timestamp >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(data);
        out.extend_from_slice(&(11 + size).to_be_bytes());
        out
    }

    fn flv() -> Vec<u8> {
        let mut body = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        body.extend(tag(18, 0, b"meta"));
        body.extend(tag(9, 0, &[0x17, 0, 0, 0, 0, 1]));
        body.extend(tag(9, 40, &[0x27; 300]));
        body.extend(tag(8, 0x0100_0021, &[0xaf; 20]));
        body
    }

    fn run(wire: &[u8], step: usize) -> (Result<(), Malformed>, Vec<TagSeen>, PlayCheck) {
        let mut check = PlayCheck::default();
        let mut tags = Vec::new();
        for piece in wire.chunks(step) {
            if let Err(e) = check.feed(piece, &mut |t| tags.push(t)) {
                return (Err(e), tags, check);
            }
        }
        (Ok(()), tags, check)
    }

    #[test]
    fn raw_and_chunked_bodies_give_the_same_tags_in_any_pieces() {
        let body = flv();
        let mut raw = b"HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\n\r\n".to_vec();
        raw.extend(&body);
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for piece in body.chunks(100) {
            chunked.extend(format!("{:X};x=y\r\n", piece.len()).bytes());
            chunked.extend(piece);
            chunked.extend(b"\r\n");
        }
        chunked.extend(b"0\r\n\r\n");
        for step in [1, 7, 4096] {
            let (raw_result, raw_tags, raw_check) = run(&raw, step);
            let (chunked_result, chunked_tags, chunked_check) = run(&chunked, step);
            assert_eq!(raw_result, Ok(()));
            assert_eq!(chunked_result, Ok(()));
            assert_eq!(raw_tags, chunked_tags);
            assert!(chunked_check.ended() && !raw_check.ended());
            assert_eq!(raw_check.body_bytes(), body.len() as u64);
            assert_eq!(chunked_check.body_bytes(), body.len() as u64);
        }
        let (_, tags, _) = run(&raw, 4096);
        let summary: Vec<_> = tags
            .iter()
            .map(|t| (t.tag_type, t.timestamp, t.size, t.config))
            .collect();
        assert_eq!(
            summary,
            [
                (18, 0, 4, true),
                (9, 0, 6, true),
                (9, 40, 300, false),
                (8, 0x0100_0021, 20, false)
            ]
        );
    }

    #[test]
    fn broken_streams_are_named() {
        let (result, _, _) = run(b"HTTP/1.1 404 Not Found\r\n\r\n", 5);
        assert_eq!(result, Err(Malformed::Status(404)));
        let mut wire = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let mut body = flv();
        let last = body.len() - 1;
        body[last] ^= 1;
        wire.extend(&body);
        let (result, tags, _) = run(&wire, 3);
        assert_eq!(
            result,
            Err(Malformed::PreviousTagSize {
                expected: 31,
                found: 30
            })
        );
        assert_eq!(tags.len(), 3);
        let mut wire = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        wire.extend(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        wire.extend(tag(7, 0, b"x"));
        assert_eq!(run(&wire, 64).0, Err(Malformed::TagType(7)));
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        wire.extend(b"4\r\nFLV\x01XX");
        assert_eq!(run(&wire, 64).0, Err(Malformed::Chunk));
    }
}
