//! A lossy UDP forwarder between the cloud and an edge (the kernel here has no netem).
//! Seeded, so a failure can be replayed with the same loss pattern.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct LossModel {
    pub seed: u64,
    /// Datagrams forwarded untouched before the impairments start.
    pub clean_start: u64,
    /// Probability that a datagram is dropped.
    pub drop: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back and sent after the next one.
    pub reorder: f64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LossStats {
    pub received: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

pub struct Forwarder {
    pub listen: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<LossStats>>,
}

impl Forwarder {
    /// Listens on a free loopback port and forwards to `to` with `model`.
    pub fn start(to: SocketAddr, model: LossModel) -> Forwarder {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind forwarder");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let listen = sock.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(model.seed);
            let mut stats = LossStats::default();
            let mut held: Option<Vec<u8>> = None;
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                let n = match sock.recv_from(&mut buf) {
                    Ok((n, _)) => n,
                    Err(_) => {
                        // Idle: release a held datagram rather than keep it forever.
                        if let Some(h) = held.take() {
                            let _ = sock.send_to(&h, to);
                        }
                        continue;
                    }
                };
                stats.received += 1;
                let d = buf[..n].to_vec();
                let impaired = stats.received > model.clean_start;
                if impaired && rng.random_bool(model.drop) {
                    stats.dropped += 1;
                    continue;
                }
                if impaired && held.is_none() && rng.random_bool(model.reorder) {
                    stats.reordered += 1;
                    held = Some(d);
                    continue;
                }
                let _ = sock.send_to(&d, to);
                if impaired && rng.random_bool(model.duplicate) {
                    stats.duplicated += 1;
                    let _ = sock.send_to(&d, to);
                }
                if let Some(h) = held.take() {
                    let _ = sock.send_to(&h, to);
                }
            }
            stats
        });
        Forwarder {
            listen,
            stop,
            handle: Some(handle),
        }
    }

    pub fn stop(mut self) -> LossStats {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
