//! Listeners with bounded state: how many connections a node holds (in all and per source
//! address), and, for HTTP, how long and how large a request head may be and how large a body.
//! Anyone who can reach a port can open connections; these bounds keep one host from holding all
//! of a node's file descriptors or memory, as nginx's `limit_conn`, `client_header_timeout`,
//! `large_client_header_buffers` and `client_max_body_size` do.

use crate::metrics::Exposition;
use crate::takeover::{read_first_head, FirstHead, Takeover};
use crate::tls::TlsFiles;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Most connections a listener holds, in all and from one source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once on the listener (at least 1).
    pub max_total: usize,
    /// Most connections open at once from one source IP address (1 to `max_total`).
    pub max_per_ip: usize,
}

/// Counts open connections of one listener and admits a new one only under both limits. A
/// refused connection is closed at once by its caller, and counted here.
#[derive(Debug)]
pub struct ConnectionLimiter {
    /// The listener's name in `/metrics` (`listener` label).
    listener: &'static str,
    limits: ConnectionLimits,
    open: Mutex<Open>,
    accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_ip: AtomicU64,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Holds only addresses with an open connection, so never more than `max_total` entries.
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionPermit {
    limiter: Arc<ConnectionLimiter>,
    ip: IpAddr,
}

impl ConnectionLimiter {
    /// A limiter for the listener named `listener` in `/metrics`, with no connection open.
    pub fn new(listener: &'static str, limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(ConnectionLimiter {
            listener,
            limits,
            open: Mutex::new(Open::default()),
            accepted: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
        })
    }

    /// A place for a connection from `ip`, or `None` (counted) when the listener or that
    /// address is at its limit.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionPermit> {
        let mut open = self.open.lock();
        let refused = if open.total >= self.limits.max_total {
            &self.refused_total
        } else if open.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_per_ip {
            &self.refused_per_ip
        } else {
            open.total += 1;
            *open.per_ip.entry(ip).or_insert(0) += 1;
            self.accepted.fetch_add(1, Ordering::Relaxed);
            return Some(ConnectionPermit {
                limiter: self.clone(),
                ip,
            });
        };
        refused.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn open(&self) -> usize {
        self.open.lock().total
    }

    /// This listener's series, named `{prefix}_connections_*` (prefix: `liverelay_cloud`, ...).
    pub fn render(&self, out: &mut Exposition, prefix: &str) {
        let listener = [("listener", self.listener)];
        out.gauge(
            &format!("{prefix}_connections_open"),
            "TCP connections open, by listener.",
            &listener,
            self.open() as f64,
        );
        out.counter(
            &format!("{prefix}_connections_accepted_total"),
            "TCP connections admitted, by listener.",
            &listener,
            self.accepted.load(Ordering::Relaxed),
        );
        for (reason, counter) in [
            ("node_limit", &self.refused_total),
            ("ip_limit", &self.refused_per_ip),
        ] {
            out.counter(
                &format!("{prefix}_connections_refused_total"),
                "TCP connections closed at once because the listener (node_limit) or their source address (ip_limit) was at its limit.",
                &[("listener", self.listener), ("reason", reason)],
                counter.load(Ordering::Relaxed),
            );
        }
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// The bounds of one HTTP listener (`http_*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most connections in all and per source address.
    pub connections: ConnectionLimits,
    /// A request head not complete by then closes the connection (slowloris).
    pub header_read_timeout: Duration,
    /// A request head larger than this is answered 431 and the connection closed.
    pub max_header_bytes: usize,
    /// A request body larger than this is answered 413.
    pub max_body_bytes: usize,
}

impl ConnectionLimits {
    /// Both at least 1, and one address never allowed more than the listener.
    pub fn checked(max_total: usize, max_per_ip: usize) -> Result<Self, String> {
        if max_total == 0 || max_per_ip == 0 || max_per_ip > max_total {
            return Err(format!(
                "connection limits must be at least 1, per address at most the total ({max_per_ip} of {max_total})"
            ));
        }
        Ok(ConnectionLimits {
            max_total,
            max_per_ip,
        })
    }
}

/// The `http_*` keys as both roles' config sections write them.
#[derive(Debug, Clone, Copy)]
pub struct HttpKeys {
    /// `http_max_connections`: connections the listener holds at once (at least 1).
    pub max_connections: usize,
    /// `http_max_connections_per_ip`: connections one source address may hold (1 to
    /// `http_max_connections`).
    pub max_connections_per_ip: usize,
    /// `http_header_timeout_ms`: time in ms to receive a whole request head, 100 to 600000.
    pub header_timeout_ms: u64,
    /// `http_max_header_bytes`: largest request head in bytes, 8192 to 1048576.
    pub max_header_bytes: usize,
    /// `http_max_body_bytes`: largest request body in bytes, at least 1024.
    pub max_body_bytes: usize,
}

/// The [`HttpKeys`] of a config section with the `http_*` fields.
#[macro_export]
macro_rules! http_keys_of {
    ($config:expr) => {
        $crate::HttpKeys {
            max_connections: $config.http_max_connections,
            max_connections_per_ip: $config.http_max_connections_per_ip,
            header_timeout_ms: $config.http_header_timeout_ms,
            max_header_bytes: $config.http_max_header_bytes,
            max_body_bytes: $config.http_max_body_bytes,
        }
    };
}

impl HttpKeys {
    /// The limits, or the key (without its section) that is out of range and why.
    pub fn limits(&self) -> Result<HttpLimits, (&'static str, String)> {
        let connections =
            ConnectionLimits::checked(self.max_connections, self.max_connections_per_ip).map_err(
                |reason| match self.max_connections {
                    0 => ("http_max_connections", reason),
                    _ => ("http_max_connections_per_ip", reason),
                },
            )?;
        if !(100..=600_000).contains(&self.header_timeout_ms) {
            return Err(("http_header_timeout_ms", "must be 100 to 600000".into()));
        }
        if !(MIN_HEADER_BYTES..=1 << 20).contains(&self.max_header_bytes) {
            return Err((
                "http_max_header_bytes",
                format!("must be {MIN_HEADER_BYTES} to 1048576"),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(("http_max_body_bytes", "must be at least 1024".into()));
        }
        Ok(HttpLimits {
            connections,
            header_read_timeout: Duration::from_millis(self.header_timeout_ms),
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

/// Smallest `max_header_bytes` hyper accepts (its read buffer cannot be smaller).
pub const MIN_HEADER_BYTES: usize = 8192;

/// One HTTP listener's limits and the counters of what they refused.
#[derive(Debug)]
pub struct HttpBounds {
    limits: HttpLimits,
    connections: Arc<ConnectionLimiter>,
    header_timeouts: AtomicU64,
    headers_too_large: AtomicU64,
    bodies_too_large: AtomicU64,
    tls_handshakes_failed: AtomicU64,
}

impl HttpBounds {
    /// Bounds for the HTTP listener named `listener` in `/metrics`, with its own connection limiter
    /// and zeroed counters.
    pub fn new(listener: &'static str, limits: HttpLimits) -> Arc<Self> {
        Arc::new(HttpBounds {
            limits,
            connections: ConnectionLimiter::new(listener, limits.connections),
            header_timeouts: AtomicU64::new(0),
            headers_too_large: AtomicU64::new(0),
            bodies_too_large: AtomicU64::new(0),
            tls_handshakes_failed: AtomicU64::new(0),
        })
    }

    /// The listener's series: its connections and `{prefix}_http_*_total` refusals.
    pub fn render(&self, out: &mut Exposition, prefix: &str) {
        self.connections.render(out, prefix);
        let listener = [("listener", self.connections.listener)];
        for (name, help, counter) in [
            (
                "http_header_timeouts_total",
                "HTTP connections closed because a request head was not complete within http_header_timeout_ms.",
                &self.header_timeouts,
            ),
            (
                "http_headers_too_large_total",
                "HTTP requests refused with 431: the head was larger than http_max_header_bytes.",
                &self.headers_too_large,
            ),
            (
                "http_bodies_too_large_total",
                "HTTP requests refused with 413: the body was larger than http_max_body_bytes.",
                &self.bodies_too_large,
            ),
            (
                "http_tls_handshakes_failed_total",
                "HTTPS connections closed because the TLS handshake failed or did not finish within http_header_timeout_ms.",
                &self.tls_handshakes_failed,
            ),
        ] {
            out.counter(
                &format!("{prefix}_{name}"),
                help,
                &listener,
                counter.load(Ordering::Relaxed),
            );
        }
    }
}

/// Counts the 413s the body limit gave, wherever in the router they were made.
async fn count_body_refusals(
    State(bounds): State<Arc<HttpBounds>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        bounds.bodies_too_large.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// Serves `router` on `listener` under `bounds` in a task until `shutdown` changes; `what`
/// names it in logs. Each connection runs in its own task, so a slow client delays nobody.
/// With `tls`, every connection is HTTPS: the handshake must finish within the header timeout,
/// and one that fails or does not is counted and closed. With `takeover`, the first request of
/// each connection is offered to it before the router (see [`crate::takeover`]).
pub fn serve_until(
    what: &'static str,
    listener: TcpListener,
    router: axum::Router,
    bounds: Arc<HttpBounds>,
    tls: Option<Arc<TlsFiles>>,
    takeover: Option<Arc<dyn Takeover>>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            bounds.clone(),
            count_body_refusals,
        ))
        .layer(DefaultBodyLimit::max(bounds.limits.max_body_bytes));
    let acceptor = tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config()));
    tokio::spawn(async move {
        // Every connection task holds a sender; when all are gone, every connection is closed.
        let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: back off rather than spin.
                    tracing::warn!(%error, "{what}: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(permit) = bounds.connections.admit(peer.ip()) else {
                tracing::debug!(%peer, "{what}: connection refused at the connection limit");
                continue;
            };
            let connection = Connection {
                what,
                peer,
                service: TowerToHyperService::new(router.clone()),
                bounds: bounds.clone(),
                takeover: takeover.clone(),
                shutdown: shutdown.clone(),
            };
            let open = open_tx.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _open = open;
                // The permit travels with the socket: a connection upgraded to a WebSocket
                // leaves hyper but still holds its place under the limits.
                let stream = Held {
                    io: stream,
                    unread: Bytes::new(),
                    _permit: Some(permit),
                };
                // A task's allocation is its future's largest state, held for the
                // connection's whole life: the TLS session and hyper's connection are boxed
                // where they start, so a connection handed to the takeover (a player, for
                // hours) holds neither.
                match acceptor {
                    None => connection.serve(stream).await,
                    Some(acceptor) => Box::pin(connection.serve_tls(acceptor, stream)).await,
                }
            });
        }
        drop(open_tx);
        let _ = open_rx.recv().await;
    })
}

/// One admitted connection, before or after its TLS handshake.
struct Connection {
    what: &'static str,
    peer: std::net::SocketAddr,
    service: TowerToHyperService<axum::Router>,
    bounds: Arc<HttpBounds>,
    takeover: Option<Arc<dyn Takeover>>,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    /// The TLS handshake within the header timeout, then [`Connection::serve`].
    async fn serve_tls(
        self,
        acceptor: tokio_rustls::TlsAcceptor,
        stream: Held<tokio::net::TcpStream>,
    ) {
        let timeout = self.bounds.limits.header_read_timeout;
        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve(stream).await,
            Ok(Err(error)) => self.tls_failed(&error.to_string()),
            Err(_) => self.tls_failed("handshake timed out"),
        }
    }

    /// Serves HTTP/1.1 on `io`: the first request to the takeover if it claims it, the rest
    /// through hyper.
    async fn serve<I>(mut self, mut io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(takeover) = self.takeover.take() else {
            return Box::pin(self.serve_hyper(io)).await;
        };
        let limits = self.bounds.limits;
        let first = tokio::select! {
            first = Box::pin(read_first_head(&mut io, limits.max_header_bytes, limits.header_read_timeout)) => first,
            // Nothing asked yet: nothing to answer.
            _ = self.shutdown.changed() => return,
        };
        match first {
            FirstHead::Parsed(head, _) if takeover.claims(&head) => {
                takeover.serve(head, Box::new(io), self.peer).await;
            }
            FirstHead::Parsed(_, read) | FirstHead::ForHyper(read) => {
                let rewound = Held {
                    io,
                    unread: read,
                    _permit: None,
                };
                Box::pin(self.serve_hyper(rewound)).await;
            }
            FirstHead::TimedOut => {
                self.bounds.header_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %self.peer, "{}: no request head in time", self.what);
            }
            FirstHead::Gone => {}
        }
    }

    /// Serves HTTP/1.1 through hyper and the router until the client is done or the node
    /// shuts down (then gracefully: the request in progress is answered).
    async fn serve_hyper<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (what, peer, bounds) = (self.what, self.peer, self.bounds.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(bounds.limits.header_read_timeout)
            .max_buf_size(bounds.limits.max_header_bytes);
        let connection = builder
            .serve_connection(TokioIo::new(io), self.service)
            .with_upgrades();
        tokio::pin!(connection);
        let served = tokio::select! {
            served = connection.as_mut() => served,
            _ = self.shutdown.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = served {
            if error.is_timeout() {
                bounds.header_timeouts.fetch_add(1, Ordering::Relaxed);
            } else if error.is_parse_too_large() {
                bounds.headers_too_large.fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!(%peer, %error, "{what}: connection ended");
        }
    }

    fn tls_failed(&self, error: &str) {
        self.bounds
            .tls_handshakes_failed
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peer = %self.peer, error, "{}: TLS handshake failed", self.what);
    }
}

/// A stream with what travels with it: the permit it was admitted under (dropped with it), and
/// bytes already read from it, read again first (a head the takeover did not claim, for hyper).
struct Held<I> {
    io: I,
    unread: Bytes,
    _permit: Option<ConnectionPermit>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Held<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.unread.is_empty() {
            let take = self.unread.len().min(buf.remaining());
            buf.put_slice(&self.unread.split_to(take));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Held<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_put_back_are_read_first() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.expect("write");
        drop(client);
        let mut rewound = Held {
            io: server,
            unread: Bytes::from_static(b"hello"),
            _permit: None,
        };
        let mut all = String::new();
        rewound.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "hello world");
    }

    #[test]
    fn limiter_refuses_past_either_limit_and_frees_on_drop() {
        let limiter = ConnectionLimiter::new(
            "test",
            ConnectionLimits {
                max_total: 3,
                max_per_ip: 2,
            },
        );
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = limiter.admit(a).expect("first from a");
        let _second = limiter.admit(a).expect("second from a");
        assert!(
            limiter.admit(a).is_none(),
            "a third from a is over max_per_ip"
        );
        let _third = limiter.admit(b).expect("b has its own allowance");
        assert!(limiter.admit(b).is_none(), "the listener is full");
        drop(first);
        assert!(
            limiter.admit(a).is_some(),
            "a dropped permit frees its place"
        );
        assert_eq!(limiter.refused_per_ip.load(Ordering::Relaxed), 1);
        assert_eq!(limiter.refused_total.load(Ordering::Relaxed), 1);
        assert_eq!(limiter.accepted.load(Ordering::Relaxed), 4);
    }
}
