//! Rebuilds the `onMetaData` script tag from the fields the RTMP library keeps.

use bytes::Bytes;
use rml_amf0::Amf0Value;
use rml_rtmp::sessions::StreamMetadata;
use std::collections::HashMap;

/// AMF0 body `"onMetaData", {…}` with the standard FLV metadata property names.
pub fn on_metadata_body(metadata: &StreamMetadata) -> Option<Bytes> {
    let mut properties = HashMap::new();
    let mut number = |name: &str, value: Option<f64>| {
        if let Some(value) = value {
            properties.insert(name.to_owned(), Amf0Value::Number(value));
        }
    };
    number("width", metadata.video_width.map(f64::from));
    number("height", metadata.video_height.map(f64::from));
    number("videocodecid", metadata.video_codec_id.map(f64::from));
    number("framerate", metadata.video_frame_rate.map(f64::from));
    number("videodatarate", metadata.video_bitrate_kbps.map(f64::from));
    number("audiocodecid", metadata.audio_codec_id.map(f64::from));
    number("audiodatarate", metadata.audio_bitrate_kbps.map(f64::from));
    number("audiosamplerate", metadata.audio_sample_rate.map(f64::from));
    number("audiochannels", metadata.audio_channels.map(f64::from));
    if let Some(stereo) = metadata.audio_is_stereo {
        properties.insert("stereo".into(), Amf0Value::Boolean(stereo));
    }
    if let Some(encoder) = &metadata.encoder {
        properties.insert("encoder".into(), Amf0Value::Utf8String(encoder.clone()));
    }
    let values = vec![
        Amf0Value::Utf8String("onMetaData".into()),
        Amf0Value::Object(properties),
    ];
    rml_amf0::serialize(&values).ok().map(Bytes::from)
}

/// The `framerate` property of an `onMetaData` body, if it has a sensible one.
pub fn frame_rate(body: &[u8]) -> Option<f64> {
    let values = rml_amf0::deserialize(&mut std::io::Cursor::new(body)).ok()?;
    let properties = values.into_iter().nth(1)?.get_object_properties()?;
    match properties.get("framerate") {
        Some(Amf0Value::Number(rate)) if rate.is_finite() && *rate > 0.0 && *rate < 1000.0 => {
            Some(*rate)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_starts_with_on_metadata_and_round_trips() {
        let mut metadata = StreamMetadata::new();
        metadata.video_width = Some(320);
        metadata.audio_is_stereo = Some(true);
        metadata.encoder = Some("Lavf".into());
        let body = on_metadata_body(&metadata).unwrap();
        let tag = flv::Tag::new(flv::TagType::Script, 0, body.clone());
        assert!(tag.is_metadata());
        let values = rml_amf0::deserialize(&mut std::io::Cursor::new(body.to_vec())).unwrap();
        let properties = values[1].clone().get_object_properties().unwrap();
        assert_eq!(properties["width"], Amf0Value::Number(320.0));
        assert_eq!(properties["stereo"], Amf0Value::Boolean(true));
        assert_eq!(frame_rate(&body), None);
        metadata.video_frame_rate = Some(29.97);
        let rate = frame_rate(&on_metadata_body(&metadata).unwrap()).unwrap();
        assert!((rate - 29.97).abs() < 1e-3, "{rate}");
        assert_eq!(frame_rate(b"garbage"), None);
    }
}
