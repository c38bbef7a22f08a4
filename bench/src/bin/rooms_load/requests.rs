//! `--endpoint heartbeat` / `info`: every joined client asks the same route over its own
//! keep-alive connection as fast as it is answered.

use crate::http::{request, Connection};
use crate::setup::set_up;
use crate::Options;
use std::time::{Duration, Instant};

/// Runs the request load and prints its figures.
pub async fn run(options: &Options) -> Result<(), String> {
    let room = set_up(options, options.connections, 0)
        .await
        .map_err(|error| format!("set-up failed: {error}"))?;
    let (tokens, live_id) = (room.joined, room.live_id);
    let path = match options.endpoint.as_str() {
        "heartbeat" => format!("/client/live/room/heartbeat/{live_id}"),
        _ => format!("/client/live/room/info/{live_id}"),
    };
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let host = options.api[0].to_string();
    let mut tasks = Vec::new();
    for token in tokens {
        let bearer = format!("Bearer {token}");
        let request = request("GET", &host, &path, &[("Authorization", &bearer)], "");
        let addr = options.api[0];
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut errors = 0u64;
            let Ok(mut connection) = Connection::open(addr).await else {
                return (latencies, 1);
            };
            while Instant::now() < until {
                let sent = Instant::now();
                match connection.exchange(&request).await {
                    Ok((200, _)) => {
                        latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32)
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        match Connection::open(addr).await {
                            Ok(fresh) => connection = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((mut task_latencies, task_errors)) = task.await {
            latencies.append(&mut task_latencies);
            errors += task_errors;
        }
    }
    let elapsed = started
        .elapsed()
        .as_secs_f64()
        .min(options.seconds as f64)
        .max(0.001);
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    println!(
        "endpoint {} connections {} seconds {}: {} ok, {} errors, {:.0} requests/s, latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        options.endpoint,
        options.connections,
        options.seconds,
        latencies.len(),
        errors,
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(1.0),
    );
    Ok(())
}
