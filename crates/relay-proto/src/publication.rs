//! The sending side of one publish: packetizer, configuration tags and announcement schedule.

use crate::{Announcement, MediaKey, Message, Packet, Packetizer, ProtoError};
use flv::{Tag, TagType};
use std::time::{Duration, Instant};

/// Announcements go out before every video keyframe and at least this often, so an edge that
/// joins or restarts learns the stream within a second even on audio-only streams.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(1);

/// After this long without sending, the publication sends a sync packet naming its newest packet,
/// so receivers find a lost packet that nothing followed without waiting for the stream to go on.
pub const SYNC_AFTER: Duration = Duration::from_millis(5);

/// One publish on the sending side. Sans-IO: it returns packets for the caller to send, and
/// [`poll_timeout`](Publication::poll_timeout) says when to call back for a sync packet.
#[derive(Debug)]
pub struct Publication {
    packetizer: Packetizer,
    stream: String,
    epoch: u64,
    metadata: Option<Tag>,
    video_config: Option<Tag>,
    audio_config: Option<Tag>,
    last_announce: Option<Instant>,
    /// When the last packet went out, while no sync has followed it.
    unsynced_since: Option<Instant>,
}

impl Publication {
    /// `ssrc`, `first_seq` and `key` should be random; `epoch` is the publish start in Unix ms.
    pub fn new(
        stream: String,
        epoch: u64,
        ssrc: u32,
        first_seq: u64,
        max_datagram: usize,
        key: MediaKey,
    ) -> Result<Self, ProtoError> {
        Ok(Publication {
            packetizer: Packetizer::new(ssrc, first_seq, max_datagram, key)?,
            stream,
            epoch,
            metadata: None,
            video_config: None,
            audio_config: None,
            last_announce: None,
            unsynced_since: None,
        })
    }

    /// The publish's stream name, `app/name`.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The key the publish's packets are signed with, for the edges.
    pub fn key(&self) -> &MediaKey {
        self.packetizer.key()
    }

    /// The sequence number of the next packet: where an edge told of the stream now starts.
    pub fn next_seq(&self) -> u64 {
        self.packetizer.next_seq()
    }

    /// Packets of one tag, preceded by an announcement when one is due.
    pub fn push_tag(
        &mut self,
        now: Instant,
        tag: Tag,
        out: &mut Vec<Packet>,
    ) -> Result<(), ProtoError> {
        if tag.is_metadata() {
            self.metadata = Some(tag.clone());
        } else if tag.is_sequence_header() {
            let slot = match tag.tag_type {
                TagType::Video => &mut self.video_config,
                _ => &mut self.audio_config,
            };
            *slot = Some(tag.clone());
        }
        let due = self
            .last_announce
            .is_none_or(|last| now.saturating_duration_since(last) >= ANNOUNCE_INTERVAL);
        if due || tag.is_keyframe() {
            self.announce(now, out)?;
        }
        self.unsynced_since = Some(now);
        self.packetizer.packetize(&Message::Tag(tag), out)
    }

    /// When a sync packet is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.unsynced_since.map(|since| since + SYNC_AFTER)
    }

    /// Appends the sync packet if it is due.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Packet>) {
        if self.poll_timeout().is_some_and(|at| now >= at) {
            self.unsynced_since = None;
            out.extend(self.packetizer.sync());
        }
    }

    /// The stream's name, epoch and current configuration tags.
    pub fn announcement(&self) -> Announcement {
        let config_tags = [&self.metadata, &self.video_config, &self.audio_config]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        Announcement {
            stream: self.stream.clone(),
            epoch: self.epoch,
            config_tags,
        }
    }

    /// Sends the announcement in band.
    pub fn announce(&mut self, now: Instant, out: &mut Vec<Packet>) -> Result<(), ProtoError> {
        self.last_announce = Some(now);
        self.unsynced_since = Some(now);
        let announcement = self.announcement();
        self.packetizer
            .packetize(&Message::Announce(announcement), out)
    }

    /// The end-of-stream message.
    pub fn finish(&mut self, out: &mut Vec<Packet>) -> Result<(), ProtoError> {
        self.packetizer.packetize(&Message::End, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReassembledBody, Reassembler, ReassemblerConfig, ReassemblerEvent};
    use bytes::Bytes;

    fn test_key() -> MediaKey {
        MediaKey::from_bytes([1; crate::MEDIA_KEY_LEN])
    }

    #[test]
    fn a_sync_follows_a_silence_once() {
        let t0 = Instant::now();
        let mut publication =
            Publication::new("live/a".into(), 1, 9, 500, 1400, test_key()).unwrap();
        let mut out = Vec::new();
        assert_eq!(publication.poll_timeout(), None);
        let audio = Tag::new(TagType::Audio, 0, Bytes::from_static(&[0xaf, 1, 5]));
        publication.push_tag(t0, audio, &mut out).unwrap();
        let newest = out.last().unwrap().header.seq;
        out.clear();
        assert_eq!(publication.poll_timeout(), Some(t0 + SYNC_AFTER));
        publication.handle_timeout(t0 + Duration::from_millis(1), &mut out);
        assert!(out.is_empty());
        publication.handle_timeout(t0 + SYNC_AFTER, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].header.kind, out[0].header.seq),
            (crate::MessageKind::Sync, newest)
        );
        assert_eq!(publication.poll_timeout(), None);
    }

    #[test]
    fn announces_at_start_before_keyframes_and_every_second() {
        let t0 = Instant::now();
        let mut publication =
            Publication::new("live/a".into(), 42, 7, 100, 1400, test_key()).unwrap();
        let mut out = Vec::new();
        let seq_header = Tag::new(TagType::Video, 0, Bytes::from_static(&[0x17, 0, 0, 0, 0]));
        let key = Tag::new(
            TagType::Video,
            0,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]),
        );
        let audio = Tag::new(TagType::Audio, 10, Bytes::from_static(&[0xaf, 1, 5]));
        publication
            .push_tag(t0, seq_header.clone(), &mut out)
            .unwrap();
        publication.push_tag(t0, key.clone(), &mut out).unwrap();
        publication
            .push_tag(t0 + Duration::from_millis(10), audio.clone(), &mut out)
            .unwrap();
        publication
            .push_tag(t0 + Duration::from_millis(1000), audio, &mut out)
            .unwrap();
        publication.finish(&mut out).unwrap();

        let mut reassembler = Reassembler::new(7, ReassemblerConfig::default());
        for packet in out {
            reassembler.push(t0, packet);
        }
        let mut kinds = Vec::new();
        while let Some(ReassemblerEvent::Message(message)) = reassembler.poll_event() {
            kinds.push(match message.body {
                ReassembledBody::Announce(a) => {
                    assert_eq!((a.stream.as_str(), a.epoch), ("live/a", 42));
                    format!("announce{}", a.config_tags.len())
                }
                ReassembledBody::Tag {
                    tag_type,
                    keyframe,
                    config,
                    ..
                } => {
                    format!(
                        "{tag_type:?}{}{}",
                        if keyframe { "K" } else { "" },
                        if config { "C" } else { "" }
                    )
                }
                ReassembledBody::End => "end".into(),
            });
        }
        assert_eq!(
            kinds,
            [
                "announce1",
                "VideoC",
                "announce1",
                "VideoK",
                "Audio",
                "announce1",
                "Audio",
                "end"
            ]
        );
    }
}
