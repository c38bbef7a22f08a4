//! Which task owns which SSRC, and with which key its datagrams are checked.
//!
//! A stream exists on the edge only once the cloud announced it over the authenticated repair
//! connection with its media key ([`Router::open`]). A datagram is handed to its task only when
//! its SSRC has a task, its tag verifies with that stream's key and its sequence number is not a
//! replay ([`Router::receive_datagram`]); anything else is counted and dropped, and leaves no
//! state behind. Neither the UDP reader nor the repair client ever waits for a task (inputs go by
//! `try_send`).

use crate::stream_task::{run_stream, StreamContext, StreamInput};
use crate::streams::Streams;
use bytes::Bytes;
use parking_lot::Mutex;
use relay_proto::{MediaKey, Packet, ProtoError, ReplayWindow, Source};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Inputs queued for one stream task; a full queue drops (the receiver then sees a hole, as for
/// network loss, and repairs it).
const STREAM_QUEUE: usize = 8192;
/// SSRCs that ended recently; their stragglers must not start a new task.
const ENDED_MEMORY: usize = 256;

/// Datagrams received and why those dropped were dropped, for `/metrics`.
#[derive(Debug, Default)]
pub struct MediaCounters {
    pub datagrams: AtomicU64,
    /// Not a relay datagram (too short, bad header).
    pub malformed: AtomicU64,
    /// An SSRC the cloud has not announced (forged, or a stream that ended).
    pub unknown_stream: AtomicU64,
    /// The authentication tag did not verify with the stream's key.
    pub bad_tag: AtomicU64,
    /// A sequence number already received or too old: a replayed or duplicated datagram.
    pub replayed: AtomicU64,
    /// The stream task was behind.
    pub queue_full: AtomicU64,
    /// Announcements refused because `max_streams` streams were being served.
    pub refused_streams: AtomicU64,
    /// Repair requests the cloud refused for this edge's answer budget.
    pub nacks_throttled: AtomicU64,
}

impl MediaCounters {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why a datagram was not handed to a stream task.
#[derive(Debug, PartialEq, Eq)]
pub enum Dropped {
    Malformed(ProtoError),
    UnknownStream,
    BadTag,
    Replayed,
    QueueFull,
}

/// Why an input was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    QueueFull,
    TooManyStreams,
    Ended,
}

pub struct Router {
    context: StreamContext,
    counters: Arc<MediaCounters>,
    routes: Mutex<Routes>,
}

/// One announced stream.
struct Route {
    inputs: mpsc::Sender<StreamInput>,
    key: MediaKey,
    replay: ReplayWindow,
}

#[derive(Default)]
struct Routes {
    by_ssrc: HashMap<u32, Route>,
    ended: VecDeque<u32>,
}

impl Routes {
    /// The live route of `ssrc`; a route whose task ended is forgotten, and the SSRC remembered
    /// as ended.
    fn live(&mut self, ssrc: u32) -> Option<&mut Route> {
        if self
            .by_ssrc
            .get(&ssrc)
            .is_some_and(|route| route.inputs.is_closed())
        {
            self.by_ssrc.remove(&ssrc);
            self.ended.push_back(ssrc);
            if self.ended.len() > ENDED_MEMORY {
                self.ended.pop_front();
            }
        }
        self.by_ssrc.get_mut(&ssrc)
    }
}

fn undelivered(error: mpsc::error::TrySendError<StreamInput>) -> Undelivered {
    match error {
        mpsc::error::TrySendError::Full(_) => Undelivered::QueueFull,
        mpsc::error::TrySendError::Closed(_) => Undelivered::Ended,
    }
}

impl Router {
    pub fn new(context: StreamContext, counters: Arc<MediaCounters>) -> Arc<Self> {
        Arc::new(Router {
            context,
            counters,
            routes: Mutex::new(Routes::default()),
        })
    }

    /// A stream the cloud announced over the repair connection: starts its task unless it has
    /// one, expecting its packets from `first_seq` on. Refused for an SSRC that ended and when
    /// `max_streams` are served.
    pub fn open(&self, ssrc: u32, key: MediaKey, first_seq: u64) -> Result<(), Undelivered> {
        let mut routes = self.routes.lock();
        if routes.live(ssrc).is_some() {
            return Ok(());
        }
        if routes.ended.contains(&ssrc) {
            return Err(Undelivered::Ended);
        }
        if routes.by_ssrc.len() >= self.context.settings.max_streams {
            routes.by_ssrc.retain(|_, route| !route.inputs.is_closed());
            if routes.by_ssrc.len() >= self.context.settings.max_streams {
                MediaCounters::count(&self.counters.refused_streams);
                return Err(Undelivered::TooManyStreams);
            }
        }
        let (inputs, receiver) = mpsc::channel(STREAM_QUEUE);
        tokio::spawn(run_stream(ssrc, first_seq, receiver, self.context.clone()));
        routes.by_ssrc.insert(
            ssrc,
            Route {
                inputs,
                key,
                replay: ReplayWindow::default(),
            },
        );
        Ok(())
    }

    /// A datagram from the network: authenticated with its stream's key, checked against
    /// replays, then handed to the stream's task. Every outcome is counted.
    pub fn receive_datagram(&self, datagram: Bytes) -> Result<(), Dropped> {
        let counters = &self.counters;
        MediaCounters::count(&counters.datagrams);
        let result = self.route_datagram(datagram);
        if let Err(dropped) = &result {
            MediaCounters::count(match dropped {
                Dropped::Malformed(_) => &counters.malformed,
                Dropped::UnknownStream => &counters.unknown_stream,
                Dropped::BadTag => &counters.bad_tag,
                Dropped::Replayed => &counters.replayed,
                Dropped::QueueFull => &counters.queue_full,
            });
        }
        result
    }

    fn route_datagram(&self, datagram: Bytes) -> Result<(), Dropped> {
        let ssrc = Packet::peek_ssrc(&datagram)
            .ok_or(Dropped::Malformed(ProtoError::Truncated(datagram.len())))?;
        let mut routes = self.routes.lock();
        let route = routes.live(ssrc).ok_or(Dropped::UnknownStream)?;
        let packet = Packet::open(datagram, &route.key).map_err(|error| match error {
            ProtoError::BadAuthTag => Dropped::BadTag,
            other => Dropped::Malformed(other),
        })?;
        route
            .replay
            .accept(packet.header.seq, packet.header.kind)
            .map_err(|_| Dropped::Replayed)?;
        route
            .inputs
            .try_send(StreamInput::Packet(packet, Source::Network))
            .map_err(|error| match undelivered(error) {
                Undelivered::QueueFull => Dropped::QueueFull,
                _ => Dropped::UnknownStream,
            })
    }

    /// Hands `input` from the repair connection to the task of `ssrc`, if it has one.
    pub fn deliver(&self, ssrc: u32, input: StreamInput) -> Result<(), Undelivered> {
        let mut routes = self.routes.lock();
        let route = routes.live(ssrc).ok_or(Undelivered::Ended)?;
        route.inputs.try_send(input).map_err(undelivered)
    }

    pub fn streams(&self) -> &Arc<Streams> {
        &self.context.streams
    }

    pub fn counters(&self) -> &Arc<MediaCounters> {
        &self.counters
    }

    /// Closes every stream task's queue (shutdown).
    pub fn close_all(&self) {
        self.routes.lock().by_ssrc.clear();
    }
}
