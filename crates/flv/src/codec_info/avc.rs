//! H.264: the AVCDecoderConfigurationRecord and the first sequence parameter set in it.

use super::bits::read_version;
use super::bits::BitReader;
use super::info::{dotted_level, VideoInfo};
use super::picture::{self, Chroma, Picture};
use super::{nal, vui};
use crate::FlvError;

const RECORD: &str = "AVCDecoderConfigurationRecord";
const SPS: &str = "H.264 SPS";
const NAL_TYPE_SPS: u8 = 7;

/// Profile and level from the SPS header, picture size and frame rate from the rest of it.
///
/// The record (ISO/IEC 14496-15 §5.3.3.1) repeats profile and level, but the SPS is what a
/// decoder uses, so it is the one reported.
pub(crate) fn video_info(record: &[u8]) -> Result<VideoInfo, FlvError> {
    let sps = parse_sps(first_sps(record)?)?;
    Ok(VideoInfo {
        codec: "h264",
        profile: Some(profile_name(sps.profile_idc, sps.constraints)),
        level: Some(level_name(sps.level_idc, sps.profile_idc, sps.constraints)),
        width: Some(sps.picture.width),
        height: Some(sps.picture.height),
        frame_rate: sps.picture.frame_rate,
    })
}

/// The first SPS NAL unit of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1.2):
/// version, profile, compatibility and level bytes, 6 reserved bits and lengthSizeMinusOne,
/// 3 reserved bits and numOfSequenceParameterSets, the SPS NAL units, then a count and the PPS
/// NAL units, and for the high profiles an extension.
///
/// The whole record is walked, so that one cut anywhere is reported rather than half-used.
fn first_sps(record: &[u8]) -> Result<&[u8], FlvError> {
    let mut r = BitReader::new(record, RECORD);
    read_version(
        &mut r,
        1,
        "AVCDecoderConfigurationRecord configurationVersion",
    )?;
    let profile = r.u8()?; // AVCProfileIndication
    r.skip(2 * 8 + 8 + 3)?; // compatibility, level, lengthSizeMinusOne, reserved
    let sps_count = r.bits(5)?;
    let sps = nal::first_of_list(&mut r, sps_count)?;
    let pps_count = r.u8()?;
    nal::first_of_list(&mut r, pps_count.into())?;
    skip_high_profile_extension(&mut r, profile)?;
    sps.ok_or(FlvError::Missing(
        "SPS in the AVCDecoderConfigurationRecord",
    ))
}

/// The chroma format, bit depths and SPS extension NAL units that the record defines for the
/// high profiles (it names 100, 110, 122 and 144; muxers write it for 244 as well, so any profile
/// but Baseline, Main and Extended is taken to have it). Writers from before that amendment end
/// the record at the PPS list, so the extension is optional; when bytes follow, they must be a
/// whole one.
fn skip_high_profile_extension(r: &mut BitReader, profile: u8) -> Result<(), FlvError> {
    if matches!(profile, 66 | 77 | 88) || r.remaining() == 0 {
        return Ok(());
    }
    r.skip(3 * 8)?; // chroma_format, bit_depth_luma_minus8, bit_depth_chroma_minus8
    let ext_count = r.u8()?; // numOfSequenceParameterSetExt
    nal::first_of_list(r, ext_count.into())?;
    Ok(())
}

/// What the stream API shows from an SPS.
#[derive(Debug, PartialEq)]
struct Sps {
    profile_idc: u8,
    constraints: u8,
    level_idc: u8,
    picture: Picture,
}

/// seq_parameter_set_rbsp() of ISO/IEC 14496-10 §7.3.2.1.1, read as far as the VUI timing info.
fn parse_sps(nal: &[u8]) -> Result<Sps, FlvError> {
    let rbsp = nal::unescape(nal);
    let mut r = BitReader::new(&rbsp, SPS);
    let nal_type = r.u8()? & 0x1f;
    if nal_type != NAL_TYPE_SPS {
        return Err(FlvError::InvalidField {
            field: "H.264 SPS nal_unit_type",
            value: nal_type.into(),
        });
    }
    let profile_idc = r.u8()?;
    let constraints = r.u8()?;
    let level_idc = r.u8()?;
    r.ue()?; // seq_parameter_set_id
    let chroma = if has_chroma_info(profile_idc) {
        read_chroma(&mut r)?
    } else {
        Chroma::DEFAULT
    };
    skip_frame_num_and_poc(&mut r)?;
    r.ue()?; // max_num_ref_frames
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
                // frame_cropping_flag and the offsets, then vui_parameters_present_flag.
    let crop = picture::Crop::read(&mut r)?;
    let frame_rate = if r.bit()? {
        vui_frame_rate(&mut r)?
    } else {
        None
    };

    // §7.4.2.1.1: a map unit is a macroblock pair when fields may be coded, and the crop unit
    // doubles vertically with it (equations 7-19 to 7-22).
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (unit_x, unit_y) = chroma.crop_units(field_factor);
    let width = picture::cropped(
        width_mbs * 16,
        unit_x,
        crop.left,
        crop.right,
        "H.264 SPS horizontal frame crop",
    )?;
    let height = picture::cropped(
        field_factor * height_map_units * 16,
        unit_y,
        crop.top,
        crop.bottom,
        "H.264 SPS vertical frame crop",
    )?;
    Ok(Sps {
        profile_idc,
        constraints,
        level_idc,
        picture: Picture {
            width,
            height,
            frame_rate,
        },
    })
}

/// The profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices
/// (the `if( profile_idc = = 100 || ...` condition of §7.3.2.1.1).
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// chroma_format_idc and what follows it in the high profiles: bit depths, the transform bypass
/// flag and the optional scaling matrix.
fn read_chroma(r: &mut BitReader) -> Result<Chroma, FlvError> {
    let chroma = Chroma::read(r, "H.264 SPS chroma_format_idc")?;
    r.ue()?; // bit_depth_luma_minus8
    r.ue()?; // bit_depth_chroma_minus8
    r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
                // seq_scaling_matrix_present_flag: 4:4:4 adds Cb and Cr 8x8 lists to the six 4x4 and two 8x8.
    if r.bit()? {
        let lists = if chroma.format_idc == 3 { 12 } else { 8 };
        for index in 0..lists {
            // seq_scaling_list_present_flag[i]
            if r.bit()? {
                skip_scaling_list(r, if index < 6 { 16 } else { 64 })?;
            }
        }
    }
    Ok(chroma)
}

/// scaling_list() of §7.3.2.1.1.1. Its length depends on its values: delta coding stops as soon
/// as a scale of 0 appears (the rest of the list repeats the last scale or uses the default).
fn skip_scaling_list(r: &mut BitReader, size: usize) -> Result<(), FlvError> {
    let mut last_scale = 8i32;
    for _ in 0..size {
        let delta = r.se()?;
        if !(-128..=127).contains(&delta) {
            return Err(FlvError::InvalidField {
                field: "H.264 SPS delta_scale",
                value: u64::from(delta.unsigned_abs()),
            });
        }
        let next_scale = (last_scale + delta + 256) % 256;
        if next_scale == 0 {
            break;
        }
        last_scale = next_scale;
    }
    Ok(())
}

/// log2_max_frame_num_minus4 and the picture order count fields, whose shape depends on
/// pic_order_cnt_type.
fn skip_frame_num_and_poc(r: &mut BitReader) -> Result<(), FlvError> {
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.skip(1)?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(FlvError::InvalidField {
                    field: "H.264 SPS num_ref_frames_in_pic_order_cnt_cycle",
                    value: cycle.into(),
                });
            }
            for _ in 0..cycle {
                r.se()?; // offset_for_ref_frame[i]
            }
        }
        2 => {}
        other => {
            return Err(FlvError::InvalidField {
                field: "H.264 SPS pic_order_cnt_type",
                value: other.into(),
            })
        }
    }
    Ok(())
}

/// vui_parameters() of §E.1.1 up to the timing info. A tick is a field period, so a frame is
/// two ticks: frame rate = time_scale / (2 * num_units_in_tick) (§E.2.1).
fn vui_frame_rate(r: &mut BitReader) -> Result<Option<f64>, FlvError> {
    vui::skip_picture_description(r)?;
    Ok(vui::timing(r)?.and_then(|(units, scale)| vui::frame_rate(scale, 2 * u64::from(units))))
}

/// Annex A.2 profile names; constraint_set1 makes Baseline "Constrained Baseline" and
/// constraint_set3 marks the intra-only variants of the high profiles.
fn profile_name(profile_idc: u8, constraints: u8) -> String {
    let set1 = constraints & 0x40 != 0;
    let set3 = constraints & 0x10 != 0;
    let name = match (profile_idc, set1, set3) {
        (66, true, _) => "Constrained Baseline",
        (66, false, _) => "Baseline",
        (77, _, _) => "Main",
        (88, _, _) => "Extended",
        (100, _, _) => "High",
        (110, _, true) => "High 10 Intra",
        (110, _, false) => "High 10",
        (122, _, true) => "High 4:2:2 Intra",
        (122, _, false) => "High 4:2:2",
        (244, _, true) => "High 4:4:4 Intra",
        (244, _, false) => "High 4:4:4 Predictive",
        (44, _, _) => "CAVLC 4:4:4 Intra",
        (other, _, _) => return other.to_string(),
    };
    name.to_string()
}

/// level_idc is ten times the level number. Level 1b is level_idc 9, or 11 with
/// constraint_set3 in the Baseline, Main and Extended profiles (§A.3.1, §7.4.2.1.1).
fn level_name(level_idc: u8, profile_idc: u8, constraints: u8) -> String {
    let set3 = constraints & 0x10 != 0;
    if level_idc == 9 || (level_idc == 11 && set3 && matches!(profile_idc, 66 | 77 | 88)) {
        return "1b".to_string();
    }
    dotted_level(u32::from(level_idc / 10), u32::from(level_idc % 10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec_info::test_bits::BitWriter;

    /// An SPS NAL unit (escaped) for Main profile, 4:2:0, POC type 0, with the given picture
    /// size in macroblocks, optional cropping and optional VUI timing.
    fn main_profile_sps(
        width_mbs: u32,
        height_mbs: u32,
        crop: Option<[u32; 4]>,
        timing: Option<(u32, u32)>,
    ) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.bits(8, 0x67).bits(8, 77).bits(8, 0).bits(8, 31);
        w.ue(0).ue(0).ue(0).ue(2); // sps id, log2_max_frame_num, poc type 0, its lsb length
        w.ue(1).bit(false); // max_num_ref_frames, gaps
        w.ue(width_mbs - 1).ue(height_mbs - 1);
        w.bit(true).bit(true); // frame_mbs_only, direct_8x8
        w.bit(crop.is_some());
        for offset in crop.into_iter().flatten() {
            w.ue(offset);
        }
        w.bit(timing.is_some());
        if let Some((units, scale)) = timing {
            w.bit(false).bit(false).bit(false).bit(false); // no aspect, overscan, signal, chroma loc
            w.bit(true)
                .bits(32, units.into())
                .bits(32, scale.into())
                .bit(true); // timing, fixed_frame_rate_flag
            w.bit(false).bit(false).bit(false).bit(false); // no HRDs, pic_struct, restrictions
        }
        w.trailing_bits();
        w.escaped()
    }

    #[test]
    fn main_profile_size_crop_and_frame_rate() {
        let nal = main_profile_sps(80, 45, None, Some((1001, 60000)));
        let sps = parse_sps(&nal).unwrap();
        assert_eq!((sps.picture.width, sps.picture.height), (1280, 720));
        assert_eq!(sps.profile_idc, 77);
        let rate = sps.picture.frame_rate.unwrap();
        assert!((rate - 29.97).abs() < 0.001, "{rate}");

        let cropped = parse_sps(&main_profile_sps(120, 68, Some([0, 0, 0, 4]), None)).unwrap();
        assert_eq!(
            (cropped.picture.width, cropped.picture.height),
            (1920, 1080)
        );
        assert_eq!(cropped.picture.frame_rate, None);
    }

    #[test]
    fn emulation_prevention_bytes_are_removed_before_parsing() {
        // Timing info of num_units_in_tick = 1 and time_scale = 0x0000_0032 puts runs of zero
        // bytes in the RBSP, which the escaping breaks up with 0x03.
        let nal = main_profile_sps(20, 15, None, Some((1, 50)));
        assert!(
            nal.windows(3).any(|w| w == [0, 0, 3]),
            "test SPS should contain an emulation prevention byte: {nal:02x?}"
        );
        let sps = parse_sps(&nal).unwrap();
        assert_eq!((sps.picture.width, sps.picture.height), (320, 240));
        assert_eq!(sps.picture.frame_rate, Some(25.0));
    }

    /// High profile 4:2:0 with a scaling matrix: list 0 explicit until a zero next scale ends it
    /// early, list 6 (8x8 intra) a full 64 deltas, the others absent.
    fn high_profile_sps_with_scaling_lists() -> Vec<u8> {
        let mut w = BitWriter::new();
        w.bits(8, 0x67).bits(8, 100).bits(8, 0).bits(8, 40);
        w.ue(0).ue(1).ue(0).ue(0).bit(false); // sps id, 4:2:0, 8-bit luma/chroma, bypass
        w.bit(true); // seq_scaling_matrix_present_flag
        for list in 0..8 {
            w.bit(list == 0 || list == 6);
            if list == 0 {
                // 8 -> 16 -> 0: stops after two deltas.
                w.se(8).se(-16);
            } else if list == 6 {
                for _ in 0..64 {
                    w.se(1);
                }
            }
        }
        w.ue(0).ue(2); // log2_max_frame_num_minus4, POC type 2
        w.ue(4).bit(false);
        w.ue(119).ue(33).bit(false).bit(false).bit(true); // 1920 x 34 map units, fields
        w.bit(true).ue(0).ue(0).ue(0).ue(2); // crop bottom 2 units of 4 lines
        w.bit(false).trailing_bits();
        w.escaped()
    }

    #[test]
    fn scaling_lists_and_interlaced_cropping() {
        let sps = parse_sps(&high_profile_sps_with_scaling_lists()).unwrap();
        assert_eq!(sps.profile_idc, 100);
        assert_eq!((sps.picture.width, sps.picture.height), (1920, 1080));
    }

    #[test]
    fn every_truncation_is_an_error() {
        for nal in [
            high_profile_sps_with_scaling_lists(),
            main_profile_sps(80, 45, Some([0, 0, 0, 4]), Some((1, 60))),
        ] {
            for len in 0..nal.len() - 1 {
                assert!(parse_sps(&nal[..len]).is_err(), "prefix of {len} bytes");
            }
        }
    }

    #[test]
    fn record_errors_name_the_problem() {
        assert_eq!(
            first_sps(&[2, 100, 0, 40, 0xff, 0xe1]),
            Err(FlvError::InvalidField {
                field: "AVCDecoderConfigurationRecord configurationVersion",
                value: 2
            })
        );
        assert_eq!(
            first_sps(&[1, 100, 0, 40, 0xff, 0xe0, 0]),
            Err(FlvError::Missing(
                "SPS in the AVCDecoderConfigurationRecord"
            ))
        );
        assert_eq!(
            first_sps(&[1, 100, 0, 40, 0xff, 0xe1, 0, 1, 0x67, 1, 0, 2, 0x68]),
            Err(FlvError::Truncated(RECORD)),
            "a cut PPS list"
        );
        assert_eq!(
            first_sps(&[1, 100, 0, 40, 0xff, 0xe1, 0, 9, 0x67]),
            Err(FlvError::Truncated(RECORD))
        );
        assert_eq!(
            parse_sps(&[0x68, 100, 0, 40]),
            Err(FlvError::InvalidField {
                field: "H.264 SPS nal_unit_type",
                value: 8
            })
        );
    }

    #[test]
    fn names() {
        assert_eq!(profile_name(66, 0xc0), "Constrained Baseline");
        assert_eq!(profile_name(66, 0x80), "Baseline");
        assert_eq!(profile_name(110, 0x10), "High 10 Intra");
        assert_eq!(profile_name(244, 0), "High 4:4:4 Predictive");
        assert_eq!(profile_name(1, 0), "1");
        assert_eq!(level_name(41, 100, 0), "4.1");
        assert_eq!(level_name(30, 77, 0), "3.0");
        assert_eq!(level_name(11, 66, 0x10), "1b");
        assert_eq!(level_name(11, 100, 0x10), "1.1");
        assert_eq!(level_name(9, 100, 0), "1b");
    }
}
