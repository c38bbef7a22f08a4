//! Many HTTP-FLV players of one live stream from one thread: the edge's fan-out under load.
//! `bench/fanout.sh` runs it against a real cloud and edge (edge pinned to one core, this tool
//! to the other).
//!
//!     fanout --url http://127.0.0.1:7001/live/bench.flv --players 3000 --seconds 30 \
//!            --sources 127.0.0.1,127.0.0.2 --edge-pid PID --rate-kbps 2900
//!
//! One epoll loop (mio) drives every connection and reads into one shared buffer, so the tool
//! costs a few hundred bytes per player and a fraction of a core. Each player's bytes go through
//! [`relay_bench::play_check::PlayCheck`] (HTTP head, chunked or raw body, FLV framing), so a
//! malformed stream is counted, not just its bytes. After all players joined and a warm-up
//! (the GOP cache burst is over), a window of `--seconds` is measured:
//!
//! - bytes per second of every player, and how many kept up: at least 90 % of the stream's
//!   rate (`--rate-kbps`, else the median player's bytes per second of media time);
//! - relay-added delay: for every tag in the window, its arrival time minus its timestamp,
//!   less the smallest such figure of the same player (the fastest tag), p50 and p99 over all;
//! - with `--edge-pid`: the edge's CPU seconds per second over the window (utime + stime from
//!   `/proc/PID/stat`, in USER_HZ = 100 ticks) and its VmRSS growth over the idle edge, per
//!   player.
//!
//! The last line is `RESULT key=value ...` for scripts.

use clap::Parser;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use relay_bench::play_check::{Malformed, PlayCheck};
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The fan-out load tool's options.
#[derive(Parser)]
struct Options {
    /// The stream's HTTP-FLV URL (plain http, an IP address).
    #[arg(long, default_value = "http://127.0.0.1:7001/live/bench.flv")]
    url: String,
    /// Players to connect.
    #[arg(long, default_value_t = 100)]
    players: usize,
    /// Length of the measured window, once all players joined and warmed up.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds between the last join and the window (the GOP cache burst).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Local addresses to connect from, in turn (spreads per-IP limits and ephemeral ports).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    sources: Vec<IpAddr>,
    /// New connections per second while joining.
    #[arg(long, default_value_t = 1000)]
    joins_per_second: u64,
    /// The stream's rate in kb/s (FLV bytes); without it, the median player's rate per second
    /// of media time.
    #[arg(long)]
    rate_kbps: Option<f64>,
    /// The edge's process id, for its CPU time and memory.
    #[arg(long)]
    edge_pid: Option<u32>,
    /// Connect and never send the request: what an open connection alone costs the server
    /// (its memory per connection against a playing one's says where a player's bytes go).
    #[arg(long)]
    no_request: bool,
}

/// Why a player stopped before the end.
#[derive(Debug)]
enum Ended {
    Malformed(Malformed),
    Closed,
    Io(ErrorKind),
}

struct Player {
    stream: TcpStream,
    check: PlayCheck,
    request_sent: bool,
    ended: Option<Ended>,
    bytes_at_window: u64,
    /// Arrival minus timestamp of the window's tags, in microseconds.
    excess: Vec<i32>,
    first_ts: Option<u32>,
    last_ts: u32,
}

fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("--url: only http:// URLs")?;
    let (authority, path) = rest.split_once('/').ok_or("--url: no path")?;
    let addr = authority
        .parse()
        .map_err(|e| format!("--url: {authority}: {e} (give IP:PORT)"))?;
    Ok((addr, format!("/{path}")))
}

fn connect(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    match socket.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// (utime + stime) in seconds and VmRSS in KiB of a process.
fn process_figures(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (proc(5)).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((ticks as f64 / 100.0, rss))
}

fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(index).copied()
}

fn main() -> Result<(), String> {
    let options = Options::parse();
    let (addr, path) = parse_url(&options.url)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: liverelay-fanout\r\nAccept: */*\r\n\r\n"
    );
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(4096);
    let mut players: Vec<Player> = Vec::with_capacity(options.players);
    let mut buffer = vec![0u8; 256 * 1024];
    let idle = options.edge_pid.and_then(process_figures);
    let start = Instant::now();
    let join_interval = Duration::from_secs(1) / options.joins_per_second.max(1) as u32;
    let mut joined_all: Option<Instant> = None;
    let mut window: Option<(Instant, Option<(f64, u64)>)> = None;
    let mut connect_errors = 0usize;
    let mut tool_at_open = None;
    loop {
        let now = Instant::now();
        // Join at the asked rate.
        while players.len() < options.players && start + join_interval * players.len() as u32 <= now
        {
            let source = options.sources[players.len() % options.sources.len()];
            match connect(source, addr) {
                Ok(mut stream) => {
                    let token = Token(players.len());
                    poll.registry()
                        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                        .map_err(|e| e.to_string())?;
                    players.push(Player {
                        stream,
                        check: PlayCheck::default(),
                        request_sent: false,
                        ended: None,
                        bytes_at_window: 0,
                        excess: Vec::new(),
                        first_ts: None,
                        last_ts: 0,
                    });
                }
                Err(e) => {
                    connect_errors += 1;
                    if connect_errors > options.players {
                        return Err(format!("connecting from {source}: {e}"));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        if players.len() == options.players && joined_all.is_none() {
            joined_all = Some(now);
            eprintln!(
                "fanout: {} players joined in {:.1} s; warming up {} s",
                players.len(),
                (now - start).as_secs_f64(),
                options.warmup
            );
        }
        if let Some(joined) = joined_all {
            if window.is_none() && now >= joined + Duration::from_secs(options.warmup) {
                for player in &mut players {
                    player.bytes_at_window = player.check.body_bytes();
                }
                window = Some((now, options.edge_pid.and_then(process_figures)));
                tool_at_open = process_figures(std::process::id());
                eprintln!("fanout: measuring {} s", options.seconds);
            }
        }
        if let Some((opened, _)) = window {
            if now >= opened + Duration::from_secs(options.seconds) {
                break;
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .map_err(|e| e.to_string())?;
        let measuring = window.map(|(opened, _)| opened);
        for event in events.iter() {
            let Some(player) = players.get_mut(event.token().0) else {
                continue;
            };
            if player.ended.is_some() {
                continue;
            }
            if event.is_writable() && !player.request_sent && !options.no_request {
                match player.stream.write(request.as_bytes()) {
                    Ok(n) if n == request.len() => {
                        player.request_sent = true;
                        let token = event.token();
                        let _ = poll.registry().reregister(
                            &mut player.stream,
                            token,
                            Interest::READABLE,
                        );
                    }
                    Ok(_) => player.ended = Some(Ended::Io(ErrorKind::WriteZero)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => player.ended = Some(Ended::Io(e.kind())),
                }
            }
            if !event.is_readable() || !player.request_sent {
                continue;
            }
            loop {
                match player.stream.read(&mut buffer) {
                    Ok(0) => {
                        player.ended = Some(Ended::Closed);
                        break;
                    }
                    Ok(n) => {
                        let arrival = start.elapsed().as_micros() as i64;
                        let Player {
                            check,
                            excess,
                            first_ts,
                            last_ts,
                            ..
                        } = player;
                        let result = check.feed(&buffer[..n], &mut |tag| {
                            if measuring.is_some() && !tag.config {
                                let late = arrival - i64::from(tag.timestamp) * 1000;
                                excess.push(late.clamp(i32::MIN.into(), i32::MAX.into()) as i32);
                                first_ts.get_or_insert(tag.timestamp);
                                *last_ts = tag.timestamp;
                            }
                        });
                        if let Err(malformed) = result {
                            player.ended = Some(Ended::Malformed(malformed));
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        player.ended = Some(Ended::Io(e.kind()));
                        break;
                    }
                }
            }
        }
    }
    let Some((opened, at_open)) = window else {
        return Err("the window never opened".into());
    };
    let elapsed = opened.elapsed().as_secs_f64();
    let at_close = options.edge_pid.and_then(process_figures);
    let own = process_figures(std::process::id())
        .zip(tool_at_open)
        .map(|((close, _), (open, _))| (close - open) / elapsed);
    report(&options, &players, elapsed, idle, at_open, at_close);
    if let Some(own) = own {
        // Near 1: the tool, not the server, may be what limits the players.
        println!("fanout itself: {own:.2} CPU s/s");
        println!("RESULT_TOOL tool_cpu={own:.3}");
    }
    Ok(())
}

fn report(
    options: &Options,
    players: &[Player],
    elapsed: f64,
    idle: Option<(f64, u64)>,
    at_open: Option<(f64, u64)>,
    at_close: Option<(f64, u64)>,
) {
    let mut rates: Vec<f64> = players
        .iter()
        .map(|p| (p.check.body_bytes() - p.bytes_at_window) as f64 / elapsed)
        .collect();
    let mut media_rates: Vec<f64> = players
        .iter()
        .filter_map(|p| {
            let span = f64::from(p.last_ts.checked_sub(p.first_ts?)?) / 1000.0;
            (span > 0.0).then(|| (p.check.body_bytes() - p.bytes_at_window) as f64 / span)
        })
        .collect();
    media_rates.sort_by(f64::total_cmp);
    let reference = options
        .rate_kbps
        .map(|kbps| kbps * 1000.0 / 8.0)
        .or_else(|| percentile(&media_rates, 0.5))
        .unwrap_or(0.0);
    let kept_up = players
        .iter()
        .zip(&rates)
        .filter(|(p, rate)| p.ended.is_none() && **rate >= 0.9 * reference)
        .count();
    let malformed = players
        .iter()
        .filter(|p| matches!(p.ended, Some(Ended::Malformed(_))))
        .count();
    let closed = players
        .iter()
        .filter(|p| matches!(p.ended, Some(Ended::Closed | Ended::Io(_))))
        .count();
    if let Some(first) = players.iter().find_map(|p| match &p.ended {
        Some(Ended::Malformed(m)) => Some(m),
        _ => None,
    }) {
        eprintln!("fanout: first malformed stream: {first:?}");
    }
    if let Some(kind) = players.iter().find_map(|p| match &p.ended {
        Some(Ended::Io(kind)) => Some(kind),
        _ => None,
    }) {
        eprintln!("fanout: first connection error: {kind:?}");
    }
    rates.sort_by(f64::total_cmp);
    let mut delays: Vec<i32> = Vec::new();
    for player in players {
        if let Some(min) = player.excess.iter().min() {
            delays.extend(player.excess.iter().map(|e| e - min));
        }
    }
    delays.sort_unstable();
    let kb = |p: f64| percentile(&rates, p).unwrap_or(0.0) * 8.0 / 1000.0;
    let ms = |p: f64| f64::from(percentile(&delays, p).unwrap_or(0)) / 1000.0;
    println!(
        "players {}  kept up {}  malformed {}  closed {}  window {:.1} s  stream {:.0} kb/s",
        players.len(),
        kept_up,
        malformed,
        closed,
        elapsed,
        reference * 8.0 / 1000.0
    );
    println!(
        "kb/s per player: min {:.0}  p10 {:.0}  p50 {:.0}  p90 {:.0}  max {:.0}",
        kb(0.0),
        kb(0.1),
        kb(0.5),
        kb(0.9),
        kb(1.0)
    );
    println!(
        "relay-added delay over {} tags: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        delays.len(),
        ms(0.5),
        ms(0.99),
        ms(1.0)
    );
    let mut result = format!(
        "RESULT players={} kept_up={} malformed={} closed={} kbps_min={:.0} kbps_p50={:.0} delay_p50_ms={:.2} delay_p99_ms={:.2}",
        players.len(),
        kept_up,
        malformed,
        closed,
        kb(0.0),
        kb(0.5),
        ms(0.5),
        ms(0.99)
    );
    if let (Some((_, idle_rss)), Some((cpu_open, _)), Some((cpu_close, rss))) =
        (idle, at_open, at_close)
    {
        let cpu = (cpu_close - cpu_open) / elapsed;
        let per_player = rss.saturating_sub(idle_rss) as f64 / players.len().max(1) as f64;
        println!(
            "edge: {cpu:.2} CPU s/s, VmRSS {rss} KiB ({idle_rss} idle), {per_player:.1} KiB per player"
        );
        result.push_str(&format!(
            " edge_cpu={cpu:.3} edge_rss_kib={rss} idle_rss_kib={idle_rss} kib_per_player={per_player:.1}"
        ));
    }
    println!("{result}");
}
