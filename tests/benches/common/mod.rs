//! What the benches share: finding the hub binary, settings from the environment, child
//! processes that die with the bench, a hub started and ready, a one-post, one-grid
//! community with panic buttons,
//! written straight through the store, and the p50/p99/max of a set of delays.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use gridwatch_core::device::NewDevice;
use gridwatch_core::grid::{Grid, NewGrid};
use gridwatch_core::post::{NewPost, Post};
use gridwatch_store::Store;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The hub under test: `GRIDWATCH_BIN`, else `target/release/gridwatch`, else the debug one.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("GRIDWATCH_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    for profile in ["release", "debug"] {
        let bin = target.join(profile).join("gridwatch");
        if bin.exists() {
            return bin;
        }
    }
    panic!("no gridwatch binary: run `cargo build --release --bin gridwatch` first");
}

/// A number from the environment, or the default.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A child process (the hub, a broker), killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `gridwatch camsim` with `n` cameras (`rtsp://127.0.0.1:{port}/cam1` …) in its own process,
/// so that its encoders' CPU is not the hub's.
pub fn camsim(n: usize, port: u16) -> Result<Proc, String> {
    let child = Command::new(binary())
        .args([
            "camsim",
            "--cameras",
            &n.to_string(),
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("camsim does not start: {e}"))?;
    Ok(Proc(child))
}

/// What the end-to-end tests have for running the hub; the benches take `free_port` and the
/// readiness wait from it.
#[path = "../../tests/support/mod.rs"]
mod tests_support;
pub use tests_support::{free_port, wait_ready};

/// `gridwatch serve` on `database_url`, with its data in `dir` and its log in `dir/hub.log`
/// (as it would go to the journal), its defaults and `env` on top: the hub and its base URL,
/// once `/readyz` says it is ready (it panics after 30 s).
pub async fn start_hub(
    dir: &Path,
    database_url: &str,
    env: &[(&str, &str)],
) -> Result<(Proc, String), String> {
    let port = free_port();
    let log = std::fs::File::create(dir.join("hub.log")).map_err(|e| e.to_string())?;
    let hub = Proc(
        Command::new(binary())
            .arg("serve")
            .env_remove("GRIDWATCH_CONFIG")
            .env("GRIDWATCH_DATA_DIR", dir)
            .env("GRIDWATCH_DATABASE_URL", database_url)
            .env("GRIDWATCH_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("gridwatch does not start: {e}"))?,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    Ok((hub, base))
}

/// One post and one grid whose chain is that post.
pub async fn post_and_grid(store: &Store, now: DateTime<Utc>) -> (Post, Grid) {
    let post = store
        .create_post(
            NewPost {
                name: "一号警务室".into(),
                lat: 31.2,
                lon: 121.4,
                phone: None,
            },
            now,
        )
        .await
        .unwrap();
    let grid = store
        .create_grid(
            NewGrid {
                name: "一网格".into(),
                polygon: None,
                post_chain: vec![post.id.clone()],
                response_minutes: None,
                ack_minutes: None,
                at_risk_minutes: None,
            },
            now,
        )
        .await
        .unwrap();
    (post, grid)
}

/// `n` panic buttons of the grid, registered by `workers` tasks at once; their tokens.
pub async fn buttons(store: &Store, grid_id: &str, n: usize, now: DateTime<Utc>) -> Vec<String> {
    let workers = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (store, grid_id) = (store.clone(), grid_id.to_owned());
        tasks.spawn(async move {
            let mut tokens = vec![];
            for i in (w..n).step_by(workers) {
                let new = NewDevice {
                    name: format!("button {i}"),
                    grid_id: grid_id.clone(),
                    lat: None,
                    lon: None,
                    address: None,
                };
                tokens.push(store.create_device(new, now).await.unwrap().1);
            }
            tokens
        });
    }
    let mut tokens = vec![];
    while let Some(t) = tasks.join_next().await {
        tokens.extend(t.unwrap());
    }
    tokens
}

/// p50, p99 and max of a set of delays.
pub struct Spread {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// The spread of `d`, which it sorts: each percentile the value at rank `len × p` (rounded
/// down), and zero for no delays.
pub fn spread(d: &mut [Duration]) -> Spread {
    d.sort_unstable();
    let at = |p: f64| {
        d.get(((d.len() as f64 * p) as usize).min(d.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Spread {
        p50: at(0.50),
        p99: at(0.99),
        max: d.last().copied().unwrap_or_default(),
    }
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: field 14 (utime) and 15 (stime), in clock ticks.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / hz)
}
