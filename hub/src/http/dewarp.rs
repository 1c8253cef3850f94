//! `GET|PUT /api/v1/cameras/{id}/dewarp`: a 360° camera's fisheye calibration, which the wall
//! needs to straighten its picture (everyone who may watch the camera reads it; only admins
//! set it, on the calibration page). A camera never calibrated answers the default circle
//! with `calibrated: false`, so the wall can dewarp at once and the page can say it is a guess.

use super::caller::Caller;
use super::cameras::ensure_visible;
use super::error::ApiResult;
use super::json::{Json, Path};
use crate::state::AppState;
use axum::extract::State;
use gridwatch_core::dewarp::DewarpCalibration;
use serde::Serialize;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DewarpView {
    pub camera_id: String,
    /// Whether an admin has set it; `false` means the default circle.
    pub calibrated: bool,
    #[serde(flatten)]
    pub calibration: DewarpCalibration,
}

pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DewarpView>> {
    ensure_visible(&s, &caller, &id).await?;
    s.store.camera(&id).await?;
    let stored = s.store.camera_dewarp(&id).await?;
    Ok(axum::Json(DewarpView {
        camera_id: id,
        calibrated: stored.is_some(),
        calibration: stored.unwrap_or_default(),
    }))
}

/// 400 naming the field for a number out of range; 404 for an unknown camera.
pub async fn put(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(c): Json<DewarpCalibration>,
) -> ApiResult<axum::Json<DewarpView>> {
    s.store.set_camera_dewarp(&id, &c, s.now()).await?;
    tracing::info!(camera = %id, mount = c.mount.as_str(), "dewarp calibration set");
    Ok(axum::Json(DewarpView {
        camera_id: id,
        calibrated: true,
        calibration: c,
    }))
}
