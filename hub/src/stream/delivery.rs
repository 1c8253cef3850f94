//! Dispatches that no console received (`incident.undelivered`), found at once: the post has
//! no console online, or none confirmed the dispatch within `[response] receipt_seconds`
//! (a console on a socket that died without closing). The duty officers are told, and, with
//! `[response] escalate_undelivered`, the incident goes to the next post of its chain at once
//! instead of after the acknowledgement window: nobody there will acknowledge what nobody saw.
//!
//! The escalation is the response check's own: the pending acknowledgement deadline of that
//! dispatch is brought forward to now and the timer engine woken, so that it fires once, in
//! one transaction, on whichever node claims it, exactly as when the window runs out.

use super::{Published, Stream};
use gridwatch_core::delivery::{self, Delivery};
use gridwatch_core::event::{Actor, Event, EventDraft, EventType};
use gridwatch_core::incident::{Incident, IncidentState};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Checks a dispatch this node made (`dispatch`, to `post_id`) for a console to receive it.
pub async fn watch(stream: Arc<Stream>, incident: Incident, post_id: String, dispatch: Event) {
    match stream.store().consoles_online(&post_id).await {
        Ok(0) => {
            flag(&stream, &incident, &post_id, &dispatch, "no console online").await;
            return;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, post_id, "cannot tell whether a post is online");
            return;
        }
    }
    let wait = stream.receipts.wait_seconds;
    if wait == 0 {
        return;
    }
    tokio::time::sleep(Duration::from_secs(wait.into())).await;
    let timeline = match stream.store().timeline(&incident.id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, incident = %incident.id, "cannot check a dispatch's receipt");
            return;
        }
    };
    let latest = delivery::latest(&timeline);
    let unanswered = latest
        .as_ref()
        .is_some_and(|d| d.dispatch_seq == dispatch.seq && d.delivery == Delivery::Waiting);
    let now = match stream.store().incident(&incident.id).await {
        Ok(i) => i,
        Err(_) => return,
    };
    if unanswered && now.state == IncidentState::Dispatched {
        let why = format!("no console confirmed it within {wait} s");
        flag(&stream, &now, &post_id, &dispatch, &why).await;
    }
}

/// Records `incident.undelivered` for `dispatch` and, when configured, escalates at once.
async fn flag(stream: &Stream, incident: &Incident, post_id: &str, dispatch: &Event, why: &str) {
    let draft = EventDraft::new(
        EventType::IncidentUndelivered,
        json!({ "post_id": post_id, "dispatch_seq": dispatch.seq, "reason": why }),
    );
    let actor = Actor {
        actor: "system".into(),
        origin: format!("node {}", stream.node),
    };
    match stream
        .store()
        .record_events(Some(&incident.id), &[draft], &actor, stream.now())
        .await
    {
        Ok(events) => {
            for e in events {
                stream.publish(Published::new(e, Some(incident.clone())));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, post_id, "cannot flag an undelivered dispatch");
            return;
        }
    }
    if !stream.receipts.escalate_undelivered {
        return;
    }
    match stream
        .store()
        .expedite_ack_deadline(&incident.id, dispatch.at, stream.now())
        .await
    {
        Ok(true) => {
            tracing::warn!(incident = %incident.id, post_id, why,
                "dispatch not received: escalating at once");
            stream.incidents().wake_timers();
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, incident = %incident.id,
            "cannot escalate an undelivered dispatch; the acknowledgement window will"),
    }
}
