//! Opus: the identification header an Enhanced RTMP `Opus` SequenceStart carries.

use super::bits::BitReader;
use super::info::AudioInfo;
use crate::FlvError;

const ID_HEADER: &str = "Opus identification header";
const MAGIC: &[u8] = b"OpusHead";

/// Channel count and input sample rate from an Opus identification header (RFC 7845 §5.1).
///
/// Opus always decodes at 48 kHz; the header's input sample rate is the rate of the audio the
/// encoder was given, which is what the stream API reports (`None` when the header leaves it 0,
/// "unspecified"). Multi-byte fields are little-endian.
pub(crate) fn audio_info(header: &[u8]) -> Result<AudioInfo, FlvError> {
    let mut r = BitReader::new(header, ID_HEADER);
    if r.bytes(MAGIC.len())? != MAGIC {
        return Err(FlvError::Missing("OpusHead magic signature"));
    }
    // Version: the upper four bits are the major version; only 0 is understood.
    let version = r.u8()?;
    if version >> 4 != 0 {
        return Err(FlvError::InvalidField {
            field: "Opus identification header version",
            value: version.into(),
        });
    }
    let channels = r.u8()?;
    if channels == 0 {
        return Err(FlvError::InvalidField {
            field: "Opus output channel count",
            value: 0,
        });
    }
    r.skip(16)?; // pre-skip
    let input_rate = u32::from_le_bytes([r.u8()?, r.u8()?, r.u8()?, r.u8()?]);
    r.skip(16)?; // output gain
                 // Mapping family 0 ends here; the others add stream counts and a mapping table.
    if r.u8()? != 0 {
        r.skip(16 + 8 * usize::from(channels))?;
    }
    Ok(AudioInfo {
        codec: "opus",
        profile: None,
        sample_rate: (input_rate > 0).then_some(input_rate),
        channels: Some(channels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(channels: u8, rate: u32, family: u8) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, channels, 0x38, 0x01]);
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&[0, 0, family]);
        if family != 0 {
            out.extend_from_slice(&[4, 2]);
            out.extend((0..channels).map(|c| c % 6));
        }
        out
    }

    #[test]
    fn mapping_families() {
        let stereo = audio_info(&head(2, 44_100, 0)).unwrap();
        assert_eq!(stereo.codec, "opus");
        assert_eq!(
            (stereo.sample_rate, stereo.channels),
            (Some(44_100), Some(2))
        );
        let surround = audio_info(&head(6, 48_000, 1)).unwrap();
        assert_eq!(surround.channels, Some(6));
        let unspecified = audio_info(&head(1, 0, 0)).unwrap();
        assert_eq!(unspecified.sample_rate, None);
    }

    #[test]
    fn truncated_and_malformed() {
        for header in [head(2, 48_000, 0), head(6, 48_000, 1)] {
            for len in 0..header.len() {
                assert!(audio_info(&header[..len]).is_err(), "prefix of {len} bytes");
            }
        }
        let mut wrong_magic = head(2, 48_000, 0);
        wrong_magic[4] = b'T';
        assert_eq!(
            audio_info(&wrong_magic),
            Err(FlvError::Missing("OpusHead magic signature"))
        );
        let mut version_two = head(2, 48_000, 0);
        version_two[8] = 0x20;
        assert!(matches!(
            audio_info(&version_two),
            Err(FlvError::InvalidField { value: 0x20, .. })
        ));
        assert!(audio_info(&head(0, 48_000, 0)).is_err());
    }
}
