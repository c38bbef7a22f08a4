//! `--endpoint chat`: one room, many event-stream subscribers, chat at a steady rate.
//!
//! Every message's text is `lt <sent unix µs> <sender> <n>`, `n` counting up from 1 per
//! sender, so each subscriber tells from the text alone how late a message is (sender and
//! subscriber share this machine's clock) and whether a sender's messages came in order,
//! exactly once. Subscribers connect to the nodes in turn, senders too: with two nodes, half
//! the messages cross from one node to the other's subscribers.

use crate::http::{field, find, request, Connection};
use crate::setup::set_up;
use crate::Options;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What marks a load message in an event's data.
const MARK: &[u8] = b"\"text\":\"lt ";
/// One subscriber in this many records each delivery's latency (the others only count).
const LATENCY_SAMPLE_EVERY: usize = 10;
/// How long subscribers keep reading after the last send, for messages still on their way.
const DRAIN: Duration = Duration::from_secs(3);

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    delivered: u64,
    /// A sender's message whose number was not the next one: an earlier one again.
    repeated: u64,
    /// Messages skipped over (a later number than the next).
    skipped: u64,
    resets: u64,
    latencies_us: Vec<u32>,
    failed: Option<String>,
}

/// What one sender did.
#[derive(Default)]
struct Sent {
    accepted: u64,
    refused: Vec<u16>,
}

/// Runs the chat load and prints its figures.
pub async fn run(options: &Options) -> Result<(), String> {
    let room = set_up(options, options.senders, options.subscribers)
        .await
        .map_err(|error| format!("set-up failed: {error}"))?;
    let rss_before = rss_kib(&options.pids);
    let connected = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut subscribers = Vec::with_capacity(room.watchers.len());
    for (index, token) in room.watchers.iter().enumerate() {
        let node = options.api[index % options.api.len()];
        let path = format!("/client/live/room/{}/events", room.live_id);
        let head = request(
            "GET",
            &node.to_string(),
            &path,
            &[("Authorization", &format!("Bearer {token}"))],
            "",
        );
        let (connected, stop) = (connected.clone(), stop.clone());
        let senders = options.senders;
        subscribers.push(tokio::spawn(async move {
            let sample = index % LATENCY_SAMPLE_EVERY == 0;
            subscribe(node, head, senders, sample, &connected, &stop).await
        }));
    }
    let wait_from = Instant::now();
    while connected.load(Ordering::Relaxed) < subscribers.len() {
        if wait_from.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "only {} of {} subscribers connected in 120 s",
                connected.load(Ordering::Relaxed),
                subscribers.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_subscribed = rss_kib(&options.pids);
    let connect_s = wait_from.elapsed().as_secs_f64();
    let per_sender = Duration::from_secs_f64(options.senders as f64 / options.rate);
    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let mut senders = Vec::with_capacity(room.joined.len());
    for (index, token) in room.joined.iter().enumerate() {
        let node = options.api[(index + 1) % options.api.len()];
        let token = token.clone();
        let live_id = room.live_id.clone();
        senders.push(tokio::spawn(async move {
            send(node, &token, &live_id, index, per_sender, until).await
        }));
    }
    let mut sent = Sent::default();
    for sender in senders {
        let one = sender
            .await
            .map_err(|e| format!("a sender failed: {e}"))??;
        sent.accepted += one.accepted;
        sent.refused.extend(one.refused);
    }
    let send_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(DRAIN).await;
    let rss_after = rss_kib(&options.pids);
    stop.store(true, Ordering::Relaxed);
    let mut all = Seen::default();
    let mut failures = Vec::new();
    for subscriber in subscribers {
        let seen = subscriber
            .await
            .map_err(|e| format!("a subscriber failed: {e}"))?;
        all.delivered += seen.delivered;
        all.repeated += seen.repeated;
        all.skipped += seen.skipped;
        all.resets += seen.resets;
        all.latencies_us.extend(seen.latencies_us);
        failures.extend(seen.failed);
    }
    report(
        options,
        &sent,
        &all,
        &failures,
        send_s,
        connect_s,
        rss_before,
        rss_subscribed,
        rss_after,
    );
    Ok(())
}

/// Reads one event stream until told to stop, checking each sender's numbers.
async fn subscribe(
    node: SocketAddr,
    head: Vec<u8>,
    senders: usize,
    sample: bool,
    connected: &AtomicUsize,
    stop: &AtomicBool,
) -> Seen {
    let mut seen = Seen::default();
    let mut stream = match open_stream(node, &head).await {
        Ok(stream) => stream,
        Err(error) => {
            connected.fetch_add(1, Ordering::Relaxed);
            seen.failed = Some(error);
            return seen;
        }
    };
    connected.fetch_add(1, Ordering::Relaxed);
    let mut last = vec![0u64; senders];
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    while !stop.load(Ordering::Relaxed) {
        let read = tokio::time::timeout(Duration::from_millis(200), stream.read_buf(&mut buffer));
        match read.await {
            Err(_) => continue,
            Ok(Ok(0)) => {
                seen.failed = Some("the event stream ended".into());
                break;
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                seen.failed = Some(format!("read: {error}"));
                break;
            }
        }
        // Whole lines only; a line cut by the read waits for its end.
        let Some(end) = buffer.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let now = unix_us();
        for line in buffer[..end].split(|&b| b == b'\n') {
            if line.starts_with(b"event: reset") {
                seen.resets += 1;
            }
            let Some(at) = find(line, MARK) else {
                continue;
            };
            let Some((sent_us, sender, number)) = parse_mark(&line[at + MARK.len()..]) else {
                continue;
            };
            seen.delivered += 1;
            if let Some(previous) = last.get_mut(sender) {
                if number <= *previous {
                    seen.repeated += 1;
                } else {
                    seen.skipped += number - *previous - 1;
                    *previous = number;
                }
            }
            if sample {
                seen.latencies_us
                    .push(now.saturating_sub(sent_us).min(u32::MAX as u64) as u32);
            }
        }
        buffer.drain(..=end);
    }
    seen
}

/// `<sent µs> <sender> <n>` up to the closing quote.
fn parse_mark(text: &[u8]) -> Option<(u64, usize, u64)> {
    let close = text.iter().position(|&b| b == b'"')?;
    let text = std::str::from_utf8(&text[..close]).ok()?;
    let mut parts = text.split(' ');
    let sent = parts.next()?.parse().ok()?;
    let sender = parts.next()?.parse().ok()?;
    let number = parts.next()?.parse().ok()?;
    Some((sent, sender, number))
}

/// Connects and reads the event stream's head; 200 or an error.
async fn open_stream(node: SocketAddr, head: &[u8]) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(node)
        .await
        .map_err(|e| format!("connect {node}: {e}"))?;
    stream
        .write_all(head)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::with_capacity(512);
    while find(&answer, b"\r\n\r\n").is_none() {
        if stream
            .read_buf(&mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?
            == 0
        {
            return Err("closed before the answer".into());
        }
    }
    if !answer.starts_with(b"HTTP/1.1 200") {
        let line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(format!("answered {}", String::from_utf8_lossy(line)));
    }
    Ok(stream)
}

/// One sender: a message every `every` until `until`, and a heartbeat every 10 s so the
/// sender stays in the room.
async fn send(
    node: SocketAddr,
    token: &str,
    live_id: &str,
    index: usize,
    every: Duration,
    until: Instant,
) -> Result<Sent, String> {
    let mut connection = Connection::open(node).await?;
    let host = node.to_string();
    let bearer = format!("Bearer {token}");
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let message_path = format!("/client/live/room/{live_id}/message");
    let beat_path = format!("/client/live/room/heartbeat/{live_id}");
    let mut sent = Sent::default();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_beat = Instant::now();
    let mut number = 0u64;
    while Instant::now() < until {
        ticks.tick().await;
        if last_beat.elapsed() > Duration::from_secs(10) {
            let beat = request("GET", &host, &beat_path, &auth[..1], "");
            field(connection.exchange(&beat).await?, "live_id")?;
            last_beat = Instant::now();
        }
        number += 1;
        let body = format!(
            r#"{{"kind":"chat","text":"lt {} {index} {number}","client_msg_id":"{index}-{number}"}}"#,
            unix_us()
        );
        let message = request("POST", &host, &message_path, &auth, &body);
        match connection.exchange(&message).await? {
            (200, _) => sent.accepted += 1,
            (status, _) => sent.refused.push(status),
        }
    }
    Ok(sent)
}

/// The nodes' resident memory in all, KiB (`VmRSS`).
fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

#[allow(clippy::too_many_arguments)]
fn report(
    options: &Options,
    sent: &Sent,
    seen: &Seen,
    failures: &[String],
    send_s: f64,
    connect_s: f64,
    rss_before: u64,
    rss_subscribed: u64,
    rss_after: u64,
) {
    let subscribers = options.subscribers as u64;
    let expected = sent.accepted * subscribers;
    let mut latencies = seen.latencies_us.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let per_subscriber =
        |rss: u64| (rss.saturating_sub(rss_before) as f64) / subscribers.max(1) as f64;
    println!(
        "nodes {} subscribers {} senders {} rate {}/s for {:.1} s (subscribed in {:.1} s)",
        options.api.len(),
        options.subscribers,
        options.senders,
        options.rate,
        send_s,
        connect_s
    );
    println!(
        "messages accepted {} ({:.1}/s), refused {} {:?}",
        sent.accepted,
        sent.accepted as f64 / send_s,
        sent.refused.len(),
        &sent.refused[..sent.refused.len().min(5)]
    );
    println!(
        "deliveries {} of {} expected ({:.0}/s), missing {}, skipped {}, repeated {}, resets {}, subscribers failed {}",
        seen.delivered,
        expected,
        seen.delivered as f64 / send_s,
        expected.saturating_sub(seen.delivered),
        seen.skipped,
        seen.repeated,
        seen.resets,
        failures.len()
    );
    if let Some(first) = failures.first() {
        println!("first subscriber failure: {first}");
    }
    println!(
        "delivery latency ms (send to receipt, {} samples): p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        latencies.len(),
        percentile(0.5),
        percentile(0.9),
        percentile(0.99),
        percentile(1.0)
    );
    if !options.pids.is_empty() {
        println!(
            "node RSS KiB: before {} subscribed {} after {}; per subscriber {:.1} KiB subscribed, {:.1} KiB after the load",
            rss_before,
            rss_subscribed,
            rss_after,
            per_subscriber(rss_subscribed),
            per_subscriber(rss_after)
        );
    }
}
