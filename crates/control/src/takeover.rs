//! Requests answered on the socket itself instead of through hyper and the router.
//!
//! A listener given a [`Takeover`] reads the first request head of each connection itself
//! (under the same `http_header_timeout_ms` and `http_max_header_bytes` as hyper) and offers it
//! to the takeover. A request it claims gets the socket and is hyper's no more; any other (or
//! a head that is malformed or too large) goes on to hyper with the bytes already read put back
//! in front, so hyper answers it as if nothing had happened, 400 and 431 included.
//!
//! Why: a connection that hyper serves keeps, for as long as it is open, its read buffer and
//! its header buffer (8 KiB each, hyper's fixed minimum), its dispatcher and the router's
//! response future. For an API call that is nothing; for an HTTP-FLV player, whose one response
//! lasts the whole stream, it is most of what the player costs the edge.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use bytes::Bytes;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

/// Most header lines a head may have to be offered to a takeover; a head with more goes to
/// hyper, which has its own limit (100).
const MAX_HEADERS: usize = 64;

/// What a head is first read into; it grows (to `http_max_header_bytes` at most) only for a
/// longer head, and is freed once the head is parsed.
const FIRST_READ: usize = 1024;

/// A socket handed to a takeover: the connection's stream (TCP, or TLS over it), with its
/// place under the listener's connection limits.
pub trait TakenIo: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> TakenIo for T {}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request target as sent: path and query, not decoded.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub http_minor: u8,
    /// The header fields.
    pub headers: HeaderMap,
}

impl RequestHead {
    /// The target's path, before any `?`.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The target's query, after the first `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// Serves some requests on the socket itself; see the module docs.
pub trait Takeover: Send + Sync + 'static {
    /// Whether `head` is served by [`Takeover::serve`]; decided from the head alone, at once.
    fn claims(&self, head: &RequestHead) -> bool;

    /// Answers a claimed request on `io`; the connection closes when the future ends.
    fn serve(
        &self,
        head: RequestHead,
        io: Box<dyn TakenIo>,
        peer: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// How reading the first head of a connection ended.
pub(crate) enum FirstHead {
    /// A whole, well-formed head and every byte read (the head and whatever followed it).
    Parsed(RequestHead, Bytes),
    /// For hyper to answer: a head it will refuse (malformed, too large, too many fields), or
    /// one that is fine but not offered; the bytes read so far.
    ForHyper(Bytes),
    /// The head was not complete within the header timeout.
    TimedOut,
    /// The client closed or the read failed before a head: nothing to answer.
    Gone,
}

/// Reads the first request head from `io`: at most `max_bytes`, within `timeout`.
pub(crate) async fn read_first_head<I: AsyncRead + Unpin>(
    io: &mut I,
    max_bytes: usize,
    timeout: Duration,
) -> FirstHead {
    let mut buffer: Vec<u8> = Vec::new();
    let reading = async {
        loop {
            if buffer.len() >= max_bytes {
                return FirstHead::ForHyper(Bytes::from(std::mem::take(&mut buffer)));
            }
            let room = (max_bytes - buffer.len()).min(FIRST_READ.max(buffer.len()));
            buffer.reserve_exact(room);
            match io.read_buf(&mut buffer).await {
                Ok(0) | Err(_) => return FirstHead::Gone,
                Ok(_) => {}
            }
            match parse_head(&buffer) {
                ParsedHead::Complete(head) => {
                    return FirstHead::Parsed(head, Bytes::from(std::mem::take(&mut buffer)))
                }
                ParsedHead::Partial => {}
                ParsedHead::Refused => {
                    return FirstHead::ForHyper(Bytes::from(std::mem::take(&mut buffer)))
                }
            }
        }
    };
    tokio::time::timeout(timeout, reading)
        .await
        .unwrap_or(FirstHead::TimedOut)
}

/// What the start of a connection's bytes holds.
#[derive(Debug)]
pub enum ParsedHead {
    /// A whole head.
    Complete(RequestHead),
    /// The start of one: read more.
    Partial,
    /// Not a head a takeover is offered (malformed, or more than [`MAX_HEADERS`] fields).
    Refused,
}

/// The head at the start of `bytes`. Public for the fuzz target; the listener calls it on
/// every read of a first head.
pub fn parse_head(bytes: &[u8]) -> ParsedHead {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(bytes) {
        Ok(httparse::Status::Partial) => ParsedHead::Partial,
        Ok(httparse::Status::Complete(_)) => {
            owned_head(&request).map_or(ParsedHead::Refused, ParsedHead::Complete)
        }
        Err(_) => ParsedHead::Refused,
    }
}

fn owned_head(request: &httparse::Request<'_, '_>) -> Option<RequestHead> {
    let method = Method::from_bytes(request.method?.as_bytes()).ok()?;
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for field in request.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(field.value).ok()?;
        headers.append(name, value);
    }
    Some(RequestHead {
        method,
        target: request.path?.to_owned(),
        http_minor: request.version?,
        headers,
    })
}

/// A response head as bytes: the status line, `headers`, `Date` (RFC 9110 §6.6.1) and
/// `Connection: close`, for a takeover that writes its answer on the socket.
pub fn response_head(status: StatusCode, headers: &HeaderMap) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    // Writing to a Vec cannot fail.
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let _ = write!(
        head,
        "date: {}\r\nconnection: close\r\n\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    );
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_once_complete_and_refuse_garbage() {
        let head = b"GET /live/a.flv?token=x HTTP/1.1\r\nHost: e\r\nX-A: 1\r\n\r\n";
        for cut in 1..head.len() {
            assert!(
                matches!(parse_head(&head[..cut]), ParsedHead::Partial),
                "cut at {cut}"
            );
        }
        let ParsedHead::Complete(parsed) = parse_head(head) else {
            panic!("a whole head")
        };
        assert_eq!(parsed.method, Method::GET);
        assert_eq!(parsed.path(), "/live/a.flv");
        assert_eq!(parsed.query(), Some("token=x"));
        assert_eq!(parsed.http_minor, 1);
        assert_eq!(parsed.headers["x-a"], "1");
        assert!(matches!(
            parse_head(b"\x16\x03\x01garbage\r\n\r\n"),
            ParsedHead::Refused
        ));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse_head(many.as_bytes()), ParsedHead::Refused));
    }

    #[tokio::test]
    async fn the_first_head_is_bounded_in_size_and_time() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        tokio::io::AsyncWriteExt::write_all(&mut client, &[b'a'; 9000])
            .await
            .expect("write");
        let read = read_first_head(&mut server, 8192, Duration::from_secs(5)).await;
        assert!(matches!(read, FirstHead::ForHyper(bytes) if bytes.len() == 8192));

        let (_client, mut server) = tokio::io::duplex(64);
        let read = read_first_head(&mut server, 8192, Duration::from_millis(50)).await;
        assert!(matches!(read, FirstHead::TimedOut));

        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET /x HTTP/1.0\r\n\r\nrest")
            .await
            .expect("write");
        match read_first_head(&mut server, 8192, Duration::from_secs(5)).await {
            FirstHead::Parsed(head, bytes) => {
                assert_eq!((head.target.as_str(), head.http_minor), ("/x", 0));
                assert!(bytes.ends_with(b"\r\n\r\nrest"));
            }
            _ => panic!("a whole head is parsed"),
        }
    }

    #[test]
    fn a_response_head_ends_with_date_and_close() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("video/x-flv"));
        let head = String::from_utf8(response_head(StatusCode::OK, &headers)).expect("ascii");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\ndate: "));
        assert!(head.ends_with(" GMT\r\nconnection: close\r\n\r\n"));
    }
}
