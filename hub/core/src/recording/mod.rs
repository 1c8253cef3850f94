//! Recording (录像) as the domain sees it: the segments the recorder wrote, the time ranges
//! incidents lock as evidence (证据), the evidence clips sealed from them, and what retention
//! deletes ([`retention`]).
//!
//! The files themselves are the ingest's (`gridwatch_ingest::recording`); the rows are the
//! store's. These types are what both sides of the hub agree on.

pub mod evidence;
pub mod pace;
pub mod playback;
pub mod retention;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether and when a camera's main stream is recorded.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// Always, kept for the camera's retention days.
    #[default]
    Continuous,
    /// Always written, but kept only as a rolling pre-event buffer of a few minutes unless an
    /// incident locks the time around it.
    Incidents,
    /// Not recorded.
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

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "continuous" => Some(RecordMode::Continuous),
            "incidents" => Some(RecordMode::Incidents),
            "off" => Some(RecordMode::Off),
            _ => None,
        }
    }
}

/// One recorded segment: a fragmented MP4 file of about a minute in a sample-file directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Segment {
    pub id: String,
    pub camera_id: String,
    /// `main` or `sub`.
    pub stream: String,
    /// The mode it was recorded in.
    pub mode: RecordMode,
    /// The sample-file directory's ID.
    pub dir_id: String,
    /// Relative to the directory.
    pub path: String,
    /// Wall clock of its first frame, and that plus its video's duration.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub bytes: u64,
    pub frames: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// RFC 6381 codec string, e.g. `avc1.640028`.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Where frames the camera sent were lost inside it (the video resumes at the next
    /// keyframe after each), oldest first: no picture there.
    #[serde(default)]
    pub holes: Vec<Hole>,
}

/// A stretch of a segment's time without video: frames lost on the way from the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Hole {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Segment {
    /// The stretches of it with video: `[start, end)` without its holes.
    pub fn pieces(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        pieces(self.start, self.end, &self.holes)
    }
}

/// The stretches of `[start, end)` outside `holes` (oldest first). A segment just begun (a
/// segment being written has no whole fragment yet: `start == end`) is one empty stretch, not
/// none: it is there, recording.
pub fn pieces(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    holes: &[Hole],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut pieces = Vec::with_capacity(holes.len() + 1);
    let mut at = start;
    for hole in holes {
        if hole.from > at {
            pieces.push((at, hole.from.min(end)));
        }
        at = at.max(hole.to);
    }
    if at < end || pieces.is_empty() {
        pieces.push((at.min(end), end));
    }
    pieces
}

/// A time range of one camera's recordings that retention must keep: the evidence of an
/// incident, while it is open (`until` is `None`) and for a while after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordingLock {
    pub id: String,
    pub camera_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub incident_id: Option<String>,
    /// `None`: until released.
    pub until: Option<DateTime<Utc>>,
}

impl RecordingLock {
    /// Whether it still holds at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    /// Whether it covers any of `[start, end)`.
    pub fn covers(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.from < end && self.to > start
    }
}

/// An evidence clip sealed for an incident: one MP4 file and the manifest that chains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceClip {
    pub id: String,
    pub incident_id: String,
    pub camera_id: String,
    /// What the clip covers.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Relative to the evidence directory.
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub manifest_seq: u64,
    pub manifest_file: String,
    pub manifest_sha256: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn record_modes_parse() {
        for m in [
            RecordMode::Continuous,
            RecordMode::Incidents,
            RecordMode::Off,
        ] {
            assert_eq!(RecordMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(RecordMode::parse("on"), None);
    }

    #[test]
    fn locks_cover_overlaps_and_expire() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let lock = RecordingLock {
            id: "l".into(),
            camera_id: "c".into(),
            from: t,
            to: t + Duration::seconds(90),
            incident_id: None,
            until: Some(t + Duration::days(1)),
        };
        assert!(lock.covers(t - Duration::seconds(60), t + Duration::seconds(1)));
        assert!(!lock.covers(t - Duration::seconds(60), t));
        assert!(!lock.covers(t + Duration::seconds(90), t + Duration::seconds(150)));
        assert!(lock.active(t + Duration::hours(23)));
        assert!(!lock.active(t + Duration::days(1)));
        assert!(RecordingLock {
            until: None,
            ..lock
        }
        .active(t + Duration::days(999)));
    }
}
