//! AAC: the AudioSpecificConfig of ISO/IEC 14496-3 §1.6.2.1.

use super::bits::BitReader;
use super::info::AudioInfo;
use crate::FlvError;

const ASC: &str = "AudioSpecificConfig";
const AOT_MAIN: u32 = 1;
const AOT_LTP: u32 = 4;
const AOT_SBR: u32 = 5;
const AOT_ER_BSAC: u32 = 22;
const AOT_PS: u32 = 29;
/// A 5-bit object type of 31 means 32 plus a 6-bit extension follows (§1.6.2.1, Table 1.14).
const AOT_ESCAPE: u32 = 31;
/// samplingFrequencyIndex values 0..=12 (§1.6.3.4, Table 1.18); 13 and 14 are reserved.
const SAMPLING_FREQUENCIES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];
/// samplingFrequencyIndex 15: the frequency follows as a 24-bit number.
const EXPLICIT_FREQUENCY: u32 = 15;
/// syncExtensionType values announcing SBR and then PS data after the core configuration
/// (backward-compatible signalling, §1.6.5.2 and §1.6.6.2).
const SYNC_EXTENSION_SBR: u32 = 0x2b7;
const SYNC_EXTENSION_PS: u32 = 0x548;

/// Profile, output sample rate and channel count of an AudioSpecificConfig.
///
/// HE-AAC (SBR) decodes at twice the core rate; it is signalled either explicitly, with object
/// type 5 or 29 in front, or backward-compatibly, with a sync extension after the core
/// configuration. HE-AACv2 (PS) outputs stereo from a mono core.
pub(crate) fn audio_info(asc: &[u8]) -> Result<AudioInfo, FlvError> {
    let mut r = BitReader::new(asc, ASC);
    let mut object_type = read_object_type(&mut r)?;
    let core_rate = read_sampling_frequency(&mut r)?;
    let channel_configuration = r.bits(4)?;
    let extension = if object_type == AOT_SBR || object_type == AOT_PS {
        let extension = Extension {
            sbr: true,
            ps: object_type == AOT_PS,
            sample_rate: Some(read_sampling_frequency(&mut r)?),
        };
        object_type = read_object_type(&mut r)?;
        if object_type == AOT_ER_BSAC {
            r.skip(4)?; // extensionChannelConfiguration
        }
        extension
    } else {
        backward_compatible_extension(&mut r, object_type, channel_configuration)?
    };
    let channels = channel_count(channel_configuration);
    Ok(AudioInfo {
        codec: "aac",
        profile: Some(profile_name(object_type, &extension)),
        sample_rate: Some(extension.sample_rate.unwrap_or(core_rate)),
        channels: if extension.ps && channels == Some(1) {
            Some(2)
        } else {
            channels
        },
    })
}

/// What SBR/PS signalling added to the core configuration.
#[derive(Default)]
struct Extension {
    sbr: bool,
    ps: bool,
    /// The SBR output rate.
    sample_rate: Option<u32>,
}

/// GetAudioObjectType() of §1.6.2.1.1.
fn read_object_type(r: &mut BitReader) -> Result<u32, FlvError> {
    let object_type = r.bits(5)?;
    if object_type == AOT_ESCAPE {
        return Ok(32 + r.bits(6)?);
    }
    Ok(object_type)
}

/// samplingFrequencyIndex, or the explicit 24-bit samplingFrequency after index 15.
fn read_sampling_frequency(r: &mut BitReader) -> Result<u32, FlvError> {
    let index = r.bits(4)?;
    let frequency = if index == EXPLICIT_FREQUENCY {
        r.bits(24)?
    } else {
        let known = SAMPLING_FREQUENCIES.get(index as usize).copied();
        known.ok_or(FlvError::InvalidField {
            field: "AudioSpecificConfig samplingFrequencyIndex",
            value: index.into(),
        })?
    };
    if frequency == 0 {
        return Err(FlvError::InvalidField {
            field: "AudioSpecificConfig samplingFrequency",
            value: 0,
        });
    }
    Ok(frequency)
}

/// An SBR (and PS) sync extension after a Main, LC, SSR or LTP GASpecificConfig (§4.4.1).
///
/// Only those object types are looked at, and only with a channelConfiguration, because then the
/// GASpecificConfig has a fixed shape: frameLengthFlag, dependsOnCoreCoder (+ a 14-bit delay)
/// and extensionFlag. A program config element or the error-resilient fields would have to be
/// parsed in full to find what follows.
fn backward_compatible_extension(
    r: &mut BitReader,
    object_type: u32,
    channel_configuration: u32,
) -> Result<Extension, FlvError> {
    let mut extension = Extension::default();
    if !(AOT_MAIN..=AOT_LTP).contains(&object_type) || channel_configuration == 0 {
        return Ok(extension);
    }
    r.skip(1)?; // frameLengthFlag
    if r.bit()? {
        r.skip(14)?; // coreCoderDelay
    }
    r.skip(1)?; // extensionFlag
    if r.remaining() < 16 || r.bits(11)? != SYNC_EXTENSION_SBR {
        return Ok(extension);
    }
    if read_object_type(r)? != AOT_SBR || !r.bit()? {
        return Ok(extension); // not SBR, or sbrPresentFlag 0
    }
    extension.sbr = true;
    extension.sample_rate = Some(read_sampling_frequency(r)?);
    if r.remaining() >= 12 && r.bits(11)? == SYNC_EXTENSION_PS {
        extension.ps = r.bit()?;
    }
    Ok(extension)
}

/// Output channels for a channelConfiguration (§1.6.3.5, Table 1.19). 0 leaves them to a program
/// config element, and reserved values say nothing: both are `None`.
fn channel_count(channel_configuration: u32) -> Option<u8> {
    match channel_configuration {
        1..=6 => Some(channel_configuration as u8),
        7 | 12 | 14 => Some(8),
        11 => Some(7),
        13 => Some(24),
        _ => None,
    }
}

/// Audio object type names (§1.5.1.1, Table 1.1), with SBR and PS named after the profiles
/// that use them.
fn profile_name(object_type: u32, extension: &Extension) -> String {
    if extension.ps {
        return "HE-AACv2".to_string();
    }
    if extension.sbr {
        return "HE-AAC".to_string();
    }
    match object_type {
        1 => "Main".to_string(),
        2 => "LC".to_string(),
        3 => "SSR".to_string(),
        4 => "LTP".to_string(),
        23 => "LD".to_string(),
        39 => "ELD".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec_info::test_bits::BitWriter;

    fn info(asc: &[u8]) -> (String, u32, Option<u8>) {
        let info = audio_info(asc).unwrap();
        assert_eq!(info.codec, "aac");
        (
            info.profile.unwrap(),
            info.sample_rate.unwrap(),
            info.channels,
        )
    }

    #[test]
    fn plain_object_types() {
        assert_eq!(info(&[0x12, 0x10]), ("LC".into(), 44_100, Some(2)));
        assert_eq!(info(&[0x0a, 0xb0]), ("Main".into(), 32_000, Some(6)));
        assert_eq!(info(&[0x11, 0x88]), ("LC".into(), 48_000, Some(1)));
        assert_eq!(info(&[0x16, 0x08]), ("LC".into(), 7_350, Some(1)));
    }

    /// An AudioSpecificConfig from (bit count, value) fields.
    fn asc(fields: &[(u32, u64)]) -> Vec<u8> {
        let mut w = BitWriter::new();
        for &(bits, value) in fields {
            w.bits(bits, value);
        }
        w.bytes()
    }

    #[test]
    fn explicit_sbr_and_ps() {
        // AOT 5, 24 kHz core, stereo, 48 kHz SBR, core AOT 2, GASpecificConfig.
        let he_aac = asc(&[(5, 5), (4, 6), (4, 2), (4, 3), (5, 2), (3, 0)]);
        assert_eq!(info(&he_aac), ("HE-AAC".into(), 48_000, Some(2)));
        // AOT 29, 22.05 kHz mono core, 44.1 kHz SBR: stereo out.
        let he_aac_v2 = asc(&[(5, 29), (4, 7), (4, 1), (4, 4), (5, 2), (3, 0)]);
        assert_eq!(info(&he_aac_v2), ("HE-AACv2".into(), 44_100, Some(2)));
    }

    #[test]
    fn backward_compatible_sbr_and_ps() {
        // LC 24 kHz, GASpecificConfig, then 0x2b7, AOT 5, sbrPresentFlag and a 48 kHz index.
        let lc_mono = [(5, 2), (4, 6), (4, 1), (3, 0)];
        let lc_stereo = [(5, 2), (4, 6), (4, 2), (3, 0)];
        let sbr = [(11, 0x2b7), (5, 5), (1, 1), (4, 3)];
        // ... and 0x548 with psPresentFlag.
        let ps = [(11, 0x548), (1, 1)];
        assert_eq!(
            info(&asc(&[&lc_mono[..], &sbr, &ps].concat())),
            ("HE-AACv2".into(), 48_000, Some(2))
        );
        assert_eq!(
            info(&asc(&[&lc_stereo[..], &sbr].concat())),
            ("HE-AAC".into(), 48_000, Some(2))
        );
        // sbrPresentFlag 0: plain LC, as ffmpeg's encoder writes it.
        let no_sbr = [(11, 0x2b7), (5, 5), (1, 0), (4, 0)];
        assert_eq!(
            info(&asc(&[&lc_stereo[..], &no_sbr].concat())),
            ("LC".into(), 24_000, Some(2))
        );
    }

    #[test]
    fn escapes() {
        // Object type 31 + 6 bits (42: USAC), explicit 24-bit frequency of 37800 Hz, 5.1.
        let usac = asc(&[(5, 31), (6, 10), (4, 15), (24, 37_800), (4, 6)]);
        assert_eq!(info(&usac), ("42".into(), 37_800, Some(6)));
        // channelConfiguration 0: the channels are in a program config element.
        assert_eq!(info(&[0x12, 0x00]), ("LC".into(), 44_100, None));
    }

    #[test]
    fn malformed() {
        assert_eq!(
            audio_info(&[0x16, 0x90]),
            Err(FlvError::InvalidField {
                field: "AudioSpecificConfig samplingFrequencyIndex",
                value: 13
            })
        );
        assert!(matches!(
            audio_info(&asc(&[(5, 2), (4, 15), (24, 0), (4, 2)])),
            Err(FlvError::InvalidField { value: 0, .. })
        ));
        for asc in [&[0x12, 0x10][..], &[0x2b, 0x92, 0x08, 0x00]] {
            for len in 0..asc.len() - 1 {
                assert!(audio_info(&asc[..len]).is_err(), "{asc:02x?} cut to {len}");
            }
        }
    }
}
