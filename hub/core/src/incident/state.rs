//! The incident's state machine: where an incident stands, what may be done to it, and what
//! follows.
//!
//! It lives here as types and one pure function, [`transition`], so that the
//! HTTP edge, the timers and the tests all agree on what may happen when. The store applies a
//! successful [`Transition`] (new state, event to publish) in one database transaction; an
//! [`IllegalTransition`] becomes a 409 that names the incident's current state.
//!
//! ```text
//! raised → dispatched → acknowledged → en_route → on_scene → resolved
//!    └──────────┴────────────┴─────────────┴──────────┴──→ cancelled
//! ```
//!
//! Decisions beyond the straight line, and why:
//! - **Redirect.** `Dispatch` is accepted from raised, dispatched, acknowledged and en_route:
//!   a duty officer may send the incident to another post until someone is on scene. The state
//!   goes (back) to `dispatched`, because the new post has not yet acknowledged.
//! - **Skipping steps forward.** `EnRoute` and `Arrive` are accepted from `dispatched` as well:
//!   a responder who is already on the way, or already there, has plainly taken the incident.
//!   Refusing would make `on_scene_at` later than the truth and let the acknowledgement timer
//!   escalate away from an officer who is standing at the door. The event is the step's own
//!   (`incident.en_route`, `incident.on_scene`); no acknowledgement is invented. `Arrive` is
//!   not accepted from `raised`: nobody has been sent, so nobody can arrive.
//! - **No repeats.** Acknowledging twice, arriving twice, … are 409s, not silent successes: the
//!   answer carries the current state, which is all a retrying console needs.
//! - **Escalation is an event, not a state** (`incident.escalated`). Escalating *to a post*
//!   (`to_post: Some`) is the acknowledgement timer handing the incident to the next post of
//!   the chain; it is only accepted while `dispatched` (once acknowledged, nobody is late to
//!   acknowledge) and the state stays `dispatched`. Escalating *upwards* (`to_post: None`: duty
//!   officers at the end of the chain, the supervisor level on a breach) is accepted in every
//!   open state and leaves the state alone.
//! - **Closing.** `Resolve` only from `on_scene` (resolved means "handled on scene"; an
//!   incident closed without a response is `cancelled`). `Cancel` from every open state.
//!   Nothing leaves `resolved` or `cancelled`.
//! - **False alarm (误报).** `Dismiss` is a cancel with the one standard reason a camera's own
//!   alert needs: nothing was there. It goes where `Cancel` goes (every open state →
//!   `cancelled`, event `incident.cancelled` with `false_alarm: true`), so the response check,
//!   the report's rules for cancelled incidents and every page treat it as one; what it adds is
//!   the mark the report counts per camera, and one click instead of a typed reason. Only
//!   alerts a camera raised by itself may be dismissed ([`dismissible`]): an SOS or an incident
//!   a person raised is called off with a reason that says what happened.

use super::IncidentKind;
use crate::event::EventType;
use crate::validate::{self, ValidationError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where an incident stands.
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
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Raised, not yet sent to any post.
    Raised,
    /// Sent to a post (派警), not yet acknowledged.
    Dispatched,
    /// The post has taken it (接警 / 签收).
    Acknowledged,
    /// A responder is on the way (出警).
    EnRoute,
    /// A responder has arrived (到达现场): the 15-minute promise is kept or missed here.
    OnScene,
    /// Closed after a response, with a note (处置完毕).
    Resolved,
    /// Closed without a response, e.g. a false alarm (已撤销).
    Cancelled,
}

impl IncidentState {
    pub const ALL: [IncidentState; 7] = [
        IncidentState::Raised,
        IncidentState::Dispatched,
        IncidentState::Acknowledged,
        IncidentState::EnRoute,
        IncidentState::OnScene,
        IncidentState::Resolved,
        IncidentState::Cancelled,
    ];

    /// The states of `?state=open`, e.g. for an SQL `IN (...)`. The store's partial index
    /// `incidents_open_created` (migration 0027) names the same five: change both together.
    pub const OPEN: [IncidentState; 5] = [
        IncidentState::Raised,
        IncidentState::Dispatched,
        IncidentState::Acknowledged,
        IncidentState::EnRoute,
        IncidentState::OnScene,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Raised => "raised",
            IncidentState::Dispatched => "dispatched",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::EnRoute => "en_route",
            IncidentState::OnScene => "on_scene",
            IncidentState::Resolved => "resolved",
            IncidentState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentState> {
        IncidentState::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Still needs someone's attention: neither resolved nor cancelled.
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentState::Resolved | IncidentState::Cancelled)
    }

    /// Open and nobody on scene yet: the response check still runs (at risk, breach).
    pub fn awaits_arrival(self) -> bool {
        self.is_open() && self != IncidentState::OnScene
    }
}

impl std::fmt::Display for IncidentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person or a timer does to an incident.
///
/// Serialised with an `action` tag (`{"action":"dispatch","post_id":"…"}`) so that it can be
/// kept in a timeline or a queue as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Send to a post, or redirect to another one (duty officer).
    Dispatch { post_id: String },
    /// The post has taken the incident.
    Acknowledge,
    /// A responder is on the way.
    EnRoute,
    /// A responder is on scene.
    Arrive,
    /// Closed after the response.
    Resolve { note: String },
    /// Closed without a response.
    Cancel { reason: String },
    /// Closed without a response as a false alarm (误报): a camera's alert with nothing there.
    Dismiss,
    /// Hand to the next post of the chain (`to_post: Some`, only while `dispatched`), or tell
    /// the level above (`to_post: None`: duty officers, supervisor level; any open state).
    /// `level` is the incident's new `escalation_level`: how many times it has now been
    /// escalated (the first escalation is level 1).
    Escalate { to_post: Option<String>, level: u32 },
}

impl Action {
    /// A short name for messages: "cannot acknowledge an incident that is resolved".
    pub fn name(&self) -> &'static str {
        match self {
            Action::Dispatch { .. } => "dispatch",
            Action::Acknowledge => "acknowledge",
            Action::EnRoute => "en_route",
            Action::Arrive => "arrive",
            Action::Resolve { .. } => "resolve",
            Action::Cancel { .. } => "cancel",
            Action::Dismiss => "dismiss",
            Action::Escalate { .. } => "escalate",
        }
    }

    /// Checks what people typed: a post id, a resolution note, a cancellation reason. Whether
    /// the post exists is the store's to check; whether the action fits the state is
    /// [`transition`]'s.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Action::Dispatch { post_id } => non_blank("post_id", post_id, 100),
            Action::Resolve { note } => non_blank("note", note, 4000),
            Action::Cancel { reason } => non_blank("reason", reason, 1000),
            Action::Escalate {
                to_post: Some(post_id),
                ..
            } => non_blank("to_post", post_id, 100),
            _ => Ok(()),
        }
    }
}

/// Free text that must say something (notes may span lines, so no `validate::name`).
fn non_blank(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    validate::text(field, Some(value), max)
}

/// A transition that may happen: the state after it and the event to publish.
///
/// `from == to` for a redirect from `dispatched` and for every escalation; the event is
/// published all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: IncidentState,
    pub to: IncidentState,
    pub event: EventType,
}

impl Transition {
    pub fn changes_state(&self) -> bool {
        self.from != self.to
    }
}

/// An action that does not fit the incident's state: a 409 that tells the caller where the
/// incident stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cannot {action} an incident that is {state}")]
pub struct IllegalTransition {
    /// The incident's current state.
    pub state: IncidentState,
    /// [`Action::name`] of what was attempted.
    pub action: &'static str,
}

/// Where `action` takes an incident in `state`, and which event says so.
pub fn transition(state: IncidentState, action: &Action) -> Result<Transition, IllegalTransition> {
    use IncidentState as S;
    let (to, event) = match (state, action) {
        (S::Raised | S::Dispatched | S::Acknowledged | S::EnRoute, Action::Dispatch { .. }) => {
            (S::Dispatched, EventType::IncidentDispatched)
        }
        (S::Dispatched, Action::Acknowledge) => (S::Acknowledged, EventType::IncidentAcknowledged),
        (S::Dispatched | S::Acknowledged, Action::EnRoute) => {
            (S::EnRoute, EventType::IncidentEnRoute)
        }
        (S::Dispatched | S::Acknowledged | S::EnRoute, Action::Arrive) => {
            (S::OnScene, EventType::IncidentOnScene)
        }
        (S::OnScene, Action::Resolve { .. }) => (S::Resolved, EventType::IncidentResolved),
        (s, Action::Cancel { .. } | Action::Dismiss) if s.is_open() => {
            (S::Cancelled, EventType::IncidentCancelled)
        }
        (
            S::Dispatched,
            Action::Escalate {
                to_post: Some(_), ..
            },
        ) => (S::Dispatched, EventType::IncidentEscalated),
        (s, Action::Escalate { to_post: None, .. }) if s.is_open() => {
            (s, EventType::IncidentEscalated)
        }
        _ => {
            return Err(IllegalTransition {
                state,
                action: action.name(),
            })
        }
    };
    Ok(Transition {
        from: state,
        to,
        event,
    })
}

/// The standard reason a false alarm's `incident.cancelled` event carries (with
/// `false_alarm: true`): the same for every dismissal, so that nothing needs typing.
pub const FALSE_ALARM_REASON: &str = "false_alarm";

/// Whether an incident of this kind may be dismissed as a false alarm ([`Action::Dismiss`]):
/// only a camera's own motion alert, where "nothing was there" is the whole story.
pub fn dismissible(kind: IncidentKind) -> bool {
    kind == IncidentKind::Motion
}

/// What people may do to an incident of `kind` in `state`, by [`Action::name`], in the order
/// pages offer them: the state machine's answer ([`transition`], [`dismissible`]), so that a
/// page shows only the buttons the hub will accept. Escalation is left out: only the response
/// check escalates.
pub fn allowed_actions(kind: IncidentKind, state: IncidentState) -> Vec<&'static str> {
    let candidates = [
        Action::Dispatch {
            post_id: String::new(),
        },
        Action::Acknowledge,
        Action::EnRoute,
        Action::Arrive,
        Action::Resolve {
            note: String::new(),
        },
        Action::Cancel {
            reason: String::new(),
        },
        Action::Dismiss,
    ];
    candidates
        .iter()
        .filter(|a| *a != &Action::Dismiss || dismissible(kind))
        .filter(|a| transition(state, a).is_ok())
        .map(Action::name)
        .collect()
}

/// Whether the resident who raised an SOS may still call it off themselves: until someone is
/// on scene (after that, only the duty room may).
pub fn resident_may_cancel(state: IncidentState) -> bool {
    state.awaits_arrival()
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentState as S;

    #[test]
    fn allowed_actions_are_the_transitions_that_succeed() {
        use IncidentKind as K;
        assert_eq!(allowed_actions(K::Sos, S::Raised), ["dispatch", "cancel"]);
        assert_eq!(
            allowed_actions(K::Sos, S::Dispatched),
            ["dispatch", "acknowledge", "en_route", "arrive", "cancel"]
        );
        assert_eq!(allowed_actions(K::Sos, S::OnScene), ["resolve", "cancel"]);
        assert!(allowed_actions(K::Sos, S::Resolved).is_empty());
        // A camera's motion alert may also be dismissed as a false alarm, wherever it stands
        // while open; no other kind may.
        assert_eq!(
            allowed_actions(K::Motion, S::Dispatched),
            [
                "dispatch",
                "acknowledge",
                "en_route",
                "arrive",
                "cancel",
                "dismiss"
            ]
        );
        assert_eq!(
            allowed_actions(K::Motion, S::OnScene),
            ["resolve", "cancel", "dismiss"]
        );
        assert!(allowed_actions(K::Motion, S::Cancelled).is_empty());
        for kind in K::ALL {
            assert_eq!(
                allowed_actions(kind, S::Raised).contains(&"dismiss"),
                kind == K::Motion,
                "{kind}"
            );
            for state in S::ALL {
                for name in allowed_actions(kind, state) {
                    let action = actions().into_iter().find(|a| a.name() == name).unwrap();
                    assert!(transition(state, &action).is_ok(), "{name} from {state}");
                }
            }
        }
        assert!(resident_may_cancel(S::EnRoute));
        assert!(!resident_may_cancel(S::OnScene));
        assert!(!resident_may_cancel(S::Cancelled));
    }

    /// One of each kind of action, in the column order of [`TABLE`].
    fn actions() -> [Action; 9] {
        [
            Action::Dispatch {
                post_id: "p2".into(),
            },
            Action::Acknowledge,
            Action::EnRoute,
            Action::Arrive,
            Action::Resolve {
                note: "家庭纠纷，已调解".into(),
            },
            Action::Cancel {
                reason: "误报".into(),
            },
            Action::Dismiss,
            Action::Escalate {
                to_post: Some("p3".into()),
                level: 1,
            },
            Action::Escalate {
                to_post: None,
                level: 2,
            },
        ]
    }

    const X: Option<S> = None;

    /// Every (state, action) pair: `None` is a 409, `Some(s)` is the state after.
    /// Columns: dispatch, ack, en_route, arrive, resolve, cancel, dismiss, escalate to post,
    /// escalate up.
    const TABLE: [(S, [Option<S>; 9]); 7] = [
        (
            S::Raised,
            [
                Some(S::Dispatched),
                X,
                X,
                X,
                X,
                Some(S::Cancelled),
                Some(S::Cancelled),
                X,
                Some(S::Raised),
            ],
        ),
        (
            S::Dispatched,
            [
                Some(S::Dispatched),
                Some(S::Acknowledged),
                Some(S::EnRoute),
                Some(S::OnScene),
                X,
                Some(S::Cancelled),
                Some(S::Cancelled),
                Some(S::Dispatched),
                Some(S::Dispatched),
            ],
        ),
        (
            S::Acknowledged,
            [
                Some(S::Dispatched),
                X,
                Some(S::EnRoute),
                Some(S::OnScene),
                X,
                Some(S::Cancelled),
                Some(S::Cancelled),
                X,
                Some(S::Acknowledged),
            ],
        ),
        (
            S::EnRoute,
            [
                Some(S::Dispatched),
                X,
                X,
                Some(S::OnScene),
                X,
                Some(S::Cancelled),
                Some(S::Cancelled),
                X,
                Some(S::EnRoute),
            ],
        ),
        (
            S::OnScene,
            [
                X,
                X,
                X,
                X,
                Some(S::Resolved),
                Some(S::Cancelled),
                Some(S::Cancelled),
                X,
                Some(S::OnScene),
            ],
        ),
        (S::Resolved, [X, X, X, X, X, X, X, X, X]),
        (S::Cancelled, [X, X, X, X, X, X, X, X, X]),
    ];

    fn expected_event(action: &Action) -> EventType {
        match action {
            Action::Dispatch { .. } => EventType::IncidentDispatched,
            Action::Acknowledge => EventType::IncidentAcknowledged,
            Action::EnRoute => EventType::IncidentEnRoute,
            Action::Arrive => EventType::IncidentOnScene,
            Action::Resolve { .. } => EventType::IncidentResolved,
            Action::Cancel { .. } | Action::Dismiss => EventType::IncidentCancelled,
            Action::Escalate { .. } => EventType::IncidentEscalated,
        }
    }

    #[test]
    fn every_state_and_action_against_the_table() {
        assert_eq!(
            TABLE.map(|(s, _)| s),
            IncidentState::ALL,
            "the table covers every state once"
        );
        let mut checked = 0;
        for (state, row) in TABLE {
            for (action, expected) in actions().iter().zip(row) {
                let got = transition(state, action);
                match expected {
                    Some(to) => {
                        let t = got.unwrap_or_else(|e| panic!("{state} + {}: {e}", action.name()));
                        assert_eq!(t.from, state);
                        assert_eq!(t.to, to, "{state} + {}", action.name());
                        assert_eq!(
                            t.event,
                            expected_event(action),
                            "{state} + {}",
                            action.name()
                        );
                        assert_eq!(t.changes_state(), state != to);
                    }
                    None => {
                        let e =
                            got.expect_err(&format!("{state} + {} must be refused", action.name()));
                        assert_eq!(e.state, state);
                        assert_eq!(e.action, action.name());
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 7 * 9);
    }

    #[test]
    fn nothing_leaves_a_closed_incident_and_cancel_works_from_every_open_one() {
        for s in IncidentState::ALL {
            let cancel = transition(s, &Action::Cancel { reason: "r".into() });
            assert_eq!(cancel.is_ok(), s.is_open(), "{s}");
            // A false alarm closes exactly as a cancel does.
            assert_eq!(transition(s, &Action::Dismiss).ok(), cancel.ok(), "{s}");
            if !s.is_open() {
                assert!(actions().iter().all(|a| transition(s, a).is_err()));
            }
        }
    }

    #[test]
    fn the_straight_line_is_walkable() {
        let mut s = S::Raised;
        for a in [
            Action::Dispatch {
                post_id: "p1".into(),
            },
            Action::Acknowledge,
            Action::EnRoute,
            Action::Arrive,
            Action::Resolve { note: "ok".into() },
        ] {
            s = transition(s, &a).unwrap().to;
        }
        assert_eq!(s, S::Resolved);
    }

    #[test]
    fn refusal_names_the_current_state_for_a_409() {
        let e = transition(S::Resolved, &Action::Acknowledge).unwrap_err();
        assert_eq!(e.state, S::Resolved);
        assert_eq!(e.action, "acknowledge");
        assert_eq!(
            e.to_string(),
            "cannot acknowledge an incident that is resolved"
        );
    }

    #[test]
    fn open_states() {
        let open: Vec<_> = IncidentState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .collect();
        assert_eq!(open, IncidentState::OPEN);
        let awaiting: Vec<_> = IncidentState::ALL
            .into_iter()
            .filter(|s| s.awaits_arrival())
            .collect();
        assert_eq!(
            awaiting,
            [S::Raised, S::Dispatched, S::Acknowledged, S::EnRoute]
        );
    }

    #[test]
    fn actions_serialise_with_a_tag() {
        let a = Action::Escalate {
            to_post: Some("p2".into()),
            level: 1,
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"action":"escalate","to_post":"p2","level":1}"#);
        assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
        assert_eq!(
            serde_json::to_string(&Action::EnRoute).unwrap(),
            r#"{"action":"en_route"}"#
        );
    }

    #[test]
    fn actions_validate_what_people_typed() {
        assert!(Action::Resolve {
            note: "已处置".into()
        }
        .validate()
        .is_ok());
        assert_eq!(
            Action::Resolve { note: "  ".into() }
                .validate()
                .unwrap_err()
                .field,
            "note"
        );
        assert_eq!(
            Action::Cancel {
                reason: String::new()
            }
            .validate()
            .unwrap_err()
            .field,
            "reason"
        );
        assert_eq!(
            Action::Dispatch { post_id: "".into() }
                .validate()
                .unwrap_err()
                .field,
            "post_id"
        );
        assert!(Action::Resolve {
            note: "第一行\n第二行".into()
        }
        .validate()
        .is_ok());
        assert!(Action::Resolve {
            note: "x".repeat(4001)
        }
        .validate()
        .is_err());
        assert!(Action::Arrive.validate().is_ok());
    }
}
