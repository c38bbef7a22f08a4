//! Criterion benchmarks of liverelay's data path: packetize (cloud), reassemble (edge) and fan-out
//! to players (edge); and of loss recovery: the cloud's retransmit cache and the edge's whole
//! receive path under loss. See `bench/README.md` for what each one measures and the figures.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use edge::player::Player;
use edge::stream_state::StreamState;
use edge::tag::FlvTag;
use relay_bench::{
    at, config_tags, framed, loss_pattern, media_key, media_tags, publication, publish,
    publish_timed, shuffle_within, SplitMix64, StreamProfile, FIRST_SEQ, SSRC,
};
use relay_proto::{
    Lookup, Message, MessageKind, Packet, Packetizer, Reassembler, ReassemblerConfig,
    ReassemblerEvent, Receiver, ReceiverConfig, ReplayWindow, RetransmitCache, Source,
    AUTH_TAG_LEN, DEFAULT_MAX_DATAGRAM, SEQUENCE_MASK,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting allocations while [`count_allocations`] runs (one relaxed load
/// per allocation otherwise). Used only in untimed checks.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and reallocations made by `f` (single-threaded use).
fn count_allocations(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    f();
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed)
}

const PROFILE: StreamProfile = StreamProfile::H264_3MBPS;
const SEED: u64 = 0x00c0_ffee;

/// One iteration = one GOP (2 s) of the 3 Mb/s stream.
fn packetize(c: &mut Criterion) {
    let tags = media_tags(&PROFILE, 1, SEED);
    let mut group = c.benchmark_group("packetize");

    // The bare packetizer: every tag cut into packets, no announcements.
    let messages: Vec<Message> = tags.iter().cloned().map(Message::Tag).collect();
    let mut packetizer =
        Packetizer::new(SSRC, FIRST_SEQ, DEFAULT_MAX_DATAGRAM, media_key()).unwrap();
    let mut out: Vec<Packet> = Vec::new();
    for m in &messages {
        packetizer.packetize(m, &mut out).unwrap();
    }
    group.throughput(Throughput::Elements(out.len() as u64));
    let allocations = count_allocations(|| {
        out.clear();
        for m in &messages {
            packetizer.packetize(m, &mut out).unwrap();
        }
    });
    println!(
        "packetize/packetizer_gop: {} tags, {} packets, {allocations} allocations",
        messages.len(),
        out.len()
    );
    group.bench_function("packetizer_gop", |b| {
        b.iter(|| {
            out.clear();
            for m in &messages {
                packetizer.packetize(m, &mut out).unwrap();
            }
            black_box(&out);
        })
    });

    // What the cloud runs per tag: config bookkeeping, announcement schedule, packetizer.
    // The clock advances one GOP per iteration, so each iteration announces exactly as a live
    // publish would (before the keyframe and once more a second later).
    let t0 = Instant::now();
    let mut publication = publication();
    let mut out: Vec<Packet> = Vec::new();
    for tag in config_tags() {
        publication.push_tag(t0, tag, &mut out).unwrap();
    }
    let gop = Duration::from_millis(PROFILE.gop_ms() as u64);
    let mut start = t0;
    let mut push_gop = |out: &mut Vec<Packet>| {
        start += gop;
        out.clear();
        for tag in &tags {
            publication
                .push_tag(at(start, tag), tag.clone(), out)
                .unwrap();
        }
    };
    push_gop(&mut out);
    group.throughput(Throughput::Elements(out.len() as u64));
    let allocations = count_allocations(|| push_gop(&mut out));
    println!(
        "packetize/publication_gop: {} tags, {} packets, {allocations} allocations",
        tags.len(),
        out.len()
    );
    group.bench_function("publication_gop", |b| {
        b.iter(|| {
            push_gop(&mut out);
            black_box(&out);
        })
    });
    group.finish();
}

/// Authenticates, parses and reassembles `datagrams`, draining events as they come; returns
/// messages emitted.
///
/// Takes the datagrams by value, as the UDP reader hands over each received buffer.
fn reassemble_all(
    reassembler: &mut Reassembler,
    now: Instant,
    datagrams: impl IntoIterator<Item = Bytes>,
) -> usize {
    let key = media_key();
    let mut messages = 0;
    for datagram in datagrams {
        let packet = Packet::open(datagram, &key).expect("valid datagram");
        reassembler.push(now, packet);
        while let Some(event) = reassembler.poll_event() {
            if let ReassemblerEvent::Message(m) = event {
                black_box(&m);
                messages += 1;
            }
        }
    }
    messages
}

/// One iteration = the datagrams of a publish start (announcement, config tags) plus one GOP.
fn reassemble(c: &mut Criterion) {
    let mut tags = config_tags();
    tags.extend(media_tags(&PROFILE, 1, SEED));
    let packets = publish(&tags);
    // Serialising is the sender's work: done once, outside the measured loop.
    let in_order: Vec<Bytes> = packets.iter().map(Packet::to_datagram).collect();
    let expected = packets.iter().filter(|p| p.header.start).count();

    let mut group = c.benchmark_group("reassemble");
    group.throughput(Throughput::Elements(in_order.len() as u64));
    let now = Instant::now();
    let variants = [
        ("in_order", 0usize),
        ("reordered_w8", 8),
        ("reordered_w32", 32),
    ];
    for (name, window) in variants {
        let mut datagrams = in_order.clone();
        if window > 0 {
            shuffle_within(&mut datagrams, window, SEED);
        }
        // Check once that every message comes out and nothing is counted late or lost.
        let mut check = Reassembler::new(SSRC, ReassemblerConfig::default());
        let mut messages = 0;
        let input = datagrams.clone();
        let allocations = count_allocations(|| {
            messages = reassemble_all(&mut check, now, input);
        });
        assert_eq!(messages, expected);
        println!(
            "reassemble/{name}: {} packets, {messages} messages, {allocations} allocations",
            datagrams.len()
        );
        let stats = check.stats();
        assert_eq!(
            (stats.late, stats.lost, stats.discarded),
            (0, 0, 0),
            "{name}"
        );

        group.bench_function(name, |b| {
            b.iter_batched(
                // A new reassembler per iteration (sequence numbers repeat) and the iteration's
                // own handles on the datagrams: made and dropped outside the timing.
                || {
                    let reassembler = Reassembler::new(SSRC, ReassemblerConfig::default());
                    (reassembler, datagrams.clone())
                },
                |(mut reassembler, datagrams)| {
                    black_box(reassemble_all(&mut reassembler, now, datagrams));
                    reassembler
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Tags offered to one set of players before it is replaced (untimed).
const TAGS_PER_SET: u64 = 64;

/// A stream that has seen its configuration and one whole GOP, with `players` players joined.
///
/// Joining queues the FLV header, the 3 configuration tags and the 154-tag GOP cache, so every
/// player's queue has grown (capacity 256) before it is measured and the next
/// [`TAGS_PER_SET`] offers never reallocate: the steady state of a player whose response drains
/// its queue. (Draining through `PlayerBody` would need `http_body::Body` in scope, a new
/// dependency of this crate; replacing the players keeps queues bounded without one.)
fn stream_with_players(tags: &[FlvTag], players: usize) -> StreamState {
    let mut state = StreamState::default();
    for tag in framed(&config_tags())
        .into_iter()
        .chain(tags.iter().cloned())
    {
        state.on_tag(tag);
    }
    for _ in 0..players {
        state.join(Player::new(1 << 30));
    }
    state
}

/// One iteration = `StreamState::on_tag` of one tag with N players attached, then
/// `StreamState::wake_players`.
fn fan_out(c: &mut Criterion) {
    let tags = framed(&media_tags(&PROFILE, 1, SEED));
    let mut group = c.benchmark_group("fan_out");
    for players in [1usize, 100, 1000] {
        // Check once: the measured work allocates nothing and every offer is queued.
        let mut state = stream_with_players(&tags, players);
        let allocations = count_allocations(|| {
            for tag in tags.iter().take(TAGS_PER_SET as usize) {
                state.on_tag(tag.clone());
                state.wake_players();
            }
        });
        println!("fan_out/players_{players}: {allocations} allocations in {TAGS_PER_SET} tags");
        let counters = state.counters();
        assert_eq!((counters.player_drops, counters.players_removed), (0, 0));
        drop(state);

        let mut next = 0;
        group.throughput(Throughput::Elements(players as u64));
        group.bench_function(format!("players_{players}"), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let mut state = stream_with_players(&tags, players);
                    let chunk = TAGS_PER_SET.min(iters - done);
                    let started = Instant::now();
                    for _ in 0..chunk {
                        // A clone is one reference count per tag (not per player).
                        state.on_tag(tags[next].clone());
                        // The stream task wakes the players once per tick; here every tag.
                        state.wake_players();
                        next = (next + 1) % tags.len();
                    }
                    measured += started.elapsed();
                    done += chunk;
                    let counters = state.counters();
                    assert_eq!((counters.player_drops, counters.players_removed), (0, 0));
                    assert_eq!(state.player_count(), players);
                }
                measured
            })
        });
    }
    group.finish();
}

/// The cloud's default cache bounds (`rtp_cache_size`, `rtp_cache_bytes` in `cloud/src/config.rs`).
const CACHE_PACKETS: usize = 5000;
const CACHE_BYTES: usize = 32 << 20;
/// Lookups name one of the newest this many packets (0.8 s of the 3 Mb/s stream): a NACK comes
/// about an RTT after its packet was sent.
const LOOKBACK: u64 = 256;

/// Packets of the 3 Mb/s stream, renumbered to go on forever: what the cloud inserts.
struct CacheFeed {
    templates: Vec<Packet>,
    index: usize,
    /// The next sequence number (unwrapped).
    seq: u64,
    distances: Vec<u64>,
    lookups: usize,
}

impl CacheFeed {
    fn new() -> Self {
        let mut tags = config_tags();
        tags.extend(media_tags(&PROFILE, 1, SEED));
        let mut rng = SplitMix64::new(SEED);
        CacheFeed {
            templates: publish(&tags),
            index: 0,
            seq: FIRST_SEQ,
            // A power of two, so the index is a mask.
            distances: (0..4096).map(|_| 1 + rng.below(LOOKBACK)).collect(),
            lookups: 0,
        }
    }

    /// The next packet: a clone of a template (one reference count, as the cloud's
    /// `StreamCache::insert` clones each packet it caches) with the next sequence number.
    fn next_packet(&mut self) -> Packet {
        let mut packet = self.templates[self.index].clone();
        packet.header.seq = self.seq & SEQUENCE_MASK;
        self.index += 1;
        if self.index == self.templates.len() {
            self.index = 0;
        }
        self.seq += 1;
        packet
    }

    /// A recent sequence number (1 to [`LOOKBACK`] before the next one), as on the wire.
    fn recent(&mut self) -> u64 {
        let distance = self.distances[self.lookups & (self.distances.len() - 1)];
        self.lookups += 1;
        (self.seq - distance) & SEQUENCE_MASK
    }
}

/// One iteration = one operation on a full cache of the cloud's default size.
fn cache(c: &mut Criterion) {
    let mut feed = CacheFeed::new();
    let mut cache = RetransmitCache::new(CACHE_PACKETS, CACHE_BYTES);
    for _ in 0..2 * CACHE_PACKETS {
        cache.insert(feed.next_packet());
    }
    // Check once: full, every recent lookup found, and steady-state inserts allocate nothing.
    assert_eq!(cache.len(), CACHE_PACKETS);
    let mut found = 0;
    let allocations = count_allocations(|| {
        for _ in 0..10_000 {
            cache.insert(feed.next_packet());
            let seq = feed.recent();
            found += matches!(cache.lookup(seq), Lookup::Found(p) if p.header.seq == seq) as u32;
        }
    });
    assert_eq!(found, 10_000);
    println!(
        "cache: {} packets ({} MB of payload) cached, {} templates; {allocations} allocations in \
         10 000 insert + lookup",
        cache.len(),
        cache.bytes() / 1_000_000,
        feed.templates.len()
    );

    let mut group = c.benchmark_group("cache");
    group.throughput(Throughput::Elements(1));
    // What the cloud does per packet sent, plus one answer's lookup.
    group.bench_function("insert_lookup", |b| {
        b.iter(|| {
            cache.insert(feed.next_packet());
            let seq = feed.recent();
            black_box(cache.lookup(black_box(seq)));
        })
    });
    group.bench_function("insert", |b| {
        b.iter(|| cache.insert(feed.next_packet()));
    });
    group.bench_function("lookup", |b| {
        b.iter(|| {
            let seq = feed.recent();
            black_box(cache.lookup(black_box(seq)));
        })
    });
    group.finish();
}

/// GOPs fed to one receiver per `receive_path` iteration.
const RECEIVE_GOPS: u32 = 5;
/// From a NACK leaving the edge to its repair arriving.
const REPAIR_RTT: Duration = Duration::from_millis(20);
const LOSS_RATES: [(&str, f64); 4] = [
    ("loss_0", 0.0),
    ("loss_5", 0.05),
    ("loss_10", 0.10),
    ("loss_20", 0.20),
];

/// What one run of [`receive_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ReceiveCounts {
    network: u64,
    repairs: u64,
    timeouts: u64,
    nacks: u64,
    messages: u64,
    gaps: u64,
}

/// The edge's receive path in virtual time: `arrivals` (datagrams the network delivered, in
/// order, with their arrival times) go through `Packet::parse` and `Receiver::push`; after every
/// input and every timeout the NACKs and events are drained, as `edge/src/stream_task.rs` does.
/// Each NACK (the second copy of each dropped, as the cloud's responder does) is answered with
/// the original datagrams, `copies` times each, [`REPAIR_RTT`] later, as `Source::Repair`. The
/// clock jumps to the earliest of the next arrival, the next repair and `poll_timeout`.
fn receive_all(
    receiver: &mut Receiver,
    arrivals: Vec<(Instant, Bytes)>,
    originals: &[Bytes],
    repairs: &mut VecDeque<(Instant, Bytes)>,
) -> ReceiveCounts {
    let key = media_key();
    let mut counts = ReceiveCounts::default();
    let mut arrivals = arrivals.into_iter().peekable();
    let Some(mut now) = arrivals.peek().map(|(at, _)| *at) else {
        return counts;
    };
    let mut answered = None;
    let mut idle_timeouts = 0u32;
    loop {
        let network_at = arrivals.peek().map(|(at, _)| *at);
        let repair_at = repairs.front().map(|(at, _)| *at);
        let timer_at = receiver.poll_timeout();
        let Some(next) = [network_at, repair_at, timer_at]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = now.max(next);
        if network_at == Some(next) {
            let (_, datagram) = arrivals.next().expect("peeked");
            let packet = Packet::open(datagram, &key).expect("valid datagram");
            receiver.push(now, packet, Source::Network);
            counts.network += 1;
            idle_timeouts = 0;
        } else if repair_at == Some(next) {
            let (_, datagram) = repairs.pop_front().expect("peeked");
            let packet = Packet::parse(datagram).expect("valid datagram");
            receiver.push(now, packet, Source::Repair);
            counts.repairs += 1;
            idle_timeouts = 0;
        } else {
            receiver.handle_timeout(now);
            counts.timeouts += 1;
            idle_timeouts += 1;
            assert!(
                idle_timeouts < 10_000,
                "the receiver's timeout never clears"
            );
        }
        while let Some(request) = receiver.poll_nack(now) {
            counts.nacks += 1;
            if answered == Some(request.id) {
                continue;
            }
            answered = Some(request.id);
            for range in &request.ranges {
                for seq in range.seqs() {
                    let index = (seq.wrapping_sub(FIRST_SEQ) & SEQUENCE_MASK) as usize;
                    if let Some(datagram) = originals.get(index) {
                        for _ in 0..request.copies.max(1) {
                            repairs.push_back((now + REPAIR_RTT, datagram.clone()));
                        }
                    }
                }
            }
        }
        while let Some(event) = receiver.poll_event() {
            match event {
                ReassemblerEvent::Message(m) => {
                    black_box(&m);
                    counts.messages += 1;
                }
                ReassemblerEvent::Gap { .. } => counts.gaps += 1,
            }
        }
    }
    counts
}

fn receiver_config() -> ReceiverConfig {
    ReceiverConfig {
        initial_rtt: REPAIR_RTT,
        ..ReceiverConfig::default()
    }
}

/// One iteration = a publish start plus [`RECEIVE_GOPS`] GOPs (10 s of the 3 Mb/s stream, with
/// the cloud's sync packets) through a fresh receiver, at a seeded random loss.
fn receive_path(c: &mut Criterion) {
    let mut tags = config_tags();
    tags.extend(media_tags(&PROFILE, RECEIVE_GOPS, SEED));
    let timed = publish_timed(&tags);
    let t0 = Instant::now();
    let datagrams: Vec<(Instant, Bytes, bool)> = timed
        .iter()
        .map(|(at, p)| {
            (
                t0 + *at,
                p.to_datagram(),
                p.header.kind == MessageKind::Sync,
            )
        })
        .collect();
    // What the cloud's cache would answer with, by sequence number.
    let originals: Vec<Bytes> = datagrams
        .iter()
        .filter(|(_, _, sync)| !sync)
        .map(|(_, d, _)| d.clone())
        .collect();
    let expected_messages = timed.iter().filter(|(_, p)| p.header.start).count()
        - datagrams.iter().filter(|(_, _, sync)| *sync).count();

    let mut group = c.benchmark_group("receive_path");
    for (name, rate) in LOSS_RATES {
        let lost = loss_pattern(datagrams.len(), rate, SEED);
        let arrivals: Vec<(Instant, Bytes)> = datagrams
            .iter()
            .zip(&lost)
            .filter(|(_, lost)| !**lost)
            .map(|((at, d, _), _)| (*at, d.clone()))
            .collect();
        let lost_syncs = datagrams
            .iter()
            .zip(&lost)
            .filter(|((_, _, sync), lost)| *sync && **lost)
            .count();
        let lost_packets = lost.iter().filter(|l| **l).count() - lost_syncs;

        // Check once: every message comes out, nothing is given up, and count the work.
        let mut check = Receiver::new(SSRC, receiver_config());
        let mut repairs = VecDeque::with_capacity(4 * lost_packets + 16);
        let mut counts = ReceiveCounts::default();
        let input = arrivals.clone();
        let allocations = count_allocations(|| {
            counts = receive_all(&mut check, input, &originals, &mut repairs);
        });
        let reassembly = check.reassembly_stats();
        let recovery = check.recovery_stats();
        println!(
            "receive_path/{name}: {} datagrams sent ({} packets, {} syncs), {lost_packets} \
             packets and {lost_syncs} syncs lost; fed {} from the network + {} repairs; {} \
             holes, {} NACK requests (each sent twice), {} repaired, {} redundant repairs, {} \
             timeouts handled, {} messages, {} gaps; {allocations} allocations",
            datagrams.len(),
            originals.len(),
            datagrams.len() - originals.len(),
            counts.network,
            counts.repairs,
            recovery.holes,
            recovery.nacks_sent,
            recovery.repaired,
            recovery.redundant_repairs,
            counts.timeouts,
            counts.messages,
            counts.gaps,
        );
        assert_eq!(counts.messages as usize, expected_messages, "{name}");
        assert_eq!((counts.gaps, reassembly.lost), (0, 0), "{name}");
        assert_eq!(recovery.holes as usize, lost_packets, "{name}");
        assert_eq!(recovery.repaired as usize, lost_packets, "{name}");

        group.throughput(Throughput::Elements(counts.network + counts.repairs));
        group.bench_function(name, |b| {
            b.iter_batched(
                // A fresh receiver per iteration (sequence numbers repeat) and the iteration's
                // own handles on the datagrams: made and dropped outside the timing.
                || {
                    (
                        Receiver::new(SSRC, receiver_config()),
                        arrivals.clone(),
                        VecDeque::with_capacity(4 * lost_packets + 16),
                    )
                },
                |(mut receiver, arrivals, mut repairs)| {
                    let counts = receive_all(&mut receiver, arrivals, &originals, &mut repairs);
                    black_box(counts);
                    (receiver, repairs)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// What authentication costs per datagram: the tag over a full 1400-byte datagram at the sender,
/// its check at the edge, and one GOP of datagrams parsed without and with the check and the
/// replay window, so the two can be compared in the same run.
fn authenticate(c: &mut Criterion) {
    let key = media_key();
    let mut tags = config_tags();
    tags.extend(media_tags(&PROFILE, 1, SEED));
    let datagrams: Vec<Bytes> = publish(&tags).iter().map(Packet::to_datagram).collect();
    let full = datagrams
        .iter()
        .find(|d| d.len() == DEFAULT_MAX_DATAGRAM)
        .expect("a full datagram")
        .clone();
    let covered = &full[..full.len() - AUTH_TAG_LEN];
    let mut group = c.benchmark_group("authenticate");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign_1400", |b| {
        b.iter(|| black_box(key.tag(&[black_box(covered)])))
    });
    group.bench_function("verify_1400", |b| {
        b.iter(|| black_box(key.verify(black_box(&full))))
    });
    group.throughput(Throughput::Elements(datagrams.len() as u64));
    group.bench_function("parse_gop", |b| {
        b.iter(|| {
            for d in &datagrams {
                black_box(Packet::parse(d.clone()).expect("valid datagram"));
            }
        })
    });
    group.bench_function("open_and_replay_gop", |b| {
        b.iter_batched(
            ReplayWindow::default,
            |mut window| {
                for d in &datagrams {
                    let packet = Packet::open(d.clone(), &key).expect("valid datagram");
                    window
                        .accept(packet.header.seq, packet.header.kind)
                        .expect("each number once");
                    black_box(packet);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    packetize,
    reassemble,
    fan_out,
    cache,
    receive_path,
    authenticate
);
criterion_main!(benches);
