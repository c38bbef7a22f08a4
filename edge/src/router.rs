//! Which task owns which SSRC. The UDP reader and the repair client both hand inputs to stream
//! tasks through it; neither ever waits for a task (inputs go by `try_send`).

use crate::config::EdgeSettings;
use crate::stream_task::{run_stream, StreamInput};
use crate::streams::Streams;
use relay_proto::NackRequest;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Inputs queued for one stream task; a full queue drops (the receiver then sees a hole, as for
/// network loss, and repairs it).
const STREAM_QUEUE: usize = 8192;
/// Distinct SSRCs served at once; beyond, new SSRCs are ignored (a guard against floods of
/// forged headers).
pub const MAX_STREAMS: usize = 1024;
/// SSRCs that ended recently; their stragglers must not start a new task.
const ENDED_MEMORY: usize = 256;

/// What stream tasks share besides the router.
#[derive(Clone)]
pub struct StreamContext {
    pub streams: Arc<Streams>,
    pub settings: Arc<EdgeSettings>,
    /// NACKs to the repair client; full means drop (the receiver asks again).
    pub nacks: mpsc::Sender<NackRequest>,
    /// The repair connection's RTT, when connected.
    pub rtt: watch::Receiver<Option<Duration>>,
}

pub struct Router {
    context: StreamContext,
    routes: Mutex<Routes>,
}

#[derive(Default)]
struct Routes {
    by_ssrc: HashMap<u32, mpsc::Sender<StreamInput>>,
    ended: VecDeque<u32>,
}

/// Why an input was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    QueueFull,
    TooManyStreams,
    Ended,
}

impl Router {
    pub fn new(context: StreamContext) -> Arc<Self> {
        Arc::new(Router {
            context,
            routes: Mutex::new(Routes::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The task of `ssrc`, started if `spawn` and it has none.
    pub fn route(&self, ssrc: u32, spawn: bool) -> Result<mpsc::Sender<StreamInput>, Undelivered> {
        let mut routes = self.lock();
        if let Some(route) = routes.by_ssrc.get(&ssrc).filter(|r| !r.is_closed()) {
            return Ok(route.clone());
        }
        if routes.by_ssrc.remove(&ssrc).is_some() {
            routes.ended.push_back(ssrc);
            if routes.ended.len() > ENDED_MEMORY {
                routes.ended.pop_front();
            }
        }
        if !spawn || routes.ended.contains(&ssrc) {
            return Err(Undelivered::Ended);
        }
        if routes.by_ssrc.len() >= MAX_STREAMS {
            routes.by_ssrc.retain(|_, route| !route.is_closed());
            if routes.by_ssrc.len() >= MAX_STREAMS {
                return Err(Undelivered::TooManyStreams);
            }
        }
        let (sender, receiver) = mpsc::channel(STREAM_QUEUE);
        tokio::spawn(run_stream(ssrc, receiver, self.context.clone()));
        routes.by_ssrc.insert(ssrc, sender.clone());
        Ok(sender)
    }

    /// Hands `input` to the task of `ssrc` without waiting.
    pub fn deliver(&self, ssrc: u32, input: StreamInput, spawn: bool) -> Result<(), Undelivered> {
        let route = self.route(ssrc, spawn)?;
        route.try_send(input).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => Undelivered::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Undelivered::Ended,
        })
    }

    pub fn streams(&self) -> &Arc<Streams> {
        &self.context.streams
    }

    /// Closes every stream task's queue (shutdown).
    pub fn close_all(&self) {
        self.lock().by_ssrc.clear();
    }
}
