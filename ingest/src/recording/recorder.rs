//! The recorder: its sample-file directories, their writers, and what the
//! hub asks of it (taps for streams, status, deletions, shutdown).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::config::Quality;

use super::config::{RecordMode, RecordingConfig};
use super::dir::SampleDir;
use super::index::{IndexError, SegmentIndex, SegmentRecord, SegmentRef};
use super::indexer::Indexer;
use super::queue::{Message, StreamKey};
use super::repair::{remove_if_present, repair, sync_parents, RepairReport};
use super::segment::OpenSegment;
use super::status::{lock, DirShared, DirStats, DirStatus, StopReason};
use super::tap::RecordingTap;
use super::writer::DirWriter;

struct Dir {
    shared: Arc<DirShared>,
    /// `None` when it could not be opened.
    files: Option<Arc<SampleDir>>,
}

struct Inner {
    dirs: Vec<Dir>,
    index: Arc<dyn SegmentIndex>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    changes: watch::Sender<u64>,
    repairs: Vec<RepairReport>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for dir in &self.dirs {
            dir.shared.queue.push_control(Message::Shutdown);
        }
    }
}

/// Writes camera streams into sample-file directories; cheap to clone.
/// Dropping the last clone finishes every segment in the background;
/// [`Recorder::shutdown`] does it and waits.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("dirs", &self.statuses())
            .finish_non_exhaustive()
    }
}

/// A stream's segments that this recorder has and the index has not (yet): what playback and
/// the timeline add to the index's rows.
#[derive(Debug, Clone, Default)]
pub struct Unindexed {
    /// Finished and synced, waiting for their row (for long only when the index is slow or
    /// unreachable), oldest first, with their files.
    pub finished: Vec<(SegmentRecord, PathBuf)>,
    /// The one being written, and its file.
    pub open: Option<(OpenSegment, PathBuf)>,
}

/// What [`Recorder::delete`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeleteReport {
    /// Segments whose file and row are gone.
    pub deleted: Vec<String>,
    /// Of those, files that were already missing.
    pub already_missing: usize,
    /// Segments that could not be deleted, and why; rows stay marked and
    /// the next start-up's repair finishes them.
    pub failed: Vec<(String, String)>,
    pub fsyncs: u64,
}

impl Recorder {
    /// Opens every configured directory, repairs it against the index, and
    /// starts its writer. A directory that cannot be opened or repaired is
    /// reported as stopped ([`StopReason::Unavailable`]) and the others
    /// work. Blocking (repair reads whole files and calls the index): call
    /// it from a blocking context, e.g. `spawn_blocking`.
    pub fn open(config: RecordingConfig, index: Arc<dyn SegmentIndex>) -> Self {
        let (changes, _) = watch::channel(0);
        let config = Arc::new(config);
        let mut dirs = Vec::new();
        let mut threads = Vec::new();
        let mut repairs = Vec::new();
        for dir_config in &config.dirs {
            let opened = SampleDir::open(&dir_config.path, index.as_ref()).and_then(|dir| {
                let report = repair(&dir, index.as_ref())?;
                Ok((dir, report))
            });
            match opened {
                Ok((dir, report)) => {
                    repairs.push(report);
                    let shared = Arc::new(DirShared::new(
                        dir.path().to_path_buf(),
                        Some(dir.id().to_string()),
                        config.queue_bytes,
                        changes.clone(),
                    ));
                    let files = Arc::new(dir);
                    let name = format!("recorder-{}", dirs.len());
                    let started = Indexer::start(
                        format!("{name}-index"),
                        shared.clone(),
                        files.clone(),
                        index.clone(),
                    )
                    .and_then(|indexer| {
                        let writer = DirWriter::new(
                            shared.clone(),
                            files.clone(),
                            indexer,
                            config.clone(),
                            dir_config.min_free_bytes,
                        );
                        std::thread::Builder::new()
                            .name(name)
                            .spawn(move || writer.run())
                    });
                    match started {
                        Ok(handle) => threads.push(handle),
                        Err(e) => shared.set_stopped(Some((
                            StopReason::Unavailable,
                            format!("its writer thread did not start: {e}"),
                        ))),
                    }
                    dirs.push(Dir {
                        shared,
                        files: Some(files),
                    });
                }
                Err(e) => {
                    tracing::error!(dir = %dir_config.path.display(), "not recording here: {e}");
                    let shared = Arc::new(DirShared::new(
                        dir_config.path.clone(),
                        None,
                        0,
                        changes.clone(),
                    ));
                    shared.set_stopped(Some((StopReason::Unavailable, e.to_string())));
                    dirs.push(Dir {
                        shared,
                        files: None,
                    });
                }
            }
        }
        Self {
            inner: Arc::new(Inner {
                dirs,
                index,
                threads: Mutex::new(threads),
                changes,
                repairs,
            }),
        }
    }

    /// What start-up repair did, per directory opened.
    pub fn repair_reports(&self) -> &[RepairReport] {
        &self.inner.repairs
    }

    /// A tap for one stream, writing into the usable directory with the
    /// fewest streams; a tap that records nothing when there is none.
    pub fn tap(&self, camera_id: &str, quality: Quality, mode: RecordMode) -> RecordingTap {
        let dir = self
            .inner
            .dirs
            .iter()
            .filter(|d| d.files.is_some())
            .min_by_key(|d| d.shared.streams.load(Ordering::Relaxed));
        match dir {
            Some(dir) => RecordingTap::new(
                StreamKey {
                    camera_id: camera_id.into(),
                    quality,
                },
                dir.shared.clone(),
                mode,
            ),
            None => {
                if mode.records() {
                    tracing::error!(camera = camera_id, "no usable sample-file directory");
                }
                RecordingTap::off()
            }
        }
    }

    /// Every directory's state.
    pub fn statuses(&self) -> Vec<DirStatus> {
        self.inner.dirs.iter().map(|d| d.shared.status()).collect()
    }

    /// Ticks whenever a directory stops or resumes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Counters of every directory.
    pub fn stats(&self) -> Vec<DirStats> {
        self.inner.dirs.iter().map(|d| d.shared.stats()).collect()
    }

    /// Segments being written, as of the last sync round.
    pub fn open_segments(&self) -> Vec<OpenSegment> {
        self.inner
            .dirs
            .iter()
            .flat_map(|d| lock(&d.shared.open_segments).clone())
            .collect()
    }

    /// The segment of `camera_id`'s `stream` being written (as of the last sync round, start
    /// or end of a segment), and where its file is.
    pub fn open_segment(&self, camera_id: &str, stream: Quality) -> Option<(OpenSegment, PathBuf)> {
        let open = self
            .open_segments()
            .into_iter()
            .filter(|s| s.camera_id == camera_id && s.stream == stream)
            .max_by_key(|s| s.start)?;
        let path = self.dir_path(&open.dir_id)?.join(&open.path);
        Some((open, path))
    }

    /// `camera_id`'s `stream` segments that have no row yet: finished ones waiting for it, and
    /// the one being written. A segment moves from open to finished before it stops being
    /// listed as open, and leaves the finished only once its row is in: read after this, the
    /// index has every segment this does not list.
    pub fn unindexed(&self, camera_id: &str, stream: Quality) -> Unindexed {
        // Open first: a segment finishing meanwhile is then found among the finished.
        let open = self.open_segment(camera_id, stream);
        let mut finished: Vec<(SegmentRecord, PathBuf)> = self
            .inner
            .dirs
            .iter()
            .flat_map(|d| {
                let dir = d.files.as_ref().map(|f| f.path().to_path_buf());
                lock(&d.shared.unindexed)
                    .iter()
                    .filter(|r| r.camera_id == camera_id && r.stream == stream)
                    .filter_map(|r| Some((r.clone(), dir.as_ref()?.join(&r.path))))
                    .collect::<Vec<_>>()
            })
            .collect();
        finished.sort_by_key(|(r, _)| r.start);
        let open = open.filter(|(o, _)| !finished.iter().any(|(r, _)| r.id == o.id));
        Unindexed { finished, open }
    }

    /// Whether the segment `id` is still being written.
    pub fn is_open(&self, id: &str) -> bool {
        self.inner
            .dirs
            .iter()
            .any(|d| lock(&d.shared.open_segments).iter().any(|s| s.id == id))
    }

    /// Where a directory is, by its ID.
    pub fn dir_path(&self, dir_id: &str) -> Option<PathBuf> {
        self.find(dir_id)
            .and_then(|d| d.files.as_ref())
            .map(|f| f.path().to_path_buf())
    }

    fn find(&self, dir_id: &str) -> Option<&Dir> {
        self.inner
            .dirs
            .iter()
            .find(|d| d.shared.id.as_deref() == Some(dir_id))
    }

    /// Holds a directory (stops its recording, with `reason`), or with
    /// `None` releases it: retention holds a directory whose limits are
    /// reached with only locked data left. Takes effect within a drain
    /// interval.
    pub fn hold(&self, dir_id: &str, reason: Option<String>) {
        if let Some(dir) = self.find(dir_id) {
            *lock(&dir.shared.hold) = reason;
        }
    }

    /// Deletes segments, in the order that survives a crash at any point:
    /// the rows are marked first (no longer listed; a start-up finishes
    /// what follows), then the files are unlinked and their directories
    /// synced, and only then are the rows removed. The reverse order could
    /// leave a file without a row, which repair would take for a recording
    /// and index again. Blocking.
    pub fn delete(&self, segments: &[SegmentRef]) -> Result<DeleteReport, IndexError> {
        let mut report = DeleteReport::default();
        let mut by_dir: HashMap<&str, Vec<&SegmentRef>> = HashMap::new();
        for segment in segments {
            by_dir.entry(&segment.dir_id).or_default().push(segment);
        }
        for (dir_id, segments) in by_dir {
            let Some(files) = self.find(dir_id).and_then(|d| d.files.clone()) else {
                for s in segments {
                    report
                        .failed
                        .push((s.id.clone(), format!("directory {dir_id} is not open")));
                }
                continue;
            };
            let ids: Vec<String> = segments.iter().map(|s| s.id.clone()).collect();
            self.inner.index.mark_deleting(&ids)?;
            let mut unlinked = Vec::new();
            for s in &segments {
                match remove_if_present(&files.absolute(&s.path)) {
                    Ok(existed) => {
                        report.already_missing += usize::from(!existed);
                        unlinked.push(*s);
                    }
                    Err(e) => report.failed.push((s.id.clone(), e.to_string())),
                }
            }
            match sync_parents(&files, unlinked.iter().map(|s| s.path.as_str())) {
                Ok(n) => report.fsyncs += n as u64,
                Err(e) => {
                    // Not known to be durable: leave the rows marked for the next start-up.
                    for s in unlinked {
                        report.failed.push((s.id.clone(), e.to_string()));
                    }
                    continue;
                }
            }
            let ids: Vec<String> = unlinked.iter().map(|s| s.id.clone()).collect();
            self.inner.index.remove(&ids)?;
            report.deleted.extend(ids);
        }
        Ok(report)
    }

    /// Finishes every open segment (written, synced, indexed) and stops the
    /// writers; frames offered afterwards are dropped. Blocking.
    pub fn shutdown(&self) {
        for dir in &self.inner.dirs {
            dir.shared.set_stopped(Some((
                StopReason::Unavailable,
                "the recorder was shut down".into(),
            )));
            dir.shared.queue.push_control(Message::Shutdown);
        }
        let threads = std::mem::take(&mut *lock(&self.inner.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}
