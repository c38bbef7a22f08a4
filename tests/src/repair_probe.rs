//! A repair client under the test's control (built from `repair-quic` and `relay-proto`, the
//! same framing the edge uses), to talk to the cloud's QUIC repair server directly: well-formed
//! requests whose answers are checked, and garbage.
//!
//! Async (quinn); run it inside a tokio runtime, e.g. [`run_async`].

use bytes::Bytes;
use quinn::{Connection, Endpoint, SendStream};
use relay_proto::{CloudMessage, EdgeMessage, NackRequest, REPAIR_VERSION};
use repair_quic::channel::{read_unordered, write_frame, FrameReader};
use repair_quic::endpoint::Trust;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The TLS server name the edges ask for by default.
pub const SERVER_NAME: &str = "liverelay-cloud";

/// Runs `f` on a fresh single-threaded tokio runtime (the e2e tests are synchronous).
pub fn run_async<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// The cloud's answer to a hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Greeting {
    Welcome,
    Refused(String),
    /// Something else, or nothing (the connection closed): described.
    Other(String),
}

/// One message from the cloud and how it came.
#[derive(Debug, Clone)]
pub struct Received {
    pub message: CloudMessage,
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Control,
    Datagram,
    UniStream,
}

/// A repair connection to the cloud.
pub struct RepairProbe {
    pub endpoint: Endpoint,
    pub connection: Connection,
    /// The control stream, after the hello.
    pub control: SendStream,
    pub greeting: Greeting,
    answers: mpsc::UnboundedReceiver<Received>,
    /// Everything received so far (the greeting excluded), in arrival order.
    pub log: Vec<Received>,
    /// Messages from the cloud that did not decode.
    pub undecodable: Arc<AtomicU64>,
    next_id: u32,
}

/// The pinned fingerprint of the cloud's certificate file, as an edge pins it.
pub fn pinned(cert_file: &Path) -> Result<Trust, String> {
    let chain = repair_quic::identity::load_certificates(cert_file).map_err(|e| e.to_string())?;
    let fp = repair_quic::identity::fingerprint(&chain[0]);
    let fp = repair_quic::identity::parse_fingerprint(&fp).ok_or("fingerprint")?;
    Ok(Trust::Pinned(fp))
}

impl RepairProbe {
    /// Connects (pinning the certificate in `cert_file`) and sends `hello` framed on a new
    /// control stream (`None`: a proper hello with `token`). Waits for the greeting.
    pub async fn connect(
        cloud: SocketAddr,
        cert_file: &Path,
        token: &str,
        raw_hello: Option<Bytes>,
    ) -> Result<RepairProbe, String> {
        let endpoint = repair_quic::endpoint::client("127.0.0.1:0".parse().expect("addr"))
            .map_err(|e| e.to_string())?;
        let config =
            repair_quic::endpoint::client_config(&pinned(cert_file)?).map_err(|e| e.to_string())?;
        let connecting = endpoint
            .connect_with(config, cloud, SERVER_NAME)
            .map_err(|e| format!("connect: {e}"))?;
        let connection = tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .map_err(|_| "QUIC handshake timed out".to_string())?
            .map_err(|e| format!("QUIC handshake: {e}"))?;
        let (mut control, mut recv) = connection
            .open_bi()
            .await
            .map_err(|e| format!("open control stream: {e}"))?;
        let hello = raw_hello.unwrap_or_else(|| {
            EdgeMessage::Hello {
                version: REPAIR_VERSION,
                token: token.to_string(),
                edge_name: "e2e-probe".into(),
            }
            .encode()
        });
        write_frame(&mut control, hello)
            .await
            .map_err(|e| format!("send hello: {e}"))?;
        let mut reader = FrameReader::default();
        let first = tokio::time::timeout(Duration::from_secs(10), reader.next(&mut recv)).await;
        let greeting = match first {
            Err(_) => Greeting::Other("no answer to the hello within 10 s".into()),
            Ok(Err(e)) => Greeting::Other(format!("control stream: {e}")),
            Ok(Ok(None)) => Greeting::Other("control stream finished".into()),
            Ok(Ok(Some(m))) => match CloudMessage::decode(m) {
                Ok(CloudMessage::Welcome { .. }) => Greeting::Welcome,
                Ok(CloudMessage::Refused { reason }) => Greeting::Refused(reason),
                Ok(other) => Greeting::Other(format!("{other:?}")),
                Err(e) => Greeting::Other(format!("undecodable greeting: {e}")),
            },
        };
        let (tx, answers) = mpsc::unbounded_channel();
        let undecodable = Arc::new(AtomicU64::new(0));
        spawn_readers(&connection, reader, recv, tx, undecodable.clone());
        Ok(RepairProbe {
            endpoint,
            connection,
            control,
            greeting,
            answers,
            log: Vec::new(),
            undecodable,
            next_id: 0x4000_0000,
        })
    }

    /// A fresh request id (never one an edge's counter would reach soon).
    pub fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// Sends a NACK in a datagram.
    pub fn nack(&self, request: NackRequest) -> Result<(), String> {
        self.datagram(EdgeMessage::Nack(request).encode())
    }

    pub fn datagram(&self, bytes: Bytes) -> Result<(), String> {
        self.connection
            .send_datagram(bytes)
            .map_err(|e| format!("send datagram: {e}"))
    }

    /// Sends `bytes` alone on a new unidirectional stream.
    pub async fn uni(&self, bytes: &[u8]) -> Result<(), String> {
        let mut s = self
            .connection
            .open_uni()
            .await
            .map_err(|e| format!("open uni: {e}"))?;
        s.write_all(bytes)
            .await
            .map_err(|e| format!("write uni: {e}"))?;
        let _ = s.finish();
        Ok(())
    }

    /// Writes raw bytes on the control stream (no framing added).
    pub async fn control_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.control
            .write_all(bytes)
            .await
            .map_err(|e| format!("write control: {e}"))
    }

    /// Pulls what has arrived into [`RepairProbe::log`], waiting up to `wait` for more.
    async fn pull(&mut self, wait: Duration) -> bool {
        match tokio::time::timeout(wait, self.answers.recv()).await {
            Ok(Some(r)) => {
                self.log.push(r);
                while let Ok(r) = self.answers.try_recv() {
                    self.log.push(r);
                }
                true
            }
            _ => false,
        }
    }

    /// Waits up to `timeout` until `done` holds for the log (it is given the messages received
    /// since `from`); returns whether it did.
    pub async fn wait_until(
        &mut self,
        from: usize,
        timeout: Duration,
        mut done: impl FnMut(&[Received]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.log[from.min(self.log.len())..]) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.pull(left.min(Duration::from_millis(50))).await;
        }
    }

    /// Sends the request `make(id)` (a fresh id each time) every second until `done` holds for
    /// what arrived since the first send, at most `attempts` times. Returns those messages.
    pub async fn ask(
        &mut self,
        attempts: u32,
        mut make: impl FnMut(u32) -> NackRequest,
        mut done: impl FnMut(&[Received]) -> bool,
    ) -> Result<Vec<Received>, Vec<Received>> {
        let from = self.log.len();
        for _ in 0..attempts {
            let id = self.id();
            if let Err(e) = self.nack(make(id)) {
                eprintln!("repair probe: {e}");
            }
            if self
                .wait_until(from, Duration::from_secs(1), &mut done)
                .await
            {
                return Ok(self.log[from..].to_vec());
            }
        }
        Err(self.log[from..].to_vec())
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.connection.close_reason().is_none()
    }

    pub fn close(&self) {
        self.connection.close(0u32.into(), b"probe done");
    }
}

fn spawn_readers(
    connection: &Connection,
    mut reader: FrameReader,
    mut recv: quinn::RecvStream,
    tx: mpsc::UnboundedSender<Received>,
    undecodable: Arc<AtomicU64>,
) {
    let push = {
        let tx = tx.clone();
        let undecodable = undecodable.clone();
        move |bytes: Bytes, via: Via| match CloudMessage::decode(bytes) {
            Ok(message) => {
                let _ = tx.send(Received { message, via });
            }
            Err(_) => {
                undecodable.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let p = push.clone();
    tokio::spawn(async move {
        while let Ok(Some(m)) = reader.next(&mut recv).await {
            p(m, Via::Control);
        }
    });
    let (c, p) = (connection.clone(), push.clone());
    tokio::spawn(async move {
        while let Ok(d) = c.read_datagram().await {
            p(d, Via::Datagram);
        }
    });
    let c = connection.clone();
    tokio::spawn(async move {
        while let Ok(stream) = c.accept_uni().await {
            let p = push.clone();
            tokio::spawn(async move {
                if let Ok(m) = read_unordered(stream).await {
                    p(m, Via::UniStream);
                }
            });
        }
    });
}
