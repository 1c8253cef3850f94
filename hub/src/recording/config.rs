//! `[recording]` and `[evidence]`: where sample files go, how long they are kept, and the clips
//! sealed around incidents.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gridwatch_core::recording::retention::RetentionPolicy;
use gridwatch_ingest::recording::{RecordingConfig as IngestRecording, SampleDirConfig};
use serde::{Deserialize, Serialize};

/// `[recording]`. Off while `dirs` is empty (the default, except in `gridwatch demo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Sample-file directories, one per disk. From the environment as a comma-separated list
    /// of paths (`GRIDWATCH_RECORDING__DIRS=/srv/video1,/srv/video2`), with default limits.
    pub dirs: Vec<SampleDir>,
    /// Days a recording is kept, unless its camera says otherwise (`retention_days`).
    pub retention_days: u32,
    /// Minutes a camera recorded in `incidents` mode keeps as its rolling pre-event buffer.
    pub pre_buffer_minutes: u32,
    /// Seconds of video in one segment file.
    pub segment_seconds: u64,
    /// Seconds between retention passes (also run at once when a directory stops).
    pub retention_interval_seconds: u64,
    /// Most bytes a hub keeps of segments fetched from ingest workers (for playback and
    /// evidence, `<data_dir>/cache/segments`); the oldest are evicted above it.
    pub fetched_cache_bytes: u64,
    /// Bytes of video waiting for each directory's writer before frames are dropped (counted,
    /// `reason="queue_full"`): the slack that lets a writer starved of CPU, or held up by a
    /// slow disk, catch up without cutting segments.
    pub queue_bytes: u64,
    /// Segment files written around the page cache (`O_DIRECT`) where the file system can:
    /// much less CPU in the kernel, but every write waits for the disk and the kernel no
    /// longer orders many cameras' writes — for SSDs, not for spinning disks.
    pub direct_io: bool,
}

/// One sample-file directory: a path alone, or a table with its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleDir {
    Path(PathBuf),
    Limited(LimitedDir),
}

/// A sample-file directory with its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitedDir {
    pub path: PathBuf,
    /// Most bytes its recordings may take; 0 for no limit but the disk's.
    #[serde(default)]
    pub max_bytes: u64,
    /// Free space kept on its disk (the database and logs may share it).
    #[serde(default = "default_min_free")]
    pub min_free_bytes: u64,
}

fn default_min_free() -> u64 {
    1 << 30
}

impl SampleDir {
    pub fn path(&self) -> &Path {
        match self {
            SampleDir::Path(p) => p,
            SampleDir::Limited(d) => &d.path,
        }
    }

    /// `None`: no limit but the disk's.
    pub fn max_bytes(&self) -> Option<u64> {
        match self {
            SampleDir::Limited(d) if d.max_bytes > 0 => Some(d.max_bytes),
            _ => None,
        }
    }

    pub fn min_free_bytes(&self) -> u64 {
        match self {
            SampleDir::Path(_) => default_min_free(),
            SampleDir::Limited(d) => d.min_free_bytes,
        }
    }
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            dirs: Vec::new(),
            retention_days: 30,
            pre_buffer_minutes: 5,
            segment_seconds: 60,
            retention_interval_seconds: 60,
            fetched_cache_bytes: 4 << 30,
            queue_bytes: IngestRecording::default().queue_bytes as u64,
            direct_io: false,
        }
    }
}

impl RecordingConfig {
    /// Whether anything is recorded.
    pub fn enabled(&self) -> bool {
        !self.dirs.is_empty()
    }

    /// The recorder's settings.
    pub fn ingest(&self) -> IngestRecording {
        IngestRecording {
            dirs: self
                .dirs
                .iter()
                .map(|d| SampleDirConfig {
                    path: d.path().to_path_buf(),
                    min_free_bytes: d.min_free_bytes(),
                })
                .collect(),
            segment_duration: Duration::from_secs(self.segment_seconds.max(1)),
            queue_bytes: usize::try_from(self.queue_bytes.max(1 << 20)).unwrap_or(usize::MAX),
            direct_io: self.direct_io,
            ..IngestRecording::default()
        }
    }

    /// Retention's rules, before the cameras' own days are added.
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            default_days: self.retention_days.max(1),
            camera_days: Default::default(),
            pre_buffer: chrono::Duration::minutes(i64::from(self.pre_buffer_minutes.max(1))),
        }
    }

    pub fn retention_every(&self) -> Duration {
        Duration::from_secs(self.retention_interval_seconds.max(1))
    }
}

/// `[evidence]`: the clips sealed for every incident that names cameras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// Where clips and their manifests go. Empty: `<data_dir>/evidence`, where
    /// `gridwatch evidence verify` looks by default.
    pub dir: PathBuf,
    /// Seconds before the incident was raised that its clips start.
    pub pre_seconds: u32,
    /// Seconds after it was raised that they end; the clips are sealed then.
    pub post_seconds: u32,
    /// Days an incident's recordings stay locked after it is closed.
    pub lock_days: u32,
    /// Free bytes a clip must leave on the evidence directory's disk, which is by default the
    /// data directory's, the database's too: a clip that would go below is put off (its
    /// recordings stay locked) and the duty room told, rather than filling the disk that the
    /// SOS intake writes to.
    pub min_free_bytes: u64,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            dir: PathBuf::new(),
            pre_seconds: 30,
            post_seconds: 60,
            lock_days: 90,
            min_free_bytes: 1 << 30,
        }
    }
}

impl EvidenceConfig {
    /// The evidence directory in force.
    pub fn dir_in(&self, data_dir: &Path) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            data_dir.join("evidence")
        } else {
            self.dir.clone()
        }
    }

    pub fn pre(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.pre_seconds))
    }

    pub fn post(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.post_seconds))
    }

    pub fn lock_period(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.lock_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_are_paths_or_tables() {
        let c: RecordingConfig = toml::from_str(
            "dirs = [\"/a\", { path = \"/b\", max_bytes = 1000, min_free_bytes = 5 }]",
        )
        .unwrap();
        assert!(c.enabled());
        let ingest = c.ingest();
        assert_eq!(ingest.dirs[0].path, Path::new("/a"));
        assert_eq!(ingest.dirs[0].min_free_bytes, 1 << 30);
        assert_eq!(ingest.dirs[1].min_free_bytes, 5);
        assert_eq!(c.dirs[0].max_bytes(), None);
        assert_eq!(c.dirs[1].max_bytes(), Some(1000));
        assert!(!RecordingConfig::default().enabled());
        assert!(toml::from_str::<RecordingConfig>("dirs = [{ path = \"/b\", max = 1 }]").is_err());
    }

    #[test]
    fn the_writers_queue_is_set_here_with_a_floor() {
        assert_eq!(RecordingConfig::default().ingest().queue_bytes, 256 << 20);
        let c: RecordingConfig = toml::from_str("queue_bytes = 1073741824").unwrap();
        assert_eq!(c.ingest().queue_bytes, 1 << 30);
        // A queue that holds no frame would drop every one.
        let c: RecordingConfig = toml::from_str("queue_bytes = 0").unwrap();
        assert_eq!(c.ingest().queue_bytes, 1 << 20);
    }

    #[test]
    fn evidence_lives_in_the_data_dir_unless_told() {
        let e = EvidenceConfig::default();
        assert_eq!(e.dir_in(Path::new("/d")), Path::new("/d/evidence"));
        assert_eq!((e.pre().num_seconds(), e.post().num_seconds()), (30, 60));
        let e = EvidenceConfig {
            dir: "/e".into(),
            ..e
        };
        assert_eq!(e.dir_in(Path::new("/d")), Path::new("/e"));
    }
}
