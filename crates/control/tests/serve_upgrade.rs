//! A connection upgraded away from HTTP (a WebSocket player) keeps its place under the
//! listener's connection limits: hyper lets go of the socket at the upgrade, the permit must not.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use relay_control::{serve_until, ConnectionLimits, HttpBounds, HttpLimits};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers 101 and keeps the upgraded socket open for a while.
async fn upgrade(request: Request) -> Response {
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(request).await {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(upgraded);
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "test")
        .body(Body::empty())
        .expect("a valid response")
}

/// Reads until the peer closes or `limit` passes; what was read.
async fn read_some(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(limit, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    got
}

#[tokio::test]
async fn an_upgraded_connection_still_counts_against_the_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bounds = HttpBounds::new(
        "test",
        HttpLimits {
            connections: ConnectionLimits {
                max_total: 1,
                max_per_ip: 1,
            },
            header_read_timeout: Duration::from_secs(5),
            max_header_bytes: 8192,
            max_body_bytes: 1024,
        },
    );
    let (_shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let router = axum::Router::new().route("/up", get(upgrade));
    let _server = serve_until("test", listener, router, bounds, None, None, shutdown);

    let mut first = TcpStream::connect(addr).await.expect("connect");
    first
        .write_all(b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n")
        .await
        .expect("write");
    let head = read_some(&mut first, Duration::from_secs(2)).await;
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    // The upgraded connection is still open: a second one is over the limit and closed at once.
    let mut second = TcpStream::connect(addr).await.expect("connect");
    let _ = second
        .write_all(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_some(&mut second, Duration::from_secs(2)).await;
    assert!(
        answer.is_empty(),
        "a second connection was served while the upgraded one held the only place: {:?}",
        String::from_utf8_lossy(&answer)
    );
}
