use super::*;
use crate::codec_info::test_bits::BitWriter;

fn nal_header(w: &mut BitWriter) {
    // forbidden_zero_bit, nal_unit_type 33, nuh_layer_id 0, nuh_temporal_id_plus1 1
    w.bit(false).bits(6, 33).bits(6, 0).bits(3, 1);
}

/// general_profile_space, tier, profile_idc, compatibility flags, four source flags, 44
/// constraint bits, general_level_idc.
fn general_profile(w: &mut BitWriter, profile_idc: u64, level_idc: u64) {
    w.bits(2, 0).bit(false).bits(5, profile_idc);
    w.bits(32, 1 << (31 - profile_idc))
        .bits(4, 0b1001)
        .bits(44, 0);
    w.bits(8, level_idc);
}

/// Main profile 4:2:0, 854x480 coded as 856x480 with a 2-sample conformance window on the
/// right, one sub-layer and nothing optional.
fn minimal_sps() -> Vec<u8> {
    let mut w = BitWriter::new();
    nal_header(&mut w);
    w.bits(4, 0).bits(3, 0).bit(true);
    general_profile(&mut w, 1, 90);
    w.ue(0).ue(1).ue(856).ue(480);
    w.bit(true).ue(0).ue(1).ue(0).ue(0);
    w.ue(0).ue(0).ue(4); // bit depths, POC lsb
    w.bit(false).ue(4).ue(2).ue(0); // ordering for the highest sub-layer only
    for value in [0, 3, 0, 3, 1, 1] {
        w.ue(value);
    }
    w.bit(false).bit(true).bit(true).bit(false); // no scaling lists, AMP, SAO, no PCM
    w.ue(0).bit(false); // no short-term sets, no long-term pictures
    w.bit(true).bit(true).bit(false).bit(false); // TMVP, strong intra, no VUI, no extension
    w.trailing_bits();
    w.escaped()
}

/// Writes the four short-term sets whose derivation `predicted_sets_follow_the_equations`
/// checks: an explicit one and three predicted, the last one's flag count depending on a
/// derived POC delta of 0 being dropped.
fn short_term_sets(w: &mut BitWriter) {
    w.ue(4);
    // Set 0: negatives -1, -3; positive +2.
    w.ue(2)
        .ue(1)
        .ue(0)
        .bit(true)
        .ue(1)
        .bit(true)
        .ue(1)
        .bit(true);
    // Set 1: deltaRps -1; drop the reference's -3 (used 0, use_delta 0).
    w.bit(true).bit(true).ue(0);
    w.bit(true).bit(false).bit(false).bit(true).bit(true);
    // Set 2: deltaRps +2; keep everything.
    w.bit(true).bit(false).ue(1);
    w.bit(true).bit(true).bit(true).bit(true);
    // Set 3: deltaRps -1 from set 2 = {[], [1, 2, 3]}: four flags.
    w.bit(true).bit(true).ue(0);
    w.bit(true).bit(true).bit(true).bit(true);
}

/// Range Extensions 4:2:2 1920x1080 (coded 1928x1088), two sub-layers with their own profile
/// and level, scaling lists, PCM, predicted short-term sets, long-term pictures and a VUI with
/// every optional part before the 60000/1001 timing info.
fn full_sps() -> Vec<u8> {
    let mut w = BitWriter::new();
    nal_header(&mut w);
    w.bits(4, 0).bits(3, 1).bit(true);
    general_profile(&mut w, 4, 123);
    w.bit(true).bit(true).bits(14, 0); // sub-layer 0 profile and level present, padding
    w.bits(44, (1 << 44) - 1)
        .bits(44, (1 << 44) - 1)
        .bits(8, 120);
    w.ue(0).ue(2).ue(1928).ue(1088);
    w.bit(true).ue(0).ue(4).ue(0).ue(8);
    w.ue(2).ue(2).ue(4);
    w.bit(true).ue(4).ue(2).ue(0).ue(4).ue(2).ue(0);
    for value in [0, 3, 0, 3, 2, 2] {
        w.ue(value);
    }
    w.bit(true).bit(true);
    for size_id in 0..4u32 {
        let matrices = if size_id == 3 { 2 } else { 6 };
        for matrix in 0..matrices {
            let explicit = matrix == 0;
            w.bit(explicit);
            if !explicit {
                w.ue(1);
                continue;
            }
            if size_id > 1 {
                w.se(8);
            }
            for i in 0..64.min(16 << (2 * size_id)) {
                w.se(if i % 2 == 0 { 1 } else { -1 });
            }
        }
    }
    w.bit(true).bit(true); // AMP, SAO
    w.bit(true).bits(4, 7).bits(4, 7).ue(0).ue(1).bit(true); // PCM
    short_term_sets(&mut w);
    w.bit(true).ue(2).bits(8, 5).bit(true).bits(8, 9).bit(false); // long-term pictures
    w.bit(true).bit(true); // TMVP, strong intra
    w.bit(true); // VUI
    w.bit(true).bits(8, 255).bits(16, 1).bits(16, 1);
    w.bit(true).bit(false);
    w.bit(true)
        .bits(3, 5)
        .bit(false)
        .bit(true)
        .bits(24, 0x01_01_01);
    w.bit(true).ue(0).ue(0);
    w.bit(false).bit(false).bit(false);
    w.bit(true).ue(0).ue(0).ue(0).ue(0);
    w.bit(true).bits(32, 1001).bits(32, 60000);
    w.bit(false).bit(false).bit(false).bit(false); // POC proportional, HRD, restriction, ext
    w.trailing_bits();
    w.escaped()
}

#[test]
fn minimal_sps_size_with_conformance_window() {
    let sps = parse_sps(&minimal_sps()).unwrap();
    assert_eq!((sps.width, sps.height), (854, 480));
    assert_eq!(sps.frame_rate, None);
}

#[test]
fn full_sps_reaches_the_vui_timing() {
    let sps = parse_sps(&full_sps()).unwrap();
    assert_eq!((sps.width, sps.height), (1920, 1080));
    let rate = sps.frame_rate.unwrap();
    assert!((rate - 59.94).abs() < 0.001, "{rate}");
}

#[test]
fn predicted_sets_follow_the_equations() {
    let mut w = BitWriter::new();
    short_term_sets(&mut w);
    w.trailing_bits();
    let bytes = w.bytes();
    let mut r = BitReader::new(&bytes, "sets");
    assert_eq!(r.ue().unwrap(), 4);
    let set0 = explicit_set(&mut r).unwrap();
    assert_eq!(set0.negative, [-1, -3]);
    assert_eq!(set0.positive, [2]);
    let mut sets = vec![set0];
    for _ in 1..4 {
        assert!(r.bit().unwrap(), "inter_ref_pic_set_prediction_flag");
        let next = predicted_set(&mut r, sets.last().unwrap()).unwrap();
        sets.push(next);
    }
    let expected = [
        (vec![-1, -2], vec![1]),
        (vec![], vec![1, 2, 3]),
        (vec![-1], vec![1, 2]),
    ];
    for (set, (negative, positive)) in sets[1..].iter().zip(expected) {
        assert_eq!(set.negative, negative);
        assert_eq!(set.positive, positive);
    }
    // Exactly the stop bit and padding are left.
    assert!(r.remaining() < 8);
    assert!(r.bit().unwrap());
}

/// A record with VPS, SPS and PPS arrays around `sps`.
fn record(sps: &[u8], profile_idc: u8, level_idc: u8, avg_frame_rate: u16) -> Vec<u8> {
    let mut out = vec![
        1,
        profile_idc,
        0x60,
        0,
        0,
        0,
        0x90,
        0,
        0,
        0,
        0,
        0,
        level_idc,
    ];
    out.extend_from_slice(&[0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8]);
    out.extend_from_slice(&avg_frame_rate.to_be_bytes());
    out.extend_from_slice(&[0x0f, 3]);
    for (nal_type, nal) in [
        (32u8, &[0x40, 0x01, 0x0c][..]),
        (33, sps),
        (34, &[0x44, 0x01, 0xc1]),
    ] {
        out.push(0x80 | nal_type);
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

#[test]
fn record_gives_profile_and_level_and_average_frame_rate() {
    let info = video_info(&record(&minimal_sps(), 1, 90, 25 * 256)).unwrap();
    assert_eq!(info.codec, "hevc");
    assert_eq!(info.profile.as_deref(), Some("Main"));
    assert_eq!(info.level.as_deref(), Some("3.0"));
    assert_eq!((info.width, info.height), (Some(854), Some(480)));
    assert_eq!(
        info.frame_rate,
        Some(25.0),
        "avgFrameRate when the SPS has no timing"
    );

    let info = video_info(&record(&full_sps(), 4, 123, 25 * 256)).unwrap();
    assert_eq!(info.profile.as_deref(), Some("Range Extensions"));
    assert_eq!(info.level.as_deref(), Some("4.1"));
    assert!(
        (info.frame_rate.unwrap() - 59.94).abs() < 0.001,
        "SPS timing wins"
    );
}

#[test]
fn every_truncated_record_is_an_error() {
    for sps in [minimal_sps(), full_sps()] {
        let full = record(&sps, 1, 93, 0);
        for len in 0..full.len() {
            assert!(video_info(&full[..len]).is_err(), "prefix of {len} bytes");
        }
        // The SPS alone, cut short anywhere before its last byte.
        for len in 0..sps.len() - 1 {
            assert!(parse_sps(&sps[..len]).is_err(), "SPS prefix of {len} bytes");
        }
    }
}

#[test]
fn malformed_records_and_sps_are_named() {
    let no_sps: Vec<u8> = record(&minimal_sps(), 1, 93, 0)
        .into_iter()
        .take(22)
        .chain([0])
        .collect();
    assert_eq!(
        video_info(&no_sps),
        Err(FlvError::Missing(
            "SPS in the HEVCDecoderConfigurationRecord"
        ))
    );
    let mut pps_as_sps = minimal_sps();
    pps_as_sps[0] = 0x44;
    assert_eq!(
        parse_sps(&pps_as_sps),
        Err(FlvError::InvalidField {
            field: "H.265 SPS nal_unit_type",
            value: 34
        })
    );
    let mut bad_version = record(&minimal_sps(), 1, 93, 0);
    bad_version[0] = 0;
    assert!(matches!(
        video_info(&bad_version),
        Err(FlvError::InvalidField { value: 0, .. })
    ));
}

#[test]
fn names() {
    assert_eq!(profile_name(2), "Main 10");
    assert_eq!(profile_name(9), "9");
    assert_eq!(level_name(93), "3.1");
    assert_eq!(level_name(180), "6.0");
    assert_eq!(level_name(100), "100");
}
