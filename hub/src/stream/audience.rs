//! Who may see which event on the stream. The filter runs in the hub, before anything is
//! sent: a console never receives what its role may not see, so a bug in a page cannot leak it.
//!
//! - duty officers and admins: everything;
//! - a responder: the incidents of its post and of every grid whose chain names the post
//!   (as configured when it connected), its own post's presence, the cameras of those grids;
//! - a resident: the state changes of the incidents they raised, in a reduced form (no
//!   cameras, no officers, no addresses);
//! - devices: nothing (they get 403 before the upgrade).

use super::Published;
use gridwatch_core::incident::{EventType, Incident, Source};
use serde_json::Value;
use std::collections::HashSet;

/// What one connection may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    Everything,
    Post {
        post_id: String,
        /// The grids whose chain names the post.
        grids: HashSet<String>,
    },
    Resident {
        source: Source,
    },
    Nothing,
}

/// How an event is shown to a connection that may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The event as recorded, with the incident.
    Full,
    /// Type, time and the incident's public fields: see [`resident_incident`].
    Resident,
}

/// The events that tell a resident how their call is going, the bad news included (the post
/// did not get it, it was passed on, it is late): a page that only hears good news tells a
/// resident help is coming when it is not.
pub(crate) const RESIDENT_TYPES: [EventType; 12] = [
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
    EventType::IncidentBreached,
];

impl Audience {
    /// Whether the connection sees this incident at all (its hello's open incidents).
    pub fn sees_incident(&self, i: &Incident) -> bool {
        match self {
            Audience::Everything => true,
            Audience::Post { post_id, grids } => {
                i.post_id.as_deref() == Some(post_id.as_str())
                    || i.grid_id.as_ref().is_some_and(|g| grids.contains(g))
            }
            Audience::Resident { source } => &i.source == source,
            Audience::Nothing => false,
        }
    }

    /// Whether, and in which form, the connection sees the event.
    pub fn form(&self, p: &Published) -> Option<Form> {
        let e = &p.event;
        let data_str = |k: &str| e.data.get(k).and_then(Value::as_str);
        match self {
            Audience::Everything => Some(Form::Full),
            Audience::Nothing => None,
            Audience::Resident { .. } => {
                let mine = p.incident.as_ref().is_some_and(|i| self.sees_incident(i));
                (mine && RESIDENT_TYPES.contains(&e.kind)).then_some(Form::Resident)
            }
            Audience::Post { post_id, grids } => {
                let ours = |k: &str| data_str(k) == Some(post_id.as_str());
                let visible = match e.kind {
                    EventType::PostOnline | EventType::PostOffline => ours("post_id"),
                    EventType::CameraOnline | EventType::CameraOffline => {
                        data_str("grid_id").is_some_and(|g| grids.contains(g))
                    }
                    // An incident taken from the post (redirected or escalated away) is still
                    // news to it: it should stop going.
                    _ => {
                        p.incident.as_ref().is_some_and(|i| self.sees_incident(i))
                            || ours("post_id")
                            || ours("from_post")
                            || ours("to_post")
                    }
                };
                visible.then_some(Form::Full)
            }
        }
    }
}

/// What a resident is shown of their incident: its state and times, and whether it was
/// passed on or is late (so that their page never says help is coming when it is not); not
/// who is on it, nor which cameras watch the place. (Who is coming and the post's phone are
/// in `GET /api/v1/incidents/{id}`'s `help`.)
pub fn resident_incident(i: &Incident) -> Value {
    serde_json::json!({
        "id": i.id,
        "kind": i.kind,
        "state": i.state,
        "lat": i.lat,
        "lon": i.lon,
        "note": i.note,
        "urgent": i.urgent,
        "escalation_level": i.escalation_level,
        "created_at": i.created_at,
        "deadline_at": i.deadline_at,
        "on_scene_at": i.on_scene_at,
        "resolved_at": i.resolved_at,
        "closed_at": i.closed_at,
        "breached_at": i.breached_at,
    })
}
