//! The codecs of a stream, for the API, from its sequence headers (see `flv::video_info`).

use relay_control::views::{AudioView, VideoView};

/// What a video sequence header says; `None` when it does not parse.
pub fn video(body: &[u8]) -> Option<VideoView> {
    match flv::video_info(body) {
        Ok(info) => Some(VideoView {
            codec: info.codec.to_string(),
            profile: info.profile,
            level: info.level,
            width: info.width,
            height: info.height,
            frame_rate: info.frame_rate,
        }),
        Err(error) => {
            tracing::debug!(%error, "video sequence header not understood");
            None
        }
    }
}

/// What an audio sequence header (or, for codecs without one, an audio tag) says.
pub fn audio(body: &[u8]) -> Option<AudioView> {
    match flv::audio_info(body) {
        Ok(info) => Some(AudioView {
            codec: info.codec.to_string(),
            profile: info.profile,
            sample_rate: info.sample_rate,
            channels: info.channels,
        }),
        Err(error) => {
            tracing::debug!(%error, "audio header not understood");
            None
        }
    }
}
