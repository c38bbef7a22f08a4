//! Every task a node spawns, tracked, and the one signal that stops them.
//!
//! A node's listeners, connections, stream tasks, background jobs and open responses are tracked
//! by one [`TaskTracker`] and watch one [`CancellationToken`]. Shutdown cancels the token, then
//! waits for exactly what is still running, at most the configured grace
//! ([`Tasks::shut_down`]), so nothing is left to be killed mid-write and nothing waits on a
//! fixed sleep.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

/// A node's tracked tasks and their shutdown signal. Clones share both.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Tasks {
    /// No task yet, shutdown not asked for.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task`, tracked. It watches [`Tasks::shutdown`] itself, to finish what it holds.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Spawns `task`, tracked, and drops it at shutdown (for tasks with nothing to finish).
    pub fn spawn_until_shutdown<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            shutdown.run_until_cancelled(task).await;
        });
    }

    /// Counts as a running task until dropped: an open response holds one.
    pub fn token(&self) -> TaskTrackerToken {
        self.tracker.token()
    }

    /// Cancelled when the node shuts down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The shutdown signal as a `watch` (true once shutting down), for relay_control's HTTP
    /// servers, which take one. Fed by a tracked task.
    pub fn shutdown_watch(&self) -> watch::Receiver<bool> {
        let (sender, receiver) = watch::channel(false);
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            shutdown.cancelled().await;
            let _ = sender.send(true);
        });
        receiver
    }

    /// Cancels every task, then waits until none is running, at most `grace`. `Err` holds how
    /// many were still running when the grace ran out.
    pub async fn shut_down(&self, grace: Duration) -> Result<(), usize> {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .map_err(|_| self.tracker.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_waits_for_what_runs_and_counts_what_stays() {
        let tasks = Tasks::new();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move { shutdown.cancelled().await });
        tasks.spawn_until_shutdown(std::future::pending());
        assert_eq!(tasks.shut_down(Duration::from_secs(5)).await, Ok(()));

        let tasks = Tasks::new();
        let _held = tasks.token();
        tasks.spawn(std::future::pending::<()>());
        assert_eq!(tasks.shut_down(Duration::from_millis(10)).await, Err(2));
    }
}
