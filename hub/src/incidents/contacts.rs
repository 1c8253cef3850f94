//! Who is at either end of an incident: the caller, for the duty room and the post to call
//! back and find the door; and who is coming, for the resident.
//!
//! Lookups that fail (a record deleted since) leave the field out rather than fail the
//! request: the incident keeps its history, and its page must still open.

use gridwatch_core::delivery::DispatchDelivery;
use gridwatch_core::event::Event;
use gridwatch_core::event::EventType;
use gridwatch_core::incident::{Incident, Source};
use gridwatch_store::Store;
use serde_json::{json, Value};

/// `{"kind", "name", "phone", "address", "lat", "lon"}` of whoever raised the incident: a
/// resident's name, phone and home address; a panic button's name, address and place; the
/// duty officer or camera that raised it.
pub async fn caller(store: &Store, i: &Incident) -> Value {
    match &i.source {
        Source::Resident(id) | Source::Officer(id) => match store.user(id).await {
            Ok(u) => json!({
                "kind": if matches!(i.source, Source::Resident(_)) { "resident" } else { "officer" },
                "name": u.display_name,
                "phone": u.phone,
                "address": u.address,
            }),
            Err(_) => json!({ "kind": "resident" }),
        },
        Source::Device(id) => match store.device(id).await {
            Ok(d) => json!({
                "kind": "device",
                "name": d.name,
                "address": d.address,
                "lat": d.lat,
                "lon": d.lon,
            }),
            Err(_) => json!({ "kind": "device" }),
        },
        Source::Camera(id) => match store.camera(id).await {
            Ok(c) => json!({ "kind": "camera", "name": c.name }),
            Err(_) => json!({ "kind": "camera" }),
        },
    }
}

/// What a resident may know of the help on its way: the post their call went to (its name
/// and phone, to ring it) and who has taken it in hand (the responder's name) — nothing else
/// of the staff.
pub async fn help(store: &Store, i: &Incident, timeline: &[Event]) -> Value {
    let post = match &i.post_id {
        Some(id) => store
            .post(id)
            .await
            .ok()
            .map(|p| json!({ "name": p.name, "phone": p.phone })),
        None => None,
    };
    let responder = match responder_of(timeline) {
        Some(id) => store.user(id).await.ok().map(|u| u.display_name),
        None => None,
    };
    json!({ "post": post, "responder": responder })
}

/// The user who last took the incident in hand (acknowledged, set off, arrived) since its
/// latest dispatch: a redirect hands it to someone else.
fn responder_of(timeline: &[Event]) -> Option<&str> {
    let since = timeline
        .iter()
        .rposition(|e| gridwatch_core::delivery::dispatched_to(e).is_some())
        .map_or(0, |n| n + 1);
    timeline[since..]
        .iter()
        .rev()
        .filter(|e| {
            matches!(
                e.kind,
                EventType::IncidentAcknowledged
                    | EventType::IncidentEnRoute
                    | EventType::IncidentOnScene
            )
        })
        .find_map(|e| e.actor.strip_prefix("user:"))
}

/// The delivery field of an incident as `form` shows it: the latest dispatch's post and
/// answer for staff, only the answer for a resident.
pub fn delivery(d: Option<&DispatchDelivery>, resident: bool) -> Value {
    match d {
        Some(d) if resident => json!(d.delivery),
        Some(d) => json!(d),
        None => Value::Null,
    }
}
