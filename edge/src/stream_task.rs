//! The task that owns one SSRC's stream: receiver (reassembly and repair), state, players.
//! Nothing else touches them; everything reaches the task as a [`StreamInput`] or a [`Command`].

use crate::config::EdgeSettings;
use crate::stats::{SnapshotCell, StreamSnapshot, SNAPSHOT_INTERVAL};
use crate::stream_state::StreamState;
use crate::streams::{Adoption, Command, Handover, Registration, StreamHandle, Streams};
use crate::tag::FlvTag;
use relay_node::Tasks;
use relay_proto::NackRequest;
use relay_proto::{
    Announcement, Packet, ReassembledBody, ReassemblerConfig, ReassemblerEvent, Receiver,
    ReceiverConfig, Source,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

/// A stream that sends nothing for this long has gone (the cloud or its publisher died and no
/// end-of-stream message came by either path).
const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// Packets held for reassembly; about 22 MB of 1400-byte packets, more than a 1 MB tag needs.
const REASSEMBLY_WINDOW: usize = 16_384;
/// Commands (player joins) waiting for the task.
const COMMAND_QUEUE: usize = 256;

/// What stream tasks share (the router hands it to each task it starts).
#[derive(Clone)]
pub struct StreamContext {
    /// The name index a task registers its stream in once announced.
    pub streams: Arc<Streams>,
    /// The edge's settings: the playout deadline and the limits tasks apply.
    pub settings: Arc<EdgeSettings>,
    /// NACKs to the repair client; full means drop (the receiver asks again).
    pub nacks: mpsc::Sender<NackRequest>,
    /// The repair connection's RTT, when connected.
    pub rtt: watch::Receiver<Option<Duration>>,
    /// Where stream tasks are spawned and told to stop.
    pub tasks: Tasks,
    /// Where a stream's HLS packager is made and found.
    pub hls: Arc<crate::hls::Hls>,
}

/// What the UDP reader and the repair client hand a stream task.
#[derive(Debug)]
pub enum StreamInput {
    /// An authenticated packet, from the network or repaired over the repair connection.
    Packet(Packet, Source),
    /// The stream as announced on the repair connection.
    Announce(Announcement),
    /// End of stream, said on the repair connection: the stream's last packet.
    End {
        /// Sequence number of the stream's last packet.
        last_seq: u64,
    },
    /// The cloud no longer has this packet.
    Evicted(u64),
}

struct StreamTask {
    ssrc: u32,
    context: StreamContext,
    commands: mpsc::Sender<Command>,
    handover: Arc<Handover>,
    name: Option<String>,
    receiver: Receiver,
    state: StreamState,
    ended: bool,
    /// The last packet, once the repair connection said the stream ended.
    ends_at: Option<u64>,
    /// Added to every timestamp so adopted players' timelines never go back.
    timestamp_offset: u32,
    nacks_dropped: u64,
    /// RTP bytes received, headers included (repairs too).
    bytes: u64,
    /// Unix ms when the publish started, from its announcement.
    epoch: u64,
    stats: Arc<SnapshotCell>,
    next_snapshot: Instant,
}

/// Runs until end of stream, supersession, idle time-out or shutdown.
/// Publishes its figures into `stats`, its last ones before `inputs` is dropped.
/// `first_seq`: the first packet this edge is to receive, as the cloud announced.
pub async fn run_stream(
    ssrc: u32,
    first_seq: u64,
    mut inputs: mpsc::Receiver<StreamInput>,
    stats: Arc<SnapshotCell>,
    context: StreamContext,
) {
    let (commands, mut command_rx) = mpsc::channel(COMMAND_QUEUE);
    let config = ReceiverConfig {
        reassembly: ReassemblerConfig {
            deadline: context.settings.playout_deadline,
            window: REASSEMBLY_WINDOW,
        },
        nack: true,
        deadline_rtts: context.settings.playout_deadline_rtts,
        ..ReceiverConfig::default()
    };
    let mut receiver = Receiver::new(ssrc, config);
    receiver.start_at(first_seq);
    let mut rtt = context.rtt.clone();
    // The repair connection's RTT as of now: the deadline and retries start from it.
    if let Some(measured) = *rtt.borrow_and_update() {
        receiver.set_rtt_hint(measured);
    }
    let mut rtt_open = true;
    let mut task = StreamTask {
        ssrc,
        commands,
        handover: Handover::new(),
        name: None,
        receiver,
        state: StreamState::default(),
        ended: false,
        ends_at: None,
        timestamp_offset: 0,
        nacks_dropped: 0,
        bytes: 0,
        epoch: 0,
        stats,
        next_snapshot: Instant::now(),
        context,
    };
    let mut last_input = Instant::now();
    let mut superseded = false;
    // With merge_write_ms, players are woken at most once per that much time.
    let merge_write = task.context.settings.merge_write;
    let mut wake_at: Option<Instant> = None;
    let shutdown = task.context.tasks.shutdown().clone();
    while !task.ended {
        let deadline = task.receiver.poll_timeout().map(Instant::from_std);
        tokio::select! {
            input = inputs.recv() => {
                let Some(input) = input else { break };
                last_input = Instant::now();
                task.handle_input(input);
                while let Ok(input) = inputs.try_recv() {
                    task.handle_input(input);
                }
            }
            command = command_rx.recv() => match command {
                Some(Command::Join(player)) => {
                    task.state.join(player);
                    task.next_snapshot = Instant::now();
                }
                None => break,
            },
            _ = task.handover.changed() => {
                if task.handover.is_superseded() {
                    tracing::info!(ssrc, stream = ?task.name, "a newer publish of this stream took over; handing over its players");
                    superseded = true;
                    break;
                }
                if let Some(adoption) = task.handover.take_adopted() {
                    task.adopt(adoption);
                }
            }
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                task.receiver.handle_timeout(Instant::now().into_std());
            }
            changed = rtt.changed(), if rtt_open => {
                // The repair client is gone (shutdown): stop listening for RTTs.
                rtt_open = changed.is_ok();
                if let Some(rtt) = *rtt.borrow_and_update() {
                    task.receiver.set_rtt_hint(rtt);
                }
            }
            _ = shutdown.cancelled() => break,
            _ = sleep_until(wake_at.unwrap_or_else(Instant::now)), if wake_at.is_some() => {
                wake_at = None;
                task.state.wake_players();
            }
            _ = sleep_until(last_input + IDLE_LIMIT) => {
                tracing::warn!(ssrc, stream = ?task.name, "nothing for {} s; ending the stream", IDLE_LIMIT.as_secs());
                break;
            }
        }
        task.handle_events();
        if task.state.has_unwoken() {
            if merge_write.is_zero() {
                task.state.wake_players();
            } else if wake_at.is_none() {
                wake_at = Some(Instant::now() + merge_write);
            }
        }
        task.send_nacks();
        if Instant::now() >= task.next_snapshot {
            task.stats.publish(task.snapshot());
            task.next_snapshot = Instant::now() + SNAPSHOT_INTERVAL;
        }
        if !task.ended
            && task
                .ends_at
                .is_some_and(|last| task.receiver.is_done_through(last))
        {
            tracing::info!(ssrc, stream = ?task.name, "end of stream (repair connection)");
            task.ended = true;
        }
    }
    if let Some(name) = &task.name {
        task.context.streams.deregister(name, ssrc);
        // The packager is finished with the state, below; its playlist lingers a little.
        task.context.hls.end(name, ssrc, &task.context.tasks);
    }
    task.hand_over(superseded);
    // Joins that raced with the end get an ended response too.
    command_rx.close();
    while let Ok(Command::Join(player)) = command_rx.try_recv() {
        player.finish();
    }
    task.finish();
}

impl StreamTask {
    fn handle_input(&mut self, input: StreamInput) {
        let now = Instant::now().into_std();
        match input {
            StreamInput::Packet(packet, source) => {
                self.bytes += (relay_proto::DATAGRAM_OVERHEAD + packet.payload.len()) as u64;
                self.receiver.push(now, packet, source)
            }
            StreamInput::Announce(announcement) => self.on_announcement(announcement),
            StreamInput::End { last_seq } => {
                // Finish the tail first: the in-band end of stream (or the deadline) closes it.
                self.ends_at = Some(last_seq);
                self.receiver.expect_through(now, last_seq);
            }
            StreamInput::Evicted(seq) => self.receiver.on_evicted(now, seq),
        }
    }

    fn handle_events(&mut self) {
        while let Some(event) = self.receiver.poll_event() {
            match event {
                ReassemblerEvent::Gap { lost } => {
                    tracing::debug!(
                        ssrc = self.ssrc,
                        lost,
                        "packets lost; video resumes at the next keyframe"
                    );
                    self.state.on_gap();
                }
                ReassemblerEvent::Message(message) => match message.body {
                    ReassembledBody::Tag {
                        tag_type,
                        keyframe,
                        config,
                        fragments,
                    } => {
                        match FlvTag::from_fragments(
                            tag_type,
                            message.timestamp.wrapping_add(self.timestamp_offset),
                            keyframe,
                            config,
                            &fragments,
                        ) {
                            Ok(tag) => self.state.on_tag(tag),
                            Err(error) => {
                                tracing::warn!(ssrc = self.ssrc, %error, "dropping a tag")
                            }
                        }
                    }
                    ReassembledBody::Announce(announcement) => self.on_announcement(announcement),
                    ReassembledBody::End => {
                        tracing::info!(ssrc = self.ssrc, stream = ?self.name, "end of stream");
                        self.ended = true;
                        return;
                    }
                },
            }
        }
    }

    /// Closes the handover slot. Superseded: the players, with any left in the slot, go to the
    /// successor's slot, which no full queue can refuse; only a successor that ended too
    /// refuses, and then their responses end. Otherwise players left in the slot end with this
    /// stream.
    fn hand_over(&mut self, superseded: bool) {
        let (successor, pending) = self.handover.close();
        if let Some(adoption) = pending {
            self.adopt(adoption);
        }
        let Some(successor) = successor.filter(|_| superseded) else {
            return;
        };
        let adoption = Adoption {
            players: self.state.take_players(),
            last_timestamp: self.state.last_timestamp(),
        };
        if let Err(refused) = successor.give(adoption) {
            refused.players.iter().for_each(|player| player.finish());
        }
    }

    /// Continues a replaced publish's players. When nothing of this publish has been played
    /// yet, its timeline is shifted to start just after theirs (a republish starts at 0).
    fn adopt(&mut self, adoption: Adoption) {
        let Adoption {
            players,
            last_timestamp,
        } = adoption;
        // From here on this publish's tags come after everything the adopted players were sent
        // (a forward jump for players of this publish, which is harmless; never a step back).
        let offset = self.timestamp_offset.max(last_timestamp.saturating_add(1));
        let shift = offset - self.timestamp_offset;
        self.timestamp_offset = offset;
        tracing::info!(
            ssrc = self.ssrc,
            stream = ?self.name,
            players = players.len(),
            offset_ms = self.timestamp_offset,
            "players continue on the new publish"
        );
        self.state.adopt(players, shift);
    }

    fn send_nacks(&mut self) {
        let now = Instant::now().into_std();
        while let Some(request) = self.receiver.poll_nack(now) {
            if self.context.nacks.try_send(request).is_err() {
                self.nacks_dropped += 1;
            }
        }
    }

    fn on_announcement(&mut self, announcement: Announcement) {
        let config = announcement
            .config_tags
            .iter()
            .filter_map(|tag| FlvTag::from_tag(tag, self.timestamp_offset).ok())
            .collect();
        self.state.on_announced_config(config);
        let name = announcement.stream.as_str();
        if self.name.as_deref().is_some_and(|current| current != name) {
            tracing::warn!(
                ssrc = self.ssrc,
                stream = name,
                "announcement renames a stream; ignored"
            );
            return;
        }
        let handle = StreamHandle {
            ssrc: self.ssrc,
            epoch: announcement.epoch,
            commands: self.commands.clone(),
            handover: self.handover.clone(),
            stats: self.stats.clone(),
        };
        match self.context.streams.register(name, handle) {
            Registration::Registered => {
                tracing::info!(
                    ssrc = self.ssrc,
                    stream = name,
                    epoch = announcement.epoch,
                    "stream is live"
                );
                self.name = Some(name.to_owned());
                self.epoch = announcement.epoch;
                if let Some(hls) = self.context.hls.start(name, self.ssrc) {
                    self.state.attach_hls(hls);
                }
                self.stats.publish(self.snapshot());
            }
            Registration::AlreadyRegistered => {}
            Registration::Stale => {
                tracing::debug!(
                    ssrc = self.ssrc,
                    stream = name,
                    "an older publish of a live stream; ignored"
                );
            }
        }
    }

    /// The task's figures now.
    fn snapshot(&self) -> StreamSnapshot {
        let (gop_tags, gop_bytes) = self.state.gop_cache();
        StreamSnapshot {
            name: self.name.clone().unwrap_or_default(),
            ssrc: self.ssrc,
            start_time: self.epoch,
            players: self.state.player_count() as u64,
            bytes: self.bytes,
            gop_cache_tags: gop_tags as u64,
            gop_cache_bytes: gop_bytes as u64,
            stream: self.state.counters(),
            reassembly: self.receiver.reassembly_stats(),
            recovery: self.receiver.recovery_stats().clone(),
            rtt: self.receiver.rtt().smoothed(),
            jitter: self.receiver.jitter(),
        }
    }

    fn finish(mut self) {
        self.state.finish();
        // The router counts these once the input queue closes, when this task returns.
        self.stats.publish(self.snapshot());
        let counters = self.state.counters();
        let reassembly = self.receiver.reassembly_stats();
        let recovery = self.receiver.recovery_stats();
        tracing::info!(
            ssrc = self.ssrc,
            stream = ?self.name,
            tags = counters.tags,
            packets = reassembly.packets,
            holes = recovery.holes,
            nacks = recovery.nacks_sent,
            repaired = recovery.repaired,
            late = recovery.late_arrivals,
            evicted = recovery.evicted,
            unrecovered = reassembly.lost,
            nacks_dropped = self.nacks_dropped,
            skipped_after_gap = counters.skipped_after_gap,
            skipped_before_start = counters.skipped_before_start,
            player_drops = counters.player_drops,
            players_removed = counters.players_removed,
            rtt_ms = self.receiver.rtt().smoothed().as_secs_f64() * 1000.0,
            jitter_ms = self.receiver.jitter().as_secs_f64() * 1000.0,
            deadline_ms = self.receiver.playout_deadline().as_millis() as u64,
            "stream finished"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EdgeConfig;
    use crate::player::{Player, PlayerBody};
    use http_body::Body;
    use relay_node::NodeConfig;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    fn context() -> StreamContext {
        let settings = EdgeConfig::default()
            .validate()
            .expect("the defaults are valid");
        let (nacks, _) = mpsc::channel(1);
        let (_, rtt) = watch::channel(None);
        StreamContext {
            streams: Arc::new(Streams::default()),
            settings: Arc::new(settings),
            nacks,
            rtt,
            tasks: Tasks::new(),
            hls: crate::hls::Hls::new(None),
        }
    }

    fn announcement(epoch: u64) -> Announcement {
        Announcement {
            stream: "live/handover".into(),
            epoch,
            config_tags: Vec::new(),
        }
    }

    /// Waits (a bounded time) until `done` holds, letting the stream task run.
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the stream task did not get there");
    }

    #[tokio::test]
    async fn players_are_handed_to_a_successor_whose_queues_are_full() {
        let context = context();
        let (inputs, input_rx) = mpsc::channel(4);
        let stats = SnapshotCell::new(std::time::Instant::now());
        let old = tokio::spawn(run_stream(1, 0, input_rx, stats, context.clone()));
        inputs
            .send(StreamInput::Announce(announcement(1)))
            .await
            .unwrap();
        until(|| context.streams.get("live/handover").is_some()).await;
        let handle = context.streams.get("live/handover").unwrap();
        let player = Player::new(1 << 20);
        let mut body = PlayerBody::new(player.clone());
        handle
            .commands
            .send(Command::Join(player.clone()))
            .await
            .unwrap();
        until(|| handle.stats.read().players == 1).await;

        // The successor's queue is full (its command queue, the bounded queue the players went
        // through before) and nothing drains it: its task is busy.
        let (commands, _command_rx) = mpsc::channel(1);
        commands
            .try_send(Command::Join(Player::new(1 << 20)))
            .unwrap();
        assert!(commands
            .try_send(Command::Join(Player::new(1 << 20)))
            .is_err());
        let successor = StreamHandle {
            ssrc: 2,
            epoch: 2,
            commands,
            handover: Handover::new(),
            stats: SnapshotCell::new(std::time::Instant::now()),
        };
        assert!(matches!(
            context.streams.register("live/handover", successor.clone()),
            Registration::Registered
        ));
        tokio::time::timeout(Duration::from_secs(2), old)
            .await
            .expect("the superseded task ends")
            .unwrap();

        let adoption = successor
            .handover
            .take_adopted()
            .expect("the players were handed over");
        assert_eq!(adoption.players.len(), 1);
        assert!(Arc::ptr_eq(&adoption.players[0], &player));
        // The player's response goes on: what it was sent, then it waits for the new publish.
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(frame) = Pin::new(&mut body).poll_frame(&mut cx) {
            assert!(
                matches!(frame, Some(Ok(_))),
                "the player's response ended or failed"
            );
        }
    }

    #[test]
    fn a_handover_to_an_ended_task_gives_the_players_back() {
        let successor = Handover::new();
        let _ = successor.close();
        let refused = successor
            .give(Adoption {
                players: vec![Player::new(1 << 20)],
                last_timestamp: 5,
            })
            .expect_err("an ended task takes no players");
        assert_eq!(refused.players.len(), 1);
    }
}
