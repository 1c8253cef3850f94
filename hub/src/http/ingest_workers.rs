//! `GET /api/v1/ingest/workers` (admins): every ingest worker — address, capacity, cameras
//! held, load, when last seen, `live` or `gone` — and the enabled cameras no worker holds.
//! Empty (no workers, every camera unassigned) on a hub that runs its cameras in-process.

use super::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workers::{overview, Overview};
use axum::extract::State;
use axum::Json;

pub async fn list(State(s): State<AppState>) -> ApiResult<Json<Overview>> {
    Ok(Json(
        overview(&s.store, &s.config.ingest.policy(), s.now())
            .await
            .map_err(ApiError::from)?,
    ))
}
