//! The cloud's HTTP API.
//!
//! livego's paths keep livego's parameters and `{status, data}` envelope (the HTTP status
//! equals `status`): `/stat/livestat` (plus the `ssrc` and `start_time` fields edges and
//! dashboards rely on) and `/control/get|reset|delete`. Everything new is under `/api/` in the
//! `{request_id, code, message, data}` envelope; `/metrics` and `/status` are in [`crate::metrics`].
//!
//! `/control/*` changes stream keys, which decide who may publish as a room, so it always needs
//! credentials (the API token or a server signature), and a GET there changes nothing unless
//! `livego_compat_get` asks for livego's behaviour: livego created a key on any GET, so one
//! request from anyone locked a room's real publisher out of its own name. Reads need
//! credentials when `api_read_auth` closes them.

use crate::metrics::{self, NodeState};
use crate::registry::{LiveStream, PublisherStat};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use relay_control::auth::Credentials;
use relay_control::views::{BitrateView, CloudStreamView, IngestView, RepairServedView, SentView};
use relay_control::{
    livego_reply, request_id_layer, serve_openapi, ApiError, ApiQuery, Envelope, Gate, Page,
    PageQuery, Reply, StreamName,
};
use relay_rooms_api::tagged;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

/// Who may use the API listener's routes.
pub struct Access {
    /// What `/control/*` writes accept: the `api_token` bearer token and/or server
    /// signatures by a `server_keys` pair.
    pub credentials: Arc<Credentials>,
    /// Reads need credentials too (`api_read_auth` on `api_addr`).
    pub reads_closed: bool,
    /// `/metrics` and `/status` are on their own listener (`metrics_addr`).
    pub metrics_apart: bool,
    /// The origins whose pages may call `/client/*` (`cors_allow_origins`).
    pub cors: Option<crate::cors::ClientCors>,
}

/// The API router; `/metrics` and `/status` too unless `access.metrics_apart`. Its OpenAPI
/// document (`/api/openapi.json`) is gathered from the routes as they are declared, the room
/// API's (`rooms`) with them; `/metrics` and `/status` are in it wherever they are served.
pub fn router(state: Arc<NodeState>, access: &Access, rooms: OpenApiRouter) -> Router {
    let gate = |envelope| Gate::new(access.credentials.clone(), envelope);
    // livego answered its paths on any method; `/control/*` documents the POST that changes.
    let (writes, writes_doc) = tagged(
        OpenApiRouter::new()
            .routes(answering(
                routes!(control_get),
                get(control_get).post(control_get),
            ))
            .routes(answering(
                routes!(control_reset),
                get(control_reset).post(control_reset),
            ))
            .routes(answering(
                routes!(control_delete),
                get(control_delete).post(control_delete),
            )),
        "livego",
    )
    .split_for_parts();
    let (livego_reads, livego_doc) = tagged(
        OpenApiRouter::new().routes(answering(routes!(livestat), any(livestat))),
        "livego",
    )
    .split_for_parts();
    let (mut reads, reads_doc) = tagged(
        OpenApiRouter::new()
            .routes(routes!(list_streams))
            .routes(routes!(get_stream)),
        "streams",
    )
    .split_for_parts();
    let (metrics_routes, metrics_doc) = tagged(metrics::router(), "metrics").split_for_parts();
    if !access.metrics_apart {
        reads = reads.merge(metrics_routes);
    }
    let (rooms, rooms_doc) = rooms.split_for_parts();
    let mut document = ApiDoc::openapi();
    let openapi_doc = tagged(
        OpenApiRouter::<()>::new().routes(routes!(openapi_json)),
        "openapi",
    )
    .into_openapi();
    for part in [
        writes_doc,
        livego_doc,
        reads_doc,
        metrics_doc,
        rooms_doc,
        openapi_doc,
    ] {
        document.merge(part);
    }
    let (served, _) = OpenApiRouter::new()
        .routes(answering(
            routes!(openapi_json),
            get(serve_openapi(&document)),
        ))
        .split_for_parts();
    let routes = Router::new()
        .merge(gate(Envelope::Livego).guard(writes))
        .merge(gate(Envelope::Livego).guard_if(access.reads_closed, livego_reads))
        .merge(gate(Envelope::Api).guard_if(access.reads_closed, reads))
        .merge(served)
        .fallback(not_found)
        .with_state(state)
        .merge(rooms);
    crate::cors::with_cors(routes, access.cors.clone())
        .layer(axum::middleware::from_fn(request_id_layer))
}

/// `routes` documented as their handler's `#[utoipa::path]` says, answered by
/// `method_router` (the same handler on more methods than the document names).
fn answering<S>(
    routes: UtoipaMethodRouter<S>,
    method_router: MethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    let (schemas, paths, _) = routes;
    (schemas, paths, method_router)
}

/// This document. Served by [`serve_openapi`]; this function only declares the path.
#[utoipa::path(get, path = "/api/openapi.json", responses(
    (status = 200, content_type = "application/json", body = Object, description = "the OpenAPI 3.1 document of this node")
))]
async fn openapi_json() {}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the list is at /api/openapi.json")
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "liverelay cloud API",
        description = "Streams live on the cloud node, livego-compatible stream keys, metrics and health; the live-room API (/server signed with Qiniu AK/SK and X-Qiniu-Date, /client with a JWT, /admin with an admin JWT)."
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

/// Whether a request may change keys: a POST, or any method with `livego_compat_get`.
fn may_change(method: &Method, state: &NodeState) -> bool {
    method == Method::POST || state.livego_compat_get
}

/// 405 for a GET that would change a key: it changes nothing here.
fn post_required(path: &str) -> Response {
    let mut response = livego_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("a GET changes nothing: POST {path} (or set cloud.livego_compat_get: true)"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// POST: the room's stream key, made if it has none; publish to `rtmp://cloud/APP/KEY`, play
/// `APP/NAME`. GET: the key if the room has one, 404 otherwise, nothing made (with
/// `livego_compat_get`, GET makes it as POST does). Needs credentials either way.
#[utoipa::path(post, path = "/control/get", params(RoomQuery), responses(
    (status = 200, body = LivegoText, description = "the 48-character key"),
    (status = 400, body = LivegoText),
    (status = 401, body = LivegoText, description = "no or bad credentials"),
    (status = 404, body = LivegoText, description = "GET: the room has no key"),
))]
async fn control_get(
    method: Method,
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<RoomQuery>, ApiError>,
) -> Response {
    let room = match livego_room(query) {
        Ok(room) => room,
        Err(error) => return livego_error(error),
    };
    if may_change(&method, &state) {
        return key_result(state.keys.get_or_create(&room));
    }
    match state.keys.get(&room) {
        Some(key) => livego_reply(StatusCode::OK, key),
        None => livego_reply(
            StatusCode::NOT_FOUND,
            format!("{room} has no stream key; POST /control/get makes one"),
        ),
    }
}

/// A new stream key for the room; the old one stops working (a live publish goes on). POST,
/// with credentials (GET too with `livego_compat_get`).
#[utoipa::path(post, path = "/control/reset", params(RoomQuery), responses(
    (status = 200, body = LivegoText, description = "the new key"),
    (status = 400, body = LivegoText),
    (status = 401, body = LivegoText, description = "no or bad credentials"),
    (status = 405, body = LivegoText, description = "a GET without livego_compat_get"),
))]
async fn control_reset(
    method: Method,
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<RoomQuery>, ApiError>,
) -> Response {
    if !may_change(&method, &state) {
        return post_required("/control/reset");
    }
    match livego_room(query) {
        Ok(room) => key_result(state.keys.reset(&room)),
        Err(error) => livego_error(error),
    }
}

/// Removes the room's stream key: the room is published under its own name again. POST, with
/// credentials (GET too with `livego_compat_get`).
#[utoipa::path(post, path = "/control/delete", params(RoomQuery), responses(
    (status = 200, body = LivegoText, description = "\"Ok\""),
    (status = 400, body = LivegoText),
    (status = 401, body = LivegoText, description = "no or bad credentials"),
    (status = 404, body = LivegoText, description = "room not found"),
    (status = 405, body = LivegoText, description = "a GET without livego_compat_get"),
))]
async fn control_delete(
    method: Method,
    State(state): State<Arc<NodeState>>,
    query: Result<ApiQuery<RoomQuery>, ApiError>,
) -> Response {
    if !may_change(&method, &state) {
        return post_required("/control/delete");
    }
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
