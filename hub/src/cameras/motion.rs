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
use gridwatch_ingest::{Quality, SnapshotError};
use gridwatch_store::{IncidentSnapshot, RaiseRequest, Raised, StoreError};
use serde_json::json;
use std::time::Duration;

/// How long the picture of a motion alert waits for the camera's next keyframe (the one
/// before the detection may show the zone still empty); with a longer GOP the latest keyframe
/// is taken.
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(4);

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

/// Why a motion alert has no picture.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("no picture of the camera: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("the picture was not stored: {0}")]
    Store(#[from] StoreError),
}

/// Attaches a picture of `camera_id` to the incident it raised: the first keyframe of its main
/// stream after now, decoded to a JPEG (see [`SNAPSHOT_WAIT`]), stored with an
/// `incident.snapshot_taken` event on the incident's timeline, which the stream delivers to
/// the consoles.
pub async fn attach_picture(
    hub: &CameraHub,
    incident_id: &str,
    camera_id: &str,
) -> Result<IncidentSnapshot, PictureError> {
    let picture = hub
        .snapshots
        .jpeg_of_next_keyframe(&hub.registry, camera_id, Quality::Main, SNAPSHOT_WAIT)
        .await?;
    let (snapshot, events) = hub
        .store()
        .attach_incident_snapshot(
            incident_id,
            camera_id,
            &picture.jpeg,
            &super::health::actor(),
            hub.now(),
        )
        .await?;
    hub.stream.publish_events(events).await;
    Ok(snapshot)
}
