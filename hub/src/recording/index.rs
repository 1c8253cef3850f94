//! The recorder's index, kept in the store.

use crate::workers::holdings::Holdings;
use chrono::{DateTime, Utc};
use gridwatch_core::recording::{Hole, RecordMode, Segment};
use gridwatch_ingest::recording::{
    DirRecord, IndexError, IndexedFile, Inserted, RecordMode as IngestMode, SegmentIndex,
    SegmentRecord,
};
use gridwatch_store::{Inserted as StoreInserted, SegmentFence, Store};
use std::sync::Arc;
use tokio::runtime::Handle;

/// [`SegmentIndex`] over the store. The recorder calls it from its own threads (never from an
/// async task), so each call blocks on the store's query on the runtime it was made on.
#[derive(Clone)]
pub struct StoreIndex {
    store: Store,
    runtime: Handle,
    /// `None` on the in-process hub: its directories have no node, its segments no fence.
    worker: Option<WorkerFence>,
}

/// An ingest worker's side of the index: its directories are its own (two workers may use the
/// same path on different machines), and its segments are fenced by the lease they were
/// recorded under.
#[derive(Clone)]
struct WorkerFence {
    id: String,
    holdings: Arc<Holdings>,
}

impl StoreIndex {
    /// The in-process hub's index on `store`, whose queries run on the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            runtime: Handle::current(),
            worker: None,
        }
    }

    /// Ingest worker `worker_id`'s index: directories registered under its name, segments
    /// fenced by the epochs of the leases in `holdings` (those its cameras run under).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn for_worker(store: Store, worker_id: String, holdings: Arc<Holdings>) -> Self {
        Self {
            worker: Some(WorkerFence {
                id: worker_id,
                holdings,
            }),
            ..Self::new(store)
        }
    }

    fn node(&self) -> Option<&str> {
        self.worker.as_ref().map(|w| w.id.as_str())
    }

    fn run<T>(
        &self,
        query: impl std::future::Future<Output = Result<T, gridwatch_store::StoreError>>,
    ) -> Result<T, IndexError> {
        self.runtime
            .block_on(query)
            .map_err(|e| IndexError(e.to_string()))
    }
}

/// The row the store keeps for a segment the recorder finished.
pub fn segment_of(r: &SegmentRecord) -> Segment {
    Segment {
        id: r.id.clone(),
        camera_id: r.camera_id.clone(),
        stream: r.stream.as_str().to_string(),
        mode: match r.mode {
            IngestMode::Incidents => RecordMode::Incidents,
            IngestMode::Continuous => RecordMode::Continuous,
            IngestMode::Off => RecordMode::Off,
        },
        dir_id: r.dir_id.clone(),
        path: r.path.clone(),
        start: DateTime::<Utc>::from(r.start),
        end: DateTime::<Utc>::from(r.end),
        bytes: r.bytes,
        frames: r.frames,
        sha256: r.sha256.clone(),
        codec: r.codec.clone(),
        width: u32::from(r.width),
        height: u32::from(r.height),
        holes: holes_of(&r.holes),
    }
}

/// The recorder's holes as the store keeps them.
pub fn holes_of(holes: &[gridwatch_ingest::recording::Hole]) -> Vec<Hole> {
    holes
        .iter()
        .map(|h| Hole {
            from: DateTime::<Utc>::from(h.from),
            to: DateTime::<Utc>::from(h.to),
        })
        .collect()
}

impl SegmentIndex for StoreIndex {
    fn dir(&self, id: &str) -> Result<Option<DirRecord>, IndexError> {
        let dir = self.run(self.store.recording_dir(id))?;
        Ok(dir.map(|d| DirRecord {
            id: d.id,
            path: d.path,
        }))
    }

    fn dir_at_path_has_segments(&self, path: &str) -> Result<bool, IndexError> {
        self.run(
            self.store
                .recording_dir_at_path_has_segments(path, self.node()),
        )
    }

    fn put_dir(&self, dir: &DirRecord) -> Result<(), IndexError> {
        self.run(
            self.store
                .put_recording_dir(&dir.id, &dir.path, self.node(), Utc::now()),
        )
    }

    fn files_in_dir(&self, dir_id: &str) -> Result<Vec<IndexedFile>, IndexError> {
        let files = self.run(self.store.recording_files_in_dir(dir_id))?;
        Ok(files
            .into_iter()
            .map(|f| IndexedFile {
                id: f.id,
                path: f.path,
                bytes: f.bytes,
                deleting: f.deleting,
            })
            .collect())
    }

    fn insert(&self, segment: &SegmentRecord) -> Result<Inserted, IndexError> {
        let fence = self.worker.as_ref().and_then(|w| {
            let epoch = w.holdings.epoch_at(&segment.camera_id, segment.start)?;
            Some(SegmentFence {
                worker_id: w.id.clone(),
                epoch,
            })
        });
        let inserted = self.run(
            self.store
                .insert_recording_segment_fenced(&segment_of(segment), fence.as_ref()),
        )?;
        Ok(match inserted {
            StoreInserted::Indexed => Inserted::Indexed,
            // The recorder sets the file aside and logs it.
            StoreInserted::Fenced => Inserted::Fenced,
        })
    }

    fn mark_deleting(&self, ids: &[String]) -> Result<(), IndexError> {
        self.run(self.store.mark_recording_segments_deleting(ids))
    }

    fn remove(&self, ids: &[String]) -> Result<(), IndexError> {
        self.run(self.store.remove_recording_segments(ids))
    }
}
