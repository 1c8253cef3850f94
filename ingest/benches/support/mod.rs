//! What the two live-video benchmarks share: `ingest/benches/live_fanout.rs` (the ingest alone,
//! `mod support;`) and `hub/benches/live_ws.rs` (the whole hub with WebSocket viewers,
//! `#[path = "../../ingest/benches/support/mod.rs"] mod support;`).
//!
//! Their settings from the environment and the runtime they measure from; the pre-encoded
//! 1080p clip; the camera simulator in a child process (the bench binary re-executed); CPU and
//! RSS of a process from `/proc`; percentiles; and the baseline they compare with, one
//! `ffmpeg -c copy` process per camera. Everything here is used by both, so that neither warns
//! of dead code: a helper only one of them needs belongs in that bench.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gridwatch_ingest::camsim::{CamSim, CamSimConfig, SimSource};

/// Frames per second of the clip and the simulated cameras.
pub const FPS: u32 = 25;

/// The variable that makes this binary the simulator child, set to `M:CLIP`.
const SIMULATOR: &str = "GRIDWATCH_BENCH_SIM";

/// In the simulator child (`GRIDWATCH_BENCH_SIM` set, to `M:CLIP`): serves the cameras until
/// stdin closes, then returns true; elsewhere returns false at once.
pub fn simulator_child() -> bool {
    let Ok(spec) = std::env::var(SIMULATOR) else {
        return false;
    };
    run_simulator(&spec);
    true
}

/// What a run measures with.
pub struct Settings {
    /// How many cameras, one measurement each: `GRIDWATCH_BENCH_M` (by default
    /// `10 50 100 200`).
    pub ms: Vec<usize>,
    /// How long each measurement lasts: `GRIDWATCH_BENCH_SECONDS` (by default 15).
    pub seconds: u64,
    /// The clip the simulator serves ([`make_clip`]).
    pub clip: PathBuf,
    /// Clock ticks per second ([`clock_ticks`]).
    pub ticks: f64,
    /// The machine's cores, for the heading.
    pub cores: usize,
}

/// The settings from the environment, the clip (encoded first if need be) and the clock.
pub fn settings() -> Settings {
    Settings {
        ms: stream_counts(),
        seconds: seconds(),
        clip: make_clip(),
        ticks: clock_ticks(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

fn stream_counts() -> Vec<usize> {
    std::env::var("GRIDWATCH_BENCH_M")
        .unwrap_or_else(|_| "10 50 100 200".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn seconds() -> u64 {
    std::env::var("GRIDWATCH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15)
}

/// The runtime the measuring side runs on: two worker threads.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A 10 s 1080p clip, no B-frames, a keyframe a second, ~4 Mbit/s, Annex B; encoded once into
/// the target's temporary directory, which both benches share.
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

/// Blocks until the parent closes our stdin (or goes away).
pub fn wait_for_stdin_close() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
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
    wait_for_stdin_close();
    drop(sim);
}

/// A child process of this binary (`var` = `value`, and `env`) that prints one line when ready
/// and stops when its stdin closes; the child and that line, trimmed.
pub fn spawn_self(var: &str, value: &str, env: &[(&str, String)]) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .env(var, value)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("child's first line");
    (child, line.trim().to_string())
}

/// Closes the child's stdin and waits for it to stop.
pub fn stop_child(child: &mut Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

/// The simulator child and the RTSP URLs of its cameras.
pub struct Simulator {
    child: Child,
    pub urls: Vec<String>,
}

impl Simulator {
    pub fn start(clip: &Path, m: usize) -> Simulator {
        let (child, port) = spawn_self(SIMULATOR, &format!("{m}:{}", clip.display()), &[]);
        let port: u16 = port.parse().expect("a port");
        let urls = (1..=m)
            .map(|n| format!("rtsp://127.0.0.1:{port}/cam{n}"))
            .collect();
        Simulator { child, urls }
    }

    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// Its process id, for [`cpu_seconds`].
    #[allow(dead_code)] // used by live_ws only
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

/// Clock ticks per second, the unit of the CPU times in `/proc/PID/stat`.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User+system CPU seconds of a process (all its threads); `pid` may be `self`.
pub fn cpu_seconds(pid: &str, ticks: f64) -> f64 {
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

/// Resident memory of a process in MB (`VmRSS`); `pid` may be `self`.
pub fn rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The `p` quantile (0 to 1) of sorted values, the nearest rank; NaN for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What the `ffmpeg -c copy` processes cost, per stream. The hub's recording benchmark reads
/// the last three fields; the others that share this file do not.
#[allow(dead_code)]
pub struct FfmpegFigures {
    pub cpu_per_stream_minute: f64,
    pub rss_per_stream_mb: f64,
    /// Bytes the processes wrote over the window (`wchar` of `/proc/PID/io`): what they
    /// kept up with, so that their CPU can be compared per byte as well as per minute.
    pub bytes_written: f64,
    /// CPU seconds over the window, all processes.
    pub cpu_seconds: f64,
    /// The window's length.
    pub seconds: f64,
}

/// One `ffmpeg -rtsp_transport tcp -i URL -c copy -f mp4 -movflags frag_keyframe+empty_moov`
/// per camera, writing to /dev/null: their CPU over `seconds` (after 3 s to settle) and their
/// RSS at the end, read from `/proc`.
pub fn measure_ffmpeg(urls: &[String], seconds: u64, ticks: f64) -> FfmpegFigures {
    measure_ffmpeg_writing(urls, seconds, ticks, |_| {
        [
            "-f",
            "mp4",
            "-movflags",
            "frag_keyframe+empty_moov",
            "-y",
            "/dev/null",
        ]
        .map(String::from)
        .to_vec()
    })
}

/// One `ffmpeg -rtsp_transport tcp -i URL -c copy OUTPUT…` per camera, `output(n)` the
/// arguments after `-c copy` for the n-th: their CPU over `seconds` (after 3 s to settle) and
/// their RSS at the end, read from `/proc`.
pub fn measure_ffmpeg_writing(
    urls: &[String],
    seconds: u64,
    ticks: f64,
    output: impl Fn(usize) -> Vec<String>,
) -> FfmpegFigures {
    let mut children: Vec<Child> = urls
        .iter()
        .enumerate()
        .map(|(n, u)| {
            Command::new("ffmpeg")
                .args(["-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i"])
                .arg(u)
                .args(["-c", "copy"])
                .args(output(n))
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
    let written0: f64 = pids.iter().map(|p| proc_io(p, "wchar")).sum();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu: f64 = pids.iter().map(|p| cpu_seconds(p, ticks)).sum::<f64>() - cpu0;
    let written: f64 = pids.iter().map(|p| proc_io(p, "wchar")).sum::<f64>() - written0;
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
        bytes_written: written,
        cpu_seconds: cpu,
        seconds: elapsed,
    }
}

/// A count from `/proc/PID/io`: `wchar` (bytes passed to `write` and its kin),
/// `write_bytes` (bytes it caused to be written to storage), …; 0 when unreadable.
pub fn proc_io(pid: &str, field: &str) -> f64 {
    let Ok(io) = std::fs::read_to_string(format!("/proc/{pid}/io")) else {
        return 0.0;
    };
    io.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| *name == field)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0.0)
}
