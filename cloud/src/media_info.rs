//! The codecs of a stream, for the API, from its sequence headers. Filled in by the FLV codec
//! parser; until then streams show no codec details.

use relay_control::views::{AudioView, VideoView};

pub fn video(_body: &[u8]) -> Option<VideoView> {
    None
}

pub fn audio(_body: &[u8]) -> Option<AudioView> {
    None
}
