//! Ingest workers for admins:
//!
//! - `GET /api/v1/ingest/workers`: every ingest worker — address, capacity, cameras held, load,
//!   when last seen, `live`, `stopped` (cleanly, its leases given back: `stopped_at`) or
//!   `gone` (vanished) — the enabled cameras no worker holds, and the pins.
//!   Empty (no workers, every camera unassigned) on a hub that runs its cameras in-process.
//! - `DELETE /api/v1/ingest/workers/{id}` forgets a worker that does not run (stopped, or gone:
//!   a machine retired or lost for good), which is otherwise listed, and told on the wall and
//!   by the alert, for ever. A live worker is 409 `worker_live`; one cameras are pinned to is
//!   409 `worker_pinned` (unpin them first: forgotten, they would stay dark unnoticed). One
//!   whose directories still index recordings is 409 `worker_has_recordings`, saying how many
//!   and of when: they are on its disks, and play again if it runs again. `?recordings=forget`
//!   forgets them too (a machine lost with its disks): no longer listed, nor waited for by
//!   evidence clips, which are cut from what is left. It also forgets the recordings of a
//!   worker forgotten before without them.
//! - `PUT /api/v1/cameras/{id}/worker` `{"worker_id": "ingest-1"}` pins a camera to a worker
//!   (the same LAN as the camera, say); `{"worker_id": null}` lets any worker run it again.
//!   The worker must be one the database knows (it has run once): a misspelt name would leave
//!   the camera dark. Another worker holding the camera gives it back at its next renewal.

use super::error::{ApiError, ApiResult};
use super::json::{Json, Path, Query};
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

/// The query of a DELETE: what becomes of the worker's recordings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetQuery {
    /// `keep` (the default: refused while there are any) or `forget`.
    #[serde(default)]
    pub recordings: Option<String>,
}

pub async fn forget(
    State(s): State<AppState>,
    caller: super::caller::Caller,
    peer: super::auth::PeerAddr,
    Path(id): Path<String>,
    Query(q): Query<ForgetQuery>,
) -> ApiResult<StatusCode> {
    let with_recordings = match q.recordings.as_deref() {
        None | Some("keep") => false,
        Some("forget") => true,
        Some(_) => {
            return Err(gridwatch_core::validate::ValidationError::new(
                "recordings",
                "must be keep (the default) or forget",
            )
            .into())
        }
    };
    let since = s.now() - s.config.ingest.policy().ttl;
    // Read once, before anything goes: what the log says was forgotten.
    let recordings = match with_recordings {
        true => Some(s.store.worker_recordings(&id).await?),
        false => None,
    };
    match why_not_forget(&s, &id, since, with_recordings).await? {
        None => {
            // The DELETE checks it all again: a worker back, a camera pinned, or (kept)
            // recordings indexed meanwhile: it is kept.
            if !s
                .store
                .forget_ingest_worker(&id, since, with_recordings)
                .await?
            {
                return Err(why_not_forget(&s, &id, since, with_recordings)
                    .await?
                    .unwrap_or_else(|| {
                        ApiError::new(
                            StatusCode::CONFLICT,
                            "worker_changed",
                            format!(
                                "ingest worker {id:?} changed while it was being forgotten; try again"
                            ),
                        )
                    }));
            }
        }
        // Forgotten already, its recordings left indexed (kept then, or a forget cut short):
        // they may still be forgotten by name.
        Some(unknown)
            if unknown.status == StatusCode::NOT_FOUND
                && recordings.as_ref().is_some_and(|r| r.any()) => {}
        Some(refused) => return Err(refused),
    }
    let by = caller.actor(&peer);
    match recordings {
        Some(recordings) => {
            let rows = s.store.forget_worker_recordings(&id).await?;
            tracing::warn!(worker = %id, by = %by.actor, from = %by.origin, segments = rows,
                bytes = recordings.bytes, first = ?recordings.first, last = ?recordings.last,
                "ingest worker forgotten with the index of its recordings");
        }
        None => {
            tracing::warn!(worker = %id, by = %by.actor, from = %by.origin, "ingest worker forgotten")
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Why worker `id` may not be forgotten now (`None`: it may): unknown (404), running (409
/// `worker_live`), cameras pinned to it (409 `worker_pinned`, naming them), or recordings
/// indexed on its directories while they are to be kept (409 `worker_has_recordings`).
async fn why_not_forget(
    s: &AppState,
    id: &str,
    since: chrono::DateTime<chrono::Utc>,
    with_recordings: bool,
) -> ApiResult<Option<ApiError>> {
    let known = s.store.ingest_workers(s.now()).await?;
    let Some(worker) = known.iter().find(|w| w.id == id) else {
        return Ok(Some(ApiError::not_found(format!(
            "no ingest worker is called {id:?}"
        ))));
    };
    if worker.is_live(since) {
        return Ok(Some(ApiError::new(
            StatusCode::CONFLICT,
            "worker_live",
            format!("ingest worker {id:?} runs (seen within a lease); stop it first"),
        )));
    }
    let pinned: Vec<String> = s
        .store
        .camera_pins()
        .await?
        .into_iter()
        .filter(|(_, w)| w == id)
        .map(|(camera, _)| camera)
        .collect();
    if !pinned.is_empty() {
        return Ok(Some(ApiError::new(
            StatusCode::CONFLICT,
            "worker_pinned",
            format!("cameras {pinned:?} are pinned to ingest worker {id:?}; pin them elsewhere or unpin them first"),
        )));
    }
    if with_recordings {
        return Ok(None);
    }
    let r = s.store.worker_recordings(id).await?;
    if r.segments > 0 {
        let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or_else(String::new, |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
        };
        return Ok(Some(ApiError::new(
            StatusCode::CONFLICT,
            "worker_has_recordings",
            format!(
                "ingest worker {id:?}'s directories index {} recorded segments ({} bytes, {} to {}), \
                 on its disks: they play again if it runs again. To forget them too (its disks \
                 are lost), DELETE /api/v1/ingest/workers/{id}?recordings=forget",
                r.segments,
                r.bytes,
                when(r.first),
                when(r.last)
            ),
        )));
    }
    Ok(None)
}
