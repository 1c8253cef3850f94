//! Recording in a hub as `gridwatch serve` runs it: `[recording]` configured, a simulated camera
//! in the store, segments indexed while it runs, the directory's state on `/readyz` and as
//! metrics, and every segment finished and indexed when the hub stops. On both backends.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gridwatch_core::clock::ManualClock;
use gridwatch_hub::recording::config::{LimitedDir, SampleDir};
use gridwatch_hub::recording::open_recorder;
use gridwatch_hub::{server, AppState, Config};
use gridwatch_store::testing::fresh_store;
use gridwatch_store::{Backend, Store};
use serde_json::{json, Value};
use std::sync::Arc;

use super::support::assert_index_matches_disk;
use crate::ingest_common::start_sim;

/// A hub's configuration recording into `samples` (no limit), segments of a second, its data
/// directory `samples`' parent.
pub fn recording_config(samples: &Path) -> Config {
    let mut config = Config {
        data_dir: samples.parent().unwrap().to_path_buf(),
        ..Config::default()
    };
    config.recording.dirs = vec![SampleDir::Limited(LimitedDir {
        path: samples.to_path_buf(),
        max_bytes: 0,
        min_free_bytes: 0,
    })];
    config.recording.segment_seconds = 1;
    // No evidence floor either: the test machine's disk may have less free than the default.
    config.evidence.min_free_bytes = 0;
    config
}

/// The state of a hub recording into `samples` (see [`recording_config`]), on a manual clock
/// set to the wall clock's now (the cameras' frames carry real time), its cameras started.
pub async fn recording_state(store: &Store, samples: &Path) -> (AppState, ManualClock) {
    let config = recording_config(samples);
    let recorder = open_recorder(&config.recording, store).await;
    let clock = ManualClock::new(Utc::now());
    let state = AppState::with_recorder(store.clone(), Arc::new(clock.clone()), config, recorder);
    gridwatch_hub::cameras::start(&state.cameras).await;
    (state, clock)
}

/// A hub recording into `samples`, segments of a second.
pub async fn serve_recording(
    store: Store,
    samples: &Path,
    adjust: impl FnOnce(&mut Config),
) -> server::Running {
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        ..recording_config(samples)
    };
    adjust(&mut config);
    server::start(config, store, std::future::pending())
        .await
        .expect("the hub starts")
}

/// A camera of the simulator, registered in the store.
pub async fn add_camera(store: &Store, url: &str) -> String {
    store
        .create_camera(
            serde_json::from_value(json!({"name": "东门", "rtsp_url": url})).unwrap(),
            Utc::now(),
        )
        .await
        .unwrap()
        .id
}

/// Waits until the camera has at least `n` indexed segments.
pub async fn wait_for_segments(store: &Store, camera: &str, n: usize) {
    let started = Instant::now();
    loop {
        let found = store
            .recording_segments(
                camera,
                "main",
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
            )
            .await
            .unwrap();
        if found.len() >= n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} segments after 30 s",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_served_hub_records_its_cameras(backend: Backend) {
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let camera = add_camera(&store, &sim.url(1)).await;
    let samples = tmp.path().join("samples");
    let running = serve_recording(store.clone(), &samples, |_| {}).await;
    wait_for_segments(&store, &camera, 2).await;

    let http = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    let ready: Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dirs = ready["recording"]["dirs"].as_array().expect("dirs").clone();
    assert_eq!(dirs.len(), 1, "{ready}");
    assert_eq!(dirs[0]["recording"], true, "{ready}");
    assert_eq!(dirs[0]["streams"], 1, "{ready}");
    assert!(
        dirs[0]["unindexed_segments"].as_u64().unwrap() <= 1,
        "{ready}"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
            .to_string()
    };
    assert!(line("gridwatch_recording_dir_stopped{").ends_with(" 0"));
    let segments: f64 = line("gridwatch_recording_segments{")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(segments >= 2.0, "{metrics}");
    // What the recorder did, as counters: the segments it finished (the index's rows are
    // the store's count above), and no frame lost to a slow disk.
    let value = |l: String| -> f64 { l.rsplit(' ').next().unwrap().parse().unwrap() };
    assert!(value(line("gridwatch_recording_segments_finished_total{")) >= segments);
    assert_eq!(
        value(line("gridwatch_recording_frames_dropped_total{dir=\"")),
        0.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("reason=\"queue_full\"} 0"),
        "every reason is shown from the start: {metrics}"
    );
    // The store answers: no finished segment waits for its row for long.
    assert!(
        value(line("gridwatch_recording_segments_unindexed{")) <= 1.0,
        "{metrics}"
    );
    // No health complaint while recording.
    assert!(running
        .state
        .stream
        .health()
        .borrow()
        .get("recording_stopped")
        .is_none());

    // Stopping the hub finishes every open segment: index and disk agree.
    let dir_id = dirs_id(&store).await;
    let recorder = running.state.recording.recorder().cloned().unwrap();
    running.state.cameras.registry.clear();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
    let n = assert_index_matches_disk(&store, &dir_id, &samples.canonicalize().unwrap()).await;
    assert!(n >= 2, "{n}");

    // A directory that stops (here: its recorder is shut down; a full disk or a hold for
    // evidence is told the same way) is told on the stream's health, on /readyz (still
    // ready: SOS does not need recording), and as a metric.
    let mut health = running.state.stream.health();
    let told = tokio::time::timeout(
        Duration::from_secs(5),
        health.wait_for(|h| h.get("recording_stopped").is_some()),
    )
    .await
    .expect("the health message tells")
    .unwrap()
    .clone();
    assert_eq!(
        told["recording_stopped"][0]["reason"], "unavailable",
        "{told}"
    );
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(
        ready["recording"]["dirs"][0]["stopped"], "unavailable",
        "{ready}"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gridwatch_recording_dir_stopped{") && l.ends_with(" 1")),
        "{metrics}"
    );

    running.task.abort();
}

async fn dirs_id(store: &Store) -> String {
    store
        .recording_usage()
        .await
        .unwrap()
        .first()
        .expect("a directory with segments")
        .dir_id
        .clone()
}

served_on_both!(a_served_hub_records_its_cameras);
