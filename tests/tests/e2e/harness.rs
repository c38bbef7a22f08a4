//! The checks themselves can fail: each corruption of a known-good stream is rejected.
//! (No relay binaries involved; these guard the harness against becoming a no-op.)

use e2e_tests::checks::{check_capture, Join};
use e2e_tests::flv::{self, Tag};
use e2e_tests::http::HttpResponse;
use e2e_tests::{Media, TestDir};

fn response(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "video/x-flv".into()),
            ("access-control-allow-origin".into(), "*".into()),
        ],
        body,
        complete: true,
        error: None,
    }
}

fn source_tags(media: &Media) -> Vec<Tag> {
    media.flv.tags.clone()
}

fn check(
    media: &Media,
    dir: &TestDir,
    label: &str,
    tags: &[Tag],
    join: Join,
) -> Result<(), String> {
    let body = flv::write(&media.flv.header, tags);
    check_capture(media, &response(body), dir, label, join).map(|_| ())
}

#[test]
fn checks_accept_the_source_and_reject_corruptions() {
    let media = Media::standard();
    let dir = TestDir::new("harness");
    let good = source_tags(media);
    check(media, &dir, "good", &good, Join::Start).expect("the source itself must pass");

    let nth_media = |tags: &[Tag], kind: u8, n: usize| {
        tags.iter()
            .enumerate()
            .filter(|(_, t)| t.kind == kind && t.is_media())
            .nth(n)
            .map(|(i, _)| i)
            .expect("tag")
    };

    // One byte of one video frame's payload flipped.
    let mut t = good.clone();
    let i = nth_media(&t, 9, 100);
    let last = t[i].data.len() - 1;
    t[i].data[last] ^= 0x55;
    assert!(check(media, &dir, "flipped", &t, Join::Start).is_err());

    // One audio frame missing.
    let mut t = good.clone();
    t.remove(nth_media(&good, 8, 50));
    assert!(check(media, &dir, "missing-audio", &t, Join::Start).is_err());

    // All timestamps shifted by 10 ms.
    let t: Vec<Tag> = good
        .iter()
        .map(|x| Tag {
            ts: x.ts + 10,
            ..x.clone()
        })
        .collect();
    assert!(check(media, &dir, "shifted", &t, Join::Start).is_err());

    // Composition offset of one B-frame changed (pts differs, bytes of the NALUs not).
    let mut t = good.clone();
    let i = nth_media(&good, 9, 1);
    t[i].data[4] = t[i].data[4].wrapping_add(1);
    assert!(check(media, &dir, "cts", &t, Join::Start).is_err());

    // No AAC sequence header.
    let t: Vec<Tag> = good
        .iter()
        .filter(|x| !(x.is_audio() && x.is_seq_header()))
        .cloned()
        .collect();
    assert!(check(media, &dir, "no-aac-header", &t, Join::Start).is_err());

    // Header flags without audio.
    let mut body = flv::write(&media.flv.header, &good);
    body[4] = 0x01;
    assert!(check_capture(media, &response(body), &dir, "flags", Join::Start).is_err());

    // The preamble twice (a player attached between the announcement and the live tags).
    let mut t = good.clone();
    let pre: Vec<Tag> = good.iter().take_while(|x| !x.is_media()).cloned().collect();
    let at = pre.len();
    for (k, x) in pre.into_iter().enumerate() {
        t.insert(at + k, x);
    }
    assert!(check(media, &dir, "double-preamble", &t, Join::Start).is_err());

    // A truncated last tag.
    let mut body = flv::write(&media.flv.header, &good);
    body.truncate(body.len() - 5);
    assert!(check_capture(media, &response(body), &dir, "truncated", Join::Start).is_err());

    // Wrong headers; a response that was cut.
    let body = flv::write(&media.flv.header, &good);
    let mut r = response(body.clone());
    r.headers
        .retain(|(k, _)| k != "access-control-allow-origin");
    assert!(check_capture(media, &r, &dir, "no-cors", Join::Start).is_err());
    let mut r = response(body);
    r.complete = false;
    assert!(check_capture(media, &r, &dir, "cut", Join::Start).is_err());

    // Late join: preamble + from the third keyframe on passes; from a non-key frame fails;
    // the whole stream is not a late join.
    let preamble: Vec<Tag> = good
        .iter()
        .filter(|x| x.is_script() || x.is_seq_header())
        .cloned()
        .collect();
    let kf = good
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_keyframe() && x.is_media())
        .nth(2)
        .map(|(i, _)| i)
        .expect("third keyframe");
    let mut late = preamble.clone();
    late.extend(good[kf..].iter().filter(|x| x.is_media()).cloned());
    check(media, &dir, "late", &late, Join::Late).expect("a late join from a keyframe must pass");
    assert!(check(media, &dir, "late-as-start", &late, Join::Start).is_err());
    assert!(check(media, &dir, "start-as-late", &good, Join::Late).is_err());
    let mut bad_late = preamble;
    bad_late.extend(good[kf + 1..].iter().filter(|x| x.is_media()).cloned());
    assert!(check(media, &dir, "late-nonkey", &bad_late, Join::Late).is_err());
}

#[test]
fn degraded_stream_checks_reject_bad_skips() {
    use e2e_tests::checks::{check_in_order, check_skips_to_keyframes};
    let media = Media::standard();
    let v = media.video_tags();
    let a = media.audio_tags();
    let kf2 = v
        .iter()
        .position(|t| t.is_keyframe() && t.ts > 0)
        .expect("second keyframe");
    // Prefix, then a skip to the next keyframe: fine.
    let mut ok: Vec<&Tag> = v[..10].to_vec();
    ok.extend(&v[kf2..kf2 + 5]);
    check_skips_to_keyframes(&v, &ok).expect("skip to a keyframe is allowed");
    // A skip that resumes at a non-key frame.
    let mut bad: Vec<&Tag> = v[..10].to_vec();
    bad.extend(&v[12..20]);
    assert!(check_skips_to_keyframes(&v, &bad).is_err());
    // Out of order, or a frame not in the source.
    let swapped = vec![v[0], v[2], v[1]];
    assert!(check_skips_to_keyframes(&v, &swapped).is_err());
    assert!(check_in_order(&a, &[a[3], a[2]]).is_err());
    check_in_order(&a, &[a[0], a[5], a[9]]).expect("audio gaps are allowed");
}
