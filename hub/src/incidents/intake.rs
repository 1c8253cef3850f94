//! Raising incidents: SOS presses from residents and panic buttons, and incidents a duty
//! officer raises by hand.
//!
//! [`raise_sos`] is the one way in for an SOS, whatever carried it (HTTP or MQTT): it answers a
//! known `Idempotency-Key` with the incident it made, applies the per-caller rate limit, routes
//! the press and has the store raise the incident — or record a repeat press — in one
//! transaction that is committed before it returns. Only then may the caller be told "help is
//! coming".
//!
//! **The rate limit** ([`super::sos_limit`]) guards the duty room against a stuck button or a
//! script pressing again and again on an incident that is already open. So it refuses only a
//! caller who has an open incident — a 429 then always means "your SOS is raised", which is
//! true — and never the press that would raise one: a caller without an open incident is the
//! one who must get through. A press counts once it is committed (a raise or a repeat: the
//! limit counts them in the shared event log, so it holds across hub nodes); a replayed key
//! never counts, and neither does an attempt that failed, so a page or button retrying
//! through an outage is not locked out after it.

use super::routing::{route, Route};
use super::Incidents;
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::access::Visibility;
use gridwatch_core::change::Raise;
use gridwatch_core::device::Device;
use gridwatch_core::event::Actor;
use gridwatch_core::incident::{Incident, IncidentKind, NewIncident, SosPress, Source};
use gridwatch_core::routing::RoutedBy;
use gridwatch_core::user::User;
use gridwatch_core::ValidationError;
use gridwatch_store::{IncidentFilter, RaiseOutcome, RaiseRequest, Raised, StoreError};
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
    /// The caller, who has an open incident, pressed more than the limit allows; the press was
    /// not recorded. Only ever said to a caller with an open incident, so the message is true.
    #[error(
        "too many SOS presses: your SOS is already raised and still open; \
         you may press again in {retry_after} s"
    )]
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
    incidents: &Incidents,
    caller: SosCaller,
    press: SosPress,
    ignored: Vec<String>,
    idempotency_key: Option<String>,
    origin: &str,
) -> Result<Raised, IntakeError> {
    let now = incidents.now();
    let source = caller.source();
    if let Some(k) = &idempotency_key {
        check_idempotency_key(k)?;
        if let Some(replayed) = replay(incidents, &source, k).await? {
            return Ok(replayed);
        }
    }
    limit(incidents, &source, now).await?;
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
    let route = route(incidents, location, fallback).await?;
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
    Ok(commit(incidents, req, now).await?)
}

/// Has the store commit a raise and runs what follows it ([`after_raise`]) in a task of its
/// own, where the commit happens. A caller that gives up waiting (a request timed out, its future dropped)
/// does not take those effects with it: the raise it queued still commits, and must still be
/// broadcast, published to MQTT, counted and put on the timers.
pub(crate) async fn commit(
    incidents: &Incidents,
    req: RaiseRequest,
    now: DateTime<Utc>,
) -> Result<Raised, StoreError> {
    let incidents = incidents.clone();
    // Tracked, not cancelled: shutdown waits for it before the store is closed.
    let task = incidents.lifecycle.clone().spawn(async move {
        let raised = incidents.store.raise_incident(req, now).await?;
        after_raise(&incidents, &raised);
        Ok(raised)
    });
    task.await.unwrap_or_else(|e| {
        Err(StoreError::Unavailable(format!(
            "the raise did not finish: {e}"
        )))
    })
}

/// The incident a known `Idempotency-Key` of the caller made, as a replay. Read before the
/// rate limit: a retry of a press the hub already took must be answered with its incident,
/// however often it comes, and must not count as a press.
async fn replay(
    incidents: &Incidents,
    source: &Source,
    key: &str,
) -> Result<Option<Raised>, StoreError> {
    Ok(incidents
        .store
        .keyed_incident(source, key)
        .await?
        .map(|incident| Raised {
            incident,
            outcome: RaiseOutcome::Replayed,
            events: vec![],
        }))
}

/// Applies the per-caller limit to a press (see the module's doc): only a caller with an open
/// incident may be refused, when its committed presses in the window (read from the shared
/// log, so every node's count) reach the limit.
async fn limit(
    incidents: &Incidents,
    source: &Source,
    now: DateTime<Utc>,
) -> Result<(), IntakeError> {
    if open_incidents(incidents, source, 1).await?.is_empty() {
        return Ok(());
    }
    let limit = &incidents.sos_limit;
    let presses = incidents
        .store
        .recent_presses(source, limit.window_start(now), limit.max() as u32)
        .await?;
    match limit.check(&presses, now) {
        Ok(()) => Ok(()),
        Err(retry_after) => {
            incidents.metrics.rate_limited.inc();
            tracing::warn!(%source, retry_after, "SOS rate-limited: the caller's incident is open");
            Err(IntakeError::RateLimited { retry_after })
        }
    }
}

/// The caller's open incidents, newest first, at most `limit` of them.
pub(crate) async fn open_incidents(
    incidents: &Incidents,
    source: &Source,
    limit: u32,
) -> Result<Vec<Incident>, StoreError> {
    let mut filter = IncidentFilter::open(Visibility::RaisedBy(source.clone()));
    filter.limit = limit;
    incidents.store.incidents(&filter).await
}

/// A duty officer raises an incident by hand. The grid is the one named, else the location's,
/// else the camera's; the location is the one given, else the camera's.
pub async fn raise_manual(
    incidents: &Incidents,
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
        if let Err(StoreError::NotFound { .. }) = incidents.store.grid(g).await {
            return Err(ValidationError::new("grid_id", format!("no grid with id {g}")).into());
        }
    }
    let camera = match &new.camera_id {
        Some(c) => match incidents.store.camera(c).await {
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
        (Some(g), _) => route(incidents, None, Some((g, RoutedBy::Given))).await?,
        (None, Some(c)) => {
            route(
                incidents,
                location,
                c.grid_id.as_deref().map(|g| (g, RoutedBy::Camera)),
            )
            .await?
        }
        (None, None) => route(incidents, location, None).await?,
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
    Ok(commit(incidents, req, incidents.now()).await?)
}

/// What follows every raise, whoever made it: the change is published, a new incident counted
/// and the timer engine woken for its deadlines.
fn after_raise(incidents: &Incidents, raised: &Raised) {
    let i = &raised.incident;
    incidents.publish(i, &raised.events);
    match raised.outcome {
        RaiseOutcome::Raised => {
            incidents
                .metrics
                .raised
                .with_label_values(&[i.kind.as_str()])
                .inc();
            incidents.wake_timers();
            tracing::info!(incident = %i.id, kind = %i.kind, source = %i.source,
                grid = ?i.grid_id, post = ?i.post_id, "incident raised");
        }
        RaiseOutcome::Repeated => {
            incidents.metrics.repeats.inc();
            tracing::info!(incident = %i.id, repeats = i.repeat_count, "repeat press");
        }
        RaiseOutcome::Replayed => {}
    }
}
