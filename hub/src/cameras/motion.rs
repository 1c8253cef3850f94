//! A camera's motion detection turned into a `motion` incident (issue 19).
//!
//! The ingest's detector already debounces one detection per episode, with the camera's
//! cooldown after it. Here the hub decides whether the detection counts — the camera still
//! exists, is enabled, has motion alerts on, and its schedule is armed at the hub's clock's
//! now — and raises the incident through the same path as every other (routed by the camera's
//! grid, else its location; the 15-minute check; the camera named so evidence clips follow).
//! No repeat window: a camera's incidents share one source (the camera), so a window would
//! fold a motion detection into an open `camera_offline` incident (and an outage into an open
//! motion incident). The per-camera debounce is the detector's (one detection per episode,
//! then the cooldown).

use super::CameraHub;
use gridwatch_core::incident::IncidentKind;
use gridwatch_store::{RaiseRequest, Raised, StoreError};
use serde_json::json;

/// A detection as the ingest reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionDetected {
    pub camera_id: String,
    pub zone: String,
    /// Fraction of the zone that changed.
    pub area: f64,
}

/// Raises the camera's `motion` incident; `None` when the detection does not
/// count (camera gone or disabled, motion off, outside the schedule).
pub async fn raise_motion(
    hub: &CameraHub,
    d: &MotionDetected,
) -> Result<Option<Raised>, StoreError> {
    let camera = match hub.store().camera(&d.camera_id).await {
        Ok(c) if c.enabled => c,
        Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let settings = hub.store().camera_motion(&camera.id).await?;
    let now = hub.now();
    if !settings.enabled || !settings.schedule.armed_at(now, settings.utc_offset_minutes) {
        tracing::debug!(camera = %camera.id, "motion outside the schedule or switched off: ignored");
        return Ok(None);
    }
    let raise = super::health::camera_raise(
        &hub.incidents,
        &camera,
        IncidentKind::Motion,
        format!("移动侦测 motion detected: {} ({})", camera.name, d.zone),
        json!({"zone": d.zone, "area": d.area}),
    )
    .await?;
    let req = RaiseRequest {
        raise,
        actor: super::health::actor(),
        repeat_window: None,
        idempotency_key: None,
    };
    // Committed, and its effects run, in a tracked task of its own (see `intake::commit`).
    let raised = crate::incidents::intake::commit(&hub.incidents, req, now).await?;
    Ok(Some(raised))
}
