//! Lookups that must not slow down as history grows, on SQLite and on PostgreSQL. Not a test:
//! it prints figures, each against a baseline measured in the same run with little history.
//!
//! * **The recording index**: how long the store takes to find a camera's segments for a time
//!   range (what the wall's timeline, every playback and every evidence clip ask), with one day
//!   of minute-long segments indexed and with the whole retention (30 days by default).
//! * **A retention pass's read** (every minute): with room on the disk, what age may have made
//!   due; short of space, the directory's oldest segments, enough to free what is short (and
//!   the oldest 20,000, what the pass read before).
//! * **The open incidents** (the wall's and each console's list, read at every load and
//!   reconnect), with 1,000 closed incidents behind them and with 20,000 by default.
//! * **The incidents awaiting evidence** (what the evidence task asks every second: those
//!   naming cameras whose clips are not scheduled yet), with the same closed incidents, each
//!   naming a camera and scheduled.
//!
//! A lookup that does not depend on how much is kept reads the same with more history (ratio
//! near 1); one that scans the older rows grows with them.
//!
//! ```sh
//! cargo bench -p gridwatch-tests --bench history            # both backends
//! cargo bench -p gridwatch-tests --bench history -- sqlite  # or postgres
//! cargo bench -p gridwatch-tests --bench history -- incidents  # or recordings
//! ```
//!
//! Everything is written straight through the store (no files, no hub). Segments: two cameras
//! (the one looked up and a neighbour, interleaved as a recorder writes them), one minute each,
//! and among the looked-up camera's a three-hour one before the first day (a camera that sent
//! no keyframe for hours) that must still be found. Incidents: raised and cancelled through the
//! store's own transitions, their clips scheduled as the evidence task does; five left open, one
//! of them not scheduled. `HISTORY_BENCH_DAYS` (default 30),
//! `HISTORY_BENCH_CLOSED` (default 20000) and `HISTORY_BENCH_LOOKUPS` (default 300) change the
//! run. PostgreSQL: a new database on `GRIDWATCH_TEST_POSTGRES`, as the test suites make,
//! analyzed after each bulk load of segments (as autovacuum would have, see `settle`).

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{env_usize, spread, Spread};
use gridwatch_core::access::Visibility;
use gridwatch_core::event::Actor;
use gridwatch_core::incident::Action;
use gridwatch_core::recording::evidence::{window, EvidenceJob, JobState};
use gridwatch_core::recording::retention::RetentionPolicy;
use gridwatch_core::recording::{RecordMode, Segment};
use gridwatch_store::{Backend, IncidentFilter, Store, StoreOptions};
use std::time::Instant;

const CAMERA: &str = "cam-gate";
const NEIGHBOUR: &str = "cam-lane";
const DIR: &str = "dir-bench";

fn segment(camera: &str, start: DateTime<Utc>, minutes: i64) -> Segment {
    let ms = start.timestamp_millis();
    Segment {
        id: format!("{camera}-{ms}"),
        camera_id: camera.into(),
        stream: "main".into(),
        mode: RecordMode::Continuous,
        dir_id: DIR.into(),
        path: format!("{camera}/main/{ms}-c.mp4"),
        start,
        end: start + Duration::minutes(minutes),
        bytes: 30_000_000,
        frames: 1500,
        sha256: "0".repeat(64),
        codec: "avc1.640028".into(),
        width: 1920,
        height: 1080,
        holes: vec![],
    }
}

/// Indexes both cameras' minutes in `[from, to)`, 16 statements in flight.
async fn index(store: &Store, from: DateTime<Utc>, to: DateTime<Utc>) {
    let minutes = (to - from).num_minutes();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut m = lane;
            while m < minutes {
                let start = from + Duration::minutes(m);
                for camera in [CAMERA, NEIGHBOUR] {
                    store
                        .insert_recording_segment(&segment(camera, start, 1))
                        .await
                        .expect("a segment is indexed");
                }
                m += 16;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// What is looked up, ending `now`: the wall's timeline of the last 10 minutes, a 90 s clip
/// 5 minutes back, and an hour's playback 12 hours back.
fn ranges(now: DateTime<Utc>) -> [(&'static str, DateTime<Utc>, DateTime<Utc>); 3] {
    [
        ("last 10 min", now - Duration::minutes(10), now),
        (
            "90 s clip",
            now - Duration::minutes(5),
            now - Duration::minutes(5) + Duration::seconds(90),
        ),
        (
            "1 h, 12 h back",
            now - Duration::hours(13),
            now - Duration::hours(12),
        ),
    ]
}

/// Each range looked up `n` times (round robin); their spreads, checking each finds its minutes.
async fn look_up(store: &Store, now: DateTime<Utc>, n: usize) -> Vec<Spread> {
    let mut times: Vec<Vec<std::time::Duration>> = vec![Vec::new(); 3];
    for _ in 0..n {
        for (i, (name, from, to)) in ranges(now).into_iter().enumerate() {
            let t = Instant::now();
            let found = store
                .recording_segments(CAMERA, "main", from, to)
                .await
                .expect("a lookup");
            times[i].push(t.elapsed());
            let minutes = ((to - from).num_seconds() as usize).div_ceil(60);
            assert!(
                found.len() >= minutes && found.len() <= minutes + 1,
                "{name}: {} segments for {minutes} min",
                found.len()
            );
        }
    }
    times.iter_mut().map(|t| spread(t)).collect()
}

/// The recording index with a day and with `HISTORY_BENCH_DAYS` of segments.
async fn recordings(store: &Store, backend: Backend, url: &str) -> Result<(), String> {
    let days = env_usize("HISTORY_BENCH_DAYS", 30) as i64;
    let lookups = env_usize("HISTORY_BENCH_LOOKUPS", 300);
    let start: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
    store
        .put_recording_dir(DIR, "/srv/gridwatch/a", None, start)
        .await
        .map_err(|e| e.to_string())?;
    // A camera that sent no keyframe for three hours: one long segment, early on.
    let long = segment(CAMERA, start - Duration::hours(3), 180);
    store
        .insert_recording_segment(&long)
        .await
        .map_err(|e| e.to_string())?;

    let day = start + Duration::days(1);
    let t = Instant::now();
    index(store, start, day).await;
    settle(backend, url);
    eprintln!(
        "{backend:?}: 1 day indexed ({} rows) in {:.1} s",
        2 * 1440 + 1,
        t.elapsed().as_secs_f64()
    );
    let one_day = look_up(store, day, lookups).await;
    let usage_one_day = usage(store, 20).await;
    let candidates_one_day = candidates(store, day, 20).await;
    let end = start + Duration::days(days);
    let t = Instant::now();
    index(store, day, end).await;
    settle(backend, url);
    eprintln!(
        "{backend:?}: {days} days indexed ({} rows) in {:.1} s",
        2 * 1440 * days + 1,
        t.elapsed().as_secs_f64()
    );
    let all_days = look_up(store, end, lookups).await;
    let usage_all_days = usage(store, 20).await;
    let candidates_all_days = candidates(store, end, 20).await;
    // The long segment is still found where it lies.
    let found = store
        .recording_segments(CAMERA, "main", start - Duration::minutes(30), start)
        .await
        .map_err(|e| e.to_string())?;
    assert!(found.iter().any(|s| s.id == long.id), "the 3-hour segment");

    for (i, (name, _, _)) in ranges(end).into_iter().enumerate() {
        let (a, b) = (&one_day[i], &all_days[i]);
        compared(backend, name, ("1 day", a), (&format!("{days} days"), b));
    }
    // What retention (every minute) and the metrics (every 30 s) read: every row's bytes.
    let (a, b) = (&usage_one_day, &usage_all_days);
    let days_kept = format!("{days} days");
    compared(backend, "usage (all dirs)", ("1 day", a), (&days_kept, b));
    let (a, b) = (&candidates_one_day.0, &candidates_all_days.0);
    compared(backend, "retention pass", ("1 day", a), (&days_kept, b));
    let (a, b) = (&candidates_one_day.1, &candidates_all_days.1);
    compared(backend, "  short, 20k read", ("1 day", a), (&days_kept, b));
    let (a, b) = (&candidates_one_day.2, &candidates_all_days.2);
    compared(backend, "  short of space", ("1 day", a), (&days_kept, b));
    Ok(())
}

/// On PostgreSQL, the planner's statistics brought up to date after a bulk load, as
/// autovacuum keeps them on a database written for days (`ANALYZE`, through `psql`). Without
/// them the planner took the directory for a few hundred rows and sorted all 86,401 to read
/// the oldest 500 (51 ms instead of 1). SQLite is left as a hub runs it (it never analyzes).
fn settle(backend: Backend, url: &str) {
    if backend != Backend::Postgres {
        return;
    }
    let analyzed = std::process::Command::new("psql")
        .args([url, "-q", "-c", "ANALYZE"])
        .status();
    match analyzed {
        Ok(s) if s.success() => {}
        other => eprintln!("Postgres: ANALYZE through psql failed ({other:?}): figures as loaded"),
    }
}

/// What a retention pass reads of the directory (every minute by default), `n` times: with
/// room on its disk, what age may have made due (the default 30 days); short of space (by
/// [`SHORT_BYTES`]), its oldest segments as the pass reads them now (the oldest 500, as they
/// are enough), and the oldest 20,000 as every pass read them before.
async fn candidates(store: &Store, now: DateTime<Utc>, n: usize) -> (Spread, Spread, Spread) {
    let due = timed(n, || async {
        store
            .retention_due(DIR, now, RetentionPolicy::default().due_before(now), 20_000)
            .await
            .expect("retention due");
    })
    .await;
    let oldest = timed(n, || async {
        store
            .retention_candidates(DIR, now, 20_000)
            .await
            .expect("retention candidates");
    })
    .await;
    let to_free = timed(n, || async {
        let read = store
            .retention_oldest_to_free(DIR, now, SHORT_BYTES, (500, 20_000))
            .await
            .expect("retention oldest");
        assert_eq!(read.len(), 500, "the first look is enough");
    })
    .await;
    (due, oldest, to_free)
}

/// How much the directory is short of in the bench: 100 camera-minutes at 4 Mbit/s (a
/// disk filled by a burst of writes, or a floor raised), freed by the oldest 100 segments.
const SHORT_BYTES: u64 = 3_000_000_000;

/// The directories' bytes and segments, `n` times.
async fn usage(store: &Store, n: usize) -> Spread {
    timed(n, || async {
        store.recording_usage().await.expect("usage");
    })
    .await
}

/// The spread of `n` runs of `once`, one after the other.
async fn timed<F, Fut>(n: usize, mut once: F) -> Spread
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        once().await;
        times.push(t.elapsed());
    }
    spread(&mut times)
}

/// One lookup's p50 and p99 with little history (`before`) and with much (`after`), and how
/// much the p50 grew: a line of the bench's output.
fn compared(backend: Backend, name: &str, before: (&str, &Spread), after: (&str, &Spread)) {
    let ((a_name, a), (b_name, b)) = (before, after);
    println!(
        "{:<9} {:<18} {a_name}: p50 {:>7.3} ms p99 {:>7.3} ms   {b_name}: p50 {:>7.3} ms \
         p99 {:>7.3} ms   p50 ratio {:>5.2}×",
        format!("{backend:?}"),
        name,
        common::ms(a.p50),
        common::ms(a.p99),
        common::ms(b.p50),
        common::ms(b.p99),
        b.p50.as_secs_f64() / a.p50.as_secs_f64(),
    );
}

/// An SOS naming the gate camera.
fn sos_at_gate() -> gridwatch_store::RaiseRequest {
    let button = gridwatch_core::id::new_id();
    let mut sos = gridwatch_store::testing::bare_sos(&button);
    sos.raise.cameras = vec![CAMERA.into()];
    sos
}

/// Schedules the incident's clip of the gate camera, as the evidence task does.
async fn schedule_clip(store: &Store, incident_id: &str, raised: DateTime<Utc>) {
    let (from, to) = window(raised, Duration::seconds(30), Duration::seconds(60));
    let job = EvidenceJob {
        incident_id: incident_id.into(),
        camera_id: CAMERA.into(),
        from,
        to,
        due: to,
        state: JobState::Pending,
        attempts: 0,
    };
    store
        .schedule_evidence(&[incident_id], &[job], raised)
        .await
        .expect("a clip scheduled");
}

/// Raises `n` SOS naming a camera, schedules their clips and cancels each (16 in flight), all
/// at `at`: closed history.
async fn closed_incidents(store: &Store, n: usize, at: DateTime<Utc>) {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, next) = (store.clone(), next.clone());
        tasks.spawn(async move {
            let store = &store;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let raised = store
                    .raise_incident(sos_at_gate(), at)
                    .await
                    .expect("raised");
                schedule_clip(store, &raised.incident.id, at).await;
                let cancel = Action::Cancel {
                    reason: "误报".into(),
                };
                store
                    .act_on_incident(&raised.incident.id, &cancel, &duty(), None, at, |_| Ok(()))
                    .await
                    .expect("cancelled");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

fn duty() -> Actor {
    Actor::user("duty", "bench")
}

/// The wall's list of open incidents, `n` times; checks it finds the `open` ones.
async fn list_open(store: &Store, open: usize, n: usize) -> Spread {
    timed(n, || async {
        let listed = store
            .list_incidents(&IncidentFilter::open(Visibility::All))
            .await
            .expect("a list");
        assert_eq!(listed.len(), open, "the open incidents");
    })
    .await
}

/// What the evidence task asks every second, `n` times; checks it finds the one incident
/// whose clips are not scheduled.
async fn awaiting_evidence(store: &Store, since: DateTime<Utc>, waiting: &str, n: usize) -> Spread {
    timed(n, || async {
        let found = store
            .incidents_awaiting_evidence(since, 50)
            .await
            .expect("awaiting evidence");
        let ids: Vec<&str> = found.iter().map(|i| i.incident_id.as_str()).collect();
        assert_eq!(ids, [waiting], "the incident awaiting evidence");
    })
    .await
}

/// The open incidents' list, and the incidents awaiting evidence, with 1,000 and with
/// `HISTORY_BENCH_CLOSED` closed behind them.
async fn open_incidents(store: &Store, backend: Backend) -> Result<(), String> {
    let closed = env_usize("HISTORY_BENCH_CLOSED", 20_000).max(1000);
    let lookups = env_usize("HISTORY_BENCH_LOOKUPS", 300);
    let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
    let t = Instant::now();
    closed_incidents(store, 1000, t0).await;
    // Five still open, raised first: the list must reach back past the closed ones after.
    // The evidence task has scheduled the clips of all but the last.
    let mut waiting = String::new();
    for i in 0..5 {
        let raised = store
            .raise_incident(sos_at_gate(), t0)
            .await
            .map_err(|e| e.to_string())?;
        if i < 4 {
            schedule_clip(store, &raised.incident.id, t0).await;
        } else {
            waiting = raised.incident.id;
        }
    }
    // As far back as the task looks: the retention period before the last incident.
    let since = t0 + Duration::days(1) - Duration::days(30);
    eprintln!(
        "{backend:?}: 1000 closed incidents in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let few = list_open(store, 5, lookups).await;
    let few_awaiting = awaiting_evidence(store, since, &waiting, lookups).await;
    let t = Instant::now();
    closed_incidents(store, closed - 1000, t0 + Duration::days(1)).await;
    eprintln!(
        "{backend:?}: {closed} closed incidents in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let many = list_open(store, 5, lookups).await;
    let many_awaiting = awaiting_evidence(store, since, &waiting, lookups).await;
    let closed_then = format!("{closed} closed");
    compared(
        backend,
        "open incidents",
        ("1000 closed", &few),
        (&closed_then, &many),
    );
    compared(
        backend,
        "awaiting evidence",
        ("1000 closed", &few_awaiting),
        (&closed_then, &many_awaiting),
    );
    Ok(())
}

async fn run(backend: Backend) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("gridwatch.db").display()),
        Backend::Postgres => gridwatch_store::testing::fresh_postgres_url()
            .await
            .map_err(|e| format!("PostgreSQL: {e}"))?,
    };
    let store = Store::open(&StoreOptions::new(url.clone()))
        .await
        .map_err(|e| e.to_string())?;
    if part_wanted("recordings") {
        recordings(&store, backend, &url).await?;
    }
    if part_wanted("incidents") {
        open_incidents(&store, backend).await?;
    }
    store.close().await;
    Ok(())
}

/// Whether the arguments ask for `part` (`recordings`, `incidents`; none named: both).
fn part_wanted(part: &str) -> bool {
    let parts = ["recordings", "incidents"];
    let named: Vec<String> = std::env::args()
        .filter(|a| parts.contains(&a.as_str()))
        .collect();
    named.is_empty() || named.iter().any(|a| a == part)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let backends: Vec<&String> = only
        .iter()
        .filter(|o| *o == "sqlite" || *o == "postgres")
        .collect();
    let wanted = |name: &str| backends.is_empty() || backends.iter().any(|o| *o == name);
    println!(
        "lookups as history grows, {} of each per point",
        env_usize("HISTORY_BENCH_LOOKUPS", 300)
    );
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        if wanted(name) {
            if let Err(e) = run(backend).await {
                println!("{name}: not run: {e}");
            }
        }
    }
}
