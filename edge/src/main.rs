//! liverelay edge node binary.

use edge::api::router;
use edge::config::{EdgeConfig, EdgeSettings, PlaySettings};
use edge::error::EdgeError;
use edge::flv_socket::FlvPlayers;
use edge::play_gate::{PlayGate, PlayHook};
use edge::repair_client::run_repair_client;
use edge::router::{MediaCounters, Router};
use edge::state::HttpState;
use edge::stream_task::StreamContext;
use edge::streams::Streams;
use relay_control::outbound::SignedPoster;
use relay_control::takeover::Takeover;
use relay_control::{Envelope, Gate};
use relay_node::Tasks;
use relay_node::{run_node, shutdown_signal};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// NACKs from all stream tasks waiting for the repair connection; full means drop (the tasks
/// ask again after about one RTT).
const NACK_QUEUE: usize = 4096;

/// The checks players pass, from `play_auth` and `on_play`.
fn play_gate(play: &PlaySettings) -> Result<PlayGate, EdgeError> {
    let play_key = play.play_key.clone();
    let hook = match &play.on_play {
        Some((url, secret)) => Some(PlayHook::new(
            SignedPoster::new("edge.on_play", "on_play", url, secret, &[])
                .map_err(EdgeError::Play)?,
            play.on_play_timeout,
            play.on_play_cache,
        )),
        None => None,
    };
    Ok(PlayGate { play_key, hook })
}

fn main() -> ExitCode {
    run_node::<EdgeConfig, _, _, _>(run)
}

async fn run(settings: EdgeSettings) -> Result<(), EdgeError> {
    let settings = Arc::new(settings);
    let socket = edge::udp::bind(&settings)?;
    let started = std::time::Instant::now();
    let listener = TcpListener::bind(settings.flv_addr)
        .await
        .map_err(|e| EdgeError::io(format!("edge.flv_addr: binding {}", settings.flv_addr), e))?;
    let metrics_listener = match settings.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| EdgeError::io(format!("edge.metrics_addr: binding {addr}"), e))?,
        ),
        None => None,
    };
    let hls_listener = match settings.hls.as_ref().and_then(|hls| hls.addr) {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| EdgeError::io(format!("edge.hls_addr: binding {addr}"), e))?,
        ),
        None => None,
    };
    let hls = edge::hls::Hls::new(settings.hls.clone());
    let streams = Arc::new(Streams::default());
    let tasks = Tasks::new();
    let (nack_tx, nack_rx) = tokio::sync::mpsc::channel(NACK_QUEUE);
    let (rtt_tx, rtt_rx) = watch::channel(None);
    let stream_router = Router::new(
        StreamContext {
            streams: streams.clone(),
            settings: settings.clone(),
            nacks: nack_tx,
            rtt: rtt_rx.clone(),
            tasks: tasks.clone(),
            hls: hls.clone(),
        },
        Arc::new(MediaCounters::default()),
    );
    tracing::info!(cloud = %settings.repair.cloud_addr, "repair and media keys from the cloud");
    tasks.spawn(run_repair_client(
        settings.repair.clone(),
        stream_router.clone(),
        nack_rx,
        rtt_tx,
        tasks.clone(),
    ));
    tasks.spawn(edge::udp::receive(
        socket,
        stream_router.clone(),
        tasks.shutdown().clone(),
    ));
    let gate = Arc::new(play_gate(&settings.play)?);
    let flv_bounds = relay_control::HttpBounds::new("flv", settings.http_limits);
    let metrics_bounds = relay_control::HttpBounds::new("metrics", settings.http_limits);
    let hls_bounds = relay_control::HttpBounds::new("hls", settings.http_limits);
    let state = HttpState {
        streams,
        player_queue_bytes: settings.player_queue_bytes,
        started,
        repair_rtt: rtt_rx,
        router: stream_router,
        gate,
        http: vec![
            flv_bounds.clone(),
            metrics_bounds.clone(),
            hls_bounds.clone(),
        ],
        tasks: tasks.clone(),
        hls,
        player_dir: settings.player_dir.clone(),
    };
    let missing = edge::page::missing_assets(&settings.player_dir);
    if !missing.is_empty() {
        tracing::warn!(
            ?missing,
            "the player page's libraries are missing (run `npm ci` in web/ or set player_dir); FLV and HLS URLs work without them"
        );
    }
    // A gate wherever api_read_auth closes reads; validation made sure the token is there.
    let reads_gate = |addr| {
        settings
            .api_credentials
            .clone()
            .filter(|_| settings.api_read_auth.closed_on(addr))
            .map(|credentials| Gate::new(credentials, Envelope::Api))
    };
    // The servers return once every connection closed: tracked, so shutdown waits for them.
    let serve = |what, listener, router, bounds, takeover| {
        let server = relay_control::serve_until(
            what,
            listener,
            router,
            bounds,
            settings.tls.clone(),
            takeover,
            tasks.shutdown_watch(),
        );
        tasks.spawn(server)
    };
    let metrics_apart = match metrics_listener.zip(settings.metrics_addr) {
        Some((listener, addr)) => {
            let mut router = edge::api::metrics_router();
            if let Some(gate) = reads_gate(addr) {
                router = gate.guard(router);
            }
            serve(
                "metrics",
                listener,
                router.with_state(state.clone()),
                metrics_bounds,
                None,
            );
            true
        }
        None => false,
    };
    if let Some(listener) = hls_listener {
        let router = edge::hls_http::router()
            .with_state(state.clone())
            .layer(axum::middleware::from_fn(relay_control::request_id_layer));
        serve("HLS", listener, router, hls_bounds, None);
    }
    // Plain `GET /APP/NAME.flv` players are answered on the socket (edge::flv_socket); the
    // router serves everything else, players that upgrade to WebSocket-FLV included.
    let players: Arc<dyn Takeover> = Arc::new(FlvPlayers::new(state.clone()));
    let http_router = router(state, metrics_apart, reads_gate(settings.flv_addr));
    serve("HTTP", listener, http_router, flv_bounds, Some(players));
    tracing::info!(udp = %settings.udp_addr, flv = %settings.flv_addr, "edge started");
    shutdown_signal().await;
    tracing::info!("shutting down");
    // Stream tasks end their players' responses, the servers close their connections, the
    // repair connection closes; all of it within shutdown_grace_ms.
    if let Err(running) = tasks.shut_down(settings.shutdown_grace).await {
        tracing::warn!(
            running,
            grace_ms = settings.shutdown_grace.as_millis() as u64,
            "tasks still running when the shutdown grace ran out; exiting anyway"
        );
    }
    Ok(())
}
