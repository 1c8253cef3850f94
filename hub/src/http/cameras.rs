//! The camera CRUD endpoints (`/api/v1/cameras`): the store keeps the record, the registry is
//! told after every change, and every answer carries the camera's live status.
//!
//! Who sees which camera (`gridwatch_core::access::CameraScope`): admins and duty officers every camera, a responder
//! the cameras of the grids whose chain names its post (as the real-time stream shows it their
//! health) and those its open incidents name (an incident near a grid's edge may name a
//! neighbour's camera, whose picture the post sent there needs); any other camera is 404 to it,
//! as if it did not exist. How the hub reaches a camera
//! (its URLs, transport, credentials flag, quirks, user agent) is configuration: admins only.

use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::json::{Json, Path};
use super::proxy::{self, WorkerSaid};
use crate::cameras::sync;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use gridwatch_core::access::{CameraScope, Visibility};
use gridwatch_core::camera::{Camera, CameraPatch, NewCamera};
use gridwatch_core::Role;
use gridwatch_ingest::CameraStatus;
use gridwatch_store::{IncidentFilter, StoreError};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Which cameras the caller may see (see `CameraScope::new`): for a post, the grids whose
/// chain names it and the cameras its open incidents name are read here.
pub async fn camera_scope(s: &AppState, caller: &Caller) -> ApiResult<CameraScope> {
    let visibility = caller.visibility();
    let Visibility::Post(post) = &visibility else {
        return Ok(CameraScope::new(
            &visibility,
            HashSet::new(),
            HashSet::new(),
        ));
    };
    let grids = s.store.grids_of_post(post).await?.into_iter().collect();
    let open = s
        .store
        .incidents(&IncidentFilter::open(visibility.clone()))
        .await?;
    let cameras = open
        .into_iter()
        .flat_map(|i| i.camera_id.into_iter().chain(i.cameras))
        .collect();
    Ok(CameraScope::new(&visibility, grids, cameras))
}

/// 404 unless the caller may see camera `id`: the same answer as for an unknown camera, so
/// that a responder cannot even learn which ids exist in other grids. For everyone else the
/// registry answers (an unknown camera is 404 there too), without a query.
pub async fn ensure_visible(s: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let scope = camera_scope(s, caller).await?;
    if scope == CameraScope::All {
        return Ok(());
    }
    let camera = s.store.camera(id).await?;
    match scope.admits(&camera) {
        true => Ok(()),
        false => Err(hidden(id)),
    }
}

/// The answer for a camera the caller may not see: word for word the store's for an unknown
/// one.
fn hidden(id: &str) -> ApiError {
    ApiError::from(StoreError::NotFound {
        what: "camera",
        id: id.to_string(),
    })
}

/// What of a camera's record an answer carries.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CameraRecord {
    /// Everything but the credentials: for admins, who configure cameras.
    Full(Camera),
    /// What and where it is, for those who watch it.
    Public(PublicCamera),
}

/// A camera as those who watch it are shown it: no URLs (they may name hosts, paths and
/// tokens of the camera network), nor how the hub talks to the camera.
#[derive(Debug, Clone, Serialize)]
pub struct PublicCamera {
    pub id: String,
    pub name: String,
    pub grid_id: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub heading: Option<f64>,
    pub panoramic: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Camera> for PublicCamera {
    fn from(c: Camera) -> PublicCamera {
        PublicCamera {
            id: c.id,
            name: c.name,
            grid_id: c.grid_id,
            lat: c.lat,
            lon: c.lon,
            heading: c.heading,
            panoramic: c.panoramic,
            enabled: c.enabled,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A camera as the API shows it: the record (never its credentials) and its live status.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    #[serde(flatten)]
    pub camera: CameraRecord,
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

/// Reason shown, on a hub that leaves its cameras to ingest workers, for a camera no live
/// worker says it runs (none holds it, or its worker does not answer).
pub const NO_WORKER: &str = "no ingest worker runs it now (see GET /api/v1/ingest/workers)";

impl CameraView {
    /// The view of `camera` for admins; see [`CameraView::for_caller`] for anyone else.
    pub fn new(camera: Camera, status: Option<&CameraStatus>) -> CameraView {
        let camera = CameraRecord::Full(camera);
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

    /// The view of a camera an ingest worker runs, as its worker says (`None`: no live worker
    /// says it runs it), for a hub in `workers` mode.
    pub fn on_worker(camera: Camera, said: Option<&WorkerSaid>) -> CameraView {
        let mut view = CameraView::new(camera, None);
        match said {
            Some((state, reason)) => {
                view.status = state.as_str();
                view.status_reason = reason.clone();
            }
            None => view.status_reason = Some(NO_WORKER.into()),
        }
        view
    }

    /// The view as `caller` may have it: the connection details for admins only.
    pub fn for_caller(mut self, caller: &Caller) -> CameraView {
        if caller.role() != Role::Admin {
            if let CameraRecord::Full(c) = self.camera {
                self.camera = CameraRecord::Public(c.into());
            }
        }
        self
    }
}

/// Where a camera's status comes from: this hub's own sessions, and on a hub that leaves its
/// cameras to ingest workers, what the workers said (asked by the caller: all of them for a
/// list, only the holder for one camera).
struct StatusSources<'a> {
    /// This hub's statuses, sorted by camera ID.
    own: &'a [CameraStatus],
    /// `Some` on a hub in `workers` mode.
    workers: Option<&'a HashMap<String, WorkerSaid>>,
}

impl StatusSources<'_> {
    /// `camera` with its status: this hub's when it runs it, else its worker's (a camera no
    /// live worker says it runs is offline, [`NO_WORKER`]), else not running here.
    fn view(&self, camera: Camera) -> CameraView {
        let own = self
            .own
            .binary_search_by(|st| st.id.as_str().cmp(&camera.id))
            .ok()
            .map(|i| &self.own[i]);
        match (own, self.workers) {
            (None, Some(said)) => {
                let of = said.get(&camera.id);
                CameraView::on_worker(camera, of)
            }
            _ => CameraView::new(camera, own),
        }
    }
}

/// One camera with its status, as [`StatusSources::view`] chooses it; on a hub in `workers`
/// mode only the worker holding the camera is asked.
async fn view(s: &AppState, camera: Camera) -> CameraView {
    let own: Vec<CameraStatus> = s.cameras.registry.status(&camera.id).into_iter().collect();
    let mut said = HashMap::new();
    if own.is_empty() && workers_mode(s) {
        if let Some(of) = proxy::worker_camera_state(s, &camera.id).await {
            said.insert(camera.id.clone(), of);
        }
    }
    let sources = StatusSources {
        own: &own,
        workers: workers_mode(s).then_some(&said),
    };
    sources.view(camera)
}

fn workers_mode(s: &AppState) -> bool {
    s.config.ingest.mode == crate::workers::IngestMode::Workers
}

/// The cameras the caller may see.
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<CameraView>>> {
    let scope = camera_scope(&s, &caller).await?;
    let cameras = s.store.cameras().await?;
    let own = s.cameras.registry.statuses();
    let said = match workers_mode(&s) {
        true => Some(proxy::worker_camera_states(&s).await),
        false => None,
    };
    let sources = StatusSources {
        own: &own,
        workers: said.as_ref(),
    };
    let views = cameras
        .into_iter()
        .filter(|c| scope.admits(c))
        .map(|c| sources.view(c).for_caller(&caller))
        .collect();
    Ok(axum::Json(views))
}

/// 404 for a camera the caller may not see, as for one that does not exist.
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CameraView>> {
    let camera = s.store.camera(&id).await?;
    if !camera_scope(&s, &caller).await?.admits(&camera) {
        return Err(hidden(&id));
    }
    Ok(axum::Json(view(&s, camera).await.for_caller(&caller)))
}

/// 201 with the new camera, already connecting.
pub async fn create(
    State(s): State<AppState>,
    Json(new): Json<NewCamera>,
) -> ApiResult<(StatusCode, axum::Json<CameraView>)> {
    let camera = s.store.create_camera(new, s.now()).await?;
    sync::after_change(&s.cameras, &camera.id).await;
    Ok((StatusCode::CREATED, axum::Json(view(&s, camera).await)))
}

/// A changed URL, credentials, `enabled`, `transport`, `quirks` or `user_agent` reconnects the
/// camera at once; other fields (name, place, grid) leave its session alone.
pub async fn patch(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(p): Json<CameraPatch>,
) -> ApiResult<axum::Json<CameraView>> {
    let camera = s.store.update_camera(&id, p, s.now()).await?;
    sync::after_change(&s.cameras, &id).await;
    Ok(axum::Json(view(&s, camera).await))
}

/// Stops the camera's session and ends its live viewers.
pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.store.delete_camera(&id).await?;
    sync::after_change(&s.cameras, &id).await;
    Ok(StatusCode::NO_CONTENT)
}
