//! One MP4 from a camera's indexed segments for a time range: what playback downloads and
//! what evidence seals. The segments come from the store, their files from wherever they were
//! recorded ([`SegmentFiles`]: here, or fetched from an ingest worker), the MP4 from the
//! ingest's clip planner (frames copied, never decoded).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use gridwatch_core::recording::Segment;
use gridwatch_ingest::recording::clip::{plan_clip, ClipError, ClipPlan, ClipSegment};
use gridwatch_ingest::recording::Unindexed;
use gridwatch_store::{Store, StoreError};

use super::fetch::{FetchError, SegmentFiles};

/// The stream recordings are kept of.
pub const MAIN: &str = "main";

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fetch(FetchError),
    #[error("the recording could not be read: {0}")]
    Clip(#[from] ClipError),
    #[error("the planning task failed: {0}")]
    Task(String),
}

/// A planned clip and the segments it was cut from.
#[derive(Debug)]
pub struct PlannedClip {
    pub plan: ClipPlan,
    pub segments: Vec<Segment>,
}

impl From<FetchError> for PlanError {
    fn from(e: FetchError) -> PlanError {
        match e {
            FetchError::Store(e) => PlanError::Store(e),
            e => PlanError::Fetch(e),
        }
    }
}

/// Where the segments `ids` are on this machine's disks, of those still indexed, as the
/// directories' rows say (whatever node they belong to: for `gridwatch evidence verify`,
/// which looks for the files and passes over those not found). Readers that may need another
/// node's segments use [`SegmentFiles::resolve`].
pub async fn segment_files(
    store: &Store,
    ids: &[String],
) -> Result<HashMap<String, PathBuf>, StoreError> {
    Ok(store
        .recording_segment_paths(ids)
        .await?
        .into_iter()
        .map(|(id, dir, path)| (id, Path::new(&dir).join(path)))
        .collect())
}

/// A segment a recorder on this machine has and the index not yet: the one being written, to
/// cut a clip from as far as it is written (what a download of the last minute needs), or one
/// finished and waiting for its row. Evidence never uses them (its manifest lists indexed
/// segments' hashes).
#[derive(Debug, Clone)]
pub struct Writing {
    /// The row it will have.
    pub id: String,
    pub path: PathBuf,
    pub start: DateTime<Utc>,
    /// `None` while it is being written.
    pub end: Option<DateTime<Utc>>,
}

impl Writing {
    /// The recorder's unindexed segments of a stream, oldest first.
    pub fn all_of(unindexed: Unindexed) -> Vec<Writing> {
        let finished = unindexed.finished.into_iter().map(|(r, path)| Writing {
            id: r.id,
            path,
            start: r.start.into(),
            end: Some(r.end.into()),
        });
        let open = unindexed.open.map(|(o, path)| Writing {
            id: o.id,
            path,
            start: o.start.into(),
            end: None,
        });
        finished.chain(open).collect()
    }
}

/// The clip of `camera_id`'s recordings in `[from, to)`; `None` when nothing was recorded
/// there. Reads the segments' headers off the async threads.
pub async fn plan(
    files: &SegmentFiles,
    camera_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<PlannedClip>, PlanError> {
    plan_with(files, camera_id, from, to, Vec::new()).await
}

/// [`plan`], and from `writing` the whole fragments written so far. A segment may have been
/// finished (and indexed) since it was looked up: then its row is used, not it twice.
pub async fn plan_with(
    files: &SegmentFiles,
    camera_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    writing: Vec<Writing>,
) -> Result<Option<PlannedClip>, PlanError> {
    let segments = files
        .store()
        .recording_segments(camera_id, MAIN, from, to)
        .await?;
    let writing: Vec<Writing> = writing
        .into_iter()
        .filter(|w| w.start < to && w.end.is_none_or(|end| end > from))
        .filter(|w| !segments.iter().any(|s| s.id == w.id))
        .collect();
    if segments.is_empty() && writing.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = segments.iter().map(|s| s.id.clone()).collect();
    let paths = files.resolve(&ids).await?;
    let segments: Vec<Segment> = segments
        .into_iter()
        .filter(|s| paths.contains_key(&s.id))
        .collect();
    let mut sources: Vec<ClipSegment> = segments
        .iter()
        .map(|s| ClipSegment {
            path: paths[&s.id].clone(),
            start: s.start.into(),
        })
        .chain(writing.into_iter().map(|w| ClipSegment {
            path: w.path,
            start: w.start.into(),
        }))
        .collect();
    sources.sort_by_key(|s| s.start);
    let planned = tokio::task::spawn_blocking(move || plan_clip(&sources, from.into(), to.into()))
        .await
        .map_err(|e| PlanError::Task(e.to_string()))?;
    match planned {
        Ok(plan) => Ok(Some(PlannedClip { plan, segments })),
        Err(ClipError::NoFrames) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
