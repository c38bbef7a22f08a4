//! The UDP reader: parses datagrams and hands each to its stream's task. It never waits on
//! anything but the socket: a full stream queue drops the packet (counted), and a new SSRC gets
//! a new task.

use crate::config::EdgeSettings;
use crate::error::EdgeError;
use crate::router::{Router, Undelivered, MAX_STREAMS};
use crate::stream_task::StreamInput;
use bytes::BytesMut;
use relay_proto::{Packet, Source};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

const RECEIVE_BLOCK: usize = 256 * 1024;
const MAX_DATAGRAM: usize = 65_536;
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Binds `udp_addr`, joining the multicast group when it is one.
pub fn bind(settings: &EdgeSettings) -> Result<UdpSocket, EdgeError> {
    let addr = settings.udp_addr;
    let io = |what: &str| {
        let what = format!("edge.udp_addr {addr}: {what}");
        move |source| EdgeError::io(what, source)
    };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(io("creating the socket"))?;
    socket
        .set_nonblocking(true)
        .map_err(io("setting non-blocking"))?;
    match socket.set_recv_buffer_size(settings.udp_recv_buffer) {
        Ok(()) => {
            let granted = socket.recv_buffer_size().unwrap_or(0);
            // Linux reports double the usable size it granted.
            if granted < settings.udp_recv_buffer {
                tracing::warn!(
                    asked = settings.udp_recv_buffer,
                    granted,
                    "the kernel granted a smaller UDP receive buffer (raise net.core.rmem_max)"
                );
            } else {
                tracing::info!(granted, "UDP receive buffer");
            }
        }
        Err(error) => tracing::warn!(%error, "cannot set the UDP receive buffer size"),
    }
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_multicast() => {
            // Several edges on one host may join the same group and port.
            socket.set_reuse_address(true).map_err(io("SO_REUSEADDR"))?;
            socket.set_reuse_port(true).map_err(io("SO_REUSEPORT"))?;
            socket.bind(&addr.into()).map_err(io("binding"))?;
            let interface = settings.multicast_if.unwrap_or(Ipv4Addr::UNSPECIFIED);
            socket
                .join_multicast_v4(v4.ip(), &interface)
                .map_err(io(&format!("joining the group on interface {interface}")))?;
        }
        _ => socket.bind(&addr.into()).map_err(io("binding"))?,
    }
    UdpSocket::from_std(socket.into()).map_err(io("registering the socket"))
}

#[derive(Default)]
struct ReaderCounters {
    datagrams: u64,
    malformed: u64,
    queue_full: u64,
    refused_streams: u64,
    last_warning: Option<Instant>,
}

impl ReaderCounters {
    fn warn(&mut self, what: &str, detail: &dyn std::fmt::Display) {
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
        {
            self.last_warning = Some(now);
            tracing::warn!(
                datagrams = self.datagrams,
                malformed = self.malformed,
                queue_full = self.queue_full,
                refused_streams = self.refused_streams,
                "{what}: {detail}"
            );
        }
    }
}

/// Reads until shutdown. The reader keeps its own copy of the routes it has used, so the shared
/// router (and its lock) is consulted only for a new or ended SSRC, not for every datagram.
pub async fn receive(socket: UdpSocket, router: Arc<Router>, mut shutdown: watch::Receiver<bool>) {
    let mut counters = ReaderCounters::default();
    let mut routes: HashMap<u32, mpsc::Sender<StreamInput>> = HashMap::new();
    let mut buffer = BytesMut::with_capacity(RECEIVE_BLOCK);
    loop {
        if buffer.capacity() - buffer.len() < MAX_DATAGRAM {
            buffer = BytesMut::with_capacity(RECEIVE_BLOCK);
        }
        let received = tokio::select! {
            received = socket.recv_buf_from(&mut buffer) => received,
            _ = shutdown.changed() => return,
        };
        let (len, from) = match received {
            Ok(received) => received,
            Err(error) => {
                counters.warn("UDP receive failed", &error);
                continue;
            }
        };
        counters.datagrams += 1;
        let datagram = buffer.split_to(len).freeze();
        let packet = match Packet::parse(datagram) {
            Ok(packet) => packet,
            Err(error) => {
                counters.malformed += 1;
                counters.warn(
                    &format!("ignoring a malformed datagram from {from}"),
                    &error,
                );
                continue;
            }
        };
        let ssrc = packet.header.ssrc;
        let mut input = StreamInput::Packet(packet, Source::Network);
        if let Some(route) = routes.get(&ssrc) {
            match route.try_send(input) {
                Ok(()) => continue,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    counters.queue_full += 1;
                    counters.warn("a stream task is behind; dropping a packet", &ssrc);
                    continue;
                }
                // The task ended: the router decides whether the SSRC gets a new one.
                Err(mpsc::error::TrySendError::Closed(back)) => {
                    routes.remove(&ssrc);
                    input = back;
                }
            }
        }
        let delivered = router.route(ssrc, true).and_then(|route| {
            let sent = route.try_send(input).map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => Undelivered::QueueFull,
                mpsc::error::TrySendError::Closed(_) => Undelivered::Ended,
            });
            if routes.len() >= MAX_STREAMS {
                routes.retain(|_, route| !route.is_closed());
            }
            routes.insert(ssrc, route);
            sent
        });
        match delivered {
            Ok(()) | Err(Undelivered::Ended) => {}
            Err(Undelivered::QueueFull) => {
                counters.queue_full += 1;
                counters.warn("a stream task is behind; dropping a packet", &ssrc);
            }
            Err(Undelivered::TooManyStreams) => {
                counters.refused_streams += 1;
                counters.warn("too many streams; ignoring a new SSRC", &ssrc);
            }
        }
    }
}
