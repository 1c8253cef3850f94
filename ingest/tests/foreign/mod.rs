//! A camera nobody here wrote (gst-rtsp-server driven from Python, `rtsp_server.py`) and a
//! lossy network in front of it (`relay.rs`), for `tests/foreign_rtsp.rs`.

pub mod quirks;
pub mod relay;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The Python that has GStreamer's introspection bindings (Debian's; a pyenv or venv
/// `python3` first on the PATH usually has not).
const PYTHON: &str = "/usr/bin/python3";

/// How the foreign camera encodes: 320x240 at 25 fps by default.
#[derive(Debug, Clone, Copy)]
pub struct Encoding {
    pub codec: &'static str,
    /// Frames from one keyframe to the next.
    pub key_int: u32,
    pub bitrate_kbps: u32,
    /// GStreamer's `videotestsrc` pattern: `ball` (small frames) or `snow` (noise, which
    /// fills every frame up to the bitrate: many fragments per frame).
    pub pattern: &'static str,
    /// A G.711 A-law sound track as well, listed before the video in the SDP.
    pub audio: bool,
    /// The user and password the camera asks for by Digest authentication (only Digest).
    pub digest: Option<(&'static str, &'static str)>,
}

impl Encoding {
    /// x264, a keyframe a second, 400 kbit/s.
    pub fn h264() -> Encoding {
        Encoding {
            codec: "h264",
            key_int: 25,
            bitrate_kbps: 400,
            pattern: "ball",
            audio: false,
            digest: None,
        }
    }

    /// x265 (open GOP), a keyframe a second, 400 kbit/s.
    pub fn h265() -> Encoding {
        Encoding {
            codec: "h265",
            ..Encoding::h264()
        }
    }
}

/// `rtsp_server.py` serving `rtsp://127.0.0.1:{port}/cam`; dropping it ends the process.
pub struct ForeignCamera {
    pub port: u16,
    child: Child,
    /// Held open: the server exits when it closes.
    _stdin: ChildStdin,
}

impl ForeignCamera {
    /// Starts the server; panics with what to install when it cannot run.
    pub fn start(encoding: Encoding) -> ForeignCamera {
        // From the ingest's tests and the hub's alike (both crates sit in the workspace's root).
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../ingest/tests/foreign/rtsp_server.py"
        );
        let mut command = Command::new(PYTHON);
        command
            .arg(script)
            .args(["--codec", encoding.codec])
            .args(["--key-int", &encoding.key_int.to_string()])
            .args(["--bitrate", &encoding.bitrate_kbps.to_string()])
            .args(["--pattern", encoding.pattern])
            .args(["--audio", if encoding.audio { "pcma" } else { "none" }]);
        if let Some((user, password)) = encoding.digest {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{PYTHON} does not start ({e}): install python3"));
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "rtsp_server.py did not start (said {line:?}): install python3-gi, \
                     gir1.2-gst-rtsp-server-1.0 and GStreamer's x264/x265 plugins \
                     (deploy/setup.sh deps does)"
                )
            });
        ForeignCamera {
            port,
            child,
            _stdin: stdin,
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }
}

impl Drop for ForeignCamera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
