//! A fixed-bucket latency histogram, cheap to update on the packet path and easy to export.

use std::time::Duration;

/// Upper bounds of the buckets in milliseconds; a last bucket takes everything above.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [5, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 640];

/// Latency observations counted into the fixed [`LATENCY_BUCKETS_MS`] buckets, plus their sum, so
/// that a Prometheus-style histogram can be exported without keeping samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; LATENCY_BUCKETS_MS.len() + 1],
    sum_micros: u64,
}

impl LatencyHistogram {
    /// Counts `latency` in the first bucket whose bound (ms, compared after truncation to whole ms)
    /// is not below it, or in the overflow bucket; adds it to the sum at µs resolution.
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

    /// Observations recorded, over all buckets.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of all recorded latencies (µs resolution).
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros)
    }

    /// Adds `other`'s observations (node totals over many streams).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
        self.sum_micros += other.sum_micros;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_sums() {
        let mut a = LatencyHistogram::default();
        a.record(Duration::from_millis(3));
        let mut b = LatencyHistogram::default();
        b.record(Duration::from_millis(3));
        b.record(Duration::from_secs(2));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.counts()[0], 2);
        assert_eq!(a.counts()[LATENCY_BUCKETS_MS.len()], 1);
        assert_eq!(a.sum(), Duration::from_millis(2006));
    }
}
