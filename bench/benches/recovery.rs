//! The loss-recovery report: `repair_sim::recovery_table` for loss 0/5/10/20 % × RTT
//! 20/50/100 ms over the message-level model of the repair path, then
//! `repair_sim::quic_recovery_table` for loss 5/10 % × RTT 100/200 ms through the real repair
//! connection (quinn-proto with `repair_quic::endpoint`'s configuration). Not a criterion benchmark (`harness = false`): the simulation runs in virtual
//! time, so its figures do not depend on the machine; only the wall time printed at the end does.
//!
//! `cargo bench -p relay-bench` runs it after the criterion benches. A criterion name filter that
//! does not match `recovery_table` skips it, so `cargo bench -p relay-bench -- cache` stays quick.
//! `RECOVERY_PACKETS` (default 1 000 000 per row) and `RECOVERY_SEED` (default 1) change the run.

use std::time::Instant;

/// Packets per row: 12 rows of a million packets (about 52 minutes of the 3 Mb/s stream each)
/// take about 6 s in release on one core; 200 000 would take about 1.2 s, with a fifth of the
/// lost packets to count the rare unrecovered ones from.
const DEFAULT_PACKETS: u64 = 1_000_000;
const DEFAULT_SEED: u64 = 1;
const NAME: &str = "recovery_table";

/// Criterion options that take a value (so the value is not mistaken for a name filter).
const VALUE_OPTIONS: &[&str] = &[
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--save-baseline",
    "--baseline",
    "--load-baseline",
    "--profile-time",
    "--output-format",
    "--color",
    "--plotting-backend",
    "--format",
    "--logfile",
];

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    let mut list = false;
    while let Some(arg) = args.next() {
        if arg == "--list" {
            list = true;
        } else if VALUE_OPTIONS.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') && filter.is_none() {
            filter = Some(arg);
        }
    }
    if filter.as_deref().is_some_and(|f| !NAME.contains(f)) {
        return;
    }
    if list {
        println!("{NAME}: benchmark");
        return;
    }
    let packets = env_u64("RECOVERY_PACKETS", DEFAULT_PACKETS);
    let seed = env_u64("RECOVERY_SEED", DEFAULT_SEED);
    println!(
        "{NAME}: repair-sim, {packets} packets per row, seed {seed}; random loss on the data link \
         and on each way of the repair path; playout deadline max(4 RTT, 200 ms) + 50 ms"
    );
    let started = Instant::now();
    let table = repair_sim::recovery_table(packets, seed);
    print!("{table}");
    println!(
        "{NAME}: 12 runs in {:.1} s of wall time",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!(
        "{NAME}: through real QUIC (quinn-proto, the repair connection's transport config), \
         {packets} packets per row, seed {seed}; random loss on the data link and on every UDP \
         packet of each way of the QUIC path; playout deadline (column deadline) max(4 RTT, 200 ms) \
         + 50 ms as above, then the edge's default max(300 ms, 8 RTT); handshake before the \
         stream"
    );
    let started = Instant::now();
    let table = repair_sim::quic_recovery_table(packets, seed);
    print!("{table}");
    println!(
        "{NAME}: 8 QUIC runs in {:.1} s of wall time",
        started.elapsed().as_secs_f64()
    );
}
