//! The WebRTC path of `live_ws` (issue 14): the same cameras in a fresh hub (default wake
//! batch), one WHEP viewer per camera instead of a WebSocket viewer. Each viewer is
//! `gridwatch-client`'s `WhepViewer`, a real WebRTC peer (str0m) over loopback UDP, which
//! answers the hub's RTCP and reads every frame whole. Printed beside the WebSocket rows: the
//! hub's CPU per stream-minute and frames per second per viewer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwatch_client::whep::WhepViewer;
use serde_json::json;

use super::hub_child::Hub;
use super::support::{cpu_seconds, Simulator};

pub struct WebRtcFigures {
    pub cpu_per_stream_minute: f64,
    pub fps_per_viewer: f64,
    /// Viewers that connected (of one per camera).
    pub viewers: usize,
}

pub async fn measure(sim: &Simulator, seconds: u64, ticks: f64) -> WebRtcFigures {
    let dir = tempfile::tempdir().expect("temporary directory");
    let env = [
        ("GRIDWATCH_WEBRTC__CANDIDATES", "127.0.0.1".to_string()),
        ("GRIDWATCH_WEBRTC__MAX_SESSIONS", "10000".to_string()),
    ];
    let hub = Hub::start(dir.path(), &env);
    let ids = hub.add_cameras(&sim.urls, json!({})).await;
    let counts: Arc<Vec<AtomicU64>> = Arc::new(ids.iter().map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut viewer = None;
        for _ in 0..20 {
            match WhepViewer::connect(&hub.base, id, &hub.token).await {
                Ok(v) => {
                    viewer = Some(v);
                    break;
                }
                Err(e) => {
                    eprintln!("webrtc viewer of {id}: {e}; again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        let Some(mut viewer) = viewer else { continue };
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            while viewer.next_frame().await.is_some() {
                counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let viewers = tasks.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let total = |c: &[AtomicU64]| -> u64 { c.iter().map(|n| n.load(Ordering::Relaxed)).sum() };
    let cpu0 = cpu_seconds(&hub.pid, ticks);
    let f0 = total(&counts);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds(&hub.pid, ticks) - cpu0;
    let f1 = total(&counts);
    let elapsed = t0.elapsed().as_secs_f64();
    for t in &tasks {
        t.abort();
    }
    hub.stop();
    let streams = ids.len().max(1) as f64;
    WebRtcFigures {
        cpu_per_stream_minute: cpu / streams / (elapsed / 60.0),
        fps_per_viewer: (f1 - f0) as f64 / viewers.max(1) as f64 / elapsed,
        viewers,
    }
}
