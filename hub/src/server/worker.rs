//! `gridwatch ingest`: an ingest worker process. It listens on `listen` for hubs, says it is
//! alive in `ingest_workers` with its address and capacity, and runs the cameras its leases
//! hold ([`crate::workers::lease_loop`]), writing their health as a hub would, fenced by the lease.
//!
//! With `[recording] dirs`, it records the cameras it holds as a hub would (repair at start,
//! retention, every open segment indexed at stop), in directories registered under its own
//! name, and each segment's row fenced by the lease it was recorded under
//! ([`crate::recording::StoreIndex::for_worker`]). Evidence is sealed by hubs, not here.
//!
//! Stopping (SIGTERM, Ctrl-C) gives every lease back first, so that the other workers take
//! the cameras at their next round instead of after the lease runs out; the segments the
//! stopped cameras leave are indexed after that, last, which the fence allows as they ended
//! before any other worker's claim.

use crate::config::Config;
use crate::recording::StoreIndex;
use crate::state::AppState;
use crate::workers::holdings::Holdings;
use crate::workers::lease_loop::{LeaseLoop, WorkerIdentity};
use crate::workers::IngestMode;
use gridwatch_core::clock::{Clock, SystemClock};
use gridwatch_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A running worker: where it listens, who it is, and how to wait for it.
pub struct RunningWorker {
    pub addr: SocketAddr,
    pub identity: WorkerIdentity,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds, starts the lease loop and serves in the background, with `clock` for the leases;
/// the worker stops when `shutdown` resolves.
pub async fn start(
    mut config: Config,
    store: Store,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<RunningWorker> {
    config
        .ingest
        .validate(true)
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    // This process's cameras come from its leases, whatever the hubs' mode says.
    config.ingest.mode = IngestMode::Workers;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let address = match config.ingest.advertise.trim_end_matches('/') {
        "" => format!("http://{addr}"),
        a => a.to_string(),
    };
    let identity = WorkerIdentity {
        id: match config.ingest.worker_id.as_str() {
            "" => address.clone(),
            id => id.to_string(),
        },
        address,
        max_cameras: config.ingest.max_cameras,
    };
    let policy = config.ingest.policy();
    let every = config.ingest.claim_every();
    // The recorder's index and the cameras share the leases: the index fences by their epochs.
    // Recording (when configured) is repaired against the index before any camera is claimed.
    let holdings = Arc::new(Holdings::default());
    let index = StoreIndex::for_worker(store.clone(), identity.id.clone(), holdings.clone());
    let recorder = crate::recording::open_recorder_on(&config.recording, index).await;
    let state = AppState::with_holdings(store, clock, config, recorder, Some(holdings));
    crate::stream::spawn_publisher(&state.stream).await?;
    crate::cameras::start(&state.cameras).await;
    crate::recording::retention::spawn(state.recording.clone());
    let mut leases = LeaseLoop::new(state.cameras.clone(), identity.clone(), policy)
        .telling_recording(state.recording.clone());
    leases.counters().register(&state.metrics);
    // The first round at once: the worker is seen, and claims, before it answers anything.
    if let Err(e) = leases.round().await {
        tracing::warn!(error = %e, "first lease round failed; retrying");
    }
    let stop = CancellationToken::new();
    let leases_task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = leases.run(every) => {}
            }
            leases.release_all().await;
        })
    };
    let app = crate::http::worker::router(state.clone());
    let lifecycle = state.lifecycle.clone();
    let cameras = state.cameras.clone();
    let recorder = state.recording.recorder().cloned();
    let task = tokio::spawn(async move {
        // Leases given back (and their viewers closed) before HTTP waits for its connections.
        let draining = async move {
            shutdown.await;
            stop.cancel();
            let _ = leases_task.await;
        };
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(draining)
            .await;
        cameras.registry.clear();
        lifecycle.stop(crate::lifecycle::STOP_GRACE).await;
        // Every open segment finished, synced and indexed before the process goes (the store
        // is closed after this).
        if let Some(recorder) = recorder {
            let _ = tokio::task::spawn_blocking(move || recorder.shutdown()).await;
        }
        served
    });
    tracing::info!(%addr, worker = %identity.id, max_cameras = identity.max_cameras, "ingest worker listening");
    Ok(RunningWorker {
        addr,
        identity,
        state,
        task,
    })
}

/// `gridwatch ingest`: runs until a signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = crate::server::open_store(&config).await?;
    let running = start(
        config,
        store.clone(),
        Arc::new(SystemClock),
        crate::server::shutdown_signal(),
    )
    .await?;
    running.task.await??;
    super::close_store(&store).await;
    tracing::info!("stopped");
    Ok(())
}
