//! Benchmark (not a test): M camera sessions with one viewer each, against one
//! `ffmpeg -c copy` process per camera doing the same repackaging.
//!
//! The simulator runs in a child process (this binary, re-executed) and serves a
//! pre-encoded 1080p clip in a loop, encoding nothing, so that the CPU measured here is the
//! ingest's alone: retina sessions, fMP4 packaging, GOP cache and fan-out to one viewer per
//! camera (the viewer drains its queue; no WebSocket). Then the same cameras are pulled by
//! one `ffmpeg -rtsp_transport tcp -i URL -c copy -f mp4 -movflags frag_keyframe+empty_moov`
//! per camera, writing to /dev/null, and their CPU is read from /proc.
//!
//! The whole hub with a real WebSocket viewer per camera, and the delay from a frame's arrival
//! to its WebSocket send, is `hub/benches/live_ws.rs` (`cargo bench -p gridwatch-hub --bench
//! live_ws`). What the two share (the clip, the simulator child, CPU and RSS from /proc,
//! percentiles, the ffmpeg measurement) is in `benches/support/mod.rs`.
//!
//! ```sh
//! cargo bench -p gridwatch-ingest --bench live_fanout            # M = 10 50 100 200
//! GRIDWATCH_BENCH_M="10 50" GRIDWATCH_BENCH_SECONDS=10 cargo bench -p gridwatch-ingest --bench live_fanout
//! ```

mod support;

use std::time::{Duration, Instant};

use gridwatch_ingest::{CameraConfig, Cameras, IngestConfig, LiveMessage, Quality, StreamState};
use support::{cpu_seconds, measure_ffmpeg, percentile, rss_mb, Simulator, FPS};

fn main() {
    if support::simulator_child() {
        return;
    }
    let settings = support::settings();
    let (seconds, ticks, cores) = (settings.seconds, settings.ticks, settings.cores);
    println!(
        "live_fanout: 1080p {FPS} fps ~4 Mbit/s clip, {seconds} s per measurement, {cores} cores"
    );
    println!(
        "{:>5} | {:>14} {:>12} {:>9} {:>9} {:>10} | {:>14} {:>12} | {:>7}",
        "M",
        "hub CPU s/min",
        "hub RSS/str",
        "TTFF p50",
        "TTFF p99",
        "fps/str",
        "ffmpeg s/min",
        "ffmpeg RSS",
        "ratio"
    );
    let runtime = support::runtime();
    for &m in &settings.ms {
        let mut sim = Simulator::start(&settings.clip, m);
        let hub = runtime.block_on(measure_hub(&sim.urls, seconds, ticks));
        let ff = measure_ffmpeg(&sim.urls, seconds, ticks);
        sim.stop();
        let ratio = ff.cpu_per_stream_minute / hub.cpu_per_stream_minute.max(1e-9);
        println!(
            "{:>5} | {:>14.3} {:>9.1} MB {:>7.2}ms {:>7.2}ms {:>10.1} | {:>14.3} {:>9.1} MB | {:>6.1}x",
            m,
            hub.cpu_per_stream_minute,
            hub.rss_per_stream_mb,
            hub.ttff_p50_ms,
            hub.ttff_p99_ms,
            hub.fps_per_stream,
            ff.cpu_per_stream_minute,
            ff.rss_per_stream_mb,
            ratio
        );
        println!(
            "      hub total CPU {:.0}% of one core for {m} streams; ffmpeg total {:.0}%; \
             frame arrival to in-process viewer p50 {:.3} ms, p99 {:.3} ms \
             (WebSocket figures: hub/benches/live_ws.rs)",
            hub.cpu_per_stream_minute * m as f64 / 60.0 * 100.0,
            ff.cpu_per_stream_minute * m as f64 / 60.0 * 100.0,
            hub.delay_p50_ms,
            hub.delay_p99_ms
        );
    }
}

struct HubFigures {
    cpu_per_stream_minute: f64,
    rss_per_stream_mb: f64,
    ttff_p50_ms: f64,
    ttff_p99_ms: f64,
    fps_per_stream: f64,
    delay_p50_ms: f64,
    delay_p99_ms: f64,
}

async fn measure_hub(urls: &[String], seconds: u64, ticks: f64) -> HubFigures {
    let rss_before = rss_mb("self");
    let cameras = Cameras::new(IngestConfig::default());
    cameras.apply(
        urls.iter()
            .enumerate()
            .map(|(i, u)| CameraConfig::new(format!("c{i}"), u.parse().expect("url"))),
    );
    // Everyone online (or a deadline).
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let online = cameras
            .statuses()
            .iter()
            .filter(|s| s.state() == StreamState::Online)
            .count();
        if online == urls.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let delays = std::sync::Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let mut tasks = Vec::new();
    for id in cameras.ids() {
        let mut viewer = cameras.subscribe(&id, Quality::Main).expect("viewer");
        let frames = frames.clone();
        let (sampling, delays) = (sampling.clone(), delays.clone());
        tasks.push(tokio::spawn(async move {
            let mut bytes = 0usize;
            while let Some(msg) = viewer.recv().await {
                match msg {
                    LiveMessage::Media(b) => {
                        bytes += b.len();
                        frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if sampling.load(std::sync::atomic::Ordering::Relaxed) {
                            // From the frame's arrival from retina to this in-process viewer.
                            if let Some(at) = viewer.arrived() {
                                if let Ok(mut v) = delays.lock() {
                                    v.push(at.elapsed().as_secs_f64() * 1000.0);
                                }
                            }
                        }
                    }
                    LiveMessage::Init { segment, .. } => bytes += segment.len(),
                }
            }
            bytes
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu0 = cpu_seconds("self", ticks);
    let f0 = frames.load(std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds("self", ticks) - cpu0;
    let elapsed = t0.elapsed().as_secs_f64();
    let f = frames.load(std::sync::atomic::Ordering::Relaxed) - f0;
    let rss = rss_mb("self") - rss_before;
    // Frame arrival to the viewer, sampled apart from the CPU window.
    sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut delays = delays.lock().map(|v| v.clone()).unwrap_or_default();
    delays.sort_by(f64::total_cmp);
    // Time to first frame for a new viewer of each camera.
    let mut ttff = Vec::new();
    for id in cameras.ids() {
        let started = Instant::now();
        let mut v = cameras.subscribe(&id, Quality::Main).expect("viewer");
        loop {
            match tokio::time::timeout(Duration::from_secs(3), v.recv()).await {
                Ok(Some(LiveMessage::Media(_))) => {
                    ttff.push(started.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                Ok(Some(LiveMessage::Init { .. })) => {}
                _ => break,
            }
        }
    }
    ttff.sort_by(f64::total_cmp);
    let m = urls.len() as f64;
    cameras.clear();
    for t in tasks {
        let _ = t.await;
    }
    HubFigures {
        cpu_per_stream_minute: cpu / m / (elapsed / 60.0),
        rss_per_stream_mb: rss / m,
        ttff_p50_ms: percentile(&ttff, 0.5),
        ttff_p99_ms: percentile(&ttff, 0.99),
        fps_per_stream: f as f64 / m / elapsed,
        delay_p50_ms: percentile(&delays, 0.5),
        delay_p99_ms: percentile(&delays, 0.99),
    }
}
