//! Cuts the codec configuration out of an encoder's output file and writes it as an FLV tag body,
//! the form `flv::video_info` and `flv::audio_info` read. Makes the fixtures under
//! `tests/fixtures/` (see the README there).
//!
//! ```text
//! extract_fixture flv IN.flv OUT_PREFIX          # OUT_PREFIX.video.bin, OUT_PREFIX.audio.bin
//! extract_fixture mp4 IN.mp4 BOX FOURCC OUT.bin  # box payload after an E-RTMP SequenceStart
//! extract_fixture ogg-opus IN.ogg OUT.bin        # OpusHead after an E-RTMP SequenceStart
//! ```
//!
//! `flv` takes the first video sequence header and the first audio sequence header (or, for a
//! format without one, the first audio tag) through [`flv::TagReader`]. `mp4` finds the named
//! configuration box (`hvcC`, `av1C`, `vpcC`; a `vpcC`'s FullBox version and flags are dropped)
//! for codecs this FLV muxer cannot write; `ogg-opus` takes the first Ogg page's packet.

use flv::{Tag, TagReader, TagType};
use std::process::ExitCode;

/// The E-RTMP header byte of a SequenceStart: for video IsExHeader with FrameType 1, for audio
/// SoundFormat 9; PacketType 0 in the low nibble either way.
const EX_SEQUENCE_START: u8 = 0x90;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["flv", input, prefix] => from_flv(input, prefix),
        ["mp4", input, box_type, fourcc, output] => from_mp4(input, box_type, fourcc, output),
        ["ogg-opus", input, output] => from_ogg_opus(input, output),
        _ => Err("usage: extract_fixture flv|mp4|ogg-opus ... (see the source)".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("extract_fixture: {message}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn write(path: &str, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{path}: {e}"))?;
    println!("{path}: {} bytes", bytes.len());
    Ok(())
}

fn from_flv(input: &str, prefix: &str) -> Result<(), String> {
    let mut reader = TagReader::new();
    reader.push(&read(input)?);
    let mut video: Option<Tag> = None;
    let mut audio: Option<Tag> = None;
    while let Some(tag) = reader.next_tag().map_err(|e| e.to_string())? {
        match tag.tag_type {
            TagType::Video if video.is_none() && tag.is_sequence_header() => video = Some(tag),
            TagType::Audio => {
                // The first tag, replaced by the first sequence header if one comes.
                let have_header = audio.as_ref().is_some_and(Tag::is_sequence_header);
                if !have_header && (audio.is_none() || tag.is_sequence_header()) {
                    audio = Some(tag);
                }
            }
            _ => {}
        }
    }
    if video.is_none() && audio.is_none() {
        return Err(format!("{input}: no video sequence header and no audio"));
    }
    if let Some(tag) = video {
        write(&format!("{prefix}.video.bin"), &tag.body)?;
    }
    if let Some(tag) = audio {
        write(&format!("{prefix}.audio.bin"), &tag.body)?;
    }
    Ok(())
}

fn from_mp4(input: &str, box_type: &str, fourcc: &str, output: &str) -> Result<(), String> {
    let file = read(input)?;
    let payload = find_box(&file, box_type.as_bytes())
        .ok_or_else(|| format!("{input}: no {box_type} box"))?;
    let record = if box_type == "vpcC" {
        payload.get(4..).unwrap_or_default()
    } else {
        payload
    };
    let mut body = vec![EX_SEQUENCE_START];
    body.extend_from_slice(fourcc.as_bytes());
    body.extend_from_slice(record);
    write(output, &body)
}

/// The payload of the first box of `box_type`: 32-bit size, type, payload.
fn find_box<'a>(file: &'a [u8], box_type: &[u8]) -> Option<&'a [u8]> {
    let at = file.windows(4).position(|w| w == box_type)?;
    let size_bytes = file.get(at.checked_sub(4)?..at)?;
    let size = u32::from_be_bytes(size_bytes.try_into().ok()?) as usize;
    file.get(at + 4..at - 4 + size)
}

fn from_ogg_opus(input: &str, output: &str) -> Result<(), String> {
    let file = read(input)?;
    let packet = first_ogg_packet(&file).ok_or_else(|| format!("{input}: no Ogg page"))?;
    let mut body = vec![EX_SEQUENCE_START];
    body.extend_from_slice(b"Opus");
    body.extend_from_slice(packet);
    write(output, &body)
}

/// The first packet of the first Ogg page (RFC 3533 §6): 27 header bytes, the segment count and
/// table, then the segments; a packet ends at the first segment shorter than 255 bytes.
fn first_ogg_packet(file: &[u8]) -> Option<&[u8]> {
    if !file.starts_with(b"OggS") {
        return None;
    }
    let segments = usize::from(*file.get(26)?);
    let table = file.get(27..27 + segments)?;
    let len: usize = table
        .iter()
        .scan(true, |more, &lacing| {
            let take = (*more).then_some(usize::from(lacing));
            *more = lacing == 255;
            take
        })
        .sum();
    let start = 27 + segments;
    file.get(start..start + len)
}
