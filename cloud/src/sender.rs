//! Sends relay packets to every destination in `client_addr_list`.
//!
//! One UDP socket for all destinations. Header, payload and authentication tag leave as three
//! I/O slices, so the tag body is never copied in user space. A failed send to one destination
//! is counted and logged at most every few seconds; it never stops the stream or the other
//! destinations.

use crate::config::CloudSettings;
use crate::error::CloudError;
use parking_lot::Mutex;
use relay_proto::Packet;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::io::IoSlice;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::UdpSocket;

const SEND_BUFFER: usize = 4 << 20;
const WARN_EVERY: Duration = Duration::from_secs(5);

/// The RTP output: one non-blocking UDP socket (4 MiB send buffer asked for) and the
/// `client_addr_list` destinations every packet goes to, each with its counters.
pub struct RtpSender {
    socket: UdpSocket,
    destinations: Vec<Destination>,
}

struct Destination {
    addr: SockAddr,
    shown: SocketAddrV4,
    sent: AtomicU64,
    errors: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl RtpSender {
    /// Must be called inside the tokio runtime.
    pub fn bind(settings: &CloudSettings) -> Result<Self, CloudError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| CloudError::io(what, source)
        };
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(io("creating the RTP socket"))?;
        socket
            .set_nonblocking(true)
            .map_err(io("setting the RTP socket non-blocking"))?;
        if let Err(error) = socket.set_send_buffer_size(SEND_BUFFER) {
            tracing::warn!(%error, "cannot enlarge the RTP send buffer");
        }
        if settings.destinations.iter().any(|d| d.ip().is_multicast()) {
            if let Some(interface) = settings.multicast_if {
                socket
                    .set_multicast_if_v4(&interface)
                    .map_err(io("cloud.multicast_if: setting the multicast interface"))?;
            }
            socket
                .set_multicast_ttl_v4(settings.multicast_ttl)
                .map_err(io("cloud.multicast_ttl: setting the multicast TTL"))?;
            // Edges on this host (tests, single-box deployments) receive the group too.
            socket
                .set_multicast_loop_v4(true)
                .map_err(io("enabling multicast loopback"))?;
        }
        let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        socket
            .bind(&bind.into())
            .map_err(io("binding the RTP socket"))?;
        let socket =
            UdpSocket::from_std(socket.into()).map_err(io("registering the RTP socket"))?;
        let destinations = settings
            .destinations
            .iter()
            .map(|addr| Destination {
                addr: SocketAddr::V4(*addr).into(),
                shown: *addr,
                sent: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                last_warning: Mutex::new(None),
            })
            .collect();
        Ok(RtpSender {
            socket,
            destinations,
        })
    }

    /// Sends every packet to every destination, in order.
    pub async fn send(&self, packets: &[Packet]) {
        for packet in packets {
            let header = packet.header.encode();
            let slices = [
                IoSlice::new(&header),
                IoSlice::new(&packet.payload),
                IoSlice::new(&packet.auth),
            ];
            for destination in &self.destinations {
                let result = self
                    .socket
                    .async_io(Interest::WRITABLE, || {
                        SockRef::from(&self.socket).send_to_vectored(&slices, &destination.addr)
                    })
                    .await;
                match result {
                    Ok(_) => {
                        destination.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => destination.failed(&error),
                }
            }
        }
    }
}

/// Packets sent to one destination, and sends that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStats {
    /// The destination as `ip:port`, the `destination` label of its metrics.
    pub destination: String,
    /// Datagrams sent to it (`liverelay_cloud_destination_packets_total`).
    pub sent: u64,
    /// Sends to it that failed (`liverelay_cloud_destination_errors_total`).
    pub errors: u64,
}

impl RtpSender {
    /// The counters of every destination, in `client_addr_list` order.
    pub fn destination_stats(&self) -> Vec<DestinationStats> {
        self.destinations
            .iter()
            .map(|d| DestinationStats {
                destination: d.shown.to_string(),
                sent: d.sent.load(Ordering::Relaxed),
                errors: d.errors.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl Destination {
    fn failed(&self, error: &std::io::Error) {
        let errors = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let mut last = self.last_warning.lock();
        if last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            *last = Some(now);
            tracing::warn!(
                destination = %self.shown,
                %error,
                errors,
                sent = self.sent.load(Ordering::Relaxed),
                "sending RTP failed; the stream goes on to the other destinations"
            );
        }
    }
}
