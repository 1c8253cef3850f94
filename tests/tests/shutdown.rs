//! SIGTERM under load: the hub stops in order (HTTP, MQTT, cameras, components, then the
//! store; `gridwatch_hub::lifecycle`), exits 0, and every SOS it answered 201 is in the
//! database. On SQLite and on PostgreSQL.

use crate::support;

use serde_json::json;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Devices, one per press (a repeat press would return the open incident).
const DEVICES: usize = 300;
/// SIGTERM is sent once this many presses have been answered 201.
const TERM_AFTER: usize = 100;
/// Concurrent clients pressing.
const CLIENTS: usize = 16;
/// How long the hub may take to stop: HTTP drains, then the components' grace (10 s).
const EXIT_WITHIN: Duration = Duration::from_secs(25);

/// One hub process; SIGKILLed if dropped still running (a failed test).
struct Hub {
    child: Child,
    base: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn serve(dir: &Path, db: &str) -> Hub {
    let port = support::free_port();
    let mut c = support::command(dir);
    c.arg("serve")
        .env("GRIDWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .env("GRIDWATCH_DATABASE_URL", db)
        .env("GRIDWATCH_LOG__FILTER", "error")
        .stdout(Stdio::null());
    let hub = Hub {
        child: c.spawn().expect("gridwatch starts"),
        base: format!("http://127.0.0.1:{port}"),
    };
    support::wait_ready(&hub.base).await;
    hub
}

/// Device tokens of a fresh community: one post, one grid, [`DEVICES`] buttons.
async fn buttons(client: &reqwest::Client, base: &str, admin: &str) -> Vec<String> {
    let post = support::json(
        client
            .post(format!("{base}/api/v1/posts"))
            .bearer_auth(admin)
            .json(&json!({"name": "一号警务室", "lat": 31.2, "lon": 121.4})),
    )
    .await;
    let grid = support::json(
        client
            .post(format!("{base}/api/v1/grids"))
            .bearer_auth(admin)
            .json(&json!({"name": "一网格", "post_chain": [post["id"]]})),
    )
    .await;
    let mut tokens = Vec::with_capacity(DEVICES);
    for n in 0..DEVICES {
        let d = support::json(
            client
                .post(format!("{base}/api/v1/devices"))
                .bearer_auth(admin)
                .json(&json!({"name": format!("button {n}"), "grid_id": grid["id"]})),
        )
        .await;
        tokens.push(d["token"].as_str().expect("a device token").to_string());
    }
    tokens
}

async fn sigterm_under_load(db: String) {
    let dir = tempfile::tempdir().unwrap();
    support::add_user(dir.path(), Some(&db), "chief", "admin", "chief-password");
    let mut hub = serve(dir.path(), &db).await;
    let client = reqwest::Client::new();
    let login = support::json(
        client
            .post(format!("{}/api/v1/auth/login", hub.base))
            .json(&json!({"username": "chief", "password": "chief-password"})),
    )
    .await;
    let admin = login["token"].as_str().expect("a token").to_string();
    let tokens = Arc::new(buttons(&client, &hub.base, &admin).await);

    // SOS at full speed from CLIENTS tasks, each device pressing once.
    let mut load = support::SosLoad::start(&client, &hub.base, tokens, CLIENTS);
    let (next, created, other) = (load.next.clone(), load.created.clone(), load.other.clone());
    let started = Instant::now();
    while load.answered() < TERM_AFTER {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} presses answered in 60 s; others: {:?}",
            created.lock().unwrap().len(),
            other.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (status, stopping) = support::terminate(&mut hub.child, EXIT_WITHIN).await;
    assert!(status.success(), "exit after SIGTERM under load: {status}");
    load.join().await;

    let created = created.lock().unwrap().clone();
    let other = other.lock().unwrap().clone();
    // Every press the hub took was answered 2xx; a 503 would be a press the stopping hub
    // refused after taking it.
    assert!(other.is_empty(), "presses not answered 2xx: {other:?}");
    let pressed = next.load(Ordering::SeqCst).min(DEVICES);
    assert!(
        pressed < DEVICES,
        "SIGTERM came after every press had been answered"
    );

    let mut opts = gridwatch_store::StoreOptions::new(db.clone());
    opts.max_connections = 2;
    let store = gridwatch_store::Store::open(&opts).await.unwrap();
    let mut missing = vec![];
    for id in &created {
        if store.incident(id).await.is_err() {
            missing.push(id.clone());
        }
    }
    store.close().await;
    assert!(
        missing.is_empty(),
        "{} of {} SOS answered 2xx are not in the database: {missing:?}",
        missing.len(),
        created.len()
    );
    eprintln!(
        "{db}: {} SOS answered 2xx, SIGTERM, exit 0 after {stopping:?}; all stored",
        created.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_sos_load_exits_cleanly_with_every_answered_sos_stored_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gridwatch.db").display());
    sigterm_under_load(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_sos_load_exits_cleanly_with_every_answered_sos_stored_on_postgresql() {
    let db = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL for the tests");
    sigterm_under_load(db).await;
}
