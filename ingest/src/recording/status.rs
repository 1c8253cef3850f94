//! How each sample-file directory is doing, for the hub's health, `/readyz`
//! detail, metrics and alerts.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::watch;

use super::index::SegmentRecord;
use super::queue::FrameQueue;
use super::segment::OpenSegment;

/// Why a directory records nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A write failed for lack of space (`ENOSPC`/`EDQUOT`).
    DiskFull,
    /// Free space fell below `min_free_bytes`.
    LowSpace,
    /// The hub's retention held it: only locked (evidence) data is left to
    /// delete and the directory's limits are reached.
    Held,
    /// Another write error (a failing disk).
    IoError,
    /// It could not be opened (not mounted, another installation's, in use,
    /// or the index was unreachable): nothing is written or repaired there.
    Unavailable,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::DiskFull => "disk_full",
            StopReason::LowSpace => "low_space",
            StopReason::Held => "held",
            StopReason::IoError => "io_error",
            StopReason::Unavailable => "unavailable",
        }
    }
}

/// A directory's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirStatus {
    /// `None` when it could not be opened.
    pub id: Option<String>,
    pub path: PathBuf,
    /// `None` while recording.
    pub stopped: Option<StopReason>,
    /// Why, for a person.
    pub reason: Option<String>,
    /// When `stopped` last changed.
    pub since: SystemTime,
    /// Free bytes when last measured.
    pub free_bytes: Option<u64>,
    /// Streams assigned to it.
    pub streams: usize,
}

impl DirStatus {
    pub fn is_recording(&self) -> bool {
        self.stopped.is_none()
    }
}

/// Counters since start, per directory.
#[derive(Debug, Default)]
pub(crate) struct DirCounters {
    pub bytes_written: AtomicU64,
    pub media_bytes: AtomicU64,
    pub fsyncs: AtomicU64,
    pub frames_written: AtomicU64,
    pub segments_finished: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_stopped: AtomicU64,
    pub dropped_write_error: AtomicU64,
    pub index_failures: AtomicU64,
    pub segments_fenced: AtomicU64,
}

/// [`DirCounters`] read at one moment.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DirStats {
    pub path: PathBuf,
    pub bytes_written: u64,
    /// Of `bytes_written`, the frames' own bytes as the camera sent them (the rest is MP4
    /// boxes): `bytes_written / media_bytes` is what recording writes per byte received.
    pub media_bytes: u64,
    pub fsyncs: u64,
    pub frames_written: u64,
    pub segments_finished: u64,
    /// Frames not recorded because the writer's queue was full (a slow disk),
    /// including those until the next keyframe.
    pub dropped_queue_full: u64,
    /// Frames not recorded because the directory was stopped.
    pub dropped_stopped: u64,
    /// Frames lost to a failed write.
    pub dropped_write_error: u64,
    /// Segment rows that could not be written at the first attempt.
    pub index_failures: u64,
    /// Segments the index refused because another worker had taken their camera over before
    /// they ended (set aside as `*.mp4.fenced`).
    pub segments_fenced: u64,
    /// Frames waiting for the writer, in bytes.
    pub queued_bytes: u64,
    /// Finished segments waiting for their row (many: the index is slow or unreachable).
    pub unindexed_segments: u64,
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

pub(crate) fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

/// What a directory's taps, its writer and the recorder share.
#[derive(Debug)]
pub(crate) struct DirShared {
    pub path: PathBuf,
    pub id: Option<String>,
    pub queue: FrameQueue,
    /// Taps drop frames at once while this is false.
    accepting: AtomicBool,
    /// Set by the hub's retention ([`super::Recorder::hold`]).
    pub hold: Mutex<Option<String>>,
    status: Mutex<DirStatus>,
    pub counters: DirCounters,
    pub open_segments: Mutex<Vec<OpenSegment>>,
    /// Finished segments waiting for their row, oldest first (`indexer.rs`).
    pub unindexed: Mutex<Vec<SegmentRecord>>,
    pub streams: AtomicUsize,
    changes: watch::Sender<u64>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DirShared {
    pub fn new(
        path: PathBuf,
        id: Option<String>,
        queue_bytes: usize,
        changes: watch::Sender<u64>,
    ) -> Self {
        let status = DirStatus {
            id: id.clone(),
            path: path.clone(),
            stopped: None,
            reason: None,
            since: SystemTime::now(),
            free_bytes: None,
            streams: 0,
        };
        Self {
            path,
            id,
            queue: FrameQueue::new(queue_bytes),
            accepting: AtomicBool::new(true),
            hold: Mutex::new(None),
            status: Mutex::new(status),
            counters: DirCounters::default(),
            open_segments: Mutex::new(Vec::new()),
            unindexed: Mutex::new(Vec::new()),
            streams: AtomicUsize::new(0),
            changes,
        }
    }

    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    pub fn status(&self) -> DirStatus {
        let mut status = lock(&self.status).clone();
        status.streams = self.streams.load(Ordering::Relaxed);
        status
    }

    /// Records a stop (or, with `None`, that recording resumed); tells
    /// subscribers when it changes.
    pub fn set_stopped(&self, stopped: Option<(StopReason, String)>) {
        self.accepting.store(stopped.is_none(), Ordering::Release);
        let mut status = lock(&self.status);
        let (reason, detail) = stopped.map_or((None, None), |(r, d)| (Some(r), Some(d)));
        if status.stopped == reason && status.reason == detail {
            return;
        }
        status.stopped = reason;
        status.reason = detail;
        status.since = SystemTime::now();
        drop(status);
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn set_free_bytes(&self, free: Option<u64>) {
        lock(&self.status).free_bytes = free;
    }

    pub fn stats(&self) -> DirStats {
        let c = &self.counters;
        DirStats {
            path: self.path.clone(),
            bytes_written: load(&c.bytes_written),
            media_bytes: load(&c.media_bytes),
            fsyncs: load(&c.fsyncs),
            frames_written: load(&c.frames_written),
            segments_finished: load(&c.segments_finished),
            dropped_queue_full: load(&c.dropped_queue_full),
            dropped_stopped: load(&c.dropped_stopped),
            dropped_write_error: load(&c.dropped_write_error),
            index_failures: load(&c.index_failures),
            segments_fenced: load(&c.segments_fenced),
            queued_bytes: self.queue.queued_bytes() as u64,
            unindexed_segments: lock(&self.unindexed).len() as u64,
        }
    }
}
