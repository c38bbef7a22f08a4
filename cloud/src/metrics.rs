//! `/metrics` (Prometheus text) and `/status`, rendered from the live state at each request:
//! a stream's series exist while it is live, so gauges go down when streams and edges end,
//! and node-wide counters only ever grow.

use crate::record::RecordingStats;
use crate::registry::Registry;
use crate::repair::RepairHub;
use crate::sender::RtpSender;
use crate::stream_keys::StreamKeys;
use axum::extract::State;
use relay_control::metrics::Exposition;
use relay_control::views::StatusView;
use relay_control::Reply;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the API and metrics handlers read.
pub struct NodeState {
    /// Live streams and publish counters (`liverelay_cloud_streams`, `_publishes_total`,
    /// the per-stream ingest and send series).
    pub registry: Arc<Registry>,
    /// Repair cache and edge links (`liverelay_cloud_cache_*`, `_edges`, `_repair_*`,
    /// `_viewers`).
    pub hub: Arc<RepairHub>,
    /// The stream keys the `/control/*` routes create, reset and delete.
    pub keys: Arc<StreamKeys>,
    /// The RTP sender, for `liverelay_cloud_destination_packets_total` and
    /// `_destination_errors_total`.
    pub sender: Arc<RtpSender>,
    /// Recording counters (`liverelay_cloud_recordings_*`, `_recording_bytes_total`).
    pub recordings: Arc<RecordingStats>,
    /// The room service, for `liverelay_cloud_rooms_live`, `_room_viewers_online` and the
    /// webhook series.
    pub rooms: Arc<relay_rooms_api::Rooms>,
    /// When the node started: `liverelay_cloud_uptime_seconds` and `/status`'s `uptime_s`.
    pub started: Instant,
    /// `livego_compat_get`: GET on `/control/*` changes keys as in livego.
    pub livego_compat_get: bool,
    /// The RTMP listener's connections and bounds.
    pub rtmp: Arc<crate::rtmp::RtmpStats>,
    /// The HTTP listeners' connections and bounds.
    pub http: Vec<Arc<relay_control::HttpBounds>>,
}

/// `/metrics` and `/status`, on the API listener or one of their own (`metrics_addr`).
pub fn router() -> OpenApiRouter<Arc<NodeState>> {
    OpenApiRouter::new()
        .routes(routes!(prometheus))
        .routes(routes!(status))
}

/// Health: 200 whenever the node runs, with what it carries.
#[utoipa::path(get, path = "/status", responses((status = 200, body = Reply<StatusView>)))]
pub async fn status(State(state): State<Arc<NodeState>>) -> Reply<StatusView> {
    let now = Instant::now();
    let viewers = state
        .registry
        .streams(None)
        .iter()
        .flat_map(|stream| state.hub.edge_links(Some(stream.ssrc), now))
        .map(|edge| edge.viewers)
        .sum();
    Reply::ok(StatusView {
        status: "ok".to_owned(),
        role: "cloud".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: now.saturating_duration_since(state.started).as_secs_f64(),
        streams: state.registry.len() as u64,
        viewers,
        repair_links: state.hub.edge_count() as u64,
    })
}

/// Prometheus text exposition of the node, its streams and its edges.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, content_type = "text/plain; version=0.0.4", body = String)
))]
pub async fn prometheus(State(state): State<Arc<NodeState>>) -> Exposition {
    let mut out = Exposition::new();
    let now = Instant::now();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    out.gauge(
        "liverelay_cloud_uptime_seconds",
        "Seconds since the cloud started.",
        &[],
        now.saturating_duration_since(state.started).as_secs_f64(),
    );
    state.rtmp.render(&mut out);
    for bounds in &state.http {
        bounds.render(&mut out, "liverelay_cloud");
    }
    let registry = &state.registry;
    out.counter(
        "liverelay_cloud_publishes_total",
        "Publishes accepted.",
        &[],
        load(&registry.publishes),
    );
    out.counter(
        "liverelay_cloud_publishes_refused_total",
        "Publishes refused (name taken, invalid name, stream key).",
        &[],
        load(&registry.refused),
    );
    let streams = registry.streams(None);
    out.gauge(
        "liverelay_cloud_streams",
        "Streams being published.",
        &[],
        streams.len() as f64,
    );
    for stream in &streams {
        let labels: &[(&str, &str)] = &[("stream", &stream.key)];
        let rates = stream.rates(now);
        for (kind, bytes) in [
            ("video", &stream.video_bytes),
            ("audio", &stream.audio_bytes),
        ] {
            out.counter(
                "liverelay_cloud_ingest_bytes_total",
                "Media bytes received from the publisher.",
                &[("stream", &stream.key), ("kind", kind)],
                load(bytes),
            );
        }
        out.gauge(
            "liverelay_cloud_ingest_bitrate_kbps",
            "Ingest bit rate over the last completed 5 s window.",
            labels,
            rates.video_kbps + rates.audio_kbps,
        );
        out.counter(
            "liverelay_cloud_ingest_tags_total",
            "FLV tags received from the publisher.",
            labels,
            load(&stream.tags),
        );
        out.counter(
            "liverelay_cloud_sent_packets_total",
            "RTP packets sent (each once, whatever the number of destinations).",
            labels,
            load(&stream.packets_sent),
        );
        out.counter(
            "liverelay_cloud_sent_bytes_total",
            "RTP bytes sent, headers included.",
            labels,
            load(&stream.bytes_sent),
        );
        let repair = &stream.repair;
        for (name, help, value) in [
            (
                "liverelay_cloud_stream_nacks_total",
                "NACKs answered for the stream.",
                &repair.nacks,
            ),
            (
                "liverelay_cloud_stream_repaired_total",
                "Packets of the stream sent again from the cache.",
                &repair.repaired,
            ),
            (
                "liverelay_cloud_stream_evicted_total",
                "Requested packets of the stream already gone from the cache.",
                &repair.evicted,
            ),
        ] {
            out.counter(name, help, labels, load(value));
        }
        if let Some((packets, bytes)) = state.hub.cache_occupancy(stream.ssrc) {
            out.gauge(
                "liverelay_cloud_cache_packets",
                "Packets held in the stream's retransmit cache.",
                labels,
                packets as f64,
            );
            out.gauge(
                "liverelay_cloud_cache_bytes",
                "Payload bytes held in the stream's retransmit cache.",
                labels,
                bytes as f64,
            );
        }
        let edges = state.hub.edge_links(Some(stream.ssrc), now);
        out.gauge(
            "liverelay_cloud_viewers",
            "Players of the stream on every edge, as the edges last reported.",
            labels,
            edges.iter().map(|e| e.viewers).sum::<u64>() as f64,
        );
        out.gauge(
            "liverelay_cloud_stream_uptime_seconds",
            "Seconds since the publish started.",
            labels,
            now.saturating_duration_since(stream.started).as_secs_f64(),
        );
    }
    edge_metrics(&mut out, &state, now);
    recording_metrics(&mut out, &state.recordings);
    let (live_rooms, online) = state.rooms.gauges();
    out.gauge(
        "liverelay_cloud_rooms_live",
        "Live rooms this node watches.",
        &[],
        live_rooms as f64,
    );
    let (events_lost, redis_errors) = state.rooms.shared_errors();
    out.counter(
        "liverelay_cloud_room_events_lost_total",
        "Room events not sent after their change was stored (shared state unavailable).",
        &[],
        events_lost,
    );
    out.counter(
        "liverelay_cloud_redis_errors_total",
        "Redis calls of the shared live state that failed or timed out.",
        &[],
        redis_errors,
    );
    if let Some(webhooks) = state.rooms.webhook_stats() {
        out.counter(
            "liverelay_cloud_webhooks_delivered_total",
            "Webhook events delivered.",
            &[],
            webhooks.delivered,
        );
        out.counter(
            "liverelay_cloud_webhook_failures_total",
            "Webhook deliveries that failed (each is retried).",
            &[],
            webhooks.failed_attempts,
        );
        out.gauge(
            "liverelay_cloud_webhooks_pending",
            "Webhook events waiting for delivery.",
            &[],
            webhooks.pending as f64,
        );
        out.gauge(
            "liverelay_cloud_webhooks_dead",
            "Webhook events given up on after callback_dead_after_s (GET /admin/webhook/dead).",
            &[],
            webhooks.dead as f64,
        );
    }
    out.gauge(
        "liverelay_cloud_room_viewers_online",
        "Viewers joined and beating, in all rooms.",
        &[],
        online as f64,
    );
    for destination in state.sender.destination_stats() {
        let labels: &[(&str, &str)] = &[("destination", &destination.destination)];
        out.counter(
            "liverelay_cloud_destination_packets_total",
            "RTP datagrams sent to a destination of client_addr_list.",
            labels,
            destination.sent,
        );
        out.counter(
            "liverelay_cloud_destination_errors_total",
            "Sends to a destination that failed.",
            labels,
            destination.errors,
        );
    }
    out
}

fn recording_metrics(out: &mut Exposition, recordings: &RecordingStats) {
    let r = recordings.snapshot();
    out.gauge(
        "liverelay_cloud_recordings_open",
        "Recordings being written.",
        &[],
        r.open as f64,
    );
    for (name, help, value) in [
        (
            "liverelay_cloud_recordings_started_total",
            "Recordings begun.",
            r.started,
        ),
        (
            "liverelay_cloud_recordings_finished_total",
            "Recordings closed with duration and size written.",
            r.finished,
        ),
        (
            "liverelay_cloud_recordings_failed_total",
            "Recordings that could not be opened or written, or fell behind.",
            r.failed,
        ),
        (
            "liverelay_cloud_recording_bytes_total",
            "Bytes written to recordings.",
            r.bytes_written,
        ),
        (
            "liverelay_cloud_recording_tags_dropped_total",
            "Tags that did not reach a recording.",
            r.tags_dropped,
        ),
    ] {
        out.counter(name, help, &[], value);
    }
}

fn edge_metrics(out: &mut Exposition, state: &NodeState, now: Instant) {
    let counters = &state.hub.counters;
    out.gauge(
        "liverelay_cloud_edges",
        "Edges connected to the repair server.",
        &[],
        state.hub.edge_count() as f64,
    );
    for link in state.hub.edge_links(None, now) {
        out.gauge(
            "liverelay_cloud_edge_rtt_seconds",
            "Smoothed round-trip time of an edge's repair connection.",
            &[("edge", &link.name), ("addr", &link.addr)],
            link.rtt_ms / 1000.0,
        );
    }
    for (name, help, value) in [
        (
            "liverelay_cloud_edges_accepted_total",
            "Edge connections accepted.",
            &counters.edges_accepted,
        ),
        (
            "liverelay_cloud_edges_refused_total",
            "Edge connections refused (token, version, no hello).",
            &counters.edges_refused,
        ),
        (
            "liverelay_cloud_repair_nacks_total",
            "NACKs answered.",
            &counters.nacks,
        ),
        (
            "liverelay_cloud_repair_nacks_throttled_total",
            "NACKs not answered: the edge was over nack_budget_pps.",
            &counters.nacks_throttled,
        ),
        (
            "liverelay_cloud_repair_bad_requests_total",
            "Repair requests that did not decode.",
            &counters.bad_requests,
        ),
        (
            "liverelay_cloud_repair_packets_requested_total",
            "Packets named in NACKs.",
            &counters.packets_requested,
        ),
        (
            "liverelay_cloud_repair_sent_total",
            "Packets sent again from the caches.",
            &counters.repairs_sent,
        ),
        (
            "liverelay_cloud_repair_evicted_total",
            "Requested packets already gone from the caches.",
            &counters.evicted,
        ),
        (
            "liverelay_cloud_repair_not_sent_total",
            "Requested packets never sent.",
            &counters.not_sent,
        ),
        (
            "liverelay_cloud_repair_unknown_stream_total",
            "Requests for streams the cloud does not have.",
            &counters.unknown_stream,
        ),
    ] {
        out.counter(name, help, &[], value.load(Ordering::Relaxed));
    }
}
