//! Operations: liveness, readiness, metrics and the API description.

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2_011::{Digest, Sha256};

pub async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

/// 200 when the database answers, carries every migration and no response deadline is
/// overdue; 503 with the reason otherwise (code `not_ready`, or `response_check_stalled`: a
/// deadline is overdue, so escalations are not happening — silence is an alarm).
///
/// The MQTT bridge is reported (`mqtt`: `off`, `connected`, `disconnected`), not required: a
/// broker outage must not take this node's HTTP intake (the SOS page, buttons that speak HTTP)
/// out of a load balancer. Alert on `gridwatch_mqtt_connected` instead. Recording is reported
/// the same way (`recording`: `off`, or each sample-file directory's state): a full disk must
/// not stop the SOS intake; alert on `gridwatch_recording_dir_stopped`. So is evidence
/// (`evidence.low_space`: clips wait for room on their disk; `gridwatch_evidence_low_space`).
pub async fn readyz(State(s): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let unavailable =
        |code, message: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
    // Anyone may ask (load balancers do, without a token), so the database's own error text,
    // which can name hosts, files and tables, goes to the log and not into the answer.
    let not_ready = |e: gridwatch_store::StoreError| {
        tracing::warn!(error = %e, "not ready: the database");
        unavailable(
            "not_ready",
            "the database is not ready (the hub's log says why)".into(),
        )
    };
    s.store.ready().await.map_err(not_ready)?;
    match crate::incidents::watchdog::check(&s.incidents).await {
        Ok(None) => {}
        Ok(Some(overdue)) => {
            return Err(unavailable("response_check_stalled", overdue.to_string()))
        }
        Err(e) => return Err(not_ready(e)),
    }
    Ok(axum::Json(json!({
        "status": "ready",
        "ingest": ingest(&s).await,
        "database": format!("{:?}", s.store.backend()).to_lowercase(),
        "mqtt": s.mqtt.state(),
        "recording": s.recording.readiness(),
        "evidence": match s.recording.evidence_space.low() {
            None => json!({ "low_space": false }),
            Some(low) => json!({ "low_space": true, "free_bytes": low.free_bytes,
                "needed_bytes": low.needed_bytes }),
        },
    })))
}

/// The ingest in `/readyz`: `in_process`, or the workers (how many live, the gone ones by id
/// — not those that stopped cleanly —, cameras nobody holds). Reported, not required: a dead
/// worker must not take the hub's SOS intake out of a load balancer; its cameras are taken over, and `gridwatch_ingest_workers{state="gone"}`
/// alerts.
async fn ingest(s: &AppState) -> serde_json::Value {
    if !s.config.ingest.workers() {
        return json!("in_process");
    }
    match crate::workers::overview(&s.store, &s.config.ingest.policy(), s.now()).await {
        Ok(o) => {
            s.cameras.worker_gauges.set(&o);
            json!({"workers": o.live().len(), "gone": o.gone(), "unassigned": o.unassigned})
        }
        Err(e) => {
            tracing::warn!(error = %e, "readyz: ingest workers not read");
            json!("unknown")
        }
    }
}

pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let token = &s.config.http.metrics_token;
    if !token.is_empty() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compared as digests: the time taken says nothing of how much of the token matched.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(token.as_bytes()) {
            return ApiError::unauthorized(
                "/metrics needs the metrics token ([http] metrics_token) as a Bearer token",
            )
            .into_response();
        }
    }
    // The overdue gauge is read from the deadlines themselves, so it tells the truth even when
    // the engine that should fire them is stuck.
    if let Err(e) = crate::incidents::watchdog::check(&s.incidents).await {
        tracing::warn!(error = %e, "metrics: could not check the response deadlines");
    }
    s.cameras.count_states();
    if s.config.ingest.workers() {
        match crate::workers::overview(&s.store, &s.config.ingest.policy(), s.now()).await {
            Ok(o) => s.cameras.worker_gauges.set(&o),
            Err(e) => tracing::warn!(error = %e, "metrics: ingest workers not read"),
        }
    }
    s.recording.refresh_metrics(&s.store).await;
    // The store counts its own queue's waits; the counter catches up to it here.
    let full = s.metrics.queue_full(crate::metrics::Queue::IntakeWriter);
    let waited = s.store.raise_queue_full_total();
    if waited > full.get() {
        full.inc_by(waited - full.get());
    }
    let retries = gridwatch_store::sqlite_busy_retries();
    let counted = s.metrics.sqlite_busy_retries.get();
    if retries > counted {
        s.metrics.sqlite_busy_retries.inc_by(retries - counted);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> axum::Json<serde_json::Value> {
    axum::Json(super::openapi::document())
}
