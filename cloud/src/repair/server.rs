//! The QUIC repair server: authenticates edges, announces streams, answers NACKs.

use super::hub::RepairHub;
use bytes::Bytes;
use quinn::{Connection, Endpoint, Incoming};
use relay_proto::{CloudMessage, EdgeMessage, RepairResponder, REPAIR_VERSION};
use repair_quic::channel::{read_unordered, send_unordered, write_frame, FrameReader};
use repair_quic::QuicError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// An edge must say hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// QUIC application close codes.
const CLOSE_REFUSED: u32 = 1;
const CLOSE_SHUTDOWN: u32 = 2;
/// Requests that came on streams (too long for a datagram), waiting for the connection loop.
const STREAMED_REQUESTS: usize = 64;

/// Accepts edges until shutdown.
pub async fn serve_repair(
    endpoint: Endpoint,
    hub: Arc<RepairHub>,
    tokens: Arc<Vec<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        let hub = hub.clone();
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let peer = incoming.remote_address();
            match serve_edge(incoming, hub, tokens).await {
                Ok(())
                | Err(QuicError::Connection(quinn::ConnectionError::ApplicationClosed(_))) => {
                    tracing::info!(%peer, "edge disconnected")
                }
                Err(error) => tracing::warn!(%peer, %error, "edge connection ended"),
            }
        });
    }
    endpoint.close(CLOSE_SHUTDOWN.into(), b"cloud shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
}

/// Compares tokens in time that does not depend on where they differ.
fn token_matches(tokens: &[String], offered: &str) -> bool {
    tokens.iter().fold(false, |found, token| {
        let same_len = token.len() == offered.len();
        let diff = token
            .bytes()
            .zip(offered.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        found | (same_len && diff == 0)
    })
}

async fn serve_edge(
    incoming: Incoming,
    hub: Arc<RepairHub>,
    tokens: Arc<Vec<String>>,
) -> Result<(), QuicError> {
    let connection = incoming.await?;
    let (mut send, mut recv) = tokio::time::timeout(HELLO_TIMEOUT, connection.accept_bi())
        .await
        .map_err(|_| QuicError::Timeout("the edge opened no control stream"))??;
    let mut reader = FrameReader::default();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, reader.next(&mut recv))
        .await
        .map_err(|_| QuicError::Timeout("the edge sent no hello"))??;
    let refusal = match hello.map(EdgeMessage::decode) {
        Some(Ok(EdgeMessage::Hello {
            version,
            token,
            edge_name,
        })) => {
            if version != REPAIR_VERSION {
                Some(format!(
                    "repair protocol version {version} is not {REPAIR_VERSION}"
                ))
            } else if !token_matches(&tokens, &token) {
                Some("edge token refused".to_owned())
            } else {
                tracing::info!(peer = %connection.remote_address(), edge = %edge_name, "edge connected");
                None
            }
        }
        _ => Some("expected a hello".to_owned()),
    };
    if let Some(reason) = refusal {
        hub.counters.edges_refused.fetch_add(1, Ordering::Relaxed);
        let _ = write_frame(
            &mut send,
            CloudMessage::Refused {
                reason: reason.clone(),
            }
            .encode(),
        )
        .await;
        let _ = send.finish();
        // Let the refusal reach the edge before the close does.
        tokio::time::sleep(Duration::from_millis(100)).await;
        connection.close(CLOSE_REFUSED.into(), reason.as_bytes());
        return Err(QuicError::Refused(reason));
    }
    hub.counters.edges_accepted.fetch_add(1, Ordering::Relaxed);
    let mut control = hub.subscribe();
    write_frame(
        &mut send,
        CloudMessage::Welcome {
            version: REPAIR_VERSION,
        }
        .encode(),
    )
    .await?;
    for message in hub.live_announcements() {
        write_frame(&mut send, message.encode()).await?;
    }
    let mut responder = RepairResponder::new();
    let (streamed_tx, mut streamed_rx) = mpsc::channel(STREAMED_REQUESTS);
    loop {
        let request = tokio::select! {
            message = control.recv() => {
                match message {
                    Ok(message) => write_frame(&mut send, message.encode()).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        for message in hub.live_announcements() {
                            write_frame(&mut send, message.encode()).await?;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
                continue;
            }
            datagram = connection.read_datagram() => datagram?,
            stream = connection.accept_uni() => {
                let (stream, streamed_tx) = (stream?, streamed_tx.clone());
                tokio::spawn(async move {
                    if let Ok(request) = read_unordered(stream).await {
                        let _ = streamed_tx.try_send(request);
                    }
                });
                continue;
            }
            Some(request) = streamed_rx.recv() => request,
            frame = reader.next(&mut recv) => match frame? {
                Some(request) => request,
                None => return Ok(()),
            },
        };
        let answers = answer(&connection, &hub, &mut responder, request);
        if !answers.is_empty() {
            let connection = connection.clone();
            tokio::spawn(async move {
                for message in answers {
                    if send_unordered(&connection, message.encode()).await.is_err() {
                        return;
                    }
                }
            });
        }
    }
}

/// The answers to one NACK: one for every packet it names (none for a second copy).
fn answer(
    connection: &Connection,
    hub: &RepairHub,
    responder: &mut RepairResponder,
    request: Bytes,
) -> Vec<CloudMessage> {
    let counters = &hub.counters;
    let request = match EdgeMessage::decode(request) {
        Ok(EdgeMessage::Nack(request)) => request,
        Ok(EdgeMessage::Hello { .. }) => {
            counters.bad_requests.fetch_add(1, Ordering::Relaxed);
            return Vec::new();
        }
        Err(error) => {
            counters.bad_requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %connection.remote_address(), %error, "bad repair request");
            return Vec::new();
        }
    };
    let mut answers = Vec::new();
    let cache = hub.cache(request.ssrc);
    let cache = cache
        .as_ref()
        .map(|c| c.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    if !responder.answer(cache.as_deref(), &request, &mut answers) {
        return answers;
    }
    counters.nacks.fetch_add(1, Ordering::Relaxed);
    let requested: usize = request.ranges.iter().map(|r| r.seqs().count()).sum();
    counters
        .packets_requested
        .fetch_add(requested as u64, Ordering::Relaxed);
    for message in &answers {
        let counter = match message {
            CloudMessage::Repair(_) => &counters.repairs_sent,
            CloudMessage::Evicted { .. } => &counters.evicted,
            CloudMessage::NotSent { .. } => &counters.not_sent,
            _ => &counters.unknown_stream,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn tokens() {
        let tokens = vec!["alpha".to_owned(), "beta-token".to_owned()];
        assert!(token_matches(&tokens, "alpha"));
        assert!(token_matches(&tokens, "beta-token"));
        assert!(!token_matches(&tokens, "alph"));
        assert!(!token_matches(&tokens, "alphaa"));
        assert!(!token_matches(&tokens, ""));
        assert!(!token_matches(&[], "alpha"));
    }
}
