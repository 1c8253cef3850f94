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
//! live_ws`).
//!
//! ```sh
//! cargo bench -p gridwatch-ingest --bench live_fanout            # M = 10 50 100 200
//! GRIDWATCH_BENCH_M="10 50" GRIDWATCH_BENCH_SECONDS=10 cargo bench -p gridwatch-ingest --bench live_fanout
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gridwatch_ingest::camsim::{CamSim, CamSimConfig, SimSource};
use gridwatch_ingest::{CameraConfig, Cameras, IngestConfig, LiveMessage, Quality, StreamState};

const FPS: u32 = 25;

fn main() {
    if let Ok(spec) = std::env::var("GRIDWATCH_BENCH_SIM") {
        run_simulator(&spec);
        return;
    }
    let ms: Vec<usize> = std::env::var("GRIDWATCH_BENCH_M")
        .unwrap_or_else(|_| "10 50 100 200".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let seconds: u64 = std::env::var("GRIDWATCH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let clip = make_clip();
    let ticks = clock_ticks();
    println!(
        "live_fanout: 1080p {FPS} fps ~4 Mbit/s clip, {seconds} s per measurement, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for m in ms {
        let mut sim = Simulator::start(&clip, m);
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

/// A 10 s 1080p clip, no B-frames, a keyframe a second, ~4 Mbit/s, Annex B.
fn make_clip() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let clip = dir.join("clip-1080p-4M.h264");
    if clip.exists() {
        return clip;
    }
    eprintln!("encoding the 1080p clip once ({})", clip.display());
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1920x1080:rate={FPS}"))
        .args(["-t", "10", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M"])
        .args(["-bf", "0", "-g", "25", "-pix_fmt", "yuv420p", "-f", "h264"])
        .arg(&clip)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg could not encode the clip");
    clip
}

/// The simulator child: serves `M` cameras from the clip until stdin closes.
fn run_simulator(spec: &str) {
    let (m, clip) = spec.split_once(':').expect("M:CLIP");
    let sim = CamSim::start(CamSimConfig {
        source: SimSource::H264File(PathBuf::from(clip)),
        cameras: m.parse().expect("M"),
        width: 1920,
        height: 1080,
        fps: FPS,
        ..CamSimConfig::default()
    })
    .expect("camsim starts");
    println!("{}", sim.bound_port());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(sim);
}

struct Simulator {
    child: Child,
    urls: Vec<String>,
}

impl Simulator {
    fn start(clip: &Path, m: usize) -> Simulator {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .env("GRIDWATCH_BENCH_SIM", format!("{m}:{}", clip.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("simulator starts");
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("simulator port");
        let port: u16 = port.trim().parse().expect("a port");
        let urls = (1..=m)
            .map(|n| format!("rtsp://127.0.0.1:{port}/cam{n}"))
            .collect();
        Simulator { child, urls }
    }

    fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User+system CPU seconds of a process.
fn cpu_seconds(pid: &str, ticks: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stime: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (utime + stime) / ticks
}

fn rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
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

struct FfmpegFigures {
    cpu_per_stream_minute: f64,
    rss_per_stream_mb: f64,
}

fn measure_ffmpeg(urls: &[String], seconds: u64, ticks: f64) -> FfmpegFigures {
    let mut children: Vec<Child> = urls
        .iter()
        .map(|u| {
            Command::new("ffmpeg")
                .args(["-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i"])
                .arg(u)
                .args(["-c", "copy", "-f", "mp4", "-movflags"])
                .arg("frag_keyframe+empty_moov")
                .args(["-y", "/dev/null"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ffmpeg starts")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    let cpu0: f64 = pids.iter().map(|p| cpu_seconds(p, ticks)).sum();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu: f64 = pids.iter().map(|p| cpu_seconds(p, ticks)).sum::<f64>() - cpu0;
    let elapsed = t0.elapsed().as_secs_f64();
    let rss: f64 = pids.iter().map(|p| rss_mb(p)).sum();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let m = urls.len() as f64;
    FfmpegFigures {
        cpu_per_stream_minute: cpu / m / (elapsed / 60.0),
        rss_per_stream_mb: rss / m,
    }
}
