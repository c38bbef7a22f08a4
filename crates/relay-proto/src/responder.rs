//! The cloud's side of one edge's repair connection.

use crate::cache::RetransmitCache;
use crate::repair::{CloudMessage, NackRequest};
use std::collections::VecDeque;

/// Requests remembered for spotting the second copy of a NACK.
const RECENT_REQUESTS: usize = 256;

/// Answers the NACKs of one edge. Edges send every NACK twice, since a lost NACK costs a whole
/// round trip; the responder answers whichever copy comes first and drops the other by its id,
/// so the doubling costs a few bytes upstream and nothing downstream.
#[derive(Debug, Default)]
pub struct RepairResponder {
    recent: VecDeque<(u32, u32)>,
    duplicates: u64,
}

impl RepairResponder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies of a request already answered.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Appends the answers to `request` (`cache` is `None` for a stream the cloud does not know).
    /// Returns false, answering nothing, for the second copy of a request.
    pub fn answer(
        &mut self,
        cache: Option<&RetransmitCache>,
        request: &NackRequest,
        out: &mut Vec<CloudMessage>,
    ) -> bool {
        let key = (request.ssrc, request.id);
        if self.recent.contains(&key) {
            self.duplicates += 1;
            return false;
        }
        if self.recent.len() == RECENT_REQUESTS {
            self.recent.pop_front();
        }
        self.recent.push_back(key);
        match cache {
            Some(cache) => cache.answer(request, out),
            None => out.push(CloudMessage::UnknownStream { ssrc: request.ssrc }),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repair::NackRange;

    #[test]
    fn second_copies_are_dropped_and_unknown_streams_answered() {
        let mut responder = RepairResponder::new();
        let request = NackRequest {
            ssrc: 5,
            id: 1,
            copies: 1,
            ranges: NackRange::pack(&[3]),
        };
        let mut out = Vec::new();
        assert!(responder.answer(None, &request, &mut out));
        assert!(!responder.answer(None, &request, &mut out));
        assert_eq!(out, [CloudMessage::UnknownStream { ssrc: 5 }]);
        let retry = NackRequest { id: 2, ..request };
        assert!(responder.answer(None, &retry, &mut out));
        assert_eq!(responder.duplicates(), 1);
    }
}
