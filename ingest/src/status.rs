//! Camera stream health, as the hub shows it and turns it into
//! `camera.online`/`camera.offline` events and `camera_offline` incidents.
//!
//! Each stream has a [`tokio::sync::watch`] channel with its current
//! [`StreamStatus`] (for whoever wants the latest value), and every change
//! of [`StreamState`] (and a stream's being disabled or enabled) is also
//! sent as a [`StatusEvent`] on one broadcast channel for all cameras (for
//! the hub's event stream). Frames do not go
//! through either: `last_frame_at` is kept in an atomic and filled in when
//! a status is read, so a 25 fps stream wakes nobody.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::config::Quality;

/// What a camera stream is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// First connection attempt (after start or a configuration change).
    Connecting,
    /// Frames arrive.
    Online,
    /// Connected, but no frame for the stall timeout (a hung camera or
    /// connection); the supervisor reconnects.
    Stalled,
    /// Unreachable, refused, closed, erroring, or disabled; see the reason.
    Offline,
    /// The camera refused the credentials (`401`); retried less often.
    AuthFailed,
    /// The camera's stream cannot be passed through (not H.264/H.265, or
    /// parameters a browser cannot take); retried less often.
    Unsupported,
}

impl StreamState {
    /// Every state, in the order of the type.
    pub const ALL: [StreamState; 6] = [
        StreamState::Connecting,
        StreamState::Online,
        StreamState::Stalled,
        StreamState::Offline,
        StreamState::AuthFailed,
        StreamState::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Online => "online",
            StreamState::Stalled => "stalled",
            StreamState::Offline => "offline",
            StreamState::AuthFailed => "auth_failed",
            StreamState::Unsupported => "unsupported",
        }
    }

    /// Whether video is flowing.
    pub fn is_online(self) -> bool {
        self == StreamState::Online
    }
}

impl std::fmt::Display for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stream's health and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStatus {
    pub state: StreamState,
    /// Why the stream is not online (the camera's or the network's words).
    pub reason: Option<String>,
    /// When `state` last changed.
    pub since: SystemTime,
    /// `h264` or `h265`, once known.
    pub codec: Option<String>,
    /// The MIME type with RFC 6381 codec string, e.g.
    /// `video/mp4; codecs="avc1.42C01E"`.
    pub mime: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Measured from the frames' timestamps.
    pub fps: Option<f64>,
    pub last_frame_at: Option<SystemTime>,
}

impl StreamStatus {
    /// Whether the stream is off because its camera is disabled (not an outage).
    pub fn is_disabled(&self) -> bool {
        is_disabled(self.reason.as_deref())
    }

    fn new(state: StreamState, reason: Option<String>) -> Self {
        Self {
            state,
            reason,
            since: SystemTime::now(),
            codec: None,
            mime: None,
            width: None,
            height: None,
            fps: None,
            last_frame_at: None,
        }
    }
}

/// A camera's streams.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStatus {
    pub id: String,
    pub enabled: bool,
    pub main: StreamStatus,
    /// `None` without a sub stream.
    pub sub: Option<StreamStatus>,
}

impl CameraStatus {
    /// The camera's state: its main stream's.
    pub fn state(&self) -> StreamState {
        self.main.state
    }
}

/// A stream's state changed.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub camera_id: Arc<str>,
    pub quality: Quality,
    /// The previous state.
    pub previous: StreamState,
    pub status: StreamStatus,
}

/// Media properties of a stream, known once its parameters are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MediaInfo {
    pub codec: &'static str,
    pub mime: String,
    pub width: u32,
    pub height: u32,
}

fn is_disabled(reason: Option<&str>) -> bool {
    reason == Some(crate::cameras::DISABLED_REASON)
}

/// Publishes one stream's status.
#[derive(Debug)]
pub(crate) struct StatusReporter {
    camera_id: Arc<str>,
    quality: Quality,
    tx: watch::Sender<StreamStatus>,
    events: broadcast::Sender<StatusEvent>,
    /// Milliseconds since the Unix epoch of the last frame; 0 for none.
    last_frame_ms: AtomicU64,
}

fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
        .unwrap_or(1)
}

impl StatusReporter {
    pub(crate) fn new(
        camera_id: Arc<str>,
        quality: Quality,
        events: broadcast::Sender<StatusEvent>,
    ) -> Self {
        let (tx, _) = watch::channel(StreamStatus::new(StreamState::Connecting, None));
        Self {
            camera_id,
            quality,
            tx,
            events,
            last_frame_ms: AtomicU64::new(0),
        }
    }

    /// The current status, with the latest frame time.
    pub(crate) fn current(&self) -> StreamStatus {
        let mut status = self.tx.borrow().clone();
        status.last_frame_at = self.last_frame_at();
        status
    }

    fn last_frame_at(&self) -> Option<SystemTime> {
        match self.last_frame_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<StreamStatus> {
        self.tx.subscribe()
    }

    /// Sets the state and reason; `since` moves and an event goes out only
    /// when the state changes (a new reason for the same state, e.g. another
    /// failed reconnection, only updates the watch), or when the stream is
    /// disabled or enabled: an offline camera being switched off is offline
    /// still, but it is no longer an outage, and whoever counts outages must
    /// hear of it (and of its being switched on again while still down).
    ///
    /// The event is broadcast while the watch is still locked, so whoever
    /// reads the new state has its event waiting: "the status says online
    /// but no event came yet" cannot be observed.
    pub(crate) fn set(&self, state: StreamState, reason: Option<String>) {
        let mut event = None;
        let last_frame_at = self.last_frame_at();
        self.tx.send_if_modified(|status| {
            if status.state == state && status.reason == reason {
                return false;
            }
            let previous = status.state;
            let switched = is_disabled(status.reason.as_deref()) != is_disabled(reason.as_deref());
            status.reason = reason;
            status.last_frame_at = last_frame_at;
            if previous != state || switched {
                status.state = state;
                status.since = SystemTime::now();
                let changed = StatusEvent {
                    camera_id: self.camera_id.clone(),
                    quality: self.quality,
                    previous,
                    status: status.clone(),
                };
                // No receivers is fine: nobody listens yet.
                let _ = self.events.send(changed.clone());
                event = Some(changed);
            }
            true
        });
        if let Some(event) = event {
            tracing::info!(
                camera = %self.camera_id,
                quality = %self.quality,
                "camera stream {} → {}{}",
                event.previous,
                state,
                event
                    .status
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    }

    /// Records the stream's media properties.
    pub(crate) fn set_media(&self, media: &MediaInfo) {
        self.tx.send_if_modified(|status| {
            let new = (
                Some(media.codec.to_string()),
                Some(media.mime.clone()),
                Some(media.width),
                Some(media.height),
            );
            let old = (
                status.codec.clone(),
                status.mime.clone(),
                status.width,
                status.height,
            );
            if new == old {
                return false;
            }
            (status.codec, status.mime, status.width, status.height) = new;
            true
        });
    }

    /// Records the measured frame rate (only changes of 0.1 fps or more
    /// wake subscribers).
    pub(crate) fn set_fps(&self, fps: f64) {
        self.tx.send_if_modified(|status| {
            if status.fps.is_some_and(|old| (old - fps).abs() < 0.1) {
                return false;
            }
            status.fps = Some((fps * 100.0).round() / 100.0);
            true
        });
    }

    /// Records a frame's arrival (cheap: one atomic store).
    pub(crate) fn frame_seen(&self, at: SystemTime) {
        self.last_frame_ms.store(to_ms(at), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter() -> (StatusReporter, broadcast::Receiver<StatusEvent>) {
        let (tx, rx) = broadcast::channel(16);
        (StatusReporter::new("cam".into(), Quality::Main, tx), rx)
    }

    #[test]
    fn events_only_on_state_changes() {
        let (r, mut events) = reporter();
        let watch = r.subscribe();
        r.set(StreamState::Offline, Some("refused".into()));
        let since = r.current().since;
        r.set(StreamState::Offline, Some("404".into()));
        assert_eq!(r.current().reason.as_deref(), Some("404"));
        assert_eq!(r.current().since, since);
        r.set(StreamState::Online, None);
        let e = events.try_recv().unwrap();
        assert_eq!(
            (e.previous, e.status.state),
            (StreamState::Connecting, StreamState::Offline)
        );
        let e = events.try_recv().unwrap();
        assert_eq!(
            (e.previous, e.status.state),
            (StreamState::Offline, StreamState::Online)
        );
        assert!(events.try_recv().is_err());
        assert_eq!(watch.borrow().state, StreamState::Online);
    }

    #[test]
    fn disabling_and_enabling_an_offline_stream_are_events() {
        let (r, mut events) = reporter();
        r.set(StreamState::Offline, Some("refused".into()));
        r.set(
            StreamState::Offline,
            Some(crate::cameras::DISABLED_REASON.into()),
        );
        r.set(StreamState::Connecting, None);
        r.set(StreamState::Offline, Some("refused".into()));
        let mut seen = Vec::new();
        while let Ok(e) = events.try_recv() {
            seen.push((e.previous, e.status.state, e.status.reason));
        }
        use StreamState::*;
        let disabled = Some(crate::cameras::DISABLED_REASON.to_string());
        let refused = Some("refused".to_string());
        assert_eq!(
            seen,
            [
                (Connecting, Offline, refused.clone()),
                (Offline, Offline, disabled),
                (Offline, Connecting, None),
                (Connecting, Offline, refused),
            ]
        );
    }

    #[test]
    fn a_state_is_never_seen_before_its_event() {
        for _ in 0..200 {
            let (r, mut events) = reporter();
            let r = Arc::new(r);
            let watch = r.subscribe();
            let setter = {
                let r = r.clone();
                std::thread::spawn(move || r.set(StreamState::Online, None))
            };
            while watch.borrow().state != StreamState::Online {
                std::hint::spin_loop();
            }
            let event = events.try_recv();
            assert!(
                event.is_ok(),
                "online was readable before its event: {event:?}"
            );
            setter.join().unwrap();
        }
    }

    #[test]
    fn frames_are_read_not_pushed() {
        let (r, _events) = reporter();
        let mut watch = r.subscribe();
        watch.mark_unchanged();
        assert!(r.current().last_frame_at.is_none());
        r.frame_seen(SystemTime::now());
        assert!(r.current().last_frame_at.is_some());
        assert!(!watch.has_changed().unwrap());
    }

    #[test]
    fn fps_jitter_does_not_notify() {
        let (r, _events) = reporter();
        let mut watch = r.subscribe();
        r.set_fps(25.0);
        watch.mark_unchanged();
        r.set_fps(25.04);
        assert!(!watch.has_changed().unwrap());
        r.set_fps(12.5);
        assert_eq!(watch.borrow_and_update().fps, Some(12.5));
    }

    #[test]
    fn states_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&StreamState::AuthFailed).unwrap(),
            "\"auth_failed\""
        );
        assert_eq!(StreamState::AuthFailed.to_string(), "auth_failed");
    }
}
