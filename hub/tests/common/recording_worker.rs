//! An ingest worker that records, started for real on loopback (issue 17's suites: the fence
//! in `ingest_workers`, playback and evidence through the hub in `worker_recording`). Cameras
//! and segment rows: `recording::served::add_camera`, `recording::playback::segments_of`.

use gridwatch_hub::recording::config::{LimitedDir, SampleDir};
use gridwatch_hub::server::worker::RunningWorker;
use gridwatch_hub::server::Running;
use gridwatch_hub::Config;
use gridwatch_ingest::camsim::CamSim;
use gridwatch_store::{Backend, Store};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A simulated camera registered in a fresh store (whose SQLite file, if any, is in `dir`).
pub struct OneCamera {
    pub sim: CamSim,
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub camera: String,
}

pub async fn one_camera(backend: Backend) -> OneCamera {
    crate::ingest_common::init_tracing();
    let sim = crate::ingest_common::start_sim(1);
    let dir = tempfile::tempdir().unwrap();
    let store = gridwatch_store::testing::fresh_store(backend, dir.path())
        .await
        .unwrap();
    let camera = crate::recording::served::add_camera(&store, &sim.url(1)).await;
    OneCamera {
        sim,
        dir,
        store,
        camera,
    }
}

/// `config` made a recording worker named `w1`: quick leases (6 s, renewed every second, free
/// cameras looked for every 200 ms) and recording into `samples` in 1 s segments, with no
/// space limits (the test machine's disk may have less free than the default floor).
pub fn recording_worker(mut config: Config, samples: &Path) -> Config {
    config.ingest.worker_id = "w1".into();
    config.ingest.lease_seconds = 6;
    config.ingest.renew_seconds = 1;
    config.ingest.claim_ms = 200;
    config.recording.dirs = vec![SampleDir::Limited(LimitedDir {
        path: samples.to_path_buf(),
        max_bytes: 0,
        min_free_bytes: 0,
    })];
    config.recording.segment_seconds = 1;
    config
}

/// Starts a hub on `store`; it stops when the sender is sent to or dropped.
pub async fn start_hub(config: Config, store: &Store) -> (Running, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let hub = gridwatch_hub::server::start(config, store.clone(), async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    (hub, stop)
}

/// Starts a worker on `store`; it stops when the sender is sent to or dropped.
pub async fn start_worker(config: Config, store: &Store) -> (RunningWorker, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = gridwatch_hub::server::worker::start(
        config,
        store.clone(),
        Arc::new(gridwatch_core::clock::SystemClock),
        async {
            let _ = stopped.await;
        },
    )
    .await
    .unwrap();
    (worker, stop)
}
