//! An attacker on the media plane: sends well-formed relay datagrams that the real cloud did not
//! sign (announcements of a live name under fresh SSRCs with a newer or the largest epoch,
//! media and end-of-stream packets under the real SSRC), and replays datagrams the real cloud
//! did send. Each kind is counted, so a test can check that the edge dropped and counted all.

use ::flv::{Tag, TagType};
use bytes::Bytes;
use relay_proto::{MediaKey, Message, Packetizer, Publication};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What to forge.
#[derive(Debug, Clone, Default)]
pub struct Attack {
    /// Announce this name (with a video keyframe) under fresh SSRCs.
    pub squat_name: Option<String>,
    /// Fresh SSRCs to cycle through; each round uses the next.
    pub fresh_ssrcs: u32,
    /// Forge media and end-of-stream packets with this SSRC, numbered from `next_seq` on.
    pub real_stream: Option<(u32, u64)>,
    /// Send these captured datagrams again, in turn.
    pub replay: Vec<Bytes>,
    /// Most datagrams a second, all kinds together.
    pub rate: u32,
}

/// Datagrams sent, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub fresh_ssrc: u64,
    pub real_ssrc: u64,
    pub replayed: u64,
}

pub struct Forger {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Sent>>,
}

fn random_key() -> MediaKey {
    MediaKey::from_bytes(rand::random())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A video keyframe tag body (AVC NALU) of junk.
fn keyframe(timestamp: u32) -> Tag {
    let mut body = vec![0x17, 0x01, 0, 0, 0];
    body.extend(std::iter::repeat_n(0x5a, 3000));
    Tag::new(TagType::Video, timestamp, Bytes::from(body))
}

impl Forger {
    /// Starts sending from `from` (e.g. "127.0.0.2:0", another source than the cloud's) to
    /// `target` until [`finish`](Self::finish).
    pub fn start(from: &str, target: SocketAddr, attack: Attack) -> Forger {
        let socket = UdpSocket::bind(from).expect("bind the forger's socket");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut sent = Sent::default();
            let started = Instant::now();
            let mut round = 0u32;
            let mut out = Vec::new();
            let mut real_seq = attack.real_stream.map(|(_, seq)| seq);
            let total = |s: &Sent| s.fresh_ssrc + s.real_ssrc + s.replayed;
            while !stopping.load(Ordering::Relaxed) {
                // Keep to the rate: at most `rate` datagrams per second since the start.
                let allowed = started.elapsed().as_secs_f64() * f64::from(attack.rate.max(1));
                if total(&sent) as f64 >= allowed {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                round = round.wrapping_add(1);
                if let Some(name) = &attack.squat_name {
                    let ssrc = 0x7000_0000 | (round % attack.fresh_ssrcs.max(1));
                    let epoch = if round.is_multiple_of(2) {
                        u64::MAX
                    } else {
                        now_ms()
                    };
                    if let Ok(mut publication) =
                        Publication::new(name.clone(), epoch, ssrc, 0, 1400, random_key())
                    {
                        out.clear();
                        let _ = publication.push_tag(Instant::now(), keyframe(round), &mut out);
                        for packet in &out {
                            let _ = socket.send_to(&packet.to_datagram(), target);
                            sent.fresh_ssrc += 1;
                        }
                    }
                }
                if let (Some((ssrc, _)), Some(seq)) = (attack.real_stream, real_seq.as_mut()) {
                    if let Ok(mut packetizer) = Packetizer::new(ssrc, *seq, 1400, random_key()) {
                        out.clear();
                        let _ = packetizer.packetize(&Message::Tag(keyframe(round)), &mut out);
                        let _ = packetizer.packetize(&Message::End, &mut out);
                        for packet in &out {
                            let _ = socket.send_to(&packet.to_datagram(), target);
                            sent.real_ssrc += 1;
                        }
                        *seq = packetizer.next_seq();
                    }
                }
                if !attack.replay.is_empty() {
                    let datagram = &attack.replay[round as usize % attack.replay.len()];
                    let _ = socket.send_to(datagram, target);
                    sent.replayed += 1;
                }
            }
            sent
        });
        Forger {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops and says what was sent.
    pub fn finish(mut self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .map(|handle| handle.join().expect("the forger's thread"))
            .unwrap_or_default()
    }
}

impl Drop for Forger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
