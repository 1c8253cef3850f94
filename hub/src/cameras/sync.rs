//! From the store's cameras to the ingest's configuration.
//!
//! The API changes a camera in the store first; [`reload_one`] then reads it back and applies
//! it, so the registry follows what was committed. [`reload_all`] applies the whole table (at
//! start, and every `resync_seconds` for changes made through other hub nodes); the registry
//! leaves unchanged cameras alone, so a resync costs no reconnection.

use super::CameraHub;
use gridwatch_core::camera::{Camera, CameraTransport};
use gridwatch_core::recording::RecordMode as CoreMode;
use gridwatch_ingest::recording::RecordMode;
use gridwatch_ingest::{ApplySummary, CameraConfig, CameraQuirks, Credentials, Transport};
use gridwatch_store::{Store, StoreError};
use std::sync::Arc;

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
    config.transport = match camera.transport {
        CameraTransport::Tcp => Transport::Tcp,
        CameraTransport::Udp => Transport::Udp,
    };
    config.quirks = ingest_quirks(&camera.id, &camera.quirks);
    config.quirks.user_agent = camera.user_agent.clone();
    if camera.has_credentials {
        config.credentials = store
            .camera_credentials(&camera.id)
            .await?
            .map(|c| Credentials::new(c.username, c.password));
    }
    Ok(Some(config))
}

/// The ingest's switches for a camera's quirk names. The names are the ingest's own field
/// names (the core checks them against [`gridwatch_core::camera::CAMERA_QUIRKS`], and a test
/// here checks that list against [`CameraQuirks`]); one the ingest would not know is left out
/// and logged rather than stopping the camera.
pub fn ingest_quirks(camera: &str, names: &[String]) -> CameraQuirks {
    let mut quirks = CameraQuirks::default();
    for name in names {
        let one = serde_json::json!({ name.as_str(): true });
        match serde_json::from_value::<CameraQuirks>(one) {
            Ok(q) => {
                quirks.ignore_rtptime |= q.ignore_rtptime;
                quirks.ignore_rtp_info_seq |= q.ignore_rtp_info_seq;
                quirks.ignore_unassigned_channel_data |= q.ignore_unassigned_channel_data;
                quirks.use_first_session_id |= q.use_first_session_id;
                quirks.accept_unknown_rtcp_ssrc |= q.accept_unknown_rtcp_ssrc;
                quirks.always_teardown |= q.always_teardown;
            }
            Err(e) => {
                tracing::warn!(%camera, quirk = %name, error = %e, "quirk unknown to the ingest; ignored")
            }
        }
    }
    quirks
}

/// Applies every camera of the store.
pub async fn reload_all(hub: &CameraHub) -> Result<ApplySummary, StoreError> {
    let _one_at_a_time = hub.sync_lock.lock().await;
    let mut configs = Vec::new();
    for camera in hub.store().cameras().await? {
        if !hub.runs(&camera.id) {
            continue;
        }
        if let Some(mut c) = ingest_config(hub.store(), &camera).await? {
            c.record = record_mode(hub, camera.record);
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
    super::motion_workers::reload_all(hub).await?;
    Ok(summary)
}

/// Applies one camera as the store has it now: started, changed, or (when it is gone) stopped.
pub async fn reload_one(hub: &CameraHub, id: &str) -> Result<(), StoreError> {
    let _one_at_a_time = hub.sync_lock.lock().await;
    let config = match hub.store().camera(id).await {
        Ok(_) if !hub.runs(id) => None,
        Ok(camera) => ingest_config(hub.store(), &camera).await?.map(|mut c| {
            c.record = record_mode(hub, camera.record);
            c
        }),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    match config {
        Some(c) => {
            tracing::info!(camera = %id, enabled = c.enabled, record = ?c.record, "camera applied");
            hub.registry.upsert(c);
        }
        None => {
            if hub.registry.remove(id) {
                tracing::info!(camera = %id, "camera stopped");
            }
            hub.snapshots.forget(id);
        }
    }
    super::motion_workers::reload_one(hub, id).await
}

/// Stops one camera at once, without asking the database (which may be out of reach: a
/// worker that lost its lease must stop even then). Under the same lock as the reloads, so
/// that a resync computed before the stop cannot start the camera again.
pub async fn stop_one(hub: &CameraHub, id: &str) {
    let _one_at_a_time = hub.sync_lock.lock().await;
    if hub.registry.remove(id) {
        tracing::info!(camera = %id, "camera stopped");
    }
    hub.snapshots.forget(id);
}

/// [`reload_one`] after an API change: the change is committed whatever happens here, so a
/// failure is logged (the next resync applies it) rather than answered.
pub async fn after_change(hub: &CameraHub, id: &str) {
    if let Err(e) = reload_one(hub, id).await {
        tracing::warn!(camera = %id, error = %e, "camera change not applied yet; the next resync will");
    }
    if let Some(hints) = &hub.hints {
        hints.camera_changed(id).await;
    }
}

/// What the ingest records of a camera in `mode`: nothing without a recorder (the ingest's
/// default, `off`). The mode is the camera's own column, read with the rest of its record,
/// so an API change reaches the running recorder with [`reload_one`] like any other edit.
fn record_mode(hub: &CameraHub, mode: CoreMode) -> RecordMode {
    if !hub.recording {
        return RecordMode::Off;
    }
    match mode {
        CoreMode::Continuous => RecordMode::Continuous,
        CoreMode::Incidents => RecordMode::Incidents,
        CoreMode::Off => RecordMode::Off,
    }
}

/// Re-applies every camera every `resync_seconds`.
pub fn spawn_resync(hub: Arc<CameraHub>) {
    let every = hub.config.resync_every();
    let lifecycle = hub.lifecycle().clone();
    lifecycle.spawn_service(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = reload_all(&hub).await {
                tracing::warn!(error = %e, "camera resync failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwatch_core::camera::CAMERA_QUIRKS;

    #[test]
    fn the_core_names_every_ingest_quirk_and_no_other() {
        // Every switch of the ingest (the user agent is a string, not a quirk name).
        let fields = serde_json::to_value(CameraQuirks::default()).unwrap();
        let mut fields: Vec<&str> = fields
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.is_boolean())
            .map(|(k, _)| k.as_str())
            .collect();
        fields.sort_unstable();
        let mut names: Vec<&str> = CAMERA_QUIRKS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        assert_eq!(names, fields);
        // Each name sets its own switch and no other.
        for (name, _) in CAMERA_QUIRKS {
            let q = ingest_quirks("c", &[name.to_string()]);
            let v = serde_json::to_value(&q).unwrap();
            let on: Vec<&String> = v
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| **v == serde_json::Value::Bool(true))
                .map(|(k, _)| k)
                .collect();
            assert_eq!(on, [name], "{name}");
        }
        let all: Vec<String> = CAMERA_QUIRKS.iter().map(|(n, _)| n.to_string()).collect();
        let q = ingest_quirks("c", &all);
        assert!(q.ignore_rtptime && q.ignore_rtp_info_seq && q.ignore_unassigned_channel_data);
        assert!(q.use_first_session_id && q.accept_unknown_rtcp_ssrc && q.always_teardown);
        assert_eq!(q.user_agent, None);
        assert_eq!(
            ingest_quirks("c", &["nonsense".into()]),
            CameraQuirks::default()
        );
    }
}
