//! One RTMP connection: read, feed the session, act on its events, publish tags.

use super::rml::RmlSession;
use super::{Bound, IngestEvent, IngestSession, RtmpLimits, RtmpStats};
use crate::error::CloudError;
use crate::record::{Recorder, Recording};
use crate::registry::{Claim, PublishRequest, Registry};
use crate::repair::{RepairHub, StreamCache};
use crate::sender::RtpSender;
use crate::stream_keys::{Publish, StreamKeys};
use bytes::Bytes;
use flv::{Tag, TagType};
use relay_control::auth::{verify_publish, PushKeys, PushScheme};
use relay_node::Tasks;
use relay_proto::{is_valid_stream_name, MediaKey, Publication};
use relay_rooms_api::{PublishDecision, PublishHooks};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const READ_BUFFER: usize = 64 * 1024;

/// What every connection task needs.
pub struct IngestContext {
    /// Where publishes claim their stream name and count what they carry.
    pub registry: Arc<Registry>,
    /// Sends each publish's RTP packets to every destination.
    pub sender: Arc<RtpSender>,
    /// Caches each publish's packets for repair and announces it to the edges.
    pub repair: Arc<RepairHub>,
    /// Maps the publish name to a room through its stream key, or refuses it.
    pub keys: Arc<StreamKeys>,
    /// The rooms' say on publishes of their streams.
    pub rooms: Arc<dyn PublishHooks>,
    /// How publishes are authenticated (`publish_auth`) and the keys that sign them.
    pub publish_auth: PushScheme,
    /// `publish_key` and the `server_keys` ring, checking signed publish URLs.
    pub push_keys: PushKeys,
    /// The listen address; the local address in a stream's URL when the socket's own
    /// cannot be read.
    pub rtmp_addr: SocketAddr,
    /// Largest RTP datagram the packetizer makes, in bytes (`rtp_max_datagram`).
    pub max_datagram: usize,
    /// Records publishes to files (`cloud.enable_record`); its counters are
    /// [`Recorder::stats`].
    pub recorder: Recorder,
    /// Timeouts and byte bound applied to every connection (`rtmp_*` keys).
    pub limits: RtmpLimits,
    /// Connection slots and the counters of closes at a bound, for `/metrics`.
    pub stats: Arc<RtmpStats>,
    /// The node's tasks: every connection and every room call runs as one of them, and stops
    /// when they are cancelled.
    pub tasks: Tasks,
}

/// Accepts RTMP connections until the node's tasks are cancelled; each runs in a tracked task
/// of its own, which ends its publish (end of stream to the edges) when cancelled.
pub async fn serve_rtmp(listener: TcpListener, context: Arc<IngestContext>) {
    let shutdown = context.tasks.shutdown().clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting an RTMP connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Closed at once (dropped) when over a connection limit; counted by the limiter.
        let Some(permit) = context.stats.connections.admit(peer.ip()) else {
            tracing::debug!(%peer, "RTMP connection refused at the connection limit");
            continue;
        };
        let context = context.clone();
        let shutdown = shutdown.clone();
        // The address the publisher dialled, for the stream's URL (not a wildcard bind address).
        let local = stream.local_addr().unwrap_or(context.rtmp_addr);
        context.tasks.clone().spawn(async move {
            let _permit = permit;
            let mut connection = Connection::new(context, peer, local);
            let result = connection.run(stream, shutdown).await;
            connection.end_publish().await;
            match result {
                Ok(()) => tracing::info!(%peer, "RTMP connection closed"),
                Err(error) => tracing::warn!(%peer, %error, "RTMP connection ended"),
            }
        });
    }
}

struct Publishing {
    publication: Publication,
    /// Dropped after `claim`'s stream has sent its last packet: tells edges it ended.
    cache: StreamCache,
    claim: Claim,
    /// The audio codec is known (from a sequence header or the first audio tag).
    audio_known: bool,
    /// The live room this is the stream of, if any.
    room: Option<String>,
    /// Dropped with the publish, however it ends: that closes the file.
    recording: Option<Recording>,
}

struct Connection {
    context: Arc<IngestContext>,
    peer: SocketAddr,
    local: SocketAddr,
    session: Box<dyn IngestSession>,
    publishing: Option<Publishing>,
    packets: Vec<relay_proto::Packet>,
    /// The peer asked to `connect` (the handshake is done, then).
    connected: bool,
    /// A publish was accepted on this connection: the peer is authenticated, and only the
    /// idle timeout applies from then on (also after that publish ends).
    published: bool,
}

impl Connection {
    fn new(context: Arc<IngestContext>, peer: SocketAddr, local: SocketAddr) -> Self {
        Connection {
            context,
            peer,
            local,
            session: Box::new(RmlSession::new()),
            publishing: None,
            packets: Vec::new(),
            connected: false,
            published: false,
        }
    }

    async fn run(
        &mut self,
        mut stream: TcpStream,
        shutdown: CancellationToken,
    ) -> Result<(), CloudError> {
        let _ = stream.set_nodelay(true);
        let mut buffer = vec![0u8; READ_BUFFER];
        let limits = self.context.limits;
        let opened = tokio::time::Instant::now();
        let mut last_read = opened;
        let mut unpublished_bytes = 0usize;
        loop {
            let (deadline, bound) = self.deadline(opened, last_read);
            let sync_at = self
                .publishing
                .as_ref()
                .and_then(|p| p.publication.poll_timeout())
                .map(tokio::time::Instant::from_std);
            let read = tokio::select! {
                read = tokio::time::timeout_at(deadline, stream.read(&mut buffer)) => read,
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep_until(sync_at.unwrap_or_else(tokio::time::Instant::now)), if sync_at.is_some() => {
                    self.send_sync().await;
                    continue;
                }
            };
            let count = match read {
                Err(_) => return Err(self.closed_by(bound)),
                Ok(Err(error)) => return Err(CloudError::io("reading RTMP", error)),
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(count)) => count,
            };
            last_read = tokio::time::Instant::now();
            if !self.published {
                // Checked before the library sees the bytes: it never holds more than the bound.
                unpublished_bytes += count;
                if unpublished_bytes > limits.max_unpublished_bytes {
                    return Err(self.closed_by(Bound::UnpublishedBytes));
                }
            }
            let events = self.session.handle_input(&buffer[..count])?;
            self.handle_events(events, &mut stream).await?;
        }
    }

    /// The next deadline of this connection and the bound it enforces: handshake and `connect`,
    /// then the publish, are due a fixed time after the accept (trickled bytes do not move
    /// them); a connection that has published only has to keep sending.
    fn deadline(
        &self,
        opened: tokio::time::Instant,
        last_read: tokio::time::Instant,
    ) -> (tokio::time::Instant, Bound) {
        let limits = &self.context.limits;
        let idle = (last_read + limits.idle_timeout, Bound::IdleTimeout);
        let due = if !self.connected {
            (opened + limits.handshake_timeout, Bound::HandshakeTimeout)
        } else if !self.published {
            (opened + limits.publish_timeout, Bound::PublishTimeout)
        } else {
            return idle;
        };
        if due.0 <= idle.0 {
            due
        } else {
            idle
        }
    }

    /// Counts a close at `bound` and says why.
    fn closed_by(&self, bound: Bound) -> CloudError {
        self.context.stats.closed_by(bound);
        CloudError::Bound(bound)
    }

    async fn handle_events(
        &mut self,
        events: Vec<IngestEvent>,
        stream: &mut TcpStream,
    ) -> Result<(), CloudError> {
        let mut queue = std::collections::VecDeque::from(events);
        while let Some(event) = queue.pop_front() {
            let follow_up = match event {
                IngestEvent::Send(bytes) => {
                    stream
                        .write_all(&bytes)
                        .await
                        .map_err(|error| CloudError::io("writing RTMP", error))?;
                    Vec::new()
                }
                IngestEvent::ConnectRequested { request, app } => {
                    tracing::debug!(peer = %self.peer, %app, "RTMP connect");
                    self.connected = true;
                    self.session.accept(request)?
                }
                IngestEvent::PublishRequested { request, app, key } => {
                    self.start_publish(request, &app, &key).await?
                }
                IngestEvent::PlayRequested { request } => self.session.reject(
                    request,
                    "NetStream.Play.Failed",
                    "this is a liverelay cloud node: play over HTTP-FLV from an edge",
                )?,
                IngestEvent::PublishFinished => {
                    self.end_publish().await;
                    Vec::new()
                }
                IngestEvent::Metadata(body) => {
                    if let Some(publishing) = &self.publishing {
                        publishing.claim.stream().media().metadata_frame_rate =
                            super::metadata::frame_rate(&body);
                    }
                    self.publish_tag(Tag::new(TagType::Script, 0, body)).await?;
                    Vec::new()
                }
                IngestEvent::Audio { timestamp, data } => {
                    self.publish_media(TagType::Audio, timestamp, data).await?;
                    Vec::new()
                }
                IngestEvent::Video { timestamp, data } => {
                    self.publish_media(TagType::Video, timestamp, data).await?;
                    Vec::new()
                }
            };
            for (index, event) in follow_up.into_iter().enumerate() {
                queue.insert(index, event);
            }
        }
        Ok(())
    }

    async fn start_publish(
        &mut self,
        request: u32,
        app: &str,
        key: &str,
    ) -> Result<Vec<IngestEvent>, CloudError> {
        // Encoders put the signed query (expire, token) on the stream key or on the app; the
        // stream is named by the paths alone.
        let (signed_app, signed_key) = (app, key);
        let app = app.split('?').next().unwrap_or_default();
        let key = key.split('?').next().unwrap_or_default();
        if self.publishing.is_some() {
            return self.refuse(request, "this connection is already publishing");
        }
        if !is_valid_stream_name(&format!("{app}/{key}")) {
            tracing::warn!(peer = %self.peer, app, key, "refused a publish with an invalid stream name");
            return self.refuse(
                request,
                "stream names are app/name of letters, digits, '_', '-' and '.'",
            );
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if let Err(refusal) = verify_publish(
            signed_app,
            signed_key,
            None,
            self.context.publish_auth,
            &self.context.push_keys,
            now,
        ) {
            tracing::warn!(peer = %self.peer, app, key, %refusal, "refused a publish (publish_auth)");
            return self.refuse(request, &refusal.to_string());
        }
        let name = match self.context.keys.resolve(app, key) {
            Publish::Keyed(room) => room,
            Publish::Open => format!("{app}/{key}"),
            Publish::Refused(reason) => {
                tracing::warn!(peer = %self.peer, app, reason, "refused a publish (stream key)");
                return self.refuse(request, reason);
            }
        };
        let ssrc = rand::random::<u32>();
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let claim = self.context.registry.claim(PublishRequest {
            key: name.clone(),
            url: format!("rtmp://{}/{name}", self.local),
            ssrc,
            publisher: self.peer,
            start_time: epoch,
        });
        let Some(claim) = claim else {
            tracing::warn!(peer = %self.peer, stream = %name, "refused a second publisher");
            return self.refuse(
                request,
                &format!("stream {name} is already being published"),
            );
        };
        // Holding the name, ask the rooms (a refusal drops the claim).
        let (stream_app, stream_name) = name.split_once('/').unwrap_or((app, key));
        let room = match Self::room_decision(self.context.clone(), stream_app, stream_name).await {
            PublishDecision::NotARoom => None,
            PublishDecision::Room { live_id } => Some(live_id),
            PublishDecision::Refused(reason) => {
                drop(claim);
                tracing::warn!(peer = %self.peer, stream = %name, reason, "refused a publish (room)");
                return self.refuse(request, &reason);
            }
        };
        let first_seq = rand::random::<u64>();
        // A fresh key per publish, from the thread's CSPRNG; edges learn it only from the
        // repair connection.
        let key = MediaKey::from_bytes(rand::random());
        let publication = Publication::new(
            name.clone(),
            epoch,
            ssrc,
            first_seq,
            self.context.max_datagram,
            key,
        )?;
        let cache = self
            .context
            .repair
            .open(ssrc, &publication, claim.stream().repair.clone());
        let recording = name
            .split_once('/')
            .and_then(|(app, room)| self.context.recorder.start(app, room, epoch / 1000));
        self.published = true;
        let publishing = self.publishing.insert(Publishing {
            publication,
            cache,
            claim,
            audio_known: false,
            room,
            recording,
        });
        publishing
            .publication
            .announce(Instant::now(), &mut self.packets)?;
        self.flush().await;
        tracing::info!(peer = %self.peer, stream = %name, ssrc, "publish started");
        self.session.accept(request)
    }

    /// The rooms' decision on a publish, within `rtmp_publish_decision_timeout_ms`. It runs
    /// in a task of its own, so a decision that comes too late still completes its database
    /// work (a room it started without a stream is ended by the rooms' watchdog); only this
    /// connection waits for it: every connection reads in its own task.
    async fn room_decision(
        context: Arc<IngestContext>,
        app: &str,
        stream: &str,
    ) -> PublishDecision {
        let rooms = context.rooms.clone();
        let (app, stream) = (app.to_owned(), stream.to_owned());
        let decision = context
            .tasks
            .spawn(async move { rooms.on_publish(&app, &stream).await });
        match tokio::time::timeout(context.limits.decision_timeout, decision).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(error)) => {
                tracing::error!(%error, "the room decision on a publish failed");
                PublishDecision::Refused("room service unavailable".to_owned())
            }
            Err(_) => {
                context
                    .stats
                    .decision_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                PublishDecision::Refused("room service did not answer in time".to_owned())
            }
        }
    }

    async fn publish_media(
        &mut self,
        tag_type: TagType,
        timestamp: u32,
        data: Bytes,
    ) -> Result<(), CloudError> {
        if let Some(publishing) = &self.publishing {
            let counter = match tag_type {
                TagType::Video => &publishing.claim.stream().video_bytes,
                _ => &publishing.claim.stream().audio_bytes,
            };
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        self.publish_tag(Tag::new(tag_type, timestamp, data)).await
    }

    /// Refuses a publish request with `NetStream.Publish.BadName` and `reason`, counted.
    fn refuse(&mut self, request: u32, reason: &str) -> Result<Vec<IngestEvent>, CloudError> {
        self.context
            .registry
            .refused
            .fetch_add(1, Ordering::Relaxed);
        self.session
            .reject(request, "NetStream.Publish.BadName", reason)
    }

    async fn publish_tag(&mut self, tag: Tag) -> Result<(), CloudError> {
        let Some(publishing) = self.publishing.as_mut() else {
            tracing::debug!(peer = %self.peer, "media before publish; dropped");
            return Ok(());
        };
        if let Some(recording) = publishing.recording.as_mut() {
            recording.push(&tag);
        }
        let config = tag.is_metadata() || tag.is_sequence_header();
        let stream = publishing.claim.stream();
        stream.tags.fetch_add(1, Ordering::Relaxed);
        let telling = match tag.tag_type {
            TagType::Video => tag.is_sequence_header() || tag.is_keyframe(),
            TagType::Audio => tag.is_sequence_header() || !publishing.audio_known,
            TagType::Script => false,
        };
        if telling {
            let mut media = stream.media();
            media.observe(&tag);
            publishing.audio_known |= media.audio.is_some();
        }
        publishing
            .publication
            .push_tag(Instant::now(), tag, &mut self.packets)?;
        if config {
            publishing
                .cache
                .reannounce(publishing.publication.announcement());
        }
        self.flush().await;
        Ok(())
    }

    /// After a few milliseconds without media, tells edges the newest packet (see `Publication`).
    async fn send_sync(&mut self) {
        if let Some(publishing) = self.publishing.as_mut() {
            publishing
                .publication
                .handle_timeout(Instant::now(), &mut self.packets);
        }
        self.flush().await;
    }

    /// Caches, then sends, the packets made so far: a NACK racing the send finds them.
    async fn flush(&mut self) {
        if self.packets.is_empty() {
            return;
        }
        if let Some(publishing) = &self.publishing {
            publishing.cache.insert(&self.packets);
            let stream = publishing.claim.stream();
            let bytes: usize = self
                .packets
                .iter()
                .map(|p| relay_proto::DATAGRAM_OVERHEAD + p.payload.len())
                .sum();
            stream
                .packets_sent
                .fetch_add(self.packets.len() as u64, Ordering::Relaxed);
            stream.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        }
        self.context.sender.send(&self.packets).await;
        self.packets.clear();
    }

    /// Sends end-of-stream and releases the name. Safe to call more than once.
    async fn end_publish(&mut self) {
        let Some(publishing) = self.publishing.as_mut() else {
            return;
        };
        if let Err(error) = publishing.publication.finish(&mut self.packets) {
            tracing::warn!(%error, "cannot packetize end of stream");
        }
        self.flush().await;
        if let Some(publishing) = self.publishing.take() {
            tracing::info!(peer = %self.peer, stream = publishing.publication.stream(), "publish ended");
            let room = publishing.room.clone();
            // The name is free before the room hears of it, so a quick republish is not refused.
            drop(publishing);
            if let Some(live_id) = room {
                // Bounded like the publish's decision; the task finishes the work regardless.
                let rooms = self.context.rooms.clone();
                let unpublish = self
                    .context
                    .tasks
                    .spawn(async move { rooms.on_unpublish(&live_id).await });
                if tokio::time::timeout(self.context.limits.decision_timeout, unpublish)
                    .await
                    .is_err()
                {
                    tracing::warn!(peer = %self.peer, "the rooms are slow to hear of an unpublish");
                }
            }
        }
    }
}
