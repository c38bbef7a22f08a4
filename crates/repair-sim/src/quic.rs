//! The repair path over real QUIC, sans-IO: quinn-proto's state machine with the repair
//! connection's own configuration (`repair_quic::endpoint`), its UDP packets carried by two
//! seeded [`netem`] links, in virtual time.
//!
//! - **Edge**: a client endpoint and connection configured by
//!   [`repair_quic::endpoint::client_config`], pinning the cloud's certificate fingerprint
//!   ([`Trust::Pinned`]) as an edge does.
//! - **Cloud**: a server endpoint configured by [`repair_quic::endpoint::server_config`] with an
//!   Ed25519 identity made from the simulation's seed. Ed25519 signatures are deterministic and of
//!   fixed length, so the handshake has the same size on every run (an ECDSA signature's DER
//!   length varies), which keeps a run reproducible.
//! - **Messages** go as the real edge and cloud send them (`repair_quic::channel::send_unordered`):
//!   one QUIC datagram when the message fits [`quinn_proto::Datagrams::max_size`], else alone on a
//!   unidirectional stream. Datagrams are queued with `drop = true`, so a full send buffer drops
//!   the oldest, as quinn's `Connection::send_datagram` does.
//! - **Links**: edge → cloud and cloud → edge, each with one-way delay RTT/2, the repair path's
//!   random loss and jitter, applied to every UDP packet (handshake, ACKs, keep-alives included).
//!
//! The handshake runs first, in virtual time, before the stream starts ([`QuicPath::connect`]).

use bytes::{Bytes, BytesMut};
use netem::{Loss, Netem, NetemConfig, SplitMix64};
use quinn_proto::{
    Connection, ConnectionHandle, DatagramEvent, Dir, Endpoint, EndpointConfig, Event, ReadError,
    StreamEvent, StreamId, WriteError,
};
use repair_quic::endpoint::{client_config, server_config, Trust};
use repair_quic::identity::{parse_fingerprint, Identity};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The name the edge dials (the pinned certificate is accepted whatever its names).
const SERVER_NAME: &str = "liverelay-cloud";
/// The handshake must be done by then (a few lost Initials at most, at the default 1 s PTO).
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(60);
/// PKCS #8 v1 wrapping of an Ed25519 seed (RFC 8410): this prefix, then the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// QUIC-level counters of one end of the repair connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuicSide {
    /// Repair messages this end sent (NACKs from the edge, answers from the cloud).
    pub messages_sent: u64,
    /// Messages queued as QUIC datagrams.
    pub datagrams_queued: u64,
    /// DATAGRAM frames quinn put on the wire (never retransmitted).
    pub datagrams_sent: u64,
    /// Datagrams queued but never sent: dropped (oldest first) by the datagram send buffer, or
    /// still queued when the run ended.
    pub datagrams_unsent: u64,
    /// Messages that did not fit a datagram and went on their own unidirectional stream.
    pub streams_opened: u64,
    /// Messages received whole (datagrams plus finished streams).
    pub messages_received: u64,
    /// Messages received on unidirectional streams.
    pub streams_received: u64,
    /// UDP packets this end sent.
    pub udp_packets_sent: u64,
    /// Bytes of UDP payload this end sent (QUIC headers, frames and AEAD tags included).
    pub udp_bytes_sent: u64,
    /// UDP packets from this end that the link dropped.
    pub udp_packets_lost_on_link: u64,
    /// Packets quinn's loss detection declared lost (lost on the link, or reordered by jitter
    /// past the packet or time threshold).
    pub packets_declared_lost: u64,
    /// Congestion events quinn's controller saw.
    pub congestion_events: u64,
    /// Congestion window at the end of the run, in bytes.
    pub final_cwnd: u64,
    /// Times quinn's MTU discovery took losses of large packets for a black hole and fell back
    /// to the 1200-byte base MTU (then datagrams are smaller, and long answers use streams).
    pub black_holes_detected: u64,
    /// Path MTU at the end of the run.
    pub final_mtu: u16,
    /// Largest datagram payload at the end of the run.
    pub final_max_datagram: usize,
    /// Smoothed RTT at the end of the run.
    pub final_rtt: Duration,
}

/// QUIC-level counters of a run on the real-QUIC repair path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuicReport {
    /// Virtual time from the edge's first Initial to both ends connected (before the stream).
    pub handshake: Duration,
    /// The edge's end (client).
    pub edge: QuicSide,
    /// The cloud's end (server).
    pub cloud: QuicSide,
    /// Why the connection was lost, if it was.
    pub connection_lost: Option<String>,
}

impl QuicReport {
    /// UDP packets lost on the links, both ways.
    pub fn udp_packets_lost(&self) -> u64 {
        self.edge.udp_packets_lost_on_link + self.cloud.udp_packets_lost_on_link
    }
}

impl fmt::Display for QuicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "QUIC handshake: {:?}", self.handshake)?;
        let ways = [
            ("edge -> cloud", &self.edge, &self.cloud),
            ("cloud -> edge", &self.cloud, &self.edge),
        ];
        for (name, from, to) in ways {
            writeln!(
                f,
                "QUIC {name}: {} messages sent ({} datagrams queued, {} sent, {} unsent; {} \
                 streams), {} received ({} on streams); {} UDP packets / {} B, {} lost on the \
                 link, {} declared lost, {} congestion events, {} MTU black holes; at the end cwnd {} B, \
                 MTU {}, max datagram {} B, RTT {:?}",
                from.messages_sent,
                from.datagrams_queued,
                from.datagrams_sent,
                from.datagrams_unsent,
                from.streams_opened,
                to.messages_received,
                to.streams_received,
                from.udp_packets_sent,
                from.udp_bytes_sent,
                from.udp_packets_lost_on_link,
                from.packets_declared_lost,
                from.congestion_events,
                from.black_holes_detected,
                from.final_cwnd,
                from.final_mtu,
                from.final_max_datagram,
                from.final_rtt
            )?;
        }
        if let Some(reason) = &self.connection_lost {
            writeln!(f, "QUIC connection lost: {reason}")?;
        }
        Ok(())
    }
}

/// One end: its endpoint, its connection (the cloud's once the first Initial arrived) and the
/// messages in and out.
struct Peer {
    endpoint: Endpoint,
    conn: Option<(ConnectionHandle, Connection)>,
    /// Where its packets come from.
    remote: SocketAddr,
    connected: bool,
    /// Unidirectional streams being read.
    reading: HashMap<StreamId, BytesMut>,
    /// Stream writes that did not go in whole (flow control), retried when writable.
    writing: VecDeque<(StreamId, Bytes)>,
    /// Messages waiting for stream credit (as `open_uni().await` waits).
    waiting: VecDeque<Bytes>,
    received: VecDeque<Bytes>,
    side: QuicSide,
    lost: Option<String>,
    buf: Vec<u8>,
}

impl Peer {
    fn new(endpoint: Endpoint, remote: SocketAddr) -> Self {
        Peer {
            endpoint,
            conn: None,
            remote,
            connected: false,
            reading: HashMap::new(),
            writing: VecDeque::new(),
            waiting: VecDeque::new(),
            received: VecDeque::new(),
            side: QuicSide::default(),
            lost: None,
            buf: Vec::new(),
        }
    }

    /// One UDP packet from the link.
    fn receive(&mut self, now: Instant, packet: Bytes, link: &mut Netem<Bytes>) {
        self.buf.clear();
        let event = self.endpoint.handle(
            now,
            self.remote,
            None,
            None,
            BytesMut::from(&packet[..]),
            &mut self.buf,
        );
        match event {
            Some(DatagramEvent::ConnectionEvent(ch, event)) => {
                if let Some((own, conn)) = self.conn.as_mut() {
                    if *own == ch {
                        conn.handle_event(event);
                    }
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                if self.conn.is_some() {
                    // One edge, one connection: a second Initial flow is refused.
                    self.endpoint.ignore(incoming);
                    return;
                }
                match self.endpoint.accept(incoming, now, &mut self.buf, None) {
                    Ok(accepted) => self.conn = Some(accepted),
                    Err(error) => {
                        self.lost = Some(format!("accept: {}", error.cause));
                        if let Some(transmit) = error.response {
                            link.send(now, Bytes::copy_from_slice(&self.buf[..transmit.size]));
                        }
                    }
                }
            }
            Some(DatagramEvent::Response(transmit)) => {
                link.send(now, Bytes::copy_from_slice(&self.buf[..transmit.size]));
            }
            None => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, conn)) = self.conn.as_mut() {
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.conn.as_mut().and_then(|(_, conn)| conn.poll_timeout())
    }

    /// Endpoint events, application events, then every packet the connection wants to send,
    /// until none is left.
    fn pump(&mut self, now: Instant, link: &mut Netem<Bytes>) {
        loop {
            let Some((ch, conn)) = self.conn.as_mut() else {
                return;
            };
            while let Some(event) = conn.poll_endpoint_events() {
                if let Some(event) = self.endpoint.handle_event(*ch, event) {
                    conn.handle_event(event);
                }
            }
            let mut events = false;
            while let Some(event) = self.conn.as_mut().and_then(|(_, conn)| conn.poll()) {
                events = true;
                self.on_event(event);
            }
            let Some((_, conn)) = self.conn.as_mut() else {
                return;
            };
            let mut sent = false;
            loop {
                self.buf.clear();
                let Some(transmit) = conn.poll_transmit(now, 1, &mut self.buf) else {
                    break;
                };
                sent = true;
                link.send(now, Bytes::copy_from_slice(&self.buf[..transmit.size]));
            }
            if !sent && !events {
                return;
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let Some((_, conn)) = self.conn.as_mut() else {
            return;
        };
        match event {
            Event::Connected => self.connected = true,
            Event::ConnectionLost { reason } => {
                self.lost.get_or_insert_with(|| reason.to_string());
            }
            Event::DatagramReceived => {
                while let Some(datagram) = conn.datagrams().recv() {
                    self.side.messages_received += 1;
                    self.received.push_back(datagram);
                }
            }
            Event::Stream(StreamEvent::Opened { dir: Dir::Uni }) => {
                let mut opened = Vec::new();
                while let Some(id) = conn.streams().accept(Dir::Uni) {
                    self.reading.insert(id, BytesMut::new());
                    opened.push(id);
                }
                for id in opened {
                    self.read(id);
                }
            }
            Event::Stream(StreamEvent::Readable { id }) => self.read(id),
            Event::Stream(StreamEvent::Writable { .. }) => self.retry_writes(),
            Event::Stream(StreamEvent::Available { dir: Dir::Uni }) => {
                while let Some(message) = self.waiting.pop_front() {
                    if !self.open_stream(message) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }

    /// Reads what arrived on a unidirectional stream; a finished stream is one message.
    fn read(&mut self, id: StreamId) {
        let (Some((_, conn)), Some(buffer)) = (self.conn.as_mut(), self.reading.get_mut(&id))
        else {
            return;
        };
        let mut stream = conn.recv_stream(id);
        let Ok(mut chunks) = stream.read(true) else {
            self.reading.remove(&id);
            return;
        };
        let mut finished = false;
        let mut reset = false;
        loop {
            match chunks.next(usize::MAX) {
                Ok(Some(chunk)) => buffer.extend_from_slice(&chunk.bytes),
                Ok(None) => {
                    finished = true;
                    break;
                }
                Err(ReadError::Blocked) => break,
                Err(ReadError::Reset(_)) => {
                    reset = true;
                    break;
                }
            }
        }
        let _ = chunks.finalize();
        if finished || reset {
            if let Some(buffer) = self.reading.remove(&id) {
                if finished {
                    self.side.messages_received += 1;
                    self.side.streams_received += 1;
                    self.received.push_back(buffer.freeze());
                }
            }
        }
    }

    /// Sends one message as `channel::send_unordered` does: a datagram when it fits, else its
    /// own unidirectional stream.
    fn send_message(&mut self, message: Bytes) {
        let Some((_, conn)) = self.conn.as_mut() else {
            return;
        };
        self.side.messages_sent += 1;
        let fits = conn
            .datagrams()
            .max_size()
            .is_some_and(|max| message.len() <= max);
        if fits && conn.datagrams().send(message.clone(), true).is_ok() {
            self.side.datagrams_queued += 1;
            return;
        }
        if !self.waiting.is_empty() || !self.open_stream(message.clone()) {
            self.waiting.push_back(message);
        }
    }

    /// Opens a unidirectional stream for `message`; false when no stream credit is left.
    fn open_stream(&mut self, message: Bytes) -> bool {
        let Some((_, conn)) = self.conn.as_mut() else {
            return false;
        };
        let Some(id) = conn.streams().open(Dir::Uni) else {
            return false;
        };
        self.side.streams_opened += 1;
        self.write(id, message);
        true
    }

    fn write(&mut self, id: StreamId, message: Bytes) {
        let Some((_, conn)) = self.conn.as_mut() else {
            return;
        };
        let mut stream = conn.send_stream(id);
        match stream.write(&message) {
            Ok(n) if n == message.len() => {
                let _ = stream.finish();
            }
            Ok(n) => self.writing.push_back((id, message.slice(n..))),
            Err(WriteError::Blocked) => self.writing.push_back((id, message)),
            Err(_) => {}
        }
    }

    fn retry_writes(&mut self) {
        for _ in 0..self.writing.len() {
            if let Some((id, rest)) = self.writing.pop_front() {
                self.write(id, rest);
            }
        }
    }

    fn finish(&mut self, link: &Netem<Bytes>) -> QuicSide {
        let mut side = self.side;
        side.udp_packets_lost_on_link = link.stats().lost;
        if let Some((_, conn)) = self.conn.as_mut() {
            let stats = conn.stats();
            side.udp_packets_sent = stats.udp_tx.datagrams;
            side.udp_bytes_sent = stats.udp_tx.bytes;
            side.datagrams_sent = stats.frame_tx.datagram;
            side.datagrams_unsent = side.datagrams_queued.saturating_sub(side.datagrams_sent);
            side.packets_declared_lost = stats.path.lost_packets;
            side.congestion_events = stats.path.congestion_events;
            side.final_cwnd = stats.path.cwnd;
            side.final_mtu = stats.path.current_mtu;
            side.black_holes_detected = stats.path.black_holes_detected;
            side.final_rtt = stats.path.rtt;
            side.final_max_datagram = conn.datagrams().max_size().unwrap_or(0);
        }
        side
    }
}

/// The repair connection between one edge and the cloud, with the links between them.
pub(crate) struct QuicPath {
    edge: Peer,
    cloud: Peer,
    /// Edge → cloud.
    up: Netem<Bytes>,
    /// Cloud → edge.
    down: Netem<Bytes>,
    handshake: Duration,
}

impl QuicPath {
    /// Sets both ends up and runs the handshake from `start`; returns the path and the instant
    /// both ends are connected.
    pub(crate) fn connect(
        start: Instant,
        link: NetemConfig,
        seed: u64,
        up_seed: u64,
        down_seed: u64,
    ) -> (Self, Instant) {
        let mut seeds = SplitMix64::new(seed);
        let mut bytes32 = || {
            let mut out = [0u8; 32];
            for chunk in out.chunks_mut(8) {
                chunk.copy_from_slice(&seeds.next_u64().to_le_bytes());
            }
            out
        };
        let identity = identity(bytes32());
        let fingerprint = parse_fingerprint(&identity.fingerprint())
            .expect("a fingerprint of our own certificate");
        let (endpoint_config, server) = server_config(identity).expect("the cloud's config");
        let client = client_config(&Trust::Pinned(fingerprint)).expect("the edge's config");
        let edge_addr: SocketAddr = "10.0.0.2:50000".parse().expect("address");
        let cloud_addr: SocketAddr = "10.0.0.1:4433".parse().expect("address");
        let cloud_endpoint = Endpoint::new(
            Arc::new(endpoint_config),
            Some(Arc::new(server)),
            true,
            Some(bytes32()),
        );
        let mut edge_endpoint = Endpoint::new(
            Arc::new(EndpointConfig::default()),
            None,
            true,
            Some(bytes32()),
        );
        let conn = edge_endpoint
            .connect(start, client, cloud_addr, SERVER_NAME)
            .expect("connect");
        let mut edge = Peer::new(edge_endpoint, cloud_addr);
        edge.conn = Some(conn);
        let mut path = QuicPath {
            edge,
            cloud: Peer::new(cloud_endpoint, edge_addr),
            up: Netem::new(link, up_seed),
            down: Netem::new(link, down_seed),
            handshake: Duration::ZERO,
        };
        let mut now = start;
        loop {
            path.handle_timeout(now);
            if path.edge.connected && path.cloud.connected {
                break;
            }
            assert!(
                path.edge.lost.is_none() && path.cloud.lost.is_none(),
                "the QUIC handshake failed: {:?} {:?}",
                path.edge.lost,
                path.cloud.lost
            );
            now = path
                .poll_timeout()
                .expect("a handshake in progress has a timer")
                .max(now);
            assert!(now - start < HANDSHAKE_LIMIT, "the QUIC handshake stalled");
        }
        path.handshake = now - start;
        (path, now)
    }

    /// A NACK from the edge.
    pub(crate) fn send_nack(&mut self, message: Bytes) {
        self.edge.send_message(message);
    }

    /// An answer from the cloud.
    pub(crate) fn send_answer(&mut self, message: Bytes) {
        self.cloud.send_message(message);
    }

    /// The next message that reached the cloud.
    pub(crate) fn poll_at_cloud(&mut self) -> Option<Bytes> {
        self.cloud.received.pop_front()
    }

    /// The next message that reached the edge.
    pub(crate) fn poll_at_edge(&mut self) -> Option<Bytes> {
        self.edge.received.pop_front()
    }

    /// The earliest of both connections' timers and both links' next arrivals.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.edge.poll_timeout(),
            self.cloud.poll_timeout(),
            self.up.poll_timeout(),
            self.down.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether a UDP packet is on either link.
    pub(crate) fn in_transit(&self) -> bool {
        self.up.poll_timeout().is_some() || self.down.poll_timeout().is_some()
    }

    /// Delivers the packets due by `now`, fires due timers and sends what follows.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(packet) = self.up.poll_recv(now) {
            self.cloud.receive(now, packet, &mut self.down);
        }
        while let Some(packet) = self.down.poll_recv(now) {
            self.edge.receive(now, packet, &mut self.up);
        }
        self.edge.handle_timeout(now);
        self.cloud.handle_timeout(now);
        self.flush(now);
    }

    /// Puts every packet either end has to send now on its link.
    pub(crate) fn flush(&mut self, now: Instant) {
        self.edge.pump(now, &mut self.up);
        self.cloud.pump(now, &mut self.down);
    }

    /// The counters at the end of the run.
    pub(crate) fn report(&mut self) -> QuicReport {
        QuicReport {
            handshake: self.handshake,
            edge: self.edge.finish(&self.up),
            cloud: self.cloud.finish(&self.down),
            connection_lost: self.edge.lost.clone().or_else(|| self.cloud.lost.clone()),
        }
    }
}

/// The link configuration of each direction of the QUIC path.
pub(crate) fn link(one_way: Duration, loss: f64, jitter: Duration) -> NetemConfig {
    NetemConfig {
        loss: if loss > 0.0 {
            Loss::Random(loss)
        } else {
            Loss::None
        },
        delay: one_way,
        jitter,
        ..NetemConfig::default()
    }
}

/// A self-signed Ed25519 identity from a 32-byte seed, with a fixed serial number: the same seed
/// gives the same certificate, byte for byte.
fn identity(seed: [u8; 32]) -> Identity {
    let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
    pkcs8.extend_from_slice(&seed);
    let pkcs8 = PrivatePkcs8KeyDer::from(pkcs8);
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .expect("an Ed25519 key from 32 bytes");
    let mut params =
        rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()]).expect("a valid name");
    params.serial_number = Some(rcgen::SerialNumber::from(1u64));
    let cert = params.self_signed(&key_pair).expect("a self-signed cert");
    Identity {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(pkcs8),
    }
}
