//! Helpers for the tests against the camera simulator: the ingest's (`mod common;`) and the
//! hub's `hub/tests/cameras.rs` (`#[path = "../../ingest/tests/common/mod.rs"]`).

#![allow(dead_code)] // each test binary uses its own subset

pub mod media;

use std::time::{Duration, Instant};

use gridwatch_ingest::camsim::{AuthScheme, CamSim, CamSimConfig};
use gridwatch_ingest::{CameraConfig, Cameras, IngestConfig, Quality, StreamState, StreamStatus};

pub const FPS: u32 = 25;

/// Recording into `dir` in two-second segments of half-second fragments, synced twice a
/// second: several segments, and so several boundaries, in a few seconds of video.
pub fn recording_config(dir: &std::path::Path) -> gridwatch_ingest::recording::RecordingConfig {
    use gridwatch_ingest::recording::{RecordingConfig, SampleDirConfig};
    RecordingConfig {
        dirs: vec![SampleDirConfig {
            path: dir.to_path_buf(),
            min_free_bytes: 0,
        }],
        segment_duration: Duration::from_secs(2),
        fragment_duration: Duration::from_millis(500),
        sync_interval: Duration::from_millis(500),
        ..RecordingConfig::default()
    }
}

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

/// Cameras (with [`fast_config`]) watching the simulator's first camera as `c1`, once it is
/// online (within 5 s).
pub async fn one_camera_online(sim: &CamSim) -> Cameras {
    let cameras = Cameras::new(fast_config());
    cameras.apply([camera("c1", &sim.url(1))]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    cameras
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

/// Width and height from a JPEG's start-of-frame marker.
pub fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    while i + 9 < jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}
