//! Benchmark (not a test): what recording adds to the ingest, for M cameras.
//!
//! The simulator child serves the pre-encoded 1080p ~4 Mbit/s clip in a loop (as for
//! `live_fanout`); the ingest pulls every camera twice, once without a recorder and once
//! recording every main stream continuously into a directory under the target's temporary
//! directory (the development machine's disk), and prints side by side: the process's CPU per
//! stream-minute, what recording wrote per byte of video received, fsyncs per stream-minute,
//! frames not recorded, and the time to build one camera's clip (a progressive MP4 of
//! everything it recorded, hashed) with its length. The whole hub's benchmark with playback
//! and `ffmpeg -f segment` as the baseline belongs to the hub.
//!
//! ```sh
//! cargo bench -p gridwatch-ingest --bench recording                  # M = 10 50 100 200
//! GRIDWATCH_BENCH_M="10 50" GRIDWATCH_BENCH_SECONDS=30 cargo bench -p gridwatch-ingest --bench recording
//! GRIDWATCH_BENCH_SYNC_SECONDS=60 cargo bench …   # sync_interval (default 5 s), to see its cost
//! ```

// Shared with live_fanout, which uses the rest of it (RSS, percentiles, ffmpeg).
#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwatch_ingest::recording::clip::{plan_clip, ClipSegment};
use gridwatch_ingest::recording::{
    MemoryIndex, RecordMode, Recorder, RecordingConfig, SampleDirConfig,
};
use gridwatch_ingest::{CameraConfig, Cameras, IngestConfig, StreamState};
use support::{cpu_seconds, Simulator, FPS};

fn main() {
    if support::simulator_child() {
        return;
    }
    let settings = support::settings();
    let (seconds, ticks, cores) = (settings.seconds, settings.ticks, settings.cores);
    println!(
        "recording: 1080p {FPS} fps ~4 Mbit/s clip, {seconds} s per measurement, {cores} cores, \
         sync every {:?}",
        sync_interval()
    );
    println!(
        "{:>5} | {:>12} {:>12} {:>7} | {:>11} {:>12} {:>9} | {:>22}",
        "M",
        "off s/min",
        "on s/min",
        "added",
        "written/rx",
        "fsyncs/min",
        "dropped",
        "clip of one camera"
    );
    let runtime = support::runtime();
    for &m in &settings.ms {
        let mut sim = Simulator::start(&settings.clip, m);
        let off = runtime.block_on(measure(&sim.urls, seconds, ticks, None));
        let dir = tempfile::Builder::new()
            .prefix("recording-bench")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a sample directory");
        let on = runtime.block_on(measure(&sim.urls, seconds, ticks, Some(dir.path())));
        sim.stop();
        let rec = on.recording.expect("recording figures");
        println!(
            "{:>5} | {:>12.3} {:>12.3} {:>6.0}% | {:>11.4} {:>12.1} {:>9} | {:>5.1} s {:>6.1} MB {:>6.1} ms",
            m,
            off.cpu_per_stream_minute,
            on.cpu_per_stream_minute,
            (on.cpu_per_stream_minute / off.cpu_per_stream_minute.max(1e-9) - 1.0) * 100.0,
            rec.written_per_received,
            rec.fsyncs_per_stream_minute,
            rec.dropped,
            rec.clip_seconds,
            rec.clip_mb,
            rec.clip_ms,
        );
    }
}

/// `GRIDWATCH_BENCH_SYNC_SECONDS`, else the recorder's default.
fn sync_interval() -> Duration {
    std::env::var("GRIDWATCH_BENCH_SYNC_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(
            RecordingConfig::default().sync_interval,
            Duration::from_secs_f64,
        )
}

struct Figures {
    cpu_per_stream_minute: f64,
    recording: Option<RecordingFigures>,
}

struct RecordingFigures {
    written_per_received: f64,
    fsyncs_per_stream_minute: f64,
    dropped: u64,
    clip_seconds: f64,
    clip_mb: f64,
    clip_ms: f64,
}

async fn measure(
    urls: &[String],
    seconds: u64,
    ticks: f64,
    dir: Option<&std::path::Path>,
) -> Figures {
    let index = Arc::new(MemoryIndex::new());
    let recorder = dir.map(|dir| {
        Recorder::open(
            RecordingConfig {
                dirs: vec![SampleDirConfig {
                    path: dir.to_path_buf(),
                    min_free_bytes: 0,
                }],
                sync_interval: sync_interval(),
                ..RecordingConfig::default()
            },
            index.clone(),
        )
    });
    let cameras = match &recorder {
        Some(r) => Cameras::with_recorder(IngestConfig::default(), r.clone()),
        None => Cameras::new(IngestConfig::default()),
    };
    cameras.apply(urls.iter().enumerate().map(|(i, u)| {
        let mut c = CameraConfig::new(format!("c{i}"), u.parse().expect("url"));
        c.record = RecordMode::Continuous;
        c
    }));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && cameras
            .statuses()
            .iter()
            .any(|s| s.state() != StreamState::Online)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats0 = recorder.as_ref().map(|r| r.stats()[0].clone());
    let cpu0 = cpu_seconds("self", ticks);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds("self", ticks) - cpu0;
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    let m = urls.len() as f64;
    let stats1 = recorder.as_ref().map(|r| r.stats()[0].clone());
    cameras.clear();
    let recording = match (recorder, stats0, stats1, dir) {
        (Some(recorder), Some(a), Some(b), Some(dir)) => {
            tokio::task::spawn_blocking(move || recorder.shutdown())
                .await
                .expect("shutdown");
            let rows: Vec<ClipSegment> = index
                .segments()
                .into_iter()
                .filter(|s| s.camera_id == "c0")
                .map(|s| ClipSegment {
                    path: dir.join(&s.path),
                    start: s.start,
                })
                .collect();
            let (from, to) = (rows.first().map(|s| s.start), std::time::SystemTime::now());
            let started = Instant::now();
            let clip = dir.join("clip.mp4");
            let (clip_seconds, clip_mb) = match from.map(|f| plan_clip(&rows, f, to)) {
                Some(Ok(plan)) => {
                    let written = plan.write_file(&clip).expect("the clip is written");
                    let span = plan.to.duration_since(plan.from).unwrap_or_default();
                    (span.as_secs_f64(), written.bytes as f64 / 1e6)
                }
                _ => (0.0, 0.0),
            };
            let clip_ms = started.elapsed().as_secs_f64() * 1000.0;
            Some(RecordingFigures {
                written_per_received: (b.bytes_written - a.bytes_written) as f64
                    / (b.media_bytes - a.media_bytes).max(1) as f64,
                fsyncs_per_stream_minute: (b.fsyncs - a.fsyncs) as f64 / m / minutes,
                dropped: (b.dropped_queue_full - a.dropped_queue_full)
                    + (b.dropped_stopped - a.dropped_stopped)
                    + (b.dropped_write_error - a.dropped_write_error),
                clip_seconds,
                clip_mb,
                clip_ms,
            })
        }
        _ => None,
    };
    Figures {
        cpu_per_stream_minute: cpu / m / minutes,
        recording,
    }
}
