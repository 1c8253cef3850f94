//! A directory's indexer: the thread that adds finished segments' rows to the index.
//!
//! The writer used to add each row itself, between two segments. A database that answers
//! slowly or not at all (a PostgreSQL failover, a long lock) then held the writer, whose
//! queue holds a few seconds of video (about 2.5 s of 200 cameras at 4 Mbit/s): beyond that
//! every camera of the directory dropped frames, and no segment was synced meanwhile. Now the
//! writer hands each finished, synced segment over here and goes on writing; the rows follow
//! as fast as the index takes them.
//!
//! # What holds
//!
//! * File data before the row: a segment is handed over only once its file is synced.
//! * Nothing is invisible meanwhile: a segment is listed as unindexed
//!   ([`DirShared::unindexed`]) before the writer stops listing it as open, and leaves that
//!   list only once its row is in (or it was set aside), so playback and the timeline always
//!   find it in one place or the other.
//! * Rows go in in the order their segments finished. A failed insert is retried, oldest
//!   first, after a pause that doubles up to [`MAX_RETRY`]; one failure stops the round (an
//!   index that failed one row would fail the rest). Inserting is idempotent, so a retry
//!   after a lost answer is harmless.
//! * A crash before a row is in leaves a file without a row: start-up repair indexes it.
//!   At shutdown every waiting row is tried once more, for a bounded time (an index that
//!   hangs must not hang the hub's stop); what still fails or waits is left to repair.

use std::collections::VecDeque;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::dir::SampleDir;
use super::index::{Inserted, SegmentIndex, SegmentRecord};
use super::status::{add, lock, DirShared};

/// The first pause after a failed insert.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest pause between retries.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How often shutdown looks whether the last rows went in.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);

/// The writer's end: hands segments over, and at shutdown waits for the rows.
pub(crate) struct Indexer {
    shared: Arc<DirShared>,
    sender: Option<mpsc::Sender<SegmentRecord>>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    /// Starts the thread `name`.
    pub(crate) fn start(
        name: String,
        shared: Arc<DirShared>,
        dir: Arc<SampleDir>,
        index: Arc<dyn SegmentIndex>,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let rows = Rows {
            shared: shared.clone(),
            dir,
            index,
            waiting: VecDeque::new(),
        };
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || rows.run(receiver))?;
        Ok(Self {
            shared,
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Hands a finished, synced segment over for its row. It is listed as unindexed first.
    pub(crate) fn add(&self, record: SegmentRecord) {
        lock(&self.shared.unindexed).push(record.clone());
        let sent = self.sender.as_ref().is_some_and(|s| s.send(record).is_ok());
        if !sent {
            tracing::error!("the recorder's index thread is gone: the next start-up indexes");
        }
    }

    /// Stops taking segments and waits until every row is in or was tried a last time, or
    /// until `wait` has passed: then the thread is left to finish on its own (or end with the
    /// process), and the next start-up's repair indexes the segments from their synced files.
    pub(crate) fn finish(mut self, wait: Duration) {
        self.sender.take();
        let Some(thread) = self.thread.take() else {
            return;
        };
        let until = Instant::now() + wait;
        while !thread.is_finished() {
            if Instant::now() >= until {
                let waiting = lock(&self.shared.unindexed).len();
                tracing::warn!(
                    rows = waiting, waited = ?wait,
                    "the index did not answer at shutdown: the next start-up indexes the \
                     segments still waiting for their rows"
                );
                return;
            }
            std::thread::sleep(SHUTDOWN_POLL);
        }
        let _ = thread.join();
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        // Dropped without `finish` (a panic on the writer): the thread ends on its own.
        self.sender.take();
    }
}

/// The thread's side.
struct Rows {
    shared: Arc<DirShared>,
    dir: Arc<SampleDir>,
    index: Arc<dyn SegmentIndex>,
    /// Segments waiting for their row, oldest first, and whether an insert of it failed.
    waiting: VecDeque<(SegmentRecord, bool)>,
}

impl Rows {
    fn run(mut self, receiver: mpsc::Receiver<SegmentRecord>) {
        let mut retry = FIRST_RETRY;
        let mut retry_at: Option<Instant> = None;
        loop {
            let received = match retry_at {
                None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => receiver.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match received {
                Ok(record) => {
                    self.waiting.push_back((record, false));
                    // Whatever else came meanwhile goes in the same round.
                    while let Ok(record) = receiver.try_recv() {
                        self.waiting.push_back((record, false));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.insert_waiting();
                    if let Some((first, _)) = self.waiting.front() {
                        tracing::warn!(
                            rows = self.waiting.len(), first = %first.path,
                            "segments not indexed at shutdown: the next start-up indexes them"
                        );
                    }
                    return;
                }
            }
            if retry_at.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            if self.insert_waiting() {
                retry = FIRST_RETRY;
                retry_at = None;
            } else {
                retry_at = Some(Instant::now() + retry);
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }

    /// Adds the waiting rows, oldest first, up to the first that fails; whether all went in.
    fn insert_waiting(&mut self) -> bool {
        while let Some((record, failed_before)) = self.waiting.front_mut() {
            match self.index.insert(record) {
                Ok(Inserted::Indexed) => {}
                Ok(Inserted::Fenced) => set_aside(&self.shared, &self.dir, record),
                Err(e) => {
                    if !*failed_before {
                        *failed_before = true;
                        add(&self.shared.counters.index_failures, 1);
                        tracing::warn!(path = %record.path, "segment not indexed yet: {e}");
                    }
                    return false;
                }
            }
            let id = record.id.clone();
            self.waiting.pop_front();
            lock(&self.shared.unindexed).retain(|r| r.id != id);
        }
        true
    }
}

/// A segment the index refused for good (its camera was taken over by another worker before it
/// ended): renamed out of repair's way rather than retried, and counted.
fn set_aside(shared: &DirShared, dir: &SampleDir, record: &SegmentRecord) {
    add(&shared.counters.segments_fenced, 1);
    match dir.set_aside_fenced(&record.path) {
        Ok(to) => tracing::warn!(
            camera = %record.camera_id, file = %to.display(),
            "segment not indexed: the camera was taken over by another worker before it \
             ended; set aside"
        ),
        Err(e) => tracing::error!(
            camera = %record.camera_id, path = %record.path, error = %e,
            "segment not indexed (the camera was taken over before it ended), and could \
             not be set aside: the next start-up's repair may index it"
        ),
    }
}
