//! 6a-c. Garbage on the edge's UDP port and on the cloud's RTMP port; the empty
//! `@setDataFrame` that panics rml_rtmp's ServerSession.

use crate::publish_and_check;
use e2e_tests::cluster::Pair;
use e2e_tests::http;
use e2e_tests::rtmp::{handshake, RawPublisher};
use e2e_tests::util::loopback;
use e2e_tests::{Edge, Media, TestDir};
use rand::{Rng, RngCore};
use rml_amf0::Amf0Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One garbage datagram; `i` cycles through the kinds.
///
/// Kinds 8-11 follow the relay's documented wire format (crates/relay-proto: RTP header, then
/// a 12-byte payload header) with random SSRCs, so they get past the header checks into the
/// per-stream code: fragments with absurd lengths and indexes, announcements with garbage
/// bodies, and well-formed announcements of streams that never send anything.
fn garbage(i: usize, rng: &mut impl Rng) -> Vec<u8> {
    let mut r = rand::rng();
    let mut rand_bytes = |n: usize| {
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    };
    // RTP header, PT 96, random seq/ts/SSRC, then the relay payload header.
    let relay_header =
        |r: &mut rand::rngs::ThreadRng, flags: u8, tag_type: u8, frag: u16, len: u32| {
            let mut v = vec![0x80, 96 | if flags & 0x40 != 0 { 0x80 } else { 0 }];
            v.extend(r.random::<u16>().to_be_bytes());
            v.extend(r.random::<u32>().to_be_bytes());
            v.extend(r.random::<u32>().to_be_bytes());
            v.extend([flags, tag_type]);
            v.extend(frag.to_be_bytes());
            v.extend(len.to_be_bytes());
            v.extend(r.random::<u32>().to_be_bytes());
            v
        };
    match i % 12 {
        // Random bytes of random length.
        0 => {
            let n = r.random_range(0..1500);
            rand_bytes(n)
        }
        // 1 byte, 23 bytes, an RTP header alone (12 bytes).
        1 => vec![0x80],
        2 => rand_bytes(23),
        3 => {
            let mut v = rand_bytes(12);
            v[0] = 0x80;
            v
        }
        // RTP-looking: V=2, random seq/ts/SSRC, random body; payload type 96 (the one the
        // relay uses, so the datagram gets past a payload-type filter) or another dynamic one.
        4 | 5 => {
            let n = r.random_range(12..1400);
            let mut v = rand_bytes(n);
            v[0] = 0x80;
            let pt = if i % 12 == 4 {
                96
            } else {
                r.random_range(97..128u8)
            };
            v[1] = pt | if r.random_bool(0.5) { 0x80 } else { 0 };
            v
        }
        // RTP with the padding bit and a padding length larger than the packet.
        6 => {
            let mut v = rand_bytes(40);
            v[0] = 0xa0;
            v[1] = 96;
            v[39] = 0xff;
            v
        }
        // RTP with 15 CSRCs and the extension bit but too short for them.
        7 => {
            let mut v = rand_bytes(30);
            v[0] = 0x9f;
            v[1] = 96;
            v
        }
        // A tag fragment: random flags, tag type, fragment index and message length (often
        // absurd: up to 4 GiB), random body.
        8 => {
            let flags = r.random::<u8>() & 0xf0; // kind 0 (FLV tag), version 0
            let tag_type = [8, 9, 18, r.random()][r.random_range(0..4)];
            let len = [r.random(), r.random_range(0..4096), u32::MAX, 0][r.random_range(0..4)];
            let frag = r.random();
            let mut v = relay_header(&mut r, flags, tag_type, frag, len);
            let n = r.random_range(0..1376);
            v.extend(rand_bytes(n));
            v
        }
        // A whole announcement (kind 1) whose body is garbage after the version byte.
        9 => {
            let n = r.random_range(0..200);
            let mut body = vec![1u8];
            body.extend(rand_bytes(n));
            let mut v = relay_header(&mut r, 0xc4, 0, 0, body.len() as u32);
            v.extend(body);
            v
        }
        // A well-formed announcement of a stream that will never send a tag.
        10 => {
            let name = format!("live/ghost{}", r.random_range(0..1000));
            let mut body = vec![1u8];
            body.extend(r.random::<u64>().to_be_bytes());
            body.extend((name.len() as u16).to_be_bytes());
            body.extend(name.as_bytes());
            body.push(0);
            let mut v = relay_header(&mut r, 0xc4, 0, 0, body.len() as u32);
            v.extend(body);
            v
        }
        // End of stream (kind 2) for a random SSRC; kind 3 (undefined); version 3.
        _ => {
            let flags = [0xc8, 0xcc, 0xc3][r.random_range(0..3)];
            relay_header(&mut r, flags, 0, 0, 0)
        }
    }
}

/// (a) Garbage and truncated datagrams to the edge's UDP port before and during a stream.
#[test]
fn garbage_datagrams_to_the_edge() {
    let media = Media::standard();
    let dir = TestDir::new("udpgarbage");
    let mut pair = Pair::start(dir.path());
    let target = loopback(pair.edge.udp_port());
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut rng = rand::rng();
    for i in 0..2000 {
        let _ = sock.send_to(&garbage(i, &mut rng), target);
    }
    pair.edge
        .proc
        .assert_running("after 2000 garbage datagrams");
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let sender = std::thread::spawn(move || {
        let mut rng = rand::rng();
        let mut i = 0usize;
        while !stop2.load(Ordering::Relaxed) {
            let _ = sock.send_to(&garbage(i, &mut rng), target);
            i += 1;
            if i & 3 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        i
    });
    let Pair { cloud, edge } = &mut pair;
    publish_and_check(&dir, cloud, edge, "udpgarbage", media);
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().expect("sender thread");
    assert!(
        sent > 100,
        "only {sent} garbage datagrams sent during the stream"
    );
    let r = http::request(
        pair.edge.flv_addr(),
        "GET",
        &Edge::play_path("nosuchstream"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("edge stopped answering HTTP: {e}\n{}", pair.logs()));
    assert_eq!(r.status, 404);
    pair.edge.proc.assert_running("after the garbage");
}

/// Sends `bytes` on a fresh connection, then reads until the peer closes or 1 s passes.
fn send_and_close(addr: SocketAddr, bytes: &[u8]) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return;
    };
    s.set_write_timeout(Some(Duration::from_secs(3))).ok();
    s.set_read_timeout(Some(Duration::from_millis(100))).ok();
    let _ = s.write_all(bytes);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// (b) Malformed RTMP: random bytes; a C0 of version 3 with random C1 and garbage; a valid
/// handshake followed by garbage; and two connections left hanging (half a handshake, and an
/// idle session after a valid handshake) while a real publish runs, which must still work.
#[test]
fn malformed_rtmp_does_not_hurt_the_cloud() {
    let media = Media::standard();
    let dir = TestDir::new("badrtmp");
    let mut pair = Pair::start(dir.path());
    let addr = pair.cloud.rtmp_addr();

    send_and_close(addr, &random(4096));
    let mut c0c1 = vec![3u8];
    c0c1.extend(random(1536 + 65536));
    send_and_close(addr, &c0c1);
    for size in [1, 7, 64 * 1024] {
        let (mut s, _) = handshake(addr)
            .unwrap_or_else(|e| panic!("handshake with the cloud: {e}\n{}", pair.logs()));
        let _ = s.write_all(&random(size));
        drop(s);
    }
    // Garbage that looks like a chunk header: type 0 on csid 3 claiming a 16 MB AMF0 data
    // message, then a few bytes.
    {
        let (mut s, _) = handshake(addr)
            .unwrap_or_else(|e| panic!("handshake with the cloud: {e}\n{}", pair.logs()));
        let mut msg = vec![0x03, 0, 0, 0, 0xff, 0xff, 0xff, 18, 1, 0, 0, 0];
        msg.extend(random(100));
        let _ = s.write_all(&msg);
        drop(s);
    }
    pair.cloud
        .proc
        .assert_running("after malformed RTMP connections");

    // Left hanging during the real publish.
    let mut half = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("connect");
    let mut half_c1 = vec![3u8];
    half_c1.extend(random(700));
    half.write_all(&half_c1).expect("write half handshake");
    let (idle, _) = handshake(addr)
        .unwrap_or_else(|e| panic!("handshake with the cloud: {e}\n{}", pair.logs()));

    let stat = pair.cloud.livestat();
    assert_eq!(stat["status"], 200, "{stat}");
    let Pair { cloud, edge } = &mut pair;
    publish_and_check(&dir, cloud, edge, "afterbadrtmp", media);
    drop(half);
    drop(idle);
    let stat = pair.cloud.livestat();
    assert_eq!(stat["status"], 200, "{stat}");
}

/// (c) `@setDataFrame` data messages with missing parts, from an accepted publisher: the
/// message that panics rml_rtmp 0.8's ServerSession (reference A2.4). Each goes on its own
/// connection. The cloud must survive them all and accept a real publish afterwards.
#[test]
fn empty_set_data_frame_does_not_kill_the_cloud() {
    let media = Media::standard();
    let dir = TestDir::new("setdataframe");
    let mut pair = Pair::start(dir.path());
    let addr = pair.cloud.rtmp_addr();
    let s = |v: &str| Amf0Value::Utf8String(v.to_string());
    let cases: Vec<(&str, Vec<Amf0Value>)> = vec![
        (
            "setdataframe-onmetadata",
            vec![s("@setDataFrame"), s("onMetaData")],
        ),
        ("setdataframe-only", vec![s("@setDataFrame")]),
        ("empty-data", vec![]),
        (
            "setdataframe-number",
            vec![s("@setDataFrame"), s("onMetaData"), Amf0Value::Number(1.0)],
        ),
        (
            "setdataframe-null",
            vec![s("@setDataFrame"), Amf0Value::Null],
        ),
    ];
    for (i, (what, values)) in cases.into_iter().enumerate() {
        let name = format!("bad{i}");
        let mut p = RawPublisher::connect_and_publish(addr, &name).unwrap_or_else(|e| {
            panic!(
                "publishing {name} with rml_rtmp's client: {e}\n{}",
                pair.logs()
            )
        });
        p.send_amf0_data(values)
            .unwrap_or_else(|e| panic!("{what}: send: {e}"));
        // Whether the cloud ends this session or ignores the message is its choice.
        let _ = p.linger(Duration::from_millis(300));
        drop(p);
        pair.cloud
            .proc
            .assert_running(&format!("after the data message {what}"));
        let stat = pair.cloud.livestat();
        assert_eq!(stat["status"], 200, "livestat after {what}: {stat}");
    }
    let Pair { cloud, edge } = &mut pair;
    publish_and_check(&dir, cloud, edge, "afterbaddata", media);
    let stat = pair.cloud.livestat();
    assert_eq!(stat["status"], 200, "{stat}");
}
