//! What the codec readers find: the described stream, and the small helpers they share.

/// What a video sequence header says about the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// `"h264"`, `"hevc"`, `"av1"` or `"vp9"`.
    pub codec: &'static str,
    /// Profile name ("High", "Main 10", ...), or its number when it has no name here.
    pub profile: Option<String>,
    /// Level as "major.minor" ("4.1"; H.264 also has "1b").
    pub level: Option<String>,
    /// Displayed width in pixels, after cropping.
    pub width: Option<u32>,
    /// Displayed height in pixels, after cropping.
    pub height: Option<u32>,
    /// Frames per second from the bitstream's timing information, when it has any.
    pub frame_rate: Option<f64>,
}

impl VideoInfo {
    /// Only the codec is known.
    pub(super) fn codec_only(codec: &'static str) -> Self {
        VideoInfo {
            codec,
            profile: None,
            level: None,
            width: None,
            height: None,
            frame_rate: None,
        }
    }
}

/// What an audio tag says about the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInfo {
    /// `"aac"`, `"mp3"`, `"opus"`, `"pcm"`, ... (see [`crate::audio_info`]).
    pub codec: &'static str,
    /// AAC profile ("LC", "HE-AAC", ...), or the audio object type number.
    pub profile: Option<String>,
    /// Output sample rate in Hz.
    pub sample_rate: Option<u32>,
    /// Channel count, when the header or sequence header says it.
    pub channels: Option<u8>,
}

impl AudioInfo {
    /// Only the codec is known.
    pub(super) fn codec_only(codec: &'static str) -> Self {
        AudioInfo {
            codec,
            profile: None,
            sample_rate: None,
            channels: None,
        }
    }
}

/// "major.minor" for the codecs whose level numbers encode both digits.
pub(super) fn dotted_level(major: u32, minor: u32) -> String {
    format!("{major}.{minor}")
}
