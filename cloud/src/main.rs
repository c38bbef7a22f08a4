//! The cloud binary: reads its config, builds the node's parts from the `cloud` library and
//! wires them together; nothing else.

use cloud::config::CloudConfig;
use cloud::error::CloudError;
use cloud::live_facts::MediaFacts;
use cloud::metrics::NodeState;
use cloud::record::{Recorder, RecordingStats};
use cloud::registry::Registry;
use cloud::repair::{serve_repair, RepairHub};
use cloud::rtmp::{serve_rtmp, IngestContext, RtmpStats};
use cloud::sender::RtpSender;
use cloud::stream_keys::StreamKeys;
use relay_control::{Envelope, Gate, HttpBounds};
use relay_node::{run_node, shutdown_signal};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

async fn bind(key: &str, addr: SocketAddr) -> Result<TcpListener, CloudError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| CloudError::io(format!("cloud.{key}: binding {addr}"), e))
}

/// How long shutdown waits for recordings to be written out and closed. A recording still open
/// then keeps what was written (it reads to its last whole tag) without its duration.
const RECORDINGS_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    run_node::<CloudConfig, _, _, _>(run)
}

async fn run(settings: cloud::config::CloudSettings) -> Result<(), CloudError> {
    let started = Instant::now();
    let rtmp = bind("rtmp_addr", settings.rtmp_addr).await?;
    let api = bind("api_addr", settings.api_addr).await?;
    let metrics_listener = match settings.metrics_addr {
        Some(addr) => Some(bind("metrics_addr", addr).await?),
        None => None,
    };
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        CloudError::io(
            format!("cloud.data_dir: creating {}", settings.data_dir.display()),
            e,
        )
    })?;
    let keys = Arc::new(StreamKeys::load(&settings.data_dir)?);
    let store = relay_rooms::Store::open(&settings.rooms.database_url)
        .await
        .map_err(|e| CloudError::Rooms(format!("cloud.database_url: {e}")))?
        .with_backoff(settings.rooms.callback_backoff);
    let webhooks = match settings.rooms.callback.clone() {
        Some(config) => Some(
            relay_rooms::WebhookWorker::new(store.clone(), config)
                .map_err(|e| CloudError::Rooms(format!("cloud.callback_addr: {e}")))?,
        ),
        None => None,
    };
    let payments = match settings.rooms.gift_payment.clone() {
        Some(config) => Some(
            relay_rooms::Payments::new(store.clone(), config)
                .map_err(|e| CloudError::Rooms(format!("cloud.gift_addr: {e}")))?,
        ),
        None => None,
    };
    let recorder = Recorder::new(
        settings.record_dir.clone(),
        Arc::new(RecordingStats::default()),
    )?;
    let sender = Arc::new(RtpSender::bind(&settings)?);
    let names = vec!["liverelay-cloud".to_owned(), "localhost".to_owned()];
    let (identity, created) = repair_quic::identity::load_or_create(
        &settings.quic_cert_file,
        &settings.quic_key_file,
        &names,
    )
    .map_err(|e| CloudError::Repair(format!("cloud.quic_cert_file: {e}")))?;
    let fingerprint = identity.fingerprint();
    let endpoint = repair_quic::endpoint::server(settings.quic_addr, identity)
        .map_err(|e| CloudError::Repair(format!("cloud.quic_addr: {e}")))?;
    tracing::info!(
        cert = %settings.quic_cert_file.display(),
        created,
        fingerprint = %fingerprint,
        "repair certificate (edges pin it with cloud_cert_fingerprint or cloud_cert_file)"
    );
    let registry = Arc::new(Registry::default());
    let hub = RepairHub::new(settings.rtp_cache_size, settings.rtp_cache_bytes);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let repair_task = tokio::spawn(serve_repair(
        endpoint,
        hub.clone(),
        Arc::new(settings.edge_tokens.clone()),
        settings.nack_budget_pps,
        shutdown_rx.clone(),
    ));

    let facts = Arc::new(MediaFacts {
        registry: registry.clone(),
        hub: hub.clone(),
    });
    let rooms = relay_rooms_api::Rooms::new(
        store,
        settings.rooms.clone(),
        settings.publish_auth,
        settings.push_keys.clone(),
        facts,
        relay_rooms_api::AppLinks {
            webhooks: webhooks.as_ref().map(relay_rooms::WebhookWorker::handle),
            payments,
        },
    );
    let webhook_task = webhooks.map(|worker| tokio::spawn(worker.run(shutdown_rx.clone())));
    let watchdog = tokio::spawn(relay_rooms_api::watch_rooms(
        rooms.clone(),
        shutdown_rx.clone(),
    ));
    let reconciler = tokio::spawn(relay_rooms_api::reconcile_gifts(
        rooms.clone(),
        shutdown_rx.clone(),
    ));
    let rtmp_stats = RtmpStats::new(&settings.rtmp_limits);
    let api_bounds = HttpBounds::new("api", settings.http_limits);
    let metrics_bounds = HttpBounds::new("metrics", settings.http_limits);
    let context = Arc::new(IngestContext {
        registry: registry.clone(),
        sender: sender.clone(),
        repair: hub.clone(),
        keys: keys.clone(),
        rooms: rooms.clone(),
        publish_auth: settings.publish_auth,
        push_keys: settings.push_keys.clone(),
        rtmp_addr: settings.rtmp_addr,
        max_datagram: settings.rtp_max_datagram,
        recorder: recorder.clone(),
        limits: settings.rtmp_limits,
        stats: rtmp_stats.clone(),
    });
    let rtmp_task = tokio::spawn(serve_rtmp(rtmp, context, shutdown_rx.clone()));
    let state = Arc::new(NodeState {
        registry,
        hub,
        keys,
        sender,
        recordings: recorder.stats().clone(),
        rooms: rooms.clone(),
        started,
        livego_compat_get: settings.livego_compat_get,
        rtmp: rtmp_stats,
        http: vec![api_bounds.clone(), metrics_bounds.clone()],
    });
    let access = cloud::api::Access {
        credentials: settings.api_credentials.clone(),
        reads_closed: settings.api_read_auth.closed_on(settings.api_addr),
        metrics_apart: metrics_listener.is_some(),
    };
    let api_router = cloud::api::router(state.clone(), &access, rooms.router());
    let api_task =
        relay_control::serve_until("API", api, api_router, api_bounds, shutdown_rx.clone());
    let metrics_task = metrics_listener
        .zip(settings.metrics_addr)
        .map(|(listener, addr)| {
            let closed = settings.api_read_auth.closed_on(addr);
            let gate = Gate::new(settings.api_credentials.clone(), Envelope::Api);
            let (metrics_routes, _document) = cloud::metrics::router().split_for_parts();
            let router = gate.guard_if(closed, metrics_routes).with_state(state);
            relay_control::serve_until(
                "metrics",
                listener,
                router,
                metrics_bounds,
                shutdown_rx.clone(),
            )
        });
    tracing::info!(
        rtmp = %settings.rtmp_addr,
        api = %settings.api_addr,
        api_reads_closed = access.reads_closed,
        livego_compat_get = settings.livego_compat_get,
        metrics = ?settings.metrics_addr,
        quic = %settings.quic_addr,
        destinations = ?settings.destinations,
        record_dir = ?settings.record_dir,
        "cloud started"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    let _ = rtmp_task.await;
    let _ = api_task.await;
    let _ = watchdog.await;
    let _ = reconciler.await;
    if let Some(webhook_task) = webhook_task {
        let _ = webhook_task.await;
    }
    if let Some(metrics_task) = metrics_task {
        let _ = metrics_task.await;
    }
    // Connection tasks saw the signal too; give them a moment to send end-of-stream.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Their publishes have ended or are ending, which closes the recordings.
    if !recorder.wait_closed(RECORDINGS_CLOSE_TIMEOUT).await {
        tracing::warn!(
            open = recorder.stats().snapshot().open,
            "recordings still open at exit: they end at their last whole tag, without duration"
        );
    }
    if settings.record_dir.is_some() {
        let totals = recorder.stats().snapshot();
        tracing::info!(
            started = totals.started,
            finished = totals.finished,
            failed = totals.failed,
            bytes = totals.bytes_written,
            "recording totals"
        );
    }
    let _ = repair_task.await;
    Ok(())
}
