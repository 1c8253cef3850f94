//! `GET /api/v1/incidents/{id}/snapshots/{snapshot_id}`: a picture attached to an incident
//! (the JPEG a camera's motion alert was raised with, announced by `incident.snapshot_taken`
//! on its timeline). For duty officers and admins, and responders for the incidents they see;
//! residents never (403: it is video), and an incident the caller may not see is 404, as an
//! unknown one.

use super::caller::Caller;
use super::error::ApiResult;
use super::json::Path;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, snapshot_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.store.visible_incident(&id, &caller.visibility()).await?;
    let (snapshot, jpeg) = s.store.incident_snapshot(&id, &snapshot_id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            // A picture never changes: its ID names these bytes (their hash is on the event).
            (header::CACHE_CONTROL, "private, max-age=86400".to_string()),
            (
                header::HeaderName::from_static("x-content-sha256"),
                snapshot.sha256,
            ),
        ],
        jpeg,
    )
        .into_response())
}
