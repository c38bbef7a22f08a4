//! A UDP destination of the cloud that records the relay datagrams it gets (an extra entry in
//! the cloud's `client_addr_list`), so a test knows a stream's SSRC, its sequence numbers and
//! the exact bytes of each packet.

use bytes::Bytes;
use parking_lot::Mutex;
use relay_proto::{MessageKind, Packet};
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the tap has seen of the first stream (SSRC) it received.
#[derive(Debug, Default, Clone)]
pub struct Tapped {
    pub ssrc: Option<u32>,
    /// Numbered packets (sync packets left out) by wire sequence number: the datagram as sent.
    pub packets: BTreeMap<u64, Bytes>,
    /// Datagrams that were not relay packets of that stream.
    pub other: u64,
}

impl Tapped {
    pub fn first_seq(&self) -> Option<u64> {
        self.packets.keys().next().copied()
    }

    pub fn newest_seq(&self) -> Option<u64> {
        self.packets.keys().next_back().copied()
    }
}

pub struct Tap {
    pub addr: SocketAddr,
    state: Arc<Mutex<Tapped>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Tap {
    pub fn start() -> Tap {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind tap");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(8 << 20);
        let addr = sock.local_addr().expect("tap addr");
        let state = Arc::new(Mutex::new(Tapped::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                let Ok(n) = sock.recv(&mut buf) else { continue };
                let bytes = Bytes::copy_from_slice(&buf[..n]);
                let mut s = state2.lock();
                match Packet::parse(bytes.clone()) {
                    Ok(p) if s.ssrc.is_none_or(|ssrc| ssrc == p.header.ssrc) => {
                        s.ssrc = Some(p.header.ssrc);
                        if p.header.kind != MessageKind::Sync {
                            s.packets.insert(p.header.seq, bytes);
                        }
                    }
                    _ => s.other += 1,
                }
            }
        });
        Tap {
            addr,
            state,
            stop,
            handle: Some(handle),
        }
    }

    /// A copy of what was seen so far.
    pub fn snapshot(&self) -> Tapped {
        self.state.lock().clone()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
