//! A sample-file directory's writer: one thread per directory (per disk),
//! which owns every segment open there.
//!
//! It wakes every `drain_interval` (or at once for a control message),
//! appends what queued up to each stream's segment, and every
//! `sync_interval` syncs every open segment. A segment ends at the first
//! keyframe after `segment_duration`, at a gap (dropped frames, a new camera
//! session), on new parameters or mode, or after `idle_timeout` without
//! frames; once its file is synced it goes to the directory's indexer
//! (`indexer.rs`), which adds its row on a thread of its own, so that a slow
//! database never holds up the writing.
//!
//! A failed write (a full disk) never panics and never reaches the live
//! path: the segment is truncated back to its last whole fragment and
//! finished, every other segment of the directory is finished, and the
//! directory stops (its taps drop frames, counted) until space is back above
//! `min_free_bytes` (checked every `space_check_interval`) and the hub has
//! not held it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::config::RecordingConfig;
use super::dir::{sync_dir, SampleDir};
use super::indexer::Indexer;
use super::queue::{Message, QueuedFrame, StreamKey};
use super::segment::{IoCounts, NextFrame, SegmentWriter};
use super::status::{add, lock, DirShared, StopReason};

/// Free space that must come back above `min_free_bytes` before a directory
/// stopped for space resumes, so that it does not flap at the limit: a
/// sixteenth of the floor (64 MiB of the default 1 GiB) plus 1 MiB, but no
/// more than an eighth of the whole file system (a small one must resume too).
fn resume_margin(min_free_bytes: u64, total_bytes: u64) -> u64 {
    (min_free_bytes / 16 + (1 << 20)).min(total_bytes / 8)
}

struct Stream {
    segment: Option<SegmentWriter>,
    last_frame: Instant,
}

pub(crate) struct DirWriter {
    shared: Arc<DirShared>,
    dir: Arc<SampleDir>,
    indexer: Indexer,
    config: Arc<RecordingConfig>,
    min_free_bytes: u64,
    streams: HashMap<Arc<StreamKey>, Stream>,
    /// Where each stream's last finished segment ends: its next segment starts no earlier.
    /// After a gap (a new session, the stream closed) a segment ends where its video does, and
    /// the next one's first frame may have arrived before that when the earlier frames came
    /// late and caught up (a session's first keyframe often does): the rows would overlap.
    last_ends: HashMap<Arc<StreamKey>, SystemTime>,
    /// Directories whose entries are known to be on disk.
    synced_dirs: HashSet<PathBuf>,
    stopped: Option<StopReason>,
    next_sync: Instant,
    next_space_check: Instant,
    /// A fragment was written since the open segments' progress was last published.
    progressed: bool,
    /// When it was last published for that: a timeline's "recorded up to" trails the file by
    /// at most about a fragment and this, never by the sync interval.
    last_progress: Instant,
}

/// How often the open segments' progress is published for written fragments alone (a
/// segment's start and end are published at once).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

impl DirWriter {
    pub(crate) fn new(
        shared: Arc<DirShared>,
        dir: Arc<SampleDir>,
        indexer: Indexer,
        config: Arc<RecordingConfig>,
        min_free_bytes: u64,
    ) -> Self {
        let now = Instant::now();
        let mut synced_dirs = HashSet::new();
        synced_dirs.insert(dir.path().to_path_buf());
        Self {
            next_sync: now + config.sync_interval,
            next_space_check: now,
            shared,
            dir,
            indexer,
            config,
            min_free_bytes,
            streams: HashMap::new(),
            last_ends: HashMap::new(),
            synced_dirs,
            stopped: None,
            progressed: false,
            last_progress: now,
        }
    }

    /// Runs until [`Message::Shutdown`].
    pub(crate) fn run(mut self) {
        self.check_space();
        loop {
            let messages = self.shared.queue.take(self.config.drain_interval);
            let mut shutdown = false;
            for message in messages {
                match message {
                    Message::Frame(key, frame) => self.on_frame(key, frame),
                    Message::Close(key) => self.close_stream(&key),
                    Message::Shutdown => shutdown = true,
                }
            }
            if shutdown {
                let keys: Vec<_> = self.streams.keys().cloned().collect();
                for key in keys {
                    self.close_stream(&key);
                }
                self.publish_open();
                // The rows of what was just finished go in before the recorder says it is done
                // (or are left to the next start-up if the index does not answer in time).
                self.indexer.finish(self.config.shutdown_index_wait);
                return;
            }
            let now = Instant::now();
            if self.progressed && now.duration_since(self.last_progress) >= PROGRESS_INTERVAL {
                self.publish_open();
            }
            self.close_idle(now);
            if now >= self.next_sync {
                self.sync_all();
                self.publish_open();
                self.next_sync = now + self.config.sync_interval;
            }
            self.apply_hold();
            if self.stopped.is_some() && now >= self.next_space_check {
                self.check_space();
            }
        }
    }

    fn count(&self, counts: IoCounts) {
        add(&self.shared.counters.bytes_written, counts.bytes);
        add(&self.shared.counters.fsyncs, counts.fsyncs);
        add(&self.shared.counters.media_bytes, counts.media);
    }

    fn on_frame(&mut self, key: Arc<StreamKey>, frame: QueuedFrame) {
        if self.stopped.is_some() {
            add(&self.shared.counters.dropped_stopped, 1);
            return;
        }
        let stream = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            segment: None,
            last_frame: Instant::now(),
        });
        stream.last_frame = Instant::now();
        let mut segment = stream.segment.take();
        if let Some(open) = &segment {
            let long_enough =
                frame.is_keyframe && open.age_at(frame.decode_time) >= self.config.segment_duration;
            if open.must_end_before(&frame) || long_enough {
                // After a gap or a hole the next frame says nothing about this one's duration
                // or end.
                let next = (!frame.after_gap && !frame.after_hole).then_some(NextFrame {
                    decode_time: frame.decode_time,
                    wall: frame.wall,
                });
                if let Some(open) = segment.take() {
                    self.finish(open, next, true);
                }
                if self.stopped.is_some() {
                    add(&self.shared.counters.dropped_stopped, 1);
                    return;
                }
            }
        }
        let started = segment.is_none();
        let mut segment = match segment {
            Some(segment) => segment,
            None => {
                // Frames before a keyframe cannot start a file; the tap
                // sends none, but a stream closed meanwhile may.
                if !frame.is_keyframe {
                    return;
                }
                match self.start_segment(&key, &frame) {
                    Some(segment) => segment,
                    None => return,
                }
            }
        };
        match segment.push(frame) {
            Ok(counts) => {
                self.progressed |= counts.bytes > 0;
                self.count(counts);
                if let Some(stream) = self.streams.get_mut(&key) {
                    stream.segment = Some(segment);
                }
                if started {
                    // Playback finds the new segment at once, not at the next sync round.
                    self.publish_open();
                }
            }
            Err(e) => {
                add(&self.shared.counters.dropped_write_error, 1);
                self.finish(segment, None, false);
                self.io_failed(&e);
            }
        }
    }

    /// Opens a new segment for the stream, unless space is short.
    fn start_segment(
        &mut self,
        key: &Arc<StreamKey>,
        first: &QueuedFrame,
    ) -> Option<SegmentWriter> {
        match self.dir.free_bytes() {
            Ok(free) => {
                self.shared.set_free_bytes(Some(free));
                if free < self.min_free_bytes {
                    add(&self.shared.counters.dropped_stopped, 1);
                    self.stop(
                        StopReason::LowSpace,
                        format!(
                            "{} bytes free, under min_free_bytes = {}",
                            free, self.min_free_bytes
                        ),
                    );
                    return None;
                }
            }
            Err(e) => tracing::warn!(dir = %self.dir.path().display(), "free space unknown: {e}"),
        }
        let created = SegmentWriter::create(
            self.dir.id(),
            self.dir.path(),
            key,
            first,
            self.last_ends.get(key).copied(),
            (self.config.fragment_duration, self.config.direct_io),
        );
        let (segment, counts) = match created {
            Ok(created) => created,
            Err(e) => {
                add(&self.shared.counters.dropped_write_error, 1);
                self.io_failed(&e);
                return None;
            }
        };
        self.count(counts);
        if let Err(e) = self.sync_new_dirs(segment.relative_path()) {
            tracing::warn!(dir = %self.dir.path().display(), "syncing new directories: {e}");
        }
        Some(segment)
    }

    /// The first segment of a stream in this process may have created its
    /// camera's and stream's directories: their entries are synced once.
    fn sync_new_dirs(&mut self, relative: &str) -> io::Result<()> {
        let mut path = self.dir.path().to_path_buf();
        let mut parents = Vec::new();
        let components: Vec<&str> = relative.split('/').collect();
        for part in &components[..components.len().saturating_sub(1)] {
            parents.push(path.clone());
            path.push(part);
            if !self.synced_dirs.contains(&path) {
                // The new directory's own entry lives in its parent.
                sync_dir(parents.last().unwrap_or(&path))?;
                add(&self.shared.counters.fsyncs, 1);
                self.synced_dirs.insert(path.clone());
            }
        }
        Ok(())
    }

    /// Finishes a segment and hands it to the indexer: the file is synced first.
    fn finish(&mut self, segment: SegmentWriter, next: Option<NextFrame>, write_pending: bool) {
        let key = segment.key().clone();
        let finished = segment.finish(next, write_pending);
        self.count(finished.counts);
        if let Some(record) = finished.record {
            self.last_ends.insert(key, record.end);
            add(&self.shared.counters.segments_finished, 1);
            add(&self.shared.counters.frames_written, record.frames);
            // Listed as unindexed before `publish_open` below stops listing it as open.
            self.indexer.add(record);
        }
        if let Some(e) = finished.error {
            self.io_failed(&e);
        }
        // Playback learns at once that the segment has ended (and its last fragment is in).
        self.publish_open();
    }

    fn close_stream(&mut self, key: &Arc<StreamKey>) {
        if let Some(segment) = self.streams.remove(key).and_then(|s| s.segment) {
            self.finish(segment, None, true);
        }
    }

    fn close_idle(&mut self, now: Instant) {
        let idle: Vec<Arc<StreamKey>> = self
            .streams
            .iter()
            .filter(|(_, s)| now.duration_since(s.last_frame) >= self.config.idle_timeout)
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            self.close_stream(&key);
        }
    }

    fn sync_all(&mut self) {
        let mut failed = None;
        let mut counts = IoCounts::default();
        for stream in self.streams.values_mut() {
            if let Some(segment) = &mut stream.segment {
                match segment.sync() {
                    Ok(c) => counts += c,
                    Err(e) => failed = Some(e),
                }
            }
        }
        self.count(counts);
        if let Some(e) = failed {
            self.io_failed(&e);
        }
    }

    fn publish_open(&mut self) {
        self.progressed = false;
        self.last_progress = Instant::now();
        let open = self
            .streams
            .values()
            .filter_map(|s| s.segment.as_ref().map(SegmentWriter::progress))
            .collect();
        *lock(&self.shared.open_segments) = open;
    }

    fn io_failed(&mut self, e: &io::Error) {
        let full = matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
        let reason = if full {
            StopReason::DiskFull
        } else {
            StopReason::IoError
        };
        tracing::error!(dir = %self.dir.path().display(), "recording stopped: {e}");
        self.stop(reason, e.to_string());
    }

    /// Stops the directory: finishes every open segment (what is whole is
    /// kept and indexed) and refuses frames until [`Self::check_space`]
    /// resumes it.
    fn stop(&mut self, reason: StopReason, detail: String) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(reason);
        self.shared.set_stopped(Some((reason, detail)));
        self.next_space_check = Instant::now() + self.config.space_check_interval;
        let open: Vec<SegmentWriter> = self
            .streams
            .values_mut()
            .filter_map(|s| s.segment.take())
            .collect();
        for segment in open {
            // A full disk may refuse the last fragment too; what is whole stays.
            self.finish(segment, None, reason != StopReason::DiskFull);
        }
        self.publish_open();
    }

    fn apply_hold(&mut self) {
        let hold = lock(&self.shared.hold).clone();
        match (hold, self.stopped) {
            (Some(reason), None) => self.stop(StopReason::Held, reason),
            (None, Some(StopReason::Held)) => self.check_space(),
            _ => {}
        }
    }

    /// Resumes a stopped directory once space is back and no hold is set.
    fn check_space(&mut self) {
        self.next_space_check = Instant::now() + self.config.space_check_interval;
        let space = self.dir.space().ok();
        let free = space.map(|s| s.free);
        self.shared.set_free_bytes(free);
        if lock(&self.shared.hold).is_some() {
            return;
        }
        let Some(reason) = self.stopped else { return };
        let needed = match reason {
            StopReason::Held => self.min_free_bytes,
            _ => self.min_free_bytes.saturating_add(resume_margin(
                self.min_free_bytes,
                space.map_or(0, |s| s.total),
            )),
        };
        if free.is_some_and(|f| f >= needed) {
            tracing::info!(dir = %self.dir.path().display(), "recording resumes");
            self.stopped = None;
            self.shared.set_stopped(None);
        }
    }
}
