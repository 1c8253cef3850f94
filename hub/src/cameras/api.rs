//! The camera CRUD endpoints (`/api/v1/cameras`): the store keeps the record, the registry is
//! told after every change, and every answer carries the camera's live status.

use super::sync;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use gridwatch_core::camera::{Camera, CameraPatch, NewCamera};
use gridwatch_ingest::CameraStatus;
use serde::Serialize;

/// A camera as the API shows it: the record (never its credentials) and its live status.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    #[serde(flatten)]
    pub camera: Camera,
    /// `connecting`, `online`, `stalled`, `offline`, `auth_failed` or `unsupported`: the main
    /// stream's.
    pub status: &'static str,
    /// Why it is not online, in the camera's or the network's words.
    pub status_reason: Option<String>,
    /// `h264` or `h265`, once known.
    pub codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub last_frame_at: Option<DateTime<Utc>>,
    /// The sub stream's status, when the camera has one.
    pub sub_status: Option<&'static str>,
}

/// Reason shown for a camera this hub is not running (yet).
pub const NOT_RUNNING: &str = "not yet started on this hub";

impl CameraView {
    pub fn new(camera: Camera, status: Option<&CameraStatus>) -> CameraView {
        let Some(s) = status else {
            return CameraView {
                camera,
                status: "offline",
                status_reason: Some(NOT_RUNNING.into()),
                codec: None,
                width: None,
                height: None,
                fps: None,
                last_frame_at: None,
                sub_status: None,
            };
        };
        let main = &s.main;
        CameraView {
            camera,
            status: main.state.as_str(),
            status_reason: main.reason.clone(),
            codec: main.codec.clone(),
            width: main.width,
            height: main.height,
            fps: main.fps,
            last_frame_at: main.last_frame_at.map(DateTime::<Utc>::from),
            sub_status: s.sub.as_ref().map(|sub| sub.state.as_str()),
        }
    }
}

fn view(s: &AppState, camera: Camera) -> CameraView {
    let status = s.cameras.registry.status(&camera.id);
    CameraView::new(camera, status.as_ref())
}

pub async fn list(State(s): State<AppState>) -> ApiResult<axum::Json<Vec<CameraView>>> {
    let cameras = s.store.cameras().await?;
    let statuses = s.cameras.registry.statuses();
    let views = cameras
        .into_iter()
        .map(|c| {
            let status = statuses
                .binary_search_by(|st| st.id.as_str().cmp(&c.id))
                .ok()
                .map(|i| &statuses[i]);
            CameraView::new(c, status)
        })
        .collect();
    Ok(axum::Json(views))
}

pub async fn get(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CameraView>> {
    let camera = s.store.camera(&id).await?;
    Ok(axum::Json(view(&s, camera)))
}

/// 201 with the new camera, already connecting.
pub async fn create(
    State(s): State<AppState>,
    Json(new): Json<NewCamera>,
) -> ApiResult<(StatusCode, axum::Json<CameraView>)> {
    let camera = s.store.create_camera(new, s.now()).await?;
    sync::after_change(&s, &camera.id).await;
    Ok((StatusCode::CREATED, axum::Json(view(&s, camera))))
}

/// A changed URL, credentials, `enabled`, `transport`, `quirks` or `user_agent` reconnects the
/// camera at once; other fields (name, place, grid) leave its session alone.
pub async fn patch(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(p): Json<CameraPatch>,
) -> ApiResult<axum::Json<CameraView>> {
    let camera = s.store.update_camera(&id, p, s.now()).await?;
    sync::after_change(&s, &id).await;
    Ok(axum::Json(view(&s, camera)))
}

/// Stops the camera's session and ends its live viewers.
pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.store.delete_camera(&id).await?;
    sync::after_change(&s, &id).await;
    Ok(StatusCode::NO_CONTENT)
}
