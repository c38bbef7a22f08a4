//! HTTP-FLV: `GET /APP/NAME.flv` streams a live stream to a player (or, asked to upgrade, over a
//! WebSocket: see [`crate::ws`]); `.m3u8` on the same path goes to [`crate::hls_http`].

use crate::player::{Player, PlayerBody};
use crate::state::HttpState;
use crate::streams::{Command, StreamHandle};
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use relay_control::with_cors;
use std::sync::Arc;

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
    let admitted = admit(&state, &app, key, query.as_deref()).await;
    let body = match admitted {
        Err(refusal) => return refusal.into_response(),
        Ok(_) if method == Method::HEAD => Body::empty(),
        Ok(stream) => {
            let player = match stream.join(&state).await {
                Ok(player) => player,
                Err(refusal) => return refusal.into_response(),
            };
            if let Ok(upgrade) = websocket {
                tracing::debug!(stream = %stream.name, "WebSocket player joined");
                let shutdown = state.tasks.shutdown().clone();
                return crate::ws::upgrade(upgrade, player, state.tasks.token(), shutdown);
            }
            tracing::debug!(stream = %stream.name, "player joined");
            Body::new(PlayerBody::new(player).tracked(state.tasks.token()))
        }
    };
    let mut response = Response::new(body);
    *response.headers_mut() = play_headers();
    response
}

/// The headers of a playing response: the FLV type, no caching, and CORS.
pub(crate) fn play_headers() -> HeaderMap {
    let mut response = with_cors(Response::new(Body::empty()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("video/x-flv"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    std::mem::take(headers)
}

/// Why a player is not served: an answer of a status and one line of text.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    fn not_found(message: String) -> Self {
        Refusal {
            status: StatusCode::NOT_FOUND,
            message,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        with_cors((self.status, format!("{}\n", self.message)).into_response())
    }
}

/// A live stream a player was let in to.
pub(crate) struct Admitted {
    /// `APP/NAME`.
    pub name: String,
    stream: StreamHandle,
}

impl Admitted {
    /// A new player of the stream, joined: its queue fills from the next tick on.
    pub async fn join(&self, state: &HttpState) -> Result<Arc<Player>, Refusal> {
        let player = Player::new(state.player_queue_bytes);
        self.stream
            .commands
            .send(Command::Join(player.clone()))
            .await
            .map_err(|_| Refusal::not_found(format!("stream {} just ended", self.name)))?;
        Ok(player)
    }
}

/// Whether a player of `APP/KEY` with `query` may play (`play_auth`, `on_play`), and the
/// stream if it is live here. Shared by the router's handler and [`crate::flv_socket`].
pub(crate) async fn admit(
    state: &HttpState,
    app: &str,
    key: &str,
    query: Option<&str>,
) -> Result<Admitted, Refusal> {
    if let Err(refusal) = state.gate.check(app, key, query).await {
        tracing::debug!(app, stream = key, %refusal, "player refused");
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            message: refusal.to_string(),
        });
    }
    let name = format!("{app}/{key}");
    match state.streams.get(&name) {
        Some(stream) => Ok(Admitted { name, stream }),
        None => Err(Refusal::not_found(format!(
            "stream {name} is not live on this edge"
        ))),
    }
}
