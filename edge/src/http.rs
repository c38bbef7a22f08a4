//! HTTP-FLV: `GET /APP/NAME.flv` streams a live stream to a player (or, asked to upgrade, over a
//! WebSocket: see [`crate::ws`]); `.m3u8` on the same path goes to [`crate::hls_http`].

use crate::player::{Player, PlayerBody};
use crate::state::HttpState;
use crate::streams::Command;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use relay_control::with_cors;

fn not_found(what: &str) -> Response {
    with_cors((StatusCode::NOT_FOUND, format!("{what}\n")).into_response())
}

/// The live stream as HTTP-FLV: FLV header, metadata, sequence headers, the GOP cache from
/// the latest keyframe, then live tags, until the publish ends. `HEAD` answers the headers
/// without joining; `OPTIONS` answers CORS preflight. A WebSocket upgrade request gets the same
/// bytes as binary messages, one tag each (101, then the stream).
#[utoipa::path(get, path = "/{app}/{file}",
    params(
        ("app" = String, Path, description = "The stream's app, e.g. live"),
        ("file" = String, Path, description = "The stream's name followed by .flv, or by .m3u8 for its HLS media playlist"),
    ),
    responses(
        (status = 200, content_type = "video/x-flv", body = Vec<u8>, description = "the stream, chunked, until it ends (NAME.m3u8: the HLS media playlist)"),
        (status = 101, description = "WebSocket-FLV: the FLV header, then one tag per binary message, until the stream ends"),
        (status = 403, content_type = "text/plain", body = String, description = "play_auth or on_play refused the player"),
        (status = 404, content_type = "text/plain", body = String, description = "not live on this edge, or not NAME.flv"),
        (status = 405, description = "a method other than GET, HEAD or OPTIONS"),
))]
pub async fn play(
    method: Method,
    State(state): State<HttpState>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    websocket: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if method == Method::OPTIONS {
        return with_cors(StatusCode::NO_CONTENT.into_response());
    }
    if method != Method::GET && method != Method::HEAD {
        return with_cors(StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    if file.ends_with(".m3u8") {
        return crate::hls_http::playlist(&state, &app, &file, query.as_deref()).await;
    }
    let Some(key) = file.strip_suffix(".flv") else {
        return not_found("only APP/NAME.flv is served here");
    };
    if let Err(refusal) = state.gate.check(&app, key, query.as_deref()).await {
        tracing::debug!(app, stream = key, %refusal, "player refused");
        return with_cors((StatusCode::FORBIDDEN, format!("{refusal}\n")).into_response());
    }
    let name = format!("{app}/{key}");
    let Some(stream) = state.streams.get(&name) else {
        return not_found(&format!("stream {name} is not live on this edge"));
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let player = Player::new(state.player_queue_bytes);
        if stream
            .commands
            .send(Command::Join(player.clone()))
            .await
            .is_err()
        {
            return not_found(&format!("stream {name} just ended"));
        }
        if let Ok(upgrade) = websocket {
            tracing::debug!(stream = %name, "WebSocket player joined");
            let shutdown = state.tasks.shutdown().clone();
            return crate::ws::upgrade(upgrade, player, state.tasks.token(), shutdown);
        }
        tracing::debug!(stream = %name, "player joined");
        Body::new(PlayerBody::new(player).tracked(state.tasks.token()))
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("video/x-flv"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    with_cors(response)
}
