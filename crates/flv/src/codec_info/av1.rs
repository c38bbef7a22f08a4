//! AV1: the AV1CodecConfigurationRecord and the sequence header OBU among its configOBUs.

use super::bits::read_version;
use super::bits::BitReader;
use super::info::{dotted_level, VideoInfo};
use super::vui;
use crate::FlvError;

const RECORD: &str = "AV1CodecConfigurationRecord";
const SEQUENCE_HEADER: &str = "AV1 sequence header OBU";
const OBU_SEQUENCE_HEADER: u32 = 1;
/// seq_level_idx 31 means "no level constraints" (AV1 §6.4.1).
const LEVEL_MAX_PARAMETERS: u32 = 31;

/// Profile and level from the record (AV1 Codec ISO Media File Format Binding §2.3.3); size and
/// frame rate from the sequence header OBU when the record carries one (it is optional there).
pub(crate) fn video_info(record: &[u8]) -> Result<VideoInfo, FlvError> {
    let mut r = BitReader::new(record, RECORD);
    // marker (1 bit, always 1) and version (7 bits, 1).
    read_version(
        &mut r,
        0x81,
        "AV1CodecConfigurationRecord marker and version",
    )?;
    let profile = r.bits(3)?; // seq_profile
    let level = r.bits(5)?; // seq_level_idx_0

    // seq_tier_0, bit depth, monochrome, chroma subsampling and sample position; then the
    // initial presentation delay byte.
    r.skip(16)?;
    let mut info = VideoInfo {
        profile: Some(profile_name(profile)),
        level: level_name(level),
        ..VideoInfo::codec_only("av1")
    };
    if let Some(obu) = find_sequence_header(&mut r)? {
        let header = parse_sequence_header(obu)?;
        info.width = Some(header.max_width);
        info.height = Some(header.max_height);
        info.frame_rate = header.frame_rate;
    }
    Ok(info)
}

/// Walks the OBUs of configOBUs (AV1 §5.3.1 obu_header) and returns the first sequence header's
/// payload. Every OBU is walked so that a cut one is reported.
fn find_sequence_header<'a>(r: &mut BitReader<'a>) -> Result<Option<&'a [u8]>, FlvError> {
    let mut found = None;
    while r.remaining() > 0 {
        r.skip(1)?; // obu_forbidden_bit
        let obu_type = r.bits(4)?;
        let has_extension = r.bit()?;
        let has_size = r.bit()?;
        r.skip(1)?; // obu_reserved_1bit
        if has_extension {
            r.skip(8)?; // temporal_id, spatial_id, reserved
        }
        // Without obu_size the OBU runs to the end of the record.
        let size = if has_size {
            read_leb128(r)?
        } else {
            r.remaining() / 8
        };
        let payload = r.bytes(size)?;
        if obu_type == OBU_SEQUENCE_HEADER {
            found = found.or(Some(payload));
        }
    }
    Ok(found)
}

/// leb128() of AV1 §4.10.5: little-endian groups of 7 bits, at most 8 bytes, value below 2^32.
fn read_leb128(r: &mut BitReader) -> Result<usize, FlvError> {
    let mut value = 0u64;
    for index in 0..8 {
        let byte = r.u8()?;
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return usize::try_from(value)
                .ok()
                .filter(|_| value <= u64::from(u32::MAX))
                .ok_or(FlvError::InvalidField {
                    field: "AV1 OBU size",
                    value,
                });
        }
    }
    Err(FlvError::InvalidField {
        field: "AV1 OBU size",
        value,
    })
}

struct SequenceHeader {
    max_width: u32,
    max_height: u32,
    frame_rate: Option<f64>,
}

/// sequence_header_obu() of AV1 §5.5.1 up to max_frame_{width,height}_minus_1, which encoders
/// set to the size of the frames they code.
fn parse_sequence_header(obu: &[u8]) -> Result<SequenceHeader, FlvError> {
    let mut r = BitReader::new(obu, SEQUENCE_HEADER);
    r.skip(3 + 1)?; // seq_profile, still_picture
    let reduced_still_picture_header = r.bit()?;
    let frame_rate = if reduced_still_picture_header {
        r.skip(5)?; // seq_level_idx[0]
        None
    } else {
        skip_operating_points(&mut r)?
    };
    let width_bits = r.bits(4)? + 1; // frame_width_bits_minus_1
    let height_bits = r.bits(4)? + 1; // frame_height_bits_minus_1
    let max_width = u64::from(r.bits(width_bits)?) + 1;
    let max_height = u64::from(r.bits(height_bits)?) + 1;
    let too_large = |value| FlvError::InvalidField {
        field: "AV1 sequence header maximum frame size",
        value,
    };
    Ok(SequenceHeader {
        max_width: u32::try_from(max_width).map_err(|_| too_large(max_width))?,
        max_height: u32::try_from(max_height).map_err(|_| too_large(max_height))?,
        frame_rate,
    })
}

/// Timing info, decoder model info and the operating points of a full sequence header; returns
/// the frame rate when pictures are equally spaced.
fn skip_operating_points(r: &mut BitReader) -> Result<Option<f64>, FlvError> {
    let mut frame_rate = None;
    let mut buffer_delay_bits = None;
    // timing_info_present_flag
    if r.bit()? {
        frame_rate = read_timing_info(r)?;
        // decoder_model_info_present_flag: buffer_delay_length_minus_1, then
        // num_units_in_decoding_tick and two more 5-bit lengths.
        if r.bit()? {
            buffer_delay_bits = Some(r.bits(5)? as usize + 1);
            r.skip(32 + 5 + 5)?;
        }
    }
    let initial_display_delay_present = r.bit()?;
    let operating_points = r.bits(5)? + 1;
    for _ in 0..operating_points {
        r.skip(12)?; // operating_point_idc
        let level = r.bits(5)?;
        if level > 7 {
            r.skip(1)?; // seq_tier
        }
        // decoder_model_present_for_this_op: decoder and encoder buffer delays, low delay flag.
        if let Some(bits) = buffer_delay_bits {
            if r.bit()? {
                r.skip(2 * bits + 1)?;
            }
        }
        // initial_display_delay_present_for_this_op, initial_display_delay_minus_1
        if initial_display_delay_present && r.bit()? {
            r.skip(4)?;
        }
    }
    Ok(frame_rate)
}

/// timing_info() of §5.5.3: the frame rate is time_scale / num_units_in_display_tick per tick,
/// divided by the ticks per picture when every picture lasts the same.
fn read_timing_info(r: &mut BitReader) -> Result<Option<f64>, FlvError> {
    let units_in_tick = r.bits(32)?;
    let time_scale = r.bits(32)?;
    // equal_picture_interval, num_ticks_per_picture_minus_1
    if !r.bit()? {
        return Ok(None);
    }
    let ticks_per_picture = read_uvlc(r)? + 1;
    Ok(vui::frame_rate(
        time_scale,
        u64::from(units_in_tick) * ticks_per_picture,
    ))
}

/// uvlc() of §4.10.3: Exp-Golomb-like, saturating at 2^32 − 1 for 32 or more leading zeros.
fn read_uvlc(r: &mut BitReader) -> Result<u64, FlvError> {
    let mut leading_zeros = 0u32;
    while !r.bit()? {
        leading_zeros += 1;
    }
    if leading_zeros >= 32 {
        return Ok(u64::from(u32::MAX));
    }
    Ok(u64::from(r.bits(leading_zeros)?) + (1u64 << leading_zeros) - 1)
}

/// seq_profile names of AV1 Annex A.2.
fn profile_name(profile: u32) -> String {
    match profile {
        0 => "Main".to_string(),
        1 => "High".to_string(),
        2 => "Professional".to_string(),
        other => other.to_string(),
    }
}

/// seq_level_idx to the level's name: X.Y with X = 2 + idx / 4 and Y = idx % 4 (Annex A.3).
fn level_name(level_idx: u32) -> Option<String> {
    match level_idx {
        0..=23 => Some(dotted_level(2 + level_idx / 4, level_idx % 4)),
        LEVEL_MAX_PARAMETERS => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec_info::test_bits::BitWriter;

    /// A full sequence header with timing info (90 kHz clock, 3000 ticks per picture: 30 fps),
    /// a decoder model, two operating points and a 1280x720 maximum frame size.
    fn sequence_header() -> Vec<u8> {
        let mut w = BitWriter::new();
        w.bits(3, 0).bit(false).bit(false); // profile, still_picture, reduced header
        w.bit(true).bits(32, 1).bits(32, 90_000).bit(true).ue(2999);
        w.bit(true).bits(5, 9).bits(32, 1).bits(5, 20).bits(5, 20);
        w.bit(true).bits(5, 1); // initial display delay present, two operating points
        for level in [8u64, 4] {
            w.bits(12, 0).bits(5, level);
            if level > 7 {
                w.bit(false);
            }
            w.bit(true).bits(10, 3).bits(10, 3).bit(false);
            w.bit(true).bits(4, 9);
        }
        w.bits(4, 10).bits(4, 9).bits(11, 1279).bits(10, 719);
        w.bit(false).trailing_bits(); // the rest of the header is not read
        w.bytes()
    }

    fn record_with(obus: &[u8]) -> Vec<u8> {
        let mut record = vec![0x81, 0x08, 0x0c, 0x00];
        record.extend_from_slice(obus);
        record
    }

    fn sized_obu(obu_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut obu = vec![obu_type << 3 | 0x02];
        let mut size = payload.len();
        loop {
            let byte = (size & 0x7f) as u8;
            size >>= 7;
            if size == 0 {
                obu.push(byte);
                break;
            }
            obu.push(byte | 0x80);
        }
        obu.extend_from_slice(payload);
        obu
    }

    #[test]
    fn record_and_sequence_header() {
        let mut obus = sized_obu(2, &[]); // a temporal delimiter first
        obus.extend(sized_obu(1, &sequence_header()));
        let info = video_info(&record_with(&obus)).unwrap();
        assert_eq!(info.codec, "av1");
        assert_eq!(info.profile.as_deref(), Some("Main"));
        assert_eq!(info.level.as_deref(), Some("4.0"));
        assert_eq!((info.width, info.height), (Some(1280), Some(720)));
        assert_eq!(info.frame_rate, Some(30.0));
    }

    #[test]
    fn record_without_obus_has_profile_and_level_only() {
        let info = video_info(&[0x81, 0x3f, 0x0c, 0x00]).unwrap();
        assert_eq!(info.profile.as_deref(), Some("High"));
        assert_eq!(info.level, None, "level 31 has no constraints");
        assert_eq!(info.width, None);
    }

    #[test]
    fn truncation_and_bad_fields() {
        let record = record_with(&sized_obu(1, &sequence_header()));
        // Four bytes are a whole record without configOBUs.
        for len in (0..4).chain(5..record.len()) {
            assert!(video_info(&record[..len]).is_err(), "prefix of {len} bytes");
        }
        assert!(matches!(
            video_info(&[0x01, 0, 0, 0]),
            Err(FlvError::InvalidField { value: 1, .. })
        ));
        let endless = record_with(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(
            video_info(&endless),
            Err(FlvError::InvalidField {
                field: "AV1 OBU size",
                ..
            })
        ));
    }

    #[test]
    fn uvlc_saturates() {
        let mut w = BitWriter::new();
        w.bits(40, 0).bit(true);
        let bytes = w.bytes();
        assert_eq!(
            read_uvlc(&mut BitReader::new(&bytes, "t")),
            Ok(u64::from(u32::MAX))
        );
        assert_eq!(level_name(13).as_deref(), Some("5.1"));
        assert_eq!(level_name(24).as_deref(), Some("24"));
    }
}
