use thiserror::Error;

/// Everything the packager can refuse.
///
/// Tag contents come from a publisher over the network, so none of these is a bug here: a tag
/// that cannot be read is reported and dropped, and only [`HlsError::Unsupported`] stops the
/// stream's packaging for good (it is what a playlist request then reports).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HlsError {
    /// The stream carries a codec that fMP4 HLS cannot carry here without transcoding (VP9,
    /// MP3, Sorenson H.263, Nellymoser, ...). Sticky: every later call reports it.
    #[error("codec {codec} cannot be packaged for HLS without transcoding")]
    Unsupported {
        /// The codec's name (`"vp9"`, `"mp3"`, `"video codec id 2"`, ...).
        codec: String,
    },
    /// A sequence header that does not parse (truncated or malformed configuration record);
    /// the previous configuration, if any, stays in use.
    #[error("bad sequence header: {0}")]
    BadSequenceHeader(String),
    /// A tag body too short for its own header; the tag is dropped.
    #[error("{0} ends early")]
    Truncated(&'static str),
    /// A box or fragment would not fit the 32-bit size fields of ISO/IEC 14496-12.
    #[error("{0} is too large for a 32-bit box size")]
    TooLarge(&'static str),
}
