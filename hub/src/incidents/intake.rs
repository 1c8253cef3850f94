//! Raising incidents: SOS presses from residents and panic buttons, and incidents a duty
//! officer raises by hand.
//!
//! [`raise_sos`] is the one way in for an SOS, whatever carried it (HTTP now, MQTT later): it
//! applies the per-caller rate limit, routes the press and has the store raise the incident —
//! or record a repeat press, or replay an `Idempotency-Key` — in one transaction that is
//! committed before it returns. Only then may the caller be told "help is coming".

use super::routing::{route, Route};
use crate::state::AppState;
use chrono::Duration;
use gridwatch_core::device::Device;
use gridwatch_core::dispatch::Raise;
use gridwatch_core::event::Actor;
use gridwatch_core::incident::{IncidentKind, NewIncident, SosPress, Source};
use gridwatch_core::routing::RoutedBy;
use gridwatch_core::user::User;
use gridwatch_core::ValidationError;
use gridwatch_store::{RaiseOutcome, RaiseRequest, Raised, StoreError};
use serde_json::json;
use thiserror::Error;

/// A press within this long of the caller's previous press on an open incident is a repeat of
/// it (the window slides: every press extends it).
pub const REPEAT_WINDOW_SECONDS: i64 = 120;

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Who pressed SOS.
#[derive(Debug, Clone)]
pub enum SosCaller {
    Resident(User),
    Device(Device),
}

impl SosCaller {
    pub fn source(&self) -> Source {
        match self {
            SosCaller::Resident(u) => Source::Resident(u.id.clone()),
            SosCaller::Device(d) => Source::Device(d.id.clone()),
        }
    }

    fn actor(&self, origin: &str) -> Actor {
        match self {
            SosCaller::Resident(u) => Actor::user(&u.id, origin),
            SosCaller::Device(d) => Actor::device(&d.id, origin),
        }
    }
}

#[derive(Debug, Error)]
pub enum IntakeError {
    /// The caller pressed more than the limit allows; try again after this many seconds.
    #[error("too many SOS presses; the incident is raised — try again in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks an `Idempotency-Key`: 1 to 200 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ValidationError::new(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(())
}

fn raise_of(
    kind: IncidentKind,
    source: Source,
    route: Route,
    location: Option<(f64, f64)>,
    note: Option<String>,
    camera_id: Option<String>,
    details: serde_json::Value,
) -> Raise {
    Raise {
        id: gridwatch_core::id::new_id(),
        kind,
        source,
        grid_id: route.grid_id,
        routed_by: route.routed_by,
        post_chain: route.post_chain,
        policy: route.policy,
        lat: location.map(|l| l.0),
        lon: location.map(|l| l.1),
        note,
        camera_id,
        cameras: route.cameras,
        details,
    }
}

/// Raises an SOS (or records a repeat press, or replays an idempotency key). `origin` says
/// where it came from for the audit trail: `http <address>`, `mqtt`. `ignored` names fields of
/// the press that were not understood, to be recorded.
pub async fn raise_sos(
    state: &AppState,
    caller: SosCaller,
    press: SosPress,
    ignored: Vec<String>,
    idempotency_key: Option<String>,
    origin: &str,
) -> Result<Raised, IntakeError> {
    let now = state.now();
    let source = caller.source();
    if let Err(retry_after) = state.incidents.sos_limit.press(&source.to_string(), now) {
        state.incidents.metrics.rate_limited.inc();
        tracing::warn!(%source, retry_after, "SOS rate-limited");
        return Err(IntakeError::RateLimited { retry_after });
    }
    if let Some(k) = &idempotency_key {
        check_idempotency_key(k)?;
    }
    let (press, dropped) = press.sanitized();
    let (location, fallback) = match &caller {
        // A button's own position stands in when the press carries none.
        SosCaller::Device(d) => (
            press.location().or(d.lat.zip(d.lon)),
            Some((d.grid_id.as_str(), RoutedBy::Device)),
        ),
        SosCaller::Resident(u) => (
            press.location(),
            u.grid_id.as_deref().map(|g| (g, RoutedBy::Resident)),
        ),
    };
    let route = route(state, location, fallback).await?;
    let mut details = json!({});
    if let Some(why) = dropped {
        details["location_dropped"] = json!(why);
    }
    if !ignored.is_empty() {
        details["ignored_fields"] = json!(ignored);
    }
    let raise = raise_of(
        IncidentKind::Sos,
        source.clone(),
        route,
        location,
        press.note,
        None,
        details,
    );
    let req = RaiseRequest {
        raise,
        actor: caller.actor(origin),
        repeat_window: Some(Duration::seconds(REPEAT_WINDOW_SECONDS)),
        idempotency_key,
    };
    let raised = state.store.raise_incident(req, now).await?;
    after_raise(state, &raised);
    Ok(raised)
}

/// A duty officer raises an incident by hand. The grid is the one named, else the location's,
/// else the camera's; the location is the one given, else the camera's.
pub async fn raise_manual(
    state: &AppState,
    officer: &User,
    new: NewIncident,
    idempotency_key: Option<String>,
    origin: &str,
) -> Result<Raised, IntakeError> {
    new.validate()?;
    if let Some(k) = &idempotency_key {
        check_idempotency_key(k)?;
    }
    if let Some(g) = &new.grid_id {
        if let Err(StoreError::NotFound { .. }) = state.store.grid(g).await {
            return Err(ValidationError::new("grid_id", format!("no grid with id {g}")).into());
        }
    }
    let camera = match &new.camera_id {
        Some(c) => match state.store.camera(c).await {
            Ok(cam) => Some(cam),
            Err(StoreError::NotFound { .. }) => {
                return Err(
                    ValidationError::new("camera_id", format!("no camera with id {c}")).into(),
                )
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let location = new
        .lat
        .zip(new.lon)
        .or_else(|| camera.as_ref().and_then(|c| c.lat.zip(c.lon)));
    let route = match (&new.grid_id, &camera) {
        (Some(g), _) => route(state, None, Some((g, RoutedBy::Given))).await?,
        (None, Some(c)) => {
            route(
                state,
                location,
                c.grid_id.as_deref().map(|g| (g, RoutedBy::Camera)),
            )
            .await?
        }
        (None, None) => route(state, location, None).await?,
    };
    let note = new
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let raise = raise_of(
        new.kind,
        Source::Officer(officer.id.clone()),
        route,
        location,
        note,
        new.camera_id,
        serde_json::Value::Null,
    );
    let req = RaiseRequest {
        raise,
        actor: Actor::user(&officer.id, origin),
        repeat_window: None,
        idempotency_key,
    };
    let raised = state.store.raise_incident(req, state.now()).await?;
    after_raise(state, &raised);
    Ok(raised)
}

/// What follows every raise, whoever made it: the change is published, a new incident counted
/// and the timer engine woken for its deadlines.
pub(crate) fn after_raise(state: &AppState, raised: &Raised) {
    let i = &raised.incident;
    state.incidents.publish(i, &raised.events);
    match raised.outcome {
        RaiseOutcome::Raised => {
            state
                .incidents
                .metrics
                .raised
                .with_label_values(&[i.kind.as_str()])
                .inc();
            state.incidents.wake_timers();
            tracing::info!(incident = %i.id, kind = %i.kind, source = %i.source,
                grid = ?i.grid_id, post = ?i.post_id, "incident raised");
        }
        RaiseOutcome::Repeated => {
            state.incidents.metrics.repeats.inc();
            tracing::info!(incident = %i.id, repeats = i.repeat_count, "repeat press");
        }
        RaiseOutcome::Replayed => {}
    }
}
