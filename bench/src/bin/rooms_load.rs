//! Load on the live-room API of a running cloud: many clients beating (`GET
//! /client/live/room/heartbeat/{id}`) or reading a room (`GET /client/live/room/info/{id}`)
//! over keep-alive connections, for a while; prints requests per second and latency
//! percentiles. `bench/rooms-load.sh` runs it against a cloud pinned to one core.
//!
//!     rooms_load --api 127.0.0.1:8090 --ak AK --sk SK --endpoint heartbeat \
//!                --connections 64 --seconds 10
//!
//! Set-up goes through the API itself: users registered and tokens minted by signed server
//! requests, one room created and started by its anchor, every client joined.

use relay_control::auth::{format_qiniu_date, sign_request, KeyPair, RequestParts, SecretKey};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    api: SocketAddr,
    ak: String,
    sk: String,
    endpoint: String,
    connections: usize,
    seconds: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        api: "127.0.0.1:8090".parse().map_err(|e| format!("{e}"))?,
        ak: "dev-ak".into(),
        sk: "dev-secret-key-change-me".into(),
        endpoint: "heartbeat".into(),
        connections: 64,
        seconds: 10,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--api" => options.api = value.parse().map_err(|e| format!("--api: {e}"))?,
            "--ak" => options.ak = value,
            "--sk" => options.sk = value,
            "--endpoint" if value == "heartbeat" || value == "info" => options.endpoint = value,
            "--connections" => {
                options.connections = value.parse().map_err(|e| format!("--connections: {e}"))?
            }
            "--seconds" => {
                options.seconds = value.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            other => return Err(format!("unknown flag or value: {other} {value}")),
        }
    }
    Ok(options)
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(8192),
        })
    }

    /// Sends `request` (a whole HTTP/1.1 request) and reads the answer: status and body.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, String), String> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.buffer.clear();
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head =
                    std::str::from_utf8(&self.buffer[..end]).map_err(|_| "head not UTF-8")?;
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or("no status")?;
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .ok_or("no Content-Length")?;
                let total = end + 4 + length;
                while self.buffer.len() < total {
                    self.read_more().await?;
                }
                let body = String::from_utf8_lossy(&self.buffer[end + 4..total]).into_owned();
                return Ok((status, body));
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        let count = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if count == 0 {
            return Err("connection closed".into());
        }
        self.buffer.extend_from_slice(&chunk[..count]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn request(method: &str, host: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text.into_bytes()
}

/// A signed `/server` request.
fn signed(options: &Options, method: &str, path: &str, body: &str) -> Result<Vec<u8>, String> {
    let host = options.api.to_string();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let date = format_qiniu_date(now);
    let mut headers = vec![("Host", host.as_str()), ("X-Qiniu-Date", date.as_str())];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    let secret = SecretKey::new(options.sk.as_bytes()).map_err(|e| e.to_string())?;
    let pair = KeyPair::new(options.ak.clone(), secret).map_err(|e| e.to_string())?;
    let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
    let parts = RequestParts {
        method,
        path: path_only,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let authorization = sign_request(&pair, &parts);
    let sent: Vec<(&str, &str)> = headers
        .iter()
        .copied()
        .filter(|(name, _)| *name != "Host")
        .chain([("Authorization", authorization.as_str())])
        .collect();
    Ok(request(method, &host, path, &sent, body))
}

/// `data.<field>` of a JSON answer that must be a success.
fn field(answer: (u16, String), field: &str) -> Result<String, String> {
    let (status, body) = answer;
    let value: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || value["code"] != 0 {
        return Err(format!("{status} {body}"));
    }
    value["data"][field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no data.{field} in {body}"))
}

/// Users, tokens, a live room with every client in it; returns the clients' tokens and the room.
async fn set_up(options: &Options) -> Result<(Vec<String>, String), String> {
    let mut admin = Connection::open(options.api).await?;
    let run = std::process::id();
    let mut tokens = Vec::with_capacity(options.connections);
    for index in 0..=options.connections {
        let user = format!("load-{run}-{index}");
        let path = format!("/server/auth/token?user_id={user}&app_id=load");
        tokens.push(field(
            admin.exchange(&signed(options, "GET", &path, "")?).await?,
            "access_token",
        )?);
    }
    let anchor = tokens.remove(0);
    let host = options.api.to_string();
    let bearer = format!("Bearer {anchor}");
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let create = request(
        "POST",
        &host,
        "/client/live/room/instance",
        &auth,
        r#"{"title":"load"}"#,
    );
    let live_id = field(admin.exchange(&create).await?, "live_id")?;
    let start = request(
        "PUT",
        &host,
        &format!("/client/live/room/{live_id}"),
        &auth[..1],
        "",
    );
    field(admin.exchange(&start).await?, "live_id")?;
    for token in &tokens {
        let bearer = format!("Bearer {token}");
        let join = request(
            "POST",
            &host,
            &format!("/client/live/room/user/{live_id}"),
            &[("Authorization", &bearer)],
            "",
        );
        field(admin.exchange(&join).await?, "live_id")?;
    }
    Ok((tokens, live_id))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("rooms_load: {error}");
            std::process::exit(2);
        }
    };
    let (tokens, live_id) = match set_up(&options).await {
        Ok(set_up) => set_up,
        Err(error) => {
            eprintln!("rooms_load: set-up failed: {error}");
            std::process::exit(1);
        }
    };
    let path = match options.endpoint.as_str() {
        "heartbeat" => format!("/client/live/room/heartbeat/{live_id}"),
        _ => format!("/client/live/room/info/{live_id}"),
    };
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let host = options.api.to_string();
    let mut tasks = Vec::new();
    for token in tokens {
        let bearer = format!("Bearer {token}");
        let request = request("GET", &host, &path, &[("Authorization", &bearer)], "");
        let addr = options.api;
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
}
