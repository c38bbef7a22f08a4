//! What the HTTP handlers of the edge's listeners share (FLV and WebSocket players, HLS, the
//! page, the API). Below every handler module, so none of them imports another for it.

use crate::streams::Streams;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the handlers of `flv_addr` (and of `metrics_addr`) share; cloned per request, so every
/// field is a shared handle or a small value.
#[derive(Clone)]
pub struct HttpState {
    /// Live streams by name, where a player finds the task to join.
    pub streams: Arc<Streams>,
    /// The queue limit of each new player, in bytes (`player_queue_bytes`).
    pub player_queue_bytes: usize,
    /// When the edge started; `/status` and `/metrics` report its uptime from it.
    pub started: Instant,
    /// The repair connection's RTT while it is up.
    pub repair_rtt: watch::Receiver<Option<Duration>>,
    /// The streams' routes: datagrams received and dropped, and the node's totals.
    pub router: Arc<crate::router::Router>,
    /// Who may play.
    pub gate: Arc<crate::play_gate::PlayGate>,
    /// The HTTP listeners' connections and bounds, for `/metrics`.
    pub http: Vec<Arc<relay_control::HttpBounds>>,
    /// Each player's response counts as one of the edge's tasks until it ends.
    pub tasks: relay_node::Tasks,
    /// HLS packagers by stream, and their counters.
    pub hls: Arc<crate::hls::Hls>,
    /// Where the player page's libraries are (`player_dir`).
    pub player_dir: std::path::PathBuf,
}
