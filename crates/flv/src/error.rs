use thiserror::Error;

/// Everything that can be wrong with FLV bytes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FlvError {
    #[error("not an FLV stream: signature is {0:?}, expected \"FLV\"")]
    BadSignature([u8; 3]),
    #[error("unsupported FLV version {0}")]
    BadVersion(u8),
    #[error("FLV header length {0} is shorter than 9 bytes")]
    BadHeaderLength(u32),
    #[error("unknown FLV tag type {0}")]
    UnknownTagType(u8),
    #[error("tag body of {0} bytes does not fit the 24-bit length field")]
    BodyTooLarge(usize),
    #[error("previous tag size {found} does not match the tag just read ({expected})")]
    BadPreviousTagSize { expected: u32, found: u32 },
    #[error("tag body is not a sequence header")]
    NotSequenceHeader,
    #[error("{0} ends early")]
    Truncated(&'static str),
    #[error("{field} has the invalid value {value}")]
    InvalidField { field: &'static str, value: u64 },
    #[error("{0}: exp-Golomb code longer than 32 bits")]
    ExpGolombTooLong(&'static str),
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("unknown FourCC {:?}", String::from_utf8_lossy(.0))]
    UnknownFourCc([u8; 4]),
}
