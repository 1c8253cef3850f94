//! Motion and intrusion alerts (移动侦测 / 区域入侵): per camera, zones drawn on the picture, a
//! schedule, and how much must move for how long before an incident is raised.
//!
//! The detector itself ([`detector::Detector`]) is pure: fed grey frames, it says when a
//! detection starts. Decoding belongs to the ingest, raising incidents to the hub.

pub mod detector;
pub mod polygon;
pub mod schedule;

use crate::validate::{self, ValidationError};
pub use polygon::Point;
pub use schedule::Schedule;
use serde::{Deserialize, Serialize};

/// Enough zones for a yard, its gate and a wall; more is a sign of drawing the whole picture
/// in pieces.
pub const MAX_ZONES: usize = 8;

/// One zone: a polygon in picture fractions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Zone {
    pub name: String,
    pub points: Vec<Point>,
}

/// A camera's motion settings. With no zone the whole picture is watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MotionSettings {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub zones: Vec<Zone>,
    #[serde(default)]
    pub schedule: Schedule,
    /// Minutes east of UTC of the local time the schedule is written in (480, Asia/Shanghai).
    #[serde(default = "default_offset")]
    pub utc_offset_minutes: i32,
    /// The fraction of a zone that must change (0..1]: leaves and rain move a little of it,
    /// a person a lot.
    #[serde(default = "default_min_area")]
    pub min_area: f64,
    /// How long the change must last, in milliseconds: a passing headlight does not.
    #[serde(default = "default_min_duration_ms")]
    pub min_duration_ms: u32,
    /// After a detection ends, how long no new one is raised for this camera.
    #[serde(default = "default_cooldown_seconds")]
    pub cooldown_seconds: u32,
}

fn default_offset() -> i32 {
    schedule::DEFAULT_UTC_OFFSET_MINUTES
}
fn default_min_area() -> f64 {
    0.02
}
fn default_min_duration_ms() -> u32 {
    500
}
fn default_cooldown_seconds() -> u32 {
    60
}

impl Default for MotionSettings {
    fn default() -> Self {
        MotionSettings {
            enabled: false,
            zones: Vec::new(),
            schedule: Schedule::Always,
            utc_offset_minutes: default_offset(),
            min_area: default_min_area(),
            min_duration_ms: default_min_duration_ms(),
            cooldown_seconds: default_cooldown_seconds(),
        }
    }
}

impl MotionSettings {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.zones.len() > MAX_ZONES {
            return Err(ValidationError::new(
                "zones",
                format!("at most {MAX_ZONES} zones per camera"),
            ));
        }
        for (i, z) in self.zones.iter().enumerate() {
            validate::name(&format!("zones[{i}].name"), &z.name, 60)?;
            polygon::validate(&format!("zones[{i}].points"), &z.points)?;
        }
        self.schedule.validate("schedule")?;
        if !(-720..=840).contains(&self.utc_offset_minutes) {
            return Err(ValidationError::new(
                "utc_offset_minutes",
                "must be between -720 and 840",
            ));
        }
        if !(self.min_area.is_finite() && self.min_area > 0.0 && self.min_area <= 1.0) {
            return Err(ValidationError::new(
                "min_area",
                "must be a fraction of the zone above 0 and at most 1",
            ));
        }
        if self.min_duration_ms > 60_000 {
            return Err(ValidationError::new(
                "min_duration_ms",
                "must be at most 60000 (one minute)",
            ));
        }
        if self.cooldown_seconds > 86_400 {
            return Err(ValidationError::new(
                "cooldown_seconds",
                "must be at most 86400 (one day)",
            ));
        }
        Ok(())
    }

    /// The zones the detector watches: the whole picture when none is drawn.
    pub fn effective_zones(&self) -> Vec<Zone> {
        if self.zones.is_empty() {
            vec![Zone {
                name: "picture".into(),
                points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
            }]
        } else {
            self.zones.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yard() -> MotionSettings {
        MotionSettings {
            enabled: true,
            zones: vec![Zone {
                name: "yard".into(),
                points: vec![[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]],
            }],
            ..MotionSettings::default()
        }
    }

    #[test]
    fn defaults_parse_and_validate() {
        let s: MotionSettings = serde_json::from_str(r#"{"enabled":true}"#).unwrap();
        assert_eq!(s.utc_offset_minutes, 480);
        assert_eq!(s.schedule, Schedule::Always);
        assert!(s.validate().is_ok());
        assert_eq!(s.effective_zones()[0].points.len(), 4);
        let w: MotionSettings =
            serde_json::from_str(r#"{"schedule":{"kind":"window","start":"22:00","end":"06:00"}}"#)
                .unwrap();
        assert!(matches!(w.schedule, Schedule::Window { .. }));
        assert!(serde_json::from_str::<MotionSettings>(r#"{"zone":[]}"#).is_err());
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(yard().validate().is_ok());
        let mut s = yard();
        s.min_area = 0.0;
        assert_eq!(s.validate().unwrap_err().field, "min_area");
        let mut s = yard();
        s.min_duration_ms = 120_000;
        assert_eq!(s.validate().unwrap_err().field, "min_duration_ms");
        let mut s = yard();
        s.cooldown_seconds = 100_000;
        assert_eq!(s.validate().unwrap_err().field, "cooldown_seconds");
        let mut s = yard();
        s.utc_offset_minutes = 2000;
        assert_eq!(s.validate().unwrap_err().field, "utc_offset_minutes");
        let mut s = yard();
        s.zones = vec![yard().zones[0].clone(); MAX_ZONES + 1];
        assert_eq!(s.validate().unwrap_err().field, "zones");
        let mut s = yard();
        s.zones[0].points[1] = [1.2, 0.1];
        assert_eq!(s.validate().unwrap_err().field, "zones[0].points[1]");
        let mut s = yard();
        s.zones[0].name = " ".into();
        assert_eq!(s.validate().unwrap_err().field, "zones[0].name");
    }
}
