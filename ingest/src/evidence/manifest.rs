//! An evidence manifest: what a clip is, where it came from, and the hash
//! of the manifest before it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `format` every manifest carries.
pub const FORMAT: &str = "gridwatch-evidence/1";

/// A recorded segment a clip was cut from, with the hash its row has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEvidence {
    pub id: String,
    pub sha256: String,
    #[serde(with = "rfc3339_ms")]
    pub start: DateTime<Utc>,
    #[serde(with = "rfc3339_ms")]
    pub end: DateTime<Utc>,
}

/// The clip a manifest vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClipEvidence {
    /// Relative to the evidence directory.
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    /// What it really covers (from a keyframe at or before the requested start).
    #[serde(with = "rfc3339_ms")]
    pub from: DateTime<Utc>,
    #[serde(with = "rfc3339_ms")]
    pub to: DateTime<Utc>,
    pub frames: u64,
    /// Where nothing was recorded and the clip holds its last picture (an outage, recording
    /// off, frames lost): said here so that a held picture is never taken for what happened.
    /// Absent when there is none (and in manifests sealed before it was kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_recorded: Vec<NotRecorded>,
}

/// A stretch of a clip with nothing recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRecorded {
    #[serde(with = "rfc3339_ms")]
    pub from: DateTime<Utc>,
    #[serde(with = "rfc3339_ms")]
    pub to: DateTime<Utc>,
}

/// The link to the manifest before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousManifest {
    pub seq: u64,
    /// SHA-256 of that manifest's file, lowercase hex.
    pub sha256: String,
}

/// One manifest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    /// 1, 2, 3, … with no gap in a chain.
    pub seq: u64,
    #[serde(with = "rfc3339_ms")]
    pub created_at: DateTime<Utc>,
    pub incident_id: String,
    pub camera_id: String,
    /// The range asked for: `pre` before the incident to `post` after.
    #[serde(with = "rfc3339_ms")]
    pub requested_from: DateTime<Utc>,
    #[serde(with = "rfc3339_ms")]
    pub requested_to: DateTime<Utc>,
    pub clip: ClipEvidence,
    pub segments: Vec<SegmentEvidence>,
    /// `None` only for the first manifest.
    pub previous: Option<PreviousManifest>,
}

impl Manifest {
    /// The file's bytes: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// Times as RFC 3339 in UTC to the millisecond (`2026-11-26T08:00:00.000Z`),
/// so a manifest reads the same whoever wrote it.
mod rfc3339_ms {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
