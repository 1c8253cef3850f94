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

impl HubProcess {
    /// What the process has printed once it contains `needle`. `/readyz` answers as soon as
    /// the server listens, which can be before `main` prints its banner, so a test that reads
    /// the banner waits for its last line rather than reading the file at once.
    pub async fn printed_until(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let printed = std::fs::read_to_string(&self.stdout_path).unwrap_or_default();
            if printed.contains(needle) {
                return printed;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{needle:?} not printed within 30 s; printed so far:\n{printed}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sends SIGTERM to `child` and waits for it to exit, at most `within` (else panics): its exit
/// status and how long it took.
pub async fn terminate(
    child: &mut Child,
    within: Duration,
) -> (std::process::ExitStatus, Duration) {
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "SIGTERM sent");
    let termed = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, termed.elapsed());
        }
        assert!(
            termed.elapsed() < within,
            "no exit within {within:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// `gridwatch user add` with the password on standard input, on the database `GRIDWATCH_DATABASE_URL`
/// names (`None`: the data directory's SQLite); returns the user it printed.
pub fn add_user(
    dir: &std::path::Path,
    database_url: Option<&str>,
    username: &str,
    role: &str,
    password: &str,
) -> serde_json::Value {
    use std::io::Write;
    let mut c = command(dir);
    if let Some(url) = database_url {
        c.env("GRIDWATCH_DATABASE_URL", url);
    }
    let mut add = c
        .args(["user", "add", "--username", username, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(out.status.success(), "user add {username}");
    serde_json::from_slice(&out.stdout).expect("user add prints the user")
}

/// A metric's value in the hub's `/metrics`.
pub async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// SOS at full speed: `clients` tasks press in turn with each token once, until the tokens run
/// out or the hub stops answering (a refused or broken connection ends a client).
pub struct SosLoad {
    /// The index of the next token to press with (past the last: every token was used).
    pub next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The incidents of the presses answered 201.
    pub created: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Every other answer, as `status body`.
    pub other: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub tasks: tokio::task::JoinSet<()>,
}

impl SosLoad {
    pub fn start(
        client: &reqwest::Client,
        base: &str,
        tokens: std::sync::Arc<Vec<String>>,
        clients: usize,
    ) -> SosLoad {
        use std::sync::atomic::Ordering;
        let mut load = SosLoad {
            next: Default::default(),
            created: Default::default(),
            other: Default::default(),
            tasks: tokio::task::JoinSet::new(),
        };
        for _ in 0..clients {
            let (client, base) = (client.clone(), base.to_string());
            let (tokens, next) = (tokens.clone(), load.next.clone());
            let (created, other) = (load.created.clone(), load.other.clone());
            load.tasks.spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let Some(token) = tokens.get(n) else { break };
                    let sent = client
                        .post(format!("{base}/api/v1/sos"))
                        .bearer_auth(token)
                        .json(&serde_json::json!({"note": format!("press {n}")}))
                        .send()
                        .await;
                    let Ok(resp) = sent else { break };
                    let status = resp.status();
                    let Ok(body) = resp.json::<serde_json::Value>().await else {
                        break;
                    };
                    if status == 201 {
                        let id = body["incident"]["id"].as_str().unwrap().to_string();
                        created.lock().unwrap().push(id);
                    } else {
                        other.lock().unwrap().push(format!("{status} {body}"));
                    }
                }
            });
        }
        load
    }

    /// How many presses were answered 201 so far.
    pub fn answered(&self) -> usize {
        self.created.lock().unwrap().len()
    }

    /// Waits for every client to end.
    pub async fn join(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}
