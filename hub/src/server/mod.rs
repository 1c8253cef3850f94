//! Running the hub: open the store, build the router, serve until SIGTERM or Ctrl-C, then
//! stop in order ([`crate::lifecycle`]): HTTP finishes the requests under way, the MQTT
//! bridge settles its presses, the cameras stop, the components stop and their work under way
//! is waited for (at most [`crate::lifecycle::STOP_GRACE`]), and the database is closed last.
//! An ingest worker (`gridwatch ingest`) is run by [`worker`].

pub mod worker;

use crate::config::Config;
use crate::state::AppState;
use gridwatch_core::clock::SystemClock;
use gridwatch_store::{Store, StoreOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Opens (and migrates) the database the configuration names.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let mut opts = StoreOptions::new(config.database_url());
    opts.max_connections = config.database_max_connections;
    opts.credential_key = Some(crate::secret_key::load(&config.data_dir)?);
    let store = Store::open(&opts).await?;
    tracing::info!(backend = ?store.backend(), "database open and migrated");
    match store.seal_plain_credentials().await? {
        0 => {}
        n => tracing::info!(
            cameras = n,
            "camera passwords stored in clear are now sealed"
        ),
    }
    Ok(store)
}

/// A running hub: where it listens, and how to wait for it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds and starts serving in the background; the hub stops when `shutdown` resolves.
pub async fn start(
    config: Config,
    store: Store,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let listener = listen(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    // Recording (when configured) is repaired against the index before any camera starts.
    let recorder = crate::recording::open_recorder(&config.recording, &store).await;
    let state = AppState::with_recorder(store, Arc::new(SystemClock), config, recorder);
    spawn_housekeeping(state.store.clone(), state.clock.clone(), &state.lifecycle);
    spawn_checkpointer(&state.store, &state.lifecycle).await;
    crate::recording::retention::spawn(state.recording.clone());
    crate::recording::evidence::spawn(state.recording.clone());
    crate::incidents::response_check::spawn(state.incidents.clone());
    crate::incidents::watchdog::spawn(state.incidents.clone());
    // Panic buttons over MQTT, when configured; stopped after the HTTP side has drained.
    let mqtt = crate::mqtt::spawn(
        &state.config.mqtt,
        state.incidents.clone(),
        &state.mqtt,
        &state.metrics,
    )?;
    // Notifications off the console (issue 18): the outbox worker, named like the stream's node.
    let notifier = crate::notify::Notifier::new(
        state.store.clone(),
        state.clock.clone(),
        state.config.notify.clone(),
        state.stream.node.clone(),
        &state.metrics,
    )
    .map_err(|e| anyhow::anyhow!("notify: {e}"))?;
    state.start_stream(Some(notifier.failing())).await?;
    crate::notify::worker::spawn(std::sync::Arc::new(notifier), &state.lifecycle);
    // The cameras of the store, their health monitor and resync; sessions stop at shutdown.
    crate::cameras::start(&state.cameras).await;
    let cameras = state.cameras.clone();
    let recorder = state.recording.recorder().cloned();
    let lifecycle = state.lifecycle.clone();
    let app = crate::http::router(state.clone());
    let limits = connection_limits(&state.config.http);
    tracing::info!(
        max_connections = limits.max_connections,
        per_address = limits.max_per_address,
        "connection limits"
    );
    let refused = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "connections_limited_total",
            "Connections given only the SOS and health paths (reserve_only) or refused (full)",
        ),
        &["reason"],
    )
    .expect("metric");
    state.metrics.register(Box::new(refused.clone()));
    // The server itself, which stops the lifecycle: not one of the tasks it tracks.
    let task = tokio::spawn(async move {
        let served =
            crate::http::connections::serve(listener, app, limits, refused, shutdown).await;
        tracing::info!("HTTP stopped");
        if let Some(bridge) = mqtt {
            bridge.stop().await;
        }
        cameras.registry.clear();
        tracing::info!("cameras stopped; stopping the components");
        lifecycle.stop(crate::lifecycle::STOP_GRACE).await;
        // Every open segment finished, synced and indexed before the process goes (the store
        // is closed after this).
        if let Some(recorder) = recorder {
            let _ = tokio::task::spawn_blocking(move || recorder.shutdown()).await;
        }
        served
    });
    tracing::info!(%addr, "gridwatch listening");
    Ok(Running { addr, state, task })
}

/// How many connections the kernel may hold for the hub before it accepts them. Under a flood
/// of new connections (slow clients cut off and coming back), a short queue drops SYNs and a
/// resident's SOS waits out the client's 1 s retransmission; the kernel caps it at
/// `net.core.somaxconn` (4096 on current kernels).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (a host name is resolved, the first address taken) with [`LISTEN_BACKLOG`].
async fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address to listen on")))
}

/// `[http]`'s connection rules, with the file limit raised and read for the automatic cap.
fn connection_limits(http: &crate::config::HttpConfig) -> crate::http::connections::Limits {
    use crate::http::connections::{automatic_max_connections, raise_file_limit};
    let max_connections = match http.max_connections {
        0 => automatic_max_connections(raise_file_limit()),
        n => n,
    };
    crate::http::connections::Limits {
        header_read_timeout: std::time::Duration::from_secs(
            http.header_read_timeout_seconds.max(1),
        ),
        max_connections,
        max_per_address: http.max_connections_per_address.max(1),
        exempt: http
            .trusted_proxies
            .iter()
            .filter_map(|p| crate::http::client_addr::Network::parse(p))
            .collect(),
    }
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_KEY_HOURS: i64 = 24;

/// Periodic chores: forgetting expired sessions and old idempotency keys.
fn spawn_housekeeping(
    store: Store,
    clock: Arc<dyn gridwatch_core::clock::Clock>,
    lifecycle: &crate::lifecycle::Lifecycle,
) {
    lifecycle.spawn_service(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            match store.purge_expired_sessions(clock.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "expired sessions forgotten"),
                Err(e) => tracing::warn!(error = %e, "could not purge sessions"),
            }
            let before = clock.now() - chrono::Duration::hours(IDEMPOTENCY_KEY_HOURS);
            match store.purge_idempotency_keys(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "old idempotency keys forgotten"),
                Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
            }
            let before = clock.now() - chrono::Duration::days(7);
            match store.purge_notify_outbox(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "expanded notification outbox rows forgotten"),
                Err(e) => tracing::warn!(error = %e, "could not purge the notification outbox"),
            }
        }
    });
}

/// Checkpoints SQLite's log every second on a connection of its own, so that no commit (an SOS
/// least of all) does it (see `gridwatch_store::checkpoint`). Nothing to do on PostgreSQL.
async fn spawn_checkpointer(store: &Store, lifecycle: &crate::lifecycle::Lifecycle) {
    let mut checkpointer = match store.checkpointer().await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            // Commits then checkpoint by themselves, at the backstop's size: slower, not wrong.
            tracing::warn!(error = %e, "cannot open the checkpointer's connection");
            return;
        }
    };
    lifecycle.spawn_service(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match checkpointer.run().await {
                Ok(done) if done.moved_pages < done.log_pages => {
                    tracing::debug!(?done, "a reader holds part of the log back")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
            }
        }
    });
}

/// Resolves on SIGTERM (systemd, docker) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests under way");
}

/// `gridwatch serve`: runs until a signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let running = start(config, store.clone(), shutdown_signal()).await?;
    running.task.await??;
    close_store(&store).await;
    tracing::info!("stopped");
    Ok(())
}

/// How long the store may take to close at shutdown.
const STORE_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Closes the store's connections, waiting at most [`STORE_CLOSE_WAIT`]: closing waits for every
/// connection in use, and one held by a query a hung database never answers (the recorder's
/// last rows, say) would otherwise hold the process until systemd kills it. Whatever that query
/// was is redone at the next start (start-up repair indexes the segments; an unanswered change
/// was never acknowledged).
pub(crate) async fn close_store(store: &Store) {
    if tokio::time::timeout(STORE_CLOSE_WAIT, store.close())
        .await
        .is_err()
    {
        tracing::warn!(
            waited = ?STORE_CLOSE_WAIT,
            "the database did not give back every connection: stopping without them"
        );
    }
}
