//! One MP4 file from recorded segments for a time range: evidence clips and
//! downloads.
//!
//! The clip is a progressive MP4 (`ftyp`, `moov` with full sample tables,
//! `mdat`), not a fragmented one: it has a duration, seeks at once and plays
//! in browsers, VLC and ffprobe alike. Frames are copied as recorded, never
//! decoded. It starts at the last keyframe at or before `from` (so that it
//! decodes from its first frame; the manifest records the real range) and
//! ends with the last frame before `to`. A gap between segments (an outage)
//! or inside one (frames lost) becomes a longer last frame before it: the
//! picture holds, the timeline stays true to the wall clock, and the plan
//! lists each such stretch ([`ClipPlan::held`]) so that the manifest and the
//! pages can say that nothing was recorded there.
//!
//! A [`ClipPlan`] is the clip's header plus the list of byte ranges of the
//! segment files that follow it, so the same plan can be written to a file
//! or served piece by piece (an HTTP range) without building it in memory.

mod moov;

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::dir::sync_dir;
use super::scan::{scan_file, ScanError};
use super::segment::ticks_duration;
use crate::fmp4::TIMESCALE;
use moov::{ClipSample, Track};

/// A recorded segment to take frames from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipSegment {
    pub path: PathBuf,
    /// Its indexed start (wall clock of its first frame).
    pub start: SystemTime,
}

/// Why a clip could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("nothing was recorded in the range")]
    NoFrames,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ClipError + '_ {
    move |source| ClipError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A contiguous byte range of one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slice {
    source: usize,
    offset: u64,
    len: u64,
}

/// A clip, ready to be written or served.
#[derive(Debug, Clone)]
pub struct ClipPlan {
    header: Vec<u8>,
    sources: Vec<PathBuf>,
    slices: Vec<Slice>,
    len: u64,
    /// Wall-clock time of its first frame (a keyframe at or before the
    /// requested start, when there is one).
    pub from: SystemTime,
    /// The end of its last frame.
    pub to: SystemTime,
    pub frames: u64,
    /// Where the picture holds because nothing was recorded, `(from, to)` on the wall clock:
    /// from the end of a frame's own duration to the next frame (holds longer than
    /// [`HELD_AT_LEAST`] only: frames arrive with some jitter).
    pub held: Vec<(SystemTime, SystemTime)>,
}

/// The shortest hold a plan lists.
pub const HELD_AT_LEAST: Duration = Duration::from_secs(1);

/// One sample found in the sources.
struct Found {
    source: usize,
    offset: u64,
    size: u32,
    duration: u32,
    is_keyframe: bool,
    entry: u32,
    wall: SystemTime,
    /// Decode time from its segment's start.
    decode: u64,
}

/// Plans the clip of `[from, to)` from `segments` (any order; those that do
/// not overlap the range are skipped cheaply only if the caller leaves them
/// out, so pass the ones the index says overlap it).
pub fn plan_clip(
    segments: &[ClipSegment],
    from: SystemTime,
    to: SystemTime,
) -> Result<ClipPlan, ClipError> {
    let mut segments: Vec<&ClipSegment> = segments.iter().collect();
    segments.sort_by_key(|s| s.start);
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut dims = (0u16, 0u16);
    let mut found: Vec<Found> = Vec::new();
    let mut sources = Vec::new();
    for segment in segments {
        let scanned = scan_file(&segment.path).map_err(|e| match e {
            ScanError::Io(source) => ClipError::Io {
                path: segment.path.display().to_string(),
                source,
            },
            ScanError::NotASegment(reason) => ClipError::Unreadable {
                path: segment.path.display().to_string(),
                reason,
            },
        })?;
        // The sample entry: the stsd box's only child, after its 16 bytes
        // of header, version, flags and count.
        let entry_bytes = scanned.init.stsd.get(16..).unwrap_or_default().to_vec();
        let entry = match entries.iter().position(|e| *e == entry_bytes) {
            Some(i) => i,
            None => {
                entries.push(entry_bytes);
                entries.len() - 1
            }
        } as u32
            + 1;
        let source = sources.len();
        sources.push(segment.path.clone());
        for fragment in &scanned.fragments {
            let mut decode = fragment.decode_time;
            for s in &fragment.samples {
                found.push(Found {
                    source,
                    offset: s.offset,
                    size: s.size,
                    duration: s.duration,
                    is_keyframe: s.is_keyframe,
                    entry,
                    wall: segment.start + ticks_duration(decode),
                    decode,
                });
                decode += u64::from(s.duration);
            }
        }
        if dims == (0, 0) {
            dims = (scanned.init.width, scanned.init.height);
        }
    }
    // Start at the last keyframe at or before `from`, else the first after it.
    let start = found
        .iter()
        .rposition(|f| f.is_keyframe && f.wall <= from)
        .or_else(|| found.iter().position(|f| f.is_keyframe && f.wall >= from))
        .ok_or(ClipError::NoFrames)?;
    let end = found.iter().rposition(|f| f.wall < to).map_or(0, |e| e + 1);
    let chosen = found.get(start..end).unwrap_or_default();
    // Nothing in the range: all of it is before `from` (or after `to`).
    let overlaps = chosen
        .last()
        .is_some_and(|f| f.wall + ticks_duration(u64::from(f.duration)) > from);
    if !overlaps {
        return Err(ClipError::NoFrames);
    }

    let mut samples = Vec::with_capacity(chosen.len());
    let mut slices: Vec<Slice> = Vec::new();
    let mut held = Vec::new();
    let least = duration_ticks(HELD_AT_LEAST);
    for (i, f) in chosen.iter().enumerate() {
        let mut duration = f.duration;
        if let Some(next) = chosen.get(i + 1) {
            if next.source != f.source {
                // Up to the next segment's first frame, on the wall clock.
                let gap = next.wall.duration_since(f.wall).unwrap_or_default();
                duration = duration.max(duration_ticks(gap));
            } else {
                // (A damaged file's decode times may go back: the frame keeps its own.)
                duration = next
                    .decode
                    .checked_sub(f.decode)
                    .and_then(|d| u32::try_from(d).ok())
                    .unwrap_or(duration);
            }
        }
        if duration.saturating_sub(f.duration) >= least {
            held.push((
                f.wall + ticks_duration(u64::from(f.duration)),
                f.wall + ticks_duration(u64::from(duration)),
            ));
        }
        let contiguous = slices
            .last_mut()
            .filter(|s| s.source == f.source && s.offset + s.len == f.offset);
        let new_chunk = match contiguous {
            Some(slice) => {
                slice.len += u64::from(f.size);
                false
            }
            None => {
                slices.push(Slice {
                    source: f.source,
                    offset: f.offset,
                    len: u64::from(f.size),
                });
                true
            }
        };
        samples.push(ClipSample {
            size: f.size,
            duration: duration.max(1),
            is_keyframe: f.is_keyframe,
            entry: f.entry,
            new_chunk,
        });
    }
    let data_len: u64 = slices.iter().map(|s| s.len).sum();
    let track = Track {
        width: dims.0,
        height: dims.1,
        entries: &entries,
        samples: &samples,
    };
    let ftyp = moov::ftyp();
    let mdat_header = mdat_header(data_len);
    let moov_len = moov::moov(&track, 0).len() as u64;
    let data_offset = ftyp.len() as u64 + moov_len + mdat_header.len() as u64;
    let mut header = ftyp;
    header.extend_from_slice(&moov::moov(&track, data_offset));
    header.extend_from_slice(&mdat_header);
    let total: u64 = samples.iter().map(|s| u64::from(s.duration)).sum();
    let first = &chosen[0];
    Ok(ClipPlan {
        len: header.len() as u64 + data_len,
        header,
        sources,
        slices,
        from: first.wall,
        to: first.wall + ticks_duration(total),
        frames: samples.len() as u64,
        held,
    })
}

fn mdat_header(data_len: u64) -> Vec<u8> {
    match u32::try_from(data_len + 8) {
        Ok(size) => [&size.to_be_bytes()[..], b"mdat"].concat(),
        Err(_) => [
            &1u32.to_be_bytes()[..],
            b"mdat",
            &(data_len + 16).to_be_bytes(),
        ]
        .concat(),
    }
}

fn duration_ticks(d: Duration) -> u32 {
    u32::try_from(d.as_micros() * u128::from(TIMESCALE) / 1_000_000).unwrap_or(u32::MAX)
}

/// A written clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenClip {
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl ClipPlan {
    /// The clip's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Streams the clip into `out`; returns its size and SHA-256.
    pub fn write_to(&self, out: &mut impl Write) -> Result<WrittenClip, ClipError> {
        let mut hasher = Sha256::new();
        let sink = Path::new("the output");
        out.write_all(&self.header).map_err(io_error(sink))?;
        hasher.update(&self.header);
        let mut buf = vec![0u8; 1 << 20];
        let mut open: Option<(usize, File)> = None;
        for slice in &self.slices {
            let path = &self.sources[slice.source];
            if open.as_ref().is_none_or(|(i, _)| *i != slice.source) {
                open = Some((slice.source, File::open(path).map_err(io_error(path))?));
            }
            let Some((_, file)) = open.as_mut() else {
                continue;
            };
            file.seek(SeekFrom::Start(slice.offset))
                .map_err(io_error(path))?;
            let mut left = slice.len;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                file.read_exact(&mut buf[..n]).map_err(io_error(path))?;
                out.write_all(&buf[..n]).map_err(io_error(sink))?;
                hasher.update(&buf[..n]);
                left -= n as u64;
            }
        }
        Ok(WrittenClip {
            bytes: self.len,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Streams bytes `[start, end)` of the clip into `out` (an HTTP range), reading only the
    /// parts of the segment files that fall in it; `end` is clamped to the clip's size.
    /// Returns how many bytes were written.
    pub fn write_range(
        &self,
        start: u64,
        end: u64,
        out: &mut impl Write,
    ) -> Result<u64, ClipError> {
        let end = end.min(self.len);
        let sink = Path::new("the output");
        let mut written = 0u64;
        // `at` is where the current piece starts in the clip.
        let header_len = self.header.len() as u64;
        if start < header_len && start < end {
            let piece = &self.header[start as usize..end.min(header_len) as usize];
            out.write_all(piece).map_err(io_error(sink))?;
            written += piece.len() as u64;
        }
        let mut at = header_len;
        let mut buf = vec![0u8; 1 << 18];
        let mut open: Option<(usize, File)> = None;
        for slice in &self.slices {
            let (piece_from, piece_to) = (at, at + slice.len);
            at = piece_to;
            if piece_to <= start {
                continue;
            }
            if piece_from >= end {
                break;
            }
            let skip = start.saturating_sub(piece_from);
            let mut left = end.min(piece_to) - piece_from - skip;
            let path = &self.sources[slice.source];
            if open.as_ref().is_none_or(|(i, _)| *i != slice.source) {
                open = Some((slice.source, File::open(path).map_err(io_error(path))?));
            }
            let Some((_, file)) = open.as_mut() else {
                continue;
            };
            file.seek(SeekFrom::Start(slice.offset + skip))
                .map_err(io_error(path))?;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                file.read_exact(&mut buf[..n]).map_err(io_error(path))?;
                out.write_all(&buf[..n]).map_err(io_error(sink))?;
                left -= n as u64;
                written += n as u64;
            }
        }
        Ok(written)
    }

    /// Writes the clip to `path` durably: a temporary file, synced, renamed
    /// into place, the directory synced.
    pub fn write_file(&self, path: &Path) -> Result<WrittenClip, ClipError> {
        let tmp = path.with_extension("mp4.partial");
        let written = (|| {
            let mut file = io::BufWriter::new(File::create(&tmp).map_err(io_error(&tmp))?);
            let written = self.write_to(&mut file)?;
            let file = file
                .into_inner()
                .map_err(|e| io_error(&tmp)(e.into_error()))?;
            file.sync_all().map_err(io_error(&tmp))?;
            fs::rename(&tmp, path).map_err(io_error(path))?;
            if let Some(parent) = path.parent() {
                sync_dir(parent).map_err(io_error(parent))?;
            }
            Ok(written)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

#[cfg(test)]
mod tests;
