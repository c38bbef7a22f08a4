//! Legacy FLV sound formats other than AAC: the audio tag header describes them, and for MP3
//! the MPEG audio frame header in the tag does so more exactly.

use super::info::AudioInfo;
use crate::FlvError;

/// Codec, sample rate and channels from the first byte of a legacy audio tag
/// (`SoundFormat << 4 | SoundRate << 2 | SoundSize << 1 | SoundType`).
///
/// The two rate bits cannot say 8, 16 or 48 kHz, so the formats defined at a fixed rate use it
/// (Nellymoser 8/16 kHz, G.711 at 8 kHz, Speex at 16 kHz mono), and MP3 reads its own frame
/// header, which encoders at 48 kHz have to flag as 44 kHz.
pub(crate) fn audio_info(body: &[u8]) -> Result<AudioInfo, FlvError> {
    let first = *body
        .first()
        .ok_or(FlvError::Truncated("FLV audio tag header"))?;
    // SoundRate (FLV spec v10.1 §E.4.2.1): 5.5, 11, 22 or 44 kHz.
    let flag_rate = match (first >> 2) & 0x03 {
        0 => 5_512,
        1 => 11_025,
        2 => 22_050,
        _ => 44_100,
    };
    let flag_channels = if first & 0x01 == 1 { 2 } else { 1 };
    let frame = body.get(1..).unwrap_or(&[]);
    let (codec, rate, channels) = match first >> 4 {
        0 => ("pcm", flag_rate, flag_channels),
        1 => ("adpcm", flag_rate, flag_channels),
        2 => return Ok(mp3_frame_info(frame).unwrap_or_else(|| mp3(flag_rate, flag_channels))),
        3 => ("pcm_le", flag_rate, flag_channels),
        4 => ("nellymoser", 16_000, 1),
        5 => ("nellymoser", 8_000, 1),
        6 => ("nellymoser", flag_rate, flag_channels),
        7 => ("g711_alaw", 8_000, flag_channels),
        8 => ("g711_mulaw", 8_000, flag_channels),
        11 => ("speex", 16_000, 1),
        // MP3 8 kHz.
        14 => return Ok(mp3_frame_info(frame).unwrap_or_else(|| mp3(8_000, flag_channels))),
        15 => ("device_specific", flag_rate, flag_channels),
        // 9 and 10 (ExHeader and AAC) are read elsewhere; 12 and 13 are reserved.
        other => {
            return Err(FlvError::InvalidField {
                field: "FLV SoundFormat",
                value: other.into(),
            })
        }
    };
    Ok(AudioInfo {
        codec,
        profile: None,
        sample_rate: Some(rate),
        channels: Some(channels),
    })
}

fn mp3(rate: u32, channels: u8) -> AudioInfo {
    AudioInfo {
        codec: "mp3",
        profile: None,
        sample_rate: Some(rate),
        channels: Some(channels),
    }
}

/// Sample rate and channels from an MPEG audio frame header (ISO/IEC 11172-3 §2.4.1.3, with the
/// half rates of ISO/IEC 13818-3 and the quarter rates of the MPEG 2.5 extension), `None` when
/// `frame` does not start with a valid header.
pub(crate) fn mp3_frame_info(frame: &[u8]) -> Option<AudioInfo> {
    let &[sync, flags, rates, mode, ..] = frame else {
        return None;
    };
    // 11 sync bits, then version (2 bits), layer (2 bits) and the CRC flag.
    if sync != 0xff || flags & 0xe0 != 0xe0 {
        return None;
    }
    let version = (flags >> 3) & 0x03;
    let layer = (flags >> 1) & 0x03;
    let bitrate_index = rates >> 4;
    let rate_index = usize::from((rates >> 2) & 0x03);
    let base = [44_100, 48_000, 32_000].get(rate_index)?;
    let rate = match version {
        3 => *base,    // MPEG-1
        2 => base / 2, // MPEG-2
        0 => base / 4, // MPEG 2.5
        _ => return None,
    };
    if layer == 0 || bitrate_index == 0x0f {
        return None;
    }
    // Channel mode 3 is single channel; the others (stereo, joint, dual) have two.
    let channels = if mode >> 6 == 3 { 1 } else { 2 };
    Some(mp3(rate, channels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(body: &[u8]) -> (&'static str, Option<u32>, Option<u8>) {
        let info = audio_info(body).unwrap();
        (info.codec, info.sample_rate, info.channels)
    }

    #[test]
    fn flags_and_fixed_rates() {
        assert_eq!(summary(&[0x3f]), ("pcm_le", Some(44_100), Some(2)));
        assert_eq!(summary(&[0x0a]), ("pcm", Some(22_050), Some(1)));
        assert_eq!(summary(&[0x52]), ("nellymoser", Some(8_000), Some(1)));
        assert_eq!(summary(&[0x72]), ("g711_alaw", Some(8_000), Some(1)));
        assert_eq!(summary(&[0xb2]), ("speex", Some(16_000), Some(1)));
        assert_eq!(
            audio_info(&[0xcf]),
            Err(FlvError::InvalidField {
                field: "FLV SoundFormat",
                value: 12
            })
        );
        assert_eq!(
            audio_info(&[]),
            Err(FlvError::Truncated("FLV audio tag header"))
        );
    }

    #[test]
    fn mp3_frame_header_wins_over_flags() {
        // Flags say 44 kHz stereo; the MPEG-1 Layer III header says 48 kHz, single channel.
        assert_eq!(
            summary(&[0x2f, 0xff, 0xfb, 0x94, 0xc4]),
            ("mp3", Some(48_000), Some(1))
        );
        // MPEG-2 at 22.05 kHz, joint stereo.
        assert_eq!(
            summary(&[0x2f, 0xff, 0xf3, 0x80, 0x44]),
            ("mp3", Some(22_050), Some(2))
        );
        // No valid header (a cut tag, a reserved rate): the flags.
        assert_eq!(summary(&[0x2e, 0xff, 0xfb]), ("mp3", Some(44_100), Some(1)));
        assert_eq!(
            summary(&[0x2b, 0xff, 0xfb, 0x9c, 0x00]),
            ("mp3", Some(22_050), Some(2))
        );
        assert_eq!(summary(&[0xe2]), ("mp3", Some(8_000), Some(1)));
    }
}
