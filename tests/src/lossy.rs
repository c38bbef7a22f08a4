//! A lossy UDP forwarder (the kernel here has no netem): on the data path between the cloud and
//! an edge, or on the QUIC repair path, in both directions, where it can cut the link.
//! Seeded, so a failure can be replayed with the same loss pattern.
//!
//! One socket does both directions: a datagram from `to` goes back to the last peer that sent
//! something, anything else goes to `to`. So the cloud sends RTP to the forwarder's address
//! instead of the edge's, and an edge dials the forwarder's address instead of the cloud's QUIC
//! port (the cloud then sees the forwarder as the edge).

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::wan::{WanDirection, WanLink, WanStats};

/// Datagrams at least this long count as "large" (a repaired RTP packet inside QUIC; keep-alives,
/// ACKs and NACKs are far smaller).
pub const LARGE_DATAGRAM: usize = 1000;

/// How long the forwarder holds a reordered datagram at most when nothing else comes.
const IDLE_RELEASE: Duration = Duration::from_millis(20);

/// The longest a WAN forwarder blocks in a read: it also wakes for the next release due, so a
/// delayed datagram leaves at most this late when the release is far (and never stays held).
const WAN_MAX_WAIT: Duration = Duration::from_millis(5);

#[derive(Clone, Copy, Debug)]
pub struct LossModel {
    pub seed: u64,
    /// Datagrams forwarded untouched before the impairments start.
    pub clean_start: u64,
    /// Probability that a datagram is dropped.
    pub drop: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back and sent after later ones.
    pub reorder: f64,
    /// A held-back datagram is sent after 1 to `reorder_depth` later datagrams (at least 1).
    pub reorder_depth: u32,
}

impl LossModel {
    /// No impairment at all (a forwarder that is only there to be cut).
    pub const fn clean(seed: u64) -> LossModel {
        LossModel {
            seed,
            clean_start: 0,
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_depth: 1,
        }
    }

    /// `drop` loss after the first 20 datagrams (so the stream is established first).
    pub const fn lossy(seed: u64, drop: f64) -> LossModel {
        LossModel {
            seed,
            clean_start: 20,
            drop,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_depth: 1,
        }
    }
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirStats {
    pub received: u64,
    pub bytes: u64,
    /// Received datagrams of at least [`LARGE_DATAGRAM`] bytes.
    pub large: u64,
    pub dropped: u64,
    /// Dropped because the link was cut.
    pub blackholed: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LossStats {
    /// Towards `to` (the edge on the data path, the cloud on the repair path).
    pub forward: DirStats,
    /// From `to` back to the peer (the cloud's answers on the repair path).
    pub back: DirStats,
}

impl LossStats {
    /// Datagrams dropped by the loss model, both directions (the cut not included).
    pub fn dropped(&self) -> u64 {
        self.forward.dropped + self.back.dropped
    }
}

#[derive(Default)]
struct Control {
    /// Cut while set, or until this instant.
    cut: bool,
    cut_until: Option<Instant>,
    stats: LossStats,
}

impl Control {
    fn is_cut(&mut self, now: Instant) -> bool {
        if self.cut_until.is_some_and(|until| now >= until) {
            self.cut_until = None;
        }
        self.cut || self.cut_until.is_some()
    }
}

pub struct Forwarder {
    pub listen: SocketAddr,
    stop: Arc<AtomicBool>,
    control: Arc<Mutex<Control>>,
    handle: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Listens on a free loopback port and forwards to `to` (and `to`'s answers back) with
    /// `model`.
    pub fn start(to: SocketAddr, model: LossModel) -> Forwarder {
        Forwarder::spawn(to, IDLE_RELEASE, move |sock, stop, control| {
            run(sock, to, model, stop, control)
        })
    }

    /// The same with a WAN-like link (delay, jitter, burst loss, a rate limit; see
    /// [`crate::wan`]) in each direction: datagrams are released by time.
    pub fn start_wan(to: SocketAddr, model: WanModel) -> Forwarder {
        Forwarder::spawn(to, WAN_MAX_WAIT, move |sock, stop, control| {
            run_wan(sock, to, model, stop, control)
        })
    }

    fn spawn(
        to: SocketAddr,
        read_timeout: Duration,
        body: impl FnOnce(UdpSocket, &AtomicBool, &Mutex<Control>) + Send + 'static,
    ) -> Forwarder {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind forwarder");
        sock.set_read_timeout(Some(read_timeout))
            .expect("read timeout");
        // Bursts (a keyframe is dozens of datagrams sent at once) must not overflow the
        // forwarder's own buffer: that would be loss the model did not decide.
        let sock2 = socket2::SockRef::from(&sock);
        let _ = sock2.set_recv_buffer_size(8 << 20);
        let _ = sock2.set_send_buffer_size(8 << 20);
        let listen = sock.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let control = Arc::new(Mutex::new(Control::default()));
        let (stop2, control2) = (stop.clone(), control.clone());
        let handle = std::thread::Builder::new()
            .name(format!("forwarder-{listen}->{to}"))
            .spawn(move || body(sock, &stop2, &control2))
            .expect("spawn forwarder");
        Forwarder {
            listen,
            stop,
            control,
            handle: Some(handle),
        }
    }

    /// Cuts the link (both directions) until [`Forwarder::restore`].
    pub fn cut(&self) {
        self.control.lock().cut = true;
    }

    /// Ends a cut made with [`Forwarder::cut`] or [`Forwarder::cut_for`]; returns the instant.
    pub fn restore(&self) -> Instant {
        let mut control = self.control.lock();
        control.cut = false;
        control.cut_until = None;
        Instant::now()
    }

    /// Cuts the link from now for `d` (without blocking); returns when it will end.
    pub fn cut_for(&self, d: Duration) -> Instant {
        let until = Instant::now() + d;
        self.control.lock().cut_until = Some(until);
        until
    }

    /// The counters so far.
    pub fn stats(&self) -> LossStats {
        self.control.lock().stats
    }

    /// Stops forwarding; returns the final counters.
    pub fn stop(mut self) -> LossStats {
        self.shut();
        self.stats()
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.shut();
    }
}

impl Control {
    /// Counts a datagram of `n` bytes going `back` (or forward) at `now`; `None` when the link
    /// is cut (counted as blackholed), else that direction's counters.
    fn admit(&mut self, back: bool, n: usize, now: Instant) -> Option<&mut DirStats> {
        let cut = self.is_cut(now);
        let stats = if back {
            &mut self.stats.back
        } else {
            &mut self.stats.forward
        };
        stats.received += 1;
        stats.bytes += n as u64;
        if n >= LARGE_DATAGRAM {
            stats.large += 1;
        }
        if cut {
            stats.blackholed += 1;
            return None;
        }
        Some(stats)
    }
}

/// Where a datagram from `from` goes: from `to` back to the last peer (`None` before any), from
/// anyone else to `to` (and that sender becomes the peer). The flag says "back".
fn route(
    from: SocketAddr,
    to: SocketAddr,
    peer: &mut Option<SocketAddr>,
) -> Option<(SocketAddr, bool)> {
    if from == to {
        peer.map(|p| (p, true))
    } else {
        *peer = Some(from);
        Some((to, false))
    }
}

/// A reordered datagram: where it goes, and after how many more datagrams.
struct Held {
    to: SocketAddr,
    after: u32,
    data: Vec<u8>,
}

fn run(
    sock: UdpSocket,
    to: SocketAddr,
    model: LossModel,
    stop: &AtomicBool,
    control: &Mutex<Control>,
) {
    let mut rng = StdRng::seed_from_u64(model.seed);
    let mut held: Vec<Held> = Vec::new();
    let mut peer: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65536];
    let mut seen = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) => {
                // Idle: release held datagrams rather than keep them forever.
                for h in held.drain(..) {
                    let _ = sock.send_to(&h.data, h.to);
                }
                continue;
            }
        };
        let Some((dest, back)) = route(from, to, &mut peer) else {
            continue;
        };
        let mut c = control.lock();
        let Some(stats) = c.admit(back, n, Instant::now()) else {
            continue;
        };
        seen += 1;
        let impaired = seen > model.clean_start;
        // Draw every decision each time, so the pattern depends on the seed and the datagram's
        // position only.
        let lose = rng.random_bool(model.drop);
        let reorder = rng.random_bool(model.reorder);
        let depth = rng.random_range(1..=model.reorder_depth.max(1));
        let duplicate = rng.random_bool(model.duplicate);
        if impaired && lose {
            stats.dropped += 1;
            continue;
        }
        let d = buf[..n].to_vec();
        if impaired && reorder {
            stats.reordered += 1;
            held.push(Held {
                to: dest,
                after: depth,
                data: d,
            });
            continue;
        }
        if impaired && duplicate {
            stats.duplicated += 1;
            let _ = sock.send_to(&d, dest);
        }
        drop(c);
        let _ = sock.send_to(&d, dest);
        held.retain_mut(|h| {
            h.after -= 1;
            if h.after == 0 {
                let _ = sock.send_to(&h.data, h.to);
                false
            } else {
                true
            }
        });
    }
}

/// A WAN-like link in both directions, for [`Forwarder::start_wan`].
#[derive(Clone, Copy, Debug)]
pub struct WanModel {
    pub seed: u64,
    /// Towards `to` (the edge on the data path, the cloud on the repair path).
    pub forward: WanDirection,
    /// From `to` back to the peer.
    pub back: WanDirection,
}

/// Forwards through a [`WanLink`] per direction. Each loop reads one datagram (waiting at most
/// until the next release is due, and at most [`WAN_MAX_WAIT`]) and then sends every datagram
/// whose release instant has come, in release order.
fn run_wan(
    sock: UdpSocket,
    to: SocketAddr,
    model: WanModel,
    stop: &AtomicBool,
    control: &Mutex<Control>,
) {
    let mut links: [WanLink<(SocketAddr, Vec<u8>)>; 2] = [
        WanLink::new(model.forward, model.seed),
        WanLink::new(model.back, model.seed ^ 0x5eed_bac0),
    ];
    let mut peer: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let next = links.iter().filter_map(WanLink::poll_timeout).min();
        let wait = next.map_or(WAN_MAX_WAIT, |at| {
            at.saturating_duration_since(now)
                .clamp(Duration::from_micros(100), WAN_MAX_WAIT)
        });
        let _ = sock.set_read_timeout(Some(wait));
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some((dest, back)) = route(from, to, &mut peer) {
                let now = Instant::now();
                let link = &mut links[usize::from(back)];
                let before = link.stats();
                let mut c = control.lock();
                if let Some(stats) = c.admit(back, n, now) {
                    link.send(now, n, (dest, buf[..n].to_vec()));
                    count_wan(stats, before, link.stats());
                }
            }
        }
        let now = Instant::now();
        for link in &mut links {
            while let Some((dest, data)) = link.poll_recv(now) {
                let _ = sock.send_to(&data, dest);
            }
        }
    }
}

/// Adds what the link did to one datagram to the direction's counters.
fn count_wan(stats: &mut DirStats, before: WanStats, after: WanStats) {
    stats.dropped += after.lost - before.lost + after.overflowed - before.overflowed;
    stats.duplicated += after.duplicated - before.duplicated;
}
