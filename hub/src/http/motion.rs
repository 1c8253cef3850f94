//! A camera's motion and intrusion alert settings (issue 19): zones, schedule, how much must
//! move for how long. Admins set them; duty officers read them to know what a camera watches.

use super::error::ApiResult;
use super::json::{Json, Path};
use crate::state::AppState;
use axum::extract::State;
use gridwatch_core::motion::MotionSettings;

/// The camera's settings; the defaults (off, whole picture) when none were saved.
pub async fn get(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MotionSettings>> {
    Ok(axum::Json(s.store.camera_motion(&id).await?))
}

/// Replaces the camera's settings; 400 naming the field for a bad polygon, schedule or limit.
pub async fn put(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(settings): Json<MotionSettings>,
) -> ApiResult<axum::Json<MotionSettings>> {
    s.store.set_camera_motion(&id, &settings, s.now()).await?;
    tracing::info!(camera = %id, enabled = settings.enabled, zones = settings.zones.len(), "motion settings saved");
    crate::cameras::motion_workers::after_change(&s.cameras, &id).await;
    Ok(axum::Json(settings))
}
