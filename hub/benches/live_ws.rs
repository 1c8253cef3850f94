//! Benchmark (not a test): M cameras in a running hub, each with one real WebSocket viewer
//! on `GET /api/v1/cameras/{id}/live`, against one `ffmpeg -c copy` process per camera.
//!
//! Three processes, so that what is measured is the hub's alone:
//!
//! - the simulator (this binary re-executed, `GRIDWATCH_BENCH_SIM`) serves M cameras from a
//!   pre-encoded 1080p, 25 fps, ~4 Mbit/s clip in a loop: it encodes nothing;
//! - the hub (this binary re-executed, `GRIDWATCH_BENCH_HUB`): `server::start` on a fresh
//!   SQLite store, exactly what `gridwatch serve` runs; the cameras are registered through
//!   its API (`POST /api/v1/cameras`), so they run as in production (retina sessions, fMP4,
//!   GOP cache, fan-out, axum WebSockets);
//! - this process: the M WebSocket viewers, which read every frame, and the measurements.
//!
//! Per M, and per wake batch (`[cameras] wake_batch_ms`, by default 5 ms and 0 = a wake-up per
//! event, each a fresh hub in the same run), it prints from the hub process alone
//! (`/proc/PID/stat`, `/proc/PID/status`): CPU seconds per stream-minute and RSS per stream;
//! the delay from a frame's arrival from the camera (the instant retina hands it to the ingest)
//! to its WebSocket send (the socket has taken the bytes), from the hub's own histogram
//! `gridwatch_live_send_delay_seconds` at `/metrics` (p50/p99 interpolated within its buckets,
//! and the exact share under 5 ms, a bucket bound); end to end, how much later than its
//! stream's best each frame reached its viewer (`late`, see [`Lateness`]: this includes the
//! time a frame waits in the kernel for a batching thread); frames per second per viewer; the
//! time to first frame of a new viewer (connect, upgrade, init, first media segment). Then the
//! same cameras are pulled by one
//! `ffmpeg -rtsp_transport tcp -i URL -c copy -f mp4 -movflags frag_keyframe+empty_moov` per
//! camera, and the CPU ratio of each hub row to it is printed. Last, per wake batch, the floor
//! (`live_ws/floor.rs`): a relay child that moves the same bytes from the cameras to this
//! process and does nothing else, measured the same way; the hub's and ffmpeg's CPU are
//! printed as multiples of it. It bounds what any relay on this machine can reach: where
//! ffmpeg costs less than 5x the floor, 5x less than ffmpeg is out of anyone's reach.
//!
//! Then the WebRTC path (`live_ws/webrtc.rs`): the same cameras with one WHEP viewer each
//! (a real str0m peer), the hub's CPU per stream-minute as a multiple of the WebSocket rows'.
//! Then Janus (`live_ws/janus.rs`, Debian's `janus`): its streaming plugin relays the same
//! cameras to the same peers, and the hub's WebRTC CPU is printed as the ratio hub / Janus.
//!
//! The clip, the simulator child, CPU and RSS from /proc, percentiles and the ffmpeg
//! measurement are shared with the ingest's `live_fanout` bench: `ingest/benches/support/mod.rs`.
//!
//! ```sh
//! cargo bench -p gridwatch-hub --bench live_ws                       # M = 10 50 100 200
//! GRIDWATCH_BENCH_M="10 50" GRIDWATCH_BENCH_SECONDS=10 cargo bench -p gridwatch-hub --bench live_ws
//! GRIDWATCH_BENCH_BATCH_MS="0 2 5 10" GRIDWATCH_BENCH_M=50 cargo bench -p gridwatch-hub --bench live_ws
//! ```

#[path = "../../ingest/benches/support/mod.rs"]
mod support;

#[path = "live_ws/floor.rs"]
mod floor;

#[path = "live_ws/webrtc.rs"]
mod webrtc;

#[path = "live_ws/janus.rs"]
mod janus;

mod hub_child;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hub_child::Hub;
use serde_json::json;
use support::{cpu_seconds, measure_ffmpeg, percentile, rss_mb, Simulator, FPS};
use tokio_tungstenite::tungstenite::Message;

fn main() {
    if support::simulator_child() || floor::relay_child() || hub_child::hub_child() {
        return;
    }
    let settings = support::settings();
    let (seconds, ticks, cores) = (settings.seconds, settings.ticks, settings.cores);
    println!(
        "live_ws: hub process with one WebSocket viewer per camera; 1080p {FPS} fps ~4 Mbit/s \
         clip, {seconds} s per measurement, {cores} cores"
    );
    let batches: Vec<u64> = std::env::var("GRIDWATCH_BENCH_BATCH_MS")
        .unwrap_or_else(|_| "5 0".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    println!(
        "{:>4} {:>6} | {:>13} {:>11} {:>8} | {:>9} {:>9} {:>7} | {:>8} {:>8} | {:>9} {:>9} | {:>6}",
        "M",
        "batch",
        "hub CPU s/min",
        "hub RSS/str",
        "fps/view",
        "send p50",
        "send p99",
        "<=5ms",
        "late p50",
        "late p99",
        "TTFF p50",
        "TTFF p99",
        "ratio"
    );
    let runtime = support::runtime();
    for &m in &settings.ms {
        let mut sim = Simulator::start(&settings.clip, m);
        let hubs: Vec<(u64, HubFigures)> = batches
            .iter()
            .map(|&b| (b, runtime.block_on(measure_hub(&sim, b, seconds, ticks))))
            .collect();
        let rtc = runtime.block_on(webrtc::measure(&sim, seconds, ticks));
        let janus = runtime.block_on(janus::measure(&sim, seconds, ticks));
        let ff = measure_ffmpeg(&sim.urls, seconds, ticks);
        let floors: Vec<(u64, f64)> = batches
            .iter()
            .map(|&b| {
                (
                    b,
                    runtime.block_on(floor::measure(&sim.urls, b, seconds, ticks)),
                )
            })
            .collect();
        sim.stop();
        for (batch, hub) in &hubs {
            let ratio = ff.cpu_per_stream_minute / hub.cpu_per_stream_minute.max(1e-9);
            println!(
                "{:>4} {:>4}ms | {:>13.3} {:>8.2} MB {:>8.1} | {:>7.2}ms {:>7.2}ms {:>6.2}% | \
                 {:>6.1}ms {:>6.1}ms | {:>7.1}ms {:>7.1}ms | {:>5.1}x",
                m,
                batch,
                hub.cpu_per_stream_minute,
                hub.rss_per_stream_mb,
                hub.fps_per_viewer,
                hub.send.p50 * 1000.0,
                hub.send.p99 * 1000.0,
                hub.send.within_5ms * 100.0,
                hub.late_p50_ms,
                hub.late_p99_ms,
                hub.ttff_p50_ms,
                hub.ttff_p99_ms,
                ratio
            );
            println!(
                "            hub total CPU {:.0}% of one core for {m} streams; {} frames sent in the \
                 window, mean arrival-to-send {:.3} ms, viewers over 1 s behind the best {}",
                hub.cpu_per_stream_minute * m as f64 / 60.0 * 100.0,
                hub.send.count,
                hub.send.mean * 1000.0,
                hub.gaps,
            );
            let (sim_cores, viewer_cores) = hub.box_cores;
            println!(
                "            meanwhile the simulator used {:.0}% of one core, the viewers {:.0}%",
                sim_cores * 100.0,
                viewer_cores * 100.0,
            );
        }
        let ws = hubs
            .iter()
            .find(|(b, _)| *b == 5)
            .or(hubs.first())
            .map_or(f64::NAN, |(_, h)| h.cpu_per_stream_minute);
        println!(
            "{:>4} webrtc | {:>13.3} {:>11} {:>8.1} | one WHEP viewer per camera ({} of {m} connected): \
             {:.2}x the CPU of the WebSocket (MSE) viewers above",
            m,
            rtc.cpu_per_stream_minute,
            "",
            rtc.fps_per_viewer,
            rtc.viewers,
            rtc.cpu_per_stream_minute / ws.max(1e-9),
        );
        match &janus {
            Ok(j) => println!(
                "{:>4}  janus | {:>13.3} {:>11} {:>8.1} | Janus relaying the same cameras to one viewer each \
                 ({} of {m} connected): hub / Janus = {:.2}",
                m,
                j.cpu_per_stream_minute,
                "",
                j.fps_per_viewer,
                j.viewers,
                rtc.cpu_per_stream_minute / j.cpu_per_stream_minute.max(1e-9),
            ),
            Err(why) => println!("{m:>4}  janus | not measured: {why}"),
        }
        println!(
            "{:>4} ffmpeg | {:>13.3} {:>8.1} MB (one -c copy process per camera; total {:.0}% of one core)",
            m,
            ff.cpu_per_stream_minute,
            ff.rss_per_stream_mb,
            ff.cpu_per_stream_minute * m as f64 / 60.0 * 100.0,
        );
        for (batch, floor) in &floors {
            let hub = hubs
                .iter()
                .find(|(b, _)| b == batch)
                .map_or(f64::NAN, |(_, h)| h.cpu_per_stream_minute);
            let ffmpeg_over_floor = ff.cpu_per_stream_minute / floor.max(1e-9);
            println!(
                "{:>4} {:>4}ms | {:>13.3} floor: a relay that only moves the bytes; the hub is {:.1}x it, \
                 ffmpeg {:.1}x it{}",
                m,
                batch,
                floor,
                hub / floor.max(1e-9),
                ffmpeg_over_floor,
                if ffmpeg_over_floor < 5.0 {
                    " (so no relay here uses 5x less CPU than ffmpeg at this M and batch)"
                } else {
                    ""
                },
            );
        }
    }
}

/// A Prometheus histogram as scraped: cumulative counts per upper bound, count and sum.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    count: f64,
    sum: f64,
}

impl Histogram {
    fn parse(text: &str, name: &str) -> Histogram {
        let mut h = Histogram::default();
        let bucket = format!("{name}_bucket{{le=\"");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&bucket) {
                let (le, value) = rest.split_once("\"} ").expect("bucket line");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("bucket bound")
                };
                h.buckets
                    .push((le, value.trim().parse().expect("bucket count")));
            } else if let Some(v) = line.strip_prefix(&format!("{name}_count ")) {
                h.count = v.trim().parse().expect("count");
            } else if let Some(v) = line.strip_prefix(&format!("{name}_sum ")) {
                h.sum = v.trim().parse().expect("sum");
            }
        }
        assert!(!h.buckets.is_empty(), "{name} not exported at /metrics");
        h
    }

    /// What was observed between `before` and `self`.
    fn since(&self, before: &Histogram) -> Histogram {
        Histogram {
            buckets: self
                .buckets
                .iter()
                .zip(&before.buckets)
                .map(|((le, a), (_, b))| (*le, a - b))
                .collect(),
            count: self.count - before.count,
            sum: self.sum - before.sum,
        }
    }

    /// The `q` quantile, linearly interpolated within its bucket (as PromQL's
    /// `histogram_quantile`).
    fn quantile(&self, q: f64) -> f64 {
        if self.count <= 0.0 {
            return f64::NAN;
        }
        let rank = q * self.count;
        let mut lower = (0.0, 0.0);
        for &(le, cum) in &self.buckets {
            if cum >= rank {
                if le.is_infinite() {
                    return lower.0;
                }
                let in_bucket = cum - lower.1;
                let frac = if in_bucket > 0.0 {
                    (rank - lower.1) / in_bucket
                } else {
                    1.0
                };
                return lower.0 + (le - lower.0) * frac;
            }
            lower = (le, cum);
        }
        lower.0
    }

    /// Share of observations at most `bound`, which must be a bucket bound.
    fn share_within(&self, bound: f64) -> f64 {
        let cum = self
            .buckets
            .iter()
            .find(|(le, _)| (*le - bound).abs() < 1e-12)
            .map(|(_, c)| *c)
            .expect("a bucket bound");
        cum / self.count.max(1.0)
    }
}

struct SendDelay {
    p50: f64,
    p99: f64,
    within_5ms: f64,
    mean: f64,
    count: u64,
}

struct HubFigures {
    cpu_per_stream_minute: f64,
    rss_per_stream_mb: f64,
    fps_per_viewer: f64,
    send: SendDelay,
    ttff_p50_ms: f64,
    ttff_p99_ms: f64,
    /// How much later than its stream's best a frame reached its viewer (see [`Lateness`]).
    late_p50_ms: f64,
    late_p99_ms: f64,
    /// Cores used in the window by the simulator and by this process (the viewers): when one
    /// of them is near a core, the end-to-end delays are its, not the hub's.
    box_cores: (f64, f64),
    /// Viewers whose frame count fell short of the others' by more than a second's worth:
    /// a sign that the box, not the hub, is the limit.
    gaps: usize,
}

/// The hub's arrival-to-send histogram so far.
async fn send_delay(hub: &Hub) -> Histogram {
    Histogram::parse(&hub.metrics().await, "gridwatch_live_send_delay_seconds")
}

/// End to end, from the simulator to the viewer: each frame's arrival at the viewer against
/// its place on the stream's timeline (`tfdt`). The simulator sends frames on its clock, so on
/// an ideal path arrival − media time is constant; what a frame's figure exceeds its stream's
/// least by is the delay the path added to it (the simulator's and this process's scheduling,
/// the network, the hub's reading, batching and sending). Unlike the hub's own
/// arrival-to-send histogram it includes the time a frame waits in the kernel before the hub
/// reads it, which is where wake-up batching adds its delay.
#[derive(Default)]
struct Lateness {
    /// Arrival − media time, seconds, of each frame in the window.
    offsets: Vec<f64>,
}

impl Lateness {
    fn frame(&mut self, segment: &[u8], arrived: Duration) {
        if let Ok(info) = gridwatch_ingest::fmp4::inspect::parse_media_segment(segment) {
            let media = info.base_decode_time as f64 / f64::from(gridwatch_ingest::fmp4::TIMESCALE);
            self.offsets.push(arrived.as_secs_f64() - media);
        }
    }

    fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Each frame's offset beyond the least of its stream.
    fn excess(self) -> Vec<f64> {
        let least = self.offsets.iter().copied().fold(f64::INFINITY, f64::min);
        self.offsets.into_iter().map(|o| o - least).collect()
    }
}

/// A media segment: a `prft` (the frame's arrival) before the `moof`.
fn is_media(msg: &Message) -> bool {
    matches!(msg, Message::Binary(b) if b.len() > 8 && &b[4..8] == b"prft")
}

async fn measure_hub(sim: &Simulator, wake_batch_ms: u64, seconds: u64, ticks: f64) -> HubFigures {
    let urls = &sim.urls;
    let dir = tempfile::tempdir().expect("temporary directory");
    let env = [(
        "GRIDWATCH_CAMERAS__WAKE_BATCH_MS",
        wake_batch_ms.to_string(),
    )];
    let hub = Hub::start(dir.path(), &env);
    let rss_before = rss_mb(&hub.pid);
    let ids = hub.add_cameras(urls, json!({})).await;
    // One WebSocket viewer per camera, reading every frame.
    let counts: Arc<Vec<AtomicU64>> = Arc::new(ids.iter().map(|_| AtomicU64::new(0)).collect());
    let measuring = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (mut ws, _) = tokio_tungstenite::connect_async(hub.live_url(id, ""))
            .await
            .expect("viewer connects");
        let counts = counts.clone();
        let measuring = measuring.clone();
        tasks.push(tokio::spawn(async move {
            let mut lateness = Lateness::default();
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Binary(b) = &msg {
                    if is_media(&msg) {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                        if measuring.load(Ordering::Relaxed) {
                            lateness.frame(b, epoch.elapsed());
                        }
                    }
                }
                if lateness.len() > 0 && !measuring.load(Ordering::Relaxed) {
                    break;
                }
            }
            lateness.excess()
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let frames =
        |c: &[AtomicU64]| -> Vec<u64> { c.iter().map(|n| n.load(Ordering::Relaxed)).collect() };
    let delay0 = send_delay(&hub).await;
    let cpu0 = cpu_seconds(&hub.pid, ticks);
    let others0 = (cpu_seconds(&sim.pid(), ticks), cpu_seconds("self", ticks));
    let f0 = frames(&counts);
    let t0 = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let cpu = cpu_seconds(&hub.pid, ticks) - cpu0;
    let others = (
        cpu_seconds(&sim.pid(), ticks) - others0.0,
        cpu_seconds("self", ticks) - others0.1,
    );
    let f1 = frames(&counts);
    let elapsed = t0.elapsed().as_secs_f64();
    let delay = send_delay(&hub).await.since(&delay0);
    let rss = rss_mb(&hub.pid) - rss_before;
    let per_viewer: Vec<u64> = f1.iter().zip(&f0).map(|(a, b)| a - b).collect();
    let best = per_viewer.iter().copied().max().unwrap_or(0);
    let gaps = per_viewer
        .iter()
        .filter(|&&n| n + u64::from(FPS) < best)
        .count();
    // Time to first frame for a new viewer of each camera, while the others watch.
    let mut ttff = Vec::new();
    for id in &ids {
        let started = Instant::now();
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(hub.live_url(id, "")).await else {
            continue;
        };
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(3), ws.next()).await
        {
            if is_media(&msg) {
                ttff.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
        let _ = ws.close(None).await;
    }
    ttff.sort_by(f64::total_cmp);
    // Each viewer stops at its next frame now that the window is closed.
    let mut late = Vec::new();
    for t in tasks {
        if let Ok(Ok(excess)) = tokio::time::timeout(Duration::from_secs(5), t).await {
            late.extend(excess);
        }
    }
    late.sort_by(f64::total_cmp);
    hub.stop();
    let m = urls.len() as f64;
    HubFigures {
        cpu_per_stream_minute: cpu / m / (elapsed / 60.0),
        rss_per_stream_mb: rss / m,
        fps_per_viewer: per_viewer.iter().sum::<u64>() as f64 / m / elapsed,
        send: SendDelay {
            p50: delay.quantile(0.5),
            p99: delay.quantile(0.99),
            within_5ms: delay.share_within(0.005),
            mean: delay.sum / delay.count.max(1.0),
            count: delay.count as u64,
        },
        ttff_p50_ms: percentile(&ttff, 0.5),
        ttff_p99_ms: percentile(&ttff, 0.99),
        late_p50_ms: percentile(&late, 0.5) * 1000.0,
        late_p99_ms: percentile(&late, 0.99) * 1000.0,
        gaps,
        box_cores: (others.0 / elapsed, others.1 / elapsed),
    }
}
