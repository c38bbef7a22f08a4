//! The cloud's side of one edge's repair connection.

use crate::cache::RetransmitCache;
use crate::repair::{CloudMessage, NackRequest};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Requests remembered for spotting the second copy of a NACK.
const RECENT_REQUESTS: usize = 256;

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// Every packet it names is answered.
    Yes,
    /// The second copy of a request already answered: nothing to send.
    Duplicate,
    /// Over the edge's budget: answered with one [`CloudMessage::Throttled`].
    Throttled,
}

/// A token bucket of answers: `per_second` packets a second, up to one second's worth saved up.
/// An edge's requests cost what they ask for (packets named times copies), so one request for
/// thousands of packets, or a flood of them, cannot make the cloud send more than the budget.
#[derive(Debug, Clone)]
pub struct AnswerBudget {
    per_second: u64,
    tokens: f64,
    refilled: Option<Instant>,
}

impl AnswerBudget {
    /// A full bucket of `per_second` (at least 1).
    pub fn new(per_second: u64) -> Self {
        let per_second = per_second.max(1);
        AnswerBudget {
            per_second,
            tokens: per_second as f64,
            refilled: None,
        }
    }

    /// Takes `cost` tokens at `now` if there are that many; else takes none.
    fn take(&mut self, now: Instant, cost: u64) -> bool {
        let elapsed = self
            .refilled
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        self.refilled = Some(now);
        let full = self.per_second as f64;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * full).min(full);
        if (cost as f64) > self.tokens {
            return false;
        }
        self.tokens -= cost as f64;
        true
    }
}

/// Answers the NACKs of one edge within its budget. Edges send every NACK twice, since a lost
/// NACK costs a whole round trip; the responder answers whichever copy comes first and drops
/// the other by its id, so the doubling costs a few bytes upstream and nothing downstream.
#[derive(Debug)]
pub struct RepairResponder {
    recent: VecDeque<(u32, u32)>,
    budget: AnswerBudget,
    duplicates: u64,
    throttled: u64,
}

impl RepairResponder {
    /// A responder with no request remembered yet, spending answers from `budget`.
    pub fn new(budget: AnswerBudget) -> Self {
        RepairResponder {
            recent: VecDeque::new(),
            budget,
            duplicates: 0,
            throttled: 0,
        }
    }

    /// Copies of a request already answered.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Requests refused for the budget.
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    /// Appends the answers to `request`, received at `now` (`cache` is `None` for a stream the
    /// cloud does not know). A throttled request is not remembered: its second copy, or a
    /// retry, is weighed again.
    pub fn answer(
        &mut self,
        now: Instant,
        cache: Option<&RetransmitCache>,
        request: &NackRequest,
        out: &mut Vec<CloudMessage>,
    ) -> Answered {
        let key = (request.ssrc, request.id);
        if self.recent.contains(&key) {
            self.duplicates += 1;
            return Answered::Duplicate;
        }
        let cost = request.packets() * u64::from(request.copies.max(1));
        if !self.budget.take(now, cost) {
            self.throttled += 1;
            out.push(CloudMessage::Throttled {
                ssrc: request.ssrc,
                id: request.id,
            });
            return Answered::Throttled;
        }
        if self.recent.len() == RECENT_REQUESTS {
            self.recent.pop_front();
        }
        self.recent.push_back(key);
        match cache {
            Some(cache) => cache.answer(request, out),
            None => out.push(CloudMessage::UnknownStream { ssrc: request.ssrc }),
        }
        Answered::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repair::NackRange;

    #[test]
    fn second_copies_are_dropped_and_unknown_streams_answered() {
        let now = Instant::now();
        let mut responder = RepairResponder::new(AnswerBudget::new(1000));
        let request = NackRequest {
            ssrc: 5,
            id: 1,
            copies: 1,
            ranges: NackRange::pack(&[3]),
        };
        let mut out = Vec::new();
        assert_eq!(
            responder.answer(now, None, &request, &mut out),
            Answered::Yes
        );
        assert_eq!(
            responder.answer(now, None, &request, &mut out),
            Answered::Duplicate
        );
        assert_eq!(out, [CloudMessage::UnknownStream { ssrc: 5 }]);
        let retry = NackRequest { id: 2, ..request };
        assert_eq!(responder.answer(now, None, &retry, &mut out), Answered::Yes);
        assert_eq!(responder.duplicates(), 1);
    }

    /// 64 ranges of 65 packets, 3 copies each, cost 12 480 answers: over a budget of 5 000 a
    /// second such a request is throttled whole, while small ones pass until the bucket is
    /// empty and again as it refills.
    #[test]
    fn requests_over_the_budget_are_throttled() {
        let t0 = Instant::now();
        let mut responder = RepairResponder::new(AnswerBudget::new(5_000));
        let all: Vec<u64> = (0..64 * 65).map(|i| 1_000 + i).collect();
        let huge = NackRequest {
            ssrc: 5,
            id: 1,
            copies: 3,
            ranges: NackRange::pack(&all),
        };
        assert_eq!(huge.ranges.len(), 64);
        let mut out = Vec::new();
        assert_eq!(
            responder.answer(t0, None, &huge, &mut out),
            Answered::Throttled
        );
        assert_eq!(out, [CloudMessage::Throttled { ssrc: 5, id: 1 }]);
        // 65 packets a request: 76 fit in 5 000, the 77th does not.
        let small = |id| NackRequest {
            ssrc: 5,
            id,
            copies: 1,
            ranges: NackRange::pack(&all[..65]),
        };
        let answered = (10..100)
            .take_while(|id| responder.answer(t0, None, &small(*id), &mut out) == Answered::Yes)
            .count();
        assert_eq!(answered, 76);
        assert_eq!(responder.throttled(), 2);
        // 60 tokens were left; 10 ms later 50 more came back: one more request of 65 passes
        // (45 left), the next does not.
        let later = t0 + Duration::from_millis(10);
        assert_eq!(
            responder.answer(later, None, &small(200), &mut out),
            Answered::Yes
        );
        assert_eq!(
            responder.answer(later, None, &small(201), &mut out),
            Answered::Throttled
        );
    }
}
