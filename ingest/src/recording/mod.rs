//! Recording: every camera's main stream written to disk as it arrives,
//! from the frames the ingest already has (no second RTSP session, no
//! transcoding), in files a browser, VLC or ffprobe can play.
//!
//! # Layout
//!
//! Each configured sample-file directory (one per disk) holds
//! `<camera>/<stream>/<start_ms>-<mode>.mp4`: fragmented MP4 segments of
//! about a minute, each starting on a keyframe with its own init segment
//! (see [`dir`]). The index of segments lives in the hub's store, reached
//! through [`SegmentIndex`]; the ingest knows nothing of the store.
//!
//! # Path of a frame
//!
//! The stream's supervisor offers each frame to its [`RecordingTap`] after
//! the live fan-out (`tap.rs`); the tap moves it into its directory's
//! bounded queue without waiting (a full queue drops frames, counted, and
//! recording resumes at the next keyframe). The directory's writer thread
//! (`writer.rs`) gathers frames into fragments and fragments into segments
//! (`segment.rs`).
//!
//! # Durability
//!
//! * A fragment is written when whole (up to `fragment_duration`, 1 s):
//!   a crash of the process loses at most that.
//! * Each open segment is synced (`fdatasync`, and its directory entry once)
//!   every `sync_interval` (5 s): a power cut loses at most that plus one
//!   fragment.
//! * A segment's row is written only after its file is synced (file data
//!   before the index row), so a row never names data that may be lost. The
//!   rows are written by a thread of their own (`indexer.rs`): a slow index
//!   delays rows, never the writing; until its row is in, a finished segment
//!   is listed by [`Recorder::unindexed`] for playback.
//! * Deleting marks the row, unlinks, syncs the directory, then removes the
//!   row ([`Recorder::delete`]).
//! * At start-up [`repair`] makes each directory and its rows agree: a torn
//!   fragment is cut off, an unindexed file indexed, a row without a file
//!   dropped, an interrupted deletion finished.
//!
//! # Space
//!
//! A directory stops (never panics, never touches live video) when a write
//! fails for lack of space or free space falls below `min_free_bytes`, and
//! when the hub's retention holds it ([`Recorder::hold`]); its status says
//! why ([`DirStatus`]) and it resumes by itself once space is back.
//!
//! [`clip`] builds one MP4 from segments for a time range (evidence,
//! downloads).

pub mod clip;
mod config;
pub mod dir;
mod direct;
pub mod fragments;
mod index;
mod indexer;
mod queue;
mod recorder;
pub mod repair;
pub mod scan;
mod segment;
mod status;
mod tap;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod writer;

use std::io;
use std::path::Path;

pub use config::{RecordMode, RecordingConfig, SampleDirConfig, UnknownRecordMode};
pub use index::{
    DirRecord, Hole, IndexError, IndexedFile, Inserted, MemoryIndex, SegmentIndex, SegmentRecord,
    SegmentRef,
};
pub use recorder::{DeleteReport, Recorder, Unindexed};
pub use repair::RepairReport;
pub use segment::OpenSegment;
pub use status::{DirStats, DirStatus, StopReason};
pub use tap::RecordingTap;

/// Why a directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The directory is not the one the index knows (see [`dir`]).
    #[error("{0}")]
    DirMismatch(String),
    /// Another process holds the directory's lock.
    #[error("{0} is in use by another process")]
    DirInUse(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl RecordingError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        RecordingError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
