//! The edge's own pages: `/` lists the live streams with a play link each, `/play/APP/NAME` is a
//! player (HTTP-FLV through mpegts.js where Media Source Extensions exist, HLS through hls.js or
//! the browser's own elsewhere, a toggle between them). The page and its script are ours and
//! built into the binary; mpegts.js and hls.js are npm packages, pinned in `web/package.json`,
//! served from `player_dir` (`/player/mpegts.js`, `/player/hls.js`), never committed.
//!
//! The static `play` and `player` segments win over the stream routes `/{app}/{file}`, so an app
//! named `play` or `player` cannot be played here by those names' two-segment URLs.

use crate::state::HttpState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};

const PLAY_HTML: &str = include_str!("page/play.html");
const PLAY_JS: &str = include_str!("page/play.js");

/// The npm packages' files, by the name the page loads them as.
const ASSETS: &[(&str, &str)] = &[
    ("mpegts.js", "node_modules/mpegts.js/dist/mpegts.js"),
    ("hls.js", "node_modules/hls.js/dist/hls.min.js"),
];

/// The files the page loads that are missing from `player_dir`, for a warning at start.
pub fn missing_assets(player_dir: &FsPath) -> Vec<PathBuf> {
    ASSETS
        .iter()
        .map(|(_, file)| player_dir.join(file))
        .filter(|path| !path.is_file())
        .collect()
}

/// `/`, `/play/{app}/{name}` and `/player/{file}`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(index))
        .route("/play/{app}/{name}", get(play_page))
        .route("/player/{file}", get(asset))
}

fn typed(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Text as HTML text (stream names are restricted already; this keeps the page safe whatever).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The live streams, each with its play page and its FLV and HLS URLs.
async fn index(State(state): State<HttpState>) -> Response {
    let mut names: Vec<String> = state
        .streams
        .handles()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.sort();
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>liverelay edge</title><link rel=\"icon\" href=\"data:,\">\
         <style>body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:720px;padding:0 1em}\
         code{background:#f3f3f3;padding:0 .25em}</style></head><body>\n<h1>Live on this edge</h1>\n",
    );
    if names.is_empty() {
        html.push_str(
            "<p>No stream is live here now. Publish to the cloud with \
             <code>rtmp://CLOUD:1935/live/NAME</code> and reload.</p>\n",
        );
    } else {
        html.push_str("<ul>\n");
        for name in &names {
            let name = escape(name);
            let _ = writeln!(
                html,
                "<li><a href=\"/play/{name}\">{name}</a>: <code>/{name}.flv</code>, \
                 <code>/{name}.m3u8</code></li>"
            );
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    typed("text/html; charset=utf-8", "no-cache", html)
}

/// The player; it reads the stream's name from its own URL.
async fn play_page(Path((_app, _name)): Path<(String, String)>) -> Response {
    typed("text/html; charset=utf-8", "no-cache", PLAY_HTML)
}

/// The page's script (built in) or a player library from `player_dir`.
async fn asset(State(state): State<HttpState>, Path(file): Path<String>) -> Response {
    if file == "play.js" {
        return typed("text/javascript; charset=utf-8", "no-cache", PLAY_JS);
    }
    let Some((_, relative)) = ASSETS.iter().find(|(name, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such player file\n").into_response();
    };
    let path = state.player_dir.join(relative);
    match tokio::fs::read(&path).await {
        Ok(bytes) => typed(
            "text/javascript; charset=utf-8",
            "public, max-age=3600",
            bytes,
        ),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "a player file is missing; run npm ci in web/");
            (
                StatusCode::NOT_FOUND,
                format!(
                    "{} is missing ({error}); run `npm ci` in web/ or set player_dir\n",
                    path.display()
                ),
            )
                .into_response()
        }
    }
}
