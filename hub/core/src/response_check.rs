//! The response check (15分钟到达时限): the centre promises a responder on scene within the
//! response window, 15 minutes unless a grid says otherwise.
//!
//! Three kinds of [`Timer`] watch each incident:
//! - **AckDue**, armed at every dispatch for `dispatched_at + ack_window` (2 min): if the post
//!   has not acknowledged by then, the incident goes to the next post of the chain frozen on
//!   it, and at the end of the chain the duty officers are told;
//! - **AtRisk**, at `created_at + at_risk_after` (10 min): nobody on scene yet (即将超时);
//! - **Breach**, at `deadline_at = created_at + response_window` (15 min): the promise is
//!   broken (已超时) and the incident goes up to the supervisor level.
//!
//! The [`ResponsePolicy`] is frozen onto the incident when it is raised, so that changing a
//! grid's settings never moves the deadline of an incident already running. This module only
//! decides; storing timers, firing each once across hub nodes and publishing events is the
//! store's and the hub's work.

use crate::event::EventType;
use crate::grid::Grid;
use crate::incident::{Action, IncidentState};
use crate::validate::ValidationError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How fast the centre promises to respond, frozen onto each incident when it is raised.
///
/// Stored as whole seconds: `{"response_window_seconds":900,"ack_window_seconds":120,
/// "at_risk_after_seconds":600}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResponsePolicy {
    /// From raised to on scene: `deadline_at = created_at + response_window`.
    #[serde(rename = "response_window_seconds", with = "seconds")]
    #[schemars(with = "i64")]
    pub response_window: Duration,
    /// From (each) dispatch to acknowledgement, before the next post is tried.
    #[serde(rename = "ack_window_seconds", with = "seconds")]
    #[schemars(with = "i64")]
    pub ack_window: Duration,
    /// From raised to "at risk", when nobody is on scene yet.
    #[serde(rename = "at_risk_after_seconds", with = "seconds")]
    #[schemars(with = "i64")]
    pub at_risk_after: Duration,
}

impl Default for ResponsePolicy {
    /// 15 minutes to arrive, 2 to acknowledge, at risk after 10: the centre's promise.
    fn default() -> Self {
        ResponsePolicy {
            response_window: Duration::minutes(ResponsePolicy::DEFAULT_RESPONSE_MINUTES.into()),
            ack_window: Duration::minutes(ResponsePolicy::DEFAULT_ACK_MINUTES.into()),
            at_risk_after: Duration::minutes(ResponsePolicy::DEFAULT_AT_RISK_MINUTES.into()),
        }
    }
}

impl ResponsePolicy {
    pub const DEFAULT_RESPONSE_MINUTES: u32 = 15;
    pub const DEFAULT_ACK_MINUTES: u32 = 2;
    pub const DEFAULT_AT_RISK_MINUTES: u32 = 10;

    /// A policy that makes sense: every window positive, and both the acknowledgement window
    /// and the at-risk time shorter than the response window (a warning or an escalation after
    /// the deadline cannot help keep it). Errors name the grid fields (`response_minutes`,
    /// `ack_minutes`, `at_risk_minutes`) so that they can be shown next to the form.
    pub fn new(
        response_window: Duration,
        ack_window: Duration,
        at_risk_after: Duration,
    ) -> Result<Self, ValidationError> {
        let p = ResponsePolicy {
            response_window,
            ack_window,
            at_risk_after,
        };
        for (field, d) in [
            ("response_minutes", response_window),
            ("ack_minutes", ack_window),
            ("at_risk_minutes", at_risk_after),
        ] {
            if d <= Duration::zero() {
                return Err(ValidationError::new(field, "must be more than zero"));
            }
        }
        if at_risk_after >= response_window {
            return Err(ValidationError::new(
                "at_risk_minutes",
                format!(
                    "must be less than the response window ({})",
                    minutes(response_window)
                ),
            ));
        }
        if ack_window >= response_window {
            return Err(ValidationError::new(
                "ack_minutes",
                format!(
                    "must be less than the response window ({})",
                    minutes(response_window)
                ),
            ));
        }
        Ok(p)
    }

    /// The same, in whole minutes, as a centre's configuration gives them.
    pub fn from_minutes(response: u32, ack: u32, at_risk: u32) -> Result<Self, ValidationError> {
        ResponsePolicy::new(
            Duration::minutes(response.into()),
            Duration::minutes(ack.into()),
            Duration::minutes(at_risk.into()),
        )
    }

    /// This (the centre's) policy with a grid's overrides, in minutes; `None` keeps the
    /// centre's value. When the mix does not make sense the error names a field the grid
    /// actually set, and says when a value is the centre's default, so that the admin knows
    /// what to change.
    pub fn with_overrides(
        &self,
        response_minutes: Option<u32>,
        ack_minutes: Option<u32>,
        at_risk_minutes: Option<u32>,
    ) -> Result<Self, ValidationError> {
        let pick = |o: Option<u32>, d: Duration| o.map_or(d, |m| Duration::minutes(m.into()));
        let response = pick(response_minutes, self.response_window);
        let ack = pick(ack_minutes, self.ack_window);
        let at_risk = pick(at_risk_minutes, self.at_risk_after);
        ResponsePolicy::new(response, ack, at_risk).map_err(|mut e| {
            // A complaint about ack or at-risk that the grid did not set is really about the
            // response window the grid did set.
            let overridden = match e.field.as_str() {
                "ack_minutes" => ack_minutes.is_some(),
                "at_risk_minutes" => at_risk_minutes.is_some(),
                _ => true,
            };
            if !overridden {
                e.message = format!(
                    "must be more than the centre's default {} ({})",
                    if e.field == "ack_minutes" {
                        "acknowledgement window"
                    } else {
                        "at-risk time"
                    },
                    minutes(if e.field == "ack_minutes" {
                        ack
                    } else {
                        at_risk
                    }),
                );
                e.field = "response_minutes".into();
            }
            e
        })
    }

    /// The policy to freeze onto an incident raised in `grid`.
    pub fn for_grid(&self, grid: &Grid) -> Result<Self, ValidationError> {
        self.with_overrides(
            grid.response_minutes,
            grid.ack_minutes,
            grid.at_risk_minutes,
        )
    }

    /// `created_at + response_window`: the incident's `deadline_at`.
    pub fn deadline_at(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        created_at + self.response_window
    }

    pub fn at_risk_at(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        created_at + self.at_risk_after
    }

    pub fn ack_due_at(&self, dispatched_at: DateTime<Utc>) -> DateTime<Utc> {
        dispatched_at + self.ack_window
    }

    /// The timers to arm when an incident is raised, with when they fire.
    pub fn response_timers(&self, created_at: DateTime<Utc>) -> [(Timer, DateTime<Utc>); 2] {
        [
            (Timer::AtRisk, self.at_risk_at(created_at)),
            (Timer::Breach, self.deadline_at(created_at)),
        ]
    }

    /// The timer to arm at a dispatch (a duty officer's, or an escalation's) to the post at
    /// `chain_position` of the frozen chain (`None`: a post outside the chain). It replaces any
    /// acknowledgement timer still pending for the incident.
    pub fn ack_timer(
        &self,
        dispatched_at: DateTime<Utc>,
        chain_position: Option<usize>,
    ) -> (Timer, DateTime<Utc>) {
        (
            Timer::AckDue { chain_position },
            self.ack_due_at(dispatched_at),
        )
    }
}

fn minutes(d: Duration) -> String {
    if d.num_seconds() % 60 == 0 {
        format!("{} min", d.num_minutes())
    } else {
        format!("{} s", d.num_seconds())
    }
}

/// chrono durations as whole seconds in JSON.
mod seconds {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = i64::deserialize(d)?;
        Duration::try_seconds(secs).ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}

/// When things are due for one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deadlines {
    /// `created_at + response_window`: on scene by then, or breached.
    pub deadline_at: DateTime<Utc>,
    /// `created_at + at_risk_after`.
    pub at_risk_at: DateTime<Utc>,
    /// `dispatched_at + ack_window` for the latest dispatch; `None` before the first.
    pub ack_due_at: Option<DateTime<Utc>>,
}

/// The deadlines of an incident raised at `created_at` under `policy`, last dispatched (by a
/// duty officer or an escalation) at `dispatched_at`.
pub fn deadlines(
    created_at: DateTime<Utc>,
    policy: &ResponsePolicy,
    dispatched_at: Option<DateTime<Utc>>,
) -> Deadlines {
    Deadlines {
        deadline_at: policy.deadline_at(created_at),
        at_risk_at: policy.at_risk_at(created_at),
        ack_due_at: dispatched_at.map(|t| policy.ack_due_at(t)),
    }
}

/// A stored, pending check on an incident. Serialised with a `timer` tag:
/// `{"timer":"ack_due","chain_position":0}`, `{"timer":"at_risk"}`, `{"timer":"breach"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "timer", rename_all = "snake_case")]
pub enum Timer {
    /// The post dispatched to has to acknowledge. `chain_position` is where that post stands in
    /// the incident's frozen chain (`None`: a post outside it, chosen by a duty officer); a
    /// timer whose position is no longer the incident's belongs to an earlier dispatch and does
    /// nothing.
    AckDue { chain_position: Option<usize> },
    /// Nobody on scene at `at_risk_at`.
    AtRisk,
    /// Nobody on scene at `deadline_at`.
    Breach,
}

impl Timer {
    /// A stable name, e.g. for a `(incident_id, kind)` key that makes a timer fire once. There
    /// is at most one pending timer of each kind per incident: a new dispatch replaces the
    /// pending `ack_due`.
    pub fn kind(&self) -> &'static str {
        match self {
            Timer::AckDue { .. } => "ack_due",
            Timer::AtRisk => "at_risk",
            Timer::Breach => "breach",
        }
    }
}

/// Whom an escalation goes to. Serialised with a `target` tag, e.g. for an event's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum EscalationTarget {
    /// The next post of the frozen chain: the incident is dispatched to it.
    Post { chain_position: usize },
    /// No next post (end of the chain, or a post outside it did not answer): the duty
    /// officers must act. The incident stays with its post.
    DutyOfficers,
    /// The deadline passed: the supervisor level (上级) is told.
    Supervisor,
}

/// What a fired timer means for the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TimerOutcome {
    /// Too late to matter: the incident was acknowledged, reached, closed or redispatched.
    Nothing,
    /// The post did not acknowledge in time: `incident.escalated`.
    Escalate { target: EscalationTarget },
    /// `incident.at_risk`.
    AtRisk,
    /// `incident.breached`, then `incident.escalated` to the supervisor level.
    Breached,
}

impl TimerOutcome {
    /// The events to publish, in order.
    pub fn events(&self) -> &'static [EventType] {
        match self {
            TimerOutcome::Nothing => &[],
            TimerOutcome::Escalate { .. } => &[EventType::IncidentEscalated],
            TimerOutcome::AtRisk => &[EventType::IncidentAtRisk],
            TimerOutcome::Breached => &[EventType::IncidentBreached, EventType::IncidentEscalated],
        }
    }

    pub fn escalation(&self) -> Option<EscalationTarget> {
        match self {
            TimerOutcome::Escalate { target } => Some(*target),
            TimerOutcome::Breached => Some(EscalationTarget::Supervisor),
            TimerOutcome::Nothing | TimerOutcome::AtRisk => None,
        }
    }

    /// The [`Action::Escalate`] to apply through [`crate::incident::transition`], given the
    /// incident's frozen chain and its current `escalation_level` (the action carries the next
    /// one).
    pub fn escalate_action(&self, post_chain: &[String], escalation_level: u32) -> Option<Action> {
        let level = escalation_level.saturating_add(1);
        match self.escalation()? {
            EscalationTarget::Post { chain_position } => Some(Action::Escalate {
                to_post: Some(post_chain.get(chain_position)?.clone()),
                level,
            }),
            EscalationTarget::DutyOfficers | EscalationTarget::Supervisor => {
                Some(Action::Escalate {
                    to_post: None,
                    level,
                })
            }
        }
    }

    /// The acknowledgement timer to arm after this outcome: one for the post escalated to.
    pub fn next_ack_timer(&self) -> Option<Timer> {
        match self {
            TimerOutcome::Escalate {
                target: EscalationTarget::Post { chain_position },
            } => Some(Timer::AckDue {
                chain_position: Some(*chain_position),
            }),
            _ => None,
        }
    }
}

/// Where `post_id` stands in `post_chain`, for [`Timer::AckDue`] and [`on_timer`].
pub fn chain_position(post_chain: &[String], post_id: Option<&str>) -> Option<usize> {
    let post_id = post_id?;
    post_chain.iter().position(|p| p == post_id)
}

/// Decides what a fired `timer` means for an incident now in `state`, dispatched to the post at
/// `chain_position` of its frozen chain of `chain_len` posts (`None`: not dispatched, or to a
/// post outside the chain).
///
/// - A closed incident: nothing, whatever the timer.
/// - AckDue while still `dispatched` to the post the timer was armed for: escalate to the next
///   post of the chain, or, when there is none, to the duty officers. Acknowledged or later
///   (or redispatched since): nothing.
/// - AtRisk / Breach while nobody is on scene: at risk / breached (and up to the supervisor
///   level). Once on scene: nothing.
pub fn on_timer(
    timer: &Timer,
    state: IncidentState,
    chain_position: Option<usize>,
    chain_len: usize,
) -> TimerOutcome {
    if !state.is_open() {
        return TimerOutcome::Nothing;
    }
    match timer {
        Timer::AckDue {
            chain_position: armed_for,
        } => {
            if state != IncidentState::Dispatched || *armed_for != chain_position {
                return TimerOutcome::Nothing;
            }
            let target = match chain_position.map(|p| p + 1) {
                Some(next) if next < chain_len => EscalationTarget::Post {
                    chain_position: next,
                },
                _ => EscalationTarget::DutyOfficers,
            };
            TimerOutcome::Escalate { target }
        }
        Timer::AtRisk if state.awaits_arrival() => TimerOutcome::AtRisk,
        Timer::Breach if state.awaits_arrival() => TimerOutcome::Breached,
        Timer::AtRisk | Timer::Breach => TimerOutcome::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::incident::transition;
    use IncidentState as S;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn default_is_the_centres_promise() {
        let p = ResponsePolicy::default();
        assert_eq!(p, ResponsePolicy::from_minutes(15, 2, 10).unwrap());
        let d = deadlines(t0(), &p, Some(t0() + Duration::seconds(30)));
        assert_eq!(d.deadline_at, t0() + Duration::minutes(15));
        assert_eq!(d.at_risk_at, t0() + Duration::minutes(10));
        assert_eq!(d.ack_due_at, Some(t0() + Duration::seconds(150)));
        assert_eq!(deadlines(t0(), &p, None).ack_due_at, None);
    }

    #[test]
    fn grid_overrides() {
        let centre = ResponsePolicy::default();
        let p = centre.with_overrides(Some(30), None, Some(20)).unwrap();
        assert_eq!(p.response_window, Duration::minutes(30));
        assert_eq!(p.ack_window, Duration::minutes(2));
        assert_eq!(p.at_risk_after, Duration::minutes(20));
        assert_eq!(centre.with_overrides(None, None, None).unwrap(), centre);

        // The grid's own at-risk time is too late.
        let e = centre.with_overrides(None, None, Some(15)).unwrap_err();
        assert_eq!(e.field, "at_risk_minutes");
        assert!(e.message.contains("15 min"), "{}", e.message);
        // A shorter response window collides with the centre's at-risk default: blame what the
        // grid set.
        let e = centre.with_overrides(Some(8), None, None).unwrap_err();
        assert_eq!(e.field, "response_minutes");
        assert!(e.message.contains("at-risk time (10 min)"), "{}", e.message);
        assert!(centre.with_overrides(Some(8), None, Some(5)).is_ok());
        let e = centre
            .with_overrides(Some(1), Some(3), Some(0))
            .unwrap_err();
        assert_eq!(e.field, "at_risk_minutes");
        let e = centre
            .with_overrides(Some(5), Some(5), Some(4))
            .unwrap_err();
        assert_eq!(e.field, "ack_minutes");
        let e = centre.with_overrides(Some(2), None, Some(1)).unwrap_err();
        assert_eq!(e.field, "response_minutes");
        assert!(
            e.message.contains("acknowledgement window (2 min)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn for_grid_reads_the_grids_fields() {
        let grid: Grid = serde_json::from_value(serde_json::json!({
            "id": "g1", "name": "一网格", "polygon": null, "post_chain": ["p1"],
            "response_minutes": 20, "ack_minutes": 3, "at_risk_minutes": null,
            "created_at": t0(), "updated_at": t0(),
        }))
        .unwrap();
        let p = ResponsePolicy::default().for_grid(&grid).unwrap();
        assert_eq!(p, ResponsePolicy::from_minutes(20, 3, 10).unwrap());
    }

    #[test]
    fn policy_is_stored_as_seconds() {
        let p = ResponsePolicy::default();
        let json = serde_json::to_value(p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "response_window_seconds": 900,
                "ack_window_seconds": 120,
                "at_risk_after_seconds": 600,
            })
        );
        assert_eq!(serde_json::from_value::<ResponsePolicy>(json).unwrap(), p);
    }

    #[test]
    fn policy_schema_matches_its_json() {
        let schema = serde_json::to_value(schemars::schema_for!(ResponsePolicy)).unwrap();
        let props = schema["properties"].as_object().unwrap();
        let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ack_window_seconds",
                "at_risk_after_seconds",
                "response_window_seconds"
            ]
        );
        assert_eq!(props["ack_window_seconds"]["type"], "integer");
    }

    #[test]
    fn timers_and_outcomes_serialise_with_tags() {
        let t = Timer::AckDue {
            chain_position: Some(1),
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"timer":"ack_due","chain_position":1}"#);
        assert_eq!(serde_json::from_str::<Timer>(&json).unwrap(), t);
        assert_eq!(
            serde_json::to_string(&Timer::Breach).unwrap(),
            r#"{"timer":"breach"}"#
        );
        assert_eq!(
            serde_json::to_string(&EscalationTarget::Supervisor).unwrap(),
            r#"{"target":"supervisor"}"#
        );
        for (t, k) in [
            (t, "ack_due"),
            (Timer::AtRisk, "at_risk"),
            (Timer::Breach, "breach"),
        ] {
            assert_eq!(t.kind(), k);
        }
    }

    #[test]
    fn on_timer_for_every_state() {
        let ack = Timer::AckDue {
            chain_position: Some(0),
        };
        for s in IncidentState::ALL {
            let ack_out = on_timer(&ack, s, Some(0), 3);
            let at_risk = on_timer(&Timer::AtRisk, s, Some(0), 3);
            let breach = on_timer(&Timer::Breach, s, Some(0), 3);
            match s {
                S::Dispatched => assert_eq!(
                    ack_out,
                    TimerOutcome::Escalate {
                        target: EscalationTarget::Post { chain_position: 1 }
                    }
                ),
                _ => assert_eq!(ack_out, TimerOutcome::Nothing, "{s}"),
            }
            let waiting = matches!(s, S::Raised | S::Dispatched | S::Acknowledged | S::EnRoute);
            assert_eq!(at_risk == TimerOutcome::AtRisk, waiting, "{s}");
            assert_eq!(breach == TimerOutcome::Breached, waiting, "{s}");
            if !waiting {
                assert_eq!(at_risk, TimerOutcome::Nothing);
                assert_eq!(breach, TimerOutcome::Nothing);
            }
        }
    }

    #[test]
    fn ack_timeout_walks_the_chain_then_tells_duty_officers() {
        let ack = |p| Timer::AckDue { chain_position: p };
        let to_post = |p| TimerOutcome::Escalate {
            target: EscalationTarget::Post { chain_position: p },
        };
        let up = TimerOutcome::Escalate {
            target: EscalationTarget::DutyOfficers,
        };
        assert_eq!(
            on_timer(&ack(Some(0)), S::Dispatched, Some(0), 3),
            to_post(1)
        );
        assert_eq!(
            on_timer(&ack(Some(1)), S::Dispatched, Some(1), 3),
            to_post(2)
        );
        assert_eq!(on_timer(&ack(Some(2)), S::Dispatched, Some(2), 3), up);
        // A one-post chain, and a post a duty officer picked from outside the chain.
        assert_eq!(on_timer(&ack(Some(0)), S::Dispatched, Some(0), 1), up);
        assert_eq!(on_timer(&ack(None), S::Dispatched, None, 3), up);
        // Redirected since the timer was armed: it belongs to the earlier dispatch.
        assert_eq!(
            on_timer(&ack(Some(0)), S::Dispatched, Some(2), 3),
            TimerOutcome::Nothing
        );
        assert_eq!(
            on_timer(&ack(Some(0)), S::Dispatched, None, 3),
            TimerOutcome::Nothing
        );
    }

    #[test]
    fn outcome_helpers() {
        let chain: Vec<String> = vec!["p1".into(), "p2".into()];
        let esc = TimerOutcome::Escalate {
            target: EscalationTarget::Post { chain_position: 1 },
        };
        assert_eq!(esc.events(), [EventType::IncidentEscalated]);
        assert_eq!(
            esc.escalate_action(&chain, 0),
            Some(Action::Escalate {
                to_post: Some("p2".into()),
                level: 1
            })
        );
        assert_eq!(
            esc.next_ack_timer(),
            Some(Timer::AckDue {
                chain_position: Some(1)
            })
        );
        assert_eq!(
            TimerOutcome::Breached.events(),
            [EventType::IncidentBreached, EventType::IncidentEscalated]
        );
        assert_eq!(
            TimerOutcome::Breached.escalate_action(&chain, 2),
            Some(Action::Escalate {
                to_post: None,
                level: 3
            })
        );
        assert_eq!(TimerOutcome::Breached.next_ack_timer(), None);
        assert_eq!(TimerOutcome::AtRisk.events(), [EventType::IncidentAtRisk]);
        assert_eq!(TimerOutcome::AtRisk.escalate_action(&chain, 0), None);
        assert!(TimerOutcome::Nothing.events().is_empty());
        assert_eq!(chain_position(&chain, Some("p2")), Some(1));
        assert_eq!(chain_position(&chain, Some("px")), None);
        assert_eq!(chain_position(&chain, None), None);
    }

    /// One incident driven through the real state machine and the timers, on a manual clock,
    /// the way the hub drives it: arm timers, fire those due in order, apply the outcome.
    struct Sim {
        clock: ManualClock,
        policy: ResponsePolicy,
        chain: Vec<String>,
        state: IncidentState,
        post: Option<String>,
        level: u32,
        timers: Vec<(Timer, DateTime<Utc>)>,
        events: Vec<(i64, EventType)>,
    }

    impl Sim {
        /// Raised at t0 and dispatched at once to the first post of a three-post chain.
        fn raise() -> Sim {
            let clock = ManualClock::new(t0());
            let policy = ResponsePolicy::default();
            let mut sim = Sim {
                timers: policy.response_timers(clock.now()).to_vec(),
                clock,
                policy,
                chain: vec!["p1".into(), "p2".into(), "p3".into()],
                state: S::Raised,
                post: None,
                level: 0,
                events: vec![],
            };
            sim.act(Action::Dispatch {
                post_id: "p1".into(),
            });
            sim
        }

        fn minute(&self) -> i64 {
            (self.clock.now() - t0()).num_minutes()
        }

        fn apply(&mut self, action: &Action) {
            let t = transition(self.state, action).unwrap();
            self.state = t.to;
            self.events.push((self.minute(), t.event));
            let redispatched_to = match action {
                Action::Dispatch { post_id } => Some(post_id.clone()),
                Action::Escalate {
                    to_post: Some(p), ..
                } => Some(p.clone()),
                _ => None,
            };
            if let Action::Escalate { level, .. } = action {
                self.level = *level;
            }
            if let Some(p) = redispatched_to {
                self.post = Some(p);
                let pos = chain_position(&self.chain, self.post.as_deref());
                self.timers.retain(|(t, _)| t.kind() != "ack_due");
                self.timers
                    .push(self.policy.ack_timer(self.clock.now(), pos));
            }
        }

        fn act(&mut self, action: Action) {
            self.apply(&action);
        }

        /// Moves the clock and fires every timer that falls due on the way, at its due time.
        fn advance_to(&mut self, minutes: i64) {
            let until = t0() + Duration::minutes(minutes);
            loop {
                self.timers.sort_by_key(|(_, due)| *due);
                match self.timers.first() {
                    Some((_, due)) if *due <= until => {
                        let (timer, due) = self.timers.remove(0);
                        self.clock.set(due);
                        let pos = chain_position(&self.chain, self.post.as_deref());
                        let outcome = on_timer(&timer, self.state, pos, self.chain.len());
                        match outcome {
                            TimerOutcome::AtRisk => {
                                self.events.push((self.minute(), EventType::IncidentAtRisk))
                            }
                            TimerOutcome::Breached => self
                                .events
                                .push((self.minute(), EventType::IncidentBreached)),
                            _ => {}
                        }
                        if let Some(a) = outcome.escalate_action(&self.chain, self.level) {
                            self.apply(&a);
                        }
                    }
                    _ => break,
                }
            }
            self.clock.set(until);
        }
    }

    use EventType as E;

    #[test]
    fn acknowledged_in_time_and_on_scene_before_at_risk() {
        let mut sim = Sim::raise();
        sim.advance_to(1);
        sim.act(Action::Acknowledge);
        sim.act(Action::EnRoute);
        sim.advance_to(8);
        sim.act(Action::Arrive);
        sim.advance_to(30);
        assert_eq!(
            sim.events,
            [
                (0, E::IncidentDispatched),
                (1, E::IncidentAcknowledged),
                (1, E::IncidentEnRoute),
                (8, E::IncidentOnScene)
            ]
        );
        assert_eq!(sim.state, S::OnScene);
        assert_eq!((sim.post.as_deref(), sim.level), (Some("p1"), 0));
    }

    #[test]
    fn unacknowledged_dispatch_escalates_along_the_chain() {
        let mut sim = Sim::raise();
        sim.advance_to(7);
        assert_eq!(
            sim.events,
            [
                (0, E::IncidentDispatched),
                (2, E::IncidentEscalated), // to p2
                (4, E::IncidentEscalated), // to p3
                (6, E::IncidentEscalated), // end of the chain: duty officers
            ]
        );
        assert_eq!(sim.state, S::Dispatched);
        assert_eq!((sim.post.as_deref(), sim.level), (Some("p3"), 3));
        assert!(
            sim.timers.iter().all(|(t, _)| t.kind() != "ack_due"),
            "the chain is spent"
        );
        sim.act(Action::Acknowledge);
        sim.advance_to(9);
        sim.act(Action::Arrive);
        sim.advance_to(30);
        assert_eq!(sim.events.len(), 6, "{:?}", sim.events);
    }

    #[test]
    fn redirect_restarts_the_acknowledgement_window() {
        let mut sim = Sim::raise();
        sim.advance_to(1);
        sim.act(Action::Dispatch {
            post_id: "p3".into(),
        });
        sim.advance_to(2); // p1's window would have ended here
        assert_eq!(sim.events.last(), Some(&(1, E::IncidentDispatched)));
        sim.advance_to(3); // p3's ends here; p3 is the end of the chain
        assert_eq!(sim.events.last(), Some(&(3, E::IncidentEscalated)));
        assert_eq!(sim.post.as_deref(), Some("p3"));
    }

    #[test]
    fn at_risk_but_on_scene_in_time() {
        let mut sim = Sim::raise();
        sim.advance_to(1);
        sim.act(Action::Acknowledge);
        sim.advance_to(12);
        sim.act(Action::Arrive);
        sim.advance_to(30);
        assert_eq!(
            sim.events[2..],
            [(10, E::IncidentAtRisk), (12, E::IncidentOnScene)]
        );
    }

    #[test]
    fn breached_and_escalated_to_supervisor_without_changing_state() {
        let mut sim = Sim::raise();
        sim.advance_to(1);
        sim.act(Action::Acknowledge);
        sim.act(Action::EnRoute);
        sim.advance_to(16);
        assert_eq!(
            sim.events[3..],
            [
                (10, E::IncidentAtRisk),
                (15, E::IncidentBreached),
                (15, E::IncidentEscalated)
            ]
        );
        assert_eq!(sim.state, S::EnRoute);
        assert_eq!((sim.post.as_deref(), sim.level), (Some("p1"), 1));
        assert!(sim.timers.is_empty());
        // Late, but still welcome.
        sim.act(Action::Arrive);
        assert_eq!(sim.state, S::OnScene);
    }

    #[test]
    fn resolved_before_the_deadline_fires_nothing() {
        let mut sim = Sim::raise();
        sim.advance_to(1);
        sim.act(Action::Acknowledge);
        sim.advance_to(5);
        sim.act(Action::Arrive);
        sim.advance_to(6);
        sim.act(Action::Resolve {
            note: "已处置".into(),
        });
        sim.advance_to(60);
        assert_eq!(sim.events.len(), 4, "{:?}", sim.events);
        assert_eq!(sim.state, S::Resolved);
        assert!(sim.timers.is_empty(), "every timer fired, harmlessly");
    }

    #[test]
    fn cancelled_fires_nothing() {
        let mut sim = Sim::raise();
        sim.advance_to(1);
        sim.act(Action::Cancel {
            reason: "误报".into(),
        });
        sim.advance_to(60);
        assert_eq!(
            sim.events,
            [(0, E::IncidentDispatched), (1, E::IncidentCancelled)]
        );
    }

    #[test]
    fn undispatched_incident_still_goes_at_risk_and_breaches() {
        // A grid with no post chain: nobody is dispatched automatically.
        let clock = ManualClock::new(t0());
        let p = ResponsePolicy::default();
        let [(at_risk, at_risk_due), (breach, breach_due)] = p.response_timers(clock.now());
        clock.set(at_risk_due);
        assert_eq!(on_timer(&at_risk, S::Raised, None, 0), TimerOutcome::AtRisk);
        clock.set(breach_due);
        assert_eq!(clock.now(), t0() + Duration::minutes(15));
        let out = on_timer(&breach, S::Raised, None, 0);
        assert_eq!(out, TimerOutcome::Breached);
        let a = out.escalate_action(&[], 0).unwrap();
        assert_eq!(transition(S::Raised, &a).unwrap().to, S::Raised);
    }
}
