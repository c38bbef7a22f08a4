//! Bounded state under hostile input over TCP: RTMP connections that stall or trickle are closed
//! at their deadlines, an unauthenticated peer cannot make the cloud buffer a large message, and
//! a 100 KB request head gets 431, and floods of idle RTMP and slowloris HTTP connections from one host leave a real publish, a real
//! player and the API working, the refused connections counted.

use crate::{expect_attached, expect_capture, start_capture, END_TIMEOUT};
use e2e_tests::checks::Join;
use e2e_tests::cluster::{Cloud, CloudConfig, Pair};
use e2e_tests::http::request;
use e2e_tests::media::FfmpegPlayer;
use e2e_tests::prometheus::{scrape, Scrape};
use e2e_tests::rtmp::{connected, handshake};
use e2e_tests::util::{poll_until, vm_rss_kib};
use e2e_tests::{Media, Publisher, TestDir};
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Where the floods come from: another loopback address, so the per-address limits apply to
/// them and not to the real publisher and player on 127.0.0.1.
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

fn counter(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .get(name, labels)
        .unwrap_or_else(|| panic!("{name}{labels:?} is in /metrics"))
}

/// Waits (at most `limit`) for the peer to close `stream`: true when it did.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A TCP connection to `addr` from `from`, or `None` if it could not be made.
fn connect_from(from: IpAddr, addr: SocketAddr) -> Option<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    socket.bind(&SocketAddr::new(from, 0).into()).ok()?;
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(2))
        .ok()?;
    Some(socket.into())
}

/// Lets this process hold the flood's sockets (the cloud and edge inherit the limit).
fn raise_fd_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(
            limit.rlim_max >= wanted,
            "the hard file-descriptor limit {} is under the {wanted} this test needs",
            limit.rlim_max
        );
        limit.rlim_cur = limit.rlim_cur.max(wanted);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

#[test]
fn stalled_rtmp_connections_are_closed_at_their_deadlines() {
    let dir = TestDir::new("bounds-stall");
    let mut config = CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]);
    config.extra = vec![
        "rtmp_handshake_timeout_s: 1".into(),
        "rtmp_publish_timeout_s: 2".into(),
        "rtmp_idle_timeout_s: 30".into(),
    ];
    let mut cloud = Cloud::start(dir.path(), config);
    let rtmp = cloud.rtmp_addr();
    // Silent from the start (the idle timeout is 30 s: only the deadlines can close these);
    // trickling C0+C1 one byte every 300 ms (never finishing the handshake, never idle);
    // handshaken but never sending `connect`.
    let mut silent = TcpStream::connect(rtmp).expect("connect");
    let mut trickle = TcpStream::connect(rtmp).expect("connect");
    let (mut no_connect, _) = handshake(rtmp).expect("handshake");
    // Connected, never publishing, silent for less than the idle timeout: the publish deadline.
    let (mut no_publish, _, _) = connected(rtmp).expect("connect");
    let trickler = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if trickle.write_all(&[3]).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    });
    let limit = Duration::from_secs(10);
    assert!(
        closed_within(&mut silent, limit),
        "a silent connection is closed\n{}",
        cloud.proc.log_tail(20)
    );
    assert!(
        closed_within(&mut no_connect, limit),
        "a connection that never connects is closed"
    );
    assert!(
        trickler.join().expect("trickler"),
        "a trickling connection is closed"
    );
    assert!(
        closed_within(&mut no_publish, limit),
        "a connection that never publishes is closed"
    );
    let scrape = scrape(cloud.api_addr());
    let timeouts = counter(
        &scrape,
        "liverelay_cloud_rtmp_closed_total",
        &[("reason", "handshake_timeout")],
    );
    let unpublished = counter(
        &scrape,
        "liverelay_cloud_rtmp_closed_total",
        &[("reason", "publish_timeout")],
    );
    assert_eq!(unpublished, 1.0, "the publish timeout is counted");
    assert!(
        timeouts >= 3.0,
        "three handshake timeouts counted, got {timeouts}"
    );
    cloud.proc.assert_running("after the stalled connections");
}

#[test]
fn an_unauthenticated_huge_message_is_refused_before_it_is_buffered() {
    let dir = TestDir::new("bounds-huge");
    let mut cloud = Cloud::start(
        dir.path(),
        CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]),
    );
    let rss_before = vm_rss_kib(cloud.proc.pid()).unwrap_or(0);
    let (mut stream, _) = handshake(cloud.rtmp_addr()).expect("handshake");
    // Set Chunk Size to the largest, then one AMF0 command message of 16 MiB - 1 on csid 3.
    let mut head = vec![0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0];
    head.extend(0x7fff_ffffu32.to_be_bytes());
    head.extend([0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0]);
    stream.write_all(&head).expect("headers");
    let block = vec![0x41u8; 16 << 10];
    let mut sent = 0usize;
    while sent < 16 << 20 {
        if stream.write_all(&block).is_err() {
            break;
        }
        sent += block.len();
    }
    assert!(
        sent < 16 << 20,
        "the cloud stopped reading before the whole message arrived"
    );
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)),
        "the connection is closed"
    );
    let scrape = scrape(cloud.api_addr());
    let closed = counter(
        &scrape,
        "liverelay_cloud_rtmp_closed_total",
        &[("reason", "unpublished_bytes")],
    );
    assert_eq!(closed, 1.0, "the close is counted");
    if let (Some(after), true) = (vm_rss_kib(cloud.proc.pid()), rss_before > 0) {
        assert!(
            after < rss_before + 32 * 1024,
            "RSS {rss_before} KiB -> {after} KiB"
        );
    }
    cloud.proc.assert_running("after the huge message");
}

#[test]
fn floods_of_idle_and_slowloris_connections_leave_publish_and_play_working() {
    raise_fd_limit(8192);
    let dir = TestDir::new("bounds-flood");
    let pair = Pair::start_with(dir.path(), |edge| {
        edge.extra = vec!["http_max_connections_per_ip: 100".into()];
    });
    // The cloud runs the defaults: 32 RTMP and 64 HTTP connections per address.
    let attacker = IpAddr::from(ATTACKER);
    let rtmp = pair.cloud.rtmp_addr();
    let idle: Vec<TcpStream> = (0..3000)
        .filter_map(|_| connect_from(attacker, rtmp))
        .collect();
    let slow_request = b"GET /live/x.flv HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut slowloris: Vec<TcpStream> = [pair.cloud.api_addr(), pair.edge.flv_addr()]
        .iter()
        .flat_map(|addr| {
            (0..500)
                .filter_map(|_| connect_from(attacker, *addr))
                .collect::<Vec<_>>()
        })
        .collect();
    for stream in &mut slowloris {
        let _ = stream.set_nonblocking(true);
        let _ = stream.write(slow_request);
    }
    let dripping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let dripper = {
        let dripping = dripping.clone();
        std::thread::spawn(move || {
            while dripping.load(std::sync::atomic::Ordering::Relaxed) {
                for stream in &mut slowloris {
                    let _ = stream.write(b"a");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let api = request(
        pair.cloud.api_addr(),
        "GET",
        "/status",
        Duration::from_secs(10),
    )
    .expect("the API answers during the floods");
    assert_eq!(api.status, 200);
    // A real publish, a raw player checked packet for packet, and ffmpeg as a player.
    let media = Media::standard();
    let name = "flooded";
    let mut capture = start_capture(&pair.edge, "raw-player", name, media);
    let mut publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    let procs = [&pair.cloud.proc, &pair.edge.proc];
    expect_attached(&mut capture, &procs);
    let mut player = FfmpegPlayer::start(&dir, "ffmpeg-player", &pair.edge.play_url(name));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", pair.logs());
    }
    expect_capture(capture, media, &dir, Join::Start, &procs);
    if let Err(e) = player.expect_identity(media, END_TIMEOUT) {
        panic!("the ffmpeg player: {e}\n{}", pair.logs());
    }
    dripping.store(false, std::sync::atomic::Ordering::Relaxed);
    dripper.join().expect("dripper");
    let cloud = scrape(pair.cloud.api_addr());
    let refused = |scrape: &Scrape, listener| {
        counter(
            scrape,
            &format!(
                "liverelay_{}_connections_refused_total",
                if listener == "flv" { "edge" } else { "cloud" }
            ),
            &[("listener", listener), ("reason", "ip_limit")],
        )
    };
    // Every flood connection was admitted or refused, and counted. Admitted ones are closed at
    // their deadlines (10 s), which frees their places for later ones on a slow machine, so
    // only most, not all but 32, are refused.
    let rtmp_refused = refused(&cloud, "rtmp");
    let rtmp_accepted = counter(
        &cloud,
        "liverelay_cloud_connections_accepted_total",
        &[("listener", "rtmp")],
    );
    assert!(
        rtmp_refused + rtmp_accepted >= idle.len() as f64
            && rtmp_refused >= idle.len() as f64 / 2.0,
        "{rtmp_refused} RTMP refusals and {rtmp_accepted} admissions counted for {} connections",
        idle.len()
    );
    let api_refused = refused(&cloud, "api");
    assert!(api_refused >= 250.0, "{api_refused} API refusals counted");
    let flv_refused = refused(&scrape(pair.edge.flv_addr()), "flv");
    assert!(
        flv_refused >= 250.0,
        "{flv_refused} HTTP-FLV refusals counted"
    );
    drop(idle);
}

#[test]
fn an_oversized_request_head_gets_431() {
    let dir = TestDir::new("bounds-http");
    let cloud = Cloud::start(
        dir.path(),
        CloudConfig::new(dir.path(), vec!["127.0.0.1:9".into()]),
    );
    let api = cloud.api_addr();
    let mut stream = TcpStream::connect(api).expect("connect");
    let header = format!(
        "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 << 10)
    );
    let _ = stream.write_all(header.as_bytes());
    let mut answer = String::new();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "a 100 KB head gets 431, got {:?}",
        answer.lines().next()
    );
    // Counted when the server is done with the connection, which may be just after the answer.
    let heads = || {
        counter(
            &scrape(api),
            "liverelay_cloud_http_headers_too_large_total",
            &[("listener", "api")],
        )
    };
    let counted = poll_until(Duration::from_secs(5), Duration::from_millis(50), || {
        (heads() >= 1.0).then_some(())
    });
    assert!(counted.is_some(), "the 431 is not counted");
    assert_eq!(heads(), 1.0, "the 431 is counted once");
}
