//! The event log (事件记录): every change to an incident, in order, with who made it and from
//! where. It is the audit trail, the incident's timeline and (later) the real-time stream.
//!
//! Each stored event has a global, gap-free `seq` given by the store in the same transaction
//! as the change it records, so a reader that has seen `seq` N and asks for what follows misses
//! nothing.

use crate::incident::EventType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
