//! The notification outbox survives a SIGKILL (issue 18): SOS raised while the receiver is
//! down leave their notifications owed; the hub is killed with all of them pending; after the
//! restart, with the receiver back, every one is delivered, and the receiver never accepts the
//! same idempotency key twice. On SQLite and on PostgreSQL.

use crate::support;

use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Panic buttons, one SOS each.
const PRESSES: usize = 20;

/// A webhook receiver: answers 503 while down, 200 while up, and counts each key it accepted.
#[derive(Default)]
struct Receiver {
    up: AtomicBool,
    accepted: Mutex<HashMap<String, usize>>,
    refused: Mutex<usize>,
}

impl Receiver {
    async fn start() -> (Arc<Receiver>, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let rx = Arc::new(Receiver::default());
        let me = rx.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(me.clone().answer(tcp));
            }
        });
        (rx, url)
    }

    /// Reads one request (head and `content-length` body), answers, closes.
    async fn answer(self: Arc<Self>, mut tcp: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let Ok(n) = tcp.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let key = header("idempotency-key").unwrap_or_default();
        let status = if self.up.load(Ordering::SeqCst) {
            *self.accepted.lock().unwrap().entry(key).or_default() += 1;
            "200 OK"
        } else {
            *self.refused.lock().unwrap() += 1;
            "503 Service Unavailable"
        };
        let _ = tcp
            .write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await;
    }
}

struct Hub {
    child: Child,
    base: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, hook: &str) -> std::path::PathBuf {
    let path = dir.join("gridwatch.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[notify]
console_url = "https://hub.example"

[notify.retry]
max_attempts = 30
base_seconds = 1
max_seconds = 2
jitter_percent = 0

[notify.channels.hook]
kind = "webhook"
secret = "a-secret-of-sixteen-or-more"

[[notify.rules]]
name = "every-sos"
on = ["incident.raised"]
to = {{ address = "{hook}" }}
channel = "hook"
"#
        ),
    )
    .unwrap();
    path
}

async fn serve(dir: &Path, db: &str, config: &Path) -> Hub {
    let port = support::free_port();
    let mut c = support::command(dir);
    c.env("GRIDWATCH_CONFIG", config)
        .arg("serve")
        .env("GRIDWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .env("GRIDWATCH_DATABASE_URL", db)
        .stdout(Stdio::null());
    let hub = Hub {
        child: c.spawn().expect("gridwatch starts"),
        base: format!("http://127.0.0.1:{port}"),
    };
    support::wait_ready(&hub.base).await;
    hub
}

async fn outbox_survives_sigkill(db: String) {
    let dir = tempfile::tempdir().unwrap();
    let (rx, hook) = Receiver::start().await;
    let config = config(dir.path(), &hook);
    support::add_user(dir.path(), Some(&db), "chief", "admin", "chief-password");
    let hub = serve(dir.path(), &db, &config).await;
    let http = reqwest::Client::new();
    let admin = support::json(
        http.post(format!("{}/api/v1/auth/login", hub.base))
            .json(&json!({"username": "chief", "password": "chief-password"})),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let grid = support::json(
        http.post(format!("{}/api/v1/grids", hub.base))
            .bearer_auth(&admin)
            .json(&json!({"name": "一网格"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 0..PRESSES {
        let device = support::json(
            http.post(format!("{}/api/v1/devices", hub.base))
                .bearer_auth(&admin)
                .json(&json!({"name": format!("button {n}"), "grid_id": grid})),
        )
        .await;
        let token = device["token"].as_str().unwrap();
        let r = http
            .post(format!("{}/api/v1/sos", hub.base))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // The receiver is down: wait until every notification has been tried (and refused) at
    // least once, so that all of them are owed in the outbox when the hub dies.
    let started = Instant::now();
    while *rx.refused.lock().unwrap() < PRESSES {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} attempts in 30 s",
            rx.refused.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGKILL: no shutdown, nothing flushed.
    let mut hub = hub;
    hub.child.kill().expect("SIGKILL the hub");
    hub.child.wait().unwrap();
    drop(hub);
    assert!(rx.accepted.lock().unwrap().is_empty());

    // Back up, and the hub restarted on the same database.
    rx.up.store(true, Ordering::SeqCst);
    let hub = serve(dir.path(), &db, &config).await;
    let started = Instant::now();
    while rx.accepted.lock().unwrap().len() < PRESSES {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {PRESSES} delivered after the restart",
            rx.accepted.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A little longer: nothing is sent again once accepted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let accepted = rx.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), PRESSES, "one key per SOS: {accepted:?}");
    assert!(
        accepted.values().all(|&n| n == 1),
        "a key accepted twice: {accepted:?}"
    );
    drop(hub);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_survives_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gridwatch.db").display());
    outbox_survives_sigkill(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_survives_sigkill_on_postgresql() {
    let db = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL");
    outbox_survives_sigkill(db).await;
}
