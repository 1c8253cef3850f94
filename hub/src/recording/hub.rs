//! The hub's recording: the ingest's recorder (when `[recording]` names directories), the
//! limits retention applies to each directory, and how the directories' state is shown — on
//! `/readyz`, as metrics, and as health on the stream when one stops.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwatch_core::recording::retention::RetentionPolicy;
use gridwatch_ingest::recording::{DirStats, DirStatus, Recorder, Unindexed};
use gridwatch_ingest::Quality;
use gridwatch_store::{Store, StoreError};
use prometheus::{IntCounterVec, IntGaugeVec};
use serde_json::{json, Value};

use super::config::{EvidenceConfig, RecordingConfig};
use super::fetch::SegmentFiles;
use super::index::StoreIndex;
use super::retention::DirLimits;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use gridwatch_core::clock::Clock;

/// The hub's recording, as a handle shared as `Arc<RecordingHub>`: it owns what retention and
/// evidence sealing use (the store, the clock, the lifecycle their tasks run in).
pub struct RecordingHub {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub lifecycle: Lifecycle,
    /// `None` when recording is off.
    recorder: Option<Recorder>,
    pub config: RecordingConfig,
    pub evidence: EvidenceConfig,
    /// Where clips and manifests go.
    pub evidence_dir: PathBuf,
    /// The segments' files, here or fetched from the ingest worker that recorded them: what
    /// playback and evidence read.
    pub files: SegmentFiles,
    /// `[ingest] mode = "workers"`: the cameras (and their recordings) are on workers, and
    /// this hub seals their evidence all the same.
    pub workers_mode: bool,
    /// Whether the evidence directory's disk had room for the last clip.
    pub evidence_space: super::evidence_space::EvidenceSpace,
    /// Which downloads of recorded video are recorded, and each person's allowance.
    pub downloads: super::downloads::Downloads,
    /// Retention's limits, by directory ID.
    limits: HashMap<String, DirLimits>,
    /// `gridwatch_recording_bytes{dir}`: bytes of the indexed segments.
    bytes: IntGaugeVec,
    /// `gridwatch_recording_segments{dir}`.
    segments: IntGaugeVec,
    /// `gridwatch_recording_dir_stopped{dir}`: 1 while a directory records nothing (full disk,
    /// only evidence left, a failing or missing disk), else 0.
    stopped: IntGaugeVec,
    /// `gridwatch_recording_free_bytes{dir}`: free space on its disk when last measured.
    free: IntGaugeVec,
    /// `gridwatch_recording_segments_unindexed{dir}`: finished segments waiting for their row;
    /// more than a few means the database is slow or away (recording goes on meanwhile).
    unindexed: IntGaugeVec,
    /// `gridwatch_recording_written_bytes_total{dir}`, `…_media_bytes_total{dir}` (of those,
    /// the frames' own bytes: the video received) and `…_fsyncs_total{dir}`: what recording
    /// costs the disk, so that its write amplification and sync rate can be watched.
    io: IoCounters,
    /// The store's bytes and segments per directory, read at most every [`USAGE_MAX_AGE`]:
    /// summing every segment row at each scrape would cost the database more than the
    /// numbers are worth.
    usage: std::sync::Mutex<Option<(Instant, Usage)>>,
}

/// The recorder's I/O counters, as Prometheus counters.
struct IoCounters {
    written: IntCounterVec,
    media: IntCounterVec,
    fsyncs: IntCounterVec,
    /// `gridwatch_recording_segments_finished_total{dir}`: a camera makes about one a
    /// minute; more means its sessions or its frames are interrupted (each gap ends a segment).
    finished: IntCounterVec,
    /// `gridwatch_recording_frames_dropped_total{dir,reason}`: frames received but not
    /// recorded — `queue_full` (the disk is slower than the cameras), `stopped` (the directory
    /// records nothing), `write_error` (a failed write).
    dropped: IntCounterVec,
    /// `gridwatch_recording_index_failures_total{dir}`: segment rows the store refused at the
    /// first attempt (retried at each sync round; repair indexes them at the next start).
    index_failures: IntCounterVec,
    /// `gridwatch_recording_segments_fenced_total{dir}`: segments an ingest worker recorded
    /// after another worker took their camera over, refused by the index and set aside.
    fenced: IntCounterVec,
}

/// The reasons of `gridwatch_recording_frames_dropped_total`, each with its count.
fn dropped_by_reason(stats: &DirStats) -> [(&'static str, u64); 3] {
    [
        ("queue_full", stats.dropped_queue_full),
        ("stopped", stats.dropped_stopped),
        ("write_error", stats.dropped_write_error),
    ]
}

impl IoCounters {
    fn new() -> IoCounters {
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(prometheus::Opts::new(name, help), &["dir"]).expect("metric")
        };
        IoCounters {
            written: counter(
                "recording_written_bytes_total",
                "Bytes recording wrote to a sample-file directory (frames and MP4 boxes)",
            ),
            media: counter(
                "recording_media_bytes_total",
                "Of the bytes written, the frames' own, as received from the cameras",
            ),
            fsyncs: counter(
                "recording_fsyncs_total",
                "fsync/fdatasync calls recording made on a sample-file directory's files",
            ),
            finished: counter(
                "recording_segments_finished_total",
                "Segments finished and handed to the index (about one a minute per recording \
                 camera; more when its frames or sessions are interrupted)",
            ),
            dropped: IntCounterVec::new(
                prometheus::Opts::new(
                    "recording_frames_dropped_total",
                    "Frames received but not recorded, by reason: queue_full (the disk is \
                     slower than the cameras), stopped (the directory records nothing), \
                     write_error (a failed write)",
                ),
                &["dir", "reason"],
            )
            .expect("metric"),
            index_failures: counter(
                "recording_index_failures_total",
                "Segment rows the store refused at the first attempt (retried; indexed by \
                 repair at the next start at the latest)",
            ),
            fenced: counter(
                "recording_segments_fenced_total",
                "Segments not indexed because another ingest worker had taken their camera over \
                 before they ended (set aside as *.mp4.fenced)",
            ),
        }
    }

    /// Brings each counter up to the recorder's own count (which only grows).
    fn update(&self, stats: &DirStats) {
        let label = stats.path.display().to_string();
        for (counter, value) in [
            (&self.written, stats.bytes_written),
            (&self.media, stats.media_bytes),
            (&self.fsyncs, stats.fsyncs),
            (&self.finished, stats.segments_finished),
            (&self.index_failures, stats.index_failures),
            (&self.fenced, stats.segments_fenced),
        ] {
            catch_up(&counter.with_label_values(&[label.as_str()]), value);
        }
        for (reason, value) in dropped_by_reason(stats) {
            catch_up(
                &self.dropped.with_label_values(&[label.as_str(), reason]),
                value,
            );
        }
    }
}

/// Brings a Prometheus counter up to a count kept elsewhere (which only grows).
fn catch_up(counter: &prometheus::IntCounter, value: u64) {
    counter.inc_by(value.saturating_sub(counter.get()));
}

/// Bytes and segments, by directory ID.
type Usage = HashMap<String, (u64, u64)>;

/// How old the usage shown as metrics may be.
const USAGE_MAX_AGE: Duration = Duration::from_secs(30);

impl std::fmt::Debug for RecordingHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingHub")
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

fn gauge(name: &str, help: &str) -> IntGaugeVec {
    IntGaugeVec::new(prometheus::Opts::new(name, help), &["dir"]).expect("metric")
}

impl RecordingHub {
    /// The hub's recording around `recorder` (opened by [`open_recorder`]); its metrics are
    /// registered whether or not anything is recorded, so dashboards and alerts read 0 rather
    /// than nothing.
    pub fn new(
        config: &crate::Config,
        recorder: Option<Recorder>,
        store: Store,
        clock: Arc<dyn Clock>,
        lifecycle: Lifecycle,
        metrics: &Metrics,
    ) -> RecordingHub {
        // The recorder lists its directories in the configuration's order.
        let limits = match &recorder {
            None => HashMap::new(),
            Some(r) => r
                .statuses()
                .into_iter()
                .zip(&config.recording.dirs)
                .filter_map(|(status, dir)| {
                    let limits = DirLimits {
                        max_bytes: dir.max_bytes(),
                        min_free_bytes: dir.min_free_bytes(),
                    };
                    status.id.map(|id| (id, limits))
                })
                .collect(),
        };
        let files = SegmentFiles::new(
            store.clone(),
            recorder.clone(),
            config.data_dir.join("cache").join("segments"),
            config.recording.fetched_cache_bytes,
            config.ingest.secret.clone(),
        );
        let hub = RecordingHub {
            store,
            clock,
            lifecycle,
            recorder,
            files,
            workers_mode: config.ingest.workers(),
            evidence_space: super::evidence_space::EvidenceSpace::new(metrics),
            downloads: Default::default(),
            config: config.recording.clone(),
            evidence: config.evidence.clone(),
            evidence_dir: config.evidence.dir_in(&config.data_dir),
            limits,
            bytes: gauge(
                "recording_bytes",
                "Bytes of recorded segments, by sample-file directory",
            ),
            segments: gauge(
                "recording_segments",
                "Recorded segments, by sample-file directory",
            ),
            stopped: gauge(
                "recording_dir_stopped",
                "1 while a sample-file directory records nothing (disk full, only evidence left, \
                 disk failing or missing)",
            ),
            free: gauge(
                "recording_free_bytes",
                "Free bytes on a sample-file directory's disk, when last measured",
            ),
            unindexed: gauge(
                "recording_segments_unindexed",
                "Finished segments waiting for their row in the store (recording goes on; \
                 many means the database is slow or unreachable)",
            ),
            io: IoCounters::new(),
            usage: Default::default(),
        };
        for g in [
            &hub.bytes,
            &hub.segments,
            &hub.stopped,
            &hub.free,
            &hub.unindexed,
        ] {
            metrics.register(Box::new(g.clone()));
        }
        for c in [
            &hub.io.written,
            &hub.io.media,
            &hub.io.fsyncs,
            &hub.io.finished,
            &hub.io.dropped,
            &hub.io.index_failures,
            &hub.io.fenced,
        ] {
            metrics.register(Box::new(c.clone()));
        }
        hub
    }

    /// The injected clock's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// What this process has recorded of `camera_id`'s main stream that the index does not
    /// have (yet): finished segments waiting for their row, and the one being written. Read it
    /// before the rows: the index then has whatever it does not list.
    pub fn unindexed(&self, camera_id: &str) -> Unindexed {
        self.recorder()
            .map(|r| r.unindexed(camera_id, Quality::Main))
            .unwrap_or_default()
    }

    pub fn limits(&self) -> &HashMap<String, DirLimits> {
        &self.limits
    }

    /// Retention's rules with every camera's own days, as the store has them now.
    pub async fn policy(&self, store: &Store) -> Result<RetentionPolicy, StoreError> {
        let mut policy = self.config.policy();
        for camera in store.camera_recording_settings().await? {
            if let Some(days) = camera.retention_days {
                policy.camera_days.insert(camera.camera_id, days.max(1));
            }
        }
        Ok(policy)
    }

    fn statuses(&self) -> Vec<DirStatus> {
        self.recorder
            .as_ref()
            .map_or_else(Vec::new, |r| r.statuses())
    }

    /// The directories that record nothing now, for the stream's health message:
    /// `[{"path", "reason", "detail"}]`; empty while all record.
    pub fn stopped_dirs(&self) -> Vec<Value> {
        self.statuses()
            .into_iter()
            .filter_map(|s| {
                let reason = s.stopped?;
                Some(json!({
                    "path": s.path.display().to_string(),
                    "reason": reason.as_str(),
                    "detail": s.reason,
                }))
            })
            .collect()
    }

    /// `/readyz` detail: `"off"`, or every directory's state. A stopped directory does not
    /// make the hub unready: the SOS intake and live video go on without recording; nor do
    /// segments waiting for their rows (`unindexed_segments`: the database is slow or away).
    pub fn readiness(&self) -> Value {
        let Some(recorder) = &self.recorder else {
            return json!("off");
        };
        let stats = recorder.stats();
        let dirs: Vec<Value> = recorder
            .statuses()
            .into_iter()
            .zip(stats)
            .map(|(s, stats)| {
                json!({
                    "path": s.path.display().to_string(),
                    "recording": s.is_recording(),
                    "stopped": s.stopped.map(|r| r.as_str()),
                    "reason": s.reason,
                    "free_bytes": s.free_bytes,
                    "streams": s.streams,
                    "unindexed_segments": stats.unindexed_segments,
                })
            })
            .collect();
        json!({ "dirs": dirs })
    }

    /// Sets the gauges from the recorder and the store; called when `/metrics` is scraped.
    pub async fn refresh_metrics(&self, store: &Store) {
        let statuses = self.statuses();
        if statuses.is_empty() {
            return;
        }
        let usage = self.usage(store).await;
        for s in statuses {
            let label = s.path.display().to_string();
            let (bytes, segments) =
                s.id.as_ref()
                    .and_then(|id| usage.get(id))
                    .copied()
                    .unwrap_or_default();
            let set = |g: &IntGaugeVec, v: u64| {
                g.with_label_values(&[label.as_str()])
                    .set(i64::try_from(v).unwrap_or(i64::MAX))
            };
            set(&self.bytes, bytes);
            set(&self.segments, segments);
            set(&self.stopped, u64::from(s.stopped.is_some()));
            set(&self.free, s.free_bytes.unwrap_or(0));
        }
        if let Some(recorder) = &self.recorder {
            for stats in recorder.stats() {
                self.io.update(&stats);
                self.unindexed
                    .with_label_values(&[stats.path.display().to_string().as_str()])
                    .set(i64::try_from(stats.unindexed_segments).unwrap_or(i64::MAX));
            }
        }
    }
}

impl RecordingHub {
    /// Bytes and segments per directory, from the store, at most [`USAGE_MAX_AGE`] old.
    async fn usage(&self, store: &Store) -> Usage {
        let cached = lock(&self.usage)
            .as_ref()
            .filter(|(at, _)| at.elapsed() < USAGE_MAX_AGE)
            .map(|(_, usage)| usage.clone());
        if let Some(usage) = cached {
            return usage;
        }
        match store.recording_usage().await {
            Ok(rows) => {
                let usage: Usage = rows
                    .into_iter()
                    .map(|u| (u.dir_id, (u.bytes, u.segments)))
                    .collect();
                *lock(&self.usage) = Some((Instant::now(), usage.clone()));
                usage
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: could not read the recordings' usage");
                HashMap::new()
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens the recorder `[recording]` asks for (repairing each directory against the index),
/// off the async threads; `None` when recording is off.
pub async fn open_recorder(config: &RecordingConfig, store: &Store) -> Option<Recorder> {
    open_recorder_on(config, StoreIndex::new(store.clone())).await
}

/// [`open_recorder`] on a given index (an ingest worker's, [`StoreIndex::for_worker`]).
pub async fn open_recorder_on(config: &RecordingConfig, index: StoreIndex) -> Option<Recorder> {
    if !config.enabled() {
        return None;
    }
    let index = Arc::new(index);
    let settings = config.ingest();
    match tokio::task::spawn_blocking(move || Recorder::open(settings, index)).await {
        Ok(recorder) => {
            for report in recorder.repair_reports() {
                tracing::info!(?report, "sample-file directory checked against the index");
            }
            for status in recorder.statuses() {
                match status.stopped {
                    None => tracing::info!(dir = %status.path.display(), "recording here"),
                    Some(r) => tracing::error!(dir = %status.path.display(), reason = r.as_str(),
                        detail = ?status.reason, "not recording here"),
                }
            }
            Some(recorder)
        }
        Err(e) => {
            tracing::error!(error = %e, "the recorder did not open; recording is off");
            None
        }
    }
}
