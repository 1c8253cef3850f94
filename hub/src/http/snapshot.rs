//! `GET /api/v1/cameras/{id}/snapshot.jpg?quality=main|sub`: a current JPEG, decoded by the
//! ingest from the stream's latest keyframe (and cached until the next one). 404 for a camera
//! the caller may not see, as for an unknown one.

use super::caller::Caller;
use super::cameras::ensure_visible;
use super::error::{ApiError, ApiResult};
use super::json::{Path, Query};
use super::live::VideoQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use gridwatch_ingest::{LiveError, Quality, SnapshotError};

pub async fn snapshot(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<VideoQuery>,
) -> ApiResult<Response> {
    let quality = q.quality.unwrap_or_default();
    ensure_visible(&s, &caller, &id).await?;
    if s.config.ingest.workers() {
        return super::proxy::snapshot(&s, &id, quality).await;
    }
    local(&s, &id, quality).await
}

/// The snapshot of a camera this process runs (a hub in-process, or an ingest worker).
pub(crate) async fn local(s: &AppState, id: &str, quality: Quality) -> ApiResult<Response> {
    let hub = &s.cameras;
    match hub.snapshots.jpeg(&hub.registry, id, quality).await {
        Ok(snap) => Ok((
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            snap.jpeg,
        )
            .into_response()),
        Err(e) => Err(snapshot_error(s, e)),
    }
}

fn snapshot_error(s: &AppState, e: SnapshotError) -> ApiError {
    let unavailable = |code, message| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
    match e {
        SnapshotError::UnknownCamera(id) => LiveError::UnknownCamera(id).into(),
        SnapshotError::Disabled(id) => LiveError::Disabled(id).into(),
        SnapshotError::NoFrames(id) => {
            let status = s
                .cameras
                .registry
                .status(&id)
                .map(|st| match st.main.reason {
                    Some(r) => format!("{}: {r}", st.main.state),
                    None => st.main.state.to_string(),
                })
                .unwrap_or_else(|| "unknown".into());
            unavailable(
                "no_video",
                format!("camera {id} has no current picture (status: {status}); try again once it is online"),
            )
        }
        SnapshotError::Busy => {
            let mut err = unavailable("busy", e.to_string());
            err.retry_after = Some(1);
            err
        }
        SnapshotError::Unavailable(_) => unavailable("unavailable", e.to_string()),
        SnapshotError::Decode(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "bad_video", e.to_string())
        }
    }
}
