//! The edge's one warm QUIC connection to the cloud: says hello with the edge token, receives
//! announcements (with each stream's media key: the only way a stream starts here) and ends, sends the stream tasks' NACKs and hands the answers back to them.
//! Reconnects with exponential back-off; while it is down, NACKs are dropped (counted) and the
//! stream tasks fall back to skipping to the next keyframe.

use crate::config::{RepairSettings, TrustSource};
use crate::router::Router;
use crate::stream_task::StreamInput;
use quinn::{Connection, Endpoint};
use relay_node::Tasks;
use relay_proto::{CloudMessage, EdgeMessage, NackRequest, Packet, Source, REPAIR_VERSION};
use repair_quic::channel::{read_unordered, send_unordered, write_frame, FrameReader};
use repair_quic::endpoint::Trust;
use repair_quic::QuicError;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the connection's RTT is passed to the stream tasks.
const RTT_REPORT: Duration = Duration::from_secs(1);
/// How often the cloud is told the players per stream (it shows viewers across edges).
const VIEWER_REPORT: Duration = Duration::from_secs(2);

/// Runs until shutdown: connects, serves the connection, reconnects. Its helper tasks (reading a
/// message on a stream of its own, sending a long NACK) are spawned on `tasks` and dropped at
/// shutdown.
pub async fn run_repair_client(
    settings: RepairSettings,
    router: Arc<Router>,
    mut nacks: mpsc::Receiver<NackRequest>,
    rtt: watch::Sender<Option<Duration>>,
    tasks: Tasks,
) {
    let shutdown = tasks.shutdown().clone();
    let bind: SocketAddr = if settings.cloud_addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let endpoint = match repair_quic::endpoint::client(bind) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            tracing::error!(%error, "cannot start the repair client; repair is off");
            return;
        }
    };
    let mut backoff = MIN_BACKOFF;
    let mut dropped_nacks = 0u64;
    'connections: loop {
        let result = tokio::select! {
            result = session(&endpoint, &settings, &router, &mut nacks, &rtt, &mut backoff, &tasks) => result,
            _ = shutdown.cancelled() => break 'connections,
        };
        let _ = rtt.send(None);
        match result {
            Ok(()) => {
                tracing::warn!(cloud = %settings.cloud_addr, "repair connection closed by the cloud; reconnecting")
            }
            Err(error) => {
                tracing::warn!(cloud = %settings.cloud_addr, %error, retry_in_ms = backoff.as_millis() as u64, "repair connection failed")
            }
        }
        // Spread reconnects of many edges: wait between half and all of the back-off.
        let wait = backoff / 2 + backoff.mul_f64(rand::random::<f64>() / 2.0);
        let until = Instant::now() + wait;
        loop {
            tokio::select! {
                _ = sleep_until(until) => break,
                _ = shutdown.cancelled() => break 'connections,
                request = nacks.recv() => match request {
                    Some(_) => dropped_nacks += 1,
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        if dropped_nacks > 0 {
            tracing::debug!(
                dropped_nacks,
                "NACKs dropped while the repair connection was down"
            );
        }
    }
    // The cloud is told at once; the edge's shutdown grace bounds the wait for the close to go.
    endpoint.close(0u32.into(), b"edge shutting down");
    endpoint.wait_idle().await;
}

fn resolve_trust(source: &TrustSource) -> Result<Trust, QuicError> {
    Ok(match source {
        TrustSource::Fingerprint(fingerprint) => Trust::Pinned(*fingerprint),
        TrustSource::CertFile(path) => {
            let chain = repair_quic::identity::load_certificates(path)?;
            let fingerprint = repair_quic::identity::parse_fingerprint(
                &repair_quic::identity::fingerprint(&chain[0]),
            )
            .ok_or_else(|| QuicError::Certificate("fingerprint".into()))?;
            Trust::Pinned(fingerprint)
        }
        TrustSource::CaFile(path) => {
            Trust::Authorities(repair_quic::identity::load_certificates(path)?)
        }
    })
}

async fn session(
    endpoint: &Endpoint,
    settings: &RepairSettings,
    router: &Arc<Router>,
    nacks: &mut mpsc::Receiver<NackRequest>,
    rtt: &watch::Sender<Option<Duration>>,
    backoff: &mut Duration,
    tasks: &Tasks,
) -> Result<(), QuicError> {
    let config = repair_quic::endpoint::client_config(&resolve_trust(&settings.trust)?)?;
    let connecting = endpoint.connect_with(config, settings.cloud_addr, &settings.server_name)?;
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| QuicError::Timeout("connecting to the cloud"))??;
    let (mut send, mut recv) = connection.open_bi().await?;
    let hello = EdgeMessage::Hello {
        version: REPAIR_VERSION,
        token: settings.token.clone(),
        edge_name: settings.edge_name.clone(),
    };
    write_frame(&mut send, hello.encode()).await?;
    let mut reader = FrameReader::default();
    let answer = tokio::time::timeout(CONNECT_TIMEOUT, reader.next(&mut recv))
        .await
        .map_err(|_| QuicError::Timeout("waiting for the cloud's welcome"))??;
    match answer.map(CloudMessage::decode) {
        Some(Ok(CloudMessage::Welcome { .. })) => {}
        Some(Ok(CloudMessage::Refused { reason })) => {
            *backoff = MAX_BACKOFF;
            return Err(QuicError::Refused(format!(
                "the cloud refused this edge: {reason}"
            )));
        }
        _ => {
            return Err(QuicError::Refused(
                "the cloud did not welcome this edge".into(),
            ))
        }
    }
    tracing::info!(cloud = %settings.cloud_addr, rtt_ms = connection.rtt().as_millis() as u64, "repair connection up");
    *backoff = MIN_BACKOFF;
    let _ = rtt.send(Some(connection.rtt()));
    let mut rtt_report = tokio::time::interval(RTT_REPORT);
    let mut viewer_report = tokio::time::interval(VIEWER_REPORT);
    loop {
        tokio::select! {
            message = reader.next(&mut recv) => match message? {
                Some(message) => deliver(router, message),
                None => return Ok(()),
            },
            datagram = connection.read_datagram() => deliver(router, datagram?),
            stream = connection.accept_uni() => {
                let (stream, router) = (stream?, router.clone());
                tasks.spawn_until_shutdown(async move {
                    if let Ok(message) = read_unordered(stream).await {
                        deliver(&router, message);
                    }
                });
            }
            request = nacks.recv() => match request {
                Some(request) => send_nack(&connection, request, tasks),
                None => return Ok(()),
            },
            _ = rtt_report.tick() => {
                let _ = rtt.send(Some(connection.rtt()));
            }
            _ = viewer_report.tick() => {
                let report = EdgeMessage::Viewers(router.streams().viewer_counts());
                write_frame(&mut send, report.encode()).await?;
            }
        }
    }
}

/// Sends a NACK without holding up the loop (a long one may need a stream).
fn send_nack(connection: &Connection, request: NackRequest, tasks: &Tasks) {
    let message = EdgeMessage::Nack(request).encode();
    if connection
        .max_datagram_size()
        .is_some_and(|max| message.len() <= max)
        && connection.send_datagram(message.clone()).is_ok()
    {
        return;
    }
    let connection = connection.clone();
    tasks.spawn_until_shutdown(async move {
        let _ = send_unordered(&connection, message).await;
    });
}

fn deliver(router: &Router, message: bytes::Bytes) {
    let message = match CloudMessage::decode(message) {
        Ok(message) => message,
        Err(error) => {
            tracing::debug!(%error, "ignoring a malformed message from the cloud");
            return;
        }
    };
    let (ssrc, input) = match message {
        CloudMessage::Announce {
            ssrc,
            key,
            first_seq,
            announcement,
        } => {
            if let Err(refused) = router.open(ssrc, key, first_seq) {
                tracing::debug!(ssrc, ?refused, "not serving an announced stream");
                return;
            }
            (ssrc, StreamInput::Announce(announcement))
        }
        CloudMessage::End { ssrc, last_seq } => (ssrc, StreamInput::End { last_seq }),
        CloudMessage::Repair(datagram) => match Packet::parse(datagram) {
            Ok(packet) => (
                packet.header.ssrc,
                StreamInput::Packet(packet, Source::Repair),
            ),
            Err(error) => {
                tracing::debug!(%error, "ignoring a malformed repair");
                return;
            }
        },
        CloudMessage::Evicted { ssrc, seq, .. } => (ssrc, StreamInput::Evicted(seq)),
        CloudMessage::NotSent { ssrc, seq } => {
            tracing::debug!(ssrc, seq, "the cloud has not sent this packet");
            return;
        }
        CloudMessage::UnknownStream { ssrc } => {
            tracing::debug!(ssrc, "the cloud does not know this stream");
            return;
        }
        CloudMessage::Throttled { ssrc, id } => {
            // The stream's receiver asks again about an RTT later, as for a lost answer.
            router
                .counters()
                .nacks_throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(ssrc, id, "the cloud throttled a repair request");
            return;
        }
        CloudMessage::Welcome { .. } | CloudMessage::Refused { .. } => return,
    };
    let _ = router.deliver(ssrc, input);
}
