//! Evidence for incidents the hub did not see in time: after three days without the evidence
//! task (the hub was down, or its store did not answer), an incident raised before the outage
//! still gets its clip, cut from the recordings made then; an incident older than the longest
//! retention in force gets none (nothing unlocked is left of that time), until a camera keeps
//! its recordings longer. On both backends.

use chrono::{Duration, Utc};
use gridwatch_core::clock::Clock;
use gridwatch_hub::recording::evidence;
use gridwatch_store::testing::{bare_sos, fresh_store};
use gridwatch_store::{Backend, Store};
use serde_json::json;

use super::served::{add_camera, recording_state, wait_for_segments};
use crate::ingest_common::start_sim;

/// An SOS incident naming `camera`, raised at `at`; its ID.
pub(super) async fn incident(store: &Store, camera: &str, at: chrono::DateTime<Utc>) -> String {
    let mut sos = bare_sos(&gridwatch_core::id::new_id());
    sos.raise.cameras = vec![camera.to_string()];
    store.raise_incident(sos, at).await.unwrap().incident.id
}

async fn clips_after_a_long_outage(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let sim = start_sim(1);
    let camera = add_camera(&store, &sim.url(1)).await;
    let (state, clock) = recording_state(&store, &tmp.path().join("samples")).await;

    let old = incident(&store, &camera, clock.now() - Duration::days(31)).await;
    let recent = incident(&store, &camera, clock.now()).await;
    wait_for_segments(&store, &camera, 3).await;

    // Three days pass without a tick.
    clock.advance(Duration::days(3));
    let late = evidence::tick(&state.recording).await.unwrap();
    assert_eq!(
        (late.scheduled, late.sealed, late.failed),
        (1, 1, 0),
        "the incident of three days ago is clipped, the one of 31 days ago not: {late:?}"
    );
    let clips = store.evidence_clips(&recent).await.unwrap();
    assert_eq!(clips.len(), 1, "{clips:?}");
    assert!(clips[0].bytes > 0);
    assert!(store.evidence_clips(&old).await.unwrap().is_empty());
    assert_eq!(evidence::tick(&state.recording).await.unwrap().scheduled, 0);

    // A camera that keeps 60 days: the old incident's time may still be recorded somewhere,
    // so it is looked at (and found without recordings).
    store
        .create_camera(
            serde_json::from_value(json!({
                "name": "西门", "rtsp_url": "rtsp://127.0.0.1:9/none", "retention_days": 60
            }))
            .unwrap(),
            clock.now(),
        )
        .await
        .unwrap();
    let longer = evidence::tick(&state.recording).await.unwrap();
    assert_eq!(
        (longer.scheduled, longer.no_recording, longer.sealed),
        (1, 1, 0),
        "{longer:?}"
    );
    assert!(store.evidence_clips(&old).await.unwrap().is_empty());

    state.cameras.registry.clear();
    let recorder = state.recording.recorder().cloned().unwrap();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
}

served_on_both!(clips_after_a_long_outage);
