//! The edge's API on the HTTP-FLV listener: `/api/v1/streams`, the Go edge's `/stats/time`,
//! `/status`, `/metrics` and `/api/openapi.json`, and the listener's whole router (players too).

use crate::http::play;
use crate::state::HttpState;
use crate::stats::NodeTotals;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use relay_control::metrics::Exposition;
use relay_control::views::{EdgeStreamView, StatusView, StreamTimeView};
use relay_control::{
    livego_reply, request_id_layer, serve_openapi, ApiError, ApiQuery, Gate, Page, PageQuery,
    Reply, StreamName,
};
use relay_proto::LATENCY_BUCKETS_MS;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Players and the API; `/metrics` and `/status` too unless `metrics_apart`. `reads` guards the
/// API's reads when `api_read_auth` closes them on this listener; players are never asked.
pub fn router(state: HttpState, metrics_apart: bool, reads: Option<Gate>) -> Router {
    Router::new()
        .route("/{app}/{file}", any(play))
        .route("/{app}/{name}/{file}", any(crate::hls_http::media))
        .merge(crate::page::routes())
        .merge(routes(metrics_apart, reads))
        .with_state(state)
        .layer(axum::middleware::from_fn(request_id_layer))
}

/// API routes; `/metrics` and `/status` too unless `metrics_apart`. The reads behind `reads`
/// when it is given; `/stats/time` (the clock players compute their delay from) and the
/// OpenAPI document stay open, as playing does.
fn routes(metrics_apart: bool, reads: Option<Gate>) -> Router<HttpState> {
    let document = ApiDoc::openapi();
    let mut guarded = Router::new()
        .route("/api/v1/streams", get(list_streams))
        .route("/api/v1/streams/{app}/{name}", get(get_stream));
    if !metrics_apart {
        guarded = guarded.merge(metrics_router());
    }
    if let Some(gate) = reads {
        guarded = gate.guard(guarded);
    }
    guarded
        .route("/stats/time", get(stream_time))
        .route("/api/openapi.json", get(serve_openapi(&document)))
}

/// `/metrics` and `/status`, on the HTTP-FLV listener or one of their own (`metrics_addr`).
pub fn metrics_router() -> Router<HttpState> {
    Router::new()
        .route("/metrics", get(prometheus))
        .route("/status", get(status))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "liverelay edge API",
        description = "HTTP-FLV and HLS for players, and the streams served by the edge node with their players, loss and repair; metrics and health."
    ),
    paths(
        crate::http::play,
        crate::hls_http::media,
        list_streams,
        get_stream,
        stream_time,
        status,
        prometheus
    ),
    components(schemas(EdgeStreamView, StatusView))
)]
struct ApiDoc;

/// Streams served, by name, paged.
#[utoipa::path(get, path = "/api/v1/streams", params(PageQuery), responses(
    (status = 200, body = Reply<Page<EdgeStreamView>>),
    (status = 400, body = relay_control::ErrorBody, description = "bad page_num or page_size"),
))]
async fn list_streams(
    State(state): State<HttpState>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<EdgeStreamView>>, ApiError> {
    let ApiQuery(page) = query?;
    page.checked()?;
    let now = Instant::now();
    let views = state
        .streams
        .handles()
        .iter()
        .map(|(_, handle)| handle.stats.view(now))
        .collect();
    Ok(Reply::ok(page.page(views)?))
}

/// One stream served by this edge.
#[utoipa::path(get, path = "/api/v1/streams/{app}/{name}",
    params(("app" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, body = Reply<EdgeStreamView>),
        (status = 400, body = relay_control::ErrorBody, description = "not a valid stream name"),
        (status = 404, body = relay_control::ErrorBody, description = "not served here"),
))]
async fn get_stream(
    State(state): State<HttpState>,
    Path((app, name)): Path<(String, String)>,
) -> Result<Reply<EdgeStreamView>, ApiError> {
    let name = StreamName::parse("stream", Some(&format!("{app}/{name}")))?.0;
    let handle = state
        .streams
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("stream {name} is not live on this edge")))?;
    Ok(Reply::ok(handle.stats.view(Instant::now())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// `app/name`.
    stream: Option<String>,
}

/// livego's envelope around the stream's start time.
#[derive(Debug, Serialize, ToSchema)]
struct StreamTimeReply {
    status: u16,
    data: Option<StreamTimeView>,
}

/// When the stream's time 0 was, in Unix ms, as the Go edge answered (players compute delay).
#[utoipa::path(get, path = "/stats/time", params(StreamQuery), responses(
    (status = 200, body = StreamTimeReply),
    (status = 400, body = StreamTimeReply, description = "stream missing or not app/name; data is the message"),
    (status = 404, body = StreamTimeReply, description = "not live here; data is null"),
))]
async fn stream_time(
    State(state): State<HttpState>,
    query: Result<ApiQuery<StreamQuery>, ApiError>,
) -> Response {
    let name =
        query.and_then(|ApiQuery(query)| StreamName::parse("stream", query.stream.as_deref()));
    let name = match name {
        Ok(name) => name.0,
        Err(error) => return livego_reply(error.status, error.message),
    };
    let start_time = state
        .streams
        .get(&name)
        .map(|handle| handle.stats.read().start_time)
        .filter(|start| *start != 0);
    match start_time {
        Some(start_time) => livego_reply(
            StatusCode::OK,
            StreamTimeView {
                stream_url: name,
                start_time,
            },
        ),
        None => livego_reply(StatusCode::NOT_FOUND, Option::<StreamTimeView>::None),
    }
}

/// Health: 200 whenever the node runs, with what it serves.
#[utoipa::path(get, path = "/status", responses((status = 200, body = Reply<StatusView>)))]
async fn status(State(state): State<HttpState>) -> Reply<StatusView> {
    let handles = state.streams.handles();
    let players = handles
        .iter()
        .map(|(_, handle)| handle.stats.read().players)
        .sum();
    Reply::ok(StatusView {
        status: "ok".to_owned(),
        role: "edge".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: state.started.elapsed().as_secs_f64(),
        streams: handles.len() as u64,
        viewers: players,
        repair_links: u64::from(state.repair_rtt.borrow().is_some()),
    })
}

/// Prometheus text exposition of the edge and its streams.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, content_type = "text/plain; version=0.0.4", body = String)
))]
async fn prometheus(State(state): State<HttpState>) -> Exposition {
    let mut out = Exposition::new();
    out.gauge(
        "liverelay_edge_uptime_seconds",
        "Seconds since the edge started.",
        &[],
        state.started.elapsed().as_secs_f64(),
    );
    for bounds in &state.http {
        bounds.render(&mut out, "liverelay_edge");
    }
    let rtt = *state.repair_rtt.borrow();
    out.gauge(
        "liverelay_edge_repair_connected",
        "1 while the repair connection to the cloud is up.",
        &[],
        f64::from(u8::from(rtt.is_some())),
    );
    if let Some(rtt) = rtt {
        out.gauge(
            "liverelay_edge_repair_rtt_seconds",
            "Smoothed round-trip time of the repair connection.",
            &[],
            rtt.as_secs_f64(),
        );
    }
    let handles = state.streams.handles();
    out.gauge(
        "liverelay_edge_streams",
        "Streams served.",
        &[],
        handles.len() as f64,
    );
    let mut players = 0;
    for (name, handle) in &handles {
        let s = handle.stats.read();
        players += s.players;
        let labels: &[(&str, &str)] = &[("stream", name)];
        out.gauge(
            "liverelay_edge_stream_players",
            "Players of the stream.",
            labels,
            s.players as f64,
        );
        out.gauge(
            "liverelay_edge_stream_gop_cache_bytes",
            "Bytes held for players that join (tags since the last keyframe).",
            labels,
            s.gop_cache_bytes as f64,
        );
        out.counter(
            "liverelay_edge_stream_packets_total",
            "RTP packets received.",
            labels,
            s.reassembly.packets,
        );
        out.counter(
            "liverelay_edge_stream_repaired_total",
            "Lost packets of the stream repaired.",
            labels,
            s.recovery.repaired,
        );
        out.counter(
            "liverelay_edge_stream_unrecovered_total",
            "Packets of the stream given up on.",
            labels,
            s.reassembly.lost,
        );
        out.gauge(
            "liverelay_edge_stream_jitter_seconds",
            "Interarrival jitter (RFC 3550).",
            labels,
            s.jitter.as_secs_f64(),
        );
    }
    out.gauge(
        "liverelay_edge_players",
        "Players connected.",
        &[],
        players as f64,
    );
    node_totals(&mut out, &state.router.totals());
    state.hls.render(&mut out);
    media_counters(&mut out, state.router.counters());
    out
}

/// What the UDP reader received and what it dropped, by reason.
fn media_counters(out: &mut Exposition, media: &crate::router::MediaCounters) {
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    out.counter(
        "liverelay_edge_datagrams_total",
        "UDP datagrams received on udp_addr.",
        &[],
        load(&media.datagrams),
    );
    for (reason, counter) in [
        ("malformed", &media.malformed),
        ("unknown_stream", &media.unknown_stream),
        ("bad_tag", &media.bad_tag),
        ("replayed", &media.replayed),
        ("queue_full", &media.queue_full),
    ] {
        out.counter(
            "liverelay_edge_datagrams_dropped_total",
            "Datagrams dropped: malformed, of a stream the cloud did not announce, failing \
             authentication, replayed or duplicated, or with the stream's task behind.",
            &[("reason", reason)],
            load(counter),
        );
    }
    out.counter(
        "liverelay_edge_streams_refused_total",
        "Announced streams refused because max_streams were served.",
        &[],
        load(&media.refused_streams),
    );
    out.counter(
        "liverelay_edge_nacks_throttled_total",
        "Repair requests the cloud refused: this edge was over its nack_budget_pps.",
        &[],
        load(&media.nacks_throttled),
    );
}

fn node_totals(out: &mut Exposition, totals: &NodeTotals) {
    for (name, help, value) in [
        (
            "liverelay_edge_streams_total",
            "Streams received since start.",
            totals.streams,
        ),
        (
            "liverelay_edge_packets_total",
            "RTP packets received.",
            totals.reassembly.packets,
        ),
        (
            "liverelay_edge_tags_total",
            "FLV tags reassembled.",
            totals.stream.tags,
        ),
        (
            "liverelay_edge_holes_total",
            "Holes found in sequences.",
            totals.recovery.holes,
        ),
        (
            "liverelay_edge_nacks_sent_total",
            "NACKs sent to the cloud.",
            totals.recovery.nacks_sent,
        ),
        (
            "liverelay_edge_packets_requested_total",
            "Packets named in NACKs.",
            totals.recovery.packets_requested,
        ),
        (
            "liverelay_edge_repaired_total",
            "Lost packets repaired.",
            totals.recovery.repaired,
        ),
        (
            "liverelay_edge_late_total",
            "Missing packets that arrived late on the data path.",
            totals.recovery.late_arrivals,
        ),
        (
            "liverelay_edge_evicted_total",
            "Requested packets the cloud no longer had.",
            totals.recovery.evicted,
        ),
        (
            "liverelay_edge_unrecovered_total",
            "Packets given up on after the playout deadline.",
            totals.reassembly.lost,
        ),
        (
            "liverelay_edge_redundant_repairs_total",
            "Repairs of packets already there.",
            totals.recovery.redundant_repairs,
        ),
        (
            "liverelay_edge_spurious_repairs_total",
            "Repairs whose original arrived afterwards (reordering asked for too early).",
            totals.recovery.spurious_repairs,
        ),
        (
            "liverelay_edge_player_drops_total",
            "Tags dropped from slow players' queues.",
            totals.stream.player_drops,
        ),
        (
            "liverelay_edge_players_removed_total",
            "Players disconnected for staying behind.",
            totals.stream.players_removed,
        ),
    ] {
        out.counter(name, help, &[], value);
    }
    let bounds: Vec<f64> = LATENCY_BUCKETS_MS
        .iter()
        .map(|ms| *ms as f64 / 1000.0)
        .collect();
    out.histogram(
        "liverelay_edge_repair_latency_seconds",
        "Time from noticing a lost packet to receiving its repair.",
        &[],
        &bounds,
        totals.recovery.repair_latency.counts(),
        totals.recovery.repair_latency.sum().as_secs_f64(),
    );
}
