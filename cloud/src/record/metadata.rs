//! The `onMetaData` a recording starts with: the encoder's properties, plus `duration` and
//! `filesize` as 8-byte AMF0 numbers at known offsets, so that closing the file can overwrite
//! them in place without moving anything after them.
//!
//! Written by hand (AMF0 spec §2: string marker 0x02, ECMA array marker 0x08 with a u32 count,
//! number marker 0x00 with a big-endian f64, end marker 00 00 09) because the offsets of the two
//! numbers must be known; the encoder's values are re-serialised with `rml_amf0`.

use rml_amf0::Amf0Value;
use std::io::Cursor;

const STRING_MARKER: u8 = 0x02;
const NUMBER_MARKER: u8 = 0x00;
const ECMA_ARRAY_MARKER: u8 = 0x08;
const OBJECT_END: [u8; 3] = [0, 0, 9];
/// The properties the recording owns: the encoder's values (usually 0 for live) are replaced.
const DURATION: &str = "duration";
const FILESIZE: &str = "filesize";

/// A script tag body and where its patchable numbers are.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingMetadata {
    pub body: Vec<u8>,
    /// Offset in `body` of the 8 bytes of `duration`'s value.
    pub duration_at: usize,
    /// Offset in `body` of the 8 bytes of `filesize`'s value.
    pub filesize_at: usize,
}

/// Builds the recording's `onMetaData` from the encoder's (`None`, or a body that is not an
/// `onMetaData` with properties, gives one with `duration` and `filesize` only). Both numbers
/// start at 0 and come first; the encoder's other properties follow, sorted by name.
pub fn recording_metadata(encoder: Option<&[u8]>) -> RecordingMetadata {
    let properties = encoder.and_then(encoder_properties).unwrap_or_default();
    let mut body = Vec::with_capacity(64 + 32 * properties.len());
    put_string(&mut body, "onMetaData");
    body.push(ECMA_ARRAY_MARKER);
    body.extend_from_slice(&(properties.len() as u32 + 2).to_be_bytes());
    put_key(&mut body, DURATION);
    let duration_at = put_number(&mut body, 0.0);
    put_key(&mut body, FILESIZE);
    let filesize_at = put_number(&mut body, 0.0);
    for (key, value) in properties {
        body.extend_from_slice(&key);
        body.extend_from_slice(&value);
    }
    body.extend_from_slice(&OBJECT_END);
    RecordingMetadata {
        body,
        duration_at,
        filesize_at,
    }
}

/// The encoder's properties other than the two the recording owns, each as (encoded key,
/// encoded value), sorted by key. Values AMF0 cannot re-encode are left out.
fn encoder_properties(body: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut values = rml_amf0::deserialize(&mut Cursor::new(body))
        .ok()?
        .into_iter();
    let (Some(Amf0Value::Utf8String(name)), Some(Amf0Value::Object(properties))) =
        (values.next(), values.next())
    else {
        return None;
    };
    if name != "onMetaData" {
        return None;
    }
    let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = properties
        .into_iter()
        .filter(|(key, _)| key != DURATION && key != FILESIZE && key.len() <= usize::from(u16::MAX))
        .filter_map(|(key, value)| {
            let value = rml_amf0::serialize(&vec![value]).ok()?;
            let mut encoded_key = Vec::with_capacity(2 + key.len());
            put_key(&mut encoded_key, &key);
            Some((encoded_key, value))
        })
        .collect();
    encoded.sort();
    Some(encoded)
}

/// A property name: u16 length and UTF-8 bytes, no marker. Callers keep it under 64 KiB.
fn put_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
}

fn put_string(out: &mut Vec<u8>, value: &str) {
    out.push(STRING_MARKER);
    put_key(out, value);
}

/// Appends a number and returns the offset of its 8 value bytes.
fn put_number(out: &mut Vec<u8>, value: f64) -> usize {
    out.push(NUMBER_MARKER);
    let at = out.len();
    out.extend_from_slice(&value.to_be_bytes());
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(body: &[u8]) -> (String, HashMap<String, Amf0Value>) {
        let mut values = rml_amf0::deserialize(&mut Cursor::new(body)).unwrap();
        assert_eq!(values.len(), 2, "{values:?}");
        let properties = values.pop().unwrap().get_object_properties().unwrap();
        (values.pop().unwrap().get_string().unwrap(), properties)
    }

    #[test]
    fn encoder_properties_are_kept_and_ours_replace_theirs() {
        let mut encoder = HashMap::new();
        encoder.insert("width".to_owned(), Amf0Value::Number(320.0));
        encoder.insert("stereo".to_owned(), Amf0Value::Boolean(true));
        encoder.insert("encoder".to_owned(), Amf0Value::Utf8String("Lavf".into()));
        encoder.insert(DURATION.to_owned(), Amf0Value::Number(99.0));
        encoder.insert(FILESIZE.to_owned(), Amf0Value::Number(7.0));
        let body = rml_amf0::serialize(&vec![
            Amf0Value::Utf8String("onMetaData".into()),
            Amf0Value::Object(encoder),
        ])
        .unwrap();
        let mut meta = recording_metadata(Some(&body));
        assert!(flv::Tag::new(flv::TagType::Script, 0, meta.body.clone().into()).is_metadata());
        let (name, properties) = parse(&meta.body);
        assert_eq!(name, "onMetaData");
        assert_eq!(properties.len(), 5, "{properties:?}");
        assert_eq!(properties["width"], Amf0Value::Number(320.0));
        assert_eq!(properties["stereo"], Amf0Value::Boolean(true));
        assert_eq!(properties["encoder"], Amf0Value::Utf8String("Lavf".into()));
        assert_eq!(properties[DURATION], Amf0Value::Number(0.0));
        assert_eq!(properties[FILESIZE], Amf0Value::Number(0.0));
        // The offsets are the numbers' own: patching them changes exactly those values.
        meta.body[meta.duration_at..meta.duration_at + 8].copy_from_slice(&12.5f64.to_be_bytes());
        meta.body[meta.filesize_at..meta.filesize_at + 8].copy_from_slice(&4096f64.to_be_bytes());
        let (_, properties) = parse(&meta.body);
        assert_eq!(properties[DURATION], Amf0Value::Number(12.5));
        assert_eq!(properties[FILESIZE], Amf0Value::Number(4096.0));
        assert_eq!(properties["width"], Amf0Value::Number(320.0));
    }

    #[test]
    fn missing_or_foreign_metadata_gives_the_minimal_one() {
        let not_metadata = rml_amf0::serialize(&vec![
            Amf0Value::Utf8String("onCuePoint".into()),
            Amf0Value::Object(HashMap::new()),
        ])
        .unwrap();
        for encoder in [None, Some(&b"\x02\xff"[..]), Some(&not_metadata[..])] {
            let meta = recording_metadata(encoder);
            let (_, properties) = parse(&meta.body);
            assert_eq!(properties.len(), 2, "{properties:?}");
            assert_eq!(properties[DURATION], Amf0Value::Number(0.0));
            assert_eq!(properties[FILESIZE], Amf0Value::Number(0.0));
            assert_eq!(meta.body.len(), meta.filesize_at + 8 + OBJECT_END.len());
        }
    }
}
