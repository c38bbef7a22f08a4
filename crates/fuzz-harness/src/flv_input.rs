//! FLV as the edge and the tools read it, the codec parsers the control API reports from, and
//! AMF0 script data as encoders send it.

use flv::{audio_info, video_composition_time, video_info, AudioCodec, TagReader, VideoCodec};
use rml_amf0::{deserialize, serialize};
use std::io::Cursor;

/// An FLV byte stream read in two pushes; every tag read is classified and its codec parsed.
pub fn flv_reader(data: &[u8]) {
    let (first, second) = data.split_at(data.len() / 2);
    let mut reader = TagReader::new();
    for part in [first, second] {
        reader.push(part);
        while let Ok(Some(tag)) = reader.next_tag() {
            let _ = (
                tag.is_keyframe(),
                tag.is_sequence_header(),
                tag.is_metadata(),
            );
            codec_info(&tag.body);
        }
    }
}

/// One tag body through every codec classifier and `codec_info` parser, as audio and as video.
pub fn codec_info(body: &[u8]) {
    let _ = (VideoCodec::of(body), AudioCodec::of(body));
    let _ = video_composition_time(body);
    let _ = video_info(body);
    let _ = audio_info(body);
}

/// AMF0 values: what decodes serializes again, and that decodes to as many values.
pub fn amf0(data: &[u8]) {
    let Ok(values) = deserialize(&mut Cursor::new(data)) else {
        return;
    };
    let Ok(bytes) = serialize(&values) else {
        return;
    };
    let again = deserialize(&mut Cursor::new(bytes)).expect("serialized AMF0 decodes");
    assert_eq!(
        again.len(),
        values.len(),
        "as many values after a round trip"
    );
}
