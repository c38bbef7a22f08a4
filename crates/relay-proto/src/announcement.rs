//! In-band stream announcements: which publish an SSRC carries and what a decoder needs first.

use crate::ProtoError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use flv::{Tag, TagType};

const ANNOUNCEMENT_VERSION: u8 = 1;
const MAX_NAME_LEN: usize = 256;
const MAX_CONFIG_TAGS: usize = 8;

/// Names one publish and carries its current `onMetaData` and sequence headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// `app/name`, as in `rtmp://cloud/app/name` and `http://edge/app/name.flv`.
    pub stream: String,
    /// Wall-clock ms since the Unix epoch when the publish started.
    pub epoch: u64,
    /// Latest metadata and sequence headers, in the order a player needs them.
    pub config_tags: Vec<Tag>,
}

/// A stream name is `app/name`: two non-empty segments of ASCII letters, digits, `_`, `-` and
/// `.`, no segment `.` or `..`, at most 256 bytes. Anything else is refused at ingest and on the
/// wire, so names are always safe in URLs, logs and file paths.
pub fn is_valid_stream_name(name: &str) -> bool {
    let mut segments = name.split('/');
    let (Some(app), Some(key), None) = (segments.next(), segments.next(), segments.next()) else {
        return false;
    };
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    name.len() <= MAX_NAME_LEN && segment_ok(app) && segment_ok(key)
}

impl Announcement {
    /// The wire form: version byte, `epoch` (u64), name length (u16) and name, tag count (u8), then
    /// per tag its type (u8), timestamp (u32 ms), body length (u32) and body; big-endian. Tags
    /// beyond the limit are left out.
    pub fn encode(&self) -> Bytes {
        let tags_len: usize = self.config_tags.iter().map(|t| 9 + t.body.len()).sum();
        let mut out = BytesMut::with_capacity(12 + self.stream.len() + tags_len);
        out.put_u8(ANNOUNCEMENT_VERSION);
        out.put_u64(self.epoch);
        out.put_u16(self.stream.len() as u16);
        out.put_slice(self.stream.as_bytes());
        out.put_u8(self.config_tags.len().min(MAX_CONFIG_TAGS) as u8);
        for tag in self.config_tags.iter().take(MAX_CONFIG_TAGS) {
            out.put_u8(tag.tag_type as u8);
            out.put_u32(tag.timestamp);
            out.put_u32(tag.body.len() as u32);
            out.put_slice(&tag.body);
        }
        out.freeze()
    }

    /// Decodes an announcement body; config tag bodies are slices of `body`.
    pub fn decode(mut body: Bytes) -> Result<Self, ProtoError> {
        let bad = ProtoError::BadAnnouncement;
        if body.remaining() < 11 {
            return Err(bad("shorter than its fixed fields"));
        }
        if body.get_u8() != ANNOUNCEMENT_VERSION {
            return Err(bad("unknown version"));
        }
        let epoch = body.get_u64();
        let name_len = body.get_u16() as usize;
        if body.remaining() < name_len + 1 {
            return Err(bad("name runs past the end"));
        }
        let name = body.split_to(name_len);
        let stream = std::str::from_utf8(&name)
            .map_err(|_| bad("name is not UTF-8"))?
            .to_owned();
        if !is_valid_stream_name(&stream) {
            return Err(bad("name is not app/name"));
        }
        let count = body.get_u8() as usize;
        if count > MAX_CONFIG_TAGS {
            return Err(bad("too many configuration tags"));
        }
        let mut config_tags = Vec::with_capacity(count);
        for _ in 0..count {
            if body.remaining() < 9 {
                return Err(bad("configuration tag header runs past the end"));
            }
            let tag_type = TagType::from_u8(body.get_u8())
                .map_err(|_| bad("unknown configuration tag type"))?;
            let timestamp = body.get_u32();
            let len = body.get_u32() as usize;
            if body.remaining() < len {
                return Err(bad("configuration tag body runs past the end"));
            }
            config_tags.push(Tag::new(tag_type, timestamp, body.split_to(len)));
        }
        if body.has_remaining() {
            return Err(bad("trailing bytes"));
        }
        Ok(Announcement {
            stream,
            epoch,
            config_tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        for good in ["live/a", "live/cam-1.main", "app_2/X"] {
            assert!(is_valid_stream_name(good), "{good}");
        }
        for bad in [
            "live", "live/", "/a", "live/a/b", "live/..", "live/a b", "live/ä", "",
        ] {
            assert!(!is_valid_stream_name(bad), "{bad}");
        }
    }

    #[test]
    fn round_trip_and_every_truncation_fails() {
        let announcement = Announcement {
            stream: "live/test".into(),
            epoch: 1_700_000_000_123,
            config_tags: vec![
                Tag::new(
                    TagType::Script,
                    0,
                    Bytes::from_static(b"\x02\x00\x0aonMetaData"),
                ),
                Tag::new(
                    TagType::Video,
                    0,
                    Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
                ),
                Tag::new(
                    TagType::Audio,
                    0,
                    Bytes::from_static(&[0xaf, 0, 0x11, 0x90]),
                ),
            ],
        };
        let encoded = announcement.encode();
        assert_eq!(Announcement::decode(encoded.clone()).unwrap(), announcement);
        for cut in 0..encoded.len() {
            assert!(
                Announcement::decode(encoded.slice(..cut)).is_err(),
                "cut {cut}"
            );
        }
        let mut longer = encoded.to_vec();
        longer.push(0);
        assert!(Announcement::decode(Bytes::from(longer)).is_err());
    }
}
