//! Incidents (警情): one call for help or one alert, tracked from raised to closed.
//!
//! - [`state`]: the state machine (states, actions, [`transition`]);
//! - [`intake`]: what raises one (an SOS press, an incident raised by hand);
//! - here: the incident itself, its kind and its source.
//!
//! The events an incident's changes record are the event log's ([`crate::event::EventType`]);
//! what a change does to an incident, its events and its timers is [`crate::change`]'s.

pub mod intake;
pub mod state;

pub use intake::{NewIncident, SosPress};
pub use state::{
    allowed_actions, dismissible, resident_may_cancel, transition, Action, IllegalTransition,
    IncidentState, Transition,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What raised the incident.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// A resident's or a panic button's one-button alarm (一键报警).
    Sos,
    /// A camera stopped sending (设备离线).
    CameraOffline,
    /// Motion detected by a camera.
    Motion,
    /// Raised by a duty officer by hand, e.g. from a phone call or the live wall.
    Manual,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 4] = [
        IncidentKind::Sos,
        IncidentKind::CameraOffline,
        IncidentKind::Motion,
        IncidentKind::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Sos => "sos",
            IncidentKind::CameraOffline => "camera_offline",
            IncidentKind::Motion => "motion",
            IncidentKind::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentKind> {
        IncidentKind::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who raised an incident, as the API shows it: `resident:<user_id>`, `device:<device_id>`,
/// `officer:<user_id>` (a duty officer, by hand) or `camera:<camera_id>`.
///
/// It is also the key of "the same caller" for repeat presses and idempotency keys, and what
/// lets a resident see their own incidents.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Source {
    Resident(String),
    Device(String),
    Officer(String),
    Camera(String),
}

impl Source {
    pub fn parse(s: &str) -> Option<Source> {
        let (kind, id) = s.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        let id = id.to_string();
        Some(match kind {
            "resident" => Source::Resident(id),
            "device" => Source::Device(id),
            "officer" => Source::Officer(id),
            "camera" => Source::Camera(id),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, id) = match self {
            Source::Resident(id) => ("resident", id),
            Source::Device(id) => ("device", id),
            Source::Officer(id) => ("officer", id),
            Source::Camera(id) => ("camera", id),
        };
        write!(f, "{kind}:{id}")
    }
}

impl From<Source> for String {
    fn from(s: Source) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Source {
    type Error = String;
    fn try_from(s: String) -> Result<Source, String> {
        Source::parse(&s).ok_or_else(|| format!("not an incident source: {s:?}"))
    }
}

/// One incident, as stored and as the API shows it (`GET /api/v1/incidents/{id}` adds its
/// `timeline`). What changes it is decided in [`crate::change`]; the store only keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub kind: IncidentKind,
    pub state: IncidentState,
    /// The grid it was routed to; `None` when neither a location nor the caller named one.
    pub grid_id: Option<String>,
    /// The post it is dispatched to now.
    pub post_id: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub source: Source,
    pub note: Option<String>,
    /// The camera a duty officer raised it from, if any.
    pub camera_id: Option<String>,
    /// The cameras nearest to it (the grid's first), nearest first.
    pub cameras: Vec<String>,
    /// Pressed again while open: the caller is insisting.
    pub urgent: bool,
    pub repeat_count: u32,
    /// How many times it has been escalated.
    pub escalation_level: u32,
    /// The grid's post chain when it was raised, frozen.
    pub post_chain: Vec<String>,
    /// Where `post_id` stands in `post_chain` (`None`: not dispatched, or to a post outside it).
    pub chain_position: Option<usize>,
    /// The response windows in force when it was raised, frozen.
    pub policy: crate::response_check::ResponsePolicy,
    pub created_at: DateTime<Utc>,
    /// `created_at + response window`: on scene by then, or the promise is broken.
    pub deadline_at: DateTime<Utc>,
    /// The latest press (the raise or a repeat): repeats within 120 s of it are the same call.
    pub last_press_at: DateTime<Utc>,
    /// The latest dispatch (by a duty officer, automatically or by escalation).
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When the post it is dispatched to acknowledged; cleared by a new dispatch.
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub on_scene_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was resolved or cancelled.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was flagged at risk (即将超时).
    pub at_risk_at: Option<DateTime<Utc>>,
    /// When the deadline passed with nobody on scene (已超时).
    pub breached_at: Option<DateTime<Utc>>,
    /// Dismissed as a false alarm (误报, [`Action::Dismiss`]): cancelled, and counted in the
    /// false-alarm report of its camera.
    #[serde(default)]
    pub false_alarm: bool,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentState as S;

    #[test]
    fn names_round_trip_through_serde() {
        for s in IncidentState::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(serde_json::to_string(&S::EnRoute).unwrap(), "\"en_route\"");
        for k in IncidentKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            assert_eq!(IncidentKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(IncidentKind::parse("fire"), None);
    }

    #[test]
    fn sources_read_and_write_as_kind_colon_id() {
        for (s, v) in [
            ("resident:u1", Source::Resident("u1".into())),
            ("device:d1", Source::Device("d1".into())),
            ("officer:u2", Source::Officer("u2".into())),
            ("camera:c1", Source::Camera("c1".into())),
        ] {
            assert_eq!(Source::parse(s), Some(v.clone()));
            assert_eq!(v.to_string(), s);
            assert_eq!(serde_json::to_value(&v).unwrap(), serde_json::json!(s));
        }
        for bad in ["resident", "resident:", "alien:x", ""] {
            assert_eq!(Source::parse(bad), None, "{bad}");
        }
        assert!(serde_json::from_str::<Source>("\"alien:x\"").is_err());
    }
}
