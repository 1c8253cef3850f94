//! Operations: liveness, readiness, metrics and the API description.

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

pub async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

/// 200 when the database answers and carries every migration; 503 with the reason otherwise.
pub async fn readyz(State(s): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    match s.store.ready().await {
        Ok(()) => Ok(axum::Json(
            json!({"status": "ready", "database": format!("{:?}", s.store.backend()).to_lowercase()}),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            e.to_string(),
        )),
    }
}

pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

pub async fn openapi() -> axum::Json<serde_json::Value> {
    axum::Json(super::openapi::document())
}
