//! The task that owns one SSRC's stream: reassembly, state, players. Nothing else touches them.

use crate::config::EdgeSettings;
use crate::stream_state::StreamState;
use crate::streams::{Command, Registration, StreamHandle, Streams};
use crate::tag::FlvTag;
use relay_proto::{Packet, ReassembledBody, Reassembler, ReassemblerConfig, ReassemblerEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// A stream that sends nothing for this long has gone (the cloud or its publisher died without an
/// end-of-stream message).
const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// Packets held for reassembly; about 22 MB of 1400-byte packets, more than a 1 MB tag needs.
const REASSEMBLY_WINDOW: usize = 16_384;
/// Commands (player joins) waiting for the task.
const COMMAND_QUEUE: usize = 256;

struct StreamTask {
    ssrc: u32,
    streams: Arc<Streams>,
    commands: mpsc::Sender<Command>,
    name: Option<String>,
    reassembler: Reassembler,
    state: StreamState,
    ended: bool,
}

/// Runs until end of stream, supersession, idle time-out or shutdown (the packet channel closes).
pub async fn run_stream(
    ssrc: u32,
    mut packets: mpsc::Receiver<Packet>,
    streams: Arc<Streams>,
    settings: Arc<EdgeSettings>,
) {
    let (commands, mut command_rx) = mpsc::channel(COMMAND_QUEUE);
    let config = ReassemblerConfig {
        deadline: settings.playout_deadline,
        window: REASSEMBLY_WINDOW,
    };
    let mut task = StreamTask {
        ssrc,
        streams,
        commands,
        name: None,
        reassembler: Reassembler::new(ssrc, config),
        state: StreamState::default(),
        ended: false,
    };
    let mut last_packet = Instant::now();
    while !task.ended {
        let deadline = task.reassembler.poll_timeout().map(Instant::from_std);
        tokio::select! {
            packet = packets.recv() => {
                let Some(packet) = packet else { break };
                last_packet = Instant::now();
                let now = last_packet.into_std();
                task.reassembler.push(now, packet);
                while let Ok(packet) = packets.try_recv() {
                    task.reassembler.push(now, packet);
                }
            }
            command = command_rx.recv() => match command {
                Some(Command::Join(player)) => task.state.join(player),
                Some(Command::Superseded) | None => {
                    tracing::info!(ssrc, stream = ?task.name, "a newer publish of this stream took over");
                    break;
                }
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                task.reassembler.handle_timeout(Instant::now().into_std());
            }
            _ = sleep_until(last_packet + IDLE_LIMIT) => {
                tracing::warn!(ssrc, stream = ?task.name, "no packets for {} s; ending the stream", IDLE_LIMIT.as_secs());
                break;
            }
        }
        task.handle_events();
    }
    if let Some(name) = &task.name {
        task.streams.deregister(name, ssrc);
    }
    // Joins that raced with the end get an ended response too.
    command_rx.close();
    while let Ok(command) = command_rx.try_recv() {
        if let Command::Join(player) = command {
            player.finish();
        }
    }
    task.finish();
}

impl StreamTask {
    fn handle_events(&mut self) {
        while let Some(event) = self.reassembler.poll_event() {
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
                            message.timestamp,
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
                    ReassembledBody::Announce(announcement) => {
                        for tag in &announcement.config_tags {
                            if let Ok(tag) = FlvTag::from_tag(tag) {
                                self.state.on_announced_config(tag);
                            }
                        }
                        self.register(&announcement.stream, announcement.epoch);
                    }
                    ReassembledBody::End => {
                        tracing::info!(ssrc = self.ssrc, stream = ?self.name, "end of stream");
                        self.ended = true;
                        return;
                    }
                },
            }
        }
    }

    fn register(&mut self, name: &str, epoch: u64) {
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
            epoch,
            commands: self.commands.clone(),
        };
        match self.streams.register(name, handle) {
            Registration::Registered => {
                tracing::info!(ssrc = self.ssrc, stream = name, epoch, "stream is live");
                self.name = Some(name.to_owned());
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

    fn finish(mut self) {
        self.state.finish();
        let counters = self.state.counters();
        let stats = self.reassembler.stats();
        tracing::info!(
            ssrc = self.ssrc,
            stream = ?self.name,
            tags = counters.tags,
            packets = stats.packets,
            lost = stats.lost,
            duplicates = stats.duplicates,
            skipped_after_gap = counters.skipped_after_gap,
            player_drops = counters.player_drops,
            players_removed = counters.players_removed,
            "stream finished"
        );
    }
}
