//! Interarrival jitter of the data path, as RTP receivers estimate it (RFC 3550 §6.4.1 and
//! appendix A.8): the mean deviation of the difference in transit time of successive packets,
//! smoothed with gain 1/16. The RTP clock here is 1 kHz, so transit is compared in milliseconds.

use std::time::{Duration, Instant};

/// Estimator of the data path's interarrival jitter J (RFC 3550 §6.4.1), updated per received
/// packet with gain 1/16 and kept in fixed point as in appendix A.8.
#[derive(Debug, Clone, Copy, Default)]
pub struct JitterEstimator {
    /// Transit of the previous packet: arrival (µs since the first) minus RTP time (µs).
    previous_transit: Option<i64>,
    origin: Option<Instant>,
    /// Jitter in microseconds, times 16 (the estimator's fixed point, as in RFC 3550 A.8).
    scaled: u64,
}

impl JitterEstimator {
    /// A packet with RTP timestamp `timestamp` (ms) arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, timestamp: u32) {
        let origin = *self.origin.get_or_insert(now);
        let arrival = now.saturating_duration_since(origin).as_micros() as i64;
        let transit = arrival - i64::from(timestamp) * 1000;
        if let Some(previous) = self.previous_transit.replace(transit) {
            let deviation = (transit - previous).unsigned_abs();
            // J += (|D| - J) / 16, kept times 16.
            self.scaled = self.scaled + deviation - (self.scaled + 8) / 16;
        }
    }

    /// The current jitter estimate (µs resolution); zero until two packets have arrived.
    pub fn jitter(&self) -> Duration {
        Duration::from_micros(self.scaled / 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_arrivals_have_no_jitter_and_alternating_delay_has_some() {
        let t0 = Instant::now();
        let mut steady = JitterEstimator::default();
        let mut wobbly = JitterEstimator::default();
        for i in 0..500u32 {
            let sent = Duration::from_millis(u64::from(i) * 20);
            steady.on_packet(t0 + sent + Duration::from_millis(7), i * 20);
            let wobble = Duration::from_millis(if i % 2 == 0 { 2 } else { 6 });
            wobbly.on_packet(t0 + sent + wobble, i * 20);
        }
        assert_eq!(steady.jitter(), Duration::ZERO);
        // Every transit differs from the last by 4 ms: the estimate converges to 4 ms.
        let ms = wobbly.jitter().as_secs_f64() * 1000.0;
        assert!((3.8..=4.0).contains(&ms), "{ms}");
    }
}
