//! What ingest workers cost and how fast they move cameras (issue 17). Figures, not a test.
//!
//! ```sh
//! cargo build --release --bin gridwatch
//! cargo bench -p gridwatch-tests --bench ingest_workers
//! # WORKERS_BENCH_CAMERAS=1000 WORKERS_BENCH_TAKEOVER=100 WORKERS_BENCH_VIEWERS=16 WORKERS_BENCH_SECONDS=15
//! ```
//!
//! Needs PostgreSQL (`GRIDWATCH_TEST_POSTGRES`, else postgres://postgres@127.0.0.1:5432): a
//! fresh database for each part, real `gridwatch ingest` and `gridwatch serve` processes.
//!
//! 1. **Assignment**: 1,000 cameras registered, two workers started; the time until every
//!    camera is leased, as cameras assigned per second — with the default pace (`claim_batch`
//!    20 every `claim_ms` 1,000, gentle on the database), then with a fast one (200 every
//!    200 ms), which shows what the database itself allows. The cameras point at a closed
//!    port: a lease does not wait for the camera.
//! 2. **Takeover**: two workers holding 100 cameras each; one SIGKILLed; the time until the
//!    other holds all of them, with the default lease (15 s, renewed every 5 s).
//! 3. **Proxy cost**: simulated cameras on one worker, the same viewers first straight to the
//!    worker (with the shared secret), then through a hub in `workers` mode; CPU per
//!    stream-minute of hub and worker together in each case, in the same run.

#[path = "common/mod.rs"]
mod common;

use chrono::Utc;
use common::{binary, camsim, cpu_time, env_usize, free_port, wait_ready, Proc};
use futures::StreamExt;
use gridwatch_core::camera::NewCamera;
use gridwatch_core::user::NewUser;
use gridwatch_core::Role;
use gridwatch_store::{Store, StoreOptions};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret-0123456789";

/// `gridwatch <sub>` on a free port with its own data directory, ready; its base URL.
async fn spawn(
    sub: &str,
    db: &str,
    dir: &std::path::Path,
    env: &[(&str, String)],
) -> (Proc, String) {
    let port = free_port();
    let child = Command::new(binary())
        .arg(sub)
        .env_remove("GRIDWATCH_CONFIG")
        .env("GRIDWATCH_DATA_DIR", dir)
        .env("GRIDWATCH_DATABASE_URL", db)
        .env("GRIDWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .env("GRIDWATCH_LOG__FILTER", "error")
        .env("GRIDWATCH_INGEST__SECRET", SECRET)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gridwatch starts");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    (Proc(child), base)
}

async fn fresh_db() -> (String, Store) {
    let url = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL (GRIDWATCH_TEST_POSTGRES)");
    let mut opts = StoreOptions::new(url.clone());
    opts.max_connections = 4;
    let store = Store::open(&opts).await.expect("the database opens");
    (url, store)
}

async fn add_cameras(store: &Store, n: usize, url: impl Fn(usize) -> String) -> Vec<String> {
    let mut ids = vec![];
    for i in 1..=n {
        let new: NewCamera = serde_json::from_value(serde_json::json!({
            "name": format!("cam{i}"), "rtsp_url": url(i), "record": "off",
        }))
        .unwrap();
        ids.push(store.create_camera(new, Utc::now()).await.unwrap().id);
    }
    ids
}

/// Leases held now, by worker.
async fn held_by(store: &Store, worker: &str) -> usize {
    let leases = store.leases(Utc::now()).await.unwrap();
    leases.iter().filter(|l| l.worker_id == worker).count()
}

async fn until(within: Duration, mut done: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if done().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn worker_env(id: &str, max: usize, pace: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GRIDWATCH_INGEST__WORKER_ID", id.to_string()),
        ("GRIDWATCH_INGEST__MAX_CAMERAS", max.to_string()),
        // A closed port: sessions fail at once and back off for long.
        ("GRIDWATCH_CAMERAS__BACKOFF_INITIAL_MS", "30000".into()),
        ("GRIDWATCH_CAMERAS__BACKOFF_MAX_MS", "60000".into()),
    ];
    env.extend(pace.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

async fn assignment(n: usize, label: &str, pace: &[(&'static str, &str)]) {
    let (db, store) = fresh_db().await;
    add_cameras(&store, n, |i| format!("rtsp://127.0.0.1:9/cam{i}")).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let started = Instant::now();
    let w1 = spawn("ingest", &db, dirs[0].path(), &worker_env("w1", n, pace)).await;
    let w2 = spawn("ingest", &db, dirs[1].path(), &worker_env("w2", n, pace)).await;
    let took = until(Duration::from_secs(180), async || {
        store.leases(Utc::now()).await.unwrap().len() == n
    })
    .await;
    let total = started.elapsed();
    let (a, b) = (held_by(&store, "w1").await, held_by(&store, "w2").await);
    match took {
        Some(_) => println!(
            "assignment, {label}: {n} cameras leased {:.1} s after the workers started = {:.0} cameras/s ({a} on w1, {b} on w2)",
            total.as_secs_f64(),
            n as f64 / total.as_secs_f64()
        ),
        None => println!("assignment, {label}: not all {n} leased within 180 s ({a} + {b})"),
    }
    drop((w1, w2));
    store.close().await;
}

async fn takeover(per_worker: usize) {
    let (db, store) = fresh_db().await;
    let n = 2 * per_worker;
    add_cameras(&store, n, |i| format!("rtsp://127.0.0.1:9/cam{i}")).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let fast = [
        ("GRIDWATCH_INGEST__CLAIM_BATCH", "200"),
        ("GRIDWATCH_INGEST__CLAIM_MS", "200"),
    ];
    let (mut w1, _) = spawn("ingest", &db, dirs[0].path(), &worker_env("w1", n, &fast)).await;
    let _w2 = spawn("ingest", &db, dirs[1].path(), &worker_env("w2", n, &fast)).await;
    let spread = until(Duration::from_secs(60), async || {
        held_by(&store, "w1").await == per_worker && held_by(&store, "w2").await == per_worker
    })
    .await;
    if spread.is_none() {
        println!("takeover: the cameras were not spread {per_worker}/{per_worker} within 60 s");
        return;
    }
    let killed = Instant::now();
    w1.0.kill().unwrap();
    w1.0.wait().unwrap();
    let took = until(Duration::from_secs(60), async || {
        held_by(&store, "w2").await == n
    })
    .await;
    match took {
        Some(_) => println!(
            "takeover: w1 (holding {per_worker}) SIGKILLed; all {per_worker} held by w2 after {:.1} s (lease 15 s, renewed every 5 s, claims every 200 ms)",
            killed.elapsed().as_secs_f64()
        ),
        None => println!("takeover: not all taken over within 60 s"),
    }
    store.close().await;
}

/// Viewers reading `urls` (with `secret` as the worker's header, or a hub token in the URL)
/// for `window`; the bytes they received.
async fn view(urls: Vec<String>, secret: bool, window: Duration) -> u64 {
    let mut tasks = vec![];
    for url in urls {
        tasks.push(tokio::spawn(async move {
            let mut req =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    url.as_str(),
                )
                .unwrap();
            if secret {
                req.headers_mut()
                    .insert("x-gridwatch-worker-secret", SECRET.parse().unwrap());
            }
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
            let mut bytes = 0u64;
            let end = tokio::time::Instant::now() + window;
            while let Ok(Some(Ok(m))) = tokio::time::timeout_at(end, ws.next()).await {
                bytes += m.len() as u64;
            }
            bytes
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

async fn proxy_cost(cameras: usize, viewers: usize, window: Duration) {
    let (db, store) = fresh_db().await;
    let port = free_port();
    let _sim = camsim(cameras, port).expect("camsim starts");
    let ids = add_cameras(&store, cameras, |i| {
        format!("rtsp://127.0.0.1:{port}/cam{i}")
    })
    .await;
    let now = Utc::now();
    let user = store
        .create_user(
            NewUser {
                username: "duty-bench".into(),
                password: "workers-bench-password".into(),
                role: Role::DutyOfficer,
                display_name: None,
                post_id: None,
                grid_id: None,
                phone: None,
                address: None,
            },
            now,
        )
        .await
        .unwrap();
    let token = store
        .open_session(user, chrono::Duration::hours(1), now)
        .await
        .unwrap()
        .token;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (worker, wbase) = spawn(
        "ingest",
        &db,
        dirs[0].path(),
        &worker_env("w1", cameras, &[]),
    )
    .await;
    let hub_env = [("GRIDWATCH_INGEST__MODE", "workers".to_string())];
    let (hub, hbase) = spawn("serve", &db, dirs[1].path(), &hub_env).await;
    let online = until(Duration::from_secs(30), async || {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!("{wbase}/internal/v1/cameras"))
            .header("x-gridwatch-worker-secret", SECRET)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        v["cameras"]
            .as_array()
            .is_some_and(|c| c.len() == cameras && c.iter().all(|c| c["status"] == "online"))
    })
    .await;
    if online.is_none() {
        println!("proxy cost: {cameras} cameras not online on the worker within 30 s");
        return;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ws = |base: &str| base.replacen("http", "ws", 1);
    let direct: Vec<String> = (0..viewers)
        .map(|v| {
            format!(
                "{}/internal/v1/cameras/{}/live",
                ws(&wbase),
                ids[v % cameras]
            )
        })
        .collect();
    let proxied: Vec<String> = (0..viewers)
        .map(|v| {
            format!(
                "{}/api/v1/cameras/{}/live?token={token}",
                ws(&hbase),
                ids[v % cameras]
            )
        })
        .collect();
    let (hpid, wpid) = (hub.0.id(), worker.0.id());
    let cpu = || cpu_time(hpid) + cpu_time(wpid);
    let minutes = viewers as f64 * window.as_secs_f64() / 60.0;
    let mut figures = vec![];
    for (label, urls, secret) in [
        ("direct to the worker", direct, true),
        ("through the hub", proxied, false),
    ] {
        let (before, hub_before) = (cpu(), cpu_time(hpid));
        let bytes = view(urls, secret, window).await;
        let (spent, hub_spent) = (cpu() - before, cpu_time(hpid) - hub_before);
        let per = spent.as_secs_f64() / minutes;
        println!(
            "proxy cost, {viewers} viewers of {cameras} cameras, {label}: {:.3} CPU-s per stream-minute (hub {:.3}), {:.1} Mbit/s received",
            per,
            hub_spent.as_secs_f64() / minutes,
            bytes as f64 * 8.0 / window.as_secs_f64() / 1e6
        );
        figures.push(per);
    }
    println!(
        "proxy cost: through the hub {:.2}x direct ({:+.3} CPU-s per stream-minute per viewer)",
        figures[1] / figures[0].max(f64::EPSILON),
        figures[1] - figures[0]
    );
    drop((hub, worker));
    store.close().await;
}

#[tokio::main]
async fn main() {
    let cameras = env_usize("WORKERS_BENCH_CAMERAS", 1000);
    let per_worker = env_usize("WORKERS_BENCH_TAKEOVER", 100);
    let viewers = env_usize("WORKERS_BENCH_VIEWERS", 16);
    let window = Duration::from_secs(env_usize("WORKERS_BENCH_SECONDS", 15) as u64);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "ingest workers ({}; load {})",
        binary().display(),
        load.trim()
    );
    assignment(
        cameras,
        "default pace (20 per claim, a claim a second)",
        &[],
    )
    .await;
    assignment(
        cameras,
        "fast pace (200 per claim, every 200 ms)",
        &[
            ("GRIDWATCH_INGEST__CLAIM_BATCH", "200"),
            ("GRIDWATCH_INGEST__CLAIM_MS", "200"),
        ],
    )
    .await;
    takeover(per_worker).await;
    proxy_cost(4, viewers, window).await;
}
