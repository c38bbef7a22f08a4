//! Criterion benchmarks of liverelay's data path: packetize (cloud), reassemble (edge) and fan-out
//! to players (edge). See `bench/README.md` for what each one measures and the figures.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use edge::player::Player;
use edge::stream_state::StreamState;
use edge::tag::FlvTag;
use relay_bench::{
    at, config_tags, framed, media_tags, publication, publish, shuffle_within, StreamProfile,
    FIRST_SEQ, SSRC,
};
use relay_proto::{
    Message, Packet, Packetizer, Reassembler, ReassemblerConfig, ReassemblerEvent,
    DEFAULT_MAX_DATAGRAM,
};
use std::alloc::{GlobalAlloc, Layout, System};
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
    let mut packetizer = Packetizer::new(SSRC, FIRST_SEQ, DEFAULT_MAX_DATAGRAM).unwrap();
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

/// Parses and reassembles `datagrams`, draining events as they come; returns messages emitted.
///
/// Takes the datagrams by value, as the UDP reader hands over each received buffer.
fn reassemble_all(
    reassembler: &mut Reassembler,
    now: Instant,
    datagrams: impl IntoIterator<Item = Bytes>,
) -> usize {
    let mut messages = 0;
    for datagram in datagrams {
        let packet = Packet::parse(datagram).expect("valid datagram");
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

/// One iteration = `StreamState::on_tag` of one tag with N players attached.
fn fan_out(c: &mut Criterion) {
    let tags = framed(&media_tags(&PROFILE, 1, SEED));
    let mut group = c.benchmark_group("fan_out");
    for players in [1usize, 100, 1000] {
        // Check once: the measured work allocates nothing and every offer is queued.
        let mut state = stream_with_players(&tags, players);
        let allocations = count_allocations(|| {
            for tag in tags.iter().take(TAGS_PER_SET as usize) {
                state.on_tag(tag.clone());
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

criterion_group!(benches, packetize, reassemble, fan_out);
criterion_main!(benches);
