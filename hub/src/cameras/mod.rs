//! Cameras in the hub: the ingest's registry ([`gridwatch_ingest::Cameras`]) fed from the
//! store, the video endpoints, and camera health turned into events and incidents.
//!
//! - [`sync`]: the store's cameras (with their credentials, which only the ingest sees) become
//!   the registry's configuration — all of them at start and every `resync_seconds`, one at a
//!   time when the API changes one, without a restart.
//! - [`api`]: the camera CRUD handlers, whose answers carry the live status.
//! - [`live`]: `GET /api/v1/cameras/{id}/live`, fragmented MP4 over a WebSocket.
//! - [`snapshot`]: `GET /api/v1/cameras/{id}/snapshot.jpg` (decoded by the ingest).
//! - [`health`]: `camera.online`/`camera.offline` events, and a `camera_offline` incident for
//!   an outage longer than `offline_incident_seconds`.

pub mod api;
pub mod config;
pub mod health;
pub mod live;
pub mod snapshot;
pub mod sync;

pub use config::CamerasConfig;

use crate::state::AppState;
use gridwatch_ingest::{Cameras, Snapshots};

/// The hub's cameras; one per process, shared by [`AppState`].
pub struct CameraHub {
    /// Every camera's sessions, status and live fan-out.
    pub registry: Cameras,
    pub snapshots: Snapshots,
    pub config: CamerasConfig,
    /// Serialises reading a camera from the store and applying it, so that two quick edits of
    /// one camera cannot be applied in the wrong order.
    sync_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CameraHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraHub")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl CameraHub {
    /// An empty registry whose sessions run on the current tokio runtime; [`start`] fills it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(config: &CamerasConfig) -> CameraHub {
        CameraHub {
            registry: Cameras::new(config.ingest()),
            snapshots: Snapshots::new(config.snapshot_timeout()),
            config: config.clone(),
            sync_lock: tokio::sync::Mutex::new(()),
        }
    }
}

/// Starts the cameras of the store, the health monitor and the periodic resync. Health events
/// are followed from before the first camera starts, so none is missed.
pub async fn start(state: &AppState) {
    health::spawn(state.clone());
    match sync::reload_all(state).await {
        Ok(summary) => tracing::info!(cameras = summary.added.len(), "cameras started"),
        Err(e) => tracing::error!(error = %e, "cameras not started; retrying at the next resync"),
    }
    sync::spawn_resync(state.clone());
}
