//! One lifecycle for the hub's background work.
//!
//! Every task the hub starts outside a request goes through a [`Lifecycle`]: a cancellation
//! token that asks the long-running components (the stream's sequencer, the response check,
//! presence upkeep, the notification worker, …) to stop, and a tracker that knows which tasks
//! still run. Work under way that must finish — a raise being committed and its effects — is
//! [`spawned`](Lifecycle::spawn) and waited for; components are
//! [`spawned as services`](Lifecycle::spawn_service) and end at the token.
//!
//! Shutdown (`server`) goes in this order: HTTP stops taking requests and finishes those
//! under way, the MQTT bridge settles its presses, the cameras stop, then the components are
//! stopped here and their work under way waited for (at most [`STOP_GRACE`]), and the store is
//! closed last, once nothing can use it any more.

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long stopping waits for the components' tasks before the store is closed anyway.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The hub's background tasks and the signal that stops them. Cheap to clone: clones share both.
#[derive(Clone, Default)]
pub struct Lifecycle {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Lifecycle {
    pub fn new() -> Lifecycle {
        Lifecycle::default()
    }

    /// Runs work under way to its end: [`Self::stop`] waits for it (it is not cancelled).
    pub fn spawn<F>(&self, work: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(work)
    }

    /// Runs a component until the hub stops: at [`Self::stop`] its future is dropped at its
    /// next await point. For loops that keep nothing half-done across an await (what they
    /// write, they write in one transaction).
    pub fn spawn_service<F>(&self, component: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = component => {}
            }
        })
    }

    /// The stop signal, for a task that ends itself cleanly (finishing what it holds).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Whether the hub is stopping.
    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// How many tracked tasks still run.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Stops the components and waits, at most `grace`, for every task to end; `false` if
    /// some were still running then (logged). Tasks spawned after this still run, tracked.
    pub async fn stop(&self, grace: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        let ended = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        if !ended {
            tracing::warn!(
                running = self.tracker.len(),
                ?grace,
                "background tasks still running at shutdown; closing the store anyway"
            );
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Sets its flag when dropped: a component's future was ended.
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stop_ends_components_and_waits_for_work_under_way() {
        let l = Lifecycle::new();
        let component_ended = Arc::new(AtomicBool::new(false));
        let guard = Dropped(component_ended.clone());
        l.spawn_service(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        let work_done = Arc::new(AtomicBool::new(false));
        let done = work_done.clone();
        l.spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            done.store(true, Ordering::SeqCst);
        });
        assert_eq!(l.running(), 2);
        assert!(
            l.stop(STOP_GRACE).await,
            "everything ended within the grace"
        );
        assert!(
            component_ended.load(Ordering::SeqCst),
            "the component was not stopped"
        );
        assert!(
            work_done.load(Ordering::SeqCst),
            "work under way was cut short"
        );
        assert_eq!(l.running(), 0);
        assert!(l.is_stopping());
    }

    #[tokio::test(start_paused = true)]
    async fn stop_waits_no_longer_than_the_grace() {
        let l = Lifecycle::new();
        l.spawn(std::future::pending::<()>());
        let started = tokio::time::Instant::now();
        assert!(!l.stop(Duration::from_secs(10)).await);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert_eq!(l.running(), 1);
    }
}
