//! Which cameras run a motion worker in the ingest, armed or not, and what their detections
//! become (issue 19).
//!
//! A camera has a worker while it is enabled and its motion alerts are on; the worker is
//! armed while the camera's schedule is, at the hub's clock. Outside the schedule a worker
//! decodes nothing (the ingest counts its frames as `disarmed`), so a yard watched only at
//! night costs nothing by day. The set follows the store: after an edit of the camera or of
//! its motion settings ([`reload_one`]), with every camera resync, and every
//! [`ARM_CHECK`] (the schedule's edges, and edits made through another hub node).
//! Each detection goes to [`super::motion::raise_motion`], which checks the schedule again
//! at its own now and raises the `motion` incident.

use super::motion::{attach_picture, raise_motion, MotionDetected};
use super::CameraHub;
use gridwatch_core::motion::MotionSettings;
use gridwatch_ingest::motion::MotionEvent;
use gridwatch_store::StoreError;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often workers are armed and disarmed by their schedules: a schedule's edge is seen
/// within this.
pub const ARM_CHECK: Duration = Duration::from_secs(5);

fn armed(hub: &CameraHub, s: &MotionSettings) -> bool {
    s.schedule.armed_at(hub.now(), s.utc_offset_minutes)
}

fn camera_enabled(hub: &CameraHub, id: &str) -> bool {
    hub.registry.config(id).is_some_and(|c| c.enabled)
}

/// Runs a worker for every enabled camera with motion alerts on, and for no other.
pub async fn reload_all(hub: &CameraHub) -> Result<(), StoreError> {
    let wanted = hub.store().cameras_with_motion().await?;
    let workers = &hub.motion;
    let mut keep = HashSet::new();
    for (id, settings) in wanted {
        if camera_enabled(hub, &id) {
            workers.set(&id, &settings, armed(hub, &settings));
            keep.insert(id);
        }
    }
    workers.retain(|id| keep.contains(id));
    Ok(())
}

/// Starts, changes or stops camera `id`'s worker as the store and the registry have it now.
pub async fn reload_one(hub: &CameraHub, id: &str) -> Result<(), StoreError> {
    let workers = &hub.motion;
    let settings = match hub.store().camera_motion(id).await {
        Ok(s) => s,
        Err(StoreError::NotFound { .. }) => {
            workers.remove(id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if settings.enabled && camera_enabled(hub, id) {
        workers.set(id, &settings, armed(hub, &settings));
    } else if workers.remove(id) {
        tracing::info!(camera = %id, "motion worker stopped");
    }
    Ok(())
}

/// [`reload_one`] after a committed change: a failure is logged, the next check applies it.
pub async fn after_change(hub: &CameraHub, id: &str) {
    if let Err(e) = reload_one(hub, id).await {
        tracing::warn!(camera = %id, error = %e, "motion settings not applied yet; the next check will");
    }
}

/// Follows the detections, and keeps the workers and their arming current.
pub fn spawn(hub: Arc<CameraHub>) {
    let events = hub.motion.events();
    let lifecycle = hub.lifecycle().clone();
    lifecycle.spawn_service(follow(hub.clone(), events));
    lifecycle.spawn_service(async move {
        let mut tick = tokio::time::interval(ARM_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = reload_all(&hub).await {
                tracing::warn!(error = %e, "motion workers not checked");
            }
        }
    });
}

async fn follow(hub: Arc<CameraHub>, mut events: tokio::sync::broadcast::Receiver<MotionEvent>) {
    loop {
        let ev = match events.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "motion detections lost: the hub fell behind");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let detected = MotionDetected {
            camera_id: ev.camera_id,
            zone: ev.zone,
            area: ev.area,
        };
        match raise_motion(&hub, &detected).await {
            Ok(Some(raised)) => {
                tracing::info!(camera = %detected.camera_id, incident = %raised.incident.id, "motion incident raised");
                // The picture waits for the next keyframe: not in the way of the next detection.
                let (hub, incident) = (hub.clone(), raised.incident.id.clone());
                let camera = detected.camera_id.clone();
                hub.lifecycle().clone().spawn(async move {
                    match attach_picture(&hub, &incident, &camera).await {
                        Ok(p) => tracing::info!(%camera, %incident, bytes = p.bytes, "motion alert's picture attached"),
                        Err(e) => tracing::warn!(%camera, %incident, error = %e, "motion alert has no picture"),
                    }
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(camera = %detected.camera_id, error = %e, "motion incident not raised")
            }
        }
    }
}
