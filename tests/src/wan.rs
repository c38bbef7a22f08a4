//! A WAN-like link model for the UDP forwarder of [`crate::lossy`]: per direction a one-way
//! delay, jitter (a uniform extra delay per datagram, which reorders naturally), Gilbert–Elliott
//! burst loss, duplication and an optional rate limit with a bounded queue.
//!
//! Loss, delay, jitter and duplication are the `netem` crate's model (the one repair-sim runs in
//! virtual time), driven here by the real clock; this module adds the rate limit and turns "loss
//! rate and mean burst length" into the model's transition probabilities. Sans-IO, so the model
//! is unit-tested without sockets: [`WanLink::send`] takes a datagram in, [`WanLink::poll_recv`]
//! gives back what is due by `now`, [`WanLink::poll_timeout`] says when the next one is due (the
//! forwarder waits at most that long, so nothing is held forever).

use netem::{Loss, Netem, NetemConfig};
use std::time::{Duration, Instant};

/// The impairments of one direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WanDirection {
    /// Delay every datagram gets.
    pub delay: Duration,
    /// Extra delay, uniform in `0..=jitter`, drawn for each datagram.
    pub jitter: Duration,
    /// Long-run share of datagrams lost (0 for none).
    pub loss: f64,
    /// Mean number of datagrams lost in a row (1 for independent loss).
    pub mean_burst: f64,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Bytes per second the link carries (`None`: unlimited); datagrams beyond it wait.
    pub rate: Option<u64>,
    /// Bytes that may wait for the rate limit; a datagram that would exceed it is dropped.
    pub queue_bytes: u64,
}

impl WanDirection {
    /// A clean direction with a fixed delay and `jitter`.
    pub const fn delayed(delay: Duration, jitter: Duration) -> WanDirection {
        WanDirection {
            delay,
            jitter,
            loss: 0.0,
            mean_burst: 1.0,
            duplicate: 0.0,
            rate: None,
            queue_bytes: 256 * 1024,
        }
    }

    /// The same with Gilbert–Elliott loss: `loss` of the datagrams in bursts of `mean_burst` on
    /// average.
    pub const fn with_loss(self, loss: f64, mean_burst: f64) -> WanDirection {
        WanDirection {
            loss,
            mean_burst,
            ..self
        }
    }

    /// The Gilbert–Elliott parameters (lossless good state, all-lost bad state): the bad state
    /// lasts `1 / p_bad_to_good` datagrams on average, so `p_bad_to_good = 1 / mean_burst`, and
    /// its stationary share `p_gb / (p_gb + p_bg)` is the loss rate.
    fn netem(&self) -> NetemConfig {
        let loss = if self.loss <= 0.0 {
            Loss::None
        } else {
            let p_bad_to_good = 1.0 / self.mean_burst.max(1.0);
            let loss = self.loss.min(0.99);
            Loss::GilbertElliott {
                p_good_to_bad: loss * p_bad_to_good / (1.0 - loss),
                p_bad_to_good,
                loss_in_good: 0.0,
                loss_in_bad: 1.0,
            }
        };
        NetemConfig {
            loss,
            delay: self.delay,
            jitter: self.jitter,
            duplicate: self.duplicate,
            ..NetemConfig::default()
        }
    }
}

/// Counters of one direction of a [`WanLink`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WanStats {
    /// Dropped by the loss model.
    pub lost: u64,
    /// Sent twice.
    pub duplicated: u64,
    /// Dropped because the rate limit's queue was full.
    pub overflowed: u64,
}

/// One direction of a WAN-like link carrying `T` (a datagram and where it goes).
pub struct WanLink<T> {
    model: WanDirection,
    netem: Netem<(usize, T)>,
    /// When the rate limiter has sent everything queued so far.
    busy_until: Option<Instant>,
    overflowed: u64,
}

impl<T: Clone> WanLink<T> {
    /// A direction with `model`; `seed` fixes every draw.
    pub fn new(model: WanDirection, seed: u64) -> WanLink<T> {
        WanLink {
            model,
            netem: Netem::new(model.netem(), seed),
            busy_until: None,
            overflowed: 0,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WanStats {
        let s = self.netem.stats();
        WanStats {
            lost: s.lost,
            duplicated: s.duplicated,
            overflowed: self.overflowed,
        }
    }

    /// Puts a datagram of `len` bytes on the link at `now`. Under a rate limit it leaves when
    /// what is queued before it has gone (a token bucket of one datagram, as a bottleneck
    /// link's queue behaves), or is dropped if the queue holds `queue_bytes` already.
    pub fn send(&mut self, now: Instant, len: usize, item: T) {
        let leaves = match self.model.rate.filter(|r| *r > 0) {
            None => now,
            Some(rate) => {
                let start = self.busy_until.filter(|b| *b > now).unwrap_or(now);
                let queued = start.saturating_duration_since(now).as_secs_f64() * rate as f64;
                if queued + len as f64 > self.model.queue_bytes as f64 {
                    self.overflowed += 1;
                    return;
                }
                let nanos = (len as u128 * 1_000_000_000 / u128::from(rate)) as u64;
                let done = start + Duration::from_nanos(nanos);
                self.busy_until = Some(done);
                done
            }
        };
        self.netem.send(leaves, (len, item));
    }

    /// When the next datagram is due, if any is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.netem.poll_timeout()
    }

    /// The next datagram due by `now`, earliest release first.
    pub fn poll_recv(&mut self, now: Instant) -> Option<T> {
        self.netem.poll_recv(now).map(|(_, item)| item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `count` items 1 ms apart and drains everything; returns (release instant, item).
    fn run(
        model: WanDirection,
        seed: u64,
        count: u32,
        len: usize,
    ) -> (Vec<(Instant, u32)>, WanStats, Instant) {
        let t0 = Instant::now();
        let mut link = WanLink::new(model, seed);
        let mut out = Vec::new();
        for i in 0..count {
            let now = t0 + Duration::from_millis(u64::from(i));
            link.send(now, len, i);
            while let Some(item) = link.poll_recv(now) {
                out.push((now, item));
            }
        }
        while let Some(at) = link.poll_timeout() {
            while let Some(item) = link.poll_recv(at) {
                out.push((at, item));
            }
        }
        (out, link.stats(), t0)
    }

    #[test]
    fn burst_loss_has_the_asked_rate_and_mean_burst() {
        for (loss, burst) in [(0.2, 4.0), (0.05, 1.0), (0.1, 8.0)] {
            let model =
                WanDirection::delayed(Duration::ZERO, Duration::ZERO).with_loss(loss, burst);
            let (out, stats, _) = run(model, 0x3a7, 200_000, 100);
            let rate = stats.lost as f64 / 200_000.0;
            assert!((rate - loss).abs() < loss * 0.1, "loss {rate} for {loss}");
            let items: Vec<u32> = out.iter().map(|(_, i)| *i).collect();
            let bursts: Vec<u32> = items
                .windows(2)
                .map(|w| w[1] - w[0] - 1)
                .filter(|g| *g > 0)
                .collect();
            let mean = f64::from(bursts.iter().sum::<u32>()) / bursts.len() as f64;
            assert!(
                (mean - burst).abs() < burst * 0.1,
                "mean burst {mean} for {burst}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_bounds_reorders_and_releases_in_time_order() {
        let (delay, jitter) = (Duration::from_millis(50), Duration::from_millis(5));
        let (out, _, t0) = run(WanDirection::delayed(delay, jitter), 9, 10_000, 100);
        assert_eq!(out.len(), 10_000, "nothing lost, nothing held forever");
        for (at, i) in &out {
            let sent = t0 + Duration::from_millis(u64::from(*i));
            let late = at.saturating_duration_since(sent);
            assert!(
                late >= delay && late <= delay + jitter + Duration::from_millis(1),
                "{late:?}"
            );
        }
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "released by time");
        let reordered = out.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert!(reordered > 1000, "{reordered}");
    }

    #[test]
    fn a_rate_limit_spaces_datagrams_and_drops_beyond_its_queue() {
        let mut model = WanDirection::delayed(Duration::ZERO, Duration::ZERO);
        // 100 kB/s and 1000-byte datagrams sent every ms (1 MB/s): one in ten gets through
        // after the 10 kB queue fills.
        model.rate = Some(100_000);
        model.queue_bytes = 10_000;
        let (out, stats, _) = run(model, 1, 1000, 1000);
        assert_eq!(out.len() as u64 + stats.overflowed, 1000);
        assert!((95..=115).contains(&out.len()), "{}", out.len());
        for w in out.windows(2) {
            assert!(w[1].0 - w[0].0 >= Duration::from_millis(10) - Duration::from_micros(1));
            assert!(w[0].1 < w[1].1, "a queue keeps order");
        }
    }
}
