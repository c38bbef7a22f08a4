//! Packager and playlist rules on synthetic streams.

use crate::{parse_uri, Config, HlsError, Packager, Reload, Resource};
use bytes::Bytes;
use flv::{Tag, TagType};

/// A real x264 High-profile 320x240 AVCDecoderConfigurationRecord behind its FLV header.
const AVC_SEQUENCE_HEADER: &str = "17000000000164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000668ebe3cb22c0fdf8f800";
/// AAC-LC 44.1 kHz stereo.
const AAC_SEQUENCE_HEADER: &str = "af00120856e500";

fn hex(s: &str) -> Bytes {
    Bytes::from(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    )
}

fn video_frame(ts: u32, key: bool, cts_ms: i32, len: usize) -> Tag {
    let mut body = vec![if key { 0x17 } else { 0x27 }, 1];
    body.extend_from_slice(&cts_ms.to_be_bytes()[1..]);
    body.extend_from_slice(&(len as u32).to_be_bytes());
    body.extend(std::iter::repeat_n(if key { 0x65 } else { 0x41 }, len));
    Tag::new(TagType::Video, ts, Bytes::from(body))
}

fn audio_frame(ts: u32) -> Tag {
    Tag::new(
        TagType::Audio,
        ts,
        Bytes::from(vec![0xaf, 1, 0x21, 0x10, 0x04]),
    )
}

/// `seconds` of 30 fps video (keyframe every `gop` frames) and AAC at 44.1 kHz, interleaved
/// in DTS order, after the sequence headers.
fn stream(seconds: u32, gop: u32, audio: bool, video: bool) -> Vec<Tag> {
    let mut tags = vec![Tag::new(
        TagType::Script,
        0,
        Bytes::from_static(b"\x02\x00\x0aonMetaData\x08"),
    )];
    if video {
        tags.push(Tag::new(TagType::Video, 0, hex(AVC_SEQUENCE_HEADER)));
    }
    if audio {
        tags.push(Tag::new(TagType::Audio, 0, hex(AAC_SEQUENCE_HEADER)));
    }
    let mut frames = Vec::new();
    if video {
        for n in 0..seconds * 30 {
            let ts = (u64::from(n) * 1000 / 30) as u32;
            frames.push(video_frame(ts, n % gop == 0, 66, 100 + (n as usize % 7)));
        }
    }
    if audio {
        let count = u64::from(seconds) * 44_100 / 1024;
        for k in 0..count {
            frames.push(audio_frame((k * 1024 * 1000 / 44_100) as u32));
        }
    }
    frames.sort_by_key(|t| t.timestamp);
    tags.extend(frames);
    tags
}

fn config(segment_ms: u32, part_ms: u32, max_segments: usize) -> Config {
    Config {
        segment_target_ms: segment_ms,
        part_target_ms: part_ms,
        max_segments,
        ..Config::new("live")
    }
}

fn feed(p: &mut Packager, tags: &[Tag]) {
    for tag in tags {
        p.push(tag).unwrap();
    }
}

fn playlist(p: &Packager) -> String {
    match p.poll_playlist(None, None).unwrap() {
        Reload::Ready(text) => text,
        other => panic!("no playlist: {other:?}"),
    }
}

fn attr(line: &str, name: &str) -> Option<String> {
    line.split(',')
        .find_map(|a| a.strip_prefix(&format!("{name}=")))
        .map(|v| v.trim_matches('"').to_string())
        .or_else(|| {
            line.split_once(':')
                .and_then(|(_, rest)| {
                    rest.split(',')
                        .find_map(|a| a.strip_prefix(&format!("{name}=")))
                })
                .map(|v| v.trim_matches('"').to_string())
        })
}

#[test]
fn parts_obey_the_part_target_and_hint_while_live() {
    let mut p = Packager::new(config(2000, 500, 6));
    feed(&mut p, &stream(7, 30, true, true));
    let text = playlist(&p);
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:6\n"), "{text}");
    assert!(text.contains("#EXT-X-TARGETDURATION:2\n"));
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.500\n"));
    assert!(text.contains("CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500"));
    assert!(text.contains("#EXT-X-MAP:URI=\"live/init-0.mp4\""));
    let target = 0.5;
    let mut parts = 0;
    for line in text.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
        parts += 1;
        let d: f64 = attr(line, "DURATION").unwrap().parse().unwrap();
        // draft-pantos-hls-rfc8216bis §4.4.4.9: a part's duration must not exceed
        // PART-TARGET; this packager never lets it.
        assert!(d <= target && d > 0.0, "{line}");
        let uri = attr(line, "URI").unwrap();
        let Some(Resource::Part(msn, i)) = parse_uri(uri.strip_prefix("live/").unwrap()) else {
            panic!("{uri}");
        };
        assert!(p.part(msn, i).is_some(), "{uri} is served");
    }
    assert!(parts >= 8, "{text}");
    // Segments start at keyframes: their first part is independent.
    for line in text
        .lines()
        .filter(|l| l.contains("part-") && l.contains("-0.m4s"))
    {
        assert!(line.ends_with(",INDEPENDENT=YES"), "{line}");
    }
    for line in text.lines().filter(|l| l.starts_with("#EXTINF:")) {
        let d: f64 = line[8..line.len() - 1].parse().unwrap();
        assert!((d - 2.0).abs() < 0.05, "{line}");
    }
    let hint = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI="))
        .expect("a preload hint while live");
    assert!(!text.contains("#EXT-X-ENDLIST"));
    let Some(Resource::Part(msn, i)) =
        parse_uri(attr(hint, "URI").unwrap().strip_prefix("live/").unwrap())
    else {
        panic!("{hint}")
    };
    assert!(p.part(msn, i).is_none() && p.part_may_appear(msn, i));

    p.finish();
    let text = playlist(&p);
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert!(!text.contains("PRELOAD-HINT"));
    assert!(!p.part_may_appear(msn, i));
}

#[test]
fn window_slides_and_memory_stays_bounded() {
    let mut p = Packager::new(config(1000, 250, 4));
    let tags = stream(30, 30, true, true);
    let mut sequences = Vec::new();
    for tag in &tags {
        p.push(tag).unwrap();
        assert!(p.retained_segments() <= 4);
        if let Some(text) = p.media_playlist() {
            let seq: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
                .unwrap()
                .parse()
                .unwrap();
            sequences.push(seq);
        }
    }
    assert!(sequences.windows(2).all(|w| w[0] <= w[1]));
    let last = *sequences.last().unwrap();
    assert!(last >= 24, "media sequence advanced to {last}");
    assert_eq!(p.retained_segments(), 4);
    assert!(p.segment(0).is_none(), "rolled off");
    assert!(p.part(0, 0).is_none());
    assert!(p.segment(last).is_some());
    assert!(p.init(0).is_some(), "still referenced");
    let text = playlist(&p);
    assert_eq!(text.matches("#EXTINF:").count(), 4);
    // Parts only for the newest segments (within three target durations of the end).
    let listed: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| parse_uri(attr(l, "URI").unwrap().strip_prefix("live/").unwrap()))
        .map(|r| match r {
            Resource::Part(msn, _) => msn,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(!listed.contains(&last), "the oldest segment lists no parts");
}

#[test]
fn blocking_reload_waits_for_the_part() {
    let mut p = Packager::new(config(2000, 500, 6));
    let tags = stream(10, 30, true, true);
    assert_eq!(p.poll_playlist(None, None), Ok(Reload::Wait), "nothing yet");
    let mut fed = 0;
    // Up to the first part of segment 1.
    while p.part(1, 0).is_none() {
        p.push(&tags[fed]).unwrap();
        fed += 1;
    }
    assert!(matches!(
        p.poll_playlist(Some(1), Some(0)),
        Ok(Reload::Ready(_))
    ));
    assert!(matches!(
        p.poll_playlist(Some(0), None),
        Ok(Reload::Ready(_))
    ));
    assert!(matches!(
        p.poll_playlist(Some(0), Some(99)),
        Ok(Reload::Ready(_))
    ));
    assert_eq!(p.poll_playlist(Some(1), None), Ok(Reload::Wait));
    assert_eq!(p.poll_playlist(Some(1), Some(1)), Ok(Reload::Wait));
    assert_eq!(p.poll_playlist(Some(2), Some(0)), Ok(Reload::Wait));
    assert!(matches!(
        p.poll_playlist(Some(4), None),
        Ok(Reload::BadRequest(_))
    ));
    assert!(matches!(
        p.poll_playlist(None, Some(0)),
        Ok(Reload::BadRequest(_))
    ));
    // Advance Part Limit: 3 s of 0.5 s parts is six parts ahead.
    assert!(matches!(
        p.poll_playlist(Some(1), Some(7)),
        Ok(Reload::BadRequest(_))
    ));
    assert_eq!(p.poll_playlist(Some(1), Some(6)), Ok(Reload::Wait));
    let generation = p.generation();
    while p.part(1, 1).is_none() {
        p.push(&tags[fed]).unwrap();
        fed += 1;
    }
    assert!(p.generation() > generation);
    match p.poll_playlist(Some(1), Some(1)).unwrap() {
        Reload::Ready(text) => assert!(text.contains("live/part-1-1.m4s")),
        other => panic!("{other:?}"),
    }
    p.finish();
    assert!(matches!(
        p.poll_playlist(Some(3), Some(5)),
        Ok(Reload::Ready(_))
    ));
}

#[test]
fn changed_sequence_header_starts_a_discontinuity() {
    let mut p = Packager::new(config(2000, 500, 6));
    feed(&mut p, &stream(3, 30, true, true));
    // A different SPS (level byte changed): a new init segment.
    let mut changed = hex(AVC_SEQUENCE_HEADER).to_vec();
    changed[8] = 0x1e;
    changed[16] = 0x1e;
    p.push(&Tag::new(TagType::Video, 3000, Bytes::from(changed)))
        .unwrap();
    // Repeating the same header changes nothing.
    let again = p.generation();
    p.push(&Tag::new(TagType::Audio, 3000, hex(AAC_SEQUENCE_HEADER)))
        .unwrap();
    assert_eq!(p.generation(), again);
    for n in 0..60u32 {
        p.push(&video_frame(3000 + n * 33, n % 30 == 0, 0, 50))
            .unwrap();
    }
    let text = playlist(&p);
    let disc = text.find("#EXT-X-DISCONTINUITY\n").expect("discontinuity");
    let map = text
        .find("#EXT-X-MAP:URI=\"live/init-1.mp4\"")
        .expect("new init");
    assert!(disc < map, "{text}");
    assert!(p.init(1).is_some() && p.init(2).is_none());
    assert_eq!(p.stats().discontinuities, 1);
    let master = p.multivariant_playlist().unwrap();
    assert!(
        master.contains("CODECS=\"avc1.64001e,mp4a.40.2\""),
        "{master}"
    );
}

#[test]
fn multivariant_playlist() {
    let mut p = Packager::new(config(2000, 500, 6));
    assert_eq!(p.multivariant_playlist(), None);
    feed(&mut p, &stream(5, 30, true, true));
    let master = p.multivariant_playlist().unwrap();
    assert!(
        master.contains("CODECS=\"avc1.64000d,mp4a.40.2\""),
        "{master}"
    );
    assert!(master.contains("RESOLUTION=320x240"), "{master}");
    assert!(master.ends_with("\nlive.m3u8\n"));
    let bandwidth: u64 = attr(master.lines().nth(2).unwrap(), "BANDWIDTH")
        .unwrap()
        .parse()
        .unwrap();
    // ~103 bytes a frame at 30 fps plus audio and headers.
    assert!((25_000..80_000).contains(&bandwidth), "{bandwidth}");
}

#[test]
fn audio_only_cuts_by_duration() {
    let mut p = Packager::new(config(2000, 500, 6));
    feed(&mut p, &stream(9, 30, true, false));
    p.finish();
    let text = playlist(&p);
    let segments: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect();
    assert!(segments.len() >= 4, "{text}");
    for d in &segments[..segments.len() - 1] {
        assert!((2.0..2.1).contains(d), "{d}");
    }
    assert!(text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .all(|l| l.ends_with("INDEPENDENT=YES")));
    assert!(p
        .multivariant_playlist()
        .unwrap()
        .contains("CODECS=\"mp4a.40.2\""));
}

#[test]
fn late_keyframes_force_a_cut_within_the_target_duration() {
    // Keyframes every 10 s, target 2 s: segments are cut without one, EXTINF stays below 2.5.
    let mut p = Packager::new(config(2000, 500, 10));
    feed(&mut p, &stream(12, 300, false, true));
    p.finish();
    let text = playlist(&p);
    for line in text.lines().filter_map(|l| l.strip_prefix("#EXTINF:")) {
        let d: f64 = line.trim_end_matches(',').parse().unwrap();
        assert!(d.round() <= 2.0, "{d}");
    }
}

#[test]
fn unsupported_codecs_are_a_sticky_error() {
    let mut p = Packager::new(Config::new("live"));
    let vp9 = Tag::new(
        TagType::Video,
        0,
        Bytes::from_static(b"\x90vp09\x01\x02\x03"),
    );
    let err = p.push(&vp9).unwrap_err();
    assert_eq!(
        err,
        HlsError::Unsupported {
            codec: "vp9".into()
        }
    );
    assert_eq!(p.poll_playlist(None, None), Err(err.clone()));
    assert_eq!(p.push(&audio_frame(0)), Err(err.clone()));
    assert_eq!(p.error(), Some(&err));
    let mut p = Packager::new(Config::new("live"));
    let mp3 = Tag::new(
        TagType::Audio,
        0,
        Bytes::from_static(&[0x2f, 0xff, 0xfb, 0x90]),
    );
    assert!(matches!(p.push(&mp3), Err(HlsError::Unsupported { .. })));
}

#[test]
fn composition_offsets_reach_the_trun() {
    let mut p = Packager::new(config(2000, 500, 6));
    feed(&mut p, &stream(2, 30, false, true));
    let part: Vec<u8> = p.part(0, 0).unwrap().concat();
    // 66 ms is 5940 ticks at 90 kHz, in every trun entry (version 1).
    let needle = 5940i32.to_be_bytes();
    assert!(part.windows(4).filter(|w| *w == needle).count() >= 10);
    let (s, _) = crate::fmp4::tests::find(&part, &[b"moof", b"traf", b"trun"]).unwrap();
    assert_eq!(part[s], 1);
}

/// A tiny deterministic generator (xorshift), so the test needs no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = [hex(AVC_SEQUENCE_HEADER), hex(AAC_SEQUENCE_HEADER)];
    for round in 0..300 {
        let mut p = Packager::new(config(1000, 200, 3));
        let mut errors = 0u64;
        // Every truncation of the real sequence headers.
        for seed in &seeds {
            let tag_type = if seed[0] == 0x17 {
                TagType::Video
            } else {
                TagType::Audio
            };
            let cut = (rng.next() as usize) % seed.len();
            if p.push(&Tag::new(tag_type, 0, seed.slice(..cut))).is_err() {
                errors += 1;
            }
        }
        if round % 2 == 0 {
            for seed in &seeds {
                let tag_type = if seed[0] == 0x17 {
                    TagType::Video
                } else {
                    TagType::Audio
                };
                let _ = p.push(&Tag::new(tag_type, 0, seed.clone()));
            }
        }
        let mut ts = 0u32;
        for _ in 0..200 {
            let len = (rng.next() % 40) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Bias towards plausible headers so the deeper paths run too.
            if let Some(first) = body.first_mut() {
                *first = match rng.next() % 6 {
                    0 => 0x17,
                    1 => 0x27,
                    2 => 0xaf,
                    3 => 0x90 | (*first & 0x7f),
                    _ => *first,
                };
            }
            let tag_type = match rng.next() % 3 {
                0 => TagType::Audio,
                1 => TagType::Video,
                _ => TagType::Script,
            };
            ts = ts.wrapping_add((rng.next() % 100) as u32).wrapping_sub(20);
            if p.push(&Tag::new(tag_type, ts, Bytes::from(body))).is_err() {
                errors += 1;
            }
            let _ = p.poll_playlist(Some(rng.next() % 8), Some(rng.next() % 8));
            let _ = p.multivariant_playlist();
        }
        p.finish();
        check_invariants(&p);
        if p.error().is_none() {
            // Every refused tag was counted (after a sticky error, pushes are not).
            assert_eq!(p.stats().rejected, errors);
        }
    }
}

/// What must hold whatever was pushed: a bounded window, parts within PART-TARGET, segments
/// within the target duration, and every URI in the playlist served (but the preload hint).
fn check_invariants(p: &Packager) {
    let max = p.config().max_segments;
    assert!(p.retained_segments() <= max);
    let Some(text) = p.media_playlist() else {
        return;
    };
    let part_target = f64::from(p.config().part_target_ms) / 1000.0;
    let td = u64::from(p.config().segment_target_ms).div_ceil(1000) as f64;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            let d: f64 = d.trim_end_matches(',').parse().unwrap();
            assert!(d.round() <= td, "{line}");
        }
        if line.starts_with("#EXT-X-PART:") {
            let d: f64 = attr(line, "DURATION").unwrap().parse().unwrap();
            assert!(d <= part_target, "{line}");
        }
        let uri = if line.starts_with("live/") {
            Some(line.to_string())
        } else if line.starts_with("#EXT-X-PRELOAD-HINT") {
            None
        } else {
            attr(line, "URI")
        };
        if let Some(uri) = uri {
            let resource = parse_uri(uri.strip_prefix("live/").unwrap()).unwrap();
            assert!(
                p.resource(resource).is_some(),
                "{uri} in the playlist is served"
            );
        }
    }
    assert_eq!(text.contains("#EXT-X-ENDLIST"), p.is_finished());
}

#[test]
fn mutated_streams_keep_the_invariants() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let clean = stream(6, 30, true, true);
    for _ in 0..200 {
        let mut p = Packager::new(config(1000, 200, 3));
        for tag in &clean {
            let mut body = tag.body.to_vec();
            let mut timestamp = tag.timestamp;
            match rng.next() % 40 {
                0 if !body.is_empty() => {
                    let at = rng.next() as usize % body.len();
                    body[at] ^= 1 << (rng.next() % 8);
                }
                1 => body.truncate(rng.next() as usize % (body.len() + 1)),
                2 => timestamp = timestamp.wrapping_add((rng.next() % 20_000) as u32),
                3 => timestamp = timestamp.wrapping_sub((rng.next() % 3_000) as u32),
                4 => continue,
                _ => {}
            }
            let _ = p.push(&Tag::new(tag.tag_type, timestamp, Bytes::from(body)));
            if rng.next().is_multiple_of(16) {
                check_invariants(&p);
            }
        }
        if rng.next().is_multiple_of(2) {
            p.finish();
        }
        check_invariants(&p);
    }
}

#[test]
fn program_date_time_follows_the_wall_clock_anchor() {
    let mut p = Packager::new(config(2000, 500, 6));
    assert_eq!(p.poll_playlist(None, None), Ok(Reload::Wait));
    let tags = stream(5, 30, true, true);
    p.set_wall_clock(1_704_067_200_000, 0);
    feed(&mut p, &tags);
    let text = playlist(&p);
    let dates: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .collect();
    assert_eq!(
        &dates[..3],
        [
            "2024-01-01T00:00:00.000Z",
            "2024-01-01T00:00:02.000Z",
            "2024-01-01T00:00:04.000Z"
        ]
    );
    // A stream that ends before any part has nothing to serve.
    let mut empty = Packager::new(Config::new("live"));
    empty.finish();
    assert_eq!(empty.poll_playlist(None, None), Ok(Reload::Gone));
}

#[test]
fn frozen_timestamps_stay_bounded() {
    let mut p = Packager::new(config(1000, 200, 3));
    p.push(&Tag::new(TagType::Video, 0, hex(AVC_SEQUENCE_HEADER)))
        .unwrap();
    for n in 0..400_000u32 {
        p.push(&video_frame(0, n % 30 == 0, 0, 1)).unwrap();
    }
    assert!(p.retained_segments() <= 3);
    assert!(p.stats().segments >= 1, "{:?}", p.stats());
    check_invariants(&p);
}
