//! Incidents (警情): one call for help or one alert, tracked from raised to closed.
//!
//! The state machine lives here as types and one pure function, [`transition`], so that the
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

use crate::validate::{self, ValidationError};
use chrono::{DateTime, Utc};
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

    /// The states of `?state=open`, e.g. for an SQL `IN (...)`.
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

/// What raised the incident.
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
pub enum IncidentKind {
    /// A resident's or a panic button's one-button alarm (一键报警).
    Sos,
    /// A camera stopped sending (设备离线).
    CameraOffline,
    /// Motion detected by a camera.
    Motion,
    /// Raised by a duty officer by hand, e.g. from a phone call or the live wall.
    Manual,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 4] = [
        IncidentKind::Sos,
        IncidentKind::CameraOffline,
        IncidentKind::Motion,
        IncidentKind::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Sos => "sos",
            IncidentKind::CameraOffline => "camera_offline",
            IncidentKind::Motion => "motion",
            IncidentKind::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentKind> {
        IncidentKind::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `type` of an event on the real-time stream: every type the API contract lists.
///
/// Only some are produced by [`transition`]; the others come from elsewhere: `raised` and
/// `repeat` from raising, `delivered` from a console's receipt, `at_risk` and `breached` from
/// the response check (`crate::sla`), and the camera and post ones from presence.
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
pub enum EventType {
    #[serde(rename = "incident.raised")]
    IncidentRaised,
    /// The same device or resident pressed SOS again while its incident is open.
    #[serde(rename = "incident.repeat")]
    IncidentRepeat,
    #[serde(rename = "incident.dispatched")]
    IncidentDispatched,
    /// A console confirmed that a dispatch reached it (a `receipt` on the stream).
    #[serde(rename = "incident.delivered")]
    IncidentDelivered,
    /// Dispatched to a post with no console online: nobody there will see it, so duty
    /// officers are told at once instead of after the acknowledgement window.
    #[serde(rename = "incident.undelivered")]
    IncidentUndelivered,
    #[serde(rename = "incident.acknowledged")]
    IncidentAcknowledged,
    #[serde(rename = "incident.en_route")]
    IncidentEnRoute,
    #[serde(rename = "incident.on_scene")]
    IncidentOnScene,
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    #[serde(rename = "incident.cancelled")]
    IncidentCancelled,
    #[serde(rename = "incident.escalated")]
    IncidentEscalated,
    #[serde(rename = "incident.at_risk")]
    IncidentAtRisk,
    #[serde(rename = "incident.breached")]
    IncidentBreached,
    #[serde(rename = "camera.online")]
    CameraOnline,
    #[serde(rename = "camera.offline")]
    CameraOffline,
    #[serde(rename = "post.online")]
    PostOnline,
    #[serde(rename = "post.offline")]
    PostOffline,
}

impl EventType {
    pub const ALL: [EventType; 17] = [
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
        EventType::IncidentAtRisk,
        EventType::IncidentBreached,
        EventType::CameraOnline,
        EventType::CameraOffline,
        EventType::PostOnline,
        EventType::PostOffline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::IncidentRaised => "incident.raised",
            EventType::IncidentRepeat => "incident.repeat",
            EventType::IncidentDispatched => "incident.dispatched",
            EventType::IncidentDelivered => "incident.delivered",
            EventType::IncidentUndelivered => "incident.undelivered",
            EventType::IncidentAcknowledged => "incident.acknowledged",
            EventType::IncidentEnRoute => "incident.en_route",
            EventType::IncidentOnScene => "incident.on_scene",
            EventType::IncidentResolved => "incident.resolved",
            EventType::IncidentCancelled => "incident.cancelled",
            EventType::IncidentEscalated => "incident.escalated",
            EventType::IncidentAtRisk => "incident.at_risk",
            EventType::IncidentBreached => "incident.breached",
            EventType::CameraOnline => "camera.online",
            EventType::CameraOffline => "camera.offline",
            EventType::PostOnline => "post.online",
            EventType::PostOffline => "post.offline",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the event is about an incident (and so carries `incident` on the stream).
    pub fn is_incident(self) -> bool {
        self.as_str().starts_with("incident.")
    }
}

impl std::fmt::Display for EventType {
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
        (s, Action::Cancel { .. }) if s.is_open() => (S::Cancelled, EventType::IncidentCancelled),
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

/// What people may do to an incident in `state`, by [`Action::name`], in the order pages
/// offer them: the state machine's answer ([`transition`]), so that a page shows only the
/// buttons the hub will accept. Escalation is left out: only the response check escalates.
pub fn allowed_actions(state: IncidentState) -> Vec<&'static str> {
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
    ];
    candidates
        .iter()
        .filter(|a| transition(state, a).is_ok())
        .map(Action::name)
        .collect()
}

/// Whether the resident who raised an SOS may still call it off themselves: until someone is
/// on scene (after that, only the duty room may).
pub fn resident_may_cancel(state: IncidentState) -> bool {
    state.awaits_arrival()
}

/// Who raised an incident, as the API shows it: `resident:<user_id>`, `device:<device_id>`,
/// `officer:<user_id>` (a duty officer, by hand) or `camera:<camera_id>`.
///
/// It is also the key of "the same caller" for repeat presses and idempotency keys, and what
/// lets a resident see their own incidents.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Source {
    Resident(String),
    Device(String),
    Officer(String),
    Camera(String),
}

impl Source {
    pub fn parse(s: &str) -> Option<Source> {
        let (kind, id) = s.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        let id = id.to_string();
        Some(match kind {
            "resident" => Source::Resident(id),
            "device" => Source::Device(id),
            "officer" => Source::Officer(id),
            "camera" => Source::Camera(id),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, id) = match self {
            Source::Resident(id) => ("resident", id),
            Source::Device(id) => ("device", id),
            Source::Officer(id) => ("officer", id),
            Source::Camera(id) => ("camera", id),
        };
        write!(f, "{kind}:{id}")
    }
}

impl From<Source> for String {
    fn from(s: Source) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Source {
    type Error = String;
    fn try_from(s: String) -> Result<Source, String> {
        Source::parse(&s).ok_or_else(|| format!("not an incident source: {s:?}"))
    }
}

/// One incident, as stored and as the API shows it (`GET /api/v1/incidents/{id}` adds its
/// `timeline`). What changes it is decided in [`crate::dispatch`]; the store only keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub kind: IncidentKind,
    pub state: IncidentState,
    /// The grid it was routed to; `None` when neither a location nor the caller named one.
    pub grid_id: Option<String>,
    /// The post it is dispatched to now.
    pub post_id: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub source: Source,
    pub note: Option<String>,
    /// The camera a duty officer raised it from, if any.
    pub camera_id: Option<String>,
    /// The cameras nearest to it (the grid's first), nearest first.
    pub cameras: Vec<String>,
    /// Pressed again while open: the caller is insisting.
    pub urgent: bool,
    pub repeat_count: u32,
    /// How many times it has been escalated.
    pub escalation_level: u32,
    /// The grid's post chain when it was raised, frozen.
    pub post_chain: Vec<String>,
    /// Where `post_id` stands in `post_chain` (`None`: not dispatched, or to a post outside it).
    pub chain_position: Option<usize>,
    /// The response windows in force when it was raised, frozen.
    pub policy: crate::sla::ResponsePolicy,
    pub created_at: DateTime<Utc>,
    /// `created_at + response window`: on scene by then, or the promise is broken.
    pub deadline_at: DateTime<Utc>,
    /// The latest press (the raise or a repeat): repeats within 120 s of it are the same call.
    pub last_press_at: DateTime<Utc>,
    /// The latest dispatch (by a duty officer, automatically or by escalation).
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When the post it is dispatched to acknowledged; cleared by a new dispatch.
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub on_scene_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was resolved or cancelled.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was flagged at risk (即将超时).
    pub at_risk_at: Option<DateTime<Utc>>,
    /// When the deadline passed with nobody on scene (已超时).
    pub breached_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A resident's or a panic button's press: `POST /api/v1/sos`, or an MQTT message.
///
/// Unknown fields are ignored and a location that is not one is dropped (and said so in the
/// timeline) rather than refused: an SOS is never turned away for its form.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
pub struct SosPress {
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub note: Option<String>,
}

impl SosPress {
    /// Longest note kept; longer ones are cut.
    pub const MAX_NOTE: usize = 1000;

    /// The press made fit to store: a bad location dropped (the reason is returned), the note
    /// trimmed and cut to [`SosPress::MAX_NOTE`] characters.
    pub fn sanitized(mut self) -> (SosPress, Option<String>) {
        let mut dropped = None;
        if let Err(e) = validate::lat_lon(self.lat, self.lon) {
            dropped = Some(e.to_string());
            self.lat = None;
            self.lon = None;
        }
        self.note = self
            .note
            .map(|n| {
                n.trim()
                    .chars()
                    .take(SosPress::MAX_NOTE)
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty());
        (self, dropped)
    }

    /// Reads a press from any JSON: `null` is an empty press, an object gives the fields that
    /// have the right type (the others are named in the second value, to be recorded), and
    /// anything else is not a press at all.
    pub fn from_json(v: &serde_json::Value) -> Result<(SosPress, Vec<String>), ValidationError> {
        let obj = match v {
            serde_json::Value::Null => return Ok((SosPress::default(), vec![])),
            serde_json::Value::Object(o) => o,
            _ => {
                return Err(ValidationError::new(
                    "body",
                    "must be a JSON object or empty",
                ))
            }
        };
        let mut ignored = vec![];
        let mut number = |k: &str| match obj.get(k) {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => v.as_f64().or_else(|| {
                ignored.push(k.to_string());
                None
            }),
        };
        let lat = number("lat");
        let lon = number("lon");
        let note = match obj.get("note") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                ignored.push("note".into());
                None
            }
        };
        ignored.extend(
            obj.keys()
                .filter(|k| !matches!(k.as_str(), "lat" | "lon" | "note"))
                .cloned(),
        );
        Ok((SosPress { lat, lon, note }, ignored))
    }

    pub fn location(&self) -> Option<(f64, f64)> {
        self.lat.zip(self.lon)
    }
}

/// `POST /api/v1/incidents`: a duty officer raises an incident by hand.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    /// `manual` unless given.
    #[serde(default = "manual")]
    pub kind: IncidentKind,
    #[serde(default)]
    pub grid_id: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub camera_id: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

fn manual() -> IncidentKind {
    IncidentKind::Manual
}

impl NewIncident {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::lat_lon(self.lat, self.lon)?;
        validate::text("note", self.note.as_deref(), SosPress::MAX_NOTE)?;
        for (field, v) in [("grid_id", &self.grid_id), ("camera_id", &self.camera_id)] {
            if let Some(id) = v {
                validate::name(field, id, 100)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentState as S;

    #[test]
    fn allowed_actions_are_the_transitions_that_succeed() {
        assert_eq!(allowed_actions(S::Raised), ["dispatch", "cancel"]);
        assert_eq!(
            allowed_actions(S::Dispatched),
            ["dispatch", "acknowledge", "en_route", "arrive", "cancel"]
        );
        assert_eq!(allowed_actions(S::OnScene), ["resolve", "cancel"]);
        assert!(allowed_actions(S::Resolved).is_empty());
        for state in S::ALL {
            for name in allowed_actions(state) {
                let action = actions().into_iter().find(|a| a.name() == name).unwrap();
                assert!(transition(state, &action).is_ok(), "{name} from {state}");
            }
        }
        assert!(resident_may_cancel(S::EnRoute));
        assert!(!resident_may_cancel(S::OnScene));
        assert!(!resident_may_cancel(S::Cancelled));
    }

    /// One of each kind of action, in the column order of [`TABLE`].
    fn actions() -> [Action; 8] {
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
    /// Columns: dispatch, ack, en_route, arrive, resolve, cancel, escalate to post, escalate up.
    const TABLE: [(S, [Option<S>; 8]); 7] = [
        (
            S::Raised,
            [
                Some(S::Dispatched),
                X,
                X,
                X,
                X,
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
                X,
                Some(S::OnScene),
            ],
        ),
        (S::Resolved, [X, X, X, X, X, X, X, X]),
        (S::Cancelled, [X, X, X, X, X, X, X, X]),
    ];

    fn expected_event(action: &Action) -> EventType {
        match action {
            Action::Dispatch { .. } => EventType::IncidentDispatched,
            Action::Acknowledge => EventType::IncidentAcknowledged,
            Action::EnRoute => EventType::IncidentEnRoute,
            Action::Arrive => EventType::IncidentOnScene,
            Action::Resolve { .. } => EventType::IncidentResolved,
            Action::Cancel { .. } => EventType::IncidentCancelled,
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
        assert_eq!(checked, 7 * 8);
    }

    #[test]
    fn nothing_leaves_a_closed_incident_and_cancel_works_from_every_open_one() {
        for s in IncidentState::ALL {
            let cancel = transition(s, &Action::Cancel { reason: "r".into() });
            assert_eq!(cancel.is_ok(), s.is_open(), "{s}");
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
    fn names_round_trip_through_serde() {
        for s in IncidentState::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(serde_json::to_string(&S::EnRoute).unwrap(), "\"en_route\"");
        for k in IncidentKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            assert_eq!(IncidentKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(IncidentKind::parse("fire"), None);
    }

    #[test]
    fn event_types_are_exactly_the_contracts() {
        // The contract's list, and `incident.undelivered` (a dispatch no console received).
        let contract =
            "incident.raised, incident.repeat, incident.dispatched, incident.delivered, \
            incident.undelivered, incident.acknowledged, incident.en_route, incident.on_scene, \
            incident.resolved, \
            incident.cancelled, incident.escalated, incident.at_risk, incident.breached, \
            camera.online, camera.offline, post.online, post.offline";
        let names: Vec<&str> = contract.split(',').map(str::trim).collect();
        assert_eq!(names, EventType::ALL.map(EventType::as_str));
        for e in EventType::ALL {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), e);
            assert_eq!(EventType::parse(e.as_str()), Some(e));
            assert_eq!(e.is_incident(), e.as_str().starts_with("incident."));
        }
        assert_eq!(EventType::parse("hello"), None);
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

    #[test]
    fn sources_read_and_write_as_kind_colon_id() {
        for (s, v) in [
            ("resident:u1", Source::Resident("u1".into())),
            ("device:d1", Source::Device("d1".into())),
            ("officer:u2", Source::Officer("u2".into())),
            ("camera:c1", Source::Camera("c1".into())),
        ] {
            assert_eq!(Source::parse(s), Some(v.clone()));
            assert_eq!(v.to_string(), s);
            assert_eq!(serde_json::to_value(&v).unwrap(), serde_json::json!(s));
        }
        for bad in ["resident", "resident:", "alien:x", ""] {
            assert_eq!(Source::parse(bad), None, "{bad}");
        }
        assert!(serde_json::from_str::<Source>("\"alien:x\"").is_err());
    }

    #[test]
    fn a_press_is_made_fit_to_store_not_refused() {
        let p: SosPress =
            serde_json::from_str(r#"{"lat": 26.5, "lon": 107.9, "note": "  救命  ", "x": 1}"#)
                .unwrap();
        let (p, dropped) = p.sanitized();
        assert_eq!(
            (p.location(), p.note.as_deref(), dropped),
            (Some((26.5, 107.9)), Some("救命"), None)
        );

        let p: SosPress = serde_json::from_str(r#"{"lat": 126.5}"#).unwrap();
        let (p, dropped) = p.sanitized();
        assert_eq!(p.location(), None);
        assert!(dropped.unwrap().contains("lat"));

        let p = SosPress {
            note: Some("很".repeat(SosPress::MAX_NOTE + 5)),
            ..Default::default()
        };
        assert_eq!(
            p.sanitized().0.note.unwrap().chars().count(),
            SosPress::MAX_NOTE
        );
        assert_eq!(
            SosPress {
                note: Some("   ".into()),
                ..Default::default()
            }
            .sanitized()
            .0
            .note,
            None
        );
    }

    #[test]
    fn a_press_is_read_from_any_object() {
        let v = serde_json::json!({"lat": 26.5, "lon": "107.9", "note": 5, "colour": "red"});
        let (p, mut ignored) = SosPress::from_json(&v).unwrap();
        ignored.sort();
        assert_eq!((p.lat, p.lon, p.note), (Some(26.5), None, None));
        assert_eq!(ignored, ["colour", "lon", "note"]);
        assert_eq!(
            SosPress::from_json(&serde_json::Value::Null).unwrap().0,
            SosPress::default()
        );
        assert!(SosPress::from_json(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn manual_incidents_default_to_manual_and_check_their_input() {
        let n: NewIncident = serde_json::from_str(r#"{"note": "电话报警"}"#).unwrap();
        assert_eq!(n.kind, IncidentKind::Manual);
        assert!(n.validate().is_ok());
        let n: NewIncident = serde_json::from_str(r#"{"lat": 26.5}"#).unwrap();
        assert_eq!(n.validate().unwrap_err().field, "lon");
        assert!(serde_json::from_str::<NewIncident>(r#"{"colour": "red"}"#).is_err());
    }
}
