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
use relay_node::{run_node, shutdown_signal, Tasks};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

async fn bind(key: &str, addr: SocketAddr) -> Result<TcpListener, CloudError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| CloudError::io(format!("cloud.{key}: binding {addr}"), e))
}

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
    // Two sets of tasks, stopped in turn: first the node's listeners, connections and jobs
    // (publishes end and tell the edges), then the repair server that carries those ends.
    let tasks = Tasks::new();
    let repair_tasks = Tasks::new();
    repair_tasks.spawn(serve_repair(
        endpoint,
        hub.clone(),
        Arc::new(settings.edge_tokens.clone()),
        settings.nack_budget_pps,
        repair_tasks.clone(),
    ));

    let facts = Arc::new(MediaFacts {
        registry: registry.clone(),
        hub: hub.clone(),
    });
    let shared = match &settings.redis {
        Some(redis) => Some(
            relay_rooms_api::RedisState::open(redis, settings.rooms.presence)
                .map_err(|reason| CloudError::Rooms(format!("cloud.redis_url: {reason}")))?,
        ),
        None => None,
    };
    let rooms = relay_rooms_api::Rooms::new(
        store,
        settings.rooms.clone(),
        settings.publish_auth,
        settings.push_keys.clone(),
        facts,
        relay_rooms_api::AppLinks {
            webhooks: webhooks.as_ref().map(relay_rooms::WebhookWorker::handle),
            payments,
            shared,
        },
    );
    // One watch of the cancellation for the parts that take a `watch` (HTTP servers, jobs).
    let shutdown = tasks.shutdown_watch();
    if let Some(worker) = webhooks {
        tasks.spawn(worker.run(shutdown.clone()));
    }
    tasks.spawn(relay_rooms_api::watch_rooms(
        rooms.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(relay_rooms_api::reconcile_gifts(
        rooms.clone(),
        shutdown.clone(),
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
        tasks: tasks.clone(),
    });
    tasks.spawn(serve_rtmp(rtmp, context));
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
        cors: settings.cors.clone(),
    };
    let api_router = cloud::api::router(state.clone(), &access, rooms.router());
    tasks.spawn(relay_control::serve_until(
        "API",
        api,
        api_router,
        api_bounds,
        settings.tls.clone(),
        None,
        shutdown.clone(),
    ));
    if let Some((listener, addr)) = metrics_listener.zip(settings.metrics_addr) {
        let closed = settings.api_read_auth.closed_on(addr);
        let gate = Gate::new(settings.api_credentials.clone(), Envelope::Api);
        let (metrics_routes, _document) = cloud::metrics::router().split_for_parts();
        let router = gate.guard_if(closed, metrics_routes).with_state(state);
        tasks.spawn(relay_control::serve_until(
            "metrics",
            listener,
            router,
            metrics_bounds,
            settings.tls.clone(),
            None,
            shutdown.clone(),
        ));
    }
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
    // Publishes end (their edges are told), listeners and jobs stop; then the repair server
    // closes its connections; then the recordings of those publishes are written out. All of
    // it within shutdown_grace_ms.
    let deadline = Instant::now() + settings.shutdown_grace;
    let left = || deadline.saturating_duration_since(Instant::now());
    if let Err(running) = tasks.shut_down(left()).await {
        tracing::warn!(
            running,
            grace_ms = settings.shutdown_grace.as_millis() as u64,
            "tasks still running when shutdown_grace_ms ran out"
        );
    }
    if let Err(running) = repair_tasks.shut_down(left()).await {
        tracing::warn!(
            running,
            "repair connections still open when shutdown_grace_ms ran out"
        );
    }
    if !recorder.wait_closed(left()).await {
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
    Ok(())
}
