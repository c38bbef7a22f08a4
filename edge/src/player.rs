//! One HTTP-FLV player: a bounded queue with a drop policy, and the response body that drains it.
//!
//! The stream task offers every tag to every player; an offer never waits. A player that falls
//! behind (its queue holds `limit` bytes) loses non-key video up to the next keyframe, counted; if
//! that keyframe does not fit either, the player is disconnected. Audio and configuration tags are
//! kept while there is room. So a slow player never slows the stream or other players, and its
//! memory is bounded by `limit` (tags are shared handles, so often much less).

use crate::tag::FlvTag;
use bytes::Bytes;
use http_body::{Body, Frame};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio_util::task::task_tracker::TaskTrackerToken;

/// Queue slots a drained queue keeps (a tick's tags); a larger allocation left by a burst is
/// freed once the burst is sent.
const KEPT_QUEUE_SLOTS: usize = 8;

/// What happened to an offered tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// In the player's queue, to be sent.
    Queued,
    /// Dropped by the policy (the stream counts these).
    Dropped,
    /// The player is gone or hopelessly behind: remove it.
    Disconnect,
}

/// The queue and its policy, without any synchronisation (sans-IO, unit-tested).
#[derive(Debug)]
pub struct PlayerQueue {
    items: VecDeque<Bytes>,
    bytes: usize,
    limit: usize,
    skipping_to_keyframe: bool,
    finished: bool,
    /// Ended for staying behind: the response is aborted, not ended, so the player sees an
    /// error rather than a stream that looks complete.
    cut_off: bool,
    closed: bool,
}

impl PlayerQueue {
    /// An empty queue that holds offered tags up to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        PlayerQueue {
            items: VecDeque::new(),
            bytes: 0,
            limit,
            skipping_to_keyframe: false,
            finished: false,
            cut_off: false,
            closed: false,
        }
    }

    /// Queues bytes the player must get whatever the limit (the FLV header and the start of the
    /// stream: configuration tags and the cached GOP).
    pub fn push_unbounded(&mut self, bytes: Bytes) {
        self.bytes += bytes.len();
        self.items.push_back(bytes);
    }

    /// Offers a live tag; never waits. A tag that fits is queued. When full, non-key video is
    /// dropped until a keyframe fits; a keyframe that does not fit while already skipping means
    /// `Disconnect`, as does a finished or closed queue.
    pub fn offer(&mut self, tag: &FlvTag) -> Offer {
        if self.closed || self.finished {
            return Offer::Disconnect;
        }
        let fits = self.bytes + tag.len() <= self.limit;
        if tag.keyframe {
            if fits {
                self.skipping_to_keyframe = false;
                self.push_unbounded(tag.framed.clone());
                return Offer::Queued;
            }
            if self.skipping_to_keyframe {
                return Offer::Disconnect;
            }
            self.skipping_to_keyframe = true;
            return Offer::Dropped;
        }
        if tag.is_inter_video() && self.skipping_to_keyframe {
            return Offer::Dropped;
        }
        if fits {
            self.push_unbounded(tag.framed.clone());
            return Offer::Queued;
        }
        if tag.is_inter_video() {
            self.skipping_to_keyframe = true;
        }
        Offer::Dropped
    }

    /// Takes the oldest queued buffer for the response body; `None` when the queue is empty.
    pub fn pop(&mut self) -> Option<Bytes> {
        let bytes = self.items.pop_front()?;
        self.bytes -= bytes.len();
        self.give_back_burst();
        Some(bytes)
    }

    /// Moves up to `most` of the oldest queued buffers to the end of `batch`; how many.
    pub fn take_into(&mut self, batch: &mut Vec<Bytes>, most: usize) -> usize {
        let count = most.min(self.items.len());
        for bytes in self.items.drain(..count) {
            self.bytes -= bytes.len();
            batch.push(bytes);
        }
        self.give_back_burst();
        count
    }

    fn give_back_burst(&mut self) {
        if self.items.is_empty() && self.items.capacity() > KEPT_QUEUE_SLOTS {
            // The join's burst (a whole GOP) is sent: give its slots back, which a few thousand
            // players would otherwise each hold for the rest of the stream.
            self.items.shrink_to(KEPT_QUEUE_SLOTS);
        }
    }

    /// The stream continues from another publish: no inter frame until its next keyframe.
    pub fn wait_for_keyframe(&mut self) {
        self.skipping_to_keyframe = true;
    }

    /// The stream ended: the player gets what is queued, then the response ends.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether the stream ended or the player was cut off: no tag is queued any more, and the
    /// response ends once the queue is drained.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The player stayed behind: drop what is queued and abort its response.
    pub fn cut_off(&mut self) {
        self.cut_off = true;
        self.finished = true;
        self.items.clear();
        self.bytes = 0;
    }
}

/// A player shared between the stream task (producer) and its response body (consumer).
#[derive(Debug)]
pub struct Player {
    state: Mutex<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: PlayerQueue,
    waker: Option<Waker>,
}

impl Player {
    /// A player whose queue holds at most `limit` bytes of offered tags, to be shared by its stream
    /// task and its response body.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Player {
            state: Mutex::new(Shared {
                queue: PlayerQueue::new(limit),
                waker: None,
            }),
        })
    }

    /// Runs `change` on the queue, then wakes the body if it was waiting.
    fn update<T>(&self, change: impl FnOnce(&mut PlayerQueue) -> T) -> T {
        let mut shared = self.state.lock();
        let result = change(&mut shared.queue);
        let waker = shared.waker.take();
        drop(shared);
        if let Some(waker) = waker {
            waker.wake();
        }
        result
    }

    /// [`PlayerQueue::push_unbounded`], waking the response body.
    pub fn push_unbounded(&self, bytes: Bytes) {
        self.update(|queue| queue.push_unbounded(bytes));
    }

    /// [`PlayerQueue::offer`], without waking the response body: the stream task offers every
    /// tag of a tick (or of `merge_write_ms`) first and then calls [`Player::wake`] once, so the
    /// body sends them in one write instead of one write and one task wake-up per tag.
    pub fn offer(&self, tag: &FlvTag) -> Offer {
        self.state.lock().queue.offer(tag)
    }

    /// Wakes the response body if it waits for tags, so it sends what was offered since.
    pub fn wake(&self) {
        let waker = self.state.lock().waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// [`PlayerQueue::finish`]: the response ends once what is queued is sent.
    pub fn finish(&self) {
        self.update(PlayerQueue::finish);
    }

    /// [`PlayerQueue::wait_for_keyframe`]: no inter frame until the next keyframe.
    pub fn wait_for_keyframe(&self) {
        self.update(PlayerQueue::wait_for_keyframe);
    }

    /// [`PlayerQueue::cut_off`]: drops what is queued and aborts the response with
    /// [`PlayerCutOff`].
    pub fn cut_off(&self) {
        self.update(PlayerQueue::cut_off);
    }
}

/// The HTTP response body of one player. Dropping it (the client went away) marks the player
/// closed, and the stream task forgets it at the next tag.
#[derive(Debug)]
pub struct PlayerBody {
    player: Arc<Player>,
    /// Held while the response is open, so shutdown waits for it (see `relay_node::Tasks`).
    _tracked: Option<TaskTrackerToken>,
}

impl PlayerBody {
    /// The response body draining `player`'s queue; not counted as a task until
    /// [`PlayerBody::tracked`].
    pub fn new(player: Arc<Player>) -> Self {
        PlayerBody {
            player,
            _tracked: None,
        }
    }

    /// Counts this response as a running task of the edge until it is dropped.
    pub fn tracked(mut self, token: TaskTrackerToken) -> Self {
        self._tracked = Some(token);
        self
    }
}

/// Why a player's response was aborted.
#[derive(Debug)]
pub struct PlayerCutOff;

impl std::fmt::Display for PlayerCutOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the player stayed behind the stream and was disconnected")
    }
}

impl std::error::Error for PlayerCutOff {}

impl PlayerBody {
    /// The next queued buffer; otherwise the end, the cut-off, or a wait for [`Player::wake`].
    /// The HTTP body and WebSocket-FLV (one message per buffer) both drain the queue here.
    pub fn poll_buffer(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, PlayerCutOff>>> {
        let mut shared = self.player.state.lock();
        if shared.queue.cut_off {
            return Poll::Ready(Some(Err(PlayerCutOff)));
        }
        if let Some(bytes) = shared.queue.pop() {
            return Poll::Ready(Some(Ok(bytes)));
        }
        if shared.queue.is_finished() {
            return Poll::Ready(None);
        }
        if !shared
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            shared.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// What [`PlayerBody::poll_take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Buffers were moved to the batch.
    Some,
    /// Nothing new; the body is woken when there is.
    Nothing,
    /// The queue is drained and the stream ended: the response ends.
    Finished,
}

impl PlayerBody {
    /// For a body that writes several buffers at once ([`crate::flv_socket`]): moves up to
    /// `most` queued buffers to `batch` (0 to only look), or says the stream ended or the
    /// player was cut off. Unless it is finished, the body is woken at the next
    /// [`Player::wake`] either way, so a cut-off is seen even while a write waits for the
    /// socket.
    pub fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut Vec<Bytes>,
        most: usize,
    ) -> Result<Taken, PlayerCutOff> {
        let mut shared = self.player.state.lock();
        if shared.queue.cut_off {
            return Err(PlayerCutOff);
        }
        let moved = shared.queue.take_into(batch, most);
        if moved == 0 && shared.queue.is_finished() && shared.queue.items.is_empty() {
            return Ok(Taken::Finished);
        }
        if !shared
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            shared.waker = Some(cx.waker().clone());
        }
        Ok(if moved > 0 {
            Taken::Some
        } else {
            Taken::Nothing
        })
    }
}

impl Body for PlayerBody {
    type Data = Bytes;
    type Error = PlayerCutOff;

    /// One tag per frame: hyper keeps polling while its write queue has room, so every tag
    /// queued since the last wake-up goes out in one vectored write, each with its chunk
    /// framing as separate slices (the tag's bytes are never copied).
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, PlayerCutOff>>> {
        self.get_mut()
            .poll_buffer(cx)
            .map(|next| next.map(|result| result.map(Frame::data)))
    }
}

impl Drop for PlayerBody {
    fn drop(&mut self) {
        self.player.state.lock().queue.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flv::TagType;

    fn tag(tag_type: TagType, keyframe: bool, len: usize) -> FlvTag {
        FlvTag {
            tag_type,
            timestamp: 0,
            keyframe,
            config: false,
            framed: Bytes::from(vec![0u8; len]),
        }
    }

    #[test]
    fn falling_behind_skips_to_the_next_keyframe() {
        let mut queue = PlayerQueue::new(1000);
        assert_eq!(queue.offer(&tag(TagType::Video, true, 600)), Offer::Queued);
        assert_eq!(queue.offer(&tag(TagType::Video, false, 300)), Offer::Queued);
        // Full: this inter frame is dropped and so is every inter frame until a keyframe.
        assert_eq!(
            queue.offer(&tag(TagType::Video, false, 300)),
            Offer::Dropped
        );
        assert!(queue.pop().is_some());
        assert_eq!(queue.offer(&tag(TagType::Video, false, 10)), Offer::Dropped);
        // Audio still goes through while there is room.
        assert_eq!(queue.offer(&tag(TagType::Audio, false, 10)), Offer::Queued);
        assert_eq!(queue.offer(&tag(TagType::Video, true, 500)), Offer::Queued);
        assert_eq!(queue.offer(&tag(TagType::Video, false, 10)), Offer::Queued);
    }

    #[test]
    fn staying_behind_disconnects() {
        let mut queue = PlayerQueue::new(1000);
        assert_eq!(queue.offer(&tag(TagType::Video, true, 900)), Offer::Queued);
        assert_eq!(
            queue.offer(&tag(TagType::Video, false, 200)),
            Offer::Dropped
        );
        assert_eq!(
            queue.offer(&tag(TagType::Audio, false, 200)),
            Offer::Dropped
        );
        assert_eq!(
            queue.offer(&tag(TagType::Video, true, 900)),
            Offer::Disconnect
        );
        assert!(queue.bytes <= 1000);
    }

    #[test]
    fn a_drained_queue_gives_back_the_slots_of_a_burst() {
        let mut queue = PlayerQueue::new(1 << 20);
        for _ in 0..200 {
            queue.push_unbounded(Bytes::from_static(b"tag"));
        }
        assert!(queue.items.capacity() >= 200);
        while queue.pop().is_some() {}
        assert!(queue.items.capacity() <= KEPT_QUEUE_SLOTS);
        assert_eq!(queue.bytes, 0);
    }

    #[test]
    fn a_dropped_keyframe_waits_for_the_next() {
        let mut queue = PlayerQueue::new(1000);
        queue.push_unbounded(Bytes::from(vec![0u8; 990]));
        assert_eq!(queue.offer(&tag(TagType::Video, true, 100)), Offer::Dropped);
        queue.pop();
        assert_eq!(queue.offer(&tag(TagType::Video, false, 10)), Offer::Dropped);
        assert_eq!(queue.offer(&tag(TagType::Video, true, 100)), Offer::Queued);
    }

    #[test]
    fn a_cut_off_player_gets_an_error_not_an_end() {
        use std::task::Waker;
        let player = Player::new(1000);
        let mut body = PlayerBody::new(player.clone());
        player.push_unbounded(Bytes::from_static(b"FLV"));
        player.cut_off();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(Some(Err(PlayerCutOff)))
        ));
    }

    #[test]
    fn finished_and_closed_players_are_removed() {
        let player = Player::new(1000);
        let body = PlayerBody::new(player.clone());
        assert_eq!(player.offer(&tag(TagType::Audio, false, 1)), Offer::Queued);
        drop(body);
        assert_eq!(
            player.offer(&tag(TagType::Audio, false, 1)),
            Offer::Disconnect
        );
        let mut queue = PlayerQueue::new(10);
        queue.finish();
        assert_eq!(
            queue.offer(&tag(TagType::Audio, false, 1)),
            Offer::Disconnect
        );
    }
}
