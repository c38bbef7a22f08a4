//! The HTTP side of HLS and Low-Latency HLS: playlists and media from each stream's packager
//! ([`crate::hls`]).
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /APP/NAME.m3u8` | the media playlist; with `_HLS_msn` (and `_HLS_part`) a blocking reload |
//! | `GET /APP/NAME/init-N.mp4` | init segment `N` |
//! | `GET /APP/NAME/seg-N.m4s` | media segment `N` |
//! | `GET /APP/NAME/part-N-I.m4s` | part `I` of segment `N`; the preload-hinted one is held until it exists |
//!
//! Blocking requests are held without holding the packager's lock: the handler polls the
//! packager, and when the answer is not there yet waits on a `watch` of its generation, at most
//! [`HOLD_TARGETS`] target durations (then 503). The play gate checks every request, playlist
//! and media alike, with the request's query minus the `_HLS_*` parameters; the playlist
//! carries that query onto every URI in it, so a signed URL for the stream covers its segments.

use crate::hls::HlsStream;
use crate::state::HttpState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use relay_control::with_cors;
use relay_hls::{parse_uri, HlsError, Reload, Resource};
use relay_node::Tasks;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::watch;
use tokio::time::Instant;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const MEDIA_TYPE: &str = "video/mp4";
/// The query parameters of RFC 8216bis §6.2.5 that a player adds itself: never carried onto
/// URIs, and left out of the query the play gate checks.
const RELOAD_PARAMS: [&str; 3] = ["_HLS_msn", "_HLS_part", "_HLS_skip"];

/// The routes of `hls_addr`: playlists and media only.
pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/{app}/{file}", any(playlist_route))
        .route("/{app}/{name}/{file}", any(media))
}

fn text(status: StatusCode, message: String) -> Response {
    with_cors((status, format!("{message}\n")).into_response())
}

/// Method checks shared by every HLS URL: `None` for GET and HEAD.
fn preflight(method: &Method) -> Option<Response> {
    if method == Method::OPTIONS {
        return Some(with_cors(StatusCode::NO_CONTENT.into_response()));
    }
    if method != Method::GET && method != Method::HEAD {
        return Some(with_cors(StatusCode::METHOD_NOT_ALLOWED.into_response()));
    }
    None
}

/// The request's query without the `_HLS_*` parameters: what the play gate checks and what is
/// carried onto the playlist's URIs. `None` when nothing is left.
fn player_query(query: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !pair.is_empty() && !RELOAD_PARAMS.contains(&key)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// `_HLS_msn` and `_HLS_part`, as numbers; `Err` names a bad one.
fn reload_params(query: Option<&str>) -> Result<(Option<u64>, Option<u64>), String> {
    let mut msn = None;
    let mut part = None;
    for pair in query.unwrap_or_default().split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let slot = match key {
            "_HLS_msn" => &mut msn,
            "_HLS_part" => &mut part,
            _ => continue,
        };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{key} must be a decimal number"));
        }
        *slot = Some(value.parse().map_err(|_| format!("{key} is too large"))?);
    }
    Ok((msn, part))
}

/// Appends `?query` to every URI of a playlist: URI lines and `URI="..."` attributes.
fn carry_query(playlist: &str, query: Option<&str>) -> String {
    let Some(query) = query else {
        return playlist.to_owned();
    };
    let mut out = String::with_capacity(playlist.len() + 64 * query.len());
    for line in playlist.lines() {
        if line.is_empty() {
        } else if !line.starts_with('#') {
            out.push_str(line);
            out.push('?');
            out.push_str(query);
        } else if let Some(start) = line.find("URI=\"") {
            let value = start + 5;
            match line[value..].find('"') {
                Some(end) => {
                    out.push_str(&line[..value + end]);
                    out.push('?');
                    out.push_str(query);
                    out.push_str(&line[value + end..]);
                }
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// How a held request ended without an answer.
enum Held {
    TimedOut,
    ShuttingDown,
}

/// Waits until `stream`'s generation moves past what `seen` saw, at most until `deadline`.
async fn wait_for_change(
    seen: &mut watch::Receiver<u64>,
    deadline: Instant,
    tasks: &Tasks,
) -> Result<(), Held> {
    tokio::select! {
        changed = tokio::time::timeout_at(deadline, seen.changed()) => match changed {
            Ok(_) => Ok(()),
            Err(_) => Err(Held::TimedOut),
        },
        _ = tasks.shutdown().cancelled() => Err(Held::ShuttingDown),
    }
}

fn held_response(held: Held, counter: &AtomicU64, what: &str) -> Response {
    match held {
        Held::TimedOut => {
            counter.fetch_add(1, Ordering::Relaxed);
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{what} did not appear in time"),
            )
        }
        Held::ShuttingDown => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the edge is shutting down".into(),
        ),
    }
}

/// `/APP/FILE` on `hls_addr`: only playlists.
async fn playlist_route(
    method: Method,
    State(state): State<HttpState>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(response) = preflight(&method) {
        return response;
    }
    playlist(&state, &app, &file, query.as_deref()).await
}

/// The play gate's check of an HLS request (its query minus the `_HLS_*` parameters) and the
/// stream's packager: the stream's name, its packager and the query to carry onto the URIs, or
/// the 403 or 404 to answer.
async fn admit(
    state: &HttpState,
    app: &str,
    key: &str,
    query: Option<&str>,
) -> Result<(String, Arc<HlsStream>, Option<String>), Response> {
    let carried = player_query(query);
    if let Err(refusal) = state.gate.check(app, key, carried.as_deref()).await {
        tracing::debug!(app, stream = key, %refusal, "HLS player refused");
        return Err(text(StatusCode::FORBIDDEN, refusal.to_string()));
    }
    let name = format!("{app}/{key}");
    match state.hls.get(&name) {
        Some(stream) => Ok((name, stream, carried)),
        None => Err(text(
            StatusCode::NOT_FOUND,
            format!("stream {name} is not live on this edge"),
        )),
    }
}

/// `GET /APP/NAME.m3u8`: the media playlist, once it holds what `_HLS_msn`/`_HLS_part` ask for
/// (RFC 8216bis §6.2.5.2); held at most [`HOLD_TARGETS`] target durations, then 503. 400 for a
/// bad or too-far request, 404 for a stream not packaged here, 501 naming the codec for a stream
/// HLS cannot carry without transcoding. The method was checked by the caller.
pub async fn playlist(state: &HttpState, app: &str, file: &str, query: Option<&str>) -> Response {
    let Some(key) = file.strip_suffix(".m3u8") else {
        return text(
            StatusCode::NOT_FOUND,
            "only APP/NAME.m3u8 is served here".into(),
        );
    };
    let (name, stream, carried) = match admit(state, app, key, query).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let (msn, part) = match reload_params(query) {
        Ok(params) => params,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let _running = state.tasks.token();
    let deadline = Instant::now() + stream.hold;
    let mut seen = stream.generation.subscribe();
    loop {
        seen.borrow_and_update();
        let answer = stream.packager.lock().poll_playlist(msn, part);
        match answer {
            Ok(Reload::Ready(playlist)) => {
                state.hls.counters.playlists.fetch_add(1, Ordering::Relaxed);
                let body = carry_query(&playlist, carried.as_deref());
                let mut response = Response::new(Body::from(body));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(PLAYLIST_TYPE),
                );
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                return with_cors(response);
            }
            Ok(Reload::BadRequest(why)) => return text(StatusCode::BAD_REQUEST, why.into()),
            Ok(Reload::Gone) => {
                return text(
                    StatusCode::NOT_FOUND,
                    format!("stream {name} ended before anything was packaged"),
                )
            }
            Err(HlsError::Unsupported { codec }) => {
                return text(
                    StatusCode::NOT_IMPLEMENTED,
                    format!(
                        "stream {name} carries {codec}, which this edge cannot package for HLS \
                         without transcoding; play /{name}.flv instead"
                    ),
                )
            }
            Err(error) => {
                return text(
                    StatusCode::NOT_IMPLEMENTED,
                    format!("stream {name} cannot be packaged for HLS: {error}"),
                )
            }
            Ok(Reload::Wait) => {
                if let Err(held) = wait_for_change(&mut seen, deadline, &state.tasks).await {
                    return held_response(
                        held,
                        &state.hls.counters.playlist_timeouts,
                        "the playlist update",
                    );
                }
            }
        }
    }
}

/// `GET /APP/NAME/init-N.mp4`, `/APP/NAME/seg-N.m4s`, `/APP/NAME/part-N-I.m4s`: the bytes as
/// made (`video/mp4`, cacheable: they never change). A part the playlist's preload hint names
/// (or the first of the next segment) is held until it exists, at most [`HOLD_TARGETS`]
/// target durations. 404 for anything else not held.
#[utoipa::path(get, path = "/{app}/{name}/{file}",
    params(
        ("app" = String, Path, description = "The stream's app, e.g. live"),
        ("name" = String, Path, description = "The stream's name"),
        ("file" = String, Path, description = "init-N.mp4, seg-M.m4s or part-M-I.m4s, as the playlist names them"),
    ),
    responses(
        (status = 200, content_type = "video/mp4", body = Vec<u8>, description = "the init segment, segment or part"),
        (status = 403, content_type = "text/plain", body = String, description = "play_auth or on_play refused the request"),
        (status = 404, content_type = "text/plain", body = String, description = "not packaged here, or no such resource"),
        (status = 503, content_type = "text/plain", body = String, description = "the preload-hinted part did not appear within three target durations"),
))]
pub async fn media(
    method: Method,
    State(state): State<HttpState>,
    Path((app, key, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(response) = preflight(&method) {
        return response;
    }
    let (name, stream, _) = match admit(&state, &app, &key, query.as_deref()).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let Some(resource) = parse_uri(&file) else {
        return text(StatusCode::NOT_FOUND, format!("no {file} in {name}"));
    };
    let counters = &state.hls.counters;
    let _running = state.tasks.token();
    let deadline = Instant::now() + stream.hold;
    let mut seen = stream.generation.subscribe();
    loop {
        seen.borrow_and_update();
        let (pieces, may_appear) = {
            let packager = stream.packager.lock();
            let pieces = packager.resource(resource);
            let may_appear = match resource {
                Resource::Part(msn, i) if pieces.is_none() => packager.part_may_appear(msn, i),
                _ => false,
            };
            (pieces, may_appear)
        };
        if let Some(pieces) = pieces {
            let counter = match resource {
                Resource::Init(_) => &counters.inits,
                Resource::Segment(_) => &counters.segments,
                Resource::Part(..) => &counters.parts,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let mut response = Response::new(Body::new(Pieces::new(pieces)));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
            headers.insert(header::CACHE_CONTROL, stream.media_cache.clone());
            return with_cors(response);
        }
        if !may_appear {
            return text(StatusCode::NOT_FOUND, format!("no {file} in {name}"));
        }
        if let Err(held) = wait_for_change(&mut seen, deadline, &state.tasks).await {
            return held_response(held, &counters.part_timeouts, "the part");
        }
    }
}

/// A response body of the packager's pieces, sent as they are (no copy), with an exact length.
struct Pieces {
    pieces: VecDeque<Bytes>,
    remaining: u64,
}

impl Pieces {
    fn new(pieces: Vec<Bytes>) -> Self {
        let remaining = pieces.iter().map(|p| p.len() as u64).sum();
        Pieces {
            pieces: pieces.into_iter().filter(|p| !p.is_empty()).collect(),
            remaining,
        }
    }
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let next = self.pieces.pop_front();
        if let Some(piece) = &next {
            self.remaining -= piece.len() as u64;
        }
        Poll::Ready(next.map(|piece| Ok(http_body::Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_parameters_are_kept_out_of_the_carried_query() {
        assert_eq!(
            player_query(Some("expire=9&token=abc&_HLS_msn=3&_HLS_part=1")),
            Some("expire=9&token=abc".into())
        );
        assert_eq!(player_query(Some("_HLS_msn=3")), None);
        assert_eq!(player_query(None), None);
        assert_eq!(
            reload_params(Some("a=b&_HLS_msn=3&_HLS_part=1")),
            Ok((Some(3), Some(1)))
        );
        assert!(reload_params(Some("_HLS_msn=-1")).is_err());
        assert!(reload_params(Some("_HLS_part=99999999999999999999999")).is_err());
    }

    #[test]
    fn the_query_is_carried_onto_every_uri() {
        let playlist = "#EXTM3U\n#EXT-X-MAP:URI=\"x/init-0.mp4\"\n\
                        #EXT-X-PART:DURATION=0.5,URI=\"x/part-0-0.m4s\",INDEPENDENT=YES\n\
                        #EXTINF:4.0,\nx/seg-0.m4s\n\
                        #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"x/part-1-0.m4s\"\n";
        let carried = carry_query(playlist, Some("token=t"));
        assert_eq!(
            carried,
            "#EXTM3U\n#EXT-X-MAP:URI=\"x/init-0.mp4?token=t\"\n\
             #EXT-X-PART:DURATION=0.5,URI=\"x/part-0-0.m4s?token=t\",INDEPENDENT=YES\n\
             #EXTINF:4.0,\nx/seg-0.m4s?token=t\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"x/part-1-0.m4s?token=t\"\n"
        );
        assert_eq!(carry_query(playlist, None), playlist);
    }

    #[test]
    fn pieces_are_sent_as_they_are_with_their_length() {
        use http_body::Body as _;
        let mut body = Pieces::new(vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"c"),
        ]);
        assert_eq!(body.size_hint().exact(), Some(3));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut got = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            got.push(frame.into_data().unwrap_or_default());
        }
        assert_eq!(
            got,
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]
        );
        assert!(body.is_end_stream());
    }
}
