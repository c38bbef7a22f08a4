//! The FLV recording format, over any `Write + Seek`.
//!
//! A recording is an ordinary FLV file (Adobe FLV spec v10.1, annex E): the header, an
//! `onMetaData` script tag, then the publish's tags in arrival order. Two things make it a
//! recording rather than a copy of the live stream:
//!
//! - Timestamps are rebased so the first audio or video tag is at 0; a video tag's
//!   composition time lives in its body and is left untouched.
//! - The metadata's `duration` and `filesize` are written as 0 and overwritten in place when
//!   the recording is closed (they are fixed-size numbers, see [`super::metadata`]), as are the
//!   header's audio/video flags.
//!
//! Every tag goes out whole (header, body, PreviousTagSize) in one vectored write as it is
//! given, nothing is kept back: a process that is killed leaves a file that reads to its last
//! complete tag, just with `duration` and `filesize` still 0.

use super::metadata::recording_metadata;
use flv::{Tag, TagType, TAG_HEADER_LEN};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};

/// Offset of the header's TypeFlags byte (audio 0x04, video 0x01).
const FLAGS_AT: u64 = 4;
const FLAG_AUDIO: u8 = 0x04;
const FLAG_VIDEO: u8 = 0x01;
/// Bytes before the first tag's body: the FLV header with PreviousTagSize0, then its tag header.
const FIRST_BODY_AT: u64 = 13 + TAG_HEADER_LEN as u64;

/// One recording being written to `out`, which must be empty at the start.
#[derive(Debug)]
pub struct FlvRecording<W> {
    out: W,
    /// Bytes written so far, which is the file's size: writes only append (patches are made
    /// by [`FlvRecording::finish`] and change no length).
    size: u64,
    /// File offsets of the `duration` and `filesize` values, once the head is written.
    patch: Option<(u64, u64)>,
    /// Timestamp of the first audio or video tag.
    base: Option<u32>,
    /// Largest rebased timestamp written.
    end_ms: u32,
    flags: u8,
}

/// What a closed recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// `duration` as patched, in ms: the largest rebased timestamp.
    pub duration_ms: u32,
    /// The file's size, as patched into `filesize`.
    pub size: u64,
}

impl<W: Write + Seek> FlvRecording<W> {
    pub fn new(out: W) -> Self {
        FlvRecording {
            out,
            size: 0,
            patch: None,
            base: None,
            end_ms: 0,
            flags: 0,
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `tag`. The first tag decides the file's metadata: an `onMetaData` becomes it (with
    /// the patchable fields added); before anything else a minimal one is written. Later
    /// script tags are written as they are, at the current end time (the cloud stamps script
    /// data 0, which would send the file's time backwards).
    pub fn write_tag(&mut self, tag: &Tag) -> io::Result<()> {
        if self.patch.is_none() {
            let encoder = tag.is_metadata().then_some(&tag.body[..]);
            self.write_head(encoder)?;
            if encoder.is_some() {
                return Ok(());
            }
        }
        let timestamp = self.rebase(tag);
        self.append(tag.tag_type, timestamp, &tag.body)
    }

    /// Writes the head if no tag came, patches `duration`, `filesize` and the header's flags,
    /// and leaves the position at the end of the file.
    pub fn finish(mut self) -> io::Result<(Closed, W)> {
        if self.patch.is_none() {
            self.write_head(None)?;
        }
        let closed = Closed {
            duration_ms: self.end_ms,
            size: self.size,
        };
        if let Some((duration_at, filesize_at)) = self.patch {
            let seconds = f64::from(closed.duration_ms) / 1000.0;
            self.overwrite(duration_at, &seconds.to_be_bytes())?;
            self.overwrite(filesize_at, &(closed.size as f64).to_be_bytes())?;
        }
        if self.flags != 0 {
            self.overwrite(FLAGS_AT, &[self.flags])?;
        }
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok((closed, self.out))
    }

    /// The FLV header (announcing audio and video until the close says what came) and the
    /// metadata tag.
    fn write_head(&mut self, encoder: Option<&[u8]>) -> io::Result<()> {
        let meta = recording_metadata(encoder);
        write_parts(&mut self.out, &[&flv::file_header(true, true)])?;
        self.size = 13;
        self.append(TagType::Script, 0, &meta.body)?;
        self.patch = Some((
            FIRST_BODY_AT + meta.duration_at as u64,
            FIRST_BODY_AT + meta.filesize_at as u64,
        ));
        Ok(())
    }

    /// The tag's time in the file; notes what the file holds. Media before the first
    /// audio or video tag's time (out-of-order interleaving) is clamped to 0.
    fn rebase(&mut self, tag: &Tag) -> u32 {
        let flag = match tag.tag_type {
            TagType::Script => return self.end_ms,
            TagType::Audio => FLAG_AUDIO,
            TagType::Video => FLAG_VIDEO,
        };
        self.flags |= flag;
        let base = *self.base.get_or_insert(tag.timestamp);
        let timestamp = tag.timestamp.saturating_sub(base);
        self.end_ms = self.end_ms.max(timestamp);
        timestamp
    }

    fn append(&mut self, tag_type: TagType, timestamp: u32, body: &[u8]) -> io::Result<()> {
        let header = flv::tag_header(tag_type, timestamp, body.len())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        let trailer = flv::tag_trailer(body.len());
        write_parts(&mut self.out, &[&header, body, &trailer])?;
        self.size += (header.len() + body.len() + trailer.len()) as u64;
        Ok(())
    }

    fn overwrite(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        self.out.seek(SeekFrom::Start(at))?;
        self.out.write_all(bytes)
    }
}

/// Writes `parts` in order, in one `writev` when the sink takes it all (a file does), so the
/// body is never copied next to its header.
fn write_parts(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let slices: Vec<IoSlice> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = loop {
        match out.write_vectored(&slices) {
            Ok(0) if total > 0 => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => break written,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    };
    // A short write: the rest, part by part.
    for part in parts {
        if done >= part.len() {
            done -= part.len();
            continue;
        }
        out.write_all(&part[done..])?;
        done = 0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use flv::TagReader;
    use rml_amf0::Amf0Value;
    use std::io::Cursor;

    fn tag(tag_type: TagType, timestamp: u32, body: &[u8]) -> Tag {
        Tag::new(tag_type, timestamp, Bytes::copy_from_slice(body))
    }

    fn encoder_metadata() -> Tag {
        let mut properties = std::collections::HashMap::new();
        properties.insert("width".to_owned(), Amf0Value::Number(320.0));
        let body = rml_amf0::serialize(&vec![
            Amf0Value::Utf8String("onMetaData".into()),
            Amf0Value::Object(properties),
        ])
        .unwrap();
        Tag::new(TagType::Script, 0, body.into())
    }

    /// A publish as the cloud sees it: metadata, sequence headers, media starting at 5000 ms
    /// (a publisher whose clock did not start at 0), a B-frame's composition time, a later
    /// script tag stamped 0.
    fn publish() -> Vec<Tag> {
        vec![
            encoder_metadata(),
            tag(TagType::Video, 5000, &[0x17, 0, 0, 0, 0, 1, 2]),
            tag(TagType::Audio, 5000, &[0xaf, 0, 0x12, 0x10]),
            tag(TagType::Video, 5000, &[0x17, 1, 0, 0, 66, 9, 9, 9]),
            tag(TagType::Audio, 5021, &[0xaf, 1, 7, 7]),
            tag(TagType::Video, 5033, &[0x27, 1, 0, 0, 33, 8]),
            tag(TagType::Script, 0, b"\x02\x00\x0aonCuePoint"),
            tag(TagType::Audio, 5043, &[0xaf, 1, 6]),
            tag(TagType::Video, 7400, &[0x27, 1, 0, 0, 0, 5]),
        ]
    }

    fn record(tags: &[Tag]) -> (Closed, Vec<u8>) {
        let mut recording = FlvRecording::new(Cursor::new(Vec::new()));
        for tag in tags {
            recording.write_tag(tag).unwrap();
        }
        let (closed, out) = recording.finish().unwrap();
        (closed, out.into_inner())
    }

    fn read_all(bytes: &[u8]) -> (TagReader, Vec<Tag>) {
        let mut reader = TagReader::new();
        reader.push(bytes);
        let mut tags = Vec::new();
        while let Some(tag) = reader.next_tag().unwrap() {
            tags.push(tag);
        }
        (reader, tags)
    }

    fn properties(tag: &Tag) -> std::collections::HashMap<String, Amf0Value> {
        let mut values = rml_amf0::deserialize(&mut Cursor::new(tag.body.to_vec())).unwrap();
        assert_eq!(values.len(), 2);
        values.pop().unwrap().get_object_properties().unwrap()
    }

    #[test]
    fn round_trip_rebases_and_patches() {
        let input = publish();
        let (closed, bytes) = record(&input);
        assert_eq!(
            closed,
            Closed {
                duration_ms: 2400,
                size: bytes.len() as u64
            }
        );
        let (reader, tags) = read_all(&bytes);
        let header = reader.file_header().unwrap();
        assert!(header.has_audio && header.has_video);
        assert!(tags[0].is_metadata());
        assert_eq!(tags[0].timestamp, 0);
        let meta = properties(&tags[0]);
        assert_eq!(meta["duration"], Amf0Value::Number(2.4));
        assert_eq!(meta["filesize"], Amf0Value::Number(bytes.len() as f64));
        assert_eq!(meta["width"], Amf0Value::Number(320.0));
        // Everything after the metadata: the same types and bodies, media shifted by 5000 ms,
        // the later script tag at the time it came.
        let expected: Vec<(TagType, u32, Bytes)> = input[1..]
            .iter()
            .map(|t| (t.tag_type, t.timestamp, t.body.clone()))
            .collect();
        let got: Vec<(TagType, u32, Bytes)> = tags[1..]
            .iter()
            .map(|t| (t.tag_type, t.timestamp, t.body.clone()))
            .collect();
        let rebased: Vec<u32> = got.iter().map(|t| t.1).collect();
        assert_eq!(rebased, [0, 0, 0, 21, 33, 33, 43, 2400]);
        for (want, have) in expected.iter().zip(&got) {
            assert_eq!((want.0, &want.2), (have.0, &have.2));
        }
        assert_eq!(got.len(), expected.len());
    }

    #[test]
    fn media_first_gets_a_minimal_metadata_and_audio_only_flags() {
        let (closed, bytes) = record(&[
            tag(TagType::Audio, 100, &[0xaf, 0, 0x12, 0x10]),
            tag(TagType::Audio, 1100, &[0xaf, 1, 1]),
            encoder_metadata(),
        ]);
        assert_eq!(closed.duration_ms, 1000);
        let (reader, tags) = read_all(&bytes);
        let header = reader.file_header().unwrap();
        assert!(header.has_audio && !header.has_video);
        let meta = properties(&tags[0]);
        assert_eq!(meta.len(), 2, "{meta:?}");
        assert_eq!(meta["duration"], Amf0Value::Number(1.0));
        assert_eq!(meta["filesize"], Amf0Value::Number(bytes.len() as f64));
        let times: Vec<(TagType, u32)> = tags.iter().map(|t| (t.tag_type, t.timestamp)).collect();
        assert_eq!(
            times,
            [
                (TagType::Script, 0),
                (TagType::Audio, 0),
                (TagType::Audio, 1000),
                (TagType::Script, 1000)
            ]
        );
    }

    #[test]
    fn an_empty_publish_is_a_valid_file() {
        let (closed, bytes) = record(&[]);
        assert_eq!(closed.duration_ms, 0);
        let (reader, tags) = read_all(&bytes);
        assert!(reader.file_header().is_some());
        assert_eq!(tags.len(), 1);
        assert_eq!(
            properties(&tags[0])["filesize"],
            Amf0Value::Number(bytes.len() as f64)
        );
    }

    /// What a killed process leaves: the bytes written so far, cut anywhere. Every complete tag
    /// reads back; the partial one is just not there yet.
    #[test]
    fn a_truncated_file_reads_to_its_last_complete_tag() {
        let input = publish();
        let mut recording = FlvRecording::new(Cursor::new(Vec::new()));
        let mut ends = Vec::new();
        for tag in &input {
            recording.write_tag(tag).unwrap();
            ends.push(recording.size() as usize);
        }
        let bytes = recording.finish().unwrap().1.into_inner();
        let (_, whole) = read_all(&bytes);
        for cut in 0..=bytes.len() {
            let (_, tags) = read_all(&bytes[..cut]);
            let complete = ends.iter().filter(|&&end| end <= cut).count();
            assert_eq!(tags.len(), complete, "cut at {cut}");
            // The tags written before the close are the same bytes (only the head is patched).
            for (index, got) in tags.iter().enumerate().skip(1) {
                assert_eq!(got, &whole[index], "cut at {cut}");
            }
        }
    }

    /// A sink that takes at most 3 bytes per call, to exercise the short-write path.
    struct Trickle(Cursor<Vec<u8>>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write(&buf[..buf.len().min(3)])
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Trickle {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.0.seek(to)
        }
    }

    #[test]
    fn short_writes_give_the_same_file() {
        let input = publish();
        let (_, whole) = record(&input);
        let mut recording = FlvRecording::new(Trickle(Cursor::new(Vec::new())));
        for tag in &input {
            recording.write_tag(tag).unwrap();
        }
        let (_, out) = recording.finish().unwrap();
        assert_eq!(out.0.into_inner(), whole);
    }
}
