//! An ingest worker's HTTP: `/healthz`, `/readyz` and `/metrics` as on a hub, and, for hubs
//! only (the shared secret, [`crate::workers::auth`]), its cameras' status, live video and
//! snapshots, the playback of its cameras' recordings (through the segment it is writing), the
//! segment it is writing and MP4s that reach into it (a hub's timeline and downloads of the
//! last minute), and the finished segments it recorded (what a hub plays back and seals as
//! evidence, [`crate::recording::fetch`]).
//! Role checks are the hub's, made before it relays a request here; the worker trusts the
//! secret and nothing else.

use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Path, Query};
use crate::http::live::{open_replay, serve_replay, serve_viewer, upgrade, VideoQuery};
use crate::recording::{holes_of, segment_of};
use crate::state::AppState;
use crate::workers::auth::{require_secret, SharedSecret};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use gridwatch_core::recording::{Hole, Segment};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The worker's router.
pub fn router(state: AppState) -> Router {
    let secret = SharedSecret::new(&state.config.ingest.secret);
    let internal = Router::new()
        .route("/internal/v1/cameras", get(cameras))
        .route("/internal/v1/cameras/{id}/live", get(live))
        .route("/internal/v1/cameras/{id}/playback", get(playback))
        .route("/internal/v1/cameras/{id}/recording", get(recording))
        .route(
            "/internal/v1/cameras/{id}/recordings.mp4",
            get(recordings_mp4),
        )
        .route("/internal/v1/cameras/{id}/snapshot.jpg", get(snapshot))
        .route("/internal/v1/recordings/segments/{id}", get(segment))
        .route_layer(middleware::from_fn_with_state(secret, require_secret));
    Router::new()
        .route("/healthz", get(crate::http::ops::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::http::ops::metrics))
        .merge(internal)
        .fallback(|| async { ApiError::not_found("no such endpoint on an ingest worker") })
        .with_state(state)
}

/// The camera is not (or no longer) this worker's: the hub looks its holder up again.
fn not_held(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "not_held",
        format!("this worker does not hold camera {id}"),
    )
}

/// 200 while the database answers, with the cameras held and the recording's directories (a
/// stopped one does not make the worker unready: live video goes on without recording).
async fn readyz(State(s): State<AppState>) -> ApiResult<axum::Json<serde_json::Value>> {
    s.store.ready().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: the database");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database is not ready (the worker's log says why)",
        )
    })?;
    let held = s.cameras.holdings.as_ref().map_or(0, |h| h.len());
    Ok(axum::Json(json!({
        "status": "ready",
        "role": "ingest_worker",
        "cameras": held,
        "recording": s.recording.readiness(),
    })))
}

/// Every camera this worker holds: its lease and its main stream's state.
async fn cameras(State(s): State<AppState>) -> axum::Json<serde_json::Value> {
    let leases = s
        .cameras
        .holdings
        .as_ref()
        .map(|h| h.all())
        .unwrap_or_default();
    let list: Vec<_> = leases
        .into_iter()
        .map(|l| {
            let status = s.cameras.registry.status(&l.camera_id);
            json!({
                "camera_id": l.camera_id,
                "epoch": l.epoch,
                "expires_at": l.expires_at,
                "status": status.as_ref().map(|st| st.main.state.as_str()),
                "reason": status.and_then(|st| st.main.reason),
            })
        })
        .collect();
    axum::Json(json!({ "cameras": list }))
}

async fn live(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<VideoQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if !s.cameras.runs(&id) {
        return Err(not_held(&id));
    }
    let viewer = s
        .cameras
        .registry
        .subscribe(&id, q.quality.unwrap_or_default())
        .map_err(ApiError::from)?;
    let ws = upgrade(ws)?;
    // The hub watches the viewer's session; here the socket lasts as long as the hub's.
    Ok(serve_viewer(&s, ws, viewer, id, std::future::pending, ()))
}

#[derive(Debug, Deserialize)]
struct PlaybackQuery {
    #[serde(deserialize_with = "crate::http::times::required")]
    from: DateTime<Utc>,
}

/// `live?from=` of a camera this worker holds, relayed by a hub (`crate::http::proxy::playback`):
/// the hub's playback, on this worker's replay, which has the segment being written here (and
/// reads the finished ones wherever they were recorded). The role and visibility checks, and
/// watching the viewer's session, are the hub's (its relay closes this socket when the
/// session ends): the worker sees no user's token.
async fn playback(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PlaybackQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if !s.cameras.runs(&id) {
        return Err(not_held(&id));
    }
    let replay = open_replay(&s, &id, q.from).await?;
    let ws = upgrade(ws)?;
    Ok(serve_replay(&s, ws, replay, id, None, ()))
}

/// What `GET /internal/v1/cameras/{id}/recording` answers: what this worker has recorded of
/// the camera that the index has not (yet): the segment it is writing, if any, and finished
/// ones waiting for their row (the database slow or away).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Writing {
    pub in_progress: Option<WritingSegment>,
    /// Oldest first. (A worker of an earlier version does not send it.)
    #[serde(default)]
    pub finished: Vec<Segment>,
}

impl Writing {
    /// This process's own recorder's.
    pub fn local(s: &AppState, camera: &str) -> Writing {
        let unindexed = s.recording.unindexed(camera);
        Writing {
            in_progress: unindexed.open.map(|(open, _)| WritingSegment {
                holes: holes_of(&open.holes),
                id: open.id,
                start: open.start.into(),
                written_end: open.written_end.into(),
            }),
            finished: unindexed
                .finished
                .iter()
                .map(|(record, _)| segment_of(record))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.in_progress.is_none() && self.finished.is_empty()
    }

    /// Whether any of it is in `[from, to)`.
    pub fn reaches(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.in_progress.as_ref().is_some_and(|w| w.start < to)
            || self.finished.iter().any(|s| s.start < to && s.end > from)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WritingSegment {
    /// The row it will have.
    pub id: String,
    pub start: DateTime<Utc>,
    /// The end of the whole fragments in its file so far.
    pub written_end: DateTime<Utc>,
    /// Frames lost in it so far. (A worker of an earlier version does not send it.)
    #[serde(default)]
    pub holes: Vec<Hole>,
}

/// The segment being written, for a hub's timeline (`recordings?from&to`) and for its choice
/// of where an MP4 is built.
async fn recording(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Writing>> {
    if !s.cameras.runs(&id) {
        return Err(not_held(&id));
    }
    Ok(axum::Json(Writing::local(&s, &id)))
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    #[serde(deserialize_with = "crate::http::times::required")]
    from: DateTime<Utc>,
    #[serde(deserialize_with = "crate::http::times::required")]
    to: DateTime<Utc>,
}

/// `recordings.mp4` of a range that reaches into the segment this worker is writing, built
/// here and relayed by the hub (`crate::http::proxy::recordings_mp4`), ranges included; the
/// hub checked the caller and the range.
async fn recordings_mp4(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    crate::http::recordings::build_mp4(&s, &id, q.from, q.to, &headers).await
}

async fn snapshot(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<VideoQuery>,
) -> ApiResult<Response> {
    if !s.cameras.runs(&id) {
        return Err(not_held(&id));
    }
    crate::http::snapshot::local(&s, &id, q.quality.unwrap_or_default()).await
}

/// One finished segment's file as recorded (HTTP ranges supported), when it is indexed and in
/// one of this worker's directories; 404 `no_segment` otherwise (another node's, deleted, or
/// still being written, which has no row yet). Not tied to holding the camera: a segment stays
/// here after the camera moves to another worker. The hub checks the bytes against the index.
async fn segment(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let no_segment = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_segment",
            format!("segment {id} is not recorded on this worker"),
        )
    };
    let row = s
        .store
        .recording_segment_sources(std::slice::from_ref(&id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_segment)?;
    let dir = s
        .recording
        .recorder()
        .and_then(|r| r.dir_path(&row.dir_id))
        .ok_or_else(no_segment)?;
    let path = dir.join(&row.path);
    let file = std::fs::File::open(&path).map_err(|e| {
        tracing::warn!(segment = %id, path = %path.display(), error = %e, "an indexed segment cannot be read");
        no_segment()
    })?;
    let len = file
        .metadata()
        .map_err(|e| ApiError::internal(e.to_string()))?
        .len();
    let wanted = crate::http::download::wanted(&headers, len);
    Ok(crate::http::download::video_response(
        wanted,
        len,
        &format!("{id}.mp4"),
        move |start, end, out| crate::http::clips::copy_range(file, start, end, out),
    ))
}
