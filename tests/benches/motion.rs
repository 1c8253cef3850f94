//! What motion detection costs (issue 19): CPU per camera of the hub's motion workers at
//! 640×360, 5 pictures a second, over N simulated cameras, against the same hub ingesting the
//! same cameras with motion off, in the same run; and the share of the cameras' frames that
//! were decoded. Figures, not a test.
//!
//! ```sh
//! cargo build --release --bin gridwatch
//! cargo bench -p gridwatch-tests --bench motion     # MOTION_BENCH_CAMERAS=4,8 MOTION_BENCH_SECONDS=20
//! ```
//!
//! The cameras are `gridwatch camsim` in its own process (640×360, 25 fps, a keyframe a
//! second, no sub stream, so the workers decode the main stream): its encoders' CPU is not
//! the hub's. For each N: the hub with N cameras online, motion off, for the window; then
//! motion on for every camera (whole picture), once the workers run, the same window again.
//! The difference is what motion detection costs.

#[path = "common/mod.rs"]
mod common;

use chrono::Utc;
use common::{camsim, cpu_time, free_port, start_hub};
use gridwatch_core::camera::NewCamera;
use gridwatch_core::motion::MotionSettings;
use gridwatch_store::{Store, StoreOptions};
use std::time::Duration;

/// Sums the series of a metric (`name{...} value` lines) whose labels contain `label`.
fn metric(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// CPU seconds the hub used over `window`.
async fn cpu_over(pid: u32, window: Duration) -> f64 {
    let before = cpu_time(pid);
    tokio::time::sleep(window).await;
    (cpu_time(pid) - before).as_secs_f64()
}

async fn run(n: usize, window: Duration) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sim = camsim(n, port)?;
    let url = format!("sqlite://{}", dir.path().join("gridwatch.db").display());
    let store = Store::open(&StoreOptions::new(url.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let mut ids = vec![];
    for i in 1..=n {
        let new: NewCamera = serde_json::from_value(serde_json::json!({
            "name": format!("cam{i}"),
            "rtsp_url": format!("rtsp://127.0.0.1:{port}/cam{i}"),
            "record": "off",
        }))
        .unwrap();
        ids.push(store.create_camera(new, Utc::now()).await.unwrap().id);
    }
    let (hub, base) = start_hub(dir.path(), &url, &[]).await?;
    let pid = hub.0.id();
    let online = format!("gridwatch_cameras{{state=\"online\"}} {n}");
    let mut waited = 0;
    while !scrape(&base).await.contains(&online) {
        waited += 1;
        if waited > 100 {
            return Err(format!("{n} cameras not online within 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let off = cpu_over(pid, window).await;

    let on = MotionSettings {
        enabled: true,
        ..MotionSettings::default()
    };
    for id in &ids {
        store
            .set_camera_motion(id, &on, Utc::now())
            .await
            .map_err(|e| e.to_string())?;
    }
    // The hub's check picks the settings up within 5 s; then a few seconds to settle.
    let analysed = "gridwatch_motion_pictures_analysed_total";
    let mut waited = 0;
    while metric(&scrape(&base).await, analysed, "") < (n * 5) as f64 {
        waited += 1;
        if waited > 100 {
            return Err("the motion workers did not start within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = scrape(&base).await;
    let motion = cpu_over(pid, window).await;
    let after = scrape(&base).await;
    drop(hub);
    store.close().await;

    let frames = |text: &str, outcome: &str| {
        metric(
            text,
            "gridwatch_motion_frames_total",
            &format!("outcome=\"{outcome}\""),
        )
    };
    let delta = |outcome: &str| frames(&after, outcome) - frames(&before, outcome);
    let offered: f64 = ["decoded", "disarmed", "disposable", "backlog"]
        .iter()
        .map(|o| delta(o))
        .sum();
    let pictures = metric(&after, analysed, "") - metric(&before, analysed, "");
    let minutes = window.as_secs_f64() / 60.0;
    let per_camera_minute = (motion - off).max(0.0) / n as f64 / minutes;
    println!(
        "{n} cameras, {:.0} s each: hub CPU motion off {:.2} s, on {:.2} s → motion \
         {per_camera_minute:.2} CPU-s per camera-minute = {:.0} cameras per core; \
         {:.1} pictures/s per camera analysed; frames decoded {:.0} of {:.0} offered ({:.0} %), \
         dropped for backlog {:.0}",
        window.as_secs_f64(),
        off,
        motion,
        60.0 / per_camera_minute.max(1e-9),
        pictures / n as f64 / window.as_secs_f64(),
        delta("decoded"),
        offered,
        100.0 * delta("decoded") / offered.max(1.0),
        delta("backlog"),
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    let cameras: Vec<usize> = std::env::var("MOTION_BENCH_CAMERAS")
        .unwrap_or_else(|_| "4,8".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let window = Duration::from_secs(common::env_usize("MOTION_BENCH_SECONDS", 20) as u64);
    println!(
        "motion detection cost (load {})",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    for n in cameras {
        if let Err(e) = run(n, window).await {
            println!("{n} cameras: {e}");
        }
    }
}
