//! Cameras in the hub: the ingest's registry ([`gridwatch_ingest::Cameras`]) fed from the
//! store, and camera health turned into events and incidents. The camera endpoints are the
//! HTTP edge's (`crate::http::{cameras, live, snapshot}`); the delay from a frame's arrival
//! from the camera to its WebSocket send is the histogram `gridwatch_live_send_delay_seconds`.
//!
//! - [`sync`]: the store's cameras (with their credentials, which only the ingest sees) become
//!   the registry's configuration — all of them at start and every `resync_seconds`, one at a
//!   time when the API changes one, without a restart.
//! - [`motion_workers`]: a motion worker in the ingest per camera with motion alerts on,
//!   its detections raised as `motion` incidents ([`motion`]).
//! - [`hints`]: with the NATS bus, a camera changed on one node is re-read at once by the
//!   others (hubs, ingest workers) instead of at their next resync.
//! - [`health`]: `camera.online`/`camera.offline` events, and a `camera_offline` incident for
//!   an outage longer than `offline_incident_seconds`.

pub mod config;
pub mod health;
pub mod hints;
pub mod motion;
pub mod motion_workers;
pub mod sync;

pub use config::CamerasConfig;

use crate::incidents::Incidents;
use crate::metrics::Metrics;
use crate::stream::Stream;
use crate::workers::holdings::Holdings;
use chrono::{DateTime, Utc};
use gridwatch_ingest::motion::MotionWorkers;
use gridwatch_ingest::recording::Recorder;
use gridwatch_ingest::{Cameras, Snapshots, StreamState};
use gridwatch_store::Store;
use std::sync::Arc;

/// The hub's cameras, as a handle shared as `Arc<CameraHub>`; one per process. It owns what
/// camera health, sync and motion alerts use: the incident core (camera incidents are raised
/// like any other, and its store and clock are the cameras'), and the stream (camera events go
/// to the consoles).
pub struct CameraHub {
    pub incidents: Incidents,
    pub stream: Arc<Stream>,
    /// Whether a recorder is running: without one, every camera records nothing.
    recording: bool,
    /// Every camera's sessions, status and live fan-out.
    pub registry: Cameras,
    pub snapshots: Snapshots,
    /// The motion workers of the registry's cameras (see [`motion_workers`]).
    pub motion: MotionWorkers,
    /// Camera changes told to and by the other nodes (see [`hints`]); `None` on one box.
    pub hints: Option<hints::Hints>,
    pub config: CamerasConfig,
    /// From the instant a frame arrives from the camera (retina hands it to the ingest) to the
    /// instant a viewer's WebSocket has taken its bytes; one observation per frame and viewer,
    /// live frames only (the GOP a new viewer starts with is old by design).
    pub live_send_delay: prometheus::Histogram,
    /// `gridwatch_cameras{state}`: how many cameras are in each state (of their main stream;
    /// `disabled` for switched-off ones). Counted when scraped, see [`CameraHub::count_states`].
    pub by_state: prometheus::IntGaugeVec,
    /// The cameras this process may run: `None` runs every camera of the store (in-process
    /// ingest); `Some` only those an ingest worker holds a lease on (none on a hub in
    /// `workers` mode). See [`crate::workers::holdings`].
    pub holdings: Option<Arc<Holdings>>,
    /// The workers' gauges (hubs in `workers` mode).
    pub worker_gauges: crate::workers::WorkerGauges,
    /// Serialises reading a camera from the store and applying it, so that two quick edits of
    /// one camera cannot be applied in the wrong order.
    sync_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CameraHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraHub")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl CameraHub {
    /// Whether this process records its cameras.
    pub fn records(&self) -> bool {
        self.recording
    }

    /// An empty registry whose sessions run on the current tokio runtime; [`start`] fills it.
    /// With a recorder, each camera's main stream is recorded as its `record` setting says.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(
        config: &CamerasConfig,
        recorder: Option<Recorder>,
        incidents: Incidents,
        stream: Arc<Stream>,
        holdings: Option<Arc<Holdings>>,
        metrics: &Metrics,
    ) -> CameraHub {
        let recording = recorder.is_some();
        let registry = match recorder {
            Some(r) => Cameras::with_recorder(config.ingest(), r),
            None => Cameras::new(config.ingest()),
        };
        let hints = hints::Hints::new(&stream.config);
        let hub = CameraHub {
            incidents,
            stream,
            recording,
            motion: MotionWorkers::new(registry.clone()),
            hints,
            registry,
            snapshots: Snapshots::new(config.snapshot_timeout()),
            config: config.clone(),
            live_send_delay: prometheus::Histogram::with_opts(
                prometheus::HistogramOpts::new(
                    "live_send_delay_seconds",
                    "Delay from a frame's arrival from the camera to its WebSocket send, \
                     per live viewer",
                )
                .buckets(vec![
                    0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002,
                    0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
            )
            .expect("metric"),
            by_state: prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "cameras",
                    "Cameras by the state of their main stream (disabled ones as disabled)",
                ),
                &["state"],
            )
            .expect("metric"),
            holdings,
            worker_gauges: Default::default(),
            sync_lock: tokio::sync::Mutex::new(()),
        };
        metrics.register(Box::new(hub.live_send_delay.clone()));
        metrics.register(Box::new(hub.by_state.clone()));
        // gridwatch_camera_frames_dropped_total{reason}, gridwatch_camera_gop_overflows_total.
        for collector in hub.registry.metrics().collectors() {
            metrics.register(collector);
        }
        // gridwatch_motion_frames_total{outcome}.
        for collector in hub.motion.metrics().collectors() {
            metrics.register(collector);
        }
        // gridwatch_ingest_workers{state}, where cameras are leased to ingest workers.
        if hub.holdings.is_some() {
            hub.worker_gauges.register(metrics);
        }
        hub
    }

    pub fn store(&self) -> &Store {
        &self.incidents.store
    }

    /// The hub clock's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.incidents.now()
    }

    pub(crate) fn lifecycle(&self) -> &crate::lifecycle::Lifecycle {
        &self.incidents.lifecycle
    }

    /// Whether this process may write about `camera` now (see
    /// [`crate::workers::holdings::may_write`]); a database error counts as no.
    pub async fn may_write(&self, camera: &str) -> bool {
        let (store, now) = (self.store(), self.now());
        match crate::workers::holdings::may_write(self.holdings.as_deref(), store, camera, now)
            .await
        {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(%camera, error = %e, "lease not checked; nothing written");
                false
            }
        }
    }

    /// Whether this process runs `camera` (in-process: every camera).
    pub fn runs(&self, camera: &str) -> bool {
        self.holdings.as_ref().is_none_or(|h| h.holds(camera))
    }

    /// Sets `gridwatch_cameras{state}` from the registry; every state is set, to 0 when no
    /// camera is in it, so that a dashboard or an alert sees 0 rather than nothing.
    pub fn count_states(&self) {
        let mut counts: Vec<(&str, i64)> =
            StreamState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        counts.push(("disabled", 0));
        for camera in self.registry.statuses() {
            let state = match camera.enabled {
                true => camera.state().as_str(),
                false => "disabled",
            };
            if let Some((_, n)) = counts.iter_mut().find(|(s, _)| *s == state) {
                *n += 1;
            }
        }
        for (state, n) in counts {
            self.by_state.with_label_values(&[state]).set(n);
        }
    }
}

/// Starts the cameras of the store, the health monitor and the periodic resync. Health events
/// are followed from before the first camera starts, so none is missed.
pub async fn start(hub: &Arc<CameraHub>) {
    health::spawn(hub.clone());
    motion_workers::spawn(hub.clone());
    hints::spawn(hub.clone());
    match sync::reload_all(hub).await {
        Ok(summary) => tracing::info!(cameras = summary.added.len(), "cameras started"),
        Err(e) => tracing::error!(error = %e, "cameras not started; retrying at the next resync"),
    }
    sync::spawn_resync(hub.clone());
}
