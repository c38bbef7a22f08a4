//! Load on the live-room API of running clouds.
//!
//! - `--endpoint heartbeat` / `info`: many clients beating (`GET
//!   /client/live/room/heartbeat/{id}`) or reading a room (`GET /client/live/room/info/{id}`)
//!   over keep-alive connections, for a while; prints requests per second and latency
//!   percentiles.
//! - `--endpoint chat`: one room with `--subscribers` event-stream (SSE) clients spread over
//!   the nodes given by `--api` and `--senders` users sending `--rate` chat messages a second in
//!   all, spread over the nodes too; prints deliveries per second, delivery latency
//!   percentiles (send to receipt, one clock), losses, repeats and reorderings per sender, and
//!   the nodes' memory per subscriber (`--pid`, read from `/proc`).
//!
//! `bench/rooms-load.sh` and `bench/chat-load.sh` run it against clouds pinned to one core.
//!
//!     rooms_load --api 127.0.0.1:8090 --ak AK --sk SK --endpoint heartbeat \
//!                --connections 64 --seconds 10
//!     rooms_load --api 127.0.0.1:8090 --api 127.0.0.1:8091 --endpoint chat \
//!                --subscribers 5000 --senders 20 --rate 200 --seconds 20 --pid 1234 --pid 1235
//!
//! Set-up goes through the API itself (`setup`).

mod chat;
mod http;
mod requests;
mod setup;

use std::net::SocketAddr;

/// The command line.
pub struct Options {
    /// The nodes; set-up goes through the first.
    api: Vec<SocketAddr>,
    ak: String,
    sk: String,
    endpoint: String,
    connections: usize,
    seconds: u64,
    subscribers: usize,
    senders: usize,
    rate: f64,
    pids: Vec<u32>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        api: Vec::new(),
        ak: "dev-ak".into(),
        sk: "dev-secret-key-change-me".into(),
        endpoint: "heartbeat".into(),
        connections: 64,
        seconds: 10,
        subscribers: 5000,
        senders: 20,
        rate: 200.0,
        pids: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = |what: &str| format!("{what}: {value} is not a number");
        match flag.as_str() {
            "--api" => options
                .api
                .push(value.parse().map_err(|e| format!("--api: {e}"))?),
            "--ak" => options.ak = value,
            "--sk" => options.sk = value,
            "--endpoint" if ["heartbeat", "info", "chat"].contains(&value.as_str()) => {
                options.endpoint = value
            }
            "--connections" => {
                options.connections = value.parse().map_err(|_| number("--connections"))?
            }
            "--seconds" => options.seconds = value.parse().map_err(|_| number("--seconds"))?,
            "--subscribers" => {
                options.subscribers = value.parse().map_err(|_| number("--subscribers"))?
            }
            "--senders" => options.senders = value.parse().map_err(|_| number("--senders"))?,
            "--rate" => options.rate = value.parse().map_err(|_| number("--rate"))?,
            "--pid" => options
                .pids
                .push(value.parse().map_err(|_| number("--pid"))?),
            other => return Err(format!("unknown flag or value: {other} {value}")),
        }
    }
    if options.api.is_empty() {
        options.api.push(([127, 0, 0, 1], 8090).into());
    }
    if options.senders == 0 || !options.rate.is_finite() || options.rate <= 0.0 {
        return Err("--senders and --rate must be above 0".into());
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("rooms_load: {error}");
            std::process::exit(2);
        }
    };
    let outcome = match options.endpoint.as_str() {
        "chat" => chat::run(&options).await,
        _ => requests::run(&options).await,
    };
    if let Err(error) = outcome {
        eprintln!("rooms_load: {error}");
        std::process::exit(1);
    }
}
