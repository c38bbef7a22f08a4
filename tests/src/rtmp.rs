//! A hand-driven RTMP client (rml_rtmp 0.8's client side over a blocking socket), used to
//! send what ffmpeg never sends.

use bytes::Bytes;
use rml_amf0::Amf0Value;
use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).ok();
    Ok(s)
}

/// Reads once; Ok(None) on a read timeout tick, Err on EOF or error.
fn read_tick(s: &mut TcpStream, buf: &mut [u8]) -> Result<Option<usize>, String> {
    match s.read(buf) {
        Ok(0) => Err("connection closed by the server".into()),
        Ok(n) => Ok(Some(n)),
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Performs the client side of the RTMP handshake; returns the socket and the bytes the
/// server sent after its part of the handshake.
pub fn handshake(addr: SocketAddr) -> Result<(TcpStream, Vec<u8>), String> {
    let mut s = connect(addr)?;
    let mut hs = Handshake::new(PeerType::Client);
    let c0c1 = hs
        .generate_outbound_p0_and_p1()
        .map_err(|e| format!("{e:?}"))?;
    s.write_all(&c0c1).map_err(|e| format!("write C0C1: {e}"))?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = vec![0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err("handshake timed out".into());
        }
        let Some(n) = read_tick(&mut s, &mut buf)? else {
            continue;
        };
        match hs.process_bytes(&buf[..n]).map_err(|e| format!("{e:?}"))? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                s.write_all(&response_bytes)
                    .map_err(|e| format!("write handshake: {e}"))?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                s.write_all(&response_bytes)
                    .map_err(|e| format!("write C2: {e}"))?;
                return Ok((s, remaining_bytes));
            }
        }
    }
}

/// An RTMP client that has been accepted as publisher of `live/<name>`.
pub struct RawPublisher {
    pub socket: TcpStream,
    pub session: ClientSession,
    /// The message stream id the server gave the publishing stream.
    pub stream_id: u32,
    serializer: ChunkSerializer,
}

/// Handshake and `connect("live")`, accepted: a session that has not published yet.
pub fn connected(
    addr: SocketAddr,
) -> Result<(TcpStream, ClientSession, Vec<ClientSessionEvent>), String> {
    let (mut s, remaining) = handshake(addr)?;
    let mut config = ClientSessionConfig::new();
    config.tc_url = Some(format!("rtmp://{addr}/live"));
    let (mut session, initial) = ClientSession::new(config).map_err(|e| format!("{e:?}"))?;
    let mut events = Vec::new();
    send_results(&mut s, initial, &mut events)?;
    let r = session
        .handle_input(&remaining)
        .map_err(|e| format!("{e:?}"))?;
    send_results(&mut s, r, &mut events)?;
    let r = session
        .request_connection("live".into())
        .map_err(|e| format!("{e:?}"))?;
    send_results(&mut s, vec![r], &mut events)?;
    pump_until(&mut s, &mut session, &mut events, |e| {
        matches!(e, ClientSessionEvent::ConnectionRequestAccepted)
    })?;
    Ok((s, session, events))
}

impl RawPublisher {
    /// Handshake, `connect("live")`, `createStream` + `publish(name, live)`; waits for the
    /// server to accept.
    pub fn connect_and_publish(addr: SocketAddr, name: &str) -> Result<RawPublisher, String> {
        let (mut s, mut session, mut events) = connected(addr)?;
        let r = session
            .request_publishing(name.into(), PublishRequestType::Live)
            .map_err(|e| format!("{e:?}"))?;
        send_results(&mut s, vec![r], &mut events)?;
        pump_until(&mut s, &mut session, &mut events, |e| {
            matches!(e, ClientSessionEvent::PublishRequestAccepted)
        })?;
        // rml_rtmp does not expose the stream id the server allocated; let the session
        // serialize a metadata message (never sent) and read the id back from its header.
        let probe = match session
            .publish_metadata(&StreamMetadata::new())
            .map_err(|e| format!("{e:?}"))?
        {
            ClientSessionResult::OutboundResponse(p) => p,
            other => return Err(format!("unexpected {other:?}")),
        };
        let mut de = ChunkDeserializer::new();
        let payload = de
            .get_next_message(&probe.bytes)
            .map_err(|e| format!("{e:?}"))?
            .ok_or("could not read back the probe message")?;
        Ok(RawPublisher {
            socket: s,
            session,
            stream_id: payload.message_stream_id,
            serializer: ChunkSerializer::new(),
        })
    }

    /// Sends an AMF0 data message (type 18) with these values on the publishing stream,
    /// serialized by our own chunk serializer (always with a full type-0 chunk header, on
    /// chunk stream 3, below the default chunk size of 128).
    pub fn send_amf0_data(&mut self, values: Vec<Amf0Value>) -> Result<(), String> {
        let payload = RtmpMessage::Amf0Data { values }
            .into_message_payload(RtmpTimestamp::new(0), self.stream_id)
            .map_err(|e| format!("{e:?}"))?;
        assert!(payload.data.len() < 128, "keep the message in one chunk");
        let packet = self
            .serializer
            .serialize(&payload, true, false)
            .map_err(|e| format!("{e:?}"))?;
        self.socket
            .write_all(&packet.bytes)
            .map_err(|e| format!("write data message: {e}"))
    }

    /// Sends a video message through the session (a valid publish).
    pub fn send_video(&mut self, data: Bytes, ts: u32) -> Result<(), String> {
        let r = self
            .session
            .publish_video_data(data, RtmpTimestamp::new(ts), false)
            .map_err(|e| format!("{e:?}"))?;
        let mut events = Vec::new();
        send_results(&mut self.socket, vec![r], &mut events)
    }

    /// Reads (and answers) whatever the server sends for `dur`; Err if the server closes.
    pub fn linger(&mut self, dur: Duration) -> Result<(), String> {
        let deadline = Instant::now() + dur;
        let mut buf = vec![0u8; 8192];
        let mut events = Vec::new();
        while Instant::now() < deadline {
            if let Some(n) = read_tick(&mut self.socket, &mut buf)? {
                let r = self
                    .session
                    .handle_input(&buf[..n])
                    .map_err(|e| format!("{e:?}"))?;
                send_results(&mut self.socket, r, &mut events)?;
            }
        }
        Ok(())
    }
}

fn send_results(
    s: &mut TcpStream,
    results: Vec<ClientSessionResult>,
    events: &mut Vec<ClientSessionEvent>,
) -> Result<(), String> {
    for r in results {
        match r {
            ClientSessionResult::OutboundResponse(p) => {
                s.write_all(&p.bytes).map_err(|e| format!("write: {e}"))?
            }
            ClientSessionResult::RaisedEvent(e) => events.push(e),
            ClientSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    Ok(())
}

fn pump_until(
    s: &mut TcpStream,
    session: &mut ClientSession,
    events: &mut Vec<ClientSessionEvent>,
    want: impl Fn(&ClientSessionEvent) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = vec![0u8; 8192];
    loop {
        if let Some(i) = events.iter().position(&want) {
            events.drain(..=i);
            return Ok(());
        }
        if let Some(bad) = events.iter().find(|e| {
            matches!(
                e,
                ClientSessionEvent::ConnectionRequestRejected { .. }
                    | ClientSessionEvent::UnhandleableOnStatusCode { .. }
            )
        }) {
            return Err(format!("server refused: {bad:?}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out; events so far: {events:?}"));
        }
        if let Some(n) = read_tick(s, &mut buf)? {
            let r = session
                .handle_input(&buf[..n])
                .map_err(|e| format!("{e:?}"))?;
            send_results(s, r, events)?;
        }
    }
}
