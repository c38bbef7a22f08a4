//! `video_info` and `audio_info` on encoder output (see `fixtures/README.md`), on the same
//! configurations behind every tag header form a publisher may use, and on damaged input.

use flv::{audio_info, video_info, AudioInfo, FlvError, VideoInfo};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The video fixtures with what ffmpeg was asked for: codec, profile, level, width, height and
/// frame rate.
#[rustfmt::skip]
const VIDEO: &[(&str, &str, &str, &str, u32, u32, f64)] = &[
    ("h264_high_l41_1280x720_30.bin", "h264", "High", "4.1", 1280, 720, 30.0),
    // 854 = 54 macroblocks less 10 columns of cropping.
    ("h264_main_l30_854x480_25.bin", "h264", "Main", "3.0", 854, 480, 25.0),
    // 1080 = 68 macroblocks less 8 rows.
    ("h264_high_l42_1920x1080_60.bin", "h264", "High", "4.2", 1920, 1080, 60.0),
    // x264's baseline sets constraint_set1.
    ("h264_baseline_l20_320x240_15.bin", "h264", "Constrained Baseline", "2.0", 320, 240, 15.0),
    // 4:4:4 crops in single samples: 15 columns and 7 rows.
    ("h264_high444_641x361_24.bin", "h264", "High 4:4:4 Predictive", "3.0", 641, 361, 24.0),
    // 4:2:2 crops rows in single samples: 6 rows.
    ("h264_high422_640x362_50.bin", "h264", "High 4:2:2", "3.1", 640, 362, 50.0),
    ("h264_high10_640x360_30.bin", "h264", "High 10", "3.0", 640, 360, 30.0),
    // Field coding: 34 map units of macroblock pairs, 2 crop units of 4 rows.
    ("h264_high_interlaced_1920x1080_25.bin", "h264", "High", "4.0", 1920, 1080, 25.0),
    ("hevc_main_1280x720_30.bin", "hevc", "Main", "3.1", 1280, 720, 30.0),
    // Coded 856 wide with a conformance window.
    ("hevc_main10_854x480_25.bin", "hevc", "Main 10", "3.0", 854, 480, 25.0),
    ("hevc_rext444_640x360_24.bin", "hevc", "Range Extensions", "2.1", 640, 360, 24.0),
    ("hevc_main_1920x1080_60.bin", "hevc", "Main", "4.1", 1920, 1080, 60.0),
    // Custom scaling lists coded in the SPS.
    ("hevc_main_scaling_lists_1280x720_30.bin", "hevc", "Main", "3.1", 1280, 720, 30.0),
];

#[test]
fn h264_and_hevc_fixtures_give_what_the_encoder_was_asked_for() {
    for &(name, codec, profile, level, width, height, rate) in VIDEO {
        let expected = VideoInfo {
            codec,
            profile: Some(profile.to_string()),
            level: Some(level.to_string()),
            width: Some(width),
            height: Some(height),
            frame_rate: Some(rate),
        };
        assert_eq!(video_info(&fixture(name)), Ok(expected), "{name}");
    }
}

#[test]
fn av1_and_vp9_fixtures() {
    // libaom writes no timing info; seq_level_idx 1 is level 2.1.
    assert_eq!(
        video_info(&fixture("av1_main_640x360_30.bin")),
        Ok(VideoInfo {
            codec: "av1",
            profile: Some("Main".into()),
            level: Some("2.1".into()),
            width: Some(640),
            height: Some(360),
            frame_rate: None,
        })
    );
    // The VP9 record has no picture size or frame rate.
    assert_eq!(
        video_info(&fixture("vp9_profile0_640x360_30.bin")),
        Ok(VideoInfo {
            codec: "vp9",
            profile: Some("Profile 0".into()),
            level: Some("2.1".into()),
            width: None,
            height: None,
            frame_rate: None,
        })
    );
}

fn audio(codec: &'static str, profile: Option<&str>, rate: u32, channels: u8) -> AudioInfo {
    AudioInfo {
        codec,
        profile: profile.map(str::to_string),
        sample_rate: Some(rate),
        channels: Some(channels),
    }
}

#[test]
fn audio_fixtures() {
    let cases = [
        ("aac_lc_48k_stereo.bin", audio("aac", Some("LC"), 48_000, 2)),
        ("aac_lc_44k_mono.bin", audio("aac", Some("LC"), 44_100, 1)),
        (
            "aac_main_32k_6ch.bin",
            audio("aac", Some("Main"), 32_000, 6),
        ),
        // The FLV flags of this tag say 44 kHz (the nearest they can); the frame header says 48.
        ("mp3_48k_stereo.bin", audio("mp3", None, 48_000, 2)),
        ("opus_24k_mono.bin", audio("opus", None, 24_000, 1)),
    ];
    for (name, expected) in cases {
        assert_eq!(audio_info(&fixture(name)), Ok(expected), "{name}");
    }
    assert_eq!(
        fixture("mp3_48k_stereo.bin")[0] >> 2 & 0x03,
        3,
        "44 kHz flag"
    );
}

/// The configuration record of an E-RTMP SequenceStart fixture (after flags byte and FourCC).
fn record_of(ex_body: &[u8]) -> &[u8] {
    &ex_body[5..]
}

/// A legacy AVC/HEVC sequence header around a record.
fn legacy_video(codec_id: u8, record: &[u8]) -> Vec<u8> {
    let mut body = vec![0x10 | codec_id, 0, 0, 0, 0];
    body.extend_from_slice(record);
    body
}

/// An E-RTMP SequenceStart around a record.
fn ex_video(fourcc: &[u8; 4], record: &[u8]) -> Vec<u8> {
    let mut body = vec![0x90];
    body.extend_from_slice(fourcc);
    body.extend_from_slice(record);
    body
}

#[test]
fn legacy_and_enhanced_headers_give_the_same_answer() {
    let h264 = fixture("h264_high_l41_1280x720_30.bin");
    let h264_record = &h264[5..];
    assert_eq!(
        video_info(&ex_video(b"avc1", h264_record)),
        video_info(&h264)
    );

    let hevc = fixture("hevc_main_1920x1080_60.bin");
    let legacy_hevc = legacy_video(12, record_of(&hevc));
    assert_eq!(video_info(&legacy_hevc), video_info(&hevc));
    assert_eq!(video_info(&hevc).unwrap().width, Some(1920));

    // AAC behind the E-RTMP FourCC `mp4a`: no AACPacketType byte.
    let aac = fixture("aac_lc_44k_mono.bin");
    let mut ex_aac = b"\x90mp4a".to_vec();
    ex_aac.extend_from_slice(&aac[2..]);
    assert_eq!(audio_info(&ex_aac), audio_info(&aac));
}

/// E-RTMP v2 multitrack video: flags byte with PacketType 6, then `type << 4 | SequenceStart`.
fn multitrack_video(multitrack_type: u8, tracks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = vec![0x96, multitrack_type << 4];
    if multitrack_type != 2 {
        body.extend_from_slice(tracks[0].0);
    }
    for (track_id, (fourcc, record)) in tracks.iter().enumerate() {
        if multitrack_type == 2 {
            body.extend_from_slice(*fourcc);
        }
        body.push(track_id as u8);
        if multitrack_type != 0 {
            body.extend_from_slice(&(record.len() as u32).to_be_bytes()[1..]);
        }
        body.extend_from_slice(record);
    }
    body
}

#[test]
fn multitrack_tags_describe_their_first_track() {
    let hevc = fixture("hevc_main_1280x720_30.bin");
    let h264 = fixture("h264_baseline_l20_320x240_15.bin");
    let hevc_info = video_info(&hevc);
    let (hevc_record, h264_record) = (record_of(&hevc), &h264[5..]);

    let one = multitrack_video(0, &[(b"hvc1", hevc_record)]);
    assert_eq!(video_info(&one), hevc_info);
    let many = multitrack_video(1, &[(b"hvc1", hevc_record), (b"hvc1", hevc_record)]);
    assert_eq!(video_info(&many), hevc_info);
    let many_codecs = multitrack_video(2, &[(b"hvc1", hevc_record), (b"avc1", h264_record)]);
    assert_eq!(video_info(&many_codecs), hevc_info);
    let avc_first = multitrack_video(2, &[(b"avc1", h264_record), (b"hvc1", hevc_record)]);
    assert_eq!(video_info(&avc_first), video_info(&h264));

    // A track size past the body, and an AvMultitrackType that does not exist.
    let mut overlong = many.clone();
    overlong[8] = 0x7f;
    assert_eq!(
        video_info(&overlong),
        Err(FlvError::Truncated("E-RTMP multitrack header"))
    );
    let mut bad_type = one;
    bad_type[1] = 0x30;
    assert_eq!(
        video_info(&bad_type),
        Err(FlvError::InvalidField {
            field: "E-RTMP AvMultitrackType",
            value: 3
        })
    );

    // Audio: AudioPacketType 5, one Opus track.
    let opus = fixture("opus_24k_mono.bin");
    let mut multitrack_opus = vec![0x95, 0x00];
    multitrack_opus.extend_from_slice(b"Opus");
    multitrack_opus.push(0);
    multitrack_opus.extend_from_slice(&opus[5..]);
    assert_eq!(audio_info(&multitrack_opus), audio_info(&opus));
}

#[test]
fn other_tags_are_refused_with_a_reason() {
    // Coded frames are not sequence headers.
    assert_eq!(
        video_info(&[0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65]),
        Err(FlvError::NotSequenceHeader)
    );
    assert_eq!(
        video_info(b"\x91hvc1\x00\x00\x00"),
        Err(FlvError::NotSequenceHeader)
    );
    assert_eq!(
        video_info(&[0x12, 0x00]),
        Err(FlvError::NotSequenceHeader),
        "H.263"
    );
    assert_eq!(
        audio_info(&[0xaf, 0x01, 0x21]),
        Err(FlvError::NotSequenceHeader)
    );
    assert_eq!(
        audio_info(b"\x91Opus\xfc"),
        Err(FlvError::NotSequenceHeader)
    );
    assert_eq!(
        video_info(&[]),
        Err(FlvError::Truncated("FLV video tag header"))
    );
    assert_eq!(
        audio_info(&[]),
        Err(FlvError::Truncated("FLV audio tag header"))
    );
    assert_eq!(
        video_info(b"\x90vp08\x00"),
        Err(FlvError::UnknownFourCc(*b"vp08"))
    );
    assert_eq!(
        audio_info(b"\x90abcd"),
        Err(FlvError::UnknownFourCc(*b"abcd"))
    );
    assert_eq!(
        FlvError::UnknownFourCc(*b"vp08").to_string(),
        "unknown FourCC \"vp08\""
    );
    // E-RTMP audio codecs without a parser here are named.
    assert_eq!(
        audio_info(b"\x90fLaC\x00"),
        Ok(AudioInfo {
            codec: "flac",
            profile: None,
            sample_rate: None,
            channels: None
        })
    );
    assert_eq!(audio_info(b"\x91ac-3").map(|i| i.codec), Ok("ac3"));
}

/// Every prefix of `body` must be an error, except the lengths `accepted` allows: a prefix that
/// ends exactly where an optional part begins is a whole, shorter structure (an AAC sync
/// extension, AV1 configOBUs, the high-profile part of an AVC record). None may panic.
fn check_prefixes(
    name: &str,
    body: &[u8],
    read: fn(&[u8]) -> bool,
    accepted: &dyn Fn(usize) -> bool,
) {
    for len in 0..body.len() {
        let ok = read(&body[..len]);
        assert!(
            !ok || accepted(len),
            "{name} cut to {len} bytes was accepted"
        );
    }
}

#[test]
fn every_prefix_of_every_fixture_is_an_error_or_harmless() {
    let video_ok = |b: &[u8]| video_info(b).is_ok();
    let audio_ok = |b: &[u8]| audio_info(b).is_ok();
    for &(name, codec, ..) in VIDEO {
        let body = fixture(name);
        // AVCProfileIndication; these records end in a 4-byte high-profile extension.
        let extension = codec == "h264" && !matches!(body[6], 66 | 77 | 88);
        let without_extension = body.len() - 4;
        check_prefixes(name, &body, video_ok, &|len| {
            extension && len == without_extension
        });
    }
    let vp9 = fixture("vp9_profile0_640x360_30.bin");
    check_prefixes("vp9", &vp9, video_ok, &|_| false);
    let av1 = fixture("av1_main_640x360_30.bin");
    check_prefixes("av1", &av1, video_ok, &|len| len == 9);
    assert_eq!(video_info(&av1[..9]).unwrap().width, None);

    let opus = fixture("opus_24k_mono.bin");
    check_prefixes("opus", &opus, audio_ok, &|_| false);
    // AAC: two header bytes and the 13 bits of object type, frequency and channels.
    for name in [
        "aac_lc_48k_stereo.bin",
        "aac_lc_44k_mono.bin",
        "aac_main_32k_6ch.bin",
    ] {
        check_prefixes(name, &fixture(name), audio_ok, &|len| len >= 4);
    }
    // MP3 falls back to the FLV flags when the frame header is cut.
    check_prefixes("mp3", &fixture("mp3_48k_stereo.bin"), audio_ok, &|len| {
        len >= 1
    });
}

/// xorshift64*: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut noise = Noise(0x5eed_c0de_cafe_f00d);
    // Headers that get random bytes past the tag header check and into each parser.
    let prefixes: [&[u8]; 10] = [
        &[],
        &[0x17, 0, 0, 0, 0],
        &[0x1c, 0, 0, 0, 0],
        b"\x90hvc1",
        b"\x90av01",
        b"\x90vp09",
        b"\x96\x20hvc1\x00",
        &[0xaf, 0],
        b"\x90Opus",
        &[0x2f],
    ];
    let mut parsed = 0;
    for round in 0..4000 {
        let mut body = prefixes[round % prefixes.len()].to_vec();
        let len = noise.below(96);
        body.extend((0..len).map(|_| noise.next() as u8));
        parsed += usize::from(video_info(&body).is_ok()) + usize::from(audio_info(&body).is_ok());
    }
    // Some noise is valid enough (an AAC config, legacy audio flags): the loop reached the parsers.
    assert!(parsed > 0);
}

#[test]
fn damaged_fixtures_never_panic() {
    let mut names: Vec<&str> = VIDEO.iter().map(|v| v.0).collect();
    names.extend(["av1_main_640x360_30.bin", "vp9_profile0_640x360_30.bin"]);
    let audio_names = [
        "aac_lc_48k_stereo.bin",
        "opus_24k_mono.bin",
        "mp3_48k_stereo.bin",
    ];
    let mut noise = Noise(42);
    let mut errors = 0;
    for name in names.iter().chain(&audio_names) {
        let original = fixture(name);
        for _ in 0..300 {
            let mut body = original.clone();
            // Keep the first byte (the codec) so the damage lands past the format check.
            for _ in 0..1 + noise.below(4) {
                let at = 1 + noise.below(body.len() - 1);
                body[at] ^= 1 << noise.below(8);
            }
            errors +=
                usize::from(video_info(&body).is_err()) + usize::from(audio_info(&body).is_err());
        }
    }
    assert!(errors > 0);
}
