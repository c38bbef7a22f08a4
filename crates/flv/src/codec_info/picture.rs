//! Picture size arithmetic shared by H.264 and H.265: chroma subsampling and cropping.

use super::bits::BitReader;
use crate::FlvError;

/// Left, right, top and bottom crop offsets: H.264's frame_crop_*_offset and H.265's
/// conf_win_*_offset, both behind a presence flag and both in chroma sample units.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Crop {
    pub(crate) left: u32,
    pub(crate) right: u32,
    pub(crate) top: u32,
    pub(crate) bottom: u32,
}

impl Crop {
    /// The flag, then four ue(v) offsets when it is set; no crop otherwise.
    pub(crate) fn read(r: &mut BitReader) -> Result<Self, FlvError> {
        if !r.bit()? {
            return Ok(Crop::default());
        }
        Ok(Crop {
            left: r.ue()?,
            right: r.ue()?,
            top: r.ue()?,
            bottom: r.ue()?,
        })
    }
}

/// What an H.264 or H.265 SPS says about the pictures.
#[derive(Debug, PartialEq)]
pub(crate) struct Picture {
    /// Width after cropping, in luma samples.
    pub(crate) width: u32,
    /// Height after cropping, in luma samples.
    pub(crate) height: u32,
    /// From the VUI timing info, when present.
    pub(crate) frame_rate: Option<f64>,
}

/// Chroma sampling as an H.264 or H.265 SPS declares it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Chroma {
    /// chroma_format_idc: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub(crate) format_idc: u32,
    /// separate_colour_plane_flag: 4:4:4 coded as three monochrome planes.
    pub(crate) separate_planes: bool,
}

impl Chroma {
    /// 4:2:0, what an H.264 SPS without the high-profile fields means.
    pub(crate) const DEFAULT: Chroma = Chroma {
        format_idc: 1,
        separate_planes: false,
    };

    /// chroma_format_idc (0..=3) and, for 4:4:4, separate_colour_plane_flag: the same syntax in
    /// H.264 §7.3.2.1.1 and H.265 §7.3.2.2.1. `field` names the first in errors.
    pub(crate) fn read(r: &mut BitReader, field: &'static str) -> Result<Self, FlvError> {
        let format_idc = r.ue()?;
        if format_idc > 3 {
            return Err(FlvError::InvalidField {
                field,
                value: format_idc.into(),
            });
        }
        let separate_planes = format_idc == 3 && r.bit()?;
        Ok(Chroma {
            format_idc,
            separate_planes,
        })
    }

    /// ChromaArrayType: 0 when the colour planes are coded separately.
    pub(crate) fn array_type(self) -> u32 {
        if self.separate_planes {
            0
        } else {
            self.format_idc
        }
    }

    /// Horizontal and vertical size of a crop unit in luma samples, for a picture whose vertical
    /// unit is `field_factor` times taller (H.264 field coding; 1 for H.265).
    pub(crate) fn crop_units(self, field_factor: u64) -> (u64, u64) {
        let (width, height) = subsampling(self.array_type());
        (width, height * field_factor)
    }
}

/// Horizontal and vertical chroma subsampling factors (SubWidthC, SubHeightC) for a
/// ChromaArrayType. H.264 Table 6-1 and H.265 Table 6-1 agree: 4:2:0 halves both directions,
/// 4:2:2 only the width; monochrome, separately coded planes (ChromaArrayType 0) and 4:4:4 use
/// one luma sample as the unit.
fn subsampling(chroma_array_type: u32) -> (u64, u64) {
    match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    }
}

/// `coded` luma samples less `unit * (first + second)` cropped ones, as a pixel count.
///
/// Crop offsets come from the bitstream in chroma units; a crop as large as the picture is
/// corrupt input and reported under `field`.
pub(crate) fn cropped(
    coded: u64,
    unit: u64,
    first: u32,
    second: u32,
    field: &'static str,
) -> Result<u32, FlvError> {
    let crop = unit * (u64::from(first) + u64::from(second));
    coded
        .checked_sub(crop)
        .filter(|&size| size > 0)
        .and_then(|size| u32::try_from(size).ok())
        .ok_or(FlvError::InvalidField { field, value: crop })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_in_chroma_units() {
        assert_eq!(cropped(1088, 2, 0, 4, "c"), Ok(1080));
        assert_eq!(cropped(864, 1, 5, 5, "c"), Ok(854));
        assert_eq!(
            cropped(16, 2, 4, 4, "c"),
            Err(FlvError::InvalidField {
                field: "c",
                value: 16
            })
        );
        assert!(cropped(u64::from(u32::MAX) * 16, 1, 0, 0, "c").is_err());
        assert_eq!(subsampling(0), (1, 1));
        assert_eq!(subsampling(2), (2, 1));
    }
}
