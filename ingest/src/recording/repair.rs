//! Start-up repair: make a directory and its index agree before writing.
//!
//! After a crash or a power cut the directory can hold what the index does
//! not say, and the other way round. Before its writer starts, each
//! directory is compared with its rows:
//!
//! 1. Rows marked for deletion (retention was interrupted): their files are
//!    unlinked (a missing one is fine) and the rows removed.
//! 2. Rows whose file is gone: dropped (logged and counted: this should not
//!    happen, since rows are written only after their file is synced).
//! 3. Files without a row (the segment being written at the crash, or one
//!    whose row was lost with the database's connection): read as far as
//!    they are whole; a torn last fragment is cut off (`ftruncate`, synced),
//!    a file without any whole fragment removed, and what remains indexed.
//! 4. Files whose size is not their row's: read again and re-indexed as in 3.
//!
//! Afterwards every row names a whole, playable file of the recorded size,
//! and every file has a row. Files whose names the recorder did not make are
//! left alone.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use super::dir::{from_ms, new_id, sync_dir, SampleDir, SegmentName};
use super::index::{IndexedFile, Inserted, SegmentIndex, SegmentRecord};
use super::scan::scan_file;
use super::segment::{holes_at, segment_end};
use super::RecordingError;

/// What repair did in one directory (paths relative to it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepairReport {
    pub dir: String,
    /// Rows and files looked at.
    pub rows: usize,
    pub files: usize,
    /// Interrupted deletions completed.
    pub deletions_finished: usize,
    /// Rows dropped because their file is gone.
    pub rows_dropped: Vec<String>,
    /// Files indexed that had no row.
    pub files_indexed: Vec<String>,
    /// Files whose torn end was cut off (they are also in `files_indexed`).
    pub torn_truncated: Vec<String>,
    /// Files removed because not one fragment in them was whole.
    pub empty_removed: Vec<String>,
    /// Files whose size differed from their row, re-indexed.
    pub size_mismatches: Vec<String>,
    /// Files with names the recorder does not make, left alone.
    pub foreign_files: Vec<String>,
}

impl RepairReport {
    /// Whether anything was out of order (interrupted deletions are not:
    /// they are how deletion works).
    pub fn found_damage(&self) -> bool {
        !(self.rows_dropped.is_empty()
            && self.files_indexed.is_empty()
            && self.empty_removed.is_empty()
            && self.size_mismatches.is_empty())
    }
}

/// Repairs `dir` against `index` (see the module documentation).
pub fn repair(dir: &SampleDir, index: &dyn SegmentIndex) -> Result<RepairReport, RecordingError> {
    let io = |e| RecordingError::io(dir.path(), e);
    let mut report = RepairReport {
        dir: dir.path().display().to_string(),
        ..RepairReport::default()
    };
    let rows = index.files_in_dir(dir.id())?;
    report.rows = rows.len();

    let (deleting, rows): (Vec<IndexedFile>, Vec<IndexedFile>) =
        rows.into_iter().partition(|r| r.deleting);
    if !deleting.is_empty() {
        for row in &deleting {
            remove_if_present(&dir.absolute(&row.path)).map_err(io)?;
        }
        sync_parents(dir, deleting.iter().map(|r| r.path.as_str())).map_err(io)?;
        index.remove(&deleting.iter().map(|r| r.id.clone()).collect::<Vec<_>>())?;
        report.deletions_finished = deleting.len();
    }

    let files = dir.list_segment_files().map_err(io)?;
    report.files = files.len();
    let mut by_path: HashMap<&str, &IndexedFile> =
        rows.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut to_index = Vec::new();
    for file in &files {
        match by_path.remove(file.as_str()) {
            None => to_index.push(file.clone()),
            Some(row) => {
                let len = fs::metadata(dir.absolute(file)).map_err(io)?.len();
                if len != row.bytes {
                    tracing::warn!(
                        file = %file, row_bytes = row.bytes, file_bytes = len,
                        "segment size differs from its row; re-indexing it"
                    );
                    index.remove(std::slice::from_ref(&row.id))?;
                    report.size_mismatches.push(file.clone());
                    to_index.push(file.clone());
                }
            }
        }
    }

    // Rows left over have no file.
    let mut gone: Vec<&IndexedFile> = by_path.into_values().collect();
    gone.sort_by(|a, b| a.path.cmp(&b.path));
    if !gone.is_empty() {
        for row in &gone {
            tracing::warn!(file = %row.path, "indexed segment missing on disk; dropping its row");
        }
        index.remove(&gone.iter().map(|r| r.id.clone()).collect::<Vec<_>>())?;
        report.rows_dropped = gone.iter().map(|r| r.path.clone()).collect();
    }

    // Only when something is to be indexed: most start-ups have nothing, and a directory may
    // hold millions of files.
    let next_starts = if to_index.is_empty() {
        HashMap::new()
    } else {
        next_starts(&files)
    };
    for file in to_index {
        let next_start = next_starts.get(file.as_str()).copied();
        index_file(dir, index, &file, next_start, &mut report)?;
    }
    if !report.empty_removed.is_empty() {
        sync_parents(dir, report.empty_removed.iter().map(String::as_str)).map_err(io)?;
    }
    if report.found_damage() {
        tracing::warn!(
            dir = %report.dir,
            rows_dropped = report.rows_dropped.len(),
            files_indexed = report.files_indexed.len(),
            torn_truncated = report.torn_truncated.len(),
            empty_removed = report.empty_removed.len(),
            size_mismatches = report.size_mismatches.len(),
            "sample-file directory repaired"
        );
    }
    Ok(report)
}

/// Where the next segment of the same stream starts, for each file that has one: a segment
/// indexed here ends there at the latest, as the writer's rows do (its first frame may have
/// arrived before this one's video ran out), so that rows never overlap.
fn next_starts(files: &[String]) -> HashMap<&str, SystemTime> {
    let mut named: Vec<(&str, SegmentName)> = files
        .iter()
        .filter_map(|f| Some((f.as_str(), SegmentName::parse(f)?)))
        .collect();
    named.sort_by(|(_, a), (_, b)| {
        (&a.camera_id, a.stream.as_str(), a.start_ms).cmp(&(
            &b.camera_id,
            b.stream.as_str(),
            b.start_ms,
        ))
    });
    named
        .windows(2)
        .filter(|w| w[0].1.camera_id == w[1].1.camera_id && w[0].1.stream == w[1].1.stream)
        .map(|w| (w[0].0, from_ms(w[1].1.start_ms)))
        .collect()
}

/// Indexes a file that has no (right) row, cutting off a torn end; it ends at `next_start` at
/// the latest (see [`next_starts`]).
fn index_file(
    dir: &SampleDir,
    index: &dyn SegmentIndex,
    relative: &str,
    next_start: Option<SystemTime>,
    report: &mut RepairReport,
) -> Result<(), RecordingError> {
    let Some(name) = SegmentName::parse(relative) else {
        tracing::warn!(file = %relative, "not a segment the recorder made; left alone");
        report.foreign_files.push(relative.to_string());
        return Ok(());
    };
    let path = dir.absolute(relative);
    let io = |e| RecordingError::io(&path, e);
    let scanned = match scan_file(&path) {
        Ok(scanned) if !scanned.fragments.is_empty() => scanned,
        Ok(_) | Err(super::scan::ScanError::NotASegment(_)) => {
            tracing::warn!(file = %relative, "segment without one whole frame; removed");
            fs::remove_file(&path).map_err(io)?;
            report.empty_removed.push(relative.to_string());
            return Ok(());
        }
        Err(super::scan::ScanError::Io(e)) => return Err(io(e)),
    };
    if scanned.is_torn() {
        tracing::warn!(
            file = %relative, valid = scanned.valid_len, size = scanned.file_len,
            "torn segment; cutting it back to its last whole fragment"
        );
        let file = fs::OpenOptions::new().write(true).open(&path).map_err(io)?;
        file.set_len(scanned.valid_len).map_err(io)?;
        file.sync_all().map_err(io)?;
        report.torn_truncated.push(relative.to_string());
    }
    let start = from_ms(name.start_ms);
    let end = segment_end(start, scanned.duration(), next_start);
    let inserted = index.insert(&SegmentRecord {
        id: new_id(),
        camera_id: name.camera_id,
        stream: name.stream,
        mode: name.mode,
        dir_id: dir.id().to_string(),
        path: relative.to_string(),
        start,
        end,
        bytes: scanned.valid_len,
        frames: scanned.frames(),
        sha256: scanned.sha256.clone(),
        codec: scanned.init.codec.clone(),
        width: scanned.init.width,
        height: scanned.init.height,
        holes: holes_at(start, end, &scanned.holes()),
    })?;
    if inserted == Inserted::Fenced {
        // Repair is not fenced by the hub's index; an index that does fence is obeyed.
        let to = dir.set_aside_fenced(relative).map_err(io)?;
        tracing::warn!(file = %to.display(), "segment refused by the index as fenced; set aside");
        return Ok(());
    }
    report.files_indexed.push(relative.to_string());
    Ok(())
}

pub(crate) fn remove_if_present(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Syncs the directories holding these relative paths, each once.
pub(crate) fn sync_parents<'a>(
    dir: &SampleDir,
    relatives: impl Iterator<Item = &'a str>,
) -> io::Result<usize> {
    let mut parents: Vec<_> = relatives
        .filter_map(|r| dir.absolute(r).parent().map(Path::to_path_buf))
        .collect();
    parents.sort();
    parents.dedup();
    for parent in &parents {
        match sync_dir(parent) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(parents.len())
}
