//! A fixed-bucket latency histogram, cheap to update on the packet path and easy to export.

use std::time::Duration;

/// Upper bounds of the buckets in milliseconds; a last bucket takes everything above.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [5, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 640];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; LATENCY_BUCKETS_MS.len() + 1],
    sum_micros: u64,
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        let ms = latency.as_millis() as u64;
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|bound| ms <= *bound)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.counts[bucket] += 1;
        self.sum_micros += latency.as_micros() as u64;
    }

    /// Count per bucket, the last being "above the largest bound".
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros)
    }
}
