//! The stream's messages, as JSON text frames (`shared/design/api.md`, "Real-time stream").

use super::Published;
use gridwatch_core::access::Form;
use gridwatch_core::incident::Incident;
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

/// The first message: where the log stands, who the client is, and what is open for it.
pub fn hello(seq: i64, user: Value, open: &[Value], health: &Value) -> String {
    json!({
        "type": "hello",
        "seq": seq,
        "user": user,
        "open_incidents": open,
        "health": health,
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

/// An incident as the given form shows it.
pub fn incident(i: &Incident, form: Form) -> Value {
    match form {
        Form::Full => json!(i),
        Form::Resident => resident_incident(i),
    }
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

/// What a resident is shown of their incident: its state and times, not who is on it, nor
/// which cameras watch the place.
pub fn resident_incident(i: &Incident) -> Value {
    serde_json::json!({
        "id": i.id,
        "kind": i.kind,
        "state": i.state,
        "lat": i.lat,
        "lon": i.lon,
        "note": i.note,
        "urgent": i.urgent,
        "created_at": i.created_at,
        "deadline_at": i.deadline_at,
        "on_scene_at": i.on_scene_at,
        "resolved_at": i.resolved_at,
        "closed_at": i.closed_at,
    })
}
