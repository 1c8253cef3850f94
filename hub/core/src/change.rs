//! Changes to an incident: what raising it, acting on it, a timer firing on it and a repeat
//! press change — the incident after, the events to record and the timers to (dis)arm.
//! (Dispatch, 派警, is one of the actions: sending an incident to a post.)
//!
//! These are pure functions over [`Incident`]; the state machine ([`transition`]) and the
//! response check ([`crate::response_check`]) decide, this module only spells out the consequences, so
//! that the store can apply a [`Change`] in one transaction and every caller (HTTP, MQTT,
//! timers) gets the same behaviour.
//!
//! Timers per incident (at most one pending of each kind; see [`crate::response_check::Timer`]):
//! - raising arms `at_risk` and `breach`;
//! - every dispatch (automatic, by a duty officer, or by escalation to the next post) arms
//!   `ack_due`, replacing the pending one;
//! - acknowledging or setting off disarms `ack_due`; arriving, resolving and cancelling
//!   disarm everything (nothing can fire any more: see [`crate::response_check::on_timer`]).

use crate::event::EventDraft;
use crate::event::EventType;
use crate::incident::state::FALSE_ALARM_REASON;
use crate::incident::{
    transition, Action, IllegalTransition, Incident, IncidentKind, IncidentState, Source,
};
use crate::response_check::{chain_position, on_timer, ResponsePolicy, Timer, TimerOutcome};
use crate::routing::RoutedBy;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Everything needed to raise an incident, routing already done.
#[derive(Debug, Clone, PartialEq)]
pub struct Raise {
    pub id: String,
    pub kind: IncidentKind,
    pub source: Source,
    pub grid_id: Option<String>,
    pub routed_by: RoutedBy,
    /// The grid's chain now; frozen onto the incident.
    pub post_chain: Vec<String>,
    /// The centre's policy with the grid's overrides; frozen onto the incident.
    pub policy: ResponsePolicy,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub note: Option<String>,
    pub camera_id: Option<String>,
    pub cameras: Vec<String>,
    /// More to say in `incident.raised` (an object, e.g. why a location was dropped), or null.
    pub details: Value,
}

/// A change to a timer of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerChange {
    /// Arm (or re-arm, replacing the pending one of the same kind).
    Arm { timer: Timer, due_at: DateTime<Utc> },
    /// Forget the pending timer of this kind ([`Timer::kind`]).
    Disarm(&'static str),
    /// Forget every pending timer of the incident.
    DisarmAll,
}

/// What to store: the incident after, the events in order and the timer changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub incident: Incident,
    pub events: Vec<EventDraft>,
    pub timers: Vec<TimerChange>,
}

impl Change {
    /// No change at all.
    pub fn none(incident: &Incident) -> Change {
        Change {
            incident: incident.clone(),
            events: vec![],
            timers: vec![],
        }
    }

    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.timers.is_empty()
    }

    /// This change followed by `next` (computed from this one's incident).
    fn then(mut self, next: Change) -> Change {
        self.incident = next.incident;
        self.events.extend(next.events);
        self.timers.extend(next.timers);
        self
    }

    /// Adds fields to the data of the last event (e.g. the place an officer arrived at).
    pub fn with_data(mut self, extra: &Value) -> Change {
        if let Some(e) = self.events.last_mut() {
            e.merge(extra);
        }
        self
    }
}

/// A new incident: `incident.raised`, and at once `incident.dispatched` to the first post of
/// the frozen chain when there is one (else it waits, `raised`, for a duty officer).
pub fn raise(r: Raise, now: DateTime<Utc>) -> Change {
    let incident = Incident {
        id: r.id,
        kind: r.kind,
        state: IncidentState::Raised,
        grid_id: r.grid_id,
        post_id: None,
        lat: r.lat,
        lon: r.lon,
        source: r.source,
        note: r.note,
        camera_id: r.camera_id,
        cameras: r.cameras,
        urgent: false,
        repeat_count: 0,
        escalation_level: 0,
        post_chain: r.post_chain,
        chain_position: None,
        policy: r.policy,
        created_at: now,
        deadline_at: r.policy.deadline_at(now),
        last_press_at: now,
        dispatched_at: None,
        acknowledged_at: None,
        on_scene_at: None,
        resolved_at: None,
        closed_at: None,
        at_risk_at: None,
        breached_at: None,
        false_alarm: false,
        updated_at: now,
    };
    let mut raised = EventDraft::new(
        EventType::IncidentRaised,
        json!({
            "kind": incident.kind,
            "source": incident.source,
            "grid_id": incident.grid_id,
            "routed_by": r.routed_by,
            "post_chain": incident.post_chain,
            "policy": incident.policy,
            "deadline_at": incident.deadline_at,
            "lat": incident.lat,
            "lon": incident.lon,
            "note": incident.note,
            "camera_id": incident.camera_id,
            "cameras": incident.cameras,
        }),
    );
    raised.merge(&r.details);
    let timers = incident
        .policy
        .response_timers(now)
        .map(|(timer, due_at)| TimerChange::Arm { timer, due_at })
        .to_vec();
    let first = incident.post_chain.first().cloned();
    let change = Change {
        incident,
        events: vec![raised],
        timers,
    };
    match first {
        Some(post_id) => {
            let dispatch = apply(&change.incident, &Action::Dispatch { post_id }, now)
                .expect("a raised incident can be dispatched")
                .with_data(&json!({"automatic": true}));
            change.then(dispatch)
        }
        None => change,
    }
}

/// What `action` does to `incident` at `now`, or why it may not.
pub fn apply(
    incident: &Incident,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<Change, IllegalTransition> {
    let t = transition(incident.state, action)?;
    let mut next = incident.clone();
    next.state = t.to;
    next.updated_at = now;
    let mut timers = vec![];
    let send_to = |next: &mut Incident, post_id: &str, timers: &mut Vec<TimerChange>| {
        let from = next.post_id.replace(post_id.to_string());
        next.chain_position = chain_position(&next.post_chain, Some(post_id));
        next.dispatched_at = Some(now);
        next.acknowledged_at = None;
        let (timer, due_at) = next.policy.ack_timer(now, next.chain_position);
        timers.push(TimerChange::Arm { timer, due_at });
        from
    };
    let data = match action {
        Action::Dispatch { post_id } => {
            let from = send_to(&mut next, post_id, &mut timers);
            json!({"post_id": post_id, "chain_position": next.chain_position, "from_post": from})
        }
        Action::Acknowledge => {
            next.acknowledged_at = Some(now);
            timers.push(TimerChange::Disarm("ack_due"));
            json!({"post_id": next.post_id})
        }
        Action::EnRoute => {
            timers.push(TimerChange::Disarm("ack_due"));
            json!({"post_id": next.post_id})
        }
        Action::Arrive => {
            next.on_scene_at = Some(now);
            timers.push(TimerChange::DisarmAll);
            json!({
                "post_id": next.post_id,
                "seconds": (now - next.created_at).num_milliseconds() as f64 / 1000.0,
                "within_deadline": now <= next.deadline_at,
            })
        }
        Action::Resolve { note } => {
            next.resolved_at = Some(now);
            next.closed_at = Some(now);
            timers.push(TimerChange::DisarmAll);
            json!({"note": note.trim()})
        }
        Action::Cancel { reason } => {
            next.closed_at = Some(now);
            timers.push(TimerChange::DisarmAll);
            json!({"reason": reason.trim()})
        }
        Action::Dismiss => {
            next.closed_at = Some(now);
            next.false_alarm = true;
            timers.push(TimerChange::DisarmAll);
            json!({"reason": FALSE_ALARM_REASON, "false_alarm": true})
        }
        Action::Escalate { to_post, level } => {
            next.escalation_level = *level;
            let from = next.post_id.clone();
            if let Some(p) = to_post {
                send_to(&mut next, p, &mut timers);
            }
            json!({"to_post": to_post, "from_post": from, "level": level,
                   "chain_position": next.chain_position})
        }
    };
    Ok(Change {
        incident: next,
        events: vec![EventDraft::new(t.event, data)],
        timers,
    })
}

/// What a fired `timer` does to `incident` at `now`: the response check's outcome
/// ([`on_timer`]) and its consequences. `Nothing` changes nothing.
pub fn fire(incident: &Incident, timer: &Timer, now: DateTime<Utc>) -> (TimerOutcome, Change) {
    let outcome = on_timer(
        timer,
        incident.state,
        incident.chain_position,
        incident.post_chain.len(),
    );
    let mut change = Change::none(incident);
    let flag = |kind: EventType, change: &mut Change| {
        change.incident.updated_at = now;
        change.events.push(EventDraft::new(
            kind,
            json!({
                "deadline_at": incident.deadline_at,
                "seconds_left": (incident.deadline_at - now).num_seconds(),
                "post_id": incident.post_id,
                "state": incident.state,
            }),
        ));
    };
    let reason = match outcome {
        TimerOutcome::Nothing => return (outcome, change),
        TimerOutcome::AtRisk => {
            change.incident.at_risk_at = Some(now);
            flag(EventType::IncidentAtRisk, &mut change);
            None
        }
        TimerOutcome::Breached => {
            change.incident.breached_at = Some(now);
            flag(EventType::IncidentBreached, &mut change);
            Some("breached")
        }
        TimerOutcome::Escalate { .. } => Some("not_acknowledged"),
    };
    if let Some(action) = outcome.escalate_action(&incident.post_chain, incident.escalation_level) {
        let target = serde_json::to_value(outcome.escalation()).unwrap_or(Value::Null);
        if let Ok(escalation) = apply(&change.incident, &action, now) {
            let mut extra = json!({"reason": reason});
            if let (Some(e), Some(t)) = (extra.as_object_mut(), target.as_object()) {
                e.extend(t.clone());
            }
            change = change.then(escalation.with_data(&extra));
        }
    }
    (outcome, change)
}

/// The same caller pressed again while the incident is open: it becomes urgent, the press is
/// counted and recorded, and a location is adopted if the incident had none.
pub fn repeat(
    incident: &Incident,
    location: Option<(f64, f64)>,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Change {
    let mut next = incident.clone();
    next.urgent = true;
    next.repeat_count = next.repeat_count.saturating_add(1);
    next.last_press_at = now;
    next.updated_at = now;
    if next.lat.is_none() {
        if let Some((lat, lon)) = location {
            next.lat = Some(lat);
            next.lon = Some(lon);
        }
    }
    let event = EventDraft::new(
        EventType::IncidentRepeat,
        json!({
            "repeat_count": next.repeat_count,
            "lat": location.map(|l| l.0),
            "lon": location.map(|l| l.1),
            "note": note,
        }),
    );
    Change {
        incident: next,
        events: vec![event],
        timers: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use EventType as E;
    use IncidentState as S;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn min(m: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(m)
    }

    fn raise_with(chain: &[&str]) -> Change {
        raise(
            Raise {
                id: "i1".into(),
                kind: IncidentKind::Sos,
                source: Source::Device("d1".into()),
                grid_id: Some("g1".into()),
                routed_by: RoutedBy::Device,
                post_chain: chain.iter().map(|s| s.to_string()).collect(),
                policy: ResponsePolicy::default(),
                lat: None,
                lon: None,
                note: None,
                camera_id: None,
                cameras: vec!["c1".into()],
                details: json!({"location_dropped": "lat: must be between -90 and 90"}),
            },
            t0(),
        )
    }

    fn kinds(c: &Change) -> Vec<EventType> {
        c.events.iter().map(|e| e.kind).collect()
    }

    fn arm(timer: Timer, due_at: DateTime<Utc>) -> TimerChange {
        TimerChange::Arm { timer, due_at }
    }

    fn ack(pos: Option<usize>) -> Timer {
        Timer::AckDue {
            chain_position: pos,
        }
    }

    #[test]
    fn raising_dispatches_to_the_first_post_and_arms_three_timers() {
        let c = raise_with(&["p1", "p2"]);
        assert_eq!(kinds(&c), [E::IncidentRaised, E::IncidentDispatched]);
        assert_eq!(c.events[1].data["automatic"], true);
        assert!(c.events[0].data["location_dropped"].is_string());
        assert_eq!(c.events[1].data["post_id"], "p1");
        let i = &c.incident;
        assert_eq!(
            (i.state, i.post_id.as_deref(), i.chain_position),
            (S::Dispatched, Some("p1"), Some(0))
        );
        assert_eq!(i.deadline_at, min(15));
        assert_eq!(i.dispatched_at, Some(t0()));
        assert_eq!(
            c.timers,
            [
                arm(Timer::AtRisk, min(10)),
                arm(Timer::Breach, min(15)),
                arm(ack(Some(0)), min(2)),
            ]
        );
    }

    #[test]
    fn raising_without_a_chain_waits_for_a_duty_officer() {
        let c = raise_with(&[]);
        assert_eq!(kinds(&c), [E::IncidentRaised]);
        assert_eq!(c.incident.state, S::Raised);
        assert_eq!(c.timers.len(), 2);
    }

    #[test]
    fn actions_set_times_and_timers() {
        let i = raise_with(&["p1", "p2"]).incident;
        let c = apply(&i, &Action::Acknowledge, min(1)).unwrap();
        assert_eq!(c.incident.acknowledged_at, Some(min(1)));
        assert_eq!(c.timers, [TimerChange::Disarm("ack_due")]);

        // A redirect to a post outside the chain re-arms the acknowledgement window.
        let c = apply(
            &c.incident,
            &Action::Dispatch {
                post_id: "px".into(),
            },
            min(3),
        )
        .unwrap();
        assert_eq!(c.incident.state, S::Dispatched);
        assert_eq!(
            (c.incident.chain_position, c.incident.acknowledged_at),
            (None, None)
        );
        assert_eq!(c.events[0].data["from_post"], "p1");
        assert_eq!(c.timers, [arm(ack(None), min(5))]);

        let c = apply(&c.incident, &Action::Arrive, min(9)).unwrap();
        assert_eq!(c.incident.on_scene_at, Some(min(9)));
        assert_eq!(c.events[0].data["within_deadline"], true);
        assert_eq!(c.events[0].data["seconds"], 540.0);
        assert_eq!(c.timers, [TimerChange::DisarmAll]);

        let c = apply(
            &c.incident,
            &Action::Resolve {
                note: " 已处置 ".into(),
            },
            min(20),
        )
        .unwrap();
        assert_eq!(c.incident.state, S::Resolved);
        assert_eq!(
            (c.incident.resolved_at, c.incident.closed_at),
            (Some(min(20)), Some(min(20)))
        );
        assert_eq!(c.events[0].data["note"], "已处置");

        let e = apply(&c.incident, &Action::Cancel { reason: "x".into() }, min(21)).unwrap_err();
        assert_eq!(e.state, S::Resolved);
    }

    #[test]
    fn a_false_alarm_is_a_cancel_with_the_standard_reason_and_the_mark() {
        let i = raise_with(&["p1"]).incident;
        assert!(!i.false_alarm);
        let c = apply(&i, &Action::Dismiss, min(2)).unwrap();
        assert_eq!(c.incident.state, S::Cancelled);
        assert!(c.incident.false_alarm);
        assert_eq!(c.incident.closed_at, Some(min(2)));
        assert_eq!(c.timers, [TimerChange::DisarmAll]);
        assert_eq!(kinds(&c), [E::IncidentCancelled]);
        assert_eq!(c.events[0].data["reason"], FALSE_ALARM_REASON);
        assert_eq!(c.events[0].data["false_alarm"], true);
        // A plain cancel leaves no mark; nothing dismisses a closed incident again.
        let plain = apply(&i, &Action::Cancel { reason: "x".into() }, min(2)).unwrap();
        assert!(!plain.incident.false_alarm);
        assert!(apply(&c.incident, &Action::Dismiss, min(3)).is_err());
    }

    #[test]
    fn timers_walk_the_chain_then_flag_and_breach() {
        let i = raise_with(&["p1", "p2"]).incident;
        let (out, c) = fire(&i, &ack(Some(0)), min(2));
        assert!(matches!(out, TimerOutcome::Escalate { .. }));
        assert_eq!(kinds(&c), [E::IncidentEscalated]);
        let d = &c.events[0].data;
        assert_eq!(
            (d["to_post"].as_str(), d["from_post"].as_str()),
            (Some("p2"), Some("p1"))
        );
        assert_eq!(
            (d["target"].as_str(), d["reason"].as_str()),
            (Some("post"), Some("not_acknowledged"))
        );
        assert_eq!(d["level"], 1);
        assert_eq!(c.incident.post_id.as_deref(), Some("p2"));
        assert_eq!(c.timers, [arm(ack(Some(1)), min(4))]);

        let (_, c) = fire(&c.incident, &ack(Some(1)), min(4));
        assert_eq!(c.events[0].data["target"], "duty_officers");
        assert_eq!(c.incident.post_id.as_deref(), Some("p2"));
        assert_eq!(c.incident.escalation_level, 2);
        assert!(c.timers.is_empty());

        let (out, c) = fire(&c.incident, &Timer::AtRisk, min(10));
        assert_eq!(out, TimerOutcome::AtRisk);
        assert_eq!(kinds(&c), [E::IncidentAtRisk]);
        assert_eq!(c.incident.at_risk_at, Some(min(10)));
        assert_eq!(c.events[0].data["seconds_left"], 300);

        let (out, c) = fire(&c.incident, &Timer::Breach, min(15));
        assert_eq!(out, TimerOutcome::Breached);
        assert_eq!(kinds(&c), [E::IncidentBreached, E::IncidentEscalated]);
        assert_eq!(c.events[1].data["target"], "supervisor");
        assert_eq!(c.events[1].data["reason"], "breached");
        assert_eq!(c.incident.escalation_level, 3);
        assert_eq!(c.incident.breached_at, Some(min(15)));
        assert_eq!(c.incident.state, S::Dispatched);
    }

    #[test]
    fn stale_timers_change_nothing() {
        let i = raise_with(&["p1", "p2"]).incident;
        let acked = apply(&i, &Action::Acknowledge, min(1)).unwrap().incident;
        let (out, c) = fire(&acked, &ack(Some(0)), min(2));
        assert_eq!(out, TimerOutcome::Nothing);
        assert!(c.is_empty());
        assert_eq!(c.incident, acked);
        let there = apply(&acked, &Action::Arrive, min(5)).unwrap().incident;
        for t in [Timer::AtRisk, Timer::Breach] {
            assert!(fire(&there, &t, min(15)).1.is_empty());
        }
    }

    #[test]
    fn repeats_make_it_urgent() {
        let i = raise_with(&["p1"]).incident;
        let c = repeat(&i, Some((26.5, 107.9)), Some("快来"), min(1));
        assert!(c.incident.urgent);
        assert_eq!(c.incident.repeat_count, 1);
        assert_eq!(c.incident.last_press_at, min(1));
        assert_eq!((c.incident.lat, c.incident.lon), (Some(26.5), Some(107.9)));
        assert_eq!(kinds(&c), [E::IncidentRepeat]);
        let c2 = repeat(&c.incident, Some((1.0, 1.0)), None, min(2));
        assert_eq!(c2.incident.repeat_count, 2);
        assert_eq!(c2.incident.lat, Some(26.5), "the first known place stays");
        assert_eq!(c2.incident.state, S::Dispatched);
    }
}
