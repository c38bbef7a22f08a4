//! CMAF / fragmented MP4 (ISO/IEC 14496-12 §8.8, ISO/IEC 23000-19): the init segment and
//! media fragments.
//!
//! The init segment is `ftyp` + `moov` with empty sample tables (every sample lives in a
//! fragment) and an `mvex` announcing fragments. A media fragment is `moof` + `mdat`; its header
//! bytes are written into one buffer and the sample payloads follow as [`Bytes`] slices of the
//! FLV tag bodies, so a [`Fragment`] is a `Vec<Bytes>` that the I/O layer writes with vectored
//! I/O, never a copy of the media.

use crate::boxes::BoxWriter;
use crate::codec::{AudioConfig, AudioKind, VideoConfig, VideoKind};
use crate::HlsError;
use bytes::Bytes;

/// Track id of the video track; audio is [`AUDIO_TRACK_ID`]. Fixed, so a player switching
/// between inits of one stream keeps its track mapping.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Video timescale: 90 kHz. FLV's millisecond timestamps convert exactly (×90), it is the clock
/// of MPEG-2 TS and RTP video, which HLS players and validators expect, and it can represent
/// frame durations such as 1001/30000 s that a millisecond clock rounds.
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// `sample_flags` (§8.8.3.1) of a sync sample: `sample_depends_on` = 2 (depends on nothing).
pub(crate) const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// Of a non-sync sample: `sample_depends_on` = 1 and `sample_is_non_sync_sample` = 1.
pub(crate) const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// `tfhd` flag: `default-base-is-moof` (§8.8.7.1), data offsets count from the `moof`, as CMAF
/// requires.
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `tfhd` flag: `default-sample-flags-present`.
const TFHD_DEFAULT_SAMPLE_FLAGS: u32 = 0x00_0020;
/// `trun` flags (§8.8.8.1).
pub(crate) const TRUN_DATA_OFFSET: u32 = 0x00_0001;
pub(crate) const TRUN_DURATION: u32 = 0x00_0100;
pub(crate) const TRUN_SIZE: u32 = 0x00_0200;
pub(crate) const TRUN_FLAGS: u32 = 0x00_0400;
pub(crate) const TRUN_COMPOSITION_OFFSET: u32 = 0x00_0800;

/// The unity transformation matrix of `mvhd`/`tkhd` (§8.2.2.3).
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// One coded frame in a fragment.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The payload: a slice of the tag body.
    pub data: Bytes,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// PTS − DTS in the track's timescale; negative values need `trun` version 1.
    pub composition_offset: i32,
    /// A random access point (IDR / key frame; every audio frame).
    pub sync: bool,
}

/// One track's samples in a fragment.
#[derive(Debug, Clone, Copy)]
pub struct TrackRun<'a> {
    /// [`VIDEO_TRACK_ID`] or [`AUDIO_TRACK_ID`].
    pub track_id: u32,
    /// Decode time of the first sample, in the track's timescale (`tfdt`).
    pub base_decode_time: u64,
    /// Video samples carry per-sample flags and composition offsets; audio samples are all sync.
    pub video: bool,
    /// The samples, in decode order.
    pub samples: &'a [Sample],
}

/// A `moof` + `mdat` as the header buffer followed by the sample payloads.
#[derive(Debug, Clone, Default)]
pub struct Fragment {
    /// Header bytes first, then every sample's data in order.
    pub pieces: Vec<Bytes>,
    /// Total length of all pieces.
    pub len: usize,
}

/// Writes the init segment (`ftyp` + `moov`) for the given tracks.
pub fn init_segment(
    video: Option<&VideoConfig>,
    audio: Option<&AudioConfig>,
) -> Result<Bytes, HlsError> {
    let mut w = BoxWriter::with_capacity(1024);
    // ftyp (§4.3): CMAF brand `cmfc` (ISO/IEC 23000-19 §7.2) with `iso6` as the base, which
    // covers fragments with tfdt and negative composition offsets (trun version 1).
    let ftyp = w.start(b"ftyp");
    w.bytes(b"iso6");
    w.u32(0);
    w.bytes(b"iso6cmfcmp41");
    if video.is_some_and(|v| v.kind == VideoKind::Av1) {
        w.bytes(b"av01");
    }
    w.end(ftyp, "ftyp")?;

    let moov = w.start(b"moov");
    let mvhd = w.start_full(b"mvhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(1000); // timescale (of the movie; tracks have their own)
    w.u32(0); // duration: unknown, fragmented
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    for m in MATRIX {
        w.u32(m);
    }
    w.zeros(24); // pre_defined
    w.u32(AUDIO_TRACK_ID + 1); // next_track_ID
    w.end(mvhd, "mvhd")?;
    if let Some(v) = video {
        video_trak(&mut w, v)?;
    }
    if let Some(a) = audio {
        audio_trak(&mut w, a)?;
    }
    let mvex = w.start(b"mvex");
    for (present, id) in [
        (video.is_some(), VIDEO_TRACK_ID),
        (audio.is_some(), AUDIO_TRACK_ID),
    ] {
        if present {
            let trex = w.start_full(b"trex", 0, 0);
            w.u32(id);
            w.u32(1); // default_sample_description_index
            w.u32(0); // default_sample_duration
            w.u32(0); // default_sample_size
            w.u32(0); // default_sample_flags
            w.end(trex, "trex")?;
        }
    }
    w.end(mvex, "mvex")?;
    w.end(moov, "moov")?;
    Ok(Bytes::from(w.into_vec()))
}

/// `tkhd` (§8.3.2): enabled and in the movie (flags 3); width and height are 16.16.
fn tkhd(w: &mut BoxWriter, id: u32, audio: bool, width: u16, height: u16) -> Result<(), HlsError> {
    let tkhd = w.start_full(b"tkhd", 0, 0x000003);
    w.u32(0);
    w.u32(0);
    w.u32(id);
    w.u32(0); // reserved
    w.u32(0); // duration
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if audio { 0x0100 } else { 0 });
    w.u16(0);
    for m in MATRIX {
        w.u32(m);
    }
    w.u32(u32::from(width) << 16);
    w.u32(u32::from(height) << 16);
    w.end(tkhd, "tkhd")
}

/// `mdhd` (§8.4.2) and `hdlr` (§8.4.3).
fn mdhd_hdlr(w: &mut BoxWriter, timescale: u32, handler: &[u8; 4]) -> Result<(), HlsError> {
    let mdhd = w.start_full(b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(timescale);
    w.u32(0);
    w.u16(0x55c4); // language "und", ISO-639-2/T packed in 5-bit letters
    w.u16(0);
    w.end(mdhd, "mdhd")?;
    let hdlr = w.start_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(handler);
    w.zeros(12);
    w.bytes(if handler == b"vide" {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    });
    w.end(hdlr, "hdlr")
}

/// `dinf`/`dref` with one self-contained `url ` entry (§8.7.1), then `stbl` around the sample
/// entry the caller writes, with empty `stts`, `stsc`, `stsz`, `stco` (§8.8.1: in a fragmented
/// file the samples are all in fragments).
fn dinf(w: &mut BoxWriter) -> Result<(), HlsError> {
    let dinf = w.start(b"dinf");
    let dref = w.start_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.start_full(b"url ", 0, 1);
    w.end(url, "url")?;
    w.end(dref, "dref")?;
    w.end(dinf, "dinf")
}

fn empty_tables(w: &mut BoxWriter) -> Result<(), HlsError> {
    for fourcc in [b"stts", b"stsc", b"stco"] {
        let b = w.start_full(fourcc, 0, 0);
        w.u32(0);
        w.end(b, "sample table")?;
    }
    let stsz = w.start_full(b"stsz", 0, 0);
    w.u32(0); // sample_size
    w.u32(0); // sample_count
    w.end(stsz, "stsz")
}

fn video_trak(w: &mut BoxWriter, v: &VideoConfig) -> Result<(), HlsError> {
    let trak = w.start(b"trak");
    tkhd(w, VIDEO_TRACK_ID, false, v.width, v.height)?;
    let mdia = w.start(b"mdia");
    mdhd_hdlr(w, VIDEO_TIMESCALE, b"vide")?;
    let minf = w.start(b"minf");
    let vmhd = w.start_full(b"vmhd", 0, 1);
    w.zeros(8); // graphicsmode, opcolor
    w.end(vmhd, "vmhd")?;
    dinf(w)?;
    let stbl = w.start(b"stbl");
    let stsd = w.start_full(b"stsd", 0, 0);
    w.u32(1);
    let (entry, config) = match v.kind {
        VideoKind::Avc => (b"avc1", b"avcC"),
        VideoKind::Hevc => (b"hvc1", b"hvcC"),
        VideoKind::Av1 => (b"av01", b"av1C"),
    };
    // VisualSampleEntry (§12.1.3).
    let se = w.start(entry);
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined, reserved
    w.u16(v.width);
    w.u16(v.height);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xffff); // pre_defined = -1
    let cfg = w.start(config);
    w.bytes(&v.record);
    w.end(cfg, "decoder configuration record")?;
    w.end(se, "visual sample entry")?;
    w.end(stsd, "stsd")?;
    empty_tables(w)?;
    w.end(stbl, "stbl")?;
    w.end(minf, "minf")?;
    w.end(mdia, "mdia")?;
    w.end(trak, "trak")
}

fn audio_trak(w: &mut BoxWriter, a: &AudioConfig) -> Result<(), HlsError> {
    let trak = w.start(b"trak");
    tkhd(w, AUDIO_TRACK_ID, true, 0, 0)?;
    let mdia = w.start(b"mdia");
    mdhd_hdlr(w, a.sample_rate, b"soun")?;
    let minf = w.start(b"minf");
    let smhd = w.start_full(b"smhd", 0, 0);
    w.u32(0); // balance, reserved
    w.end(smhd, "smhd")?;
    dinf(w)?;
    let stbl = w.start(b"stbl");
    let stsd = w.start_full(b"stsd", 0, 0);
    w.u32(1);
    // AudioSampleEntry (§12.2.3); samplerate is 16.16 and only fits rates below 65536, which
    // is the case for every AAC rate used in practice and for Opus (48000).
    let se = w.start(match a.kind {
        AudioKind::Aac => b"mp4a",
        AudioKind::Opus => b"Opus",
    });
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(u16::from(a.channels));
    w.u16(16);
    w.u32(0);
    w.u32(u32::from(u16::try_from(a.sample_rate).unwrap_or(0)) << 16);
    match a.kind {
        AudioKind::Aac => esds(w, &a.config)?,
        AudioKind::Opus => dops(w, &a.config)?,
    }
    w.end(se, "audio sample entry")?;
    w.end(stsd, "stsd")?;
    empty_tables(w)?;
    w.end(stbl, "stbl")?;
    w.end(minf, "minf")?;
    w.end(mdia, "mdia")?;
    w.end(trak, "trak")
}

/// Descriptor header of ISO/IEC 14496-1 §8.3.3: tag and an expandable length (7 bits a byte).
fn descriptor(w: &mut BoxWriter, tag: u8, len: usize) -> Result<(), HlsError> {
    if len >= 1 << 28 {
        return Err(HlsError::TooLarge("esds descriptor"));
    }
    w.u8(tag);
    let mut shift = 21;
    while shift > 0 && len >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        w.u8(0x80 | ((len >> shift) & 0x7f) as u8);
        shift -= 7;
    }
    w.u8((len & 0x7f) as u8);
    Ok(())
}

fn descriptor_header_len(len: usize) -> usize {
    match len {
        0..=0x7f => 2,
        0x80..=0x3fff => 3,
        0x4000..=0x1f_ffff => 4,
        _ => 5,
    }
}

/// `esds` (ISO/IEC 14496-14 §3.1.2): an ES_Descriptor with a DecoderConfigDescriptor
/// (objectTypeIndication 0x40 = MPEG-4 audio, streamType 5 = audio) around the
/// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), and the SLConfigDescriptor predefined 2.
fn esds(w: &mut BoxWriter, asc: &[u8]) -> Result<(), HlsError> {
    let esds = w.start_full(b"esds", 0, 0);
    let dsi = descriptor_header_len(asc.len()) + asc.len();
    let dcd_body = 13 + dsi;
    let dcd = descriptor_header_len(dcd_body) + dcd_body;
    let sl = 3;
    descriptor(w, 0x03, 3 + dcd + sl)?;
    w.u16(0); // ES_ID
    w.u8(0); // no dependsOn, URL or OCR stream
    descriptor(w, 0x04, dcd_body)?;
    w.u8(0x40);
    w.u8((0x05 << 2) | 1); // streamType audio, upStream 0, reserved 1
    w.u24(0); // bufferSizeDB
    w.u32(0); // maxBitrate
    w.u32(0); // avgBitrate
    descriptor(w, 0x05, asc.len())?;
    w.bytes(asc);
    descriptor(w, 0x06, 1)?;
    w.u8(0x02);
    w.end(esds, "esds")
}

/// `dOps` (Opus in ISOBMFF §4.3.2) from the identification header (RFC 7845 §5.1), whose
/// little-endian fields become big-endian and whose magic and version are dropped.
fn dops(w: &mut BoxWriter, head: &[u8]) -> Result<(), HlsError> {
    // OpusHead: magic(8) version(1) channels(1) pre_skip(2 LE) rate(4 LE) gain(2 LE) family(1)
    let short = HlsError::Truncated("Opus identification header");
    let fixed = head.get(8..19).ok_or(short.clone())?;
    let channels = fixed[1];
    let family = fixed[10];
    let dops = w.start(b"dOps");
    w.u8(0); // Version
    w.u8(channels);
    w.u16(u16::from_le_bytes([fixed[2], fixed[3]]));
    w.u32(u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]));
    w.u16(u16::from_le_bytes([fixed[8], fixed[9]]));
    w.u8(family);
    if family != 0 {
        // StreamCount, CoupledCount, ChannelMapping[channels]: same order in both formats.
        let table = head.get(19..21 + usize::from(channels)).ok_or(short)?;
        w.bytes(table);
    }
    w.end(dops, "dOps")
}

/// Writes one media fragment: `moof` (`mfhd`, then a `traf` per run with `tfhd`, `tfdt`
/// version 1, `trun`) and the `mdat` header, followed by the sample payloads.
///
/// Video runs use `trun` version 1 with per-sample duration, size, flags and signed
/// composition offsets (B-frames have PTS < DTS of later frames, so offsets relative to a
/// shifted timeline go negative); audio runs use version 0 with duration and size, and the
/// sync flags as the `tfhd` default.
pub fn media_fragment(sequence: u32, runs: &[TrackRun<'_>]) -> Result<Fragment, HlsError> {
    let samples: usize = runs.iter().map(|r| r.samples.len()).sum();
    let mut w = BoxWriter::with_capacity(64 + runs.len() * 64 + samples * 16);
    let moof = w.start(b"moof");
    let mfhd = w.start_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.end(mfhd, "mfhd")?;
    let mut offset_fields = Vec::with_capacity(runs.len());
    for run in runs {
        let traf = w.start(b"traf");
        let tfhd_flags = if run.video {
            TFHD_DEFAULT_BASE_IS_MOOF
        } else {
            TFHD_DEFAULT_BASE_IS_MOOF | TFHD_DEFAULT_SAMPLE_FLAGS
        };
        let tfhd = w.start_full(b"tfhd", 0, tfhd_flags);
        w.u32(run.track_id);
        if !run.video {
            w.u32(SYNC_SAMPLE_FLAGS);
        }
        w.end(tfhd, "tfhd")?;
        let tfdt = w.start_full(b"tfdt", 1, 0);
        w.u64(run.base_decode_time);
        w.end(tfdt, "tfdt")?;
        let (version, flags) = if run.video {
            (
                1,
                TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_COMPOSITION_OFFSET,
            )
        } else {
            (0, TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE)
        };
        let trun = w.start_full(b"trun", version, flags);
        w.u32(u32::try_from(run.samples.len()).map_err(|_| HlsError::TooLarge("trun"))?);
        offset_fields.push(w.position());
        w.u32(0); // data_offset, patched below
        for s in run.samples {
            w.u32(s.duration);
            w.u32(u32::try_from(s.data.len()).map_err(|_| HlsError::TooLarge("sample"))?);
            if run.video {
                w.u32(if s.sync {
                    SYNC_SAMPLE_FLAGS
                } else {
                    NON_SYNC_SAMPLE_FLAGS
                });
                w.i32(s.composition_offset);
            }
        }
        w.end(trun, "trun")?;
        w.end(traf, "traf")?;
    }
    w.end(moof, "moof")?;
    let moof_len = w.position();
    let payload: usize = runs
        .iter()
        .flat_map(|r| r.samples.iter())
        .map(|s| s.data.len())
        .sum();
    let mdat_len = u32::try_from(8 + payload).map_err(|_| HlsError::TooLarge("mdat"))?;
    // Each run's data starts after the moof, the mdat header and the runs before it.
    let mut data_offset = moof_len + 8;
    for (run, at) in runs.iter().zip(offset_fields) {
        let offset = u32::try_from(data_offset).map_err(|_| HlsError::TooLarge("mdat"))?;
        w.patch_u32(at, offset);
        data_offset += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    w.u32(mdat_len);
    w.bytes(b"mdat");
    let header = w.into_vec();
    let mut pieces = Vec::with_capacity(1 + samples);
    let len = header.len() + payload;
    pieces.push(Bytes::from(header));
    pieces.extend(
        runs.iter()
            .flat_map(|r| r.samples.iter())
            .map(|s| s.data.clone()),
    );
    Ok(Fragment { pieces, len })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Walks the boxes of `data` from `at` to `end`: (fourcc, start, size).
    pub(crate) fn boxes(data: &[u8], mut at: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
        let mut out = Vec::new();
        while at + 8 <= end {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            let fourcc: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
            assert!(size >= 8 && at + size <= end, "box {fourcc:?} overflows");
            out.push((fourcc, at, size));
            at += size;
        }
        assert_eq!(at, end, "boxes fill their parent exactly");
        out
    }

    pub(crate) fn find(data: &[u8], path: &[&[u8; 4]]) -> Option<(usize, usize)> {
        let (mut start, mut end) = (0, data.len());
        for (depth, fourcc) in path.iter().enumerate() {
            let children = boxes(data, start, end);
            let (_, at, size) = children.into_iter().find(|(f, _, _)| f == *fourcc)?;
            start = at + 8;
            end = at + size;
            // Containers whose payload starts with fields before the children.
            if depth + 1 < path.len() {
                start += match *fourcc {
                    b"stsd" => 8,
                    b"avc1" | b"hvc1" | b"av01" => 78,
                    b"mp4a" | b"Opus" => 28,
                    _ => 0,
                };
            }
        }
        Some((start, end))
    }

    fn avc_config() -> VideoConfig {
        VideoConfig {
            kind: VideoKind::Avc,
            record: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0]),
            width: 320,
            height: 240,
            frame_rate: None,
        }
    }

    #[test]
    fn init_segment_layout() {
        let aac = AudioConfig {
            kind: AudioKind::Aac,
            config: Bytes::from_static(&[0x12, 0x10]),
            sample_rate: 44_100,
            channels: 2,
        };
        let init = init_segment(Some(&avc_config()), Some(&aac)).unwrap();
        let top: Vec<_> = boxes(&init, 0, init.len()).iter().map(|b| b.0).collect();
        assert_eq!(top, [*b"ftyp", *b"moov"]);
        let moov: Vec<_> = {
            let (s, e) = find(&init, &[b"moov"]).unwrap();
            boxes(&init, s, e).iter().map(|b| b.0).collect()
        };
        assert_eq!(moov, [*b"mvhd", *b"trak", *b"trak", *b"mvex"]);
        let (s, e) = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avcC",
            ],
        )
        .unwrap();
        assert_eq!(&init[s..e], &avc_config().record[..]);
        let (s, _) = find(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]).unwrap();
        assert_eq!(&init[s + 12..s + 16], &VIDEO_TIMESCALE.to_be_bytes());
        // The esds carries the AudioSpecificConfig inside tag 5.
        let audio_trak = boxes(&init, find(&init, &[b"moov"]).unwrap().0, init.len())[2];
        let trak = &init[audio_trak.1..audio_trak.1 + audio_trak.2];
        let (s, e) = find(
            trak,
            &[
                b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a", b"esds",
            ],
        )
        .unwrap();
        let esds = &trak[s..e];
        assert_eq!(esds[4], 0x03);
        assert!(esds.windows(4).any(|w| w == [0x05, 0x02, 0x12, 0x10]));
        assert!(esds.ends_with(&[0x06, 0x01, 0x02]));
        let (s, _) = find(trak, &[b"trak", b"mdia", b"mdhd"]).unwrap();
        assert_eq!(&trak[s + 12..s + 16], &44_100u32.to_be_bytes());
    }

    #[test]
    fn dops_from_opus_head() {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let opus = AudioConfig {
            kind: AudioKind::Opus,
            config: Bytes::from(head),
            sample_rate: 48_000,
            channels: 2,
        };
        let init = init_segment(None, Some(&opus)).unwrap();
        let (s, e) = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"Opus", b"dOps",
            ],
        )
        .unwrap();
        // Version 0, 2 channels, pre-skip 312 and rate 48000 big-endian, gain 0, family 0.
        assert_eq!(&init[s..e], &[0, 2, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]);
        let truncated = AudioConfig {
            config: Bytes::from_static(b"OpusHead\x01"),
            ..opus
        };
        assert!(init_segment(None, Some(&truncated)).is_err());
    }

    #[test]
    fn fragment_layout_and_trun() {
        let video = [
            Sample {
                data: Bytes::from_static(&[1, 2, 3]),
                duration: 3000,
                composition_offset: 6000,
                sync: true,
            },
            Sample {
                data: Bytes::from_static(&[4, 5]),
                duration: 3000,
                composition_offset: -3000,
                sync: false,
            },
        ];
        let audio = [Sample {
            data: Bytes::from_static(&[9; 7]),
            duration: 1024,
            composition_offset: 0,
            sync: true,
        }];
        let f = media_fragment(
            7,
            &[
                TrackRun {
                    track_id: VIDEO_TRACK_ID,
                    base_decode_time: 1 << 33,
                    video: true,
                    samples: &video,
                },
                TrackRun {
                    track_id: AUDIO_TRACK_ID,
                    base_decode_time: 441,
                    video: false,
                    samples: &audio,
                },
            ],
        )
        .unwrap();
        assert_eq!(f.pieces.len(), 4, "header and three payload slices");
        let flat: Vec<u8> = f.pieces.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(flat.len(), f.len);
        let top = boxes(&flat, 0, flat.len());
        assert_eq!(top[0].0, *b"moof");
        assert_eq!(top[1].0, *b"mdat");
        assert_eq!(top[1].2, 8 + 12);
        let (s, _) = find(&flat, &[b"moof", b"mfhd"]).unwrap();
        assert_eq!(&flat[s + 4..s + 8], &7u32.to_be_bytes());
        let (s, _) = find(&flat, &[b"moof", b"traf", b"tfdt"]).unwrap();
        assert_eq!(flat[s], 1, "tfdt version 1");
        assert_eq!(&flat[s + 4..s + 12], &(1u64 << 33).to_be_bytes());
        let (s, e) = find(&flat, &[b"moof", b"traf", b"trun"]).unwrap();
        let trun = &flat[s..e];
        assert_eq!(trun[0], 1, "version 1: signed composition offsets");
        assert_eq!(u32::from_be_bytes([0, trun[1], trun[2], trun[3]]), 0x000f01);
        assert_eq!(&trun[4..8], &2u32.to_be_bytes());
        let data_offset = u32::from_be_bytes(trun[8..12].try_into().unwrap()) as usize;
        assert_eq!(data_offset, top[0].2 + 8, "first byte of the mdat payload");
        assert_eq!(&flat[data_offset..data_offset + 3], &[1, 2, 3]);
        // Second sample: duration, size, non-sync flags, offset -3000.
        assert_eq!(&trun[36..40], &NON_SYNC_SAMPLE_FLAGS.to_be_bytes());
        assert_eq!(&trun[40..44], &(-3000i32).to_be_bytes());
        assert_eq!(&trun[20..24], &SYNC_SAMPLE_FLAGS.to_be_bytes());
        // Audio traf: its data follows the video data.
        let moof = find(&flat, &[b"moof"]).unwrap();
        let trafs: Vec<_> = boxes(&flat, moof.0, moof.1)
            .into_iter()
            .filter(|b| b.0 == *b"traf")
            .collect();
        assert_eq!(trafs.len(), 2);
        let audio_traf = &flat[trafs[1].1..trafs[1].1 + trafs[1].2];
        let (s, e) = find(audio_traf, &[b"traf", b"trun"]).unwrap();
        let trun = &audio_traf[s..e];
        assert_eq!(trun[0], 0);
        let offset = u32::from_be_bytes(trun[8..12].try_into().unwrap()) as usize;
        assert_eq!(offset, data_offset + 5);
        assert_eq!(&flat[offset..offset + 7], &[9; 7]);
    }
}
