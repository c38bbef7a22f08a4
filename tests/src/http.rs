//! A raw HTTP/1.1 client.
//!
//! The HTTP-FLV checks capture the response body byte for byte (de-chunked if the edge uses
//! chunked transfer coding), so what is compared is exactly what the edge sent, not a remux.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked transfer coding removed.
    pub body: Vec<u8>,
    /// The message ended as HTTP says it should (last chunk of a chunked body, the full
    /// Content-Length, or the close of a close-delimited body); false if it was cut short.
    pub complete: bool,
    /// Why the body ended early, when `complete` is false.
    pub error: Option<String>,
    /// When the body grew: (instant, body length by then), in order.
    pub arrivals: Vec<(Instant, usize)>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// When the first `len` bytes of the body had arrived (`None` if they never did, or the
    /// response was not read with arrival times).
    pub fn arrived_by(&self, len: usize) -> Option<Instant> {
        let i = self.arrivals.partition_point(|(_, l)| *l < len);
        self.arrivals.get(i).map(|(t, _)| *t)
    }
}

/// Incremental decoder of the chunked transfer coding (RFC 9112 §7.1).
#[derive(Default)]
pub struct Chunked {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Default, PartialEq)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailer,
    Done,
}

impl Chunked {
    /// Decodes `input`, appending the body bytes to `out`; the rest of a chunk or line that is
    /// cut short waits for the next call.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() && self.state != ChunkState::Done {
            match self.state {
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(input);
                        return Ok(());
                    };
                    self.line.extend_from_slice(&input[..nl]);
                    input = &input[nl + 1..];
                    let line = std::mem::take(&mut self.line);
                    let line = String::from_utf8_lossy(&line).trim().to_string();
                    match self.state {
                        ChunkState::Size => {
                            let hex = line.split(';').next().unwrap_or("").trim();
                            let size = usize::from_str_radix(hex, 16)
                                .map_err(|_| format!("bad chunk size line {line:?}"))?;
                            self.state = if size == 0 {
                                ChunkState::Trailer
                            } else {
                                ChunkState::Data(size)
                            };
                        }
                        ChunkState::DataEnd => {
                            if !line.is_empty() {
                                return Err(format!("junk after chunk data: {line:?}"));
                            }
                            self.state = ChunkState::Size;
                        }
                        ChunkState::Trailer => {
                            if line.is_empty() {
                                self.state = ChunkState::Done;
                            }
                        }
                        _ => unreachable!(),
                    }
                }
                ChunkState::Data(left) => {
                    let n = left.min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.state = if n == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n)
                    };
                }
                ChunkState::Done => {}
            }
        }
        Ok(())
    }
}

enum BodyKind {
    None,
    Chunked(Chunked),
    Length(usize),
    UntilClose,
}

/// Reads a response from `stream` until the message ends, EOF, an error or `deadline`.
/// `head_only`: the request was HEAD, there is no body whatever the headers say.
fn read_response<S: Read>(
    stream: &mut S,
    deadline: Instant,
    head_only: bool,
    on_head: &mut dyn FnMut(u16),
) -> Result<HttpResponse, String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut raw = Vec::new();
    // Head.
    let head_end = loop {
        if let Some(p) = find(&raw, b"\r\n\r\n") {
            break p;
        }
        if raw.len() > 64 * 1024 {
            return Err("response head larger than 64 KiB".into());
        }
        match read_some(stream, &mut buf, deadline)? {
            0 => {
                return Err(format!(
                    "connection closed before the end of the response head ({} bytes: {:?})",
                    raw.len(),
                    String::from_utf8_lossy(&raw)
                ))
            }
            n => raw.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    on_head(status);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut kind = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        BodyKind::None
    } else if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        BodyKind::Chunked(Chunked::default())
    } else if let Some(len) = get("content-length") {
        BodyKind::Length(
            len.parse()
                .map_err(|_| format!("bad content-length {len:?}"))?,
        )
    } else {
        BodyKind::UntilClose
    };
    let mut resp = HttpResponse {
        status,
        headers,
        body: Vec::new(),
        complete: false,
        error: None,
        arrivals: Vec::new(),
    };
    let mut pending = raw[head_end + 4..].to_vec();
    loop {
        let before = resp.body.len();
        // Consume what we have.
        let done = match &mut kind {
            BodyKind::None => {
                resp.complete = true;
                true
            }
            BodyKind::Chunked(c) => match c.feed(&pending, &mut resp.body) {
                Err(e) => {
                    resp.error = Some(e);
                    true
                }
                Ok(()) if c.state == ChunkState::Done => {
                    resp.complete = true;
                    true
                }
                Ok(()) => false,
            },
            BodyKind::Length(len) => {
                let take = (*len - resp.body.len()).min(pending.len());
                resp.body.extend_from_slice(&pending[..take]);
                resp.complete = resp.body.len() == *len;
                resp.complete
            }
            BodyKind::UntilClose => {
                resp.body.extend_from_slice(&pending);
                false
            }
        };
        if resp.body.len() > before {
            resp.arrivals.push((Instant::now(), resp.body.len()));
        }
        if done {
            return Ok(resp);
        }
        pending.clear();
        match read_some(stream, &mut buf, deadline) {
            Ok(0) => {
                if matches!(kind, BodyKind::UntilClose) {
                    resp.complete = true;
                } else {
                    resp.error = Some("connection closed before the end of the body".into());
                }
                return Ok(resp);
            }
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) => {
                resp.error = Some(e);
                return Ok(resp);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One read, bounded by `deadline` (the socket's read timeout is short, so the deadline is
/// checked at least every 200 ms).
fn read_some<S: Read>(stream: &mut S, buf: &mut [u8], deadline: Instant) -> Result<usize, String> {
    loop {
        if Instant::now() >= deadline {
            return Err("deadline reached while reading".into());
        }
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                continue
            }
            Err(e) => return Err(format!("read error: {e}")),
        }
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).ok();
    Ok(s)
}

pub fn request_bytes(method: &str, addr: SocketAddr, path: &str) -> Vec<u8> {
    request_bytes_with(method, addr, path, &[])
}

/// A request head for `method path` with extra `headers` (and `Connection: close`).
pub fn request_bytes_with(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: liverelay-e2e\r\nAccept: */*\r\n{extra}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A complete request/response, bounded by `timeout`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    request_with_headers(addr, method, path, &[], timeout)
}

/// As [`request`], with extra request headers.
pub fn request_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<HttpResponse, String> {
    request_with_body(addr, method, path, headers, &[], timeout)
}

/// As [`request`], with extra request headers and a body (sent with its Content-Length when
/// not empty).
pub fn request_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let deadline = Instant::now() + timeout;
    let mut s = connect(addr)?;
    let length = body.len().to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !body.is_empty() {
        all.push(("Content-Length", &length));
    }
    let mut bytes = request_bytes_with(method, addr, path, &all);
    bytes.extend_from_slice(body);
    s.write_all(&bytes)
        .map_err(|e| format!("write request: {e}"))?;
    let resp = read_response(&mut s, deadline, method == "HEAD", &mut |_| {})?;
    if !resp.complete {
        return Err(format!(
            "{method} {path}: response incomplete after {} body bytes: {}",
            resp.body.len(),
            resp.error.as_deref().unwrap_or("?")
        ));
    }
    Ok(resp)
}

/// Sends a request and reads only the status line and headers, then drops the connection
/// (for a live stream, whose body never ends).
pub fn probe(addr: SocketAddr, method: &str, path: &str) -> Result<HttpResponse, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut s = connect(addr)?;
    s.write_all(&request_bytes(method, addr, path))
        .map_err(|e| format!("write request: {e}"))?;
    read_response(&mut s, deadline, true, &mut |_| {})
}

/// Polls `GET path` every 20 ms until it answers 200 (the stream is live on this edge).
pub fn wait_live(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Instant, String> {
    let start = Instant::now();
    let mut last = String::from("no attempt");
    while start.elapsed() < timeout {
        match probe(addr, "GET", path) {
            Ok(r) if r.status == 200 => return Ok(Instant::now()),
            Ok(r) => last = format!("status {}", r.status),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "GET {path} on {addr} did not answer 200 within {timeout:?} (last: {last})"
    ))
}

/// Reads a full response (de-chunked) from an already-requested connection, tolerating a
/// cut-short body (see [`HttpResponse::complete`]).
pub fn read_response_from(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    read_response(stream, Instant::now() + timeout, false, &mut |_| {})
}

/// Reads a full response from any stream already sent a request (a TLS stream, say) whose
/// socket has a short read timeout, until `deadline`.
pub fn read_response_over<S: Read>(
    stream: &mut S,
    deadline: Instant,
) -> Result<HttpResponse, String> {
    read_response(stream, deadline, false, &mut |_| {})
}

/// Plays `path` with a request of another shape than [`Capture`]'s, in a background thread,
/// retrying every 5 ms until the edge answers 200 (up to `live_timeout`), then reading the
/// response until it ends (up to `total_timeout` from the start).
///
/// - [`Asked::Http10`]: `GET path HTTP/1.0`.
/// - [`Asked::AfterHead`]: `HEAD path` on a keep-alive connection, then `GET path` on the same
///   one, so the GET is not the first request of its connection.
pub fn play_asking(
    asked: Asked,
    addr: SocketAddr,
    path: &str,
    live_timeout: Duration,
    total_timeout: Duration,
) -> JoinHandle<Result<HttpResponse, String>> {
    let path = path.to_string();
    std::thread::spawn(move || {
        let deadline = Instant::now() + total_timeout;
        until_200(&format!("{asked:?} {path}"), live_timeout, || {
            let mut s = connect(addr)?;
            let write = |s: &mut TcpStream, head: String| {
                s.write_all(head.as_bytes())
                    .map_err(|e| format!("write request: {e}"))
            };
            match asked {
                Asked::Http10 => write(&mut s, format!("GET {path} HTTP/1.0\r\n\r\n"))?,
                Asked::AfterHead => {
                    write(
                        &mut s,
                        format!("HEAD {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
                    )?;
                    let head = read_response(&mut s, deadline, true, &mut |_| {})?;
                    if head.status != 200 {
                        return Ok(head);
                    }
                    write(
                        &mut s,
                        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
                    )?;
                }
            }
            read_response(&mut s, deadline, false, &mut |_| {})
        })
    })
}

/// Runs `attempt` every 5 ms until it gives a 200 (returned) or `live_timeout` passes (an error
/// naming `what` and the last status or error).
fn until_200(
    what: &str,
    live_timeout: Duration,
    mut attempt: impl FnMut() -> Result<HttpResponse, String>,
) -> Result<HttpResponse, String> {
    let start = Instant::now();
    let mut last = String::from("no attempt");
    while start.elapsed() < live_timeout {
        match attempt() {
            Ok(resp) if resp.status == 200 => return Ok(resp),
            Ok(resp) => last = format!("status {}", resp.status),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!(
        "{what} did not answer 200 within {live_timeout:?} (last: {last})"
    ))
}

/// The request shapes of [`play_asking`].
#[derive(Debug, Clone, Copy)]
pub enum Asked {
    /// An HTTP/1.0 GET.
    Http10,
    /// A GET after a HEAD on the same connection.
    AfterHead,
}

/// A player that captures the raw HTTP-FLV body in a background thread.
pub struct Capture {
    connected: mpsc::Receiver<Instant>,
    connected_at: Option<Instant>,
    handle: Option<JoinHandle<Result<HttpResponse, String>>>,
    pub label: String,
}

impl Capture {
    /// Polls `GET path` every 5 ms until the edge answers 200 (up to `live_timeout`), then
    /// keeps that response and reads its body until the edge ends it (up to `total_timeout`
    /// from the start). Polling with the real GET (not HEAD) means no time is lost between
    /// "the stream is known" and "the player is attached".
    pub fn start(
        label: &str,
        addr: SocketAddr,
        path: &str,
        live_timeout: Duration,
        total_timeout: Duration,
    ) -> Capture {
        let (tx, rx) = mpsc::channel();
        let path = path.to_string();
        let handle = std::thread::Builder::new()
            .name(format!("capture-{label}"))
            .spawn(move || {
                let deadline = Instant::now() + total_timeout;
                until_200(&format!("GET {path}"), live_timeout, || {
                    let mut s = connect(addr)?;
                    s.write_all(&request_bytes("GET", addr, &path))
                        .map_err(|e| format!("write request: {e}"))?;
                    let mut on_head = |status: u16| {
                        if status == 200 {
                            let _ = tx.send(Instant::now());
                        }
                    };
                    read_response(&mut s, deadline, false, &mut on_head)
                })
            })
            .expect("spawn capture thread");
        Capture {
            connected: rx,
            connected_at: None,
            handle: Some(handle),
            label: label.to_string(),
        }
    }

    /// Waits until the edge answered 200 (the player is attached). Returns the instant.
    pub fn wait_connected(&mut self, timeout: Duration) -> Option<Instant> {
        if self.connected_at.is_none() {
            self.connected_at = self.connected.recv_timeout(timeout).ok();
        }
        self.connected_at
    }

    /// The finished response. The thread is bounded by its own `total_timeout`.
    pub fn finish(mut self) -> Result<HttpResponse, String> {
        let h = self.handle.take().expect("finish once");
        h.join()
            .unwrap_or_else(|_| Err("capture thread panicked".into()))
    }
}
