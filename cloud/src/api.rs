//! The cloud's HTTP API.
//!
//! livego's paths keep livego's parameters and `{status, data}` envelope (the HTTP status
//! equals `status`): `/stat/livestat` (plus the `ssrc` and `start_time` fields edges and
//! dashboards rely on) and `/control/get|reset|delete`. Everything new is under `/api/` in the
//! `{request_id, code, message, data}` envelope; `/metrics` and `/status` are in [`crate::metrics`].

use crate::metrics::{self, NodeState};
use crate::registry::{LiveStream, PublisherStat};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use relay_control::views::{BitrateView, CloudStreamView, IngestView, RepairServedView, SentView};
use relay_control::{
    livego_reply, request_id_layer, serve_openapi, ApiError, ApiQuery, Page, PageQuery, Reply,
    StreamName,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// The API router; `/metrics` and `/status` too unless `metrics_apart`.
pub fn router(state: Arc<NodeState>, metrics_apart: bool, rooms: Router) -> Router {
    let mut document = ApiDoc::openapi();
    document.merge(crate::rooms::RoomsDoc::openapi());
    let mut router = Router::new()
        .route("/stat/livestat", any(livestat))
        .route("/control/get", any(control_get))
        .route("/control/reset", any(control_reset))
        .route("/control/delete", any(control_delete))
        .route("/api/v1/streams", get(list_streams))
        .route("/api/v1/streams/{app}/{name}", get(get_stream))
        .route("/api/openapi.json", get(serve_openapi(&document)))
        .fallback(not_found);
    if !metrics_apart {
        router = router.merge(metrics::router());
    }
    router
        .with_state(state)
        .merge(rooms)
        .layer(axum::middleware::from_fn(request_id_layer))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the list is at /api/openapi.json")
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "liverelay cloud API",
        description = "Streams live on the cloud node, livego-compatible stream keys, metrics and health; the live-room API (/server signed with Qiniu AK/SK and X-Qiniu-Date, /client with a JWT, /admin with an admin JWT)."
    ),
    paths(
        livestat,
        control_get,
        control_reset,
        control_delete,
        list_streams,
        get_stream,
        metrics::status,
        metrics::prometheus
    ),
    components(schemas(
        relay_control::views::CloudStreamView,
        relay_control::views::StatusView
    ))
)]
struct ApiDoc;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RoomQuery {
    /// A stream, `app/name`.
    room: Option<String>,
}

/// livego's livestat: publishers (and, always empty here, RTMP players).
#[derive(Debug, Serialize, ToSchema)]
struct Livestat {
    publishers: Vec<PublisherStat>,
    players: Vec<PublisherStat>,
}

/// livego's envelope around livestat.
#[derive(Debug, Serialize, ToSchema)]
struct LivestatReply {
    status: u16,
    data: Livestat,
}

/// livego's envelope around a string (a key, "Ok" or an error message).
#[derive(Debug, Serialize, ToSchema)]
struct LivegoText {
    status: u16,
    data: String,
}

/// A livego-style 400 for a bad or missing `room`.
fn livego_error(error: ApiError) -> Response {
    livego_reply(error.status, error.message)
}

fn livego_room(query: Result<ApiQuery<RoomQuery>, ApiError>) -> Result<String, ApiError> {
    let ApiQuery(query) = query?;
    StreamName::parse("room", query.room.as_deref()).map(|name| name.0)
}

/// Live publishers, all or one room; livego's shape with `ssrc` and `start_time`.
#[utoipa::path(get, path = "/stat/livestat", params(RoomQuery), responses(
    (status = 200, body = LivestatReply),
    (status = 400, body = LivegoText, description = "room is not app/name"),
    (status = 404, body = LivegoText, description = "room not found or inactive"),
))]
async fn livestat(
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<RoomQuery>, ApiError>,
) -> Response {
    let room = match query {
        Ok(ApiQuery(RoomQuery { room: None })) => None,
        other => match livego_room(other) {
            Ok(room) => Some(room),
            Err(error) => return livego_error(error),
        },
    };
    let publishers = state.registry.publishers(room.as_deref(), Instant::now());
    if room.is_some() && publishers.is_empty() {
        return livego_reply(StatusCode::NOT_FOUND, "room not found or inactive");
    }
    livego_reply(
        StatusCode::OK,
        Livestat {
            publishers,
            players: Vec::new(),
        },
    )
}

fn key_result(result: Result<String, crate::error::CloudError>) -> Response {
    match result {
        Ok(key) => livego_reply(StatusCode::OK, key),
        Err(error) => {
            tracing::error!(%error, "cannot save stream keys");
            livego_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot save the stream key",
            )
        }
    }
}

/// The room's stream key, made if it has none: publish to `rtmp://cloud/APP/KEY`, play `APP/NAME`.
#[utoipa::path(get, path = "/control/get", params(RoomQuery), responses(
    (status = 200, body = LivegoText, description = "the 48-character key"),
    (status = 400, body = LivegoText),
))]
async fn control_get(
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<RoomQuery>, ApiError>,
) -> Response {
    match livego_room(query) {
        Ok(room) => key_result(state.keys.get_or_create(&room)),
        Err(error) => livego_error(error),
    }
}

/// A new stream key for the room; the old one stops working (a live publish goes on).
#[utoipa::path(get, path = "/control/reset", params(RoomQuery), responses(
    (status = 200, body = LivegoText, description = "the new key"),
    (status = 400, body = LivegoText),
))]
async fn control_reset(
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<RoomQuery>, ApiError>,
) -> Response {
    match livego_room(query) {
        Ok(room) => key_result(state.keys.reset(&room)),
        Err(error) => livego_error(error),
    }
}

/// Removes the room's stream key: the room is published under its own name again.
#[utoipa::path(get, path = "/control/delete", params(RoomQuery), responses(
    (status = 200, body = LivegoText, description = "\"Ok\""),
    (status = 400, body = LivegoText),
    (status = 404, body = LivegoText, description = "room not found"),
))]
async fn control_delete(
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<RoomQuery>, ApiError>,
) -> Response {
    let room = match livego_room(query) {
        Ok(room) => room,
        Err(error) => return livego_error(error),
    };
    match state.keys.delete(&room) {
        Ok(true) => livego_reply(StatusCode::OK, "Ok"),
        Ok(false) => livego_reply(StatusCode::NOT_FOUND, "room not found"),
        Err(error) => {
            tracing::error!(%error, "cannot save stream keys");
            livego_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot save the stream keys",
            )
        }
    }
}

/// Live streams, by name, paged.
#[utoipa::path(get, path = "/api/v1/streams", params(PageQuery), responses(
    (status = 200, body = Reply<Page<CloudStreamView>>),
    (status = 400, body = relay_control::ErrorBody, description = "bad page_num or page_size"),
))]
async fn list_streams(
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<CloudStreamView>>, ApiError> {
    let ApiQuery(page) = query?;
    page.checked()?;
    let now = Instant::now();
    let views = state
        .registry
        .streams(None)
        .iter()
        .map(|stream| stream_view(&state, stream, now))
        .collect();
    Ok(Reply::ok(page.page(views)?))
}

/// One live stream.
#[utoipa::path(get, path = "/api/v1/streams/{app}/{name}",
    params(("app" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, body = Reply<CloudStreamView>),
        (status = 400, body = relay_control::ErrorBody, description = "not a valid stream name"),
        (status = 404, body = relay_control::ErrorBody, description = "not live"),
))]
async fn get_stream(
    State(state): State<Arc<NodeState>>,
    Path((app, name)): Path<(String, String)>,
) -> Result<Reply<CloudStreamView>, ApiError> {
    let name = StreamName::parse("stream", Some(&format!("{app}/{name}")))?.0;
    let stream = state
        .registry
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("stream {name} is not live")))?;
    Ok(Reply::ok(stream_view(&state, &stream, Instant::now())))
}

fn stream_view(state: &NodeState, stream: &LiveStream, now: Instant) -> CloudStreamView {
    let rates = stream.rates(now);
    let media = stream.media().clone();
    let edges = state.hub.edge_links(Some(stream.ssrc), now);
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    CloudStreamView {
        name: stream.key.clone(),
        ssrc: stream.ssrc,
        start_time: stream.start_time,
        uptime_s: now.saturating_duration_since(stream.started).as_secs_f64(),
        publisher: stream.publisher.to_string(),
        video: media.video_view(),
        audio: media.audio.clone(),
        bitrate: BitrateView {
            video_kbps: rates.video_kbps,
            audio_kbps: rates.audio_kbps,
            total_kbps: rates.video_kbps + rates.audio_kbps,
        },
        keyframe_interval_ms: media.keyframe_interval_ms,
        ingest: IngestView {
            tags: load(&stream.tags),
            video_bytes: load(&stream.video_bytes),
            audio_bytes: load(&stream.audio_bytes),
        },
        sent: SentView {
            packets: load(&stream.packets_sent),
            bytes: load(&stream.bytes_sent),
        },
        repair: RepairServedView {
            nacks: load(&stream.repair.nacks),
            packets_requested: load(&stream.repair.packets_requested),
            repaired: load(&stream.repair.repaired),
            evicted: load(&stream.repair.evicted),
            not_sent: load(&stream.repair.not_sent),
        },
        viewers: edges.iter().map(|edge| edge.viewers).sum(),
        edges,
    }
}
