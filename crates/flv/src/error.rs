use thiserror::Error;

/// Everything that can be wrong with FLV bytes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FlvError {
    /// The stream does not begin with the bytes `FLV`; carries the three bytes found.
    #[error("not an FLV stream: signature is {0:?}, expected \"FLV\"")]
    BadSignature([u8; 3]),
    /// The file header's version byte is not 1; carries the version found.
    #[error("unsupported FLV version {0}")]
    BadVersion(u8),
    /// The file header's DataOffset (bytes) is below the 9 bytes of the header itself.
    #[error("FLV header length {0} is shorter than 9 bytes")]
    BadHeaderLength(u32),
    /// A tag's type byte is not 8 (audio), 9 (video) or 18 (script data); carries the byte found.
    #[error("unknown FLV tag type {0}")]
    UnknownTagType(u8),
    /// A tag body (of this many bytes) is too large for the 24-bit DataSize field, i.e. 16 MiB or
    /// more, when writing a tag.
    #[error("tag body of {0} bytes does not fit the 24-bit length field")]
    BodyTooLarge(usize),
    /// The PreviousTagSize after a tag does not equal that tag's header plus body length, so the
    /// stream is out of step or corrupt.
    #[error("previous tag size {found} does not match the tag just read ({expected})")]
    BadPreviousTagSize {
        /// Header plus body length of the tag just read (11 + DataSize).
        expected: u32,
        /// The PreviousTagSize value in the stream.
        found: u32,
    },
    /// The tag is not a codec sequence header (a coded frame, or a codec without one), so no codec
    /// set-up can be read from it.
    #[error("tag body is not a sequence header")]
    NotSequenceHeader,
    /// A structure ended before all its fields were read; names which one (e.g. the video tag
    /// header or an AVC decoder configuration record).
    #[error("{0} ends early")]
    Truncated(&'static str),
    /// A field of a header or codec configuration holds a value the format does not allow (e.g. a
    /// reserved bit, a version or a length out of range).
    #[error("{field} has the invalid value {value}")]
    InvalidField {
        /// Name of the field, as the format's specification calls it.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// An exp-Golomb code (H.264/H.265 parameter sets) has more than 32 leading zero bits; names
    /// the field being read.
    #[error("{0}: exp-Golomb code longer than 32 bits")]
    ExpGolombTooLong(&'static str),
    /// A part the structure must have is absent (e.g. no SPS in an AVC decoder configuration
    /// record, or no `OpusHead` signature); names it.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// An enhanced-RTMP tag names a codec FourCC this crate does not know; carries the four bytes.
    #[error("unknown FourCC {:?}", String::from_utf8_lossy(.0))]
    UnknownFourCc([u8; 4]),
}
