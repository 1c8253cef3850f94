//! What every request handler shares: axum's state, and nothing else's. The components are
//! handles that own what they use and were given each other when this was built
//! ([`AppState::with_recorder`]); nothing below the HTTP edge and the server's assembly
//! imports this.

use crate::config::Config;
use crate::incidents::Incidents;
use crate::metrics::Metrics;
use crate::throttle::LoginThrottle;
use chrono::{DateTime, Utc};
use gridwatch_core::clock::Clock;
use gridwatch_store::Store;
use std::sync::Arc;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub throttle: Arc<LoginThrottle>,
    /// The incident core: response policy, SOS limit, timer wake-up, incident metrics.
    pub incidents: Incidents,
    /// The real-time stream: ordered delivery of committed events to the consoles.
    pub stream: Arc<crate::stream::Stream>,
    /// The cameras: the ingest's registry, snapshots, camera settings.
    pub cameras: Arc<crate::cameras::CameraHub>,
    /// Whether the MQTT bridge is connected (for `/readyz`).
    pub mqtt: crate::mqtt::MqttLink,
    /// Recording and evidence (issue 13): the recorder, when `[recording]` names directories.
    pub recording: Arc<crate::recording::RecordingHub>,
    /// WebSockets open per login (see `http::sockets`).
    pub sockets: Arc<crate::http::sockets::Sockets>,
    /// Every background task, and the signal that stops them at shutdown.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// WebRTC viewers (WHEP) of the cameras this process runs.
    pub webrtc: crate::webrtc::WebRtc,
}

impl AppState {
    /// A state that records nothing.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> AppState {
        AppState::with_recorder(store, clock, config, None)
    }

    /// A state whose cameras record through `recorder` (see
    /// [`crate::recording::open_recorder`]).
    pub fn with_recorder(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        recorder: Option<gridwatch_ingest::recording::Recorder>,
    ) -> AppState {
        // With ingest workers, this process runs only the cameras it holds leases on (a hub:
        // none; a worker: its own).
        let holdings = config.ingest.workers().then(Arc::default);
        AppState::with_holdings(store, clock, config, recorder, holdings)
    }

    /// [`AppState::with_recorder`] with the cameras run by the leases in `holdings` (`None`:
    /// every camera, in-process). An ingest worker gives the same holdings to its recorder's
    /// index ([`crate::recording::StoreIndex::for_worker`]), which fences its segments by them.
    pub fn with_holdings(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        recorder: Option<gridwatch_ingest::recording::Recorder>,
        holdings: Option<Arc<crate::workers::holdings::Holdings>>,
    ) -> AppState {
        let throttle = LoginThrottle::new(config.auth.throttle());
        let metrics = Metrics::new();
        let lifecycle = crate::lifecycle::Lifecycle::default();
        // `Config::load` has checked the windows; a config built in code falls back to the
        // centre's default promise rather than running without one.
        let policy = config.response.policy().unwrap_or_else(|e| {
            tracing::error!(error = %e, "using the default response windows");
            Default::default()
        });
        // Each component is a handle given what it uses, in dependency order: the incident
        // core first, the stream on it, the cameras on both.
        let incidents = Incidents::new(
            store.clone(),
            clock.clone(),
            policy,
            &metrics,
            lifecycle.clone(),
        );
        let receipts = crate::stream::Receipts {
            wait_seconds: config.response.receipt_seconds,
            escalate_undelivered: config.response.escalate_undelivered,
        };
        let stream = Arc::new(crate::stream::Stream::new(
            config.stream.clone(),
            receipts,
            incidents.clone(),
            &metrics,
        ));
        let recording = Arc::new(crate::recording::RecordingHub::new(
            &config,
            recorder.clone(),
            store.clone(),
            clock.clone(),
            lifecycle.clone(),
            &metrics,
        ));
        let cameras = Arc::new(crate::cameras::CameraHub::new(
            &config.cameras,
            recorder,
            incidents.clone(),
            stream.clone(),
            holdings,
            &metrics,
        ));
        let webrtc = crate::webrtc::WebRtc::new(config.webrtc.clone(), lifecycle.token(), &metrics);
        AppState {
            store,
            clock,
            webrtc,
            config: Arc::new(config),
            metrics: Arc::new(metrics),
            throttle: Arc::new(throttle),
            sockets: Arc::default(),
            incidents,
            stream,
            cameras,
            mqtt: Default::default(),
            recording,
            lifecycle,
        }
    }

    /// Starts the stream's tasks with this hub's health sources (the recording's directories;
    /// `notify_failing` when the notification worker runs).
    pub async fn start_stream(
        &self,
        notify_failing: Option<crate::notify::FailingChannels>,
    ) -> anyhow::Result<()> {
        let workers = (self.config.ingest.mode == crate::workers::IngestMode::Workers)
            .then(|| self.config.ingest.policy());
        let health = crate::stream::HealthSources {
            notify_failing,
            recording: self.recording.clone(),
            workers,
        };
        crate::stream::spawn(&self.stream, health).await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
