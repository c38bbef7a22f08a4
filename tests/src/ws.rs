//! A WebSocket-FLV player: connects with tungstenite (an independent RFC 6455 client), retries
//! until the edge accepts the upgrade, and keeps every binary message and the close frame.

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// What a WebSocket player received.
#[derive(Debug, Default)]
pub struct WsReceived {
    /// The binary messages, in order.
    pub messages: Vec<Vec<u8>>,
    /// The close frame's code and reason, if the edge sent one.
    pub close: Option<(u16, String)>,
    /// Text messages (the edge sends none).
    pub texts: usize,
}

impl WsReceived {
    /// The binary messages joined: what an HTTP-FLV player gets as its body.
    pub fn concatenated(&self) -> Vec<u8> {
        self.messages.concat()
    }
}

/// A WebSocket player in a background thread.
pub struct WsCapture {
    connected: mpsc::Receiver<Instant>,
    handle: JoinHandle<Result<WsReceived, String>>,
    pub label: String,
}

impl WsCapture {
    /// Asks to upgrade `ws://addr/path` every 5 ms until the edge answers 101 (up to
    /// `live_timeout`), then reads until the edge closes (up to `total_timeout` from the start).
    pub fn start(
        label: &str,
        addr: SocketAddr,
        path: &str,
        live_timeout: Duration,
        total_timeout: Duration,
    ) -> WsCapture {
        let (tx, rx) = mpsc::channel();
        let url = format!("ws://{addr}{path}");
        let handle = std::thread::Builder::new()
            .name(format!("ws-{label}"))
            .spawn(move || {
                let start = Instant::now();
                let mut last = String::from("no attempt");
                let mut socket = loop {
                    if start.elapsed() > live_timeout {
                        return Err(format!(
                            "{url} did not accept the upgrade within {live_timeout:?} (last: {last})"
                        ));
                    }
                    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
                    match tungstenite::client(url.as_str(), stream) {
                        Ok((socket, _)) => break socket,
                        Err(tungstenite::HandshakeError::Failure(
                            tungstenite::Error::Http(response),
                        )) => last = format!("status {}", response.status()),
                        Err(e) => last = e.to_string(),
                    }
                    std::thread::sleep(Duration::from_millis(5));
                };
                let _ = tx.send(Instant::now());
                let remaining = total_timeout.saturating_sub(start.elapsed());
                socket
                    .get_ref()
                    .set_read_timeout(Some(remaining.max(Duration::from_millis(1))))
                    .map_err(|e| e.to_string())?;
                let mut received = WsReceived::default();
                loop {
                    match socket.read() {
                        Ok(Message::Binary(bytes)) => received.messages.push(bytes.to_vec()),
                        Ok(Message::Text(_)) => received.texts += 1,
                        Ok(Message::Close(frame)) => {
                            received.close = frame
                                .map(|f| (u16::from(f.code), f.reason.to_string()))
                                .or(Some((u16::from(CloseCode::Status), String::new())));
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::ConnectionClosed) => return Ok(received),
                        Err(e) => {
                            return Err(format!(
                                "reading after {} messages: {e}",
                                received.messages.len()
                            ))
                        }
                    }
                }
            })
            .expect("spawn the WebSocket player");
        WsCapture {
            connected: rx,
            handle,
            label: label.to_string(),
        }
    }

    /// Waits until the edge accepted the upgrade.
    pub fn wait_connected(&self, timeout: Duration) -> Option<Instant> {
        self.connected.recv_timeout(timeout).ok()
    }

    /// Everything received, once the edge closed the socket.
    pub fn finish(self) -> Result<WsReceived, String> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err("WebSocket player thread panicked".into()))
    }
}
