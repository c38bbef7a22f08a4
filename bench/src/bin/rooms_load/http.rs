//! Just enough HTTP/1.1 for the load: keep-alive request/answer exchanges with a
//! `Content-Length` body, signed `/server` requests, and the envelope's `data` fields.

use crate::Options;
use relay_control::auth::{format_qiniu_date, sign_request, KeyPair, RequestParts, SecretKey};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Connection, String> {
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
    pub async fn exchange(&mut self, request: &[u8]) -> Result<(u16, String), String> {
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

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text.into_bytes()
}

/// A signed `/server` request.
pub fn signed(options: &Options, method: &str, path: &str, body: &str) -> Result<Vec<u8>, String> {
    let host = options.api[0].to_string();
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
pub fn field(answer: (u16, String), field: &str) -> Result<String, String> {
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
