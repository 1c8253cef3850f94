//! Evidence clips wait for room on their disk: with `[evidence] min_free_bytes` above what the
//! disk has free, a due clip is not sealed, not given up (its job stays pending, tried again
//! every minute without using up its attempts, its recordings locked even after its incident
//! is closed), and the duty room is told (the stream's health,
//! `/readyz`, `gridwatch_evidence_low_space`). Once there is room (the floor lowered, as space
//! freed would), the same job seals and the alarm clears. On both backends.

use chrono::Duration;
use gridwatch_core::clock::{Clock, ManualClock};
use gridwatch_core::recording::evidence::JobState;
use gridwatch_hub::recording::{evidence, open_recorder, RecordingHub};
use gridwatch_hub::AppState;
use gridwatch_store::testing::fresh_store;
use gridwatch_store::Backend;
use std::sync::Arc;

use super::served::{add_camera, recording_config, wait_for_segments};
use crate::ingest_common::start_sim;

async fn clips_wait_for_room(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let sim = start_sim(1);
    let camera = add_camera(&store, &sim.url(1)).await;
    let mut config = recording_config(&tmp.path().join("samples"));
    config.evidence.pre_seconds = 2;
    config.evidence.post_seconds = 2;
    // More than any disk has free.
    config.evidence.min_free_bytes = u64::MAX / 4;
    let recorder = open_recorder(&config.recording, &store).await;
    let clock = ManualClock::new(chrono::Utc::now());
    let state = AppState::with_recorder(
        store.clone(),
        Arc::new(clock.clone()),
        config.clone(),
        recorder,
    );
    gridwatch_hub::cameras::start(&state.cameras).await;

    let incident = super::late_clips::incident(&store, &camera, clock.now()).await;
    wait_for_segments(&store, &camera, 4).await;
    clock.advance(Duration::seconds(5));

    // Due, and no room: put off, not failed; the alarm is up.
    let hub = &state.recording;
    let report = evidence::tick(hub).await.unwrap();
    assert_eq!(
        (report.scheduled, report.sealed, report.failed),
        (1, 0, 1),
        "{report:?}"
    );
    let jobs = store.evidence_jobs(&incident).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Pending, "{jobs:?}");
    let low = hub.evidence_space.low().expect("low on room");
    assert!(low.free_bytes < low.needed_bytes, "{low:?}");
    assert!(low.needed_bytes >= u64::MAX / 4);
    let metrics = state.metrics.render();
    assert!(
        metrics
            .lines()
            .any(|l| l == "gridwatch_evidence_low_space 1"),
        "{metrics}"
    );
    assert!(store.evidence_clips(&incident).await.unwrap().is_empty());
    // Its recordings stay locked meanwhile.
    let segments = store
        .recording_segments(
            &camera,
            "main",
            clock.now() - Duration::minutes(1),
            clock.now(),
        )
        .await
        .unwrap();
    assert!(!segments.is_empty());
    // The incident is closed meanwhile; hours pass, far more tries than a job's attempts:
    // still waiting, none of them counted, and its recordings locked open-ended (a closed
    // incident's locks get their end only once its clips are sealed).
    let cancel = gridwatch_core::incident::Action::Cancel {
        reason: "误报".into(),
    };
    let duty = gridwatch_core::event::Actor::user("duty", "test");
    store
        .act_on_incident(&incident, &cancel, &duty, None, clock.now(), |_| Ok(()))
        .await
        .unwrap();
    for _ in 0..12 {
        clock.advance(Duration::minutes(30));
        evidence::tick(hub).await.unwrap();
    }
    let jobs = store.evidence_jobs(&incident).await.unwrap();
    assert_eq!(
        (jobs[0].state, jobs[0].attempts),
        (JobState::Pending, 0),
        "{jobs:?}"
    );
    let locks = || {
        let (store, camera) = (store.clone(), camera.clone());
        let (from, to) = (jobs[0].from, jobs[0].to);
        async move { store.recording_locks(&camera, from, to).await.unwrap() }
    };
    let held = locks().await;
    assert!(
        !held.is_empty() && held.iter().all(|l| l.until.is_none()),
        "{held:?}"
    );

    // Room again (the floor lowered, as freeing the disk would do): the same job seals at its
    // next try and the alarm clears.
    config.evidence.min_free_bytes = 0;
    let roomy = RecordingHub::new(
        &config,
        hub.recorder().cloned(),
        store.clone(),
        Arc::new(clock.clone()),
        state.lifecycle.clone(),
        &gridwatch_hub::metrics::Metrics::new(),
    );
    clock.advance(Duration::minutes(5));
    let report = evidence::tick(&roomy).await.unwrap();
    assert_eq!((report.sealed, report.failed), (1, 0), "{report:?}");
    assert_eq!(roomy.evidence_space.low(), None);
    let clips = store.evidence_clips(&incident).await.unwrap();
    assert_eq!(clips.len(), 1, "{clips:?}");
    assert!(clips[0].bytes > 0);
    // Sealed: the closed incident's locks now get their end (`lock_days` after the close).
    evidence::tick(&roomy).await.unwrap();
    let ended = locks().await;
    assert!(ended.iter().all(|l| l.until.is_some()), "{ended:?}");

    state.cameras.registry.clear();
    let recorder = hub.recorder().cloned().unwrap();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
}

served_on_both!(clips_wait_for_room);
