//! From the store's cameras to the ingest's configuration.
//!
//! The API changes a camera in the store first; [`reload_one`] then reads it back and applies
//! it, so the registry follows what was committed. [`reload_all`] applies the whole table (at
//! start, and every `resync_seconds` for changes made through other hub nodes); the registry
//! leaves unchanged cameras alone, so a resync costs no reconnection.

use crate::state::AppState;
use gridwatch_core::camera::Camera;
use gridwatch_ingest::{ApplySummary, CameraConfig, Credentials};
use gridwatch_store::{Store, StoreError};

/// The ingest's configuration of a camera; `None` when its URL cannot be used (it is then
/// left out, and reported in the log).
pub async fn ingest_config(
    store: &Store,
    camera: &Camera,
) -> Result<Option<CameraConfig>, StoreError> {
    let url = match camera.rtsp_url.parse() {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(camera = %camera.id, error = %e, "camera URL unusable; camera not started");
            return Ok(None);
        }
    };
    let mut config = CameraConfig::new(camera.id.clone(), url);
    config.sub_url = match camera.sub_rtsp_url.as_deref().map(str::parse) {
        None => None,
        Some(Ok(u)) => Some(u),
        Some(Err(e)) => {
            tracing::warn!(camera = %camera.id, error = %e, "sub stream URL unusable; main stream only");
            None
        }
    };
    config.enabled = camera.enabled;
    if camera.has_credentials {
        config.credentials = store
            .camera_credentials(&camera.id)
            .await?
            .map(|c| Credentials::new(c.username, c.password));
    }
    Ok(Some(config))
}

/// Applies every camera of the store.
pub async fn reload_all(state: &AppState) -> Result<ApplySummary, StoreError> {
    let hub = &state.cameras;
    let _one_at_a_time = hub.sync_lock.lock().await;
    let mut configs = Vec::new();
    for camera in state.store.cameras().await? {
        if let Some(c) = ingest_config(&state.store, &camera).await? {
            configs.push(c);
        }
    }
    let summary = hub.registry.apply(configs);
    for id in &summary.removed {
        hub.snapshots.forget(id);
    }
    if !(summary.added.is_empty() && summary.changed.is_empty() && summary.removed.is_empty()) {
        tracing::info!(added = ?summary.added, changed = ?summary.changed,
            removed = ?summary.removed, "cameras applied");
    }
    Ok(summary)
}

/// Applies one camera as the store has it now: started, changed, or (when it is gone) stopped.
pub async fn reload_one(state: &AppState, id: &str) -> Result<(), StoreError> {
    let hub = &state.cameras;
    let _one_at_a_time = hub.sync_lock.lock().await;
    let config = match state.store.camera(id).await {
        Ok(camera) => ingest_config(&state.store, &camera).await?,
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    match config {
        Some(c) => {
            tracing::info!(camera = %id, enabled = c.enabled, "camera applied");
            hub.registry.upsert(c);
        }
        None => {
            if hub.registry.remove(id) {
                tracing::info!(camera = %id, "camera stopped");
            }
            hub.snapshots.forget(id);
        }
    }
    Ok(())
}

/// [`reload_one`] after an API change: the change is committed whatever happens here, so a
/// failure is logged (the next resync applies it) rather than answered.
pub async fn after_change(state: &AppState, id: &str) {
    if let Err(e) = reload_one(state, id).await {
        tracing::warn!(camera = %id, error = %e, "camera change not applied yet; the next resync will");
    }
}

/// Re-applies every camera every `resync_seconds`.
pub fn spawn_resync(state: AppState) {
    let every = state.cameras.config.resync_every();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = reload_all(&state).await {
                tracing::warn!(error = %e, "camera resync failed");
            }
        }
    });
}
