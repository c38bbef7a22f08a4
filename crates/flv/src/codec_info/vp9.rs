//! VP9: the VPCodecConfigurationRecord.

use super::bits::BitReader;
use super::info::{dotted_level, VideoInfo};
use crate::FlvError;

const RECORD: &str = "VPCodecConfigurationRecord";
/// The FullBox version and flags of an ISO BMFF `vpcC` box: 1, then 0, 0, 0.
const FULL_BOX_HEADER: [u8; 4] = [1, 0, 0, 0];

/// Profile and level (VP Codec ISO Media File Format Binding §2.2); the record has no picture
/// size or frame rate, which only the frames carry.
pub(crate) fn video_info(record: &[u8]) -> Result<VideoInfo, FlvError> {
    let mut r = BitReader::new(without_box_header(record), RECORD);
    let profile = r.u8()?;
    let level = r.u8()?;
    let bit_depth = r.bits(4)?;
    if !matches!(bit_depth, 8 | 10 | 12) {
        return Err(FlvError::InvalidField {
            field: "VPCodecConfigurationRecord bitDepth",
            value: bit_depth.into(),
        });
    }
    // chromaSubsampling, videoFullRangeFlag, colourPrimaries, transferCharacteristics,
    // matrixCoefficients, then the codec initialization data (empty for VP9).
    r.skip(4 + 24)?;
    let init_len = r.u16()?;
    r.bytes(init_len.into())?;
    Ok(VideoInfo {
        profile: Some(format!("Profile {profile}")),
        // Level is ten times the level number; 0 means not given.
        level: (level > 0).then(|| dotted_level(u32::from(level / 10), u32::from(level % 10))),
        ..VideoInfo::codec_only("vp9")
    })
}

/// Publishers send the record either bare, as the binding defines it, or with the version and
/// flags of the `vpcC` box it lives in. A bare record cannot start with those four bytes (its
/// third byte holds a bit depth of 8, 10 or 12), so they are skipped when present.
fn without_box_header(record: &[u8]) -> &[u8] {
    match record.strip_prefix(&FULL_BOX_HEADER) {
        Some(rest) => rest,
        None => record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARE: [u8; 8] = [2, 41, 0xa2, 9, 16, 9, 0, 0];

    #[test]
    fn bare_record_and_box_payload() {
        let info = video_info(&BARE).unwrap();
        assert_eq!(info.codec, "vp9");
        assert_eq!(info.profile.as_deref(), Some("Profile 2"));
        assert_eq!(info.level.as_deref(), Some("4.1"));
        assert_eq!(info.width, None);

        let mut boxed = FULL_BOX_HEADER.to_vec();
        boxed.extend_from_slice(&BARE);
        assert_eq!(video_info(&boxed), Ok(info));
    }

    #[test]
    fn truncation_and_bad_bit_depth() {
        for len in 0..BARE.len() {
            assert!(video_info(&BARE[..len]).is_err(), "prefix of {len} bytes");
        }
        let mut with_init_data = BARE;
        with_init_data[7] = 1;
        assert_eq!(
            video_info(&with_init_data),
            Err(FlvError::Truncated(RECORD))
        );
        let mut bad_depth = BARE;
        bad_depth[2] = 0x70;
        assert_eq!(
            video_info(&bad_depth),
            Err(FlvError::InvalidField {
                field: "VPCodecConfigurationRecord bitDepth",
                value: 7
            })
        );
    }
}
