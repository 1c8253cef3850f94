//! A sample-file directory on disk: its identity, its lock, its layout.
//!
//! Files are `<dir>/<camera>/<stream>/<start_ms>-<mode>.mp4`: a name says
//! which camera and stream, when the segment began and in which mode, so
//! that repair can index a file whose row was never written.
//!
//! The directory carries a meta file (`gridwatch-sample-dir.json`) with an ID
//! the index also holds, as Moonfire NVR does: an unmounted disk (an empty
//! mount point), a disk mounted at the wrong place, or a directory from
//! another installation is then refused instead of being taken for an empty
//! directory, whose segments repair would otherwise drop from the index.
//! The meta file is also locked (`flock`) while a recorder uses the
//! directory, so that two processes never write one directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::Quality;

use super::config::RecordMode;
use super::index::{DirRecord, SegmentIndex};
use super::RecordingError;

/// The meta file's name.
pub const META_FILE: &str = "gridwatch-sample-dir.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    id: String,
    created_at_ms: u64,
}

/// An open, locked sample-file directory.
#[derive(Debug)]
pub struct SampleDir {
    id: String,
    path: PathBuf,
    /// Holds the lock for as long as the directory is open.
    _lock: File,
}

impl SampleDir {
    /// Opens (creating if new) the directory at `path` and checks it
    /// against the index: a new directory gets an ID in both; a known one
    /// must carry the ID the index has.
    pub fn open(path: &Path, index: &dyn SegmentIndex) -> Result<Self, RecordingError> {
        let io = |e| RecordingError::io(path, e);
        fs::create_dir_all(path).map_err(io)?;
        let path = path.canonicalize().map_err(io)?;
        let shown = path.display().to_string();
        let meta_path = path.join(META_FILE);
        let meta = match fs::read(&meta_path) {
            Ok(bytes) => Some(serde_json::from_slice::<Meta>(&bytes).map_err(|e| {
                RecordingError::DirMismatch(format!("{}: unreadable meta file: {e}", shown))
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(RecordingError::io(&meta_path, e)),
        };
        let id = match meta {
            Some(meta) => {
                if index.dir(&meta.id)?.is_none() {
                    return Err(RecordingError::DirMismatch(format!(
                        "{shown} belongs to another installation (its ID {} is not in this \
                         database); move it away or point the configuration elsewhere",
                        meta.id
                    )));
                }
                meta.id
            }
            None => {
                if index.dir_at_path_has_segments(&shown)? {
                    return Err(RecordingError::DirMismatch(format!(
                        "{shown} has no {META_FILE} but the index has segments there: is its \
                         disk not mounted?"
                    )));
                }
                let meta = Meta {
                    id: new_id(),
                    created_at_ms: ms_since_epoch(SystemTime::now()),
                };
                write_meta(&path, &meta)?;
                meta.id
            }
        };
        let lock = OpenOptions::new()
            .read(true)
            .open(&meta_path)
            .map_err(|e| RecordingError::io(&meta_path, e))?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            return Err(RecordingError::DirInUse(shown));
        }
        index.put_dir(&DirRecord {
            id: id.clone(),
            path: shown,
        })?;
        Ok(Self {
            id,
            path,
            _lock: lock,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute path of a relative segment path.
    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.path.join(relative)
    }

    /// Renames a segment the index refused as fenced to `<name>.fenced`, durably: start-up
    /// repair lists only `.mp4` files, so it never indexes it, and an operator can still look
    /// at it. Returns the new path.
    pub fn set_aside_fenced(&self, relative: &str) -> io::Result<PathBuf> {
        let from = self.absolute(relative);
        let mut to = from.clone().into_os_string();
        to.push(FENCED_SUFFIX);
        let to = PathBuf::from(to);
        fs::rename(&from, &to)?;
        if let Some(parent) = to.parent() {
            sync_dir(parent)?;
        }
        Ok(to)
    }

    /// Bytes available to an unprivileged writer on the directory's file system.
    pub fn free_bytes(&self) -> io::Result<u64> {
        free_bytes(&self.path)
    }

    /// Its file system's size and free space.
    pub fn space(&self) -> io::Result<Space> {
        space(&self.path)
    }

    /// Every segment file under the directory, as relative paths.
    pub fn list_segment_files(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for camera in read_dirs(&self.path)? {
            for stream in read_dirs(&camera)? {
                for entry in fs::read_dir(&stream)? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if entry.file_type()?.is_file() && name.ends_with(".mp4") {
                        let rel = entry
                            .path()
                            .strip_prefix(&self.path)
                            .map(|p| p.to_string_lossy().into_owned());
                        if let Ok(rel) = rel {
                            out.push(rel);
                        }
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn read_dirs(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Writes the meta file atomically: a temporary file, synced, renamed over,
/// and the directory synced, so a power cut leaves the old or the new one.
fn write_meta(dir: &Path, meta: &Meta) -> Result<(), RecordingError> {
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(meta).expect("the meta file serializes");
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(META_FILE))?;
        sync_dir(dir)
    };
    write().map_err(|e| RecordingError::io(dir, e))
}

/// Appended to a segment file's name when the index refused it as fenced.
pub const FENCED_SUFFIX: &str = ".fenced";

/// Makes a directory's entries (new, renamed or removed files) durable.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Bytes available to an unprivileged writer on the file system holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    space(path).map(|s| s.free)
}

/// A file system's size and free space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Available to an unprivileged writer.
    pub free: u64,
    pub total: u64,
}

/// The size and free space of the file system holding `path`.
pub fn space(path: &Path) -> io::Result<Space> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Space {
        free: stat.f_bavail.saturating_mul(stat.f_frsize),
        total: stat.f_blocks.saturating_mul(stat.f_frsize),
    })
}

/// A random ID, 32 hex digits.
pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(crate) fn ms_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// 9999-12-31T23:59:59.999Z in milliseconds: the latest start a segment's name may have.
pub const MAX_START_MS: u64 = 253_402_300_799_999;

/// What a segment's file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentName {
    pub camera_id: String,
    pub stream: Quality,
    pub start_ms: u64,
    pub mode: RecordMode,
}

impl SegmentName {
    /// The relative path, e.g. `cam-1/main/1764144000000-continuous.mp4`.
    /// Camera IDs are escaped so that any ID makes one path component.
    pub fn relative_path(&self) -> String {
        format!(
            "{}/{}/{}-{}.mp4",
            escape(&self.camera_id),
            self.stream.as_str(),
            self.start_ms,
            self.mode.as_str()
        )
    }

    /// Reads a relative path back; `None` for a name the recorder did not make (one dated
    /// after 9999 among them).
    pub fn parse(relative: &str) -> Option<Self> {
        let mut parts = relative.split('/');
        let (camera, stream, file) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let (start, mode) = file.strip_suffix(".mp4")?.split_once('-')?;
        Some(Self {
            camera_id: unescape(camera)?,
            stream: stream.parse().ok()?,
            // Up to the end of 9999, as any time the hub shows.
            start_ms: start.parse().ok().filter(|&ms| ms <= MAX_START_MS)?,
            mode: mode.parse().ok().filter(|m: &RecordMode| m.records())?,
        })
    }
}

/// `id` as one safe path component (`%XX` for anything but letters,
/// digits, `_`, `-` and a `.` that does not lead).
pub(crate) fn escape(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('%');
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    if s == "%" {
        return Some(String::new());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::index::MemoryIndex;

    #[test]
    fn names_round_trip_any_camera_id() {
        for id in [
            "cam-1",
            "0192c3a4-aa",
            "../etc",
            "a/b",
            "",
            ".hidden",
            "摄像头 1",
        ] {
            let name = SegmentName {
                camera_id: id.into(),
                stream: Quality::Sub,
                start_ms: 1_764_144_000_123,
                mode: RecordMode::Incidents,
            };
            let rel = name.relative_path();
            assert_eq!(rel.matches('/').count(), 2, "{rel}");
            assert!(!rel.starts_with('.'), "{rel}");
            assert_eq!(SegmentName::parse(&rel), Some(name));
        }
        assert_eq!(SegmentName::parse("c/main/12-off.mp4"), None);
        assert_eq!(SegmentName::parse("c/main/x-continuous.mp4"), None);
        assert_eq!(SegmentName::parse("c/main/1-continuous.mp4/x"), None);
        // Dated past 9999 (a planted or damaged name): not the recorder's.
        assert_eq!(
            SegmentName::parse("c/main/253402300800000-continuous.mp4"),
            None
        );
        assert!(SegmentName::parse("c/main/253402300799999-continuous.mp4").is_some());
    }

    #[test]
    fn a_directory_is_known_by_its_meta_file_and_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let index = MemoryIndex::new();
        let dir = SampleDir::open(tmp.path(), &index).unwrap();
        let id = dir.id().to_string();
        assert!(index.dir(&id).unwrap().is_some());
        assert!(matches!(
            SampleDir::open(tmp.path(), &index),
            Err(RecordingError::DirInUse(_))
        ));
        drop(dir);
        assert_eq!(SampleDir::open(tmp.path(), &index).unwrap().id(), id);

        // Another installation's index does not know it.
        let other = MemoryIndex::new();
        assert!(matches!(
            SampleDir::open(tmp.path(), &other),
            Err(RecordingError::DirMismatch(_))
        ));
    }

    #[test]
    fn an_empty_mount_point_is_not_taken_for_a_new_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let index = MemoryIndex::new();
        let dir = SampleDir::open(tmp.path(), &index).unwrap();
        let record = crate::recording::testing::segment_record(dir.id(), "c/main/1-continuous.mp4");
        use crate::recording::index::SegmentIndex as _;
        index.insert(&record).unwrap();
        drop(dir);
        fs::remove_file(tmp.path().join(META_FILE)).unwrap();
        let err = SampleDir::open(tmp.path(), &index).unwrap_err();
        assert!(err.to_string().contains("not mounted"), "{err}");
    }

    #[test]
    fn free_space_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(free_bytes(tmp.path()).unwrap() > 0);
    }
}
