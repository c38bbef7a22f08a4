//! The parts of the VUI (video usability information) that H.264 and H.265 share.

use super::bits::BitReader;
use crate::FlvError;

/// aspect_ratio_idc meaning "sar_width and sar_height follow" (H.264 Table E-1, H.265 Table E-1).
const EXTENDED_SAR: u8 = 255;

/// Skips the VUI fields both codecs start with, in the same order (H.264 §E.1.1,
/// H.265 §E.2.1): aspect ratio, overscan, video signal type and chroma sample location.
///
/// None of them bears on size or frame rate, but they have to be read to reach what does.
pub(crate) fn skip_picture_description(r: &mut BitReader) -> Result<(), FlvError> {
    // aspect_ratio_info_present_flag
    if r.bit()? && r.u8()? == EXTENDED_SAR {
        // sar_width, sar_height
        r.skip(32)?;
    }
    // overscan_info_present_flag, overscan_appropriate_flag
    if r.bit()? {
        r.skip(1)?;
    }
    // video_signal_type_present_flag: video_format, video_full_range_flag, then
    // colour_description_present_flag and the three 8-bit colour fields.
    if r.bit()? {
        r.skip(4)?;
        if r.bit()? {
            r.skip(24)?;
        }
    }
    // chroma_loc_info_present_flag: top and bottom field sample locations.
    if r.bit()? {
        r.ue()?;
        r.ue()?;
    }
    Ok(())
}

/// Reads `timing_info_present_flag` and, when set, `num_units_in_tick` and `time_scale`.
pub(crate) fn timing(r: &mut BitReader) -> Result<Option<(u32, u32)>, FlvError> {
    if !r.bit()? {
        return Ok(None);
    }
    let num_units_in_tick = r.bits(32)?;
    let time_scale = r.bits(32)?;
    Ok(Some((num_units_in_tick, time_scale)))
}

/// `time_scale` ticks per second over `ticks_per_frame`; `None` when either is zero, which the
/// specifications forbid but encoders have written.
pub(crate) fn frame_rate(time_scale: u32, ticks_per_frame: u64) -> Option<f64> {
    (time_scale > 0 && ticks_per_frame > 0).then(|| f64::from(time_scale) / ticks_per_frame as f64)
}
