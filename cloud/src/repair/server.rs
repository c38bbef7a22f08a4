//! The QUIC repair server: authenticates edges, announces streams, answers NACKs.

use super::hub::{EdgeRegistration, RepairHub};
use bytes::Bytes;
use quinn::{Connection, Endpoint, Incoming};
use relay_node::Tasks;
use relay_proto::{
    AnswerBudget, Answered, CloudMessage, EdgeMessage, RepairResponder, REPAIR_VERSION,
};
use repair_quic::channel::{read_unordered, send_unordered, write_frame, FrameReader};
use repair_quic::QuicError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// An edge must say hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// QUIC application close codes.
const CLOSE_REFUSED: u32 = 1;
const CLOSE_SHUTDOWN: u32 = 2;
/// Requests that came on streams (too long for a datagram), waiting for the connection loop.
const STREAMED_REQUESTS: usize = 64;

/// Accepts edges until `tasks` are cancelled; each edge may be answered `nack_budget_pps` packets
/// a second. Every edge connection and every answer in flight is one of `tasks`. At the end the
/// endpoint closes every connection (edges reconnect to the next cloud) and waits until they are
/// closed; the node's shutdown grace bounds that wait.
pub async fn serve_repair(
    endpoint: Endpoint,
    hub: Arc<RepairHub>,
    tokens: Arc<Vec<String>>,
    nack_budget_pps: u64,
    tasks: Tasks,
) {
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = tasks.shutdown().cancelled() => break,
        };
        let Some(incoming) = incoming else { break };
        let hub = hub.clone();
        let tokens = tokens.clone();
        let edge_tasks = tasks.clone();
        tasks.spawn(async move {
            let peer = incoming.remote_address();
            match serve_edge(incoming, hub, tokens, nack_budget_pps, edge_tasks).await {
                Ok(())
                | Err(QuicError::Connection(quinn::ConnectionError::ApplicationClosed(_))) => {
                    tracing::info!(%peer, "edge disconnected")
                }
                Err(error) => tracing::warn!(%peer, %error, "edge connection ended"),
            }
        });
    }
    endpoint.close(CLOSE_SHUTDOWN.into(), b"cloud shutting down");
    endpoint.wait_idle().await;
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
    nack_budget_pps: u64,
    tasks: Tasks,
) -> Result<(), QuicError> {
    let connection = incoming.await?;
    let (mut send, mut recv) = tokio::time::timeout(HELLO_TIMEOUT, connection.accept_bi())
        .await
        .map_err(|_| QuicError::Timeout("the edge opened no control stream"))??;
    let mut reader = FrameReader::default();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, reader.next(&mut recv))
        .await
        .map_err(|_| QuicError::Timeout("the edge sent no hello"))??;
    let accepted = match hello.map(EdgeMessage::decode) {
        Some(Ok(EdgeMessage::Hello {
            version,
            token,
            edge_name,
        })) => {
            if version != REPAIR_VERSION {
                Err(format!(
                    "repair protocol version {version} is not {REPAIR_VERSION}"
                ))
            } else if !token_matches(&tokens, &token) {
                Err("edge token refused".to_owned())
            } else {
                tracing::info!(peer = %connection.remote_address(), edge = %edge_name, "edge connected");
                Ok(edge_name)
            }
        }
        _ => Err("expected a hello".to_owned()),
    };
    let edge_name = match accepted {
        Ok(edge_name) => edge_name,
        Err(reason) => {
            refuse(&hub, &connection, &mut send, &reason).await;
            return Err(QuicError::Refused(reason));
        }
    };
    hub.counters.edges_accepted.fetch_add(1, Ordering::Relaxed);
    let edge = hub.register_edge(edge_name, connection.clone());
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
    let mut responder = RepairResponder::new(AnswerBudget::new(nack_budget_pps));
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
                tasks.spawn(async move {
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
        let answers = answer(&connection, &hub, &edge, &mut responder, request);
        if !answers.is_empty() {
            let connection = connection.clone();
            tasks.spawn(async move {
                for message in answers {
                    if send_unordered(&connection, message.encode()).await.is_err() {
                        return;
                    }
                }
            });
        }
    }
}

/// Tells a refused edge why, then closes its connection.
async fn refuse(
    hub: &RepairHub,
    connection: &Connection,
    send: &mut quinn::SendStream,
    reason: &str,
) {
    hub.counters.edges_refused.fetch_add(1, Ordering::Relaxed);
    let refusal = CloudMessage::Refused {
        reason: reason.to_owned(),
    };
    let _ = write_frame(send, refusal.encode()).await;
    let _ = send.finish();
    // Let the refusal reach the edge before the close does.
    tokio::time::sleep(Duration::from_millis(100)).await;
    connection.close(CLOSE_REFUSED.into(), reason.as_bytes());
}

/// The answers to one request: one for every packet a NACK names (none for a second copy);
/// a viewer report is taken and needs none.
fn answer(
    connection: &Connection,
    hub: &RepairHub,
    edge: &EdgeRegistration,
    responder: &mut RepairResponder,
    request: Bytes,
) -> Vec<CloudMessage> {
    let counters = &hub.counters;
    let request = match EdgeMessage::decode(request) {
        Ok(EdgeMessage::Nack(request)) => request,
        Ok(EdgeMessage::Viewers(counts)) => {
            hub.report_viewers(edge, &counts);
            return Vec::new();
        }
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
    let found = hub.cache(request.ssrc);
    let (cache, stream) = match &found {
        Some((cache, stream)) => (Some(cache.lock()), Some(stream)),
        None => (None, None),
    };
    match responder.answer(Instant::now(), cache.as_deref(), &request, &mut answers) {
        Answered::Yes => {}
        Answered::Duplicate => return answers,
        Answered::Throttled => {
            counters.nacks_throttled.fetch_add(1, Ordering::Relaxed);
            return answers;
        }
    }
    drop(cache);
    // Only streams the cloud has: an edge naming made-up SSRCs must not grow the table.
    if stream.is_some() {
        hub.count_nack(edge, request.ssrc);
    }
    let requested = request.packets();
    let add = |node: &AtomicU64, stream: Option<&AtomicU64>, by: u64| {
        node.fetch_add(by, Ordering::Relaxed);
        if let Some(counter) = stream {
            counter.fetch_add(by, Ordering::Relaxed);
        }
    };
    add(&counters.nacks, stream.map(|s| &s.nacks), 1);
    add(
        &counters.packets_requested,
        stream.map(|s| &s.packets_requested),
        requested,
    );
    for message in &answers {
        match message {
            CloudMessage::Repair(_) => add(&counters.repairs_sent, stream.map(|s| &s.repaired), 1),
            CloudMessage::Evicted { .. } => add(&counters.evicted, stream.map(|s| &s.evicted), 1),
            CloudMessage::NotSent { .. } => add(&counters.not_sent, stream.map(|s| &s.not_sent), 1),
            _ => add(&counters.unknown_stream, None, 1),
        }
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
