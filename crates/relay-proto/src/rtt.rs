//! Round-trip time of the repair path, estimated as TCP does (RFC 6298 §2), from NACKs whose
//! answer is unambiguous (asked once: Karn's rule, RFC 6298 §3).

use std::time::Duration;

/// Smoothed RTT and RTT variation of the repair path (SRTT and RTTVAR of RFC 6298 §2), from which
/// the receiver times its NACK retries.
#[derive(Debug, Clone, Copy)]
pub struct RttEstimator {
    smoothed: Duration,
    variation: Duration,
    samples: u64,
}

/// The floor of the retry interval: below this, answers still in flight (queued behind other
/// answers, or at a busy cloud) would be asked for again.
const MIN_RETRY: Duration = Duration::from_millis(5);

impl RttEstimator {
    /// `initial` stands in until the first sample (RFC 6298 §2.1 uses 1 s for TCP; a repair path
    /// wants a guess of the real RTT, such as the QUIC connection's).
    pub fn new(initial: Duration) -> Self {
        RttEstimator {
            smoothed: initial,
            variation: initial / 2,
            samples: 0,
        }
    }

    /// Replaces the guess while no sample has been taken.
    pub fn set_initial(&mut self, initial: Duration) {
        if self.samples == 0 {
            *self = RttEstimator::new(initial);
        }
    }

    /// Takes one RTT measurement (NACK sent to first answer): the first sets SRTT = R and RTTVAR =
    /// R/2 (RFC 6298 §2.2), later ones are smoothed as in §2.3. Only samples from packets asked for
    /// once may be given (Karn's rule, §3).
    pub fn sample(&mut self, rtt: Duration) {
        if self.samples == 0 {
            self.smoothed = rtt;
            self.variation = rtt / 2;
        } else {
            // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|; SRTT = 7/8 SRTT + 1/8 R (RFC 6298 §2.3).
            let deviation = self.smoothed.abs_diff(rtt);
            self.variation = (self.variation * 3 + deviation) / 4;
            self.smoothed = (self.smoothed * 7 + rtt) / 8;
        }
        self.samples += 1;
    }

    /// The smoothed RTT (SRTT), or the initial guess before any sample.
    pub fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// The RTT variation (RTTVAR), half the initial guess before any sample.
    pub fn variation(&self) -> Duration {
        self.variation
    }

    /// How long to wait for an answer before asking again: about one RTT, plus the variation.
    pub fn retry_interval(&self) -> Duration {
        self.smoothed + (self.variation * 4).max(self.smoothed / 8).max(MIN_RETRY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_to_a_steady_rtt() {
        let mut rtt = RttEstimator::new(Duration::from_millis(100));
        for _ in 0..50 {
            rtt.sample(Duration::from_millis(20));
        }
        assert_eq!(rtt.smoothed(), Duration::from_millis(20));
        assert!(rtt.variation() < Duration::from_millis(1));
        let retry = rtt.retry_interval();
        assert!(
            retry > Duration::from_millis(20) && retry <= Duration::from_millis(25),
            "{retry:?}"
        );
        rtt.set_initial(Duration::from_secs(1));
        assert_eq!(rtt.smoothed(), Duration::from_millis(20));
    }
}
