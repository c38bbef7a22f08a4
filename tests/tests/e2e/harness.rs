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
        arrivals: Vec::new(),
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

/// The checks the fault tests add reject what they must.
#[test]
fn fault_checks_reject_bad_streams() {
    use e2e_tests::checks::{
        check_degraded_capture, check_shifted_run, check_timestamps_never_go_back,
    };
    let media = Media::standard();
    let dir = TestDir::new("harness-faults");
    let good = source_tags(media);
    let v = media.video_tags();
    let a = media.audio_tags();

    // Timestamps: the source's own tracks never go back; a tag moved back in time does.
    check_timestamps_never_go_back(&good).expect("the source's tracks are monotonic");
    let mut t = good.clone();
    let i = t
        .iter()
        .rposition(|x| x.is_audio() && x.is_media())
        .expect("audio");
    t[i].ts = 0;
    assert!(check_timestamps_never_go_back(&t).is_err());

    // A run shifted by 5000 ms passes with that offset only; a gap or a changed byte fails.
    let shifted: Vec<Tag> = v[60..]
        .iter()
        .map(|x| Tag {
            ts: x.ts + 5000,
            ..(*x).clone()
        })
        .collect();
    let refs: Vec<&Tag> = shifted.iter().collect();
    assert_eq!(check_shifted_run("video", &v, &refs, 5000), Ok(60));
    assert!(check_shifted_run("video", &v, &refs, 0).is_err());
    let mut gap = refs.clone();
    gap.remove(3);
    assert!(check_shifted_run("video", &v, &gap, 5000).is_err());
    let mut changed = shifted.clone();
    changed[5].data[10] ^= 1;
    let refs: Vec<&Tag> = changed.iter().collect();
    assert!(check_shifted_run("video", &v, &refs, 5000).is_err());

    // Degraded: the source with the rest of the second GOP skipped (resuming at the third
    // keyframe) and some audio missing passes; resuming at a non-key frame, a changed byte or
    // a stream that was not ended fails.
    let keys: Vec<usize> = good
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_media() && x.is_keyframe())
        .map(|(i, _)| i)
        .collect();
    let cut_from = keys[1] + 5;
    let degraded = |resume: usize| -> Vec<Tag> {
        good.iter()
            .enumerate()
            .filter(|(i, x)| !(*i >= cut_from && *i < resume && (x.is_video() || i % 2 == 0)))
            .map(|(_, x)| x.clone())
            .collect()
    };
    let ok = check_degraded_capture(
        media,
        &response(flv::write(&media.flv.header, &degraded(keys[2]))),
        &dir,
        "degraded-ok",
    )
    .expect("a skip to a keyframe is a correct degraded stream");
    assert!(ok.video < ok.video_total && ok.video_skips == 1 && ok.audio < a.len());
    assert!(check_degraded_capture(
        media,
        &response(flv::write(&media.flv.header, &degraded(keys[2] + 3))),
        &dir,
        "degraded-nonkey",
    )
    .is_err());
    let mut t = degraded(keys[2]);
    let last = t.len() - 2;
    t[last].data[3] ^= 0x40;
    assert!(check_degraded_capture(
        media,
        &response(flv::write(&media.flv.header, &t)),
        &dir,
        "degraded-flipped"
    )
    .is_err());
    let mut r = response(flv::write(&media.flv.header, &degraded(keys[2])));
    r.complete = false;
    assert!(check_degraded_capture(media, &r, &dir, "degraded-cut").is_err());
}

/// The forwarder forwards both ways, cuts both ways while told to, and comes back.
#[test]
fn forwarder_cuts_and_restores_both_directions() {
    use e2e_tests::lossy::{Forwarder, LossModel};
    use std::net::UdpSocket;
    use std::time::Duration;
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let fwd = Forwarder::start(server.local_addr().expect("addr"), LossModel::clean(1));
    let mut buf = [0u8; 64];
    let round_trip = |payload: &[u8], buf: &mut [u8]| -> (bool, bool) {
        client.send_to(payload, fwd.listen).expect("send");
        let Ok((n, from)) = server.recv_from(buf) else {
            return (false, false);
        };
        assert_eq!(&buf[..n], payload);
        server.send_to(b"answer", from).expect("answer");
        (true, client.recv(buf).is_ok_and(|n| &buf[..n] == b"answer"))
    };
    assert_eq!(round_trip(b"one", &mut buf), (true, true));
    fwd.cut();
    assert_eq!(round_trip(b"two", &mut buf), (false, false));
    // The way back is cut too.
    server
        .send_to(b"late", fwd.listen)
        .expect("send from the server side");
    assert!(client.recv(&mut buf).is_err());
    fwd.restore();
    assert_eq!(round_trip(b"three", &mut buf), (true, true));
    let end = fwd.cut_for(Duration::from_millis(300));
    assert_eq!(round_trip(b"four", &mut buf), (false, false));
    std::thread::sleep(end.saturating_duration_since(std::time::Instant::now()));
    assert_eq!(round_trip(b"five", &mut buf), (true, true));
    let stats = fwd.stop();
    assert_eq!(stats.forward.blackholed, 2);
    assert_eq!(stats.back.blackholed, 1);
    assert_eq!(stats.forward.received, 5);
    assert_eq!(stats.back.received, 4);
}
