//! Helpers for the tests against the camera simulator.

#![allow(dead_code)] // each test binary uses its own subset

use std::time::{Duration, Instant};

use gridwatch_ingest::camsim::{AuthScheme, CamSim, CamSimConfig};
use gridwatch_ingest::{CameraConfig, Cameras, IngestConfig, Quality, StreamState, StreamStatus};

pub const FPS: u32 = 25;

/// Logs to the test output with `RUST_LOG` (e.g. `RUST_LOG=debug`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A small, cheap simulator on a free port.
pub fn sim_config(cameras: usize) -> CamSimConfig {
    CamSimConfig {
        cameras,
        width: 320,
        height: 240,
        fps: FPS,
        key_int: 25,
        bitrate_kbps: 300,
        ..CamSimConfig::default()
    }
}

pub fn start_sim(cameras: usize) -> CamSim {
    CamSim::start(sim_config(cameras)).expect("camsim starts")
}

pub fn start_sim_with_auth(user: &str, password: &str, auth: AuthScheme) -> CamSim {
    CamSim::start(CamSimConfig {
        credentials: Some((user.into(), password.into())),
        auth,
        ..sim_config(1)
    })
    .expect("camsim starts")
}

/// Timeouts short enough for tests.
pub fn fast_config() -> IngestConfig {
    IngestConfig {
        connect_timeout: Duration::from_secs(3),
        stall_timeout: Duration::from_millis(1500),
        online_after: Duration::from_millis(200),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        healthy_after: Duration::from_secs(5),
        auth_failed_retry: Duration::from_secs(2),
        unsupported_retry: Duration::from_secs(2),
        ..IngestConfig::default()
    }
}

pub fn camera(id: &str, url: &str) -> CameraConfig {
    CameraConfig::new(id, url.parse().expect("valid URL"))
}

/// Waits until camera `id`'s main stream is in `state`; returns the status
/// and how long it took.
pub async fn wait_for(
    cameras: &Cameras,
    id: &str,
    state: StreamState,
    within: Duration,
) -> (StreamStatus, Duration) {
    wait_for_quality(cameras, id, Quality::Main, state, within).await
}

pub async fn wait_for_quality(
    cameras: &Cameras,
    id: &str,
    quality: Quality,
    state: StreamState,
    within: Duration,
) -> (StreamStatus, Duration) {
    let started = Instant::now();
    let mut rx = cameras.watch(id, quality).expect("camera exists");
    let result = tokio::time::timeout(within, rx.wait_for(|s| s.state == state)).await;
    match result {
        Ok(Ok(status)) => (status.clone(), started.elapsed()),
        _ => panic!(
            "camera {id} ({quality}) not {state} within {within:?}; status: {:?}",
            cameras.status(id)
        ),
    }
}
