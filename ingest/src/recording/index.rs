//! The recorder's side of the segment index. The index lives in the hub's
//! store; the ingest knows it only through [`SegmentIndex`], which the hub
//! implements (and [`MemoryIndex`] for tests and tools).
//!
//! Every method is called from the recorder's own threads (or from
//! [`super::Recorder::open`] and [`super::Recorder::delete`], which are
//! blocking calls), never from an async task, so an implementation may block,
//! e.g. on `Handle::block_on` of a database query.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::config::Quality;

use super::config::RecordMode;

/// The index could not be read or written (the database is down, say).
/// The recorder keeps going: a segment whose row could not be written is
/// retried, and indexed by the next start-up's repair at the latest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("segment index: {0}")]
pub struct IndexError(pub String);

/// What became of a segment given to [`SegmentIndex::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Its row is there (written now, or by an earlier attempt whose answer was lost).
    Indexed,
    /// Refused for good: the camera was taken over by another worker before the segment
    /// ended, so that worker recorded the same time. The recorder sets the file aside
    /// (`*.mp4.fenced`) rather than retry it.
    Fenced,
}

/// A sample-file directory as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRecord {
    /// The ID in the directory's meta file.
    pub id: String,
    /// Where it was last opened.
    pub path: String,
}

/// A finished segment: one fragmented MP4 file of about a minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    pub id: String,
    pub camera_id: String,
    pub stream: Quality,
    /// The mode it was recorded in (retention treats `incidents` segments
    /// as a pre-event buffer).
    pub mode: RecordMode,
    pub dir_id: String,
    /// Relative to the directory, `/`-separated.
    pub path: String,
    /// Wall-clock arrival of its first frame.
    pub start: SystemTime,
    /// `start` plus its video's duration.
    pub end: SystemTime,
    /// File size: the file is never written after its row.
    pub bytes: u64,
    pub frames: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// RFC 6381 codec string, e.g. `avc1.42C01E`.
    pub codec: String,
    pub width: u16,
    pub height: u16,
    /// Where frames the camera sent were lost inside the segment (the video resumes at the
    /// next keyframe after each), oldest first: the recording has no picture there.
    pub holes: Vec<Hole>,
}

/// A stretch of a segment's time without video: frames lost on the way from the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// Where the last frame before it ends.
    pub from: SystemTime,
    /// The arrival of the keyframe the video resumes with.
    pub to: SystemTime,
}

/// What repair needs to know of an indexed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub id: String,
    pub path: String,
    pub bytes: u64,
    /// Retention marked it for deletion; its file may or may not be gone.
    pub deleting: bool,
}

/// A segment to delete: which directory, which file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentRef {
    pub id: String,
    pub dir_id: String,
    pub path: String,
}

/// Where the recorder keeps its index.
pub trait SegmentIndex: Send + Sync + 'static {
    /// The directory with this ID, if the index knows it.
    fn dir(&self, id: &str) -> Result<Option<DirRecord>, IndexError>;
    /// Whether the index has any segment in a directory last opened at
    /// `path` (a directory without its meta file but with segments indexed
    /// is a disk that is not mounted, not a new directory).
    fn dir_at_path_has_segments(&self, path: &str) -> Result<bool, IndexError>;
    /// Registers a directory, or records where it is now.
    fn put_dir(&self, dir: &DirRecord) -> Result<(), IndexError>;
    /// Every segment of a directory, deleting ones included.
    fn files_in_dir(&self, dir_id: &str) -> Result<Vec<IndexedFile>, IndexError>;
    /// Adds a finished segment. Adding one whose ID is already there is not
    /// an error (a retry after a lost answer): it is [`Inserted::Indexed`].
    fn insert(&self, segment: &SegmentRecord) -> Result<Inserted, IndexError>;
    /// Marks segments as being deleted: from here on they are not listed for
    /// playback, and a start-up finishes their deletion.
    fn mark_deleting(&self, ids: &[String]) -> Result<(), IndexError>;
    /// Removes segments' rows.
    fn remove(&self, ids: &[String]) -> Result<(), IndexError>;
}

/// An index in memory, for tests and tools.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    inner: Mutex<MemoryInner>,
    /// While true, `insert` waits (as a database that stopped answering would).
    stalled: Mutex<bool>,
    unstalled: Condvar,
}

#[derive(Debug, Default)]
struct MemoryInner {
    dirs: HashMap<String, DirRecord>,
    segments: HashMap<String, (SegmentRecord, bool)>,
    /// Fail every call while set (to test the recorder's retries).
    failing: bool,
    /// Cameras whose new segments are refused as [`Inserted::Fenced`] (to test how the
    /// recorder sets them aside).
    fenced: std::collections::HashSet<String>,
}

impl MemoryIndex {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, MemoryInner>, IndexError> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.failing {
            return Err(IndexError("the memory index is set to fail".into()));
        }
        Ok(inner)
    }

    /// Makes every call fail (or work again).
    pub fn set_failing(&self, failing: bool) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failing = failing;
    }

    /// Makes `insert` wait until this is called again with `false`: a database that stopped
    /// answering (to test that the recorder writes on meanwhile).
    pub fn set_stalled(&self, stalled: bool) {
        *self.stalled.lock().unwrap_or_else(PoisonError::into_inner) = stalled;
        self.unstalled.notify_all();
    }

    /// Refuses the new segments of `camera` from now on, as a lost lease would (or, with
    /// `false`, accepts them again).
    pub fn set_fenced(&self, camera: &str, fenced: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if fenced {
            inner.fenced.insert(camera.to_string());
        } else {
            inner.fenced.remove(camera);
        }
    }

    /// Every segment not being deleted, oldest first.
    pub fn segments(&self) -> Vec<SegmentRecord> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<SegmentRecord> = inner
            .segments
            .values()
            .filter(|(_, deleting)| !deleting)
            .map(|(s, _)| s.clone())
            .collect();
        all.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        all
    }
}

impl SegmentIndex for MemoryIndex {
    fn dir(&self, id: &str) -> Result<Option<DirRecord>, IndexError> {
        Ok(self.lock()?.dirs.get(id).cloned())
    }

    fn dir_at_path_has_segments(&self, path: &str) -> Result<bool, IndexError> {
        let inner = self.lock()?;
        Ok(inner
            .dirs
            .values()
            .filter(|d| d.path == path)
            .any(|d| inner.segments.values().any(|(s, _)| s.dir_id == d.id)))
    }

    fn put_dir(&self, dir: &DirRecord) -> Result<(), IndexError> {
        self.lock()?.dirs.insert(dir.id.clone(), dir.clone());
        Ok(())
    }

    fn files_in_dir(&self, dir_id: &str) -> Result<Vec<IndexedFile>, IndexError> {
        Ok(self
            .lock()?
            .segments
            .values()
            .filter(|(s, _)| s.dir_id == dir_id)
            .map(|(s, deleting)| IndexedFile {
                id: s.id.clone(),
                path: s.path.clone(),
                bytes: s.bytes,
                deleting: *deleting,
            })
            .collect())
    }

    fn insert(&self, segment: &SegmentRecord) -> Result<Inserted, IndexError> {
        let stalled = self.stalled.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            self.unstalled
                .wait_while(stalled, |s| *s)
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut inner = self.lock()?;
        if !inner.segments.contains_key(&segment.id) && inner.fenced.contains(&segment.camera_id) {
            return Ok(Inserted::Fenced);
        }
        inner
            .segments
            .entry(segment.id.clone())
            .or_insert_with(|| (segment.clone(), false));
        Ok(Inserted::Indexed)
    }

    fn mark_deleting(&self, ids: &[String]) -> Result<(), IndexError> {
        let mut inner = self.lock()?;
        for id in ids {
            if let Some((_, deleting)) = inner.segments.get_mut(id) {
                *deleting = true;
            }
        }
        Ok(())
    }

    fn remove(&self, ids: &[String]) -> Result<(), IndexError> {
        let mut inner = self.lock()?;
        for id in ids {
            inner.segments.remove(id);
        }
        Ok(())
    }
}
