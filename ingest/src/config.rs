//! What the hub tells ingest about a camera.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::gop::GopLimits;

use crate::quirks::CameraQuirks;
use crate::recording::RecordMode;

/// RTSP username and password, kept apart from the URL so they never end up
/// in logs, status reasons or API answers (`Debug` hides the password).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

impl From<Credentials> for retina::client::Credentials {
    fn from(c: Credentials) -> Self {
        Self {
            username: c.username,
            password: c.password,
        }
    }
}

/// How RTP reaches us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection: passes NAT and firewalls,
    /// no packet loss to handle. The default.
    #[default]
    Tcp,
    /// Separate UDP ports (retina's support is LAN-grade: no reordering).
    Udp,
}

impl Transport {
    pub(crate) fn to_retina(self) -> retina::client::Transport {
        match self {
            Transport::Tcp => retina::client::Transport::Tcp(Default::default()),
            Transport::Udp => retina::client::Transport::Udp(Default::default()),
        }
    }
}

/// Which of a camera's streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// The full-resolution stream, for a focused tile.
    #[default]
    Main,
    /// The low-resolution stream for small tiles; a camera without one
    /// serves its main stream instead.
    Sub,
}

impl Quality {
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Main => "main",
            Quality::Sub => "sub",
        }
    }
}

impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `quality` was neither `main` nor `sub`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quality {0:?}: expected main or sub")]
pub struct UnknownQuality(pub String);

impl std::str::FromStr for Quality {
    type Err = UnknownQuality;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "main" => Ok(Quality::Main),
            "sub" => Ok(Quality::Sub),
            _ => Err(UnknownQuality(s.to_string())),
        }
    }
}

/// One camera as ingest needs it. Two configs that compare equal need no
/// reconnection, which is how [`crate::Cameras::apply`] leaves unchanged
/// cameras alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraConfig {
    /// The hub's camera ID.
    pub id: String,
    /// The main stream. Credentials in the URL are moved into
    /// [`CameraConfig::credentials`] when it has none.
    pub url: Url,
    /// The optional low-resolution stream.
    pub sub_url: Option<Url>,
    pub credentials: Option<Credentials>,
    pub transport: Transport,
    pub quirks: CameraQuirks,
    /// A disabled camera keeps no session and is reported offline.
    pub enabled: bool,
    /// Whether the main stream is recorded (with a recorder; see
    /// [`crate::Cameras::with_recorder`]). Changing it reconnects nothing.
    pub record: RecordMode,
}

impl CameraConfig {
    /// An enabled camera with one stream over TCP and no quirks.
    pub fn new(id: impl Into<String>, url: Url) -> Self {
        Self {
            id: id.into(),
            url,
            sub_url: None,
            credentials: None,
            transport: Transport::Tcp,
            quirks: CameraQuirks::default(),
            enabled: true,
            record: RecordMode::Off,
        }
    }

    /// The session configuration of one of the camera's streams; `None` for
    /// [`Quality::Sub`] without a sub stream.
    pub fn session_config(&self, quality: Quality) -> Option<crate::session::SessionConfig> {
        let url = match quality {
            Quality::Main => &self.url,
            Quality::Sub => self.sub_url.as_ref()?,
        };
        Some(crate::session::SessionConfig {
            url: url.clone(),
            credentials: self.credentials.clone(),
            transport: self.transport,
            quirks: self.quirks.clone(),
        })
    }
}

/// How ingest behaves, for all cameras. The defaults suit real cameras;
/// tests shorten the timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Limit on `DESCRIBE`+`SETUP`+`PLAY` together: a camera that accepts
    /// the connection and never answers must not hold the supervisor.
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// The frame watchdog: no frame for this long is a stall and the
    /// session is dropped and reconnected, whatever the socket says (a hung
    /// TCP connection can stay "open" for hours). Default 5 s.
    pub stall_timeout: Duration,
    /// A new session counts as online once frames have kept coming for this
    /// long, so a camera that sends a frame and hangs does not flap between
    /// online and stalled. Default 500 ms.
    pub online_after: Duration,
    /// First reconnection delay; doubles up to `backoff_max`. Default 0.5 s.
    pub backoff_initial: Duration,
    /// Cap of the reconnection delay. Default 5 s: a camera that comes back
    /// is online again within about that (the issue asks for 5 s), and one
    /// TCP connection attempt every 5 s per dead camera costs nothing.
    pub backoff_max: Duration,
    /// A session that delivered video for this long resets the backoff.
    /// Default 30 s.
    pub healthy_after: Duration,
    /// Delay before retrying after `401`: the password will not fix itself
    /// (a configuration change reconnects at once), and cameras lock out
    /// clients that keep guessing. Default 60 s.
    pub auth_failed_retry: Duration,
    /// Delay before retrying an unsupported stream (someone may change the
    /// camera's codec setting). Default 60 s.
    pub unsupported_retry: Duration,
    /// Messages queued per viewer before it is moved to the next keyframe.
    /// Default 64 (2.5 s at 25 fps).
    pub viewer_queue: usize,
    /// Bounds of each stream's cached GOP.
    pub gop_limits: GopLimits,
    /// Threads that carry camera sessions and their viewers (see
    /// [`crate::video_threads`]); 0 runs them on the runtime that creates
    /// the registry instead. Default 1: one thread relays a few hundred
    /// 1080p streams.
    pub video_threads: usize,
    /// How long a video thread lets events gather before it wakes again:
    /// the most delay batching adds to a frame. Default 5 ms.
    pub wake_batch: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(5),
            online_after: Duration::from_millis(500),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(5),
            healthy_after: Duration::from_secs(30),
            auth_failed_retry: Duration::from_secs(60),
            unsupported_retry: Duration::from_secs(60),
            viewer_queue: 64,
            gop_limits: GopLimits::default(),
            video_threads: 1,
            wake_batch: Duration::from_millis(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_password() {
        let text = format!("{:?}", Credentials::new("admin", "hunter2"));
        assert!(text.contains("admin"));
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn quality_parses_and_prints() {
        assert_eq!("sub".parse::<Quality>().unwrap(), Quality::Sub);
        assert_eq!(Quality::Main.to_string(), "main");
        assert!("hd".parse::<Quality>().is_err());
    }

    #[test]
    fn sub_config_only_with_a_sub_url() {
        let mut c = CameraConfig::new("c1", "rtsp://cam/main".parse().unwrap());
        assert!(c.session_config(Quality::Sub).is_none());
        c.sub_url = Some("rtsp://cam/sub".parse().unwrap());
        assert_eq!(
            c.session_config(Quality::Sub).unwrap().url.as_str(),
            "rtsp://cam/sub"
        );
    }
}
