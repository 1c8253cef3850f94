//! The WebRTC path of `live_ws` (issue 14): the same cameras in a fresh hub (default wake
//! batch), one WHEP viewer per camera instead of a WebSocket viewer. Each viewer is
//! `gridwatch-client`'s `WhepViewer`, a real WebRTC peer (str0m) over loopback UDP, which
//! answers the hub's RTCP and reads every frame whole. Printed beside the WebSocket rows: the
//! hub's CPU per stream-minute and frames per second per viewer. The same window measures
//! Janus (`live_ws/janus.rs`) with the same peers.

use std::future::Future;
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

/// A WebRTC viewer whose frames are counted.
pub trait Viewer: Send + 'static {
    /// Waits for the next frame; false once the connection is over.
    fn frame(&mut self) -> impl Future<Output = bool> + Send;
}

impl Viewer for WhepViewer {
    async fn frame(&mut self) -> bool {
        self.next_frame().await.is_some()
    }
}

pub async fn measure(sim: &Simulator, seconds: u64, ticks: f64) -> WebRtcFigures {
    let dir = tempfile::tempdir().expect("temporary directory");
    let env = [
        ("GRIDWATCH_WEBRTC__CANDIDATES", "127.0.0.1".to_string()),
        ("GRIDWATCH_WEBRTC__MAX_SESSIONS", "10000".to_string()),
    ];
    let hub = Hub::start(dir.path(), &env);
    let ids = hub.add_cameras(&sim.urls, json!({})).await;
    let mut viewers = Vec::new();
    for id in &ids {
        for _ in 0..20 {
            match WhepViewer::connect(&hub.base, id, &hub.token).await {
                Ok(v) => {
                    viewers.push(v);
                    break;
                }
                Err(e) => {
                    eprintln!("webrtc viewer of {id}: {e}; again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
    let figures = window(&hub.pid, ids.len(), viewers, seconds, ticks).await;
    hub.stop();
    figures
}

/// Reads every viewer's frames; after 3 s to settle, the CPU of the process `pid` and the
/// frames received over `seconds`, per stream of `streams`.
pub async fn window<V: Viewer>(
    pid: &str,
    streams: usize,
    viewers: Vec<V>,
    seconds: u64,
    ticks: f64,
) -> WebRtcFigures {
    let connected = viewers.len();
    let frames = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = viewers
        .into_iter()
        .map(|mut viewer| {
            let frames = frames.clone();
            tokio::spawn(async move {
                while viewer.frame().await {
                    frames.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu0 = cpu_seconds(pid, ticks);
    let f0 = frames.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds(pid, ticks) - cpu0;
    let f1 = frames.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    for t in &tasks {
        t.abort();
    }
    WebRtcFigures {
        cpu_per_stream_minute: cpu / streams.max(1) as f64 / (elapsed / 60.0),
        fps_per_viewer: (f1 - f0) as f64 / connected.max(1) as f64 / elapsed,
        viewers: connected,
    }
}
