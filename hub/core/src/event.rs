//! The event log (事件记录): every change to an incident, in order, with who made it and from
//! where. It is the audit trail, the incident's timeline and (later) the real-time stream.
//!
//! Each stored event has a global, gap-free `seq` given by the store in the same transaction
//! as the change it records, so a reader that has seen `seq` N and asks for what follows misses
//! nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `type` of an event on the real-time stream: every type the API contract lists.
///
/// Only some are produced by [`crate::incident::transition`]; the others come from elsewhere: `raised` and
/// `repeat` from raising, `delivered` from a console's receipt, `at_risk` and `breached` from
/// the response check (`crate::response_check`), and the camera and post ones from presence.
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
pub enum EventType {
    #[serde(rename = "incident.raised")]
    IncidentRaised,
    /// The same device or resident pressed SOS again while its incident is open.
    #[serde(rename = "incident.repeat")]
    IncidentRepeat,
    #[serde(rename = "incident.dispatched")]
    IncidentDispatched,
    /// A console confirmed that a dispatch reached it (a `receipt` on the stream).
    #[serde(rename = "incident.delivered")]
    IncidentDelivered,
    /// Dispatched to a post with no console online: nobody there will see it, so duty
    /// officers are told at once instead of after the acknowledgement window.
    #[serde(rename = "incident.undelivered")]
    IncidentUndelivered,
    #[serde(rename = "incident.acknowledged")]
    IncidentAcknowledged,
    #[serde(rename = "incident.en_route")]
    IncidentEnRoute,
    #[serde(rename = "incident.on_scene")]
    IncidentOnScene,
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    #[serde(rename = "incident.cancelled")]
    IncidentCancelled,
    #[serde(rename = "incident.escalated")]
    IncidentEscalated,
    #[serde(rename = "incident.at_risk")]
    IncidentAtRisk,
    #[serde(rename = "incident.breached")]
    IncidentBreached,
    /// An evidence clip of one of the incident's cameras was sealed (see
    /// [`crate::recording::evidence`]).
    #[serde(rename = "incident.evidence_sealed")]
    IncidentEvidenceSealed,
    /// Someone downloaded one of the incident's evidence clips: the audit of who took footage.
    #[serde(rename = "incident.evidence_downloaded")]
    IncidentEvidenceDownloaded,
    /// Someone downloaded an evidence clip's manifest (the proof handed over with the clip).
    #[serde(rename = "incident.manifest_downloaded")]
    IncidentManifestDownloaded,
    /// A picture of the scene was attached: the first keyframe after a camera's motion alert.
    #[serde(rename = "incident.snapshot_taken")]
    IncidentSnapshotTaken,
    #[serde(rename = "camera.online")]
    CameraOnline,
    #[serde(rename = "camera.offline")]
    CameraOffline,
    #[serde(rename = "post.online")]
    PostOnline,
    #[serde(rename = "post.offline")]
    PostOffline,
    /// Someone downloaded a camera's recorded video (`recordings.mp4`): the audit of who took
    /// footage that is not an incident's evidence clip.
    #[serde(rename = "camera.recording_exported")]
    CameraRecordingExported,
}

impl EventType {
    pub const ALL: [EventType; 22] = [
        EventType::IncidentRaised,
        EventType::IncidentRepeat,
        EventType::IncidentDispatched,
        EventType::IncidentDelivered,
        EventType::IncidentUndelivered,
        EventType::IncidentAcknowledged,
        EventType::IncidentEnRoute,
        EventType::IncidentOnScene,
        EventType::IncidentResolved,
        EventType::IncidentCancelled,
        EventType::IncidentEscalated,
        EventType::IncidentAtRisk,
        EventType::IncidentBreached,
        EventType::IncidentEvidenceSealed,
        EventType::IncidentEvidenceDownloaded,
        EventType::IncidentManifestDownloaded,
        EventType::IncidentSnapshotTaken,
        EventType::CameraOnline,
        EventType::CameraOffline,
        EventType::PostOnline,
        EventType::PostOffline,
        EventType::CameraRecordingExported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::IncidentRaised => "incident.raised",
            EventType::IncidentRepeat => "incident.repeat",
            EventType::IncidentDispatched => "incident.dispatched",
            EventType::IncidentDelivered => "incident.delivered",
            EventType::IncidentUndelivered => "incident.undelivered",
            EventType::IncidentAcknowledged => "incident.acknowledged",
            EventType::IncidentEnRoute => "incident.en_route",
            EventType::IncidentOnScene => "incident.on_scene",
            EventType::IncidentResolved => "incident.resolved",
            EventType::IncidentCancelled => "incident.cancelled",
            EventType::IncidentEscalated => "incident.escalated",
            EventType::IncidentAtRisk => "incident.at_risk",
            EventType::IncidentBreached => "incident.breached",
            EventType::IncidentEvidenceSealed => "incident.evidence_sealed",
            EventType::IncidentEvidenceDownloaded => "incident.evidence_downloaded",
            EventType::IncidentManifestDownloaded => "incident.manifest_downloaded",
            EventType::IncidentSnapshotTaken => "incident.snapshot_taken",
            EventType::CameraOnline => "camera.online",
            EventType::CameraOffline => "camera.offline",
            EventType::PostOnline => "post.online",
            EventType::PostOffline => "post.offline",
            EventType::CameraRecordingExported => "camera.recording_exported",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the event is about an incident (and so carries `incident` on the stream).
    pub fn is_incident(self) -> bool {
        self.as_str().starts_with("incident.")
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change and from where, for the audit trail.
///
/// `actor` is `user:<id>`, `device:<id>` or `system`; `origin` is `http <address>` (or `http`
/// when the address is unknown), `mqtt` or `timer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub actor: String,
    pub origin: String,
}

impl Actor {
    pub fn user(id: &str, origin: impl Into<String>) -> Actor {
        Actor {
            actor: format!("user:{id}"),
            origin: origin.into(),
        }
    }

    pub fn device(id: &str, origin: impl Into<String>) -> Actor {
        Actor {
            actor: format!("device:{id}"),
            origin: origin.into(),
        }
    }

    /// The response check's timers.
    pub fn timer() -> Actor {
        Actor {
            actor: "system".into(),
            origin: "timer".into(),
        }
    }

    /// `http <address>` for a request from that address, `http` when it is unknown.
    pub fn http_origin(addr: Option<std::net::IpAddr>) -> String {
        match addr {
            Some(a) => format!("http {a}"),
            None => "http".into(),
        }
    }
}

/// An event about to be recorded: its type and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDraft {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub data: Value,
}

impl EventDraft {
    pub fn new(kind: EventType, data: Value) -> EventDraft {
        EventDraft { kind, data }
    }

    /// Adds the fields of `extra` (an object) to the data, replacing any of the same name.
    pub fn merge(&mut self, extra: &Value) {
        if let (Some(d), Some(e)) = (self.data.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A recorded event, as the timeline and the stream show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Global, gap-free, in commit order.
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub at: DateTime<Utc>,
    pub incident_id: Option<String>,
    pub actor: String,
    pub origin: String,
    pub data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_types_are_exactly_the_contracts() {
        // The contract's list, `incident.undelivered` (a dispatch no console received), and
        // the evidence clips', their manifests' and recorded video's audit (issue 13).
        let contract =
            "incident.raised, incident.repeat, incident.dispatched, incident.delivered, \
            incident.undelivered, incident.acknowledged, incident.en_route, incident.on_scene, \
            incident.resolved, \
            incident.cancelled, incident.escalated, incident.at_risk, incident.breached, \
            incident.evidence_sealed, incident.evidence_downloaded, \
            incident.manifest_downloaded, incident.snapshot_taken, \
            camera.online, camera.offline, post.online, post.offline, \
            camera.recording_exported";
        let names: Vec<&str> = contract.split(',').map(str::trim).collect();
        assert_eq!(names, EventType::ALL.map(EventType::as_str));
        for e in EventType::ALL {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), e);
            assert_eq!(EventType::parse(e.as_str()), Some(e));
            assert_eq!(e.is_incident(), e.as_str().starts_with("incident."));
        }
        assert_eq!(EventType::parse("hello"), None);
    }

    #[test]
    fn actors_say_who_and_from_where() {
        let a = Actor::user("u1", Actor::http_origin(Some("10.0.0.7".parse().unwrap())));
        assert_eq!(
            (a.actor.as_str(), a.origin.as_str()),
            ("user:u1", "http 10.0.0.7")
        );
        assert_eq!(Actor::device("d1", "mqtt").actor, "device:d1");
        assert_eq!(Actor::timer().actor, "system");
        assert_eq!(Actor::http_origin(None), "http");
    }

    #[test]
    fn merge_adds_fields() {
        let mut d = EventDraft::new(EventType::IncidentOnScene, json!({"post_id": "p1"}));
        d.merge(&json!({"lat": 26.5, "post_id": "p2"}));
        assert_eq!(d.data, json!({"post_id": "p2", "lat": 26.5}));
        d.merge(&json!(null));
        assert_eq!(d.data["lat"], 26.5);
        let e = Event {
            seq: 7,
            kind: EventType::IncidentOnScene,
            at: DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
                .unwrap()
                .into(),
            incident_id: Some("i1".into()),
            actor: "user:u1".into(),
            origin: "http".into(),
            data: d.data,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "incident.on_scene");
        assert_eq!(v["at"], "2026-03-01T08:00:00Z");
    }
}
