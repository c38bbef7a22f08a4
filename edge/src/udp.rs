//! The UDP reader: hands each datagram to the router, which authenticates it and passes it to
//! its stream's task. It never waits on anything but the socket: a full stream queue drops the
//! packet, and an SSRC the cloud has not announced is dropped (both counted).

use crate::config::EdgeSettings;
use crate::error::EdgeError;
use crate::router::{Dropped, MediaCounters, Router};
use bytes::BytesMut;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

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

/// Logs drops at most this often, with the totals so far.
struct DropWarnings {
    last: Option<Instant>,
}

impl DropWarnings {
    /// `what` is formatted only when the warning is logged: a flood of bad datagrams costs no
    /// allocation.
    fn warn(&mut self, counters: &MediaCounters, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
        {
            self.last = Some(now);
            let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            tracing::warn!(
                datagrams = count(&counters.datagrams),
                malformed = count(&counters.malformed),
                unknown_stream = count(&counters.unknown_stream),
                bad_tag = count(&counters.bad_tag),
                replayed = count(&counters.replayed),
                queue_full = count(&counters.queue_full),
                "dropping datagrams: {what}"
            );
        }
    }
}

/// Reads until shutdown, handing every datagram to the router, which checks it and passes it
/// to its stream's task.
pub async fn receive(socket: UdpSocket, router: Arc<Router>, shutdown: CancellationToken) {
    let mut warnings = DropWarnings { last: None };
    let mut buffer = BytesMut::with_capacity(RECEIVE_BLOCK);
    loop {
        if buffer.capacity() - buffer.len() < MAX_DATAGRAM {
            buffer = BytesMut::with_capacity(RECEIVE_BLOCK);
        }
        let received = tokio::select! {
            received = socket.recv_buf_from(&mut buffer) => received,
            _ = shutdown.cancelled() => return,
        };
        let (len, from) = match received {
            Ok(received) => received,
            Err(error) => {
                warnings.warn(
                    router.counters(),
                    format_args!("UDP receive failed: {error}"),
                );
                continue;
            }
        };
        let datagram = buffer.split_to(len).freeze();
        match router.receive_datagram(datagram) {
            Ok(()) => {}
            // The stream's task is behind or the stream is not ours: expected now and then.
            Err(Dropped::QueueFull | Dropped::UnknownStream | Dropped::Replayed) => {}
            Err(Dropped::Malformed(error)) => warnings.warn(
                router.counters(),
                format_args!("malformed from {from}: {error}"),
            ),
            Err(Dropped::BadTag) => warnings.warn(
                router.counters(),
                format_args!("authentication failed for a datagram from {from}"),
            ),
        }
    }
}
