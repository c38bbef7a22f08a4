//! HTTP-FLV written on the socket: the edge's [`Takeover`] of the first request of a connection
//! when it is `GET /APP/NAME.flv` (not a WebSocket upgrade, no percent-encoding), the way almost
//! every player asks. Admission is the router's ([`crate::http::admit`]); the answer is the
//! same head and the same bytes, written here instead of through hyper.
//!
//! What it saves a player: hyper's per-connection buffers and dispatcher, the router's response
//! future and the boxed body, for the whole life of the stream; and per write, the chunk framing
//! of every tag. All the buffers a wake-up finds queued (up to [`MAX_BATCH`]) go out in one
//! vectored write as one chunk (RFC 9112 §7.1), framed by a fixed-width size line and a CRLF
//! held in the player's own state, so nothing is allocated or copied per write. An HTTP/1.0
//! request gets the body without chunking, delimited by the close (RFC 9112 §6.3).
//!
//! How it ends: at the end of the stream, the last chunk and a close; when the player is cut
//! off for staying behind, a close without the last chunk, so the player sees a cut, not an
//! end; when the client closes (what it sends is read and dropped), at once.

use crate::http::{admit, play_headers, Refusal};
use crate::player::{PlayerBody, Taken};
use crate::state::HttpState;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use bytes::{Buf, Bytes};
use relay_control::takeover::{response_head, RequestHead, TakenIo, Takeover};
use relay_control::{RequestId, REQUEST_ID_HEADER};
use std::future::{poll_fn, Future};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, ReadBuf};

/// Most queued buffers one write takes (plus the chunk's two framing slices); a wake-up
/// usually finds a tick's two or three.
const MAX_BATCH: usize = 16;

/// `XXXXXXXX\r\n`: the chunk-size line, eight hex digits with leading zeros, which RFC 9112
/// §7.1 allows, so it is built in place without formatting.
const SIZE_LINE: usize = 10;

/// The last chunk and the empty trailer section.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// How long the end of a response (the last chunk, or a refusal) may wait for a client that
/// does not read before the connection is dropped.
const ENDING_TIMEOUT: Duration = Duration::from_secs(5);

/// The edge's [`Takeover`]: HTTP-FLV players.
pub struct FlvPlayers {
    state: Arc<HttpState>,
}

impl FlvPlayers {
    /// Players admitted and joined with `state`, as the router's handler does.
    pub fn new(state: HttpState) -> Self {
        FlvPlayers {
            state: Arc::new(state),
        }
    }
}

/// `(APP, NAME)` of `/APP/NAME.flv`; anything else (other paths, encoded or empty parts) is
/// left to the router.
fn flv_target(path: &str) -> Option<(&str, &str)> {
    let (app, file) = path.strip_prefix('/')?.split_once('/')?;
    let name = file.strip_suffix(".flv")?;
    let plain = |part: &str| !part.is_empty() && !part.contains(['/', '%']);
    (plain(app) && plain(name)).then_some((app, name))
}

impl Takeover for FlvPlayers {
    fn claims(&self, head: &RequestHead) -> bool {
        head.method == Method::GET
            && !head.headers.contains_key(header::UPGRADE)
            && flv_target(head.path()).is_some()
    }

    fn serve(
        &self,
        head: RequestHead,
        io: Box<dyn TakenIo>,
        peer: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(serve(self.state.clone(), head, io, peer))
    }
}

/// A player admitted, joined and answered with the response head.
struct Started {
    stream: String,
    body: PlayerBody,
    chunked: bool,
}

/// Serves one player for the life of the stream. The admission and the ending are boxed where
/// they run: this future stays allocated as long as the player plays, so it holds only what
/// the stream needs (the socket, the queue, one write's state), not the request or its checks.
async fn serve(
    state: Arc<HttpState>,
    head: RequestHead,
    mut io: Box<dyn TakenIo>,
    peer: SocketAddr,
) {
    let Some(started) = Box::pin(start(&state, head, &mut io)).await else {
        return;
    };
    let _tracked = state.tasks.token();
    drop(state);
    let Started {
        stream,
        mut body,
        chunked,
    } = started;
    tracing::debug!(%stream, %peer, "player joined");
    let mut out = Outgoing::new(chunked);
    match poll_fn(|cx| play(cx, &mut *io, &mut body, &mut out)).await {
        Ending::Finished => Box::pin(finish(io, chunked)).await,
        Ending::CutOff => tracing::debug!(%stream, %peer, "player cut off"),
        Ending::ClientGone => {}
    }
}

/// Admits and joins the player and writes the response head; answers a refusal itself.
async fn start(state: &HttpState, head: RequestHead, io: &mut Box<dyn TakenIo>) -> Option<Started> {
    let (app, name) = flv_target(head.path())?;
    let request_id = HeaderValue::from_str(&RequestId::of_headers(&head.headers)).ok();
    let joined = match admit(state, app, name, head.query()).await {
        Ok(stream) => stream.join(state).await.map(|player| (stream.name, player)),
        Err(refusal) => Err(refusal),
    };
    let (stream, player) = match joined {
        Ok(joined) => joined,
        Err(refusal) => {
            refuse(io, refusal, request_id).await;
            return None;
        }
    };
    let chunked = head.http_minor >= 1;
    let mut headers = play_headers();
    if chunked {
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    if let Some(id) = request_id {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    io.write_all(&response_head(StatusCode::OK, &headers))
        .await
        .ok()?;
    Some(Started {
        stream,
        body: PlayerBody::new(player),
        chunked,
    })
}

/// The end of a stream that ended: the last chunk, when chunked, and the close.
async fn finish(mut io: Box<dyn TakenIo>, chunked: bool) {
    let ending = async {
        if chunked {
            io.write_all(LAST_CHUNK).await?;
        }
        io.shutdown().await
    };
    let _ = tokio::time::timeout(ENDING_TIMEOUT, ending).await;
}

/// Answers a refused player (403 or 404, with the router's headers and text) and closes.
async fn refuse(io: &mut Box<dyn TakenIo>, refusal: Refusal, request_id: Option<HeaderValue>) {
    let text = format!("{}\n", refusal.message);
    let status = refusal.status;
    let mut headers = std::mem::take(refusal.into_response().headers_mut());
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    if let Some(id) = request_id {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    let mut answer = response_head(status, &headers);
    answer.extend_from_slice(text.as_bytes());
    let ending = async {
        io.write_all(&answer).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(ENDING_TIMEOUT, ending).await;
}

/// Why a player's response stopped.
enum Ending {
    /// The stream ended and everything queued was written.
    Finished,
    /// The player stayed behind and was cut off.
    CutOff,
    /// The client closed, or the socket failed.
    ClientGone,
}

/// Writes `body`'s queue to `io` until the response ends: every wake-up reads and drops what the
/// client sent, takes what is queued and writes it in one vectored write.
fn play(
    cx: &mut Context<'_>,
    io: &mut dyn TakenIo,
    body: &mut PlayerBody,
    out: &mut Outgoing,
) -> Poll<Ending> {
    loop {
        if client_closed(cx, io) {
            return Poll::Ready(Ending::ClientGone);
        }
        let room = if out.is_empty() { MAX_BATCH } else { 0 };
        match body.poll_take(cx, &mut out.batch, room) {
            Err(_) => return Poll::Ready(Ending::CutOff),
            Ok(Taken::Some) => out.frame(),
            Ok(Taken::Finished) if out.is_empty() => return Poll::Ready(Ending::Finished),
            Ok(_) if out.is_empty() => return Poll::Pending,
            Ok(_) => {}
        }
        let mut slices = [IoSlice::new(&[]); MAX_BATCH + 2];
        let count = out.slices(&mut slices);
        match Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Ending::ClientGone),
            Poll::Ready(Ok(written)) => out.advance(written),
        }
    }
}

/// Reads and drops whatever the client sent; whether it closed (or the read failed).
fn client_closed(cx: &mut Context<'_>, io: &mut dyn TakenIo) -> bool {
    let mut scratch = [0u8; 512];
    loop {
        let mut buf = ReadBuf::new(&mut scratch);
        match Pin::new(&mut *io).poll_read(cx, &mut buf) {
            Poll::Pending => return false,
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return true,
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return true,
        }
    }
}

/// The buffers of one write and, when chunked, their chunk's framing; each partly written.
struct Outgoing {
    chunked: bool,
    /// Queued buffers taken from the player, oldest first; the first may be partly written.
    batch: Vec<Bytes>,
    size_line: [u8; SIZE_LINE],
    /// How much of `size_line` is written (all of it when not chunked).
    size_written: usize,
    /// Bytes of the CRLF after the chunk's data still to write.
    crlf_left: usize,
}

impl Outgoing {
    fn new(chunked: bool) -> Self {
        Outgoing {
            chunked,
            batch: Vec::new(),
            size_line: [0; SIZE_LINE],
            size_written: SIZE_LINE,
            crlf_left: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.batch.is_empty() && self.size_written == SIZE_LINE && self.crlf_left == 0
    }

    /// Frames the buffers just taken as one chunk.
    fn frame(&mut self) {
        if !self.chunked {
            return;
        }
        let size: usize = self.batch.iter().map(Bytes::len).sum();
        for (at, digit) in self.size_line[..8].iter_mut().enumerate() {
            *digit = b"0123456789abcdef"[(size >> (4 * (7 - at))) & 0xf];
        }
        self.size_line[8..].copy_from_slice(b"\r\n");
        self.size_written = 0;
        self.crlf_left = 2;
    }

    /// What is left to write, in order, as slices in `slices`; how many.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_BATCH + 2]) -> usize {
        let mut count = 0;
        if self.size_written < SIZE_LINE {
            slices[count] = IoSlice::new(&self.size_line[self.size_written..]);
            count += 1;
        }
        for bytes in self.batch.iter().take(MAX_BATCH) {
            slices[count] = IoSlice::new(bytes);
            count += 1;
        }
        if self.crlf_left > 0 && self.batch.len() <= MAX_BATCH {
            slices[count] = IoSlice::new(&b"\r\n"[2 - self.crlf_left..]);
            count += 1;
        }
        count
    }

    /// Marks `written` bytes, from the front, as written.
    fn advance(&mut self, mut written: usize) {
        let line = (SIZE_LINE - self.size_written).min(written);
        self.size_written += line;
        written -= line;
        while written > 0 {
            let Some(front) = self.batch.first_mut() else {
                break;
            };
            if written < front.len() {
                front.advance(written);
                return;
            }
            written -= front.len();
            self.batch.remove(0);
        }
        self.crlf_left -= written.min(self.crlf_left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(out: &Outgoing) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); MAX_BATCH + 2];
        let count = out.slices(&mut slices);
        slices[..count].iter().flat_map(|s| s.to_vec()).collect()
    }

    #[test]
    fn a_batch_is_one_chunk_however_the_writes_split_it() {
        for step in [1, 3, 7, 1000] {
            let mut out = Outgoing::new(true);
            out.batch
                .extend([Bytes::from_static(b"FLV"), Bytes::from_static(b"tag-bytes")]);
            out.frame();
            let mut sent = Vec::new();
            while !out.is_empty() {
                let left = written(&out);
                let take = step.min(left.len());
                sent.extend_from_slice(&left[..take]);
                out.advance(take);
            }
            assert_eq!(sent, b"0000000c\r\nFLVtag-bytes\r\n", "writes of {step}");
        }
    }

    #[test]
    fn unchunked_bodies_are_the_buffers_alone() {
        let mut out = Outgoing::new(false);
        out.batch.push(Bytes::from_static(b"abc"));
        out.frame();
        assert_eq!(written(&out), b"abc");
        out.advance(3);
        assert!(out.is_empty());
    }

    #[test]
    fn only_plain_flv_paths_are_taken() {
        assert_eq!(flv_target("/live/a.flv"), Some(("live", "a")));
        for path in [
            "/live/a.m3u8",
            "/live/a%20b.flv",
            "/live/.flv",
            "//a.flv",
            "/a/b/c.flv",
        ] {
            assert_eq!(flv_target(path), None, "{path}");
        }
    }
}
