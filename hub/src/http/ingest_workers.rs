//! Ingest workers for admins:
//!
//! - `GET /api/v1/ingest/workers`: every ingest worker — address, capacity, cameras held, load,
//!   when last seen, `live`, `stopped` (cleanly, its leases given back: `stopped_at`) or
//!   `gone` (vanished) — the enabled cameras no worker holds, and the pins.
//!   Empty (no workers, every camera unassigned) on a hub that runs its cameras in-process.
//! - `PUT /api/v1/cameras/{id}/worker` `{"worker_id": "ingest-1"}` pins a camera to a worker
//!   (the same LAN as the camera, say); `{"worker_id": null}` lets any worker run it again.
//!   The worker must be one the database knows (it has run once): a misspelt name would leave
//!   the camera dark. Another worker holding the camera gives it back at its next renewal.

use super::error::{ApiError, ApiResult};
use super::json::{Json, Path};
use crate::state::AppState;
use crate::workers::{overview, Overview};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn list(State(s): State<AppState>) -> ApiResult<axum::Json<Overview>> {
    Ok(axum::Json(
        overview(&s.store, &s.config.ingest.policy(), s.now())
            .await
            .map_err(ApiError::from)?,
    ))
}

/// The body of a pin.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The worker's ID (`[ingest] worker_id`), or null for any worker.
    pub worker_id: Option<String>,
}

pub async fn pin(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(pin): Json<Pin>,
) -> ApiResult<axum::Json<Value>> {
    if let Some(worker) = &pin.worker_id {
        let known = s.store.ingest_workers(s.now()).await?;
        if !known.iter().any(|w| &w.id == worker) {
            let names: Vec<&str> = known.iter().map(|w| w.id.as_str()).collect();
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_worker",
                format!("worker_id: no ingest worker is called {worker:?}; known: {names:?}"),
            ));
        }
    }
    s.store.pin_camera(&id, pin.worker_id.as_deref()).await?;
    tracing::info!(camera = %id, worker = ?pin.worker_id, "camera pinned");
    Ok(axum::Json(
        json!({"camera_id": id, "worker_id": pin.worker_id}),
    ))
}
