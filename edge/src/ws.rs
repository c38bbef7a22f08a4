//! WebSocket-FLV: an upgrade request (RFC 6455 §4) to `/APP/NAME.flv` gets the same FLV stream
//! as an HTTP player, one binary message per queue item: the first message is the 13-byte FLV
//! header, every later one exactly one FLV tag with its trailing previous-tag-size, so a client
//! that concatenates the messages has the HTTP-FLV body byte for byte.
//!
//! The player is the same [`Player`] as over HTTP: the same bounded queue and drop policy, the
//! same count in the stream's players. Nothing a client sends is used: its messages are read
//! (so pings are answered and a close is seen) and dropped, each at most [`MAX_CLIENT_MESSAGE`]
//! bytes, so a client cannot make the edge hold more than that for it.

use crate::player::{Player, PlayerBody};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// The largest message or frame a client may send; players have nothing to say but pings and
/// a close.
pub const MAX_CLIENT_MESSAGE: usize = 4096;

/// Close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;

/// Answers the upgrade and plays `player`'s queue over the socket until the stream ends, the
/// player is cut off, the client leaves or the edge shuts down (`shutdown`).
pub fn upgrade(
    upgrade: WebSocketUpgrade,
    player: Arc<Player>,
    tracked: TaskTrackerToken,
    shutdown: CancellationToken,
) -> Response {
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            let _tracked = tracked;
            play(socket, PlayerBody::new(player), shutdown).await;
        })
}

/// Why the socket is closed, as the close frame says it.
fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn play(socket: WebSocket, mut body: PlayerBody, shutdown: CancellationToken) {
    let (mut sink, mut incoming) = socket.split();
    let ending = loop {
        tokio::select! {
            buffer = std::future::poll_fn(|cx| body.poll_buffer(cx)) => match buffer {
                Some(Ok(bytes)) => {
                    if sink.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                Some(Err(cut_off)) => {
                    tracing::debug!(%cut_off, "WebSocket player cut off");
                    break close(CLOSE_POLICY, "the player stayed behind the stream");
                }
                None => break close(CLOSE_NORMAL, "the stream ended"),
            },
            message = incoming.next() => match message {
                // Pings are answered by the socket itself; the rest is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = shutdown.cancelled() => break close(CLOSE_GOING_AWAY, "the edge is shutting down"),
        }
    };
    let _ = sink.send(ending).await;
    let _ = sink.close().await;
}
