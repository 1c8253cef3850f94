//! The stream's messages, as JSON text frames (`shared/design/api.md`, "Real-time stream").

use super::Published;
use gridwatch_core::access::Form;
use gridwatch_core::incident::{allowed_actions, resident_may_cancel, Incident};
use serde::Deserialize;
use serde_json::{json, Value};

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// A dispatch (the event `seq`) reached this console.
    Receipt { seq: i64 },
    /// Application-level keep-alive, for clients that cannot see WebSocket pings.
    Ping,
}

/// The first message: where the log stands, who the client is, what is open for it, and
/// how often it should send `ping` (`heartbeat_seconds`; each is answered with `pong`, so a
/// client that hears nothing for a few of them knows its socket is dead).
pub fn hello(seq: i64, user: Value, open: &[Value], health: &Value, heartbeat: u64) -> String {
    json!({
        "type": "hello",
        "seq": seq,
        "user": user,
        "open_incidents": open,
        "health": health,
        "heartbeat_seconds": heartbeat,
    })
    .to_string()
}

/// `since` is beyond the retained log (or ahead of it): start again from a fresh hello.
pub fn resync(reason: &str) -> String {
    json!({ "type": "resync", "reason": reason }).to_string()
}

pub fn pong() -> String {
    json!({ "type": "pong" }).to_string()
}

/// A message the hub could not take: says why, and the connection goes on.
pub fn error(message: &str) -> String {
    json!({ "type": "error", "message": message }).to_string()
}

/// The health of this node's response check changed (duty officers and admins only): a
/// stalled escalation engine must never look like a quiet night.
pub fn health(health: &Value) -> String {
    json!({ "type": "health", "health": health }).to_string()
}

/// An incident as the given form shows it, with the actions its state allows
/// (`allowed_actions`, by [`Action::name`](gridwatch_core::incident::Action::name)): staff
/// see the state machine's, a resident only whether they may still cancel.
pub fn incident(i: &Incident, form: Form) -> Value {
    let (mut v, allowed) = match form {
        Form::Full => (json!(i), allowed_actions(i.kind, i.state)),
        Form::Resident => (
            resident_incident(i),
            if resident_may_cancel(i.state) {
                vec!["cancel"]
            } else {
                vec![]
            },
        ),
    };
    v["allowed_actions"] = json!(allowed);
    v
}

/// An event, as the given form shows it.
pub fn event(p: &Published, form: Form) -> String {
    let e = &p.event;
    match form {
        Form::Full => json!({
            "seq": e.seq,
            "type": e.kind,
            "at": e.at,
            "incident": p.incident.as_ref().map(|i| incident(i, form)),
            "actor": e.actor,
            "origin": e.origin,
            "data": e.data,
        }),
        Form::Resident => json!({
            "seq": e.seq,
            "type": e.kind,
            "at": e.at,
            "incident": p.incident.as_ref().map(|i| incident(i, form)),
            "data": {},
        }),
    }
    .to_string()
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
        // Which of two reads of the call is newer: a page never shows an older one over it.
        "updated_at": i.updated_at,
    })
}
