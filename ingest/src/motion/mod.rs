//! Motion detection in the ingest (issue 19): a worker per camera with motion alerts on,
//! decoding the camera's sub stream (else its main stream) at a few grey pictures per second
//! and running the core's [`Detector`](gridwatch_core::motion::detector::Detector) on them.
//! Detections are [`MotionWorkers::events`]; the hub decides whether they raise an incident.
//!
//! Decoding is what costs, so only what is needed is decoded:
//! - nothing for a camera without motion alerts (no worker), nor outside its schedule (the
//!   hub disarms the worker: [`MotionWorkers::set_armed`]; frames are counted, not decoded);
//! - the sub stream when the camera has one (a 640×360 stream is a ninth of 1080p);
//! - of its frames, the reference frames all (a P-frame needs the one before it), but frames
//!   no other refers to only at the detector's rate (see `disposable.rs`);
//! - after decoding, the rate is cut to [`FPS`] before scaling and detection.
//!
//! `gridwatch_motion_frames_total{outcome}` counts each frame's fate; the share decoded is
//! `decoded` over all.

mod decoder;
mod disposable;
mod metrics;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use gridwatch_core::motion::detector::DetectorTuning;
use gridwatch_core::motion::MotionSettings;
use tokio::runtime::Handle;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::cameras::Cameras;
pub use decoder::{DecoderError, FPS, HEIGHT, WIDTH};
pub use metrics::{MotionMetrics, Outcome};
use worker::{WorkerContext, WorkerShared};

/// Detections buffered per subscriber before the slowest one lags.
const EVENT_CAPACITY: usize = 256;

/// One detection: a zone of a camera started moving and kept moving long enough.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionEvent {
    pub camera_id: String,
    pub zone: String,
    /// Fraction of the zone that changed in the picture that fired.
    pub area: f64,
    /// The picture's time in the stream's timeline, in milliseconds.
    pub stream_ms: i64,
    /// When the detector fired.
    pub at: SystemTime,
}

struct Worker {
    settings: MotionSettings,
    shared: Arc<WorkerShared>,
    task: JoinHandle<()>,
}

impl Drop for Worker {
    /// Aborting the task drops its viewer and decoder (which stops the pipeline).
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Inner {
    cameras: Cameras,
    runtime: Handle,
    tuning: DetectorTuning,
    workers: Mutex<HashMap<String, Worker>>,
    events: broadcast::Sender<MotionEvent>,
    metrics: MotionMetrics,
}

/// The motion workers of a [`Cameras`] registry; cheap to clone. Dropping the last clone
/// stops every worker.
#[derive(Clone)]
pub struct MotionWorkers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MotionWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotionWorkers")
            .field("cameras", &self.ids())
            .finish_non_exhaustive()
    }
}

impl MotionWorkers {
    /// No workers yet; they will run on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(cameras: Cameras) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                cameras,
                runtime: Handle::current(),
                tuning: DetectorTuning::default(),
                workers: Mutex::new(HashMap::new()),
                events,
                metrics: MotionMetrics::default(),
            }),
        }
    }

    fn workers(&self) -> MutexGuard<'_, HashMap<String, Worker>> {
        self.inner
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every detection of every camera from now on.
    pub fn events(&self) -> broadcast::Receiver<MotionEvent> {
        self.inner.events.subscribe()
    }

    pub fn metrics(&self) -> &MotionMetrics {
        &self.inner.metrics
    }

    /// The cameras with a worker, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.workers().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Runs a worker for camera `id` with `settings` (restarted when they changed, left
    /// alone otherwise), armed or not.
    pub fn set(&self, id: &str, settings: &MotionSettings, armed: bool) {
        let mut workers = self.workers();
        if let Some(w) = workers.get(id) {
            if w.settings == *settings && !w.task.is_finished() {
                w.shared.armed.store(armed, Ordering::Relaxed);
                return;
            }
        }
        let shared = Arc::new(WorkerShared {
            armed: AtomicBool::new(armed),
        });
        let task = self.inner.runtime.spawn(worker::run(WorkerContext {
            camera: id.into(),
            cameras: self.inner.cameras.clone(),
            settings: settings.clone(),
            tuning: self.inner.tuning,
            shared: shared.clone(),
            events: self.inner.events.clone(),
            metrics: self.inner.metrics.clone(),
        }));
        let old = workers.insert(
            id.to_string(),
            Worker {
                settings: settings.clone(),
                shared,
                task,
            },
        );
        drop(workers);
        drop(old);
    }

    /// Arms or disarms camera `id`'s worker; `false` when it has none.
    pub fn set_armed(&self, id: &str, armed: bool) -> bool {
        match self.workers().get(id) {
            Some(w) => {
                w.shared.armed.store(armed, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Stops camera `id`'s worker; `false` when it had none.
    pub fn remove(&self, id: &str) -> bool {
        // Dropped outside the lock: stopping a pipeline takes a moment.
        let removed = self.workers().remove(id);
        removed.is_some()
    }

    /// Stops the workers of the cameras not in `keep`.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<Worker> = {
            let mut workers = self.workers();
            let ids: Vec<String> = workers.keys().filter(|id| !keep(id)).cloned().collect();
            ids.iter().filter_map(|id| workers.remove(id)).collect()
        };
        drop(gone);
    }
}
