//! Running an HTTP listener until the node shuts down.

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Serves `router` on `listener` in a task until `shutdown` changes; `what` names it in logs.
pub fn serve_until(
    what: &'static str,
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown.changed().await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "{what} server failed");
        }
    })
}
