//! Running the real `gridwatch` binary for end-to-end tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: `GRIDWATCH_BIN`, or the workspace's debug build (the test command
/// builds it before running the tests).
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("GRIDWATCH_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/gridwatch");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --bin gridwatch` (the README's test command does)",
        bin.display()
    );
    bin
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A hub process, killed when dropped.
pub struct HubProcess {
    pub child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub stdout_path: PathBuf,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn command(dir: &std::path::Path) -> Command {
    let mut c = Command::new(binary());
    c.env("GRIDWATCH_DATA_DIR", dir)
        .env_remove("GRIDWATCH_DATABASE_URL")
        .env_remove("GRIDWATCH_CONFIG")
        .env("GRIDWATCH_LOG__FILTER", "warn");
    c
}

/// Starts `gridwatch <sub>` on a free port with its own data directory and waits until
/// `/readyz` answers 200.
pub async fn start(sub: &str, envs: &[(&str, String)]) -> HubProcess {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let stdout_path = dir.path().join("stdout.txt");
    let mut c = command(dir.path());
    c.arg(sub)
        .env("GRIDWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        c.env(k, v);
    }
    let child = c.spawn().expect("gridwatch starts");
    let hub = HubProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
        stdout_path,
    };
    wait_ready(&hub.base).await;
    hub
}

pub async fn wait_ready(base: &str) {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{base} not ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends the request and reads the answer as JSON.
pub async fn json(req: reqwest::RequestBuilder) -> serde_json::Value {
    let resp = req.send().await.expect("the hub answers");
    resp.json().await.expect("the answer is JSON")
}
