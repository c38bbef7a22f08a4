//! The edge's HLS packager fed whatever tags a publisher can send.

use flv::TagReader;
use relay_hls::{parse_uri, Config, Packager};

/// The URIs the media playlist lists as existing (segments, parts, init segments; not the
/// preload hint, which names a part still to come).
fn listed(playlist: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in playlist.lines() {
        if line.starts_with("#EXT-X-PRELOAD-HINT") {
            continue;
        }
        if let Some(start) = line.find("URI=\"") {
            let rest = &line[start + 5..];
            if let Some(end) = rest.find('"') {
                uris.push(rest[..end].to_owned());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            uris.push(line.to_owned());
        }
    }
    uris
}

/// FLV bytes read as tags into a packager with short targets. Whatever the tags, nothing
/// panics, and every URI the playlist lists, before and after the end, is there to serve.
pub fn hls_packager(data: &[u8]) {
    let mut config = Config::new("fuzz");
    config.segment_target_ms = 1000;
    config.part_target_ms = 300;
    config.max_segments = 3;
    let mut packager = Packager::new(config);
    let mut reader = TagReader::new();
    reader.push(data);
    let check = |packager: &Packager| {
        let Some(playlist) = packager.media_playlist() else {
            return;
        };
        for uri in listed(&playlist) {
            let name = uri.split('?').next().unwrap_or_default();
            let file = name.strip_prefix("fuzz/").unwrap_or(name);
            let resource = parse_uri(file)
                .unwrap_or_else(|| panic!("the playlist lists {uri}, which does not parse"));
            assert!(
                packager.resource(resource).is_some(),
                "the playlist lists {uri}, which is not there:\n{playlist}"
            );
        }
    };
    while let Ok(Some(tag)) = reader.next_tag() {
        if packager.push(&tag).is_err() {
            break;
        }
        check(&packager);
    }
    packager.finish();
    check(&packager);
    let _ = packager.poll_playlist(Some(0), Some(0));
    let _ = packager.multivariant_playlist();
}
