//! Which task owns which SSRC, and with which key its datagrams are checked: the edge's one
//! table of SSRCs. The UDP reader and the repair client hand every datagram and input here and
//! keep no table of their own; [`Streams`] only names streams for players. Each route also
//! holds its task's published figures, so the node's totals are counted here too, under the
//! same lock that forgets a route (a stream moving from live to ended is counted exactly once).
//!
//! A stream exists on the edge only once the cloud announced it over the authenticated repair
//! connection with its media key ([`Router::open`]). A datagram is handed to its task only when
//! its SSRC has a task, its tag verifies with that stream's key and its sequence number is not a
//! replay ([`Router::receive_datagram`]); anything else is counted and dropped, and leaves no
//! state behind. Neither the UDP reader nor the repair client ever waits for a task (inputs go by
//! `try_send`).

use crate::stats::{NodeTotals, SnapshotCell};
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
    /// Datagrams handed to the router, delivered or dropped.
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
    /// Not a relay datagram: too short to hold an SSRC, or its header or payload did not parse;
    /// holds the parse error.
    Malformed(ProtoError),
    /// Its SSRC has no live task: never announced (or forged), ended, or the task's queue closed
    /// just now.
    UnknownStream,
    /// The authentication tag did not verify with the stream's media key.
    BadTag,
    /// The replay window already took this sequence number, or it is too old for the window.
    Replayed,
    /// The task's input queue (8192 inputs) was full; the receiver sees a hole and asks for a
    /// repair.
    QueueFull,
}

/// Why an input was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    /// The task's input queue (8192 inputs) was full; the input is lost.
    QueueFull,
    /// An announcement while `max_streams` streams are served (counted in `refused_streams`).
    TooManyStreams,
    /// The SSRC has no running task: it ended (or, for a delivery, was never announced). A
    /// recently ended SSRC (the last 256 are remembered) is not reopened by a late announcement.
    Ended,
}

/// The edge's SSRC table: starts a task for each stream the cloud announces, hands it the
/// datagrams that verify with its key and the repair connection's inputs, and sums the node's
/// totals.
pub struct Router {
    context: StreamContext,
    counters: Arc<MediaCounters>,
    routes: Mutex<Routes>,
}

/// One announced stream. Shared out of the table, so a datagram's tag is checked without the
/// table's lock held; the replay window has a lock of its own (only the UDP reader takes it).
struct Route {
    inputs: mpsc::Sender<StreamInput>,
    key: MediaKey,
    replay: Mutex<ReplayWindow>,
    /// The task's figures; its last ones are there before its input queue closes.
    stats: Arc<SnapshotCell>,
}

#[derive(Default)]
struct Routes {
    by_ssrc: HashMap<u32, Arc<Route>>,
    ended: VecDeque<u32>,
    /// The figures of the streams whose routes were forgotten.
    retired: NodeTotals,
}

impl Routes {
    /// The live route of `ssrc`; a route whose task ended is forgotten, and the SSRC remembered
    /// as ended.
    fn live(&mut self, ssrc: u32) -> Option<Arc<Route>> {
        if self
            .by_ssrc
            .get(&ssrc)
            .is_some_and(|route| route.inputs.is_closed())
        {
            self.forget(ssrc);
            self.ended.push_back(ssrc);
            if self.ended.len() > ENDED_MEMORY {
                self.ended.pop_front();
            }
        }
        self.by_ssrc.get(&ssrc).cloned()
    }

    /// Drops the route of `ssrc`, its figures kept in the totals.
    fn forget(&mut self, ssrc: u32) {
        if let Some(route) = self.by_ssrc.remove(&ssrc) {
            self.retired.add(&route.stats.read());
        }
    }

    /// The figures of the streams whose routes were forgotten, and the figures of those routed
    /// now, to be read after the lock is released (each stream is in exactly one of the two).
    fn totals_parts(&self) -> (NodeTotals, Vec<Arc<SnapshotCell>>) {
        let live = self.by_ssrc.values().map(|route| route.stats.clone());
        (self.retired.clone(), live.collect())
    }
}

/// Adds the live streams' figures, read now, to the retired ones.
fn sum((mut totals, live): (NodeTotals, Vec<Arc<SnapshotCell>>)) -> NodeTotals {
    for stats in live {
        totals.add(&stats.read());
    }
    totals
}

fn undelivered(error: mpsc::error::TrySendError<StreamInput>) -> Undelivered {
    match error {
        mpsc::error::TrySendError::Full(_) => Undelivered::QueueFull,
        mpsc::error::TrySendError::Closed(_) => Undelivered::Ended,
    }
}

impl Router {
    /// A router with no routes; the tasks it starts get `context`, and its drops are counted in
    /// `counters`.
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
            let ended: Vec<u32> = routes
                .by_ssrc
                .iter()
                .filter(|(_, route)| route.inputs.is_closed())
                .map(|(ssrc, _)| *ssrc)
                .collect();
            ended.into_iter().for_each(|ssrc| routes.forget(ssrc));
            if routes.by_ssrc.len() >= self.context.settings.max_streams {
                MediaCounters::count(&self.counters.refused_streams);
                return Err(Undelivered::TooManyStreams);
            }
        }
        let (inputs, receiver) = mpsc::channel(STREAM_QUEUE);
        let stats = SnapshotCell::new(std::time::Instant::now());
        self.context.tasks.spawn(run_stream(
            ssrc,
            first_seq,
            receiver,
            stats.clone(),
            self.context.clone(),
        ));
        routes.by_ssrc.insert(
            ssrc,
            Arc::new(Route {
                inputs,
                key,
                replay: Mutex::new(ReplayWindow::default()),
                stats,
            }),
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
        let route = self
            .routes
            .lock()
            .live(ssrc)
            .ok_or(Dropped::UnknownStream)?;
        let packet = Packet::open(datagram, &route.key).map_err(|error| match error {
            ProtoError::BadAuthTag => Dropped::BadTag,
            other => Dropped::Malformed(other),
        })?;
        route
            .replay
            .lock()
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
        let route = self.routes.lock().live(ssrc).ok_or(Undelivered::Ended)?;
        route.inputs.try_send(input).map_err(undelivered)
    }

    /// The name index its stream tasks register in.
    pub fn streams(&self) -> &Arc<Streams> {
        &self.context.streams
    }

    /// The datagram and refusal counters, for `/metrics`.
    pub fn counters(&self) -> &Arc<MediaCounters> {
        &self.counters
    }

    /// Node-wide counters: streams that ended plus the running ones now. Never go down.
    pub fn totals(&self) -> NodeTotals {
        let parts = self.routes.lock().totals_parts();
        sum(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StreamSnapshot;

    fn snapshot(packets: u64) -> StreamSnapshot {
        let mut snapshot = StreamSnapshot::default();
        snapshot.reassembly.packets = packets;
        snapshot
    }

    #[test]
    fn totals_move_from_live_to_retired_without_a_dip() {
        let mut routes = Routes::default();
        let (inputs, receiver) = mpsc::channel(1);
        let stats = SnapshotCell::new(std::time::Instant::now());
        routes.by_ssrc.insert(
            7,
            Arc::new(Route {
                inputs,
                key: MediaKey::from_bytes([1; relay_proto::MEDIA_KEY_LEN]),
                replay: Mutex::new(ReplayWindow::default()),
                stats: stats.clone(),
            }),
        );
        stats.publish(snapshot(100));
        let live = sum(routes.totals_parts());
        assert_eq!((live.streams, live.reassembly.packets), (1, 100));
        // The task publishes its last figures, then its queue closes.
        stats.publish(snapshot(120));
        drop(receiver);
        assert_eq!(sum(routes.totals_parts()).reassembly.packets, 120);
        assert!(
            routes.live(7).is_none(),
            "an ended task's route is forgotten"
        );
        let ended = sum(routes.totals_parts());
        assert_eq!((ended.streams, ended.reassembly.packets), (1, 120));
        // A later publish into the forgotten cell is no longer counted.
        stats.publish(snapshot(500));
        assert_eq!(sum(routes.totals_parts()).reassembly.packets, 120);
        assert!(routes.ended.contains(&7));
    }
}
