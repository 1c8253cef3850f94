//! Benchmark (not a test): what recording costs the running hub for M cameras, against one
//! `ffmpeg -c copy -f segment` per camera, and how fast its recordings come back (issue 13).
//!
//! Three processes, as in `live_ws`: the simulator child serves M cameras from a pre-encoded
//! 1080p, 25 fps H.264 clip in a loop (`SimSource::H264File`, made with ffmpeg once if absent:
//! the simulator encodes nothing); the hub child (`hub_child`) runs what `gridwatch serve` runs
//! on a fresh SQLite store, with `[recording] dirs` set to one directory on this machine's
//! disk (the defaults: 60 s segments, 1 s fragments, a sync every 5 s); this process measures.
//! Per M, in one run, with the same cameras:
//!
//! 1. **off**: the cameras are registered with `record = "off"` (their live sessions run, the
//!    recorder is open but records nothing); the hub's CPU over `GRIDWATCH_BENCH_SECONDS`;
//! 2. **on**: every camera is switched to `continuous` through the API (no reconnection) and
//!    records for `GRIDWATCH_BENCH_RECORD_SECONDS` (default 95, so that a 90 s clip exists);
//!    the hub's CPU over that time, and from its `/metrics` the bytes the recorder wrote, the
//!    frames' own bytes among them (the video received) and its fsyncs; the hub process's
//!    `write_bytes` from `/proc/PID/io` (everything it caused to be written, the SQLite index
//!    included) as a cross-check;
//! 3. **playback**: for up to 10 cameras each, the time from opening the WebSocket
//!    `live?from=` to its first media segment, from 10 s after recording began (a finished
//!    segment) and from 10 s ago (the segment still being written);
//! 4. **clip**: three cameras are switched off (their open segments finish; the others go on
//!    recording), then `GET …/recordings.mp4` of 90 s of each: time to the headers and to the
//!    last byte, size, and ffprobe's duration of the first;
//! 5. **the hash's floor**: the SHA-256 the index requires of every segment, timed alone in
//!    this process (the recorder's crate, on this CPU) over 256 MiB and multiplied by the
//!    bytes the recorder wrote per stream-minute: CPU that no recorder keeping that index
//!    can avoid, printed against the same run's recording-off figure;
//! 6. **ffmpeg**: the hub stopped, one `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment
//!    -segment_time 60` per camera writing MP4 segments to the same disk; their CPU over
//!    `GRIDWATCH_BENCH_SECONDS`.
//!
//! Steps 1–4 run twice per M, each time with a fresh hub and directory: the segment files
//! written through the page cache (the default), then around it (`[recording] direct_io`,
//! `O_DIRECT`), each against its own recording-off window. `GRIDWATCH_BENCH_WRITES=cache` or
//! `direct` runs one of them only.
//!
//! ```sh
//! cargo bench -p gridwatch-hub --bench recording                        # M = 50 200
//! GRIDWATCH_BENCH_M=50 GRIDWATCH_BENCH_SECONDS=20 cargo bench -p gridwatch-hub --bench recording
//! ```
//!
//! With the defaults (M = 50 and 200, 15 s windows, 95 s of recording) one run takes about
//! six minutes, most of it the recording that the 90 s clip needs.

// Shared with live_ws, which uses the rest of it (RSS, the plain ffmpeg baseline).
#[allow(dead_code)]
#[path = "../../ingest/benches/support/mod.rs"]
mod support;

mod hub_child;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use hub_child::Hub;
use serde_json::{json, Value};
use support::{
    cpu_seconds, measure_ffmpeg_writing, percentile, proc_io, FfmpegFigures, Simulator, FPS,
};
use tokio_tungstenite::tungstenite::Message;

/// Length of the clip built, seconds.
const CLIP_SECONDS: i64 = 90;

/// Cameras whose playback is timed, per kind.
const PLAYBACK_CAMERAS: usize = 10;

/// Cameras a clip is built of.
const CLIP_CAMERAS: usize = 3;

fn main() {
    if support::simulator_child() || hub_child::hub_child() {
        return;
    }
    let settings = support::settings();
    let ms = if std::env::var_os("GRIDWATCH_BENCH_M").is_some() {
        settings.ms.clone()
    } else {
        vec![50, 200]
    };
    let record_seconds = record_seconds();
    let (seconds, ticks, cores) = (settings.seconds, settings.ticks, settings.cores);
    println!(
        "recording: hub process, 1080p {FPS} fps clip of {:.1} Mbit/s ({}), {cores} cores; \
         off and ffmpeg windows {seconds} s, recording {record_seconds} s; load {}",
        clip_mbit_per_s(&settings.clip),
        settings.clip.display(),
        load()
    );
    let runtime = support::runtime();
    for &m in &ms {
        let mut sim = Simulator::start(&settings.clip, m);
        let dir = tempfile::Builder::new()
            .prefix("recording-bench")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a directory on the disk");
        let hubs: Vec<(Writes, HubFigures)> = writes()
            .into_iter()
            .map(|w| {
                let figures = runtime.block_on(measure_hub(
                    &sim,
                    &dir.path().join(w.name()),
                    (seconds, record_seconds, ticks),
                    w,
                ));
                (w, figures)
            })
            .collect();
        let ffmpeg_dir = dir.path().join("ffmpeg");
        std::fs::create_dir_all(&ffmpeg_dir).expect("ffmpeg's directory");
        let ff = measure_ffmpeg_writing(&sim.urls, seconds, ticks, |n| {
            let pattern = ffmpeg_dir.join(format!("cam{n}-%03d.mp4"));
            vec![
                "-f".into(),
                "segment".into(),
                "-segment_time".into(),
                "60".into(),
                "-reset_timestamps".into(),
                "1".into(),
                pattern.display().to_string(),
            ]
        });
        sim.stop();
        let sha_per_gb = sha256_seconds_per_gb();
        for (w, hub) in &hubs {
            report(m, *w, hub, &ff, cores, sha_per_gb);
        }
    }
}

/// How the recorder writes its segment files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    /// Through the page cache, dropped once synced (the default).
    Cache,
    /// Around it (`[recording] direct_io`).
    Direct,
}

impl Writes {
    fn name(self) -> &'static str {
        match self {
            Writes::Cache => "cache",
            Writes::Direct => "direct",
        }
    }
}

/// `GRIDWATCH_BENCH_WRITES`: `cache`, `direct`, or both (the default), in that order.
fn writes() -> Vec<Writes> {
    match std::env::var("GRIDWATCH_BENCH_WRITES").as_deref() {
        Ok("cache") => vec![Writes::Cache],
        Ok("direct") => vec![Writes::Direct],
        _ => vec![Writes::Cache, Writes::Direct],
    }
}

/// `GRIDWATCH_BENCH_RECORD_SECONDS`: how long every camera records (at least the clip's
/// length and a little).
fn record_seconds() -> u64 {
    std::env::var("GRIDWATCH_BENCH_RECORD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(95)
        .max(CLIP_SECONDS as u64 + 3)
}

/// The clip's bitrate, from its size at [`FPS`] (a 10 s clip, see `support`).
fn clip_mbit_per_s(clip: &Path) -> f64 {
    let bytes = std::fs::metadata(clip).map_or(0, |m| m.len());
    let frames = std::fs::read(clip)
        .map(|b| count_access_units(&b))
        .unwrap_or(0)
        .max(1);
    bytes as f64 * 8.0 / (frames as f64 / f64::from(FPS)) / 1e6
}

/// Frames in an Annex B H.264 stream: slices that start a picture (`first_mb_in_slice` 0,
/// the first bit after the NAL header set).
fn count_access_units(b: &[u8]) -> usize {
    b.windows(5)
        .filter(|w| w[..3] == [0, 0, 1] && matches!(w[3] & 0x1f, 1 | 5) && w[4] & 0x80 != 0)
        .count()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct HubFigures {
    cpu_off: f64,
    cpu_on: f64,
    /// Cores the hub used, off and on.
    cores_off: f64,
    cores_on: f64,
    written_per_received: f64,
    disk_per_received: f64,
    received_mbit_per_s: f64,
    /// CPU seconds per GB the recorder wrote, while recording.
    cpu_per_gb: f64,
    fsyncs_per_minute: f64,
    /// Segments finished per stream-minute: about one, more when sessions or frames were
    /// interrupted (each gap ends a segment and costs its syncs).
    segments_per_stream_minute: f64,
    /// Frames received but not recorded while recording (all reasons; of those, for a full
    /// queue: the disk or the writer fell behind).
    not_recorded: (f64, f64),
    /// Frames the ingest dropped as damaged (lost packets), recording off and on.
    damaged: (f64, f64),
    /// Time to first frame, ms: from a finished segment, from the open one.
    ttff_finished: Vec<f64>,
    ttff_open: Vec<f64>,
    /// Playbacks that found nothing (404) or no frame in 5 s.
    ttff_failed: (usize, usize),
    clips: Vec<ClipFigures>,
}

struct ClipFigures {
    headers_ms: f64,
    total_ms: f64,
    bytes: u64,
    /// ffprobe's duration, for the first.
    probed: Option<f64>,
    /// For the first: what the timeline says of the range (recorded seconds, spans, gaps), so
    /// that a clip shorter than asked is explained.
    timeline: Option<String>,
}

fn report(
    m: usize,
    writes: Writes,
    hub: &HubFigures,
    ff: &FfmpegFigures,
    cores: usize,
    sha_per_gb: f64,
) {
    let ffmpeg = ff.cpu_per_stream_minute;
    let added = (hub.cpu_on / hub.cpu_off.max(1e-9) - 1.0) * 100.0;
    // Bytes the recorder wrote (and so hashed) per stream-minute.
    let written_per_stream_minute =
        hub.received_mbit_per_s * hub.written_per_received / 8.0 * 1e6 * 60.0 / m as f64;
    let hash_floor = sha_per_gb * written_per_stream_minute / 1e9;
    let how = match writes {
        Writes::Cache => "segments written through the page cache (the default)",
        Writes::Direct => "segments written around the page cache (direct_io = true)",
    };
    println!("\nM = {m}, {how}");
    println!(
        "  hub CPU per stream-minute: recording off {:.3} s, on {:.3} s (+{:.0} %); \
         ffmpeg -f segment {:.3} s = {:.1}x the hub recording (its whole process), \
         {:.1}x what recording adds to it ({:.3} s)",
        hub.cpu_off,
        hub.cpu_on,
        added,
        ffmpeg,
        ffmpeg / hub.cpu_on.max(1e-9),
        ffmpeg / (hub.cpu_on - hub.cpu_off).max(1e-9),
        hub.cpu_on - hub.cpu_off
    );
    println!(
        "  SHA-256 of every segment (the index's), alone: {:.3} s per stream-minute at {:.2} GB/s \
         = +{:.0} % of recording off by itself, {:.0} % of what recording adds; the rest of \
         recording +{:.0} %",
        hash_floor,
        1.0 / sha_per_gb.max(1e-9),
        hash_floor / hub.cpu_off.max(1e-9) * 100.0,
        hash_floor / (hub.cpu_on - hub.cpu_off).max(1e-9) * 100.0,
        (hub.cpu_on - hub.cpu_off - hash_floor) / hub.cpu_off.max(1e-9) * 100.0
    );
    println!(
        "  whole processes: hub {:.0} % -> {:.0} % of one core; ffmpeg {:.0} % ({} cores here)",
        hub.cores_off * 100.0,
        hub.cores_on * 100.0,
        ffmpeg * m as f64 / 60.0 * 100.0,
        cores
    );
    println!(
        "  video received {:.0} Mbit/s; written per byte received: recorder {:.4}, \
         whole hub process (/proc io, index included) {:.4}",
        hub.received_mbit_per_s, hub.written_per_received, hub.disk_per_received
    );
    // Per minute, a process that falls behind looks cheap: per byte written it does not.
    let ffmpeg_per_gb = ff.cpu_seconds / (ff.bytes_written / 1e9).max(1e-9);
    println!(
        "  CPU per GB written: hub recording {:.2} s, ffmpeg -f segment {:.2} s = {:.1}x; \
         ffmpeg wrote {:.0} Mbit/s, the hub {:.0} Mbit/s",
        hub.cpu_per_gb,
        ffmpeg_per_gb,
        ffmpeg_per_gb / hub.cpu_per_gb.max(1e-9),
        ff.bytes_written * 8.0 / 1e6 / ff.seconds,
        hub.received_mbit_per_s * hub.written_per_received
    );
    println!(
        "  fsyncs: {:.0} per minute ({:.1} per stream-minute; plus one index row per segment); \
         segments finished {:.2} per stream-minute",
        hub.fsyncs_per_minute,
        hub.fsyncs_per_minute / m as f64,
        hub.segments_per_stream_minute
    );
    println!(
        "  frames not recorded while recording {:.0} (queue full {:.0}); frames dropped as \
         damaged by the ingest: {:.0} while off, {:.0} while on",
        hub.not_recorded.0, hub.not_recorded.1, hub.damaged.0, hub.damaged.1
    );
    let p = |v: &[f64]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            format!(
                "p50 {:.0} ms, max {:.0} ms (n={})",
                percentile(v, 0.5),
                v.last().copied().unwrap_or(f64::NAN),
                v.len()
            )
        }
    };
    println!(
        "  playback request -> first frame: finished segment {}; segment being written {}; \
         failed {} / {}",
        p(&hub.ttff_finished),
        p(&hub.ttff_open),
        hub.ttff_failed.0,
        hub.ttff_failed.1
    );
    for (n, c) in hub.clips.iter().enumerate() {
        println!(
            "  clip {} of {CLIP_SECONDS} s: headers {:.0} ms, whole {:.0} ms, {:.1} MB{}{}",
            n + 1,
            c.headers_ms,
            c.total_ms,
            c.bytes as f64 / 1e6,
            c.probed
                .map_or(String::new(), |d| format!(", ffprobe: {d:.2} s")),
            c.timeline
                .as_ref()
                .map_or(String::new(), |t| format!("; timeline: {t}"))
        )
    }
}

/// CPU seconds per GB that SHA-256 (the recorder's crate) takes on this machine: the CPU time
/// of this thread while it hashes 256 MiB in 64 KiB pieces, as the recorder hashes each
/// fragment it writes. Thread CPU time, not the clock: the simulator shares the cores.
fn sha256_seconds_per_gb() -> f64 {
    use sha2::{Digest, Sha256};
    const TOTAL: usize = 256 << 20;
    let piece: Vec<u8> = (0..64u32 << 10)
        .map(|i| i.wrapping_mul(2_654_435_761) as u8)
        .collect();
    let thread_cpu = || {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    };
    let mut hasher = Sha256::new();
    let start = thread_cpu();
    for _ in 0..TOTAL / piece.len() {
        hasher.update(&piece);
    }
    let digest = hasher.finalize();
    let seconds = thread_cpu() - start;
    std::hint::black_box(digest);
    seconds / (TOTAL as f64 / 1e9)
}

/// A counter's value summed over its labels, from `/metrics` text.
fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Io {
    cpu: f64,
    written: f64,
    media: f64,
    fsyncs: f64,
    disk: f64,
    segments: f64,
    not_recorded: f64,
    queue_full: f64,
    damaged: f64,
    at: Instant,
}

async fn io(hub: &Hub, ticks: f64) -> Io {
    let text = hub.metrics().await;
    Io {
        cpu: cpu_seconds(&hub.pid, ticks),
        written: counter(&text, "gridwatch_recording_written_bytes_total"),
        media: counter(&text, "gridwatch_recording_media_bytes_total"),
        fsyncs: counter(&text, "gridwatch_recording_fsyncs_total"),
        disk: proc_io(&hub.pid, "write_bytes"),
        segments: counter(&text, "gridwatch_recording_segments_finished_total"),
        not_recorded: counter(&text, "gridwatch_recording_frames_dropped_total"),
        queue_full: text
            .lines()
            .filter(|l| {
                l.starts_with("gridwatch_recording_frames_dropped_total{")
                    && l.contains("reason=\"queue_full\"")
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum(),
        damaged: counter(&text, "gridwatch_camera_frames_dropped_total"),
        at: Instant::now(),
    }
}

async fn set_record(hub: &Hub, ids: &[String], mode: &str) {
    for id in ids {
        hub.call(
            reqwest::Method::PATCH,
            &format!("/api/v1/cameras/{id}"),
            Some(json!({ "record": mode })),
        )
        .await;
    }
}

async fn measure_hub(
    sim: &Simulator,
    dir: &Path,
    (seconds, record_seconds, ticks): (u64, u64, f64),
    writes: Writes,
) -> HubFigures {
    let samples = dir.join("samples");
    let data = dir.join("hub");
    std::fs::create_dir_all(&data).expect("hub's directory");
    let env = [
        ("GRIDWATCH_RECORDING__DIRS", samples.display().to_string()),
        (
            "GRIDWATCH_RECORDING__DIRECT_IO",
            (writes == Writes::Direct).to_string(),
        ),
    ];
    let hub = Hub::start(&data, &env);
    let ids = hub.add_cameras(&sim.urls, json!({"record": "off"})).await;
    let m = ids.len() as f64;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let off0 = io(&hub, ticks).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let off1 = io(&hub, ticks).await;
    let off_secs = off1.at.duration_since(off0.at).as_secs_f64();

    let began = Utc::now();
    set_record(&hub, &ids, "continuous").await;
    // The first segments start at each camera's next keyframe.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let on0 = io(&hub, ticks).await;
    let until = began + chrono::Duration::seconds(record_seconds as i64);
    let left = (until - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left).await;
    let on1 = io(&hub, ticks).await;
    let on_secs = on1.at.duration_since(on0.at).as_secs_f64();
    let media = (on1.media - on0.media).max(1.0);

    // Playback, while every camera records.
    let mut ttff_finished = Vec::new();
    let mut ttff_open = Vec::new();
    let mut failed = (0, 0);
    let timed: Vec<&String> = ids.iter().take(PLAYBACK_CAMERAS).collect();
    for id in &timed {
        match first_frame(&hub, id, began + chrono::Duration::seconds(10)).await {
            Some(ms) => ttff_finished.push(ms),
            None => failed.0 += 1,
        }
        match first_frame(&hub, id, Utc::now() - chrono::Duration::seconds(10)).await {
            Some(ms) => ttff_open.push(ms),
            None => failed.1 += 1,
        }
    }
    ttff_finished.sort_by(f64::total_cmp);
    ttff_open.sort_by(f64::total_cmp);

    // Clips of cameras that stopped recording (their last segments finished), while the rest
    // go on recording.
    let clipped: Vec<String> = ids.iter().rev().take(CLIP_CAMERAS).cloned().collect();
    set_record(&hub, &clipped, "off").await;
    let from = began + chrono::Duration::seconds(2);
    let to = from + chrono::Duration::seconds(CLIP_SECONDS);
    let mut clips = Vec::new();
    for (n, id) in clipped.iter().enumerate() {
        wait_recorded(&hub, id, to).await;
        let out = (n == 0).then(|| dir.join("clip.mp4"));
        clips.push(clip(&hub, id, from, to, out.as_deref()).await);
    }
    hub.stop();
    HubFigures {
        cpu_off: (off1.cpu - off0.cpu) / m / (off_secs / 60.0),
        cpu_on: (on1.cpu - on0.cpu) / m / (on_secs / 60.0),
        cores_off: (off1.cpu - off0.cpu) / off_secs,
        cores_on: (on1.cpu - on0.cpu) / on_secs,
        written_per_received: (on1.written - on0.written) / media,
        disk_per_received: (on1.disk - on0.disk) / media,
        received_mbit_per_s: media * 8.0 / on_secs / 1e6,
        cpu_per_gb: (on1.cpu - on0.cpu) / ((on1.written - on0.written) / 1e9).max(1e-9),
        fsyncs_per_minute: (on1.fsyncs - on0.fsyncs) / (on_secs / 60.0),
        segments_per_stream_minute: (on1.segments - on0.segments) / m / (on_secs / 60.0),
        not_recorded: (
            on1.not_recorded - on0.not_recorded,
            on1.queue_full - on0.queue_full,
        ),
        damaged: (off1.damaged - off0.damaged, on1.damaged - on0.damaged),
        ttff_finished,
        ttff_open,
        ttff_failed: failed,
        clips,
    }
}

/// Milliseconds from opening `live?from=` to the first media segment; `None` when the hub
/// refused (nothing recorded) or sent no frame within 5 s.
async fn first_frame(hub: &Hub, id: &str, from: DateTime<Utc>) -> Option<f64> {
    let url = hub.live_url(id, &format!("from={}", at(from)));
    let started = Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    let mut found = None;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if matches!(&msg, Message::Binary(b) if b.len() > 8 && &b[4..8] == b"prft") {
            found = Some(started.elapsed().as_secs_f64() * 1000.0);
            break;
        }
    }
    let _ = ws.close(None).await;
    found
}

/// Waits (up to 15 s) until the index has `id`'s recordings up to `to`.
async fn wait_recorded(hub: &Hub, id: &str, to: DateTime<Utc>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let path = format!(
            "/api/v1/cameras/{id}/recordings?from={}&to={}",
            at(to - chrono::Duration::minutes(5)),
            at(to + chrono::Duration::minutes(5))
        );
        let timeline = hub.call(reqwest::Method::GET, &path, None).await;
        let end = timeline["spans"]
            .as_array()
            .and_then(|s| s.last())
            .and_then(|s| s["to"].as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if end.is_some_and(|e| e >= to) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("camera {id}: not recorded up to {to} after 15 s");
}

/// Downloads `recordings.mp4` for `[from, to)`, timed; kept in `out` (and probed) if given.
async fn clip(
    hub: &Hub,
    id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: Option<&Path>,
) -> ClipFigures {
    let url = format!(
        "{}/api/v1/cameras/{id}/recordings.mp4?from={}&to={}",
        hub.base,
        at(from),
        at(to)
    );
    let started = Instant::now();
    let mut resp = hub
        .http
        .get(url)
        .bearer_auth(&hub.token)
        .send()
        .await
        .expect("the hub answers");
    let headers_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = resp.status();
    let mut bytes = 0u64;
    let mut kept = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("the clip's bytes") {
        bytes += chunk.len() as u64;
        if out.is_some() {
            kept.extend_from_slice(&chunk);
        }
    }
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(status.is_success(), "clip of {id}: {status}");
    let probed = out.and_then(|path| {
        std::fs::write(path, &kept).ok()?;
        probe_duration(path)
    });
    let timeline = match out {
        Some(_) => timeline(hub, id, from, to).await,
        None => None,
    };
    ClipFigures {
        headers_ms,
        total_ms,
        bytes,
        probed,
        timeline,
    }
}

/// The timeline of `[from, to)` in a few words: seconds recorded, spans, and each gap.
async fn timeline(hub: &Hub, id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<String> {
    let url = format!(
        "{}/api/v1/cameras/{id}/recordings?from={}&to={}",
        hub.base,
        at(from),
        at(to)
    );
    let listed: serde_json::Value = hub
        .http
        .get(url)
        .bearer_auth(&hub.token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let time = |v: &serde_json::Value| v.as_str()?.parse::<DateTime<Utc>>().ok();
    let seconds = |a: &serde_json::Value| -> Option<f64> {
        Some((time(&a["to"])? - time(&a["from"])?).num_milliseconds() as f64 / 1000.0)
    };
    let spans = listed["spans"].as_array()?;
    let recorded: f64 = spans.iter().filter_map(seconds).sum();
    let gaps: Vec<String> = listed["gaps"]
        .as_array()?
        .iter()
        .filter_map(|g| {
            let start = (time(&g["from"])? - from).num_milliseconds() as f64 / 1000.0;
            Some(format!("{:.2} s at +{start:.1} s", seconds(g)?))
        })
        .collect();
    Some(format!(
        "{recorded:.2} s recorded in {} span(s), gaps: [{}]",
        spans.len(),
        gaps.join(", ")
    ))
}

/// ffprobe's duration of a file, seconds.
fn probe_duration(path: &Path) -> Option<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["format"]["duration"].as_str()?.parse().ok()
}
