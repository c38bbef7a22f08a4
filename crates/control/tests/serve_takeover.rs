//! A listener with a takeover: the first request of a connection goes to the takeover when it
//! claims it and to the router otherwise, with the bytes already read given back to hyper; a
//! first head that does not come in time is counted like hyper's own header time-outs; later
//! requests on a kept-alive connection are the router's.

use relay_control::metrics::Exposition;
use relay_control::takeover::{response_head, RequestHead, TakenIo, Takeover};
use relay_control::{serve_until, ConnectionLimits, HttpBounds, HttpLimits};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Claims `GET /taken` and answers it itself, echoing the query.
struct Echo;

impl Takeover for Echo {
    fn claims(&self, head: &RequestHead) -> bool {
        head.path() == "/taken"
    }

    fn serve(
        &self,
        head: RequestHead,
        mut io: Box<dyn TakenIo>,
        _peer: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let body = format!("taken {}", head.query().unwrap_or(""));
            let mut headers = axum::http::HeaderMap::new();
            headers.insert("content-length", body.len().into());
            let mut answer = response_head(axum::http::StatusCode::OK, &headers);
            answer.extend_from_slice(body.as_bytes());
            let _ = io.write_all(&answer).await;
        })
    }
}

/// Sends `request` on a new connection and reads until the server closes or 3 s pass.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn the_first_request_goes_to_the_takeover_only_when_claimed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bounds = HttpBounds::new(
        "test",
        HttpLimits {
            connections: ConnectionLimits {
                max_total: 16,
                max_per_ip: 16,
            },
            header_read_timeout: Duration::from_millis(300),
            max_header_bytes: 8192,
            max_body_bytes: 1024,
        },
    );
    let (_shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let router = axum::Router::new()
        .route("/routed", axum::routing::get(|| async { "routed" }))
        .route("/taken", axum::routing::get(|| async { "the router's" }));
    let takeover: Arc<dyn Takeover> = Arc::new(Echo);
    let _server = serve_until(
        "test",
        listener,
        router,
        bounds.clone(),
        None,
        Some(takeover),
        shutdown,
    );

    let taken = exchange(addr, b"GET /taken?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(taken.starts_with("HTTP/1.1 200 OK\r\n"), "{taken}");
    assert!(taken.ends_with("\r\n\r\ntaken x=1"), "{taken}");

    let routed = exchange(
        addr,
        b"GET /routed HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(routed.starts_with("HTTP/1.1 200 OK\r\n"), "{routed}");
    assert!(routed.ends_with("routed"), "{routed}");

    // Not the first request of its connection: the router answers both.
    let kept = exchange(
        addr,
        b"GET /routed HTTP/1.1\r\nHost: a\r\n\r\nGET /taken HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        kept.contains("routed") && kept.ends_with("the router's"),
        "{kept}"
    );

    // Malformed and oversized heads are hyper's to refuse.
    let garbage = exchange(addr, b"\x16\x03\x01 not http\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let huge = format!("GET /taken HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    let huge = exchange(addr, huge.as_bytes()).await;
    assert!(huge.starts_with("HTTP/1.1 431"), "{huge}");

    // Half a head, then silence: closed at the header time-out and counted.
    let slow = exchange(addr, b"GET /taken HTTP/1.1\r\nHost:").await;
    assert_eq!(slow, "", "nothing is answered to an incomplete head");
    let mut out = Exposition::new();
    bounds.render(&mut out, "test");
    let text = out.render();
    assert!(
        text.contains("test_http_header_timeouts_total{listener=\"test\"} 1"),
        "{text}"
    );
}
