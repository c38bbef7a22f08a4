//! A small, strict FLV parser (Adobe FLV spec v10.1, annex E), written independently of
//! `crates/flv` so the code under test does not grade itself.

#[derive(Clone, PartialEq, Eq)]
pub struct Tag {
    /// 8 audio, 9 video, 18 script data.
    pub kind: u8,
    /// Timestamp in ms (24 bits + 8 extended bits).
    pub ts: u32,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl Tag {
    pub fn is_audio(&self) -> bool {
        self.kind == 8
    }

    pub fn is_video(&self) -> bool {
        self.kind == 9
    }

    pub fn is_script(&self) -> bool {
        self.kind == 18
    }

    /// Video frame type 1 (keyframe).
    pub fn is_keyframe(&self) -> bool {
        self.is_video() && self.data.first().is_some_and(|b| b >> 4 == 1)
    }

    /// AVC sequence header (AVCPacketType 0) or AAC sequence header (AACPacketType 0).
    pub fn is_seq_header(&self) -> bool {
        match self.kind {
            9 => self.data.first().is_some_and(|b| b & 0x0f == 7) && self.data.get(1) == Some(&0),
            8 => self.data.first().is_some_and(|b| b >> 4 == 10) && self.data.get(1) == Some(&0),
            _ => false,
        }
    }

    /// AVC end of sequence (AVCPacketType 2), which ffmpeg's FLV muxer writes at the end.
    pub fn is_end_of_sequence(&self) -> bool {
        self.is_video()
            && self.data.first().is_some_and(|b| b & 0x0f == 7)
            && self.data.get(1) == Some(&2)
    }

    /// An audio or video tag that carries a frame (not a sequence header, not an AVC end of
    /// sequence): what ffmpeg turns into a packet.
    pub fn is_media(&self) -> bool {
        (self.is_audio() || self.is_video()) && !self.is_seq_header() && !self.is_end_of_sequence()
    }

    /// For a script tag: its first AMF0 string (e.g. "onMetaData", "@setDataFrame").
    pub fn script_name(&self) -> Option<String> {
        if !self.is_script() || self.data.len() < 3 || self.data[0] != 2 {
            return None;
        }
        let len = u16::from_be_bytes([self.data[1], self.data[2]]) as usize;
        let s = self.data.get(3..3 + len)?;
        Some(String::from_utf8_lossy(s).into_owned())
    }

    pub fn describe(&self) -> String {
        let what = match self.kind {
            8 if self.is_seq_header() => "audio-seq-header".to_string(),
            8 => "audio".to_string(),
            9 if self.is_seq_header() => "video-seq-header".to_string(),
            9 if self.is_end_of_sequence() => "video-end-of-sequence".to_string(),
            9 if self.is_keyframe() => "video-key".to_string(),
            9 => "video".to_string(),
            18 => format!("script({})", self.script_name().unwrap_or_default()),
            k => format!("type{k}"),
        };
        format!("{what}@{}ms/{}B", self.ts, self.data.len())
    }
}

#[derive(Debug)]
pub struct Flv {
    pub header: Vec<u8>,
    pub tags: Vec<Tag>,
    /// Bytes after the last complete tag (a truncated tag), 0 for a well-formed file.
    pub trailing: usize,
    /// For each tag, the offset just past it (its PreviousTagSize included) in the parsed bytes.
    pub ends: Vec<usize>,
}

impl Flv {
    pub fn media(&self) -> impl Iterator<Item = &Tag> {
        self.tags.iter().filter(|t| t.is_media())
    }
}

/// Parses an FLV file/stream. Checks the signature, the header size, that the first
/// PreviousTagSize is 0 and that every PreviousTagSize equals 11 + DataSize of the tag
/// before it. A truncated last tag is reported in `trailing`, not as an error.
pub fn parse(bytes: &[u8]) -> Result<Flv, String> {
    if bytes.len() < 13 {
        return Err(format!(
            "FLV shorter than its header ({} bytes)",
            bytes.len()
        ));
    }
    if &bytes[..3] != b"FLV" || bytes[3] != 1 {
        return Err(format!("bad FLV signature {:02x?}", &bytes[..4]));
    }
    let data_offset = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
    if data_offset != 9 {
        return Err(format!("FLV DataOffset {data_offset}, expected 9"));
    }
    let prev0 = u32::from_be_bytes([bytes[9], bytes[10], bytes[11], bytes[12]]);
    if prev0 != 0 {
        return Err(format!("PreviousTagSize0 is {prev0}, expected 0"));
    }
    let mut tags = Vec::new();
    let mut ends = Vec::new();
    let mut off = 13;
    loop {
        if bytes.len() - off < 11 {
            break;
        }
        let kind = bytes[off] & 0x1f;
        if bytes[off] & 0x20 != 0 {
            return Err(format!("tag {} at byte {off}: Filter bit set", tags.len()));
        }
        let size = u32::from_be_bytes([0, bytes[off + 1], bytes[off + 2], bytes[off + 3]]) as usize;
        let ts = u32::from_be_bytes([
            bytes[off + 7],
            bytes[off + 4],
            bytes[off + 5],
            bytes[off + 6],
        ]);
        if off + 11 + size + 4 > bytes.len() {
            break;
        }
        if !matches!(kind, 8 | 9 | 18) {
            return Err(format!(
                "tag {} at byte {off}: unknown tag type {kind}",
                tags.len()
            ));
        }
        let data = bytes[off + 11..off + 11 + size].to_vec();
        let p = off + 11 + size;
        let prev =
            u32::from_be_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]) as usize;
        if prev != 11 + size {
            return Err(format!(
                "tag {} at byte {off} ({kind}@{ts}ms, {size}B): PreviousTagSize {prev}, expected {}",
                tags.len(),
                11 + size
            ));
        }
        tags.push(Tag { kind, ts, data });
        off = p + 4;
        ends.push(off);
    }
    Ok(Flv {
        header: bytes[..9].to_vec(),
        tags,
        trailing: bytes.len() - off,
        ends,
    })
}

/// Serializes tags into an FLV file (header from `header`, PreviousTagSize after each tag).
pub fn write(header: &[u8], tags: &[Tag]) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend_from_slice(&[0, 0, 0, 0]);
    for t in tags {
        let size = t.data.len() as u32;
        out.push(t.kind);
        out.extend_from_slice(&size.to_be_bytes()[1..]);
        out.extend_from_slice(&t.ts.to_be_bytes()[1..]);
        out.push((t.ts >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&t.data);
        out.extend_from_slice(&(11 + size).to_be_bytes());
    }
    out
}
