//! H.265: the HEVCDecoderConfigurationRecord and the first sequence parameter set in it.
//!
//! Profile and level come from the record header. The picture size and the frame rate are in
//! the SPS, behind fields whose length depends on their values (sub-layers, scaling lists,
//! short-term reference picture sets), so the SPS is read field by field up to the VUI timing.

use super::bits::read_version;
use super::bits::BitReader;
use super::info::{dotted_level, VideoInfo};
use super::picture::{self, Chroma, Picture};
use super::{nal, vui};
use crate::FlvError;

const RECORD: &str = "HEVCDecoderConfigurationRecord";
const SPS: &str = "H.265 SPS";
const NAL_TYPE_SPS: u32 = 33;
/// sps_max_sub_layers_minus1 is 0..=6 (H.265 §7.4.3.2.1).
const MAX_SUB_LAYERS_MINUS1: u32 = 6;
/// num_short_term_ref_pic_sets is 0..=64.
const MAX_SHORT_TERM_SETS: u32 = 64;
/// A set refers to at most sps_max_dec_pic_buffering_minus1 (< 16) pictures on each side.
const MAX_SET_PICTURES: usize = 16;
/// num_long_term_ref_pics_sps is 0..=32.
const MAX_LONG_TERM_PICTURES: u32 = 32;
/// delta_poc_s0_minus1, delta_poc_s1_minus1 and abs_delta_rps_minus1 are 0..=2^15 - 1.
const MAX_POC_DELTA_MINUS1: u32 = (1 << 15) - 1;

pub(crate) fn video_info(record: &[u8]) -> Result<VideoInfo, FlvError> {
    let header = parse_record(record)?;
    let sps = parse_sps(header.sps)?;
    // avgFrameRate is in frames per 256 s, 0 when unknown; the SPS timing is exact when present.
    let average = (header.avg_frame_rate > 0).then(|| f64::from(header.avg_frame_rate) / 256.0);
    Ok(VideoInfo {
        codec: "hevc",
        profile: Some(profile_name(header.profile_idc)),
        level: Some(level_name(header.level_idc)),
        width: Some(sps.width),
        height: Some(sps.height),
        frame_rate: sps.frame_rate.or(average),
    })
}

struct Record<'a> {
    profile_idc: u8,
    level_idc: u8,
    avg_frame_rate: u16,
    sps: &'a [u8],
}

/// HEVCDecoderConfigurationRecord of ISO/IEC 14496-15 §8.3.3.1.2: a 23-byte header with the
/// general profile, tier and level, then arrays of NAL units grouped by type.
fn parse_record(record: &[u8]) -> Result<Record<'_>, FlvError> {
    let mut r = BitReader::new(record, RECORD);
    read_version(
        &mut r,
        1,
        "HEVCDecoderConfigurationRecord configurationVersion",
    )?;
    r.skip(3)?; // general_profile_space, general_tier_flag
    let profile_idc = r.bits(5)? as u8;
    r.skip(32 + 48)?; // compatibility flags, constraint indicator flags
    let level_idc = r.u8()?;
    // min_spatial_segmentation_idc (two bytes), parallelismType, chromaFormat,
    // bitDepthLumaMinus8 and bitDepthChromaMinus8, each behind reserved bits.
    r.skip(6 * 8)?;
    let avg_frame_rate = r.u16()?;
    r.skip(8)?; // constantFrameRate, numTemporalLayers, temporalIdNested, lengthSizeMinusOne
    let arrays = r.u8()?;
    let mut sps = None;
    for _ in 0..arrays {
        r.skip(2)?; // array_completeness, reserved
        let nal_type = r.bits(6)?;
        let count = r.u16()?;
        let first = nal::first_of_list(&mut r, count.into())?;
        if nal_type == NAL_TYPE_SPS {
            sps = sps.or(first);
        }
    }
    Ok(Record {
        profile_idc,
        level_idc,
        avg_frame_rate,
        sps: sps.ok_or(FlvError::Missing(
            "SPS in the HEVCDecoderConfigurationRecord",
        ))?,
    })
}

/// seq_parameter_set_rbsp() of H.265 §7.3.2.2.1, read as far as the VUI timing info.
fn parse_sps(nal: &[u8]) -> Result<Picture, FlvError> {
    let rbsp = nal::unescape(nal);
    let mut r = BitReader::new(&rbsp, SPS);
    read_nal_header(&mut r)?;
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    if max_sub_layers_minus1 > MAX_SUB_LAYERS_MINUS1 {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS sps_max_sub_layers_minus1",
            value: max_sub_layers_minus1.into(),
        });
    }
    r.skip(1)?; // sps_temporal_id_nesting_flag
    skip_profile_tier_level(&mut r, max_sub_layers_minus1)?;
    r.ue()?; // sps_seq_parameter_set_id
    let chroma = Chroma::read(&mut r, "H.265 SPS chroma_format_idc")?;
    let coded_width = r.ue()?; // pic_width_in_luma_samples
    let coded_height = r.ue()?; // pic_height_in_luma_samples
    let window = picture::Crop::read(&mut r)?; // conformance_window_flag and the offsets
    r.ue()?; // bit_depth_luma_minus8
    r.ue()?; // bit_depth_chroma_minus8
    let poc_lsb_bits = read_poc_lsb_bits(&mut r)?;
    skip_sub_layer_ordering(&mut r, max_sub_layers_minus1)?;
    // log2_min_luma_coding_block_size_minus3, log2_diff_max_min_luma_coding_block_size,
    // log2_min_luma_transform_block_size_minus2, log2_diff_max_min_luma_transform_block_size,
    // max_transform_hierarchy_depth_inter, max_transform_hierarchy_depth_intra
    for _ in 0..6 {
        r.ue()?;
    }
    // scaling_list_enabled_flag, then sps_scaling_list_data_present_flag
    if r.bit()? && r.bit()? {
        skip_scaling_list_data(&mut r)?;
    }
    r.skip(2)?; // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    skip_pcm(&mut r)?;
    skip_short_term_ref_pic_sets(&mut r)?;
    skip_long_term_ref_pics(&mut r, poc_lsb_bits)?;
    r.skip(2)?; // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
                // vui_parameters_present_flag
    let frame_rate = if r.bit()? {
        vui_frame_rate(&mut r)?
    } else {
        None
    };

    // §7.4.3.2.1: the conformance window offsets are in chroma sample units.
    let (unit_x, unit_y) = chroma.crop_units(1);
    let width = picture::cropped(
        coded_width.into(),
        unit_x,
        window.left,
        window.right,
        "H.265 SPS horizontal conformance window",
    )?;
    let height = picture::cropped(
        coded_height.into(),
        unit_y,
        window.top,
        window.bottom,
        "H.265 SPS vertical conformance window",
    )?;
    Ok(Picture {
        width,
        height,
        frame_rate,
    })
}

/// nal_unit_header() (§7.3.1.2). Only a base-layer SPS is read: with nuh_layer_id > 0 the
/// multi-layer extensions change the syntax.
fn read_nal_header(r: &mut BitReader) -> Result<(), FlvError> {
    r.skip(1)?; // forbidden_zero_bit
    let nal_type = r.bits(6)?;
    if nal_type != NAL_TYPE_SPS {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS nal_unit_type",
            value: nal_type.into(),
        });
    }
    let layer = r.bits(6)?;
    if layer != 0 {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS nuh_layer_id",
            value: layer.into(),
        });
    }
    r.skip(3) // nuh_temporal_id_plus1
}

/// profile_tier_level(1, sps_max_sub_layers_minus1) of §7.3.3: 88 bits of general profile and
/// 8 of level, presence flags per sub-layer padded to eight, then each sub-layer's fields.
fn skip_profile_tier_level(r: &mut BitReader, max_sub_layers_minus1: u32) -> Result<(), FlvError> {
    r.skip(88 + 8)?;
    let mut present = [(false, false); MAX_SUB_LAYERS_MINUS1 as usize];
    for flags in present.iter_mut().take(max_sub_layers_minus1 as usize) {
        *flags = (r.bit()?, r.bit()?); // sub_layer_profile_present_flag, ..._level_present_flag
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1 as usize))?; // reserved_zero_2bits
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1 as usize) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    Ok(())
}

/// log2_max_pic_order_cnt_lsb_minus4 (0..=12) as a bit count; it sizes lt_ref_pic_poc_lsb_sps.
fn read_poc_lsb_bits(r: &mut BitReader) -> Result<usize, FlvError> {
    let minus4 = r.ue()?;
    if minus4 > 12 {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS log2_max_pic_order_cnt_lsb_minus4",
            value: minus4.into(),
        });
    }
    Ok(minus4 as usize + 4)
}

/// sps_sub_layer_ordering_info_present_flag, then three ue(v) for every sub-layer or only the
/// highest.
fn skip_sub_layer_ordering(r: &mut BitReader, max_sub_layers_minus1: u32) -> Result<(), FlvError> {
    let layers = if r.bit()? {
        max_sub_layers_minus1 + 1
    } else {
        1
    };
    for _ in 0..layers {
        r.ue()?; // sps_max_dec_pic_buffering_minus1
        r.ue()?; // sps_max_num_reorder_pics
        r.ue()?; // sps_max_latency_increase_plus1
    }
    Ok(())
}

/// scaling_list_data() of §7.3.4: for each block size, six matrices (two for 32x32), each either
/// predicted from another (one ue(v)) or delta-coded coefficients.
fn skip_scaling_list_data(r: &mut BitReader) -> Result<(), FlvError> {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for _matrix in (0..6).step_by(step) {
            // scaling_list_pred_mode_flag
            if !r.bit()? {
                r.ue()?; // scaling_list_pred_matrix_id_delta
                continue;
            }
            let coefficients = 64.min(1u32 << (4 + (size_id << 1)));
            if size_id > 1 {
                r.se()?; // scaling_list_dc_coef_minus8
            }
            for _ in 0..coefficients {
                r.se()?; // scaling_list_delta_coef
            }
        }
    }
    Ok(())
}

/// pcm_enabled_flag and, when set, the PCM sample bit depths, block sizes and loop filter flag.
fn skip_pcm(r: &mut BitReader) -> Result<(), FlvError> {
    if r.bit()? {
        r.skip(8)?; // pcm_sample_bit_depth_luma_minus1, pcm_sample_bit_depth_chroma_minus1
        r.ue()?; // log2_min_pcm_luma_coding_block_size_minus3
        r.ue()?; // log2_diff_max_min_pcm_luma_coding_block_size
        r.skip(1)?; // pcm_loop_filter_disabled_flag
    }
    Ok(())
}

/// long_term_ref_pics_present_flag and the SPS's candidate long-term pictures.
fn skip_long_term_ref_pics(r: &mut BitReader, poc_lsb_bits: usize) -> Result<(), FlvError> {
    if !r.bit()? {
        return Ok(());
    }
    let count = r.ue()?;
    if count > MAX_LONG_TERM_PICTURES {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS num_long_term_ref_pics_sps",
            value: count.into(),
        });
    }
    for _ in 0..count {
        // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
        r.skip(poc_lsb_bits + 1)?;
    }
    Ok(())
}

/// A short-term reference picture set as §7.4.8 derives it: the POC deltas of the reference
/// pictures before (DeltaPocS0, decreasing) and after (DeltaPocS1, increasing) the current one.
#[derive(Debug, Default, PartialEq)]
struct RefPicSet {
    negative: Vec<i32>,
    positive: Vec<i32>,
}

/// num_short_term_ref_pic_sets and st_ref_pic_set(i) for each (§7.3.7).
///
/// A set may be predicted from the one before it, and how many flags that prediction reads
/// depends on how many pictures the earlier set ended up with, so every set is derived in full.
fn skip_short_term_ref_pic_sets(r: &mut BitReader) -> Result<(), FlvError> {
    let count = r.ue()?;
    if count > MAX_SHORT_TERM_SETS {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS num_short_term_ref_pic_sets",
            value: count.into(),
        });
    }
    let mut previous: Option<RefPicSet> = None;
    for _ in 0..count {
        // inter_ref_pic_set_prediction_flag, present for every set but the first. In an SPS the
        // reference set is always the one just before (delta_idx_minus1 is not coded).
        let predicted = previous.is_some() && r.bit()?;
        let set = match (&previous, predicted) {
            (Some(reference), true) => predicted_set(r, reference)?,
            _ => explicit_set(r)?,
        };
        previous = Some(set);
    }
    Ok(())
}

fn explicit_set(r: &mut BitReader) -> Result<RefPicSet, FlvError> {
    let negatives = read_set_size(r)?; // num_negative_pics
    let positives = read_set_size(r)?; // num_positive_pics
    Ok(RefPicSet {
        negative: read_deltas(r, negatives, -1)?,
        positive: read_deltas(r, positives, 1)?,
    })
}

fn read_set_size(r: &mut BitReader) -> Result<usize, FlvError> {
    let size = r.ue()?;
    if size as usize > MAX_SET_PICTURES {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS short-term reference picture count",
            value: size.into(),
        });
    }
    Ok(size as usize)
}

/// `count` pairs of delta_poc_sX_minus1 and used_by_curr_pic_sX_flag, accumulated into POC
/// deltas going away from the current picture in `direction` (equations 7-63 to 7-66).
fn read_deltas(r: &mut BitReader, count: usize, direction: i32) -> Result<Vec<i32>, FlvError> {
    let mut deltas = Vec::with_capacity(count);
    let mut poc = 0i32;
    for _ in 0..count {
        let step = read_poc_delta_minus1(r)? + 1;
        poc += direction * step;
        r.skip(1)?; // used_by_curr_pic_sX_flag
        deltas.push(poc);
    }
    Ok(deltas)
}

fn read_poc_delta_minus1(r: &mut BitReader) -> Result<i32, FlvError> {
    let value = r.ue()?;
    if value > MAX_POC_DELTA_MINUS1 {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS POC delta",
            value: value.into(),
        });
    }
    Ok(value as i32)
}

/// An inter-predicted set (§7.4.8, equations 7-61 and 7-62): every picture of the reference set,
/// and the reference picture itself, moved by deltaRps, kept when its use_delta_flag is set and
/// sorted to the side its new delta falls on.
fn predicted_set(r: &mut BitReader, reference: &RefPicSet) -> Result<RefPicSet, FlvError> {
    let negative_sign = r.bit()?; // delta_rps_sign
    let magnitude = read_poc_delta_minus1(r)? + 1; // abs_delta_rps_minus1
    let delta_rps = if negative_sign { -magnitude } else { magnitude };
    // One (used_by_curr_pic_flag, use_delta_flag) pair per reference picture, in the order
    // negatives, positives, then the reference picture itself.
    let negative_flags = read_use_delta_flags(r, reference.negative.len())?;
    let positive_flags = read_use_delta_flags(r, reference.positive.len())?;
    let own_flag = read_use_delta_flags(r, 1)?.first() == Some(&true);

    let shifted = |deltas: &[i32], flags: &[bool]| -> Vec<i32> {
        deltas
            .iter()
            .zip(flags)
            .filter(|&(_, &used)| used)
            .map(|(delta, _)| delta + delta_rps)
            .collect()
    };
    let from_negative = shifted(&reference.negative, &negative_flags);
    let from_positive = shifted(&reference.positive, &positive_flags);
    let own = own_flag.then_some(delta_rps);

    // Closest first on each side: positives reversed, the picture itself, then the negatives;
    // mirrored for the positive side.
    let negative = one_side(&from_positive, own, &from_negative, |poc| poc < 0);
    let positive = one_side(&from_negative, own, &from_positive, |poc| poc > 0);
    if negative.len() > MAX_SET_PICTURES || positive.len() > MAX_SET_PICTURES {
        return Err(FlvError::InvalidField {
            field: "H.265 SPS short-term reference picture count",
            value: (negative.len() + positive.len()) as u64,
        });
    }
    Ok(RefPicSet { negative, positive })
}

/// The deltas of `reversed` backwards, `own`, then `forward`, those that `keep` accepts.
fn one_side(
    reversed: &[i32],
    own: Option<i32>,
    forward: &[i32],
    keep: fn(i32) -> bool,
) -> Vec<i32> {
    let candidates = reversed.iter().rev().chain(own.iter()).chain(forward);
    candidates.copied().filter(|&poc| keep(poc)).collect()
}

/// used_by_curr_pic_flag, and use_delta_flag when that is 0 (it is inferred 1 otherwise).
fn read_use_delta_flags(r: &mut BitReader, count: usize) -> Result<Vec<bool>, FlvError> {
    let mut flags = Vec::with_capacity(count);
    for _ in 0..count {
        let used_by_current = r.bit()?;
        flags.push(used_by_current || r.bit()?);
    }
    Ok(flags)
}

/// vui_parameters() of §E.2.1 up to the timing info. An HEVC tick is one picture period, so the
/// frame rate is vui_time_scale / vui_num_units_in_tick.
fn vui_frame_rate(r: &mut BitReader) -> Result<Option<f64>, FlvError> {
    vui::skip_picture_description(r)?;
    // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
    r.skip(3)?;
    // default_display_window_flag and its four offsets
    picture::Crop::read(r)?;
    Ok(vui::timing(r)?.and_then(|(units, scale)| vui::frame_rate(scale, units.into())))
}

/// general_profile_idc names of H.265 Annex A.3.
fn profile_name(profile_idc: u8) -> String {
    match profile_idc {
        1 => "Main".to_string(),
        2 => "Main 10".to_string(),
        3 => "Main Still Picture".to_string(),
        4 => "Range Extensions".to_string(),
        other => other.to_string(),
    }
}

/// general_level_idc is 30 times the level number (§A.4.1), so 123 is level 4.1.
fn level_name(level_idc: u8) -> String {
    if level_idc.is_multiple_of(3) {
        dotted_level(u32::from(level_idc / 30), u32::from(level_idc % 30 / 3))
    } else {
        level_idc.to_string()
    }
}

#[cfg(test)]
mod tests;
