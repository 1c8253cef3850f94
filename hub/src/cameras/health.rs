//! Camera health as events and alerts.
//!
//! The registry reports every state change of every stream; a camera's health is its main
//! stream's: `online`, or offline (`offline`, `stalled`, `auth_failed`, `unsupported`), with
//! `connecting` (between attempts) changing nothing. Each change of health is recorded in the
//! event log as `camera.online`/`camera.offline` (actor `system`, origin `ingest`) and handed
//! to the real-time stream. An outage of an enabled camera that lasts longer than
//! `[cameras] offline_incident_seconds` raises one `camera_offline` incident in the camera's
//! grid — once per outage: the camera must come back online before another can be raised.
//! The outage's start is kept in the database (`camera_outages`), so that time counts from when
//! the outage really began, also across a restart of the hub or on another node. On an ingest
//! worker every write is fenced by the camera's lease (`crate::workers::holdings`).

use super::CameraHub;
use crate::incidents::routing::route;
use crate::incidents::Incidents;
use chrono::{DateTime, Utc};
use gridwatch_core::camera::Camera;
use gridwatch_core::change::Raise;
use gridwatch_core::event::EventType;
use gridwatch_core::event::{Actor, Event, EventDraft};
use gridwatch_core::incident::{IncidentKind, Source};
use gridwatch_core::routing::RoutedBy;
use gridwatch_ingest::{Quality, StatusEvent, StreamState, StreamStatus};
use gridwatch_store::{RaiseRequest, Raised, StoreError};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// How far back an open `camera_offline` incident of the same camera takes a new outage in.
const OPEN_OUTAGE_DAYS: i64 = 30;

/// Who records camera health: the ingest, not a person.
pub fn actor() -> Actor {
    Actor {
        actor: "system".into(),
        origin: "ingest".into(),
    }
}

/// A camera's health as the event log tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Online,
    Offline,
}

impl Health {
    /// `None` for `connecting`: a reconnection attempt is not news.
    pub fn of(state: StreamState) -> Option<Health> {
        match state {
            StreamState::Online => Some(Health::Online),
            StreamState::Connecting => None,
            StreamState::Offline
            | StreamState::Stalled
            | StreamState::AuthFailed
            | StreamState::Unsupported => Some(Health::Offline),
        }
    }
}

/// One outage of an enabled camera.
#[derive(Debug)]
struct Outage {
    since: DateTime<Utc>,
    reason: String,
    /// When it becomes an incident; `None` once raised (or never to be).
    due: Option<Instant>,
}

struct Monitor {
    hub: Arc<CameraHub>,
    /// What was last reported of each camera: its health, and whether it was off because it
    /// is disabled (enabled again while still down, it is reported anew: now it is an outage).
    reported: HashMap<String, (Health, bool)>,
    outages: HashMap<String, Outage>,
}

/// Follows the registry's status changes from now on. Call it before the cameras start, so
/// that their first changes are seen.
pub fn spawn(hub: Arc<CameraHub>) {
    let events = hub.registry.events();
    let lifecycle = hub.lifecycle().clone();
    lifecycle.spawn_service(run(hub, events));
}

async fn run(hub: Arc<CameraHub>, mut events: tokio::sync::broadcast::Receiver<StatusEvent>) {
    let mut m = Monitor {
        hub,
        reported: HashMap::new(),
        outages: HashMap::new(),
    };
    // Cameras already in the registry may have changed before we subscribed.
    m.resync().await;
    loop {
        let next_due = m.outages.values().filter_map(|o| o.due).min();
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) if ev.quality == Quality::Main => m.on_status(&ev.camera_id, &ev.status).await,
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "camera health fell behind; reading every status");
                    m.resync().await;
                }
                Err(RecvError::Closed) => return,
            },
            _ = sleep_until(next_due), if next_due.is_some() => m.raise_due().await,
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Monitor {
    async fn on_status(&mut self, id: &str, status: &StreamStatus) {
        let Some(health) = Health::of(status.state) else {
            return;
        };
        let disabled = status.is_disabled();
        if self.reported.get(id) == Some(&(health, disabled)) {
            return;
        }
        // The fence: a worker whose lease on the camera is gone or stale writes nothing.
        if !self.may_write(id).await {
            tracing::debug!(camera = %id, "status not written: the lease is not ours");
            return;
        }
        let camera = match self.hub.store().camera(id).await {
            Ok(c) => c,
            Err(StoreError::NotFound { .. }) => {
                // Deleted: its streams are going away.
                self.forget(id);
                return;
            }
            Err(e) => {
                tracing::error!(camera = %id, error = %e, "camera health not recorded");
                return;
            }
        };
        self.reported.insert(id.to_string(), (health, disabled));
        let reason = status.reason.clone().unwrap_or_default();
        let (kind, data) = match health {
            Health::Online => (
                EventType::CameraOnline,
                json!({"camera_id": id, "grid_id": camera.grid_id, "name": camera.name}),
            ),
            Health::Offline => (
                EventType::CameraOffline,
                json!({"camera_id": id, "grid_id": camera.grid_id, "name": camera.name,
                       "status": status.state.as_str(), "reason": reason}),
            ),
        };
        if let Err(e) = record(&self.hub, &[EventDraft::new(kind, data)]).await {
            tracing::error!(camera = %id, error = %e, "camera health event not recorded");
        }
        match health {
            Health::Online => {
                self.outages.remove(id);
                self.end_outage(id).await;
            }
            Health::Offline => {
                let now = self.hub.now();
                // Disabling a camera ends its stored outage (the store does so), and raises none.
                let (since, delay) = if disabled || !camera.enabled {
                    (now, None)
                } else {
                    let since = match self.hub.store().camera_outage_began(id, &reason, now).await {
                        Ok(since) => since,
                        Err(e) => {
                            tracing::error!(camera = %id, error = %e, "outage start not recorded");
                            now
                        }
                    };
                    (since, self.hub.config.offline_incident_after())
                };
                self.outages.insert(
                    id.to_string(),
                    Outage {
                        since,
                        reason,
                        due: delay.map(|d| due_at(since, d, now)),
                    },
                );
            }
        }
    }

    async fn may_write(&self, id: &str) -> bool {
        self.hub.may_write(id).await
    }

    async fn end_outage(&self, id: &str) {
        if let Err(e) = self.hub.store().camera_outage_ended(id).await {
            tracing::error!(camera = %id, error = %e, "outage end not recorded");
        }
    }

    fn forget(&mut self, id: &str) {
        self.reported.remove(id);
        self.outages.remove(id);
    }

    /// After missing status changes: compares every camera's status with what was reported.
    async fn resync(&mut self) {
        let statuses = self.hub.registry.statuses();
        let known: Vec<String> = self.reported.keys().cloned().collect();
        for id in known {
            if !statuses.iter().any(|s| s.id == id) {
                self.forget(&id);
            }
        }
        for s in statuses {
            self.on_status(&s.id, &s.main).await;
        }
    }

    async fn raise_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .outages
            .iter()
            .filter(|(_, o)| o.due.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(outage) = self.outages.get_mut(&id) else {
                continue;
            };
            outage.due = None;
            let still_down = self
                .hub
                .registry
                .status(&id)
                .is_some_and(|s| Health::of(s.state()) != Some(Health::Online));
            let (since, reason) = (outage.since, outage.reason.clone());
            if !still_down || !self.may_write(&id).await {
                continue;
            }
            match raise_camera_offline(&self.hub, &id, since, &reason).await {
                Ok(Some(raised)) => tracing::warn!(camera = %id, incident = %raised.incident.id,
                    "camera offline too long: incident raised"),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(camera = %id, error = %e, "camera_offline incident not raised")
                }
            }
        }
    }
}

/// When an outage that began at `since` (by the hub's clock, possibly before this process
/// started) becomes an incident: `delay` after its start, or at once if that has passed.
fn due_at(since: DateTime<Utc>, delay: std::time::Duration, now: DateTime<Utc>) -> Instant {
    let end = since + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    Instant::now() + (end - now).to_std().unwrap_or_default()
}

/// Records camera health events and hands them on: the one place they leave this module.
pub async fn record(hub: &CameraHub, drafts: &[EventDraft]) -> Result<Vec<Event>, StoreError> {
    let events = hub
        .store()
        .record_events(None, drafts, &actor(), hub.now())
        .await?;
    // To the consoles (of every node, over the bus); nothing else in the hub sends these.
    hub.stream.publish_events(events.clone()).await;
    Ok(events)
}

/// Raises the `camera_offline` incident of an outage, in the camera's grid. `None` when the
/// camera is gone or disabled. The outage's start is the idempotency key, so an outage is
/// raised once even if this runs twice; and while the camera's incident is still open, a new
/// outage — or the same one seen by another hub node, or again after a restart, with another
/// start — is recorded on it as a repeat instead of raising a second incident.
pub async fn raise_camera_offline(
    hub: &CameraHub,
    id: &str,
    since: DateTime<Utc>,
    reason: &str,
) -> Result<Option<Raised>, StoreError> {
    let camera: Camera = match hub.store().camera(id).await {
        Ok(c) if c.enabled => c,
        Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let raise = camera_raise(
        &hub.incidents,
        &camera,
        IncidentKind::CameraOffline,
        format!("摄像头离线 camera offline: {} ({reason})", camera.name),
        json!({"reason": reason, "offline_since": since}),
    )
    .await?;
    let req = RaiseRequest {
        raise,
        actor: actor(),
        repeat_window: Some(chrono::Duration::days(OPEN_OUTAGE_DAYS)),
        idempotency_key: Some(format!("camera-offline:{}", since.timestamp_millis())),
    };
    let raised = crate::incidents::intake::commit(&hub.incidents, req, hub.now()).await?;
    Ok(Some(raised))
}

/// An incident about a camera, routed by the camera's grid (else its location), at the
/// camera's place, with the camera named so that its evidence clip follows.
pub(crate) async fn camera_raise(
    incidents: &Incidents,
    camera: &Camera,
    kind: IncidentKind,
    note: String,
    details: serde_json::Value,
) -> Result<Raise, StoreError> {
    let location = camera.lat.zip(camera.lon);
    let route = match camera.grid_id.as_deref() {
        Some(g) => route(incidents, None, Some((g, RoutedBy::Camera))).await?,
        None => route(incidents, location, None).await?,
    };
    Ok(Raise {
        id: gridwatch_core::id::new_id(),
        kind,
        source: Source::Camera(camera.id.clone()),
        grid_id: route.grid_id,
        routed_by: route.routed_by,
        post_chain: route.post_chain,
        policy: route.policy,
        lat: camera.lat,
        lon: camera.lon,
        note: Some(note),
        camera_id: Some(camera.id.clone()),
        cameras: route.cameras,
        details,
    })
}
