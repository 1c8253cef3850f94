//! What the hub's benchmarks with simulated cameras share (`live_ws`, `recording`): the hub as
//! a child process (this bench binary re-executed, `GRIDWATCH_BENCH_HUB`) running exactly what
//! `gridwatch serve` runs on a fresh SQLite store, and a client for its API that registers the
//! simulator's cameras and waits for them. A child of its own, so that the CPU read from
//! `/proc` is the hub's alone, not the simulator's or the measuring clients'.

use std::io::Write;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::support::{spawn_self, stop_child, wait_for_stdin_close};

/// The variable that makes this binary the hub child, set to its data directory.
const HUB: &str = "GRIDWATCH_BENCH_HUB";

/// In the hub child: serves until stdin closes, then returns true; elsewhere false at once.
pub fn hub_child() -> bool {
    let Ok(dir) = std::env::var(HUB) else {
        return false;
    };
    run_hub(Path::new(&dir));
    true
}

/// The hub child: a fresh SQLite store with an admin session, the hub as `gridwatch serve`
/// runs it (defaults and the `GRIDWATCH_…` variables the parent set); prints `ADDR TOKEN` and
/// serves until stdin closes.
fn run_hub(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = gridwatch_store::testing::fresh_store(gridwatch_store::Backend::Sqlite, dir)
            .await
            .expect("store");
        let now = chrono::Utc::now();
        let user = store
            .create_user(
                serde_json::from_value(
                    json!({"username": "bench", "password": "bench-password", "role": "admin"}),
                )
                .expect("user"),
                now,
            )
            .await
            .expect("user");
        let token = store
            .open_session(user, chrono::Duration::hours(4), now)
            .await
            .expect("session")
            .token;
        let config = gridwatch_hub::Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.to_path_buf(),
            ..gridwatch_hub::Config::load(None).expect("configuration")
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = gridwatch_hub::server::start(config, store, async {
            let _ = stopped.await;
        })
        .await
        .expect("hub starts");
        println!("{} {token}", running.addr);
        let _ = std::io::stdout().flush();
        let _ = tokio::task::spawn_blocking(wait_for_stdin_close).await;
        drop(stop);
        let _ = tokio::time::timeout(Duration::from_secs(30), running.task).await;
    });
}

/// The hub child and a client for its API.
pub struct Hub {
    child: Child,
    pub pid: String,
    pub base: String,
    ws: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Hub {
    /// Starts the hub child on the data directory `dir`, with `env` (configuration through
    /// `GRIDWATCH_SECTION__FIELD`).
    pub fn start(dir: &Path, env: &[(&str, String)]) -> Hub {
        let (child, line) = spawn_self(HUB, &dir.display().to_string(), env);
        let (addr, token) = line.split_once(' ').expect("ADDR TOKEN");
        Hub {
            pid: child.id().to_string(),
            child,
            base: format!("http://{addr}"),
            ws: format!("ws://{addr}"),
            token: token.to_string(),
            // Idle connections given up before the hub's header-read timeout (10 s) closes
            // them: a request on a connection the hub is closing at that instant is reset.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(5))
                .build()
                .expect("HTTP client"),
        }
    }

    /// An API call as the admin; panics unless it succeeds.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("hub answers");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// The live WebSocket of a camera, with `query` (e.g. `from=…`) added.
    pub fn live_url(&self, id: &str, query: &str) -> String {
        let extra = if query.is_empty() {
            String::new()
        } else {
            format!("&{query}")
        };
        format!(
            "{}/api/v1/cameras/{id}/live?token={}{extra}",
            self.ws, self.token
        )
    }

    /// Registers a camera per URL (`POST /api/v1/cameras` with `fields` added) and waits until
    /// all are online (or 60 s); their IDs.
    pub async fn add_cameras(&self, urls: &[String], fields: Value) -> Vec<String> {
        let mut ids = Vec::new();
        for (n, url) in urls.iter().enumerate() {
            let mut body = json!({"name": format!("bench {n}"), "rtsp_url": url});
            if let (Some(b), Some(extra)) = (body.as_object_mut(), fields.as_object()) {
                b.extend(extra.clone());
            }
            let cam = self
                .call(reqwest::Method::POST, "/api/v1/cameras", Some(body))
                .await;
            ids.push(cam["id"].as_str().expect("camera id").to_string());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list = self
                .call(reqwest::Method::GET, "/api/v1/cameras", None)
                .await;
            let online = list
                .as_array()
                .expect("a list")
                .iter()
                .filter(|c| c["status"] == "online")
                .count();
            if online == ids.len() {
                break;
            }
            if Instant::now() > deadline {
                eprintln!("only {online} of {} cameras online after 60 s", ids.len());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ids
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn stop(mut self) {
        stop_child(&mut self.child);
    }
}
