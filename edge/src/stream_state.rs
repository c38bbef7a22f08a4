//! What an edge knows of one stream: configuration tags, the GOP cache and its players.
//!
//! Sans-IO: the stream task feeds it tags, gaps and players; it decides what each player gets.

use crate::player::{Offer, Player};
use crate::tag::FlvTag;
use bytes::Bytes;
use flv::TagType;
use std::sync::Arc;

/// The cached GOP is given up (new players then wait for the next keyframe) past this size, so a
/// stream with a huge keyframe interval cannot grow the cache without bound.
pub const GOP_CACHE_MAX_BYTES: usize = 32 << 20;

/// Counters of one stream on this edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Tags handed to the state, configuration and skipped ones included.
    pub tags: u64,
    /// Video tags skipped after a gap, until a keyframe.
    pub skipped_after_gap: u64,
    /// Audio and script tags of a video stream held back before its first keyframe here.
    pub skipped_before_start: u64,
    /// Tags players' queues dropped.
    pub player_drops: u64,
    /// Players disconnected for staying behind (or gone).
    pub players_removed: u64,
}

/// One stream's configuration tags, GOP cache and players: given tags, gaps and players by its
/// task, it decides what each player is sent.
#[derive(Debug)]
pub struct StreamState {
    metadata: Option<FlvTag>,
    video_config: Option<FlvTag>,
    audio_config: Option<FlvTag>,
    /// Tags since the last keyframe (or since the start, before the first keyframe).
    gop: Vec<FlvTag>,
    gop_bytes: usize,
    gop_overflowed: bool,
    /// After a gap, inter frames would decode broken: wait for a keyframe.
    awaiting_keyframe: bool,
    /// A keyframe has come: players of a video stream start on one, nothing before it.
    started: bool,
    /// Announced without video: nothing to wait for.
    audio_only: bool,
    players: Vec<Arc<Player>>,
    /// Largest timestamp handed to players, presentation times (with B-frames, past the
    /// decoding time) included.
    last_timestamp: u32,
    counters: StreamCounters,
    /// The stream's HLS packager, given every tag players are offered.
    hls: Option<Arc<crate::hls::HlsStream>>,
    /// Tags were offered to players since they were last woken (see [`StreamState::wake_players`]).
    unwoken: bool,
}

impl Default for StreamState {
    fn default() -> Self {
        StreamState {
            metadata: None,
            video_config: None,
            audio_config: None,
            gop: Vec::new(),
            gop_bytes: 0,
            gop_overflowed: false,
            awaiting_keyframe: true,
            started: false,
            audio_only: false,
            players: Vec::new(),
            last_timestamp: 0,
            counters: StreamCounters::default(),
            hls: None,
            unwoken: false,
        }
    }
}

impl StreamState {
    /// The stream's counters so far.
    pub fn counters(&self) -> StreamCounters {
        self.counters
    }

    /// Players held now; a gone one is dropped when the next tag is offered.
    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// Tags and bytes held for players that join.
    pub fn gop_cache(&self) -> (usize, usize) {
        (self.gop.len(), self.gop_bytes)
    }

    /// An announcement's configuration tags. They fill configuration this edge has not seen in
    /// band (it joined mid-stream, or the repair connection told it first); players already
    /// watching get it too, since they joined without it. An announcement with configuration
    /// but no video configuration says the stream is audio-only: it starts at once.
    pub fn on_announced_config(&mut self, tags: Vec<FlvTag>) {
        if !tags.is_empty()
            && self.video_config.is_none()
            && !tags.iter().any(|t| t.tag_type == TagType::Video)
        {
            self.audio_only = true;
        }
        for tag in tags {
            let slot = self.config_slot(&tag);
            if slot.is_none() {
                *slot = Some(tag.clone());
                self.fan_out(&tag);
            }
        }
    }

    /// Packets were lost for good: drop video until the next keyframe.
    pub fn on_gap(&mut self) {
        self.awaiting_keyframe = true;
    }

    /// The largest timestamp handed to players, in ms, presentation times included; players given
    /// to a successor continue past it.
    pub fn last_timestamp(&self) -> u32 {
        self.last_timestamp
    }

    /// A reassembled tag: new configuration is kept, video waits for a keyframe at the start and
    /// after a gap, and other tags of a video stream wait for its first keyframe; what passes is
    /// cached in the GOP and offered to every player. Configuration already held is not sent again.
    pub fn on_tag(&mut self, tag: FlvTag) {
        self.counters.tags += 1;
        if tag.config {
            let slot = self.config_slot(&tag);
            if slot.as_ref().is_some_and(|held| held.body() == tag.body()) {
                // Already known (from an announcement, or repeated): players have it.
                return;
            }
            *slot = Some(tag.clone());
        } else if tag.tag_type == TagType::Video {
            if tag.keyframe {
                self.started = true;
                self.awaiting_keyframe = false;
                self.gop.clear();
                self.gop_bytes = 0;
                self.gop_overflowed = false;
            } else if self.awaiting_keyframe {
                self.counters.skipped_after_gap += 1;
                return;
            }
        } else if !self.started && !self.audio_only {
            self.counters.skipped_before_start += 1;
            return;
        }
        if !tag.config {
            self.cache(&tag);
        }
        self.last_timestamp = self.last_timestamp.max(tag.presentation_end());
        self.fan_out(&tag);
    }

    fn config_slot(&mut self, tag: &FlvTag) -> &mut Option<FlvTag> {
        match tag.tag_type {
            TagType::Script => &mut self.metadata,
            TagType::Video => &mut self.video_config,
            TagType::Audio => &mut self.audio_config,
        }
    }

    fn cache(&mut self, tag: &FlvTag) {
        if self.gop_overflowed {
            return;
        }
        if self.gop_bytes + tag.len() > GOP_CACHE_MAX_BYTES {
            self.gop.clear();
            self.gop_bytes = 0;
            self.gop_overflowed = true;
            return;
        }
        self.gop_bytes += tag.len();
        self.gop.push(tag.clone());
    }

    fn fan_out(&mut self, tag: &FlvTag) {
        if let Some(hls) = &self.hls {
            hls.push(tag);
        }
        self.unwoken |= !self.players.is_empty();
        let counters = &mut self.counters;
        self.players.retain(|player| match player.offer(tag) {
            Offer::Queued => true,
            Offer::Dropped => {
                counters.player_drops += 1;
                true
            }
            Offer::Disconnect => {
                counters.players_removed += 1;
                player.cut_off();
                false
            }
        });
    }

    /// Whether players were offered tags they have not been woken for yet.
    pub fn has_unwoken(&self) -> bool {
        self.unwoken
    }

    /// Wakes every player's response body that waits, so each sends what it was offered since
    /// the last wake-up in one write. Offers never wake (see [`Player::offer`]): the stream task
    /// calls this once per tick, or once per `merge_write_ms`.
    pub fn wake_players(&mut self) {
        if std::mem::take(&mut self.unwoken) {
            self.players.iter().for_each(|player| player.wake());
        }
    }

    /// Starts a player: FLV header, metadata, sequence headers, then the cached GOP.
    pub fn join(&mut self, player: Arc<Player>) {
        let has_video = self.video_config.is_some() || !self.has_config();
        let has_audio = self.audio_config.is_some() || !self.has_config();
        player.push_unbounded(Bytes::copy_from_slice(&flv::file_header(
            has_audio, has_video,
        )));
        for tag in [&self.metadata, &self.video_config, &self.audio_config]
            .into_iter()
            .flatten()
        {
            player.push_unbounded(tag.framed.clone());
        }
        for tag in &self.gop {
            player.push_unbounded(tag.framed.clone());
        }
        self.players.push(player);
    }

    /// Takes over players of a publish this one replaced: they get this stream's configuration
    /// and continue at its next keyframe, in the same response. `shift` is how far this
    /// stream's timeline just moved: the configuration held takes the same shift.
    pub fn adopt(&mut self, players: Vec<Arc<Player>>, shift: u32) {
        for tag in [
            &mut self.metadata,
            &mut self.video_config,
            &mut self.audio_config,
        ]
        .into_iter()
        .flatten()
        {
            *tag = tag.shifted(shift);
        }
        for player in players {
            player.wait_for_keyframe();
            for tag in [&self.metadata, &self.video_config, &self.audio_config]
                .into_iter()
                .flatten()
            {
                player.push_unbounded(tag.framed.clone());
            }
            self.players.push(player);
        }
    }

    /// Packages the stream for HLS from now on: the packager gets what a player joining now
    /// would (configuration and the cached GOP), then every tag players are offered.
    pub fn attach_hls(&mut self, hls: Arc<crate::hls::HlsStream>) {
        for tag in [&self.metadata, &self.video_config, &self.audio_config]
            .into_iter()
            .flatten()
            .chain(&self.gop)
        {
            hls.push(tag);
        }
        self.hls = Some(hls);
    }

    /// Gives the players up to a successor stream.
    pub fn take_players(&mut self) -> Vec<Arc<Player>> {
        std::mem::take(&mut self.players)
    }

    fn has_config(&self) -> bool {
        self.video_config.is_some() || self.audio_config.is_some()
    }

    /// The stream ended: every player gets what is queued and its response ends.
    pub fn finish(&mut self) {
        for player in self.players.drain(..) {
            player.finish();
        }
        if let Some(hls) = self.hls.take() {
            hls.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::PlayerBody;
    use http_body::Body;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    fn tag(tag_type: TagType, keyframe: bool, config: bool, marker: u8) -> FlvTag {
        FlvTag {
            tag_type,
            timestamp: marker as u32,
            keyframe,
            config,
            framed: Bytes::from(vec![marker; 20]),
        }
    }

    /// Everything a player's body yields, as the first byte of each chunk.
    fn drain(body: &mut PlayerBody) -> Vec<u8> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut seen = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut *body).poll_frame(&mut cx) {
            if let Ok(data) = frame.into_data() {
                seen.push(data[0]);
            }
        }
        seen
    }

    /// A waker that counts its wake-ups.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn offers_wait_for_one_wake_up_and_then_go_out_together() {
        let mut state = StreamState::default();
        state.on_tag(tag(TagType::Video, true, false, 10));
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        state.join(player);
        assert_eq!(drain(&mut body), vec![b'F', 10]);
        // The body now waits, with a waker that counts.
        let counting = Arc::new(Counting(0.into()));
        let waker = Waker::from(counting.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        state.on_tag(tag(TagType::Video, false, false, 11));
        state.on_tag(tag(TagType::Audio, false, false, 12));
        state.on_tag(tag(TagType::Video, false, false, 13));
        let wakes = || counting.0.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(wakes(), 0);
        assert!(state.has_unwoken());
        state.wake_players();
        state.wake_players();
        assert_eq!(wakes(), 1);
        assert!(!state.has_unwoken());
        assert_eq!(drain(&mut body), vec![11, 12, 13]);
    }

    #[test]
    fn late_player_starts_with_config_and_the_current_gop() {
        let mut state = StreamState::default();
        state.on_tag(tag(TagType::Script, false, true, 1));
        state.on_tag(tag(TagType::Video, false, true, 2));
        state.on_tag(tag(TagType::Audio, false, true, 3));
        state.on_tag(tag(TagType::Video, true, false, 10));
        state.on_tag(tag(TagType::Video, false, false, 11));
        state.on_tag(tag(TagType::Video, true, false, 20));
        state.on_tag(tag(TagType::Audio, false, false, 21));
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        state.join(player);
        state.on_tag(tag(TagType::Video, false, false, 22));
        state.finish();
        // 'F' of the FLV header, the three config tags, the GOP from keyframe 20, then live.
        assert_eq!(drain(&mut body), vec![b'F', 1, 2, 3, 20, 21, 22]);
    }

    #[test]
    fn a_video_stream_starts_at_a_keyframe_and_an_audio_only_one_at_once() {
        let mut video = StreamState::default();
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        video.join(player);
        video.on_tag(tag(TagType::Video, false, true, 2));
        video.on_tag(tag(TagType::Audio, false, false, 5));
        video.on_tag(tag(TagType::Video, false, false, 6));
        video.on_tag(tag(TagType::Video, true, false, 10));
        video.on_tag(tag(TagType::Audio, false, false, 11));
        video.finish();
        assert_eq!(drain(&mut body), vec![b'F', 2, 10, 11]);
        assert_eq!(video.counters().skipped_before_start, 1);

        let mut audio_only = StreamState::default();
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        audio_only.join(player);
        // Before any announcement says what the stream carries, audio waits too.
        audio_only.on_tag(tag(TagType::Audio, false, false, 4));
        audio_only.on_announced_config(vec![tag(TagType::Audio, false, true, 3)]);
        audio_only.on_tag(tag(TagType::Audio, false, false, 5));
        audio_only.finish();
        assert_eq!(drain(&mut body), vec![b'F', 3, 5]);
    }

    #[test]
    fn after_a_gap_video_resumes_at_a_keyframe() {
        let mut state = StreamState::default();
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        state.join(player);
        state.on_tag(tag(TagType::Video, true, false, 10));
        state.on_gap();
        state.on_tag(tag(TagType::Video, false, false, 11));
        state.on_tag(tag(TagType::Audio, false, false, 12));
        state.on_tag(tag(TagType::Video, true, false, 13));
        state.on_tag(tag(TagType::Video, false, false, 14));
        state.finish();
        assert_eq!(drain(&mut body), vec![b'F', 10, 12, 13, 14]);
        assert_eq!(state.counters().skipped_after_gap, 1);
    }

    #[test]
    fn adopted_players_get_the_new_config_then_wait_for_a_keyframe() {
        let mut old = StreamState::default();
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        old.join(player);
        old.on_tag(tag(TagType::Video, true, false, 10));
        let mut new = StreamState::default();
        new.on_tag(tag(TagType::Video, false, true, 2));
        new.adopt(old.take_players(), 0);
        new.on_tag(tag(TagType::Video, false, false, 30));
        new.on_tag(tag(TagType::Audio, false, false, 31));
        new.on_tag(tag(TagType::Video, true, false, 32));
        new.finish();
        old.finish();
        // Audio of the new publish before its first keyframe is held back too.
        assert_eq!(drain(&mut body), vec![b'F', 10, 2, 32]);
    }

    #[test]
    fn a_config_tag_already_announced_is_not_sent_twice() {
        let mut state = StreamState::default();
        state.on_announced_config(vec![tag(TagType::Video, false, true, 2)]);
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        state.join(player);
        state.on_tag(tag(TagType::Video, false, true, 2));
        state.on_tag(tag(TagType::Video, true, false, 10));
        state.on_tag(tag(TagType::Video, false, true, 3));
        state.finish();
        assert_eq!(drain(&mut body), vec![b'F', 2, 10, 3]);
    }

    #[test]
    fn config_announced_after_a_player_joined_reaches_it_once() {
        let mut state = StreamState::default();
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        state.join(player);
        state.on_announced_config(vec![tag(TagType::Script, false, true, 1)]);
        state.on_tag(tag(TagType::Script, false, true, 1));
        state.on_tag(tag(TagType::Video, true, false, 10));
        state.finish();
        assert_eq!(drain(&mut body), vec![b'F', 1, 10]);
    }

    #[test]
    fn announced_config_fills_only_what_is_missing() {
        let mut state = StreamState::default();
        state.on_tag(tag(TagType::Video, false, true, 2));
        state.on_announced_config(vec![
            tag(TagType::Video, false, true, 99),
            tag(TagType::Audio, false, true, 3),
        ]);
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        state.join(player);
        state.finish();
        assert_eq!(drain(&mut body), vec![b'F', 2, 3]);
    }
}
