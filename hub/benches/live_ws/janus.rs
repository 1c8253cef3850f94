//! Janus in `live_ws` (issue 14): the same cameras relayed to WebRTC by Janus (Debian's
//! `janus` package), the baseline for the hub's WebRTC path. Janus' streaming plugin pulls
//! each camera's RTSP (one `rtsp` mountpoint per camera; Janus asks for RTP over UDP, the hub
//! for TCP interleaved) and sends it to each viewer without transcoding, as the hub does. The
//! viewers are the same str0m peers as the hub's (`gridwatch_client::webrtc::Receiver`),
//! signalled through Janus' HTTP API (create a session, attach the streaming plugin, `watch`,
//! answer Janus' offer, `start`). Janus is a child with only the streaming plugin and the HTTP
//! transport loaded, so its CPU from `/proc` is the relay's alone.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gridwatch_client::webrtc::{Connection, Receiver};
use serde_json::{json, Value};

use super::support::Simulator;
use super::webrtc::{window, Viewer, WebRtcFigures};

/// Janus' plugins and transports as Debian installs them.
const LIBRARY_GLOB: &str = "/usr/lib/*/janus";

/// Measures Janus relaying every camera of `sim` to one viewer each; why not, if it cannot
/// (Janus not installed, not answering).
pub async fn measure(sim: &Simulator, seconds: u64, ticks: f64) -> Result<WebRtcFigures, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut janus = Janus::start(dir.path(), &sim.urls)?;
    let result = async {
        janus.wait_until_ready().await?;
        let mut viewers = Vec::new();
        for id in 1..=sim.urls.len() {
            match janus.watch(id).await {
                Ok(v) => viewers.push(v),
                Err(e) => eprintln!("janus viewer of mountpoint {id}: {e}"),
            }
        }
        let figures = window(&janus.pid(), sim.urls.len(), viewers, seconds, ticks).await;
        if figures.fps_per_viewer == 0.0 {
            return Err(format!(
                "no frame reached a viewer through janus; its log ends:\n{}",
                log_tail(&dir.path().join("janus.log"))
            ));
        }
        Ok(figures)
    }
    .await;
    janus.stop();
    result
}

struct Janus {
    child: Child,
    api: String,
    http: reqwest::Client,
}

impl Viewer for Connection {
    async fn frame(&mut self) -> bool {
        self.next_frame().await.is_some()
    }
}

impl Janus {
    /// Writes a configuration into `dir` (mountpoint N = camera N, from 1) and starts Janus.
    fn start(dir: &Path, urls: &[String]) -> Result<Janus, String> {
        let library = library()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        // Only what is measured is loaded: symlinks to the streaming plugin and the HTTP
        // transport, empty folders for event handlers and loggers.
        let folder = |name: &str, only: &[&str]| -> Result<PathBuf, String> {
            let path = dir.join(name);
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            for file in only {
                std::os::unix::fs::symlink(library.join(name).join(file), path.join(file))
                    .map_err(|e| format!("{file}: {e}"))?;
            }
            Ok(path)
        };
        let plugins = folder("plugins", &["libjanus_streaming.so"])?;
        let transports = folder("transports", &["libjanus_http.so"])?;
        let events = folder("events", &[])?;
        let loggers = folder("loggers", &[])?;
        let conf = folder("conf", &[])?;
        let write = |name: &str, text: String| {
            std::fs::write(conf.join(name), text).map_err(|e| format!("{name}: {e}"))
        };
        write(
            "janus.jcfg",
            format!(
                "general: {{\n  configs_folder = \"{}\"\n  plugins_folder = \"{}\"\n  \
                 transports_folder = \"{}\"\n  events_folder = \"{}\"\n  loggers_folder = \"{}\"\n  \
                 debug_level = 3\n  session_timeout = 0\n}}\n\
                 media: {{\n  rtp_port_range = \"40000-60000\"\n}}\n",
                conf.display(),
                plugins.display(),
                transports.display(),
                events.display(),
                loggers.display(),
            ),
        )?;
        write(
            "janus.transport.http.jcfg",
            format!(
                "general: {{\n  json = \"compact\"\n  base_path = \"/janus\"\n  http = true\n  \
                 port = {port}\n  ip = \"127.0.0.1\"\n  https = false\n}}\n\
                 admin: {{\n  admin_http = false\n}}\n"
            ),
        )?;
        let mut streaming = String::from("general: {\n}\n");
        for (n, url) in urls.iter().enumerate() {
            streaming.push_str(&format!(
                "cam{id}: {{\n  type = \"rtsp\"\n  id = {id}\n  description = \"camera {id}\"\n  \
                 audio = false\n  video = true\n  url = \"{url}\"\n  rtsp_reconnect_delay = 5\n  \
                 rtsp_session_timeout = 0\n}}\n",
                id = n + 1
            ));
        }
        write("janus.plugin.streaming.jcfg", streaming)?;
        let log = std::fs::File::create(dir.join("janus.log")).map_err(|e| e.to_string())?;
        let child = Command::new("janus")
            .arg("--config")
            .arg(conf.join("janus.jcfg"))
            .arg("--configs-folder")
            .arg(&conf)
            .arg("--disable-colors")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("janus does not start ({e}): apt-get install janus"))?;
        Ok(Janus {
            child,
            api: format!("http://127.0.0.1:{port}/janus"),
            http: reqwest::Client::new(),
        })
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Waits for the API to answer (Janus reads its mountpoints' RTSP descriptions before).
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("janus exited: {status} (see its janus.log)"));
            }
            if let Ok(r) = self.http.get(format!("{}/info", self.api)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("janus did not answer within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A Janus API request; its answer, unless Janus reports an error.
    async fn call(&self, path: &str, body: Value) -> Result<Value, String> {
        let answer = json_of(self.http.post(format!("{}{path}", self.api)).json(&body)).await?;
        if answer["janus"] == "error" {
            return Err(answer["error"].to_string());
        }
        Ok(answer)
    }

    /// A new session watching mountpoint `id`, connected.
    async fn watch(&self, id: usize) -> Result<Connection, String> {
        let t = |s: &str| format!("{s}-{id}");
        let session = self
            .call("", json!({"janus": "create", "transaction": t("create")}))
            .await?["data"]["id"]
            .as_u64()
            .ok_or("no session id")?;
        let handle = self
            .call(
                &format!("/{session}"),
                json!({"janus": "attach", "plugin": "janus.plugin.streaming", "transaction": t("attach")}),
            )
            .await?["data"]["id"]
            .as_u64()
            .ok_or("no handle id")?;
        let path = format!("/{session}/{handle}");
        self.call(
            &path,
            json!({"janus": "message", "transaction": t("watch"), "body": {"request": "watch", "id": id}}),
        )
        .await?;
        // Janus' offer comes as an event on the session's long poll.
        let deadline = Instant::now() + Duration::from_secs(15);
        let offer = loop {
            if Instant::now() > deadline {
                return Err("no offer from janus within 15 s".into());
            }
            let events = json_of(self.http.get(format!("{}/{session}?maxev=10", self.api))).await?;
            let events = match events {
                Value::Array(list) => list,
                one => vec![one],
            };
            if let Some(sdp) = events
                .iter()
                .find_map(|e| e["jsep"]["sdp"].as_str().map(str::to_string))
            {
                break sdp;
            }
        };
        // Janus gathers no loopback candidate: the peer listens where Janus does.
        let near = host_candidate(&offer).ok_or("no IPv4 host candidate in janus' offer")?;
        let mut peer = Receiver::bind(near).map_err(|e| e.to_string())?;
        let answer = peer.answer(&offer).map_err(|e| e.to_string())?;
        self.call(
            &path,
            json!({"janus": "message", "transaction": t("start"), "body": {"request": "start"},
                   "jsep": {"type": "answer", "sdp": answer}}),
        )
        .await?;
        self.call(
            &path,
            json!({"janus": "trickle", "transaction": t("trickle"), "candidate": {"completed": true}}),
        )
        .await?;
        peer.start().map_err(|e| e.to_string())
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request's JSON answer.
async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    response.json().await.map_err(|e| e.to_string())
}

/// The address of the first IPv4 host candidate in an SDP
/// (`a=candidate:1 1 udp 2015363327 192.0.2.2 48564 typ host`).
fn host_candidate(sdp: &str) -> Option<IpAddr> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .filter_map(|l| l.split_whitespace().nth(4)?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
}

/// The last lines of Janus' log, for a failure's message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Where Debian put Janus' plugins and transports.
fn library() -> Result<PathBuf, String> {
    let parent = Path::new("/usr/lib");
    let found = std::fs::read_dir(parent)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|entry| entry.path().join("janus"))
        .find(|p| p.join("plugins/libjanus_streaming.so").exists());
    found.ok_or_else(|| {
        format!("no {LIBRARY_GLOB}/plugins/libjanus_streaming.so: apt-get install janus")
    })
}
