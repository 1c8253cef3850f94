//! One segment being written: a fragmented MP4 file that starts with an
//! init segment and grows by one fragment at a time.
//!
//! # What reaches the disk when
//!
//! * A fragment is written (`pwrite`) whole, when the next keyframe, a
//!   fragment's worth of frames or the segment's end comes; what was written
//!   survives a crash of the process (it is in the page cache, or on the
//!   disk already when written directly: [`super::direct`]).
//! * [`SegmentWriter::sync`] (every `sync_interval`) flushes the file's data
//!   and size (`fdatasync`) and, the first time, its directory entry
//!   (`fsync` of the directory), so a power cut keeps it too.
//! * [`SegmentWriter::finish`] writes the last fragment and syncs; only
//!   then does the caller add the segment's row to the index. The index
//!   never names a file whose data may not be on disk; a file without a row
//!   (a crash before the row) is indexed by the next start-up's repair.
//! * A write that fails (a full disk) is undone by truncating the file back
//!   to its last whole fragment, so the file stays playable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::fmp4::run::{fragment_head, RunSample};
use crate::fmp4::{init_segment, VideoParams, TIMESCALE};

use super::config::RecordMode;
use super::dir::{from_ms, ms_since_epoch, new_id, sync_dir, SegmentName};
use super::direct::DirectWriter;
use super::index::{Hole, SegmentRecord};
use super::queue::{QueuedFrame, StreamKey};

/// Largest fragment gathered before it is written, whatever its duration.
const MAX_FRAGMENT_BYTES: usize = 8 << 20;

/// I/O counts of one write or sync, for the directory's statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IoCounts {
    pub bytes: u64,
    pub fsyncs: u64,
    /// Of `bytes`, the frames' own (the rest is MP4 boxes).
    pub media: u64,
}

impl std::ops::AddAssign for IoCounts {
    fn add_assign(&mut self, o: Self) {
        self.bytes += o.bytes;
        self.fsyncs += o.fsyncs;
        self.media += o.media;
    }
}

/// An open segment file.
pub(crate) struct SegmentWriter {
    id: String,
    key: Arc<StreamKey>,
    mode: RecordMode,
    dir_id: String,
    relative: String,
    path: PathBuf,
    file: File,
    /// `Some` when the file is written around the page cache ([`super::direct`]).
    direct: Option<DirectWriter>,
    hasher: Sha256,
    /// Bytes in the file, all of them whole boxes.
    written: u64,
    synced: u64,
    dir_entry_synced: bool,
    params: Arc<VideoParams>,
    start: SystemTime,
    first_decode: u64,
    /// Decode time at the end of the last written sample.
    media_end: u64,
    frames: u64,
    sequence: u32,
    pending: Vec<QueuedFrame>,
    pending_bytes: usize,
    fragment_duration: u64,
    /// Frames lost inside the segment, as `(from, to)` ticks from its first frame.
    holes: Vec<(u64, u64)>,
}

impl SegmentWriter {
    /// Creates the file for a segment starting with `first` (a keyframe)
    /// and writes its init segment. It starts when `first` arrived, or at
    /// `not_before` (where the stream's last segment ended) if that is later:
    /// a stream's segments never overlap. `direct_io`: written around the page cache where
    /// the file system can ([`super::direct`]).
    pub(crate) fn create(
        dir_id: &str,
        dir_path: &Path,
        key: &Arc<StreamKey>,
        first: &QueuedFrame,
        not_before: Option<SystemTime>,
        (fragment_duration, direct_io): (Duration, bool),
    ) -> io::Result<(Self, IoCounts)> {
        // To the millisecond (as the name has it), rounded up from `not_before`.
        let earliest = not_before.map_or(0, |t| ms_since_epoch(t + Duration::from_nanos(999_999)));
        let mut name = SegmentName {
            camera_id: key.camera_id.to_string(),
            stream: key.quality,
            start_ms: ms_since_epoch(first.wall).max(earliest),
            mode: first.mode,
        };
        // A name is taken only if two segments of a stream start in the same
        // millisecond: move on by one.
        let (file, relative, path) = loop {
            let relative = name.relative_path();
            let path = dir_path.join(&relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (file, relative, path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => name.start_ms += 1,
                Err(e) => return Err(e),
            }
        };
        let direct = match direct_io {
            true => DirectWriter::enable(&file).or_else(|| {
                warn_not_direct(&path);
                None
            }),
            false => None,
        };
        let mut segment = Self {
            id: new_id(),
            key: key.clone(),
            mode: first.mode,
            dir_id: dir_id.to_string(),
            relative,
            path,
            direct,
            file,
            hasher: Sha256::new(),
            written: 0,
            synced: 0,
            dir_entry_synced: false,
            params: first.params.clone(),
            // To the millisecond, as the file name (and the index) has it.
            start: from_ms(name.start_ms),
            first_decode: first.decode_time,
            media_end: first.decode_time,
            frames: 0,
            sequence: 1,
            pending: Vec::new(),
            pending_bytes: 0,
            fragment_duration: duration_ticks(fragment_duration),
            holes: Vec::new(),
        };
        let init = init_segment(&first.params);
        if let Err(e) = segment.write(&[&init]) {
            let _ = fs::remove_file(&segment.path);
            return Err(e);
        }
        Ok((
            segment,
            IoCounts {
                bytes: init.len() as u64,
                ..IoCounts::default()
            },
        ))
    }

    pub(crate) fn key(&self) -> &Arc<StreamKey> {
        &self.key
    }

    pub(crate) fn relative_path(&self) -> &str {
        &self.relative
    }

    /// Whether `frame` cannot go into this segment: other parameters (a
    /// new init segment is due) or another mode.
    pub(crate) fn must_end_before(&self, frame: &QueuedFrame) -> bool {
        frame.after_gap
            || frame.mode != self.mode
            || (!Arc::ptr_eq(&frame.params, &self.params) && *frame.params != *self.params)
    }

    /// Video from the segment's first frame up to `decode_time`.
    pub(crate) fn age_at(&self, decode_time: u64) -> Duration {
        ticks_duration(decode_time.saturating_sub(self.first_decode))
    }

    /// Closes the stretch before a hole: frames were lost and `keyframe`, the first frame
    /// after them, comes next. What was gathered is written as a fragment whose last frame
    /// lasts its own estimated duration (not up to the keyframe, which would freeze it across
    /// the hole); the keyframe's fragment then starts at its own decode time, and the jump
    /// between the two is the hole, listed in the row.
    fn skip_hole(&mut self, keyframe: &QueuedFrame) -> io::Result<IoCounts> {
        let counts = self.flush(None)?;
        let (from, to) = (
            self.media_end.saturating_sub(self.first_decode),
            keyframe.decode_time.saturating_sub(self.first_decode),
        );
        if to > from {
            self.holes.push((from, to));
        }
        Ok(counts)
    }

    /// Adds a frame; writes the gathered fragment first when this frame
    /// starts a new one (a keyframe, or a fragment's worth gathered).
    pub(crate) fn push(&mut self, frame: QueuedFrame) -> io::Result<IoCounts> {
        let mut counts = IoCounts::default();
        if frame.after_hole && (self.frames > 0 || !self.pending.is_empty()) {
            counts = self.skip_hole(&frame)?;
        }
        if let Some(first) = self.pending.first() {
            let full = frame.is_keyframe
                || frame.decode_time.saturating_sub(first.decode_time) >= self.fragment_duration
                || self.pending_bytes >= MAX_FRAGMENT_BYTES;
            if full {
                counts = self.flush(Some(frame.decode_time))?;
            }
        }
        self.pending_bytes += frame.data.len();
        self.pending.push(frame);
        Ok(counts)
    }

    /// Writes the gathered frames as one fragment. The last one's duration
    /// runs to `next_decode` (the next frame), or is the live path's
    /// estimate when there is none. On failure the frames are lost and the
    /// file is back at its last whole fragment.
    pub(crate) fn flush(&mut self, next_decode: Option<u64>) -> io::Result<IoCounts> {
        if self.pending.is_empty() {
            return Ok(IoCounts::default());
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let samples: Vec<RunSample<'_>> = pending
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let next = pending.get(i + 1).map(|n| n.decode_time).or(next_decode);
                let duration = next.map_or(f.duration_hint, |n| {
                    u32::try_from(n.saturating_sub(f.decode_time)).unwrap_or(u32::MAX)
                });
                RunSample {
                    data: &f.data,
                    duration: duration.max(1),
                    is_keyframe: f.is_keyframe,
                }
            })
            .collect();
        let first = &pending[0];
        let head = fragment_head(
            self.sequence,
            first.decode_time.saturating_sub(self.first_decode),
            &samples,
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut parts = Vec::with_capacity(1 + samples.len());
        parts.push(&head[..]);
        parts.extend(samples.iter().map(|s| s.data));
        let bytes = self.write(&parts)?;
        let last = samples.last().map_or(0, |s| u64::from(s.duration));
        self.media_end = pending[pending.len() - 1].decode_time + last;
        self.frames += samples.len() as u64;
        self.sequence = self.sequence.checked_add(1).unwrap_or(1);
        Ok(IoCounts {
            bytes,
            fsyncs: 0,
            media: bytes - head.len() as u64,
        })
    }

    /// Appends `parts` (one box, or a fragment's head and its frames) with
    /// one `writev` where it can: the frames go to the file from the buffers
    /// they arrived in, never gathered into one first (that copy was a tenth
    /// of the recording hub's CPU). Returns the bytes written.
    fn write(&mut self, parts: &[&[u8]]) -> io::Result<u64> {
        let mut written = match &mut self.direct {
            Some(direct) => direct.append(&self.file, self.written, parts),
            None => append_at(&self.file, self.written, parts),
        };
        if written
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::EINVAL))
        {
            if let Some(direct) = self.direct.take() {
                // The file system took O_DIRECT but refuses direct writes: through the cache.
                warn_not_direct(&self.path);
                direct.disable(&self.file);
                let _ = self.file.set_len(self.written);
                written = append_at(&self.file, self.written, parts);
            }
        }
        if let Err(e) = written {
            // Back to the last whole box; shrinking needs no space.
            let _ = self.file.set_len(self.written);
            return Err(e);
        }
        let mut bytes = 0;
        for part in parts {
            self.hasher.update(part);
            bytes += part.len() as u64;
        }
        self.written += bytes;
        Ok(bytes)
    }

    /// Flushes what was written to the disk, and the file's directory entry
    /// the first time; then lets the page cache drop what is now on disk.
    pub(crate) fn sync(&mut self) -> io::Result<IoCounts> {
        let mut counts = IoCounts::default();
        if self.synced < self.written {
            self.file.sync_data()?;
            if self.direct.is_none() {
                drop_cached(&self.file);
            }
            self.synced = self.written;
            counts.fsyncs += 1;
        }
        if !self.dir_entry_synced {
            if let Some(parent) = self.path.parent() {
                sync_dir(parent)?;
                counts.fsyncs += 1;
            }
            self.dir_entry_synced = true;
        }
        Ok(counts)
    }

    /// Writes the last fragment (unless `write_pending` is false: the disk
    /// failed) and syncs. The row is `None` when the segment holds no frame
    /// (its file is removed then) or could not be synced (its file is left
    /// for the next start-up's repair). `next` is the frame that follows
    /// without a gap, if one does.
    pub(crate) fn finish(mut self, next: Option<NextFrame>, write_pending: bool) -> Finished {
        let mut counts = IoCounts::default();
        let mut error = None;
        if write_pending {
            match self.flush(next.map(|n| n.decode_time)) {
                Ok(c) => counts += c,
                Err(e) => error = Some(e),
            }
        } else {
            self.pending.clear();
        }
        let record = match self.close(next.map(|n| n.wall), &mut counts) {
            Ok(record) => record,
            Err(e) => {
                error.get_or_insert(e);
                None
            }
        };
        Finished {
            record,
            error,
            counts,
        }
    }

    fn close(
        &mut self,
        next_wall: Option<SystemTime>,
        counts: &mut IoCounts,
    ) -> io::Result<Option<SegmentRecord>> {
        if self.frames == 0 {
            fs::remove_file(&self.path)?;
            return Ok(None);
        }
        if self.direct.is_some() {
            // Written a block at a time: the zeros after the content go before the last sync.
            self.file.set_len(self.written)?;
            self.synced = 0;
        }
        *counts += self.sync()?;
        let end = segment_end(
            self.start,
            self.media_end.saturating_sub(self.first_decode),
            // Where the next segment starts: its name's millisecond.
            next_wall.map(|w| from_ms(ms_since_epoch(w))),
        );
        Ok(Some(SegmentRecord {
            id: self.id.clone(),
            camera_id: self.key.camera_id.to_string(),
            stream: self.key.quality,
            mode: self.mode,
            dir_id: self.dir_id.clone(),
            path: self.relative.clone(),
            start: self.start,
            end,
            bytes: self.written,
            frames: self.frames,
            sha256: hex::encode(self.hasher.clone().finalize()),
            codec: self.params.rfc6381_codec().to_string(),
            width: self.params.width(),
            height: self.params.height(),
            holes: self.holes_until(end),
        }))
    }

    /// The holes as wall-clock times, none past `end`.
    fn holes_until(&self, end: SystemTime) -> Vec<Hole> {
        holes_at(self.start, end, &self.holes)
    }

    /// What is known of it so far, for playback of the segment in progress.
    pub(crate) fn progress(&self) -> OpenSegment {
        OpenSegment {
            id: self.id.clone(),
            camera_id: self.key.camera_id.to_string(),
            stream: self.key.quality,
            dir_id: self.dir_id.clone(),
            path: self.relative.clone(),
            start: self.start,
            written_end: self.start + ticks_duration(self.media_end - self.first_decode),
            bytes: self.written,
            holes: self.holes_until(SystemTime::now().max(self.start)),
        }
    }
}

/// The frame that follows a segment without a gap, as its finish needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NextFrame {
    /// Where the segment's last frame ends.
    pub decode_time: u64,
    /// When it arrived: where the next segment starts.
    pub wall: SystemTime,
}

/// What finishing a segment gave.
#[derive(Debug)]
pub(crate) struct Finished {
    pub record: Option<SegmentRecord>,
    /// The first write or sync that failed.
    pub error: Option<io::Error>,
    pub counts: IoCounts,
}

/// A segment being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSegment {
    pub id: String,
    pub camera_id: String,
    pub stream: crate::config::Quality,
    pub dir_id: String,
    pub path: String,
    pub start: SystemTime,
    /// The end of what is in the file (whole fragments).
    pub written_end: SystemTime,
    /// Bytes in the file, whole boxes only.
    pub bytes: u64,
    /// Frames lost so far inside it (see [`SegmentRecord::holes`]).
    pub holes: Vec<Hole>,
}

/// Asks the kernel to drop `file` from the page cache, once all of it is on disk.
///
/// Recorded video is written once and seldom read soon: kept in the page cache, a few hundred
/// cameras (100 MB/s) would push out of memory within minutes everything else there — the
/// database's pages above all — and every page the cache grows by costs the writer more to
/// fill than a page it reuses. Synced pages are clean, so dropping them writes nothing; what
/// playback reads later comes from the disk. The whole file each time (length 0: to its end),
/// so that no page straddling two syncs stays behind; pages already dropped cost nothing.
/// Advice only: an error changes nothing and is ignored.
fn drop_cached(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a file descriptor this `File` owns, with no pointers.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

/// Says, once per process, that `[recording] direct_io` could not be followed for a file
/// (its file system does not do direct I/O): recording goes on through the page cache.
fn warn_not_direct(path: &Path) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(file = %path.display(),
            "direct_io is on, but this file system does not do direct I/O: recording through the page cache");
    });
}

/// Writes all of `parts`, in order, at `offset` (the file's end).
fn append_at(mut file: &File, offset: u64, parts: &[&[u8]]) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut left = &mut slices[..];
    // `write_vectored` takes at most IOV_MAX slices a call; loop until all are written.
    while !left.is_empty() {
        match file.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn duration_ticks(d: Duration) -> u64 {
    (d.as_micros() * u128::from(TIMESCALE) / 1_000_000) as u64
}

/// Where a segment that starts at `start` with `ticks` of video ends, when the next segment of
/// its stream (if it follows without a gap) starts at `next_start`.
///
/// A segment starts when its first frame arrived, and ends that plus its video's duration. The
/// next one's first frame may have arrived a little before that (it came sooner through the
/// network than this one's first): this one then ends where the next starts, so that the rows
/// of a stream never overlap. Each start stays the arrival of a frame, so the recording's times
/// never drift from the wall clock. The writer and start-up repair both end segments here.
pub(crate) fn segment_end(
    start: SystemTime,
    ticks: u64,
    next_start: Option<SystemTime>,
) -> SystemTime {
    let end = start + ticks_duration(ticks);
    next_start.map_or(end, |next| end.min(next).max(start))
}

/// A segment's holes, `(from, to)` ticks from its `start`, as wall-clock times, none past
/// `end`. The writer and start-up repair (which finds them in the file) list them alike.
pub(crate) fn holes_at(start: SystemTime, end: SystemTime, holes: &[(u64, u64)]) -> Vec<Hole> {
    holes
        .iter()
        .map(|&(from, to)| Hole {
            from: start + ticks_duration(from),
            to: (start + ticks_duration(to)).min(end),
        })
        .filter(|h| h.from < h.to)
        .collect()
}

pub(crate) fn ticks_duration(ticks: u64) -> Duration {
    Duration::from_micros((u128::from(ticks) * 1_000_000 / u128::from(TIMESCALE)) as u64)
}
