//! A seeded network model for tests and benches, in virtual time.
//!
//! The kernel here has no netem, and tests must be reproducible, so loss and delay are made in
//! process. [`Netem`] is sans-IO like the engines it tests: `send(now, item)` takes an item in,
//! `poll_recv(now)` gives back what has arrived by `now`, `poll_timeout()` says when the next item
//! arrives. The same seed gives the same run, whatever the clock values.
//!
//! Loss is either independent (Bernoulli) or bursty after the Gilbert–Elliott two-state model:
//! a good and a bad state, each with its own loss probability, and per-item transition
//! probabilities between them. The mean burst length is `1 / p_bad_to_good` items.

#![warn(missing_docs)]

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

mod rng;

pub use rng::SplitMix64;

/// How items are lost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// No item is lost.
    None,
    /// Each item is lost with this probability, independently.
    Random(f64),
    /// Gilbert–Elliott: two states with their own loss probability.
    GilbertElliott {
        /// Per-item probability of moving from the good to the bad state, checked before each
        /// item's loss draw.
        p_good_to_bad: f64,
        /// Per-item probability of moving from the bad back to the good state; the mean burst
        /// length is `1 / p_bad_to_good` items.
        p_bad_to_good: f64,
        /// Loss probability of an item sent while in the good state.
        loss_in_good: f64,
        /// Loss probability of an item sent while in the bad state.
        loss_in_bad: f64,
    },
}

/// The impairments of one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetemConfig {
    /// How items are lost (see [`Loss`]); loss is decided when the item is sent, before delay,
    /// reordering and duplication.
    pub loss: Loss,
    /// One-way delay every item gets.
    pub delay: Duration,
    /// Extra delay, uniform in `0..=jitter`; items may overtake each other by up to this much.
    pub jitter: Duration,
    /// Probability that an item is held back by `reorder_delay` more (a late, reordered item).
    pub reorder: f64,
    /// Extra hold-back given to an item picked by `reorder`, on top of `delay` and its jitter.
    pub reorder_delay: Duration,
    /// Probability that an item arrives twice (the copy gets its own jitter).
    pub duplicate: f64,
}

impl Default for NetemConfig {
    fn default() -> Self {
        NetemConfig {
            loss: Loss::None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
        }
    }
}

impl NetemConfig {
    /// Independent loss `p` and a fixed one-way delay: the common test link.
    pub fn lossy(p: f64, delay: Duration) -> Self {
        NetemConfig {
            loss: if p > 0.0 { Loss::Random(p) } else { Loss::None },
            delay,
            ..Default::default()
        }
    }
}

/// What the model did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetemStats {
    /// Items passed to [`Netem::send`], lost ones included and copies not.
    pub sent: u64,
    /// Items dropped by the loss model.
    pub lost: u64,
    /// Items that were sent twice (each adds one extra delivery).
    pub duplicated: u64,
    /// Items handed out by [`Netem::poll_recv`], duplicates included.
    pub delivered: u64,
}

struct InFlight<T> {
    at: Instant,
    order: u64,
    item: T,
}

impl<T> PartialEq for InFlight<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl<T> Eq for InFlight<T> {}
impl<T> PartialOrd for InFlight<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for InFlight<T> {
    /// Reversed, so the max-heap pops the earliest arrival (ties in send order).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// One direction of a simulated link carrying items of type `T`.
pub struct Netem<T> {
    config: NetemConfig,
    rng: SplitMix64,
    in_bad_state: bool,
    in_flight: BinaryHeap<InFlight<T>>,
    next_order: u64,
    stats: NetemStats,
}

impl<T: Clone> Netem<T> {
    /// A link with the given impairments; `seed` fixes every random draw, so the same seed and the
    /// same calls give the same run. Starts in the good state of the Gilbert–Elliott model.
    pub fn new(config: NetemConfig, seed: u64) -> Self {
        Netem {
            config,
            rng: SplitMix64::new(seed),
            in_bad_state: false,
            in_flight: BinaryHeap::new(),
            next_order: 0,
            stats: NetemStats::default(),
        }
    }

    /// Counts of what the link has done so far.
    pub fn stats(&self) -> NetemStats {
        self.stats
    }

    /// Puts `item` on the link at `now`.
    pub fn send(&mut self, now: Instant, item: T) {
        self.stats.sent += 1;
        if self.lose() {
            self.stats.lost += 1;
            return;
        }
        if self.rng.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            self.schedule(now, item.clone());
        }
        self.schedule(now, item);
    }

    /// When the next item arrives, if any is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.peek().map(|next| next.at)
    }

    /// The next item that has arrived by `now`.
    pub fn poll_recv(&mut self, now: Instant) -> Option<T> {
        if self.in_flight.peek()?.at > now {
            return None;
        }
        self.stats.delivered += 1;
        self.in_flight.pop().map(|next| next.item)
    }

    fn lose(&mut self) -> bool {
        match self.config.loss {
            Loss::None => false,
            Loss::Random(p) => self.rng.chance(p),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => {
                let flip = if self.in_bad_state {
                    p_bad_to_good
                } else {
                    p_good_to_bad
                };
                if self.rng.chance(flip) {
                    self.in_bad_state = !self.in_bad_state;
                }
                let p = if self.in_bad_state {
                    loss_in_bad
                } else {
                    loss_in_good
                };
                self.rng.chance(p)
            }
        }
    }

    fn schedule(&mut self, now: Instant, item: T) {
        let mut delay = self.config.delay + self.rng.duration_up_to(self.config.jitter);
        if self.rng.chance(self.config.reorder) {
            delay += self.config.reorder_delay;
        }
        self.in_flight.push(InFlight {
            at: now + delay,
            order: self.next_order,
            item,
        });
        self.next_order += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: NetemConfig, seed: u64, count: u32) -> (Vec<u32>, NetemStats) {
        let t0 = Instant::now();
        let mut link = Netem::new(config, seed);
        let mut received = Vec::new();
        for i in 0..count {
            let now = t0 + Duration::from_millis(i as u64);
            link.send(now, i);
            while let Some(item) = link.poll_recv(now) {
                received.push(item);
            }
        }
        while let Some(at) = link.poll_timeout() {
            while let Some(item) = link.poll_recv(at) {
                received.push(item);
            }
        }
        (received, link.stats())
    }

    #[test]
    fn same_seed_same_run() {
        let config = NetemConfig {
            loss: Loss::Random(0.1),
            jitter: Duration::from_millis(5),
            duplicate: 0.05,
            ..Default::default()
        };
        assert_eq!(run(config, 7, 2000), run(config, 7, 2000));
        assert_ne!(run(config, 7, 2000).0, run(config, 8, 2000).0);
    }

    #[test]
    fn random_loss_rate_is_close_to_asked() {
        let (received, stats) = run(
            NetemConfig::lossy(0.05, Duration::from_millis(10)),
            1,
            100_000,
        );
        assert_eq!(stats.sent, 100_000);
        assert_eq!(received.len() as u64, stats.sent - stats.lost);
        let rate = stats.lost as f64 / stats.sent as f64;
        assert!((0.045..0.055).contains(&rate), "{rate}");
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "fixed delay keeps order"
        );
    }

    #[test]
    fn gilbert_elliott_losses_come_in_bursts() {
        let config = NetemConfig {
            loss: Loss::GilbertElliott {
                p_good_to_bad: 0.01,
                p_bad_to_good: 0.2,
                loss_in_good: 0.0,
                loss_in_bad: 1.0,
            },
            ..Default::default()
        };
        let (received, stats) = run(config, 3, 100_000);
        // Mean burst 1 / 0.2 = 5; stationary share of bad = 0.01 / 0.21 ≈ 4.8 %.
        let rate = stats.lost as f64 / stats.sent as f64;
        assert!((0.035..0.06).contains(&rate), "{rate}");
        let gaps: Vec<u32> = received
            .windows(2)
            .map(|w| w[1] - w[0] - 1)
            .filter(|g| *g > 0)
            .collect();
        let mean_burst = gaps.iter().sum::<u32>() as f64 / gaps.len() as f64;
        assert!((4.0..6.0).contains(&mean_burst), "{mean_burst}");
    }

    #[test]
    fn jitter_and_reordering_reorder_and_duplicates_duplicate() {
        let config = NetemConfig {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(3),
            reorder: 0.02,
            reorder_delay: Duration::from_millis(20),
            duplicate: 0.01,
            ..Default::default()
        };
        let (received, stats) = run(config, 11, 10_000);
        assert_eq!(received.len() as u64, 10_000 + stats.duplicated);
        assert!(stats.duplicated > 50);
        let out_of_order = received.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(out_of_order > 100, "{out_of_order}");
    }
}
