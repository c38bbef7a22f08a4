//! The cloud's HTTP API. `/stat/livestat` keeps livego's path, parameters and
//! `{status, data}` envelope (the HTTP status equals `status`), plus the `ssrc` and `start_time`
//! fields edges and dashboards rely on.

use crate::registry::{PublisherStat, Registry};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/stat/livestat", any(livestat))
        .with_state(registry)
}

#[derive(Debug, Serialize)]
struct Envelope<T: Serialize> {
    status: u16,
    data: T,
}

fn reply<T: Serialize>(status: StatusCode, data: T) -> Response {
    let mut response = (
        status,
        Json(Envelope {
            status: status.as_u16(),
            data,
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

#[derive(Debug, Deserialize)]
struct LivestatQuery {
    room: Option<String>,
}

#[derive(Debug, Serialize)]
struct Livestat {
    publishers: Vec<PublisherStat>,
    /// The cloud serves no RTMP players; kept for livego compatibility.
    players: Vec<PublisherStat>,
}

async fn livestat(
    State(registry): State<Arc<Registry>>,
    Query(query): Query<LivestatQuery>,
) -> Response {
    let publishers = registry.publishers(query.room.as_deref(), Instant::now());
    if query.room.is_some() && publishers.is_empty() {
        return reply(StatusCode::NOT_FOUND, "room not found or inactive");
    }
    reply(
        StatusCode::OK,
        Livestat {
            publishers,
            players: Vec::new(),
        },
    )
}
