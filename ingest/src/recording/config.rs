//! What the hub tells the recorder: where sample files go and how they are
//! written. Defaults suit real cameras; tests shorten the durations.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Whether and when a camera's main stream is recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// Every minute, kept for the camera's retention days.
    Continuous,
    /// Recorded like `continuous`, but kept only for a short rolling
    /// pre-event buffer unless an incident locks the time around it (the
    /// hub's retention applies the buffer's length to these segments).
    Incidents,
    /// Not recorded. The ingest's default: the hub decides.
    #[default]
    Off,
}

impl RecordMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordMode::Continuous => "continuous",
            RecordMode::Incidents => "incidents",
            RecordMode::Off => "off",
        }
    }

    /// Whether frames are written at all.
    pub fn records(self) -> bool {
        self != RecordMode::Off
    }
}

impl std::fmt::Display for RecordMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `record` was not one of the three modes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record mode {0:?}: expected continuous, incidents or off")]
pub struct UnknownRecordMode(pub String);

impl std::str::FromStr for RecordMode {
    type Err = UnknownRecordMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "continuous" => Ok(RecordMode::Continuous),
            "incidents" => Ok(RecordMode::Incidents),
            "off" => Ok(RecordMode::Off),
            _ => Err(UnknownRecordMode(s.to_string())),
        }
    }
}

/// One sample-file directory: one per disk, so that one disk's failure or
/// filling up stops only the streams written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleDirConfig {
    pub path: PathBuf,
    /// Below this much free space no new segment is started and the
    /// directory reports that it stopped: the file system's own last bytes
    /// are not video's to take (the database or logs may live there too).
    /// Retention deletes old segments to stay above it. Default 1 GiB.
    pub min_free_bytes: u64,
}

impl SampleDirConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            min_free_bytes: 1 << 30,
        }
    }
}

/// How the recorder writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingConfig {
    /// Where sample files go. A stream is written to one directory (the one
    /// with the fewest streams when it first records).
    pub dirs: Vec<SampleDirConfig>,
    /// A segment ends at the first keyframe after this much video. Default
    /// 60 s: retention and repair work in minutes, a file per minute is few
    /// enough for any file system, and a crash can tear only the last one.
    pub segment_duration: Duration,
    /// Frames gathered into one fragment (`moof` + `mdat`) before it is
    /// written; a keyframe always starts a new one. Default 1 s.
    pub fragment_duration: Duration,
    /// How often each open segment's data is flushed to the disk
    /// (`fdatasync`). A power cut loses at most this plus one fragment;
    /// a crash of the process (SIGKILL) only the fragment being gathered
    /// (what was written sits in the page cache and survives). Default 5 s.
    pub sync_interval: Duration,
    /// Frames waiting for a directory's writer, in bytes, before new ones
    /// are dropped (and counted): a slow disk must not hold up live video or
    /// grow memory without bound. Default 256 MiB: about 2.5 s of 200 streams at
    /// 4 Mbit/s. With 64 MiB (0.6 s of them) a writer kept off the CPU for a moment on a
    /// loaded 2-core machine dropped a tenth to a half of the frames in the recording
    /// benchmark, and every drop cut a segment (more files, syncs and rows: more work for a
    /// writer already behind).
    pub queue_bytes: usize,
    /// How often a directory's writer takes what has queued up: waking per
    /// frame would cost a thread switch per frame. Default 100 ms.
    pub drain_interval: Duration,
    /// A stream that sent nothing for this long has its segment finished
    /// (the camera went away). Default 10 s.
    pub idle_timeout: Duration,
    /// How often a stopped directory checks whether space came back.
    /// Default 10 s.
    pub space_check_interval: Duration,
    /// At shutdown, how long the rows of finished segments may take to go in. A database
    /// that hangs (a dead connection nobody closed) must not hold the hub's stop until
    /// systemd kills it; what is still waiting then is indexed by the next start-up's
    /// repair, from the synced files. Default 10 s.
    pub shutdown_index_wait: Duration,
    /// Segment files written around the page cache (`O_DIRECT`), where the file system can:
    /// far less of the kernel's CPU, but each write waits for the disk (see
    /// `recording::direct`). Default off.
    pub direct_io: bool,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            dirs: Vec::new(),
            segment_duration: Duration::from_secs(60),
            fragment_duration: Duration::from_secs(1),
            sync_interval: Duration::from_secs(5),
            queue_bytes: 256 << 20,
            drain_interval: Duration::from_millis(100),
            idle_timeout: Duration::from_secs(10),
            space_check_interval: Duration::from_secs(10),
            shutdown_index_wait: Duration::from_secs(10),
            direct_io: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_modes_parse_and_print() {
        for mode in [
            RecordMode::Continuous,
            RecordMode::Incidents,
            RecordMode::Off,
        ] {
            assert_eq!(mode.as_str().parse::<RecordMode>().unwrap(), mode);
        }
        assert!("always".parse::<RecordMode>().is_err());
        assert!(!RecordMode::Off.records());
        assert!(RecordMode::Incidents.records());
    }
}
