//! Evidence clips wait for room on their disk: with `[evidence] min_free_bytes` above what the
//! disk has free, a due clip is not sealed, not given up (its job stays pending, tried again
//! every minute without using up its attempts, its recordings locked even after its incident
//! is closed), and the duty room is told (the stream's health,
//! `/readyz`, `gridwatch_evidence_low_space`). Once there is room (the floor lowered, as space
//! freed would), the same job seals and the alarm clears. On both backends.
//!
//! And a disk that really is full: the evidence directory on a small file system (a tmpfs,
//! mounted for the test) out of inodes, so that the kernel itself refuses the clip's file
//! (ENOSPC), then, with one inode freed, the manifest after the clip was written. Each time
//! the job waits (no attempt counted) with the alarm up and no partial file left; once room is
//! made it seals, and `gridwatch evidence verify` finds the chain and every file whole.

use chrono::Duration;
use gridwatch_core::clock::{Clock, ManualClock};
use gridwatch_core::recording::evidence::JobState;
use gridwatch_hub::recording::{evidence, open_recorder, RecordingHub};
use gridwatch_hub::{AppState, Config};
use gridwatch_store::testing::fresh_store;
use gridwatch_store::{Backend, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::disk_full::SmallDisk;
use super::served::{add_camera, recording_config, wait_for_segments};
use crate::ingest_common::start_sim;

/// A simulated camera in a fresh store, and a configuration recording it whose clips are
/// 2 s before to 2 s after an incident.
struct Camera {
    _tmp: tempfile::TempDir,
    store: Store,
    _sim: gridwatch_ingest::camsim::CamSim,
    camera: String,
    config: Config,
}

async fn camera(backend: Backend) -> Camera {
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let sim = start_sim(1);
    let camera = add_camera(&store, &sim.url(1)).await;
    let mut config = recording_config(&tmp.path().join("samples"));
    config.evidence.pre_seconds = 2;
    config.evidence.post_seconds = 2;
    Camera {
        _tmp: tmp,
        store,
        _sim: sim,
        camera,
        config,
    }
}

/// A hub's recording (its cameras running) on a manual clock.
async fn recording(store: &Store, config: &Config) -> (AppState, ManualClock) {
    let recorder = open_recorder(&config.recording, store).await;
    let clock = ManualClock::new(chrono::Utc::now());
    let state = AppState::with_recorder(
        store.clone(),
        Arc::new(clock.clone()),
        config.clone(),
        recorder,
    );
    gridwatch_hub::cameras::start(&state.cameras).await;
    (state, clock)
}

/// Stops the cameras and the recorder: every open segment finished.
async fn stop(state: &AppState) {
    state.cameras.registry.clear();
    let recorder = state.recording.recorder().cloned().unwrap();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
}

async fn clips_wait_for_room(backend: Backend) {
    let Camera {
        _tmp,
        store,
        _sim,
        camera,
        mut config,
    } = camera(backend).await;
    // More than any disk has free.
    config.evidence.min_free_bytes = u64::MAX / 4;
    let (state, clock) = recording(&store, &config).await;

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

    stop(&state).await;
}

served_on_both!(clips_wait_for_room);

/// Files `fill-N` in `dir` until the file system refuses one (ENOSPC): it has no inode left.
fn fill_inodes(dir: &Path) -> Vec<PathBuf> {
    let mut made = Vec::new();
    loop {
        let path = dir.join(format!("fill-{}", made.len()));
        match std::fs::File::create(&path) {
            Ok(_) => made.push(path),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                return made;
            }
        }
        assert!(made.len() < 10_000, "a file system with few inodes");
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn a_full_evidence_disk_is_waited_out(backend: Backend) {
    let Some(disk) = SmallDisk::mount_with("size=64m,nr_inodes=64") else {
        return;
    };
    let evidence_dir = disk.path().to_path_buf();
    let Camera {
        _tmp,
        store,
        _sim,
        camera,
        mut config,
    } = camera(backend).await;
    config.evidence.dir = evidence_dir.clone();
    let (state, clock) = recording(&store, &config).await;
    // The directory as a seal finds it (its folders and lock file made), then no inode left.
    gridwatch_ingest::evidence::EvidenceDir::open(&evidence_dir).unwrap();
    std::fs::File::create(evidence_dir.join(".lock")).unwrap();
    let mut fills = fill_inodes(&evidence_dir);
    assert!(!fills.is_empty());

    let incident = super::late_clips::incident(&store, &camera, clock.now()).await;
    wait_for_segments(&store, &camera, 4).await;
    clock.advance(Duration::seconds(5));
    let hub = &state.recording;
    let waits = |what: &'static str| {
        let (store, incident) = (store.clone(), incident.clone());
        let evidence_dir = evidence_dir.clone();
        async move {
            let report = evidence::tick(hub).await.unwrap();
            assert_eq!((report.sealed, report.failed), (0, 1), "{what}: {report:?}");
            let jobs = store.evidence_jobs(&incident).await.unwrap();
            assert_eq!(
                (jobs[0].state, jobs[0].attempts),
                (JobState::Pending, 0),
                "{what}: {jobs:?}"
            );
            assert!(hub.evidence_space.low().is_some(), "{what}: the alarm");
            assert!(store.evidence_clips(&incident).await.unwrap().is_empty());
            assert!(names(&evidence_dir.join("manifests")).is_empty(), "{what}");
            let clips = names(&evidence_dir.join("clips"));
            assert!(
                clips.iter().all(|n| !n.ends_with(".partial")),
                "{what}: {clips:?}"
            );
            clips
        }
    };
    // No inode for the clip's file.
    assert_eq!(waits("no inode for the clip").await, Vec::<String>::new());
    // One inode: the clip is written, its manifest is refused.
    std::fs::remove_file(fills.pop().unwrap()).unwrap();
    clock.advance(Duration::minutes(2));
    assert_eq!(waits("no inode for the manifest").await.len(), 1);

    // Room made: sealed at the next try, the alarm down, the chain and its files whole.
    for fill in fills {
        std::fs::remove_file(fill).unwrap();
    }
    clock.advance(Duration::minutes(2));
    let report = evidence::tick(hub).await.unwrap();
    assert_eq!((report.sealed, report.failed), (1, 0), "{report:?}");
    assert_eq!(hub.evidence_space.low(), None);
    let clips = store.evidence_clips(&incident).await.unwrap();
    assert_eq!(clips.len(), 1, "{clips:?}");
    assert_eq!(names(&evidence_dir.join("clips")).len(), 1);
    assert_eq!(names(&evidence_dir.join("manifests")).len(), 1);
    let verified = gridwatch_hub::recording::verify_evidence(Some(&store), &evidence_dir)
        .await
        .unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!((verified.manifests, verified.clips_checked), (1, 1));
    assert!(verified.segments_checked >= 1, "{verified:?}");

    stop(&state).await;
}

served_on_both!(a_full_evidence_disk_is_waited_out);
