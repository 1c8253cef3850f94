//! Ingest workers as real processes (issue 17): two hubs in `workers` mode, two `gridwatch
//! ingest` workers, PostgreSQL, and 20 simulated cameras. All cameras online and spread over the
//! workers, each with one RTSP session at the simulator; a viewer on either hub sees a camera of
//! either worker; one worker SIGKILLed: its cameras online on the other within 20 s, and its
//! viewer's socket closed, reconnected and playing; restarted with its old name, it takes its share back
//! without a camera ever having two sessions; a worker stopped (SIGSTOP) past its lease has its
//! cameras taken over, and once continued (SIGCONT) ends its own sessions at once; a worker
//! stopped cleanly (SIGTERM) has its cameras online on the other, and is listed as stopped,
//! not gone.
//!
//! The workers record (each into a directory of its own, kept across its restart) through all
//! of it: in the end the index and their disks agree (every row's file there, of its size;
//! every segment file with a row, or set aside as recorded under a lease lost meanwhile), and
//! no moment of a camera is indexed twice — not across the kill, its repair at restart, nor the
//! frozen worker's return.

use crate::support;

use chrono::{DateTime, Utc};
use gridwatch_ingest::camsim::{CamSim, CamSimConfig};
use gridwatch_store::{Store, StoreOptions};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{start, HubProcess};

const SECRET: &str = "cluster-test-secret-0123";
const CAMERAS: usize = 20;
/// Leases shorter than in production, so that the test stays short: the takeover is bounded
/// by the lease, renewed every 2 s.
const LEASE_SECONDS: &str = "6";

fn common_env(db: &str, nats_stream: &str) -> Vec<(&'static str, String)> {
    vec![
        // Hubs and workers on the NATS bus: camera hints reach the workers at once.
        ("GRIDWATCH_STREAM__BUS", "nats".into()),
        ("GRIDWATCH_STREAM__NATS_STREAM", nats_stream.into()),
        ("GRIDWATCH_DATABASE_URL", db.to_string()),
        ("GRIDWATCH_INGEST__SECRET", SECRET.into()),
        ("GRIDWATCH_INGEST__LEASE_SECONDS", LEASE_SECONDS.into()),
        ("GRIDWATCH_INGEST__RENEW_SECONDS", "2".into()),
        ("GRIDWATCH_INGEST__CLAIM_MS", "500".into()),
        ("GRIDWATCH_CAMERAS__BACKOFF_INITIAL_MS", "200".into()),
        ("GRIDWATCH_CAMERAS__BACKOFF_MAX_MS", "1000".into()),
        // Longer than the test: a camera edit reaches a worker by its hint, or not at all.
        ("GRIDWATCH_CAMERAS__RESYNC_SECONDS", "600".into()),
    ]
}

/// Worker `id`, recording into `recordings` in segments of 2 s.
async fn worker(db: &str, nats_stream: &str, id: &str, recordings: &Path) -> HubProcess {
    let mut env = common_env(db, nats_stream);
    env.push(("GRIDWATCH_INGEST__WORKER_ID", id.into()));
    env.push((
        "GRIDWATCH_RECORDING__DIRS",
        recordings.display().to_string(),
    ));
    env.push(("GRIDWATCH_RECORDING__SEGMENT_SECONDS", "2".into()));
    start("ingest", &env).await
}

/// Camera id → state, of every camera a worker holds (empty if it does not answer).
async fn held(w: &HubProcess) -> BTreeMap<String, String> {
    let resp = reqwest::Client::new()
        .get(format!("{}/internal/v1/cameras", w.base))
        .header("x-gridwatch-worker-secret", SECRET)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let Ok(resp) = resp else {
        return BTreeMap::new();
    };
    let v: Value = resp.json().await.unwrap_or_default();
    v["cameras"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let state = c["status"].as_str().unwrap_or("none").to_string();
            (c["camera_id"].as_str().unwrap().to_string(), state)
        })
        .collect()
}

fn online(h: &BTreeMap<String, String>) -> BTreeSet<String> {
    h.iter()
        .filter(|(_, s)| *s == "online")
        .map(|(id, _)| id.clone())
        .collect()
}

/// Most RTSP sessions any camera has at the simulator.
fn most_sessions(sim: &CamSim) -> usize {
    (1..=CAMERAS)
        .map(|n| sim.client_count(n).unwrap())
        .max()
        .unwrap()
}

/// Waits until `done` holds, checking `sim` for a camera with two sessions meanwhile
/// (`twice_ok`: a frozen worker's sessions are expected to linger); returns the time taken.
async fn until<F, Fut>(
    within: Duration,
    sim: &CamSim,
    twice_ok: bool,
    what: &str,
    mut done: F,
) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if done().await {
            return started.elapsed();
        }
        if !twice_ok {
            assert!(
                most_sessions(sim) <= 1,
                "a camera has two RTSP sessions ({what})"
            );
        }
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A live viewer of `camera` through `hub`.
async fn viewer(
    hub: &HubProcess,
    camera: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!(
        "{}/api/v1/cameras/{camera}/live?token={token}",
        hub.base.replacen("http", "ws", 1)
    );
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws
}

/// Whether the viewer gets its init segment (the first message, text) within 5 s.
async fn plays(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> bool {
    let first = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(ws)).await;
    matches!(first, Ok(Some(Ok(m))) if m.is_text())
}

fn signal(w: &HubProcess, sig: i32) {
    // SAFETY: sends a signal to our own child process.
    let r = unsafe { libc::kill(w.child.id() as i32, sig) };
    assert_eq!(r, 0, "signal {sig}");
}

#[tokio::test]
async fn workers_spread_cameras_take_over_and_never_run_one_twice() {
    let test_started = Instant::now();
    let db = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let sim = CamSim::start(CamSimConfig {
        cameras: CAMERAS,
        width: 320,
        height: 240,
        fps: 10,
        key_int: 10,
        bitrate_kbps: 200,
        ..Default::default()
    })
    .expect("camsim starts");
    let dir = tempfile::tempdir().unwrap();
    support::add_user(dir.path(), Some(&db), "ops", "admin", "ops-password");
    let nats_stream = format!(
        "GWINGEST_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut hub_env = common_env(&db, &nats_stream);
    hub_env.push(("GRIDWATCH_INGEST__MODE", "workers".into()));
    let hub = start("serve", &hub_env).await;
    let hub2 = start("serve", &hub_env).await;
    let (rec1, rec2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut w1 = worker(&db, &nats_stream, "w1", rec1.path()).await;
    let mut w2 = worker(&db, &nats_stream, "w2", rec2.path()).await;

    let http = reqwest::Client::new();
    let login: Value = support::json(
        http.post(format!("{}/api/v1/auth/login", hub.base))
            .json(&json!({"username": "ops", "password": "ops-password"})),
    )
    .await;
    let admin = login["token"].as_str().unwrap().to_string();
    let mut ids = BTreeSet::new();
    for (n, url) in sim.urls().iter().enumerate() {
        let cam = support::json(
            http.post(format!("{}/api/v1/cameras", hub.base))
                .bearer_auth(&admin)
                .json(&json!({"name": format!("cam {n}"), "rtsp_url": url})),
        )
        .await;
        ids.insert(cam["id"].as_str().unwrap().to_string());
    }

    // All online, spread over both workers, one session each.
    let took = until(
        Duration::from_secs(20),
        &sim,
        false,
        "all online and spread",
        || async {
            let (a, b) = (online(&held(&w1).await), online(&held(&w2).await));
            a.is_disjoint(&b) && a.len() + b.len() == CAMERAS && !a.is_empty() && !b.is_empty()
        },
    )
    .await;
    let (a, b) = (held(&w1).await, held(&w2).await);
    println!(
        "{CAMERAS} cameras online in {took:?}: {} on w1, {} on w2",
        a.len(),
        b.len()
    );
    assert_eq!(most_sessions(&sim), 1);
    let all: BTreeSet<String> = a.keys().chain(b.keys()).cloned().collect();
    assert_eq!(all, ids);

    // A camera switched off on the second hub stops on its worker at once (the hint; the
    // resync is 10 minutes away), and switched on again, plays again.
    let edited = b.keys().next().unwrap().clone();
    let set_enabled = |enabled: bool| {
        let (http, url, admin) = (
            http.clone(),
            format!("{}/api/v1/cameras/{edited}", hub2.base),
            admin.clone(),
        );
        async move {
            let r = http
                .patch(url)
                .bearer_auth(admin)
                .json(&json!({ "enabled": enabled }))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    set_enabled(false).await;
    let took = until(
        Duration::from_secs(5),
        &sim,
        false,
        "switched off on w2",
        || async { held(&w2).await.get(&edited).is_some_and(|s| s != "online") },
    )
    .await;
    println!("camera switched off on a hub: stopped on its worker after {took:?}");
    set_enabled(true).await;
    let took = until(
        Duration::from_secs(10),
        &sim,
        false,
        "switched on again",
        || async { online(&held(&w2).await).contains(&edited) },
    )
    .await;
    println!("switched on again: online on its worker after {took:?}");

    // A viewer on either hub sees a camera of either worker.
    for h in [&hub, &hub2] {
        for camera in [a.keys().next().unwrap(), b.keys().next().unwrap()] {
            let mut ws = viewer(h, camera, &admin).await;
            assert!(plays(&mut ws).await, "{camera} through {}", h.base);
        }
    }
    // A viewer (on the second hub) of one of w1's cameras, playing when w1 dies.
    let watched = a.keys().next().unwrap().clone();
    let mut ws = viewer(&hub2, &watched, &admin).await;
    assert!(plays(&mut ws).await);

    // w1 dies hard: its cameras come online on w2.
    let of_w1 = a.len();
    w1.child.kill().unwrap();
    w1.child.wait().unwrap();
    let took = until(
        Duration::from_secs(20),
        &sim,
        false,
        "w1's cameras on w2",
        || async { online(&held(&w2).await) == ids },
    )
    .await;
    println!("w1 SIGKILLed: its {of_w1} cameras online on w2 after {took:?}");
    assert!(took < Duration::from_secs(20));
    // The viewer's socket was closed when w1 died (it may have had frames queued first); the
    // page reconnects, through the same hub, to the camera now on w2, and plays.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match futures::StreamExt::next(&mut ws).await {
                None | Some(Err(_)) => break,
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the viewer of a dead worker's camera is told"
    );
    let mut ws = viewer(&hub2, &watched, &admin).await;
    assert!(
        plays(&mut ws).await,
        "the viewer plays again after the takeover"
    );
    drop(ws);

    // w1 restarted under its old name: it takes its share back, a camera never run twice.
    w1 = worker(&db, &nats_stream, "w1", rec1.path()).await;
    let took = until(
        Duration::from_secs(20),
        &sim,
        false,
        "w1 takes its share back",
        || async {
            let (a, b) = (online(&held(&w1).await), online(&held(&w2).await));
            a.len() == CAMERAS / 2 && b.len() == CAMERAS / 2
        },
    )
    .await;
    println!("w1 restarted: cameras spread again after {took:?}");
    assert_eq!(most_sessions(&sim), 1);

    // w2 frozen past its lease: w1 takes everything (w2's frozen sessions linger meanwhile);
    // continued, w2 finds its leases ran out and ends its sessions.
    signal(&w2, libc::SIGSTOP);
    let took = until(
        Duration::from_secs(20),
        &sim,
        true,
        "w2's cameras on w1",
        || async { online(&held(&w1).await) == ids },
    )
    .await;
    println!("w2 SIGSTOPped: its cameras online on w1 after {took:?}");
    signal(&w2, libc::SIGCONT);
    let took = until(
        Duration::from_secs(10),
        &sim,
        true,
        "w2 ends its sessions",
        || async { most_sessions(&sim) == 1 },
    )
    .await;
    println!("w2 SIGCONTed: its stale sessions ended after {took:?}");
    // And it takes its share back as a new member, never a camera twice.
    let took = until(
        Duration::from_secs(20),
        &sim,
        false,
        "spread again",
        || async {
            let (a, b) = (online(&held(&w1).await), online(&held(&w2).await));
            a.is_disjoint(&b) && a.len() + b.len() == CAMERAS && a.len() == b.len()
        },
    )
    .await;
    println!("w2 back: cameras spread again after {took:?}");

    // The hub reports both workers live, and no camera unassigned.
    let o = support::json(
        http.get(format!("{}/api/v1/ingest/workers", hub.base))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(o["unassigned"], 0, "{o}");

    // w1 stops cleanly (SIGTERM): it gives its cameras back and says it stopped, so w2 takes
    // them at its next claim (before, w2 counted w1 until its last renewal was a lease old
    // and kept to half), and w1 is "stopped", not "gone": nothing to alarm the centre.
    let (status, exited) = support::terminate(&mut w1.child, Duration::from_secs(30)).await;
    assert!(status.success(), "w1's exit: {status}");
    let took = until(
        Duration::from_secs(20),
        &sim,
        false,
        "w1's cameras on w2 after its clean stop",
        || async { online(&held(&w2).await) == ids },
    )
    .await;
    println!(
        "w1 SIGTERMed: exited after {exited:?}, its cameras online on w2 {took:?} later \
         (lease {LEASE_SECONDS} s)"
    );
    let o = support::json(
        http.get(format!("{}/api/v1/ingest/workers", hub.base))
            .bearer_auth(&admin),
    )
    .await;
    let state = |id: &str| {
        o["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id)
            .map(|w| w["state"].clone())
    };
    assert_eq!(state("w1"), Some(json!("stopped")), "{o}");
    assert_eq!(state("w2"), Some(json!("live")), "{o}");
    assert_eq!(o["unassigned"], 0, "{o}");
    let ready = support::json(http.get(format!("{}/readyz", hub.base))).await;
    assert_eq!(ready["ingest"]["gone"], json!([]), "{ready}");

    // w2 stops too (its open segments finished and indexed); what both recorded is checked
    // against the index.
    let (status, _) = support::terminate(&mut w2.child, Duration::from_secs(30)).await;
    assert!(status.success(), "w2's exit: {status}");
    check_recordings(&db, &ids, [rec1.path(), rec2.path()]).await;
    drop(hub2);
    drop(hub);
    println!("cluster test took {:?}", test_started.elapsed());
}

/// The index against the workers' directories: every row's file is there with its size, every
/// segment file has its row (or was set aside as `*.fenced`), and no camera's rows overlap.
async fn check_recordings(db: &str, cameras: &BTreeSet<String>, dirs: [&Path; 2]) {
    let mut opts = StoreOptions::new(db.to_string());
    opts.max_connections = 2;
    let store = Store::open(&opts).await.unwrap();
    let (mut indexed, mut rows) = (BTreeSet::new(), 0);
    for camera in cameras {
        let segments = store
            .recording_segments(
                camera,
                "main",
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
            )
            .await
            .unwrap();
        assert!(segments.len() >= 3, "{camera}: {} segments", segments.len());
        for pair in segments.windows(2) {
            assert!(
                pair[1].start >= pair[0].end,
                "{camera} indexed twice: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
        for s in &segments {
            let dir = store
                .recording_dir(&s.dir_id)
                .await
                .unwrap()
                .expect("its dir");
            let file = Path::new(&dir.path).join(&s.path);
            let len = std::fs::metadata(&file).map(|m| m.len());
            assert_eq!(len.ok(), Some(s.bytes), "{}", file.display());
            indexed.insert(file);
        }
        rows += segments.len();
    }
    let (mut on_disk, mut fenced) = (BTreeSet::new(), 0);
    for dir in dirs {
        files_under(dir, &mut on_disk, &mut fenced);
    }
    assert_eq!(on_disk, indexed, "every segment file has its row");
    store.close().await;
    println!(
        "recordings: {rows} rows, each file on its worker's disk; {fenced} set aside as fenced"
    );
}

/// The `.mp4` files under `dir` (into `files`), and how many `.fenced` ones.
fn files_under(dir: &Path, files: &mut BTreeSet<PathBuf>, fenced: &mut usize) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, files, fenced);
        } else if path.extension().is_some_and(|e| e == "mp4") {
            files.insert(path);
        } else if path.extension().is_some_and(|e| e == "fenced") {
            *fenced += 1;
        }
    }
}
