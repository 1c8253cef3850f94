//! The registry of cameras: the hub hands it the configured cameras, it
//! runs a supervisor per stream, and it answers status and live-view
//! requests.
//!
//! [`Cameras::apply`] takes the whole desired configuration and changes only
//! what differs, stream by stream, so an edit in the API reconnects the one
//! stream it concerns and no other, and viewers stay subscribed across a
//! reconnection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use retina::client::SessionGroup;
use tokio::runtime::Handle;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::{CameraConfig, IngestConfig, Quality};
use crate::live::Viewer;
use crate::metrics::IngestMetrics;
use crate::recording::{RecordMode, Recorder, RecordingTap};
use crate::session::SessionConfig;
use crate::status::{CameraStatus, StatusEvent, StatusReporter, StreamState, StreamStatus};
use crate::supervisor::{supervise, StreamShared};
use crate::video_threads::VideoThreads;

/// Status events buffered per subscriber before the slowest one lags.
const EVENT_CAPACITY: usize = 1024;

/// Reason given for a disabled camera.
pub const DISABLED_REASON: &str = "camera disabled";

/// Why a live view cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    #[error("no camera {0:?}")]
    UnknownCamera(String),
    #[error("camera {0:?} is disabled")]
    Disabled(String),
}

/// What [`Cameras::apply`] did, by camera ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplySummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Aborts the supervisor task when dropped, which drops its session.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One stream of a camera.
struct StreamSlot {
    shared: Arc<StreamShared>,
    /// What the running supervisor connects to; `None` when disabled.
    running: Option<(SessionConfig, Task)>,
    /// Reconciled at least once (a new slot has no supervisor, but is not
    /// yet "disabled" either).
    reconciled: bool,
}

struct Entry {
    config: CameraConfig,
    /// Where its streams' supervisors and viewers run.
    runtime: Handle,
    main: StreamSlot,
    sub: Option<StreamSlot>,
}

struct Inner {
    settings: Arc<IngestConfig>,
    /// The video threads cameras are spread over, or `None` to run them on `runtime`.
    threads: Option<VideoThreads>,
    runtime: Handle,
    group: Arc<SessionGroup>,
    events: broadcast::Sender<StatusEvent>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Where streams are recorded, if anywhere.
    recorder: Option<Recorder>,
    metrics: IngestMetrics,
}

/// All cameras; cheap to clone. Dropping the last clone stops every
/// supervisor.
#[derive(Clone)]
pub struct Cameras {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cameras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cameras")
            .field("cameras", &self.ids())
            .finish_non_exhaustive()
    }
}

impl Cameras {
    /// An empty registry whose cameras run on `settings.video_threads`
    /// threads of their own, or on the current tokio runtime when that is 0
    /// (or the threads cannot be started, which is logged).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(settings: IngestConfig) -> Self {
        let threads = start_video_threads(&settings);
        Self::build(settings, threads, Handle::current(), None)
    }

    /// [`Cameras::new`], recording each camera's main stream as its
    /// [`CameraConfig::record`] says.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn with_recorder(settings: IngestConfig, recorder: Recorder) -> Self {
        let threads = start_video_threads(&settings);
        Self::build(settings, threads, Handle::current(), Some(recorder))
    }

    /// An empty registry whose supervisors run on `runtime`.
    pub fn with_runtime(settings: IngestConfig, runtime: Handle) -> Self {
        Self::build(settings, None, runtime, None)
    }

    fn build(
        settings: IngestConfig,
        threads: Option<VideoThreads>,
        runtime: Handle,
        recorder: Option<Recorder>,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                settings: Arc::new(settings),
                threads,
                runtime,
                group: Arc::new(SessionGroup::default().named("gridwatch".into())),
                events,
                entries: Mutex::new(HashMap::new()),
                recorder,
                metrics: IngestMetrics::default(),
            }),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the running cameras match `configs`: new ones start, removed
    /// ones stop (their viewers' [`Viewer::recv`] ends), changed streams
    /// reconnect, and unchanged ones are not touched. Later duplicates of an
    /// ID win.
    pub fn apply(&self, configs: impl IntoIterator<Item = CameraConfig>) -> ApplySummary {
        let desired: HashMap<String, CameraConfig> =
            configs.into_iter().map(|c| (c.id.clone(), c)).collect();
        let mut summary = ApplySummary::default();
        let mut entries = self.entries();
        let gone: Vec<String> = entries
            .keys()
            .filter(|id| !desired.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            entries.remove(&id);
            summary.removed.push(id);
        }
        for (id, config) in desired {
            match entries.get_mut(&id) {
                None => {
                    entries.insert(id.clone(), self.start(config));
                    summary.added.push(id);
                }
                Some(entry) if entry.config == config => summary.unchanged.push(id),
                Some(entry) => {
                    self.update(entry, config);
                    summary.changed.push(id);
                }
            }
        }
        for list in [
            &mut summary.added,
            &mut summary.changed,
            &mut summary.removed,
            &mut summary.unchanged,
        ] {
            list.sort();
        }
        summary
    }

    /// Adds or changes one camera, leaving the others alone.
    pub fn upsert(&self, config: CameraConfig) {
        let mut entries = self.entries();
        match entries.get_mut(&config.id) {
            None => {
                let id = config.id.clone();
                entries.insert(id, self.start(config));
            }
            Some(entry) if entry.config == config => {}
            Some(entry) => self.update(entry, config),
        }
    }

    /// Removes one camera; `false` if there was none.
    pub fn remove(&self, id: &str) -> bool {
        // Dropped outside the lock: aborting tasks takes a moment.
        let removed = self.entries().remove(id);
        removed.is_some()
    }

    /// Stops every camera.
    pub fn clear(&self) {
        let all = std::mem::take(&mut *self.entries());
        drop(all);
    }

    /// The cameras' IDs, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.entries().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The current configuration of a camera.
    pub fn config(&self, id: &str) -> Option<CameraConfig> {
        self.entries().get(id).map(|e| e.config.clone())
    }

    /// A camera's status, with the latest frame times.
    pub fn status(&self, id: &str) -> Option<CameraStatus> {
        self.entries().get(id).map(|e| camera_status(id, e))
    }

    /// All cameras' statuses, sorted by ID.
    pub fn statuses(&self) -> Vec<CameraStatus> {
        let mut all: Vec<CameraStatus> = self
            .entries()
            .iter()
            .map(|(id, e)| camera_status(id, e))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Follows one stream's status (`Sub` without a sub stream: `None`).
    /// As with any `watch` receiver, do not keep a borrowed value across an
    /// `.await`: it blocks the supervisor's next status update.
    pub fn watch(&self, id: &str, quality: Quality) -> Option<watch::Receiver<StreamStatus>> {
        let entries = self.entries();
        let entry = entries.get(id)?;
        let slot = match quality {
            Quality::Main => &entry.main,
            Quality::Sub => entry.sub.as_ref()?,
        };
        Some(slot.shared.status.subscribe())
    }

    /// The counters of every stream (frames dropped for damage, GOP overflows), for
    /// `/metrics`: register [`IngestMetrics::collectors`].
    pub fn metrics(&self) -> &IngestMetrics {
        &self.inner.metrics
    }

    /// Every state change of every stream, for the hub's event stream (a
    /// receiver that falls more than 1024 events behind gets `Lagged`).
    pub fn events(&self) -> broadcast::Receiver<StatusEvent> {
        self.inner.events.subscribe()
    }

    /// A live viewer of a camera: init segment and GOP at once, then every
    /// frame (see [`crate::live`]). `Sub` falls back to the main stream when
    /// the camera has none; [`Viewer::quality`] says which one it got.
    pub fn subscribe(&self, id: &str, quality: Quality) -> Result<Viewer, LiveError> {
        let entries = self.entries();
        let entry = entries
            .get(id)
            .ok_or_else(|| LiveError::UnknownCamera(id.to_string()))?;
        if !entry.config.enabled {
            return Err(LiveError::Disabled(id.to_string()));
        }
        let slot = match quality {
            Quality::Sub => entry.sub.as_ref().unwrap_or(&entry.main),
            Quality::Main => &entry.main,
        };
        let mut viewer = slot.shared.live.subscribe();
        viewer.set_home(entry.runtime.clone());
        Ok(viewer)
    }

    /// Number of viewers of a camera's streams.
    pub fn viewer_count(&self, id: &str) -> usize {
        self.entries().get(id).map_or(0, |e| {
            e.main.shared.live.viewer_count()
                + e.sub.as_ref().map_or(0, |s| s.shared.live.viewer_count())
        })
    }

    fn new_slot(&self, id: &Arc<str>, quality: Quality, record: RecordMode) -> StreamSlot {
        let status = StatusReporter::new(id.clone(), quality, self.inner.events.clone());
        let tap = match &self.inner.recorder {
            Some(recorder) => recorder.tap(id, quality, record),
            None => RecordingTap::off(),
        };
        StreamSlot {
            shared: Arc::new(StreamShared::new(
                status,
                quality,
                &self.inner.settings,
                tap,
                self.inner.metrics.clone(),
            )),
            running: None,
            reconciled: false,
        }
    }

    fn start(&self, config: CameraConfig) -> Entry {
        let id: Arc<str> = config.id.as_str().into();
        let runtime = match &self.inner.threads {
            Some(threads) => threads.next(),
            None => self.inner.runtime.clone(),
        };
        let mut entry = Entry {
            runtime,
            main: self.new_slot(&id, Quality::Main, config.record),
            sub: config
                .sub_url
                .is_some()
                .then(|| self.new_slot(&id, Quality::Sub, RecordMode::Off)),
            config: config.clone(),
        };
        self.reconcile(&mut entry, &config);
        entry
    }

    fn update(&self, entry: &mut Entry, config: CameraConfig) {
        match (&entry.sub, &config.sub_url) {
            (None, Some(_)) => {
                let id: Arc<str> = config.id.as_str().into();
                entry.sub = Some(self.new_slot(&id, Quality::Sub, RecordMode::Off));
            }
            (Some(_), None) => entry.sub = None,
            _ => {}
        }
        entry.main.shared.recording.set_mode(config.record);
        self.reconcile(entry, &config);
        entry.config = config;
    }

    /// Starts, restarts or stops each stream's supervisor to match `config`.
    fn reconcile(&self, entry: &mut Entry, config: &CameraConfig) {
        let main = config.session_config(Quality::Main);
        let runtime = &entry.runtime;
        self.reconcile_slot(runtime, &mut entry.main, main, config.enabled);
        if let Some(slot) = entry.sub.as_mut() {
            let sub = config.session_config(Quality::Sub);
            self.reconcile_slot(runtime, slot, sub, config.enabled);
        }
    }

    fn reconcile_slot(
        &self,
        runtime: &Handle,
        slot: &mut StreamSlot,
        wanted: Option<SessionConfig>,
        enabled: bool,
    ) {
        let wanted = wanted.filter(|_| enabled);
        if slot.reconciled && slot.running.as_ref().map(|(c, _)| c) == wanted.as_ref() {
            return;
        }
        slot.reconciled = true;
        slot.running = None; // aborts the old supervisor
        match wanted {
            None => slot
                .shared
                .status
                .set(StreamState::Offline, Some(DISABLED_REASON.into())),
            Some(session_config) => {
                slot.shared.status.set(StreamState::Connecting, None);
                let task = runtime.spawn(supervise(
                    session_config.clone(),
                    self.inner.settings.clone(),
                    slot.shared.clone(),
                    self.inner.group.clone(),
                ));
                slot.running = Some((session_config, Task(task)));
            }
        }
    }
}

/// The video threads `settings` ask for, or `None` to run cameras on the
/// current runtime (also when they cannot be started, which is logged).
fn start_video_threads(settings: &IngestConfig) -> Option<VideoThreads> {
    match settings.video_threads {
        0 => None,
        n => VideoThreads::start(n, settings.wake_batch)
            .inspect_err(|e| {
                tracing::error!(error = %e, "video threads not started; video runs on the main runtime")
            })
            .ok(),
    }
}

fn camera_status(id: &str, entry: &Entry) -> CameraStatus {
    CameraStatus {
        id: id.to_string(),
        enabled: entry.config.enabled,
        main: entry.main.shared.status.current(),
        sub: entry.sub.as_ref().map(|s| s.shared.status.current()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(id: &str, port: u16) -> CameraConfig {
        CameraConfig::new(id, format!("rtsp://127.0.0.1:{port}/x").parse().unwrap())
    }

    #[tokio::test]
    async fn apply_adds_changes_and_removes_only_what_differs() {
        let cameras = Cameras::new(IngestConfig::default());
        let s = cameras.apply([cam("a", 1), cam("b", 1)]);
        assert_eq!(s.added, ["a", "b"]);
        let watch_a = cameras.watch("a", Quality::Main).unwrap();
        let mut b = cam("b", 2);
        b.sub_url = Some("rtsp://127.0.0.1:2/sub".parse().unwrap());
        let s = cameras.apply([cam("a", 1), b.clone(), cam("c", 1)]);
        assert_eq!(s.added, ["c"]);
        assert_eq!(s.changed, ["b"]);
        assert_eq!(s.unchanged, ["a"]);
        assert!(cameras.watch("b", Quality::Sub).is_some());
        // a's stream was not replaced: the old receiver still follows it.
        assert!(watch_a.has_changed().is_ok());
        let s = cameras.apply([b]);
        assert_eq!(s.removed, ["a", "c"]);
        // Aborted supervisors let go of their stream when next polled (soon, but on a loaded
        // machine not always within a fixed 20 ms).
        let gone = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while watch_a.has_changed().is_ok() {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "a's status sender is gone");
        assert_eq!(cameras.ids(), ["b"]);
    }

    #[tokio::test]
    async fn disabled_cameras_are_offline_and_cannot_be_viewed() {
        let cameras = Cameras::new(IngestConfig::default());
        let mut c = cam("a", 1);
        c.enabled = false;
        cameras.apply([c]);
        let status = cameras.status("a").unwrap();
        assert_eq!(status.state(), StreamState::Offline);
        assert_eq!(status.main.reason.as_deref(), Some(DISABLED_REASON));
        assert_eq!(
            cameras.subscribe("a", Quality::Main).unwrap_err(),
            LiveError::Disabled("a".into())
        );
        assert_eq!(
            cameras.subscribe("zz", Quality::Main).unwrap_err(),
            LiveError::UnknownCamera("zz".into())
        );
    }

    #[tokio::test]
    async fn sub_falls_back_to_main() {
        let cameras = Cameras::new(IngestConfig::default());
        cameras.apply([cam("a", 1)]);
        let viewer = cameras.subscribe("a", Quality::Sub).unwrap();
        assert_eq!(viewer.quality(), Quality::Main);
        assert_eq!(cameras.viewer_count("a"), 1);
    }

    /// The name of the thread a task spawned on `runtime` runs on.
    async fn thread_of(runtime: &Handle) -> String {
        let name = runtime.spawn(async { std::thread::current().name().map(str::to_string) });
        name.await.unwrap().unwrap_or_default()
    }

    #[tokio::test]
    async fn cameras_and_their_viewers_run_on_the_video_threads_in_turn() {
        let settings = IngestConfig {
            video_threads: 2,
            ..IngestConfig::default()
        };
        let cameras = Cameras::new(settings);
        cameras.apply([cam("a", 1), cam("b", 1), cam("c", 1)]);
        let mut homes = Vec::new();
        for id in ["a", "b", "c"] {
            let viewer = cameras.subscribe(id, Quality::Main).unwrap();
            homes.push(thread_of(viewer.home().expect("a video thread")).await);
        }
        // `apply` starts them in no particular order: two on one thread, one on the other.
        let mut sorted = homes.clone();
        sorted.sort();
        assert_eq!(sorted, ["video-0", "video-0", "video-1"], "{homes:?}");

        let on_main = Cameras::new(IngestConfig {
            video_threads: 0,
            ..IngestConfig::default()
        });
        on_main.apply([cam("a", 1)]);
        let viewer = on_main.subscribe("a", Quality::Main).unwrap();
        assert_ne!(thread_of(viewer.home().unwrap()).await, "video-0");
    }
}
