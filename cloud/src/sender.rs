//! Sends relay packets to every destination in `client_addr_list`.
//!
//! One UDP socket for all destinations. Header, payload and authentication tag leave as three
//! I/O slices, so the tag body is never copied in user space, and the datagrams of one tag to
//! every destination leave in as few `sendmmsg(2)` calls as [`MAX_BATCH`] allows, not one
//! `sendmsg(2)` each (the `nix` crate's safe wrapper). A failed send to one destination
//! is counted and logged at most every few seconds; it never stops the stream or the other
//! destinations.

use crate::config::CloudSettings;
use crate::error::CloudError;
use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrIn};
use parking_lot::Mutex;
use relay_proto::Packet;
use relay_proto::HEADER_LEN;
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::RefCell;
use std::io::IoSlice;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::UdpSocket;

const SEND_BUFFER: usize = 4 << 20;

/// Most datagrams one `sendmmsg(2)` call takes: a tag's packets to every destination, or a
/// batch of them (a 2.8 Mb/s keyframe to 32 edges is a few thousand).
const MAX_BATCH: usize = 64;
const WARN_EVERY: Duration = Duration::from_secs(5);

/// The RTP output: one non-blocking UDP socket (4 MiB send buffer asked for) and the
/// `client_addr_list` destinations every packet goes to, each with its counters.
pub struct RtpSender {
    socket: UdpSocket,
    destinations: Vec<Destination>,
}

struct Destination {
    addr: SockaddrIn,
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
        Ok(RtpSender::on(socket, &settings.destinations))
    }

    /// The sender of `socket` to `destinations`.
    fn on(socket: UdpSocket, destinations: &[SocketAddrV4]) -> Self {
        let destinations = destinations
            .iter()
            .map(|addr| Destination {
                addr: SockaddrIn::from(*addr),
                shown: *addr,
                sent: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                last_warning: Mutex::new(None),
            })
            .collect();
        RtpSender {
            socket,
            destinations,
        }
    }

    /// Sends every packet to every destination, in order: packet by packet, each to every
    /// destination, up to [`MAX_BATCH`] datagrams per `sendmmsg(2)` call. A destination whose
    /// send fails is counted and skipped; the rest of the batch goes on.
    pub async fn send(&self, packets: &[Packet]) {
        let total = packets.len() * self.destinations.len();
        let mut next = 0;
        while next < total {
            let sent = self
                .socket
                .async_io(Interest::WRITABLE, || self.send_batch(packets, next))
                .await;
            match sent {
                Ok(sent) => {
                    for datagram in next..next + sent {
                        self.destination_of(datagram)
                            .sent
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    next += sent;
                }
                Err(error) => {
                    // sendmmsg(2) stops at the first datagram that fails: that one is lost.
                    self.destination_of(next).failed(&error);
                    next += 1;
                }
            }
        }
    }

    fn destination_of(&self, datagram: usize) -> &Destination {
        &self.destinations[datagram % self.destinations.len()]
    }

    /// One `sendmmsg(2)` of the datagrams from `first` on (datagram `i` is packet
    /// `i / destinations` to destination `i % destinations`); how many the kernel took. Built
    /// on the stack and in this thread's message headers: nothing is allocated per call.
    fn send_batch(&self, packets: &[Packet], first: usize) -> std::io::Result<usize> {
        let per_packet = self.destinations.len();
        let end = (first + MAX_BATCH).min(packets.len() * per_packet);
        let first_packet = first / per_packet;
        // A batch spans at most as many packets as it has datagrams.
        let mut headers = [[0u8; HEADER_LEN]; MAX_BATCH];
        for (header, packet) in headers.iter_mut().zip(&packets[first_packet..]) {
            *header = packet.header.encode();
        }
        let mut slices = [[IoSlice::new(&[]); 3]; MAX_BATCH];
        let mut addresses = [None; MAX_BATCH];
        for (at, datagram) in (first..end).enumerate() {
            let packet = &packets[datagram / per_packet];
            slices[at] = [
                IoSlice::new(&headers[datagram / per_packet - first_packet]),
                IoSlice::new(&packet.payload),
                IoSlice::new(&packet.auth),
            ];
            addresses[at] = Some(self.destination_of(datagram).addr);
        }
        let count = end - first;
        MESSAGE_HEADERS.with_borrow_mut(|messages| {
            let no_control: [ControlMessage<'_>; 0] = [];
            let sent = sendmmsg(
                self.socket.as_raw_fd(),
                messages,
                &slices[..count],
                &addresses[..count],
                no_control,
                MsgFlags::empty(),
            )?;
            Ok(sent.count())
        })
    }
}

thread_local! {
    /// The `sendmmsg(2)` message headers, [`MAX_BATCH`] of them, made once per thread and
    /// reused by every call (nix's are not `Send`, so the shared sender cannot hold them).
    static MESSAGE_HEADERS: RefCell<MultiHeaders<SockaddrIn>> =
        RefCell::new(MultiHeaders::preallocate(MAX_BATCH, None));
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use relay_proto::{MessageKind, PacketHeader};

    fn packet(seq: u64) -> Packet {
        Packet {
            header: PacketHeader {
                ssrc: 7,
                seq,
                timestamp: seq as u32,
                kind: MessageKind::Tag,
                tag_type: 9,
                start: true,
                end: true,
                keyframe: false,
                config: false,
                fragment_index: 0,
                message_len: 8,
            },
            payload: Bytes::from(seq.to_be_bytes().to_vec()),
            auth: [seq as u8; relay_proto::AUTH_TAG_LEN],
        }
    }

    /// More datagrams than one `sendmmsg` call takes, to three destinations: each gets every
    /// packet once, in order, byte for byte, and its counter says so.
    #[tokio::test]
    async fn every_destination_gets_every_packet_in_order_across_batches() {
        let receivers: Vec<std::net::UdpSocket> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a receiver"))
            .collect();
        let addresses: Vec<SocketAddrV4> = receivers
            .iter()
            .map(|r| match r.local_addr().expect("receiver address") {
                SocketAddr::V4(addr) => addr,
                SocketAddr::V6(_) => unreachable!("bound to IPv4"),
            })
            .collect();
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the sender");
        let sender = RtpSender::on(socket, &addresses);
        let packets: Vec<Packet> = (0..50).map(packet).collect();
        sender.send(&packets).await;
        for receiver in &receivers {
            receiver
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("read timeout");
            for expected in &packets {
                let mut buffer = [0u8; 2048];
                let len = receiver.recv(&mut buffer).expect("a datagram");
                let got = Packet::parse(Bytes::copy_from_slice(&buffer[..len])).expect("parses");
                assert_eq!(&got, expected);
            }
        }
        let stats = sender.destination_stats();
        assert!(
            stats.iter().all(|s| s.sent == 50 && s.errors == 0),
            "{stats:?}"
        );
    }
}
