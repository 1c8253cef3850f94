//! Whether a dispatch reached the post: a console confirms it (`incident.delivered`), or the
//! hub finds nobody there to see it (`incident.undelivered`). The duty room must phone a post
//! whose console did not get the call, and the resident must not be told "the post has been
//! told" when it has not; both read it from the incident's timeline, through [`latest`].

use crate::event::{Event, EventType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the latest dispatch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Sent; no console has confirmed it yet.
    Waiting,
    /// A console of the post confirmed it.
    Delivered,
    /// No console of the post took it (none online, or none confirmed in time).
    Undelivered,
}

/// The latest dispatch of an incident (by a duty officer, or an escalation to a post).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DispatchDelivery {
    /// The seq of the `incident.dispatched` or `incident.escalated` event.
    pub dispatch_seq: i64,
    pub post_id: String,
    pub delivery: Delivery,
}

/// The post an event hands its incident to, if it does: a dispatch's `post_id`, an
/// escalation's `to_post`.
pub fn dispatched_to(e: &Event) -> Option<&str> {
    let key = match e.kind {
        EventType::IncidentDispatched => "post_id",
        EventType::IncidentEscalated => "to_post",
        _ => return None,
    };
    e.data.get(key).and_then(Value::as_str)
}

/// The latest dispatch among `timeline` (one incident's events, in seq order) and whether it
/// reached the post. A receipt wins over an earlier "undelivered": the console came back.
pub fn latest(timeline: &[Event]) -> Option<DispatchDelivery> {
    let mut latest: Option<DispatchDelivery> = None;
    for e in timeline {
        if let Some(post) = dispatched_to(e) {
            latest = Some(DispatchDelivery {
                dispatch_seq: e.seq,
                post_id: post.to_string(),
                delivery: Delivery::Waiting,
            });
            continue;
        }
        let Some(d) = latest.as_mut() else { continue };
        if e.data.get("dispatch_seq").and_then(Value::as_i64) != Some(d.dispatch_seq) {
            continue;
        }
        match e.kind {
            EventType::IncidentDelivered => d.delivery = Delivery::Delivered,
            EventType::IncidentUndelivered if d.delivery == Delivery::Waiting => {
                d.delivery = Delivery::Undelivered
            }
            _ => {}
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn ev(seq: i64, kind: EventType, data: Value) -> Event {
        Event {
            seq,
            kind,
            at: Utc::now(),
            incident_id: Some("i".into()),
            actor: "system".into(),
            origin: "test".into(),
            data,
        }
    }

    #[test]
    fn the_latest_dispatch_and_its_answer() {
        use EventType as T;
        let mut tl = vec![ev(1, T::IncidentRaised, json!({}))];
        assert_eq!(latest(&tl), None);
        tl.push(ev(2, T::IncidentDispatched, json!({"post_id": "p1"})));
        assert_eq!(latest(&tl).unwrap().delivery, Delivery::Waiting);
        tl.push(ev(
            3,
            T::IncidentUndelivered,
            json!({"post_id": "p1", "dispatch_seq": 2}),
        ));
        assert_eq!(latest(&tl).unwrap().delivery, Delivery::Undelivered);
        // Escalated to the next post: a new dispatch, waiting again.
        tl.push(ev(4, T::IncidentEscalated, json!({"to_post": "p2"})));
        let d = latest(&tl).unwrap();
        assert_eq!((d.dispatch_seq, d.post_id.as_str()), (4, "p2"));
        assert_eq!(d.delivery, Delivery::Waiting);
        // A late receipt of the old dispatch does not count for the new one.
        tl.push(ev(
            5,
            T::IncidentDelivered,
            json!({"post_id": "p1", "dispatch_seq": 2}),
        ));
        assert_eq!(latest(&tl).unwrap().delivery, Delivery::Waiting);
        tl.push(ev(
            6,
            T::IncidentDelivered,
            json!({"post_id": "p2", "dispatch_seq": 4}),
        ));
        assert_eq!(latest(&tl).unwrap().delivery, Delivery::Delivered);
        // An escalation upwards hands the incident to nobody: the dispatch stands.
        tl.push(ev(7, T::IncidentEscalated, json!({"to_post": null})));
        assert_eq!(latest(&tl).unwrap().dispatch_seq, 4);
    }
}
