//! Rates from ever-growing counters: the rate over the last completed window, recomputed when
//! read and at most once per window, so reading costs nothing on the media path.

use std::time::{Duration, Instant};

/// The per-second rate of a growing counter, measured over windows of a fixed length (5 s for the
/// stream views) and held between them.
#[derive(Debug, Clone)]
pub struct RateMeter {
    window: Duration,
    started: Instant,
    at_start: u64,
    per_second: f64,
}

impl RateMeter {
    /// A meter whose first window starts at `now` from a count of 0 and lasts `window`.
    pub fn new(now: Instant, window: Duration) -> Self {
        RateMeter {
            window,
            started: now,
            at_start: 0,
            per_second: 0.0,
        }
    }

    /// The rate of `total` (a counter that only grows) per second, over the last window that
    /// ended; 0 until one has.
    pub fn rate(&mut self, now: Instant, total: u64) -> f64 {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= self.window {
            let grown = total.saturating_sub(self.at_start);
            self.per_second = grown as f64 / elapsed.as_secs_f64();
            self.started = now;
            self.at_start = total;
        }
        self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_completed_windows() {
        let start = Instant::now();
        let mut meter = RateMeter::new(start, Duration::from_secs(5));
        assert_eq!(meter.rate(start + Duration::from_secs(2), 100), 0.0);
        assert_eq!(meter.rate(start + Duration::from_secs(5), 500), 100.0);
        // Within the next window the last rate holds.
        assert_eq!(meter.rate(start + Duration::from_secs(7), 10_000), 100.0);
        assert_eq!(meter.rate(start + Duration::from_secs(10), 1500), 200.0);
    }
}
