//! One task per camera stream that keeps a session alive: connect, read
//! frames, hand them to the live fan-out, and on any failure report why and
//! reconnect after a backoff.
//!
//! Failures are what a socket reports (refused, reset, closed), what the
//! camera answers (`401`, `404`, no usable codec), and, just as important,
//! silence: a camera that hangs with its TCP connection open never errors,
//! so every wait has a deadline — [`IngestConfig::connect_timeout`] for
//! `DESCRIBE`/`SETUP`/`PLAY` and the frame watchdog
//! [`IngestConfig::stall_timeout`] for video.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use retina::client::SessionGroup;

use crate::backoff::Backoff;
use crate::config::{IngestConfig, Quality};
use crate::fmp4::{VideoParams, TIMESCALE};
use crate::live::{LiveStream, Packaged};
use crate::recording::RecordingTap;
use crate::session::{codec_name, Session, SessionConfig, SessionError};
use crate::status::{MediaInfo, StatusReporter, StreamState};

/// What a stream's supervisor, its viewers and its status readers share. It
/// outlives supervisors: a configuration change restarts the supervisor but
/// keeps viewers and the timeline.
pub(crate) struct StreamShared {
    pub(crate) status: StatusReporter,
    pub(crate) live: LiveStream,
    pub(crate) recording: RecordingTap,
}

impl StreamShared {
    pub(crate) fn new(
        status: StatusReporter,
        quality: Quality,
        config: &IngestConfig,
        recording: RecordingTap,
    ) -> Self {
        Self {
            status,
            live: LiveStream::new(quality, config.viewer_queue, config.gop_limits),
            recording,
        }
    }
}

/// Why a session ended.
#[derive(Debug)]
struct Failure {
    state: StreamState,
    reason: String,
    /// The session delivered video for [`IngestConfig::healthy_after`].
    healthy: bool,
}

impl Failure {
    fn new(state: StreamState, reason: impl Into<String>) -> Self {
        Self {
            state,
            reason: reason.into(),
            healthy: false,
        }
    }

    fn from_session(e: SessionError) -> Self {
        match e {
            SessionError::AuthFailed(r) => Self::new(StreamState::AuthFailed, r),
            SessionError::Unsupported(r) => Self::new(StreamState::Unsupported, r),
            e @ (SessionError::Rtsp(_) | SessionError::EndOfStream) => {
                Self::new(StreamState::Offline, e.to_string())
            }
        }
    }
}

/// Keeps `stream` connected to the camera at `config` until aborted.
pub(crate) async fn supervise(
    config: SessionConfig,
    settings: Arc<IngestConfig>,
    stream: Arc<StreamShared>,
    group: Arc<SessionGroup>,
) {
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    loop {
        let failure = run_session(&config, &settings, &stream, &group).await;
        if failure.healthy {
            backoff.reset();
        }
        let mut delay = backoff.next_delay();
        delay = match failure.state {
            StreamState::AuthFailed => delay.max(settings.auth_failed_retry),
            StreamState::Unsupported => delay.max(settings.unsupported_retry),
            _ => delay,
        };
        tracing::debug!(
            "camera stream {}: {} ({}); retrying in {delay:?}",
            config.split_credentials().0,
            failure.state,
            failure.reason
        );
        stream.status.set(failure.state, Some(failure.reason));
        tokio::time::sleep(delay).await;
    }
}

/// One session, from connecting until it fails.
async fn run_session(
    config: &SessionConfig,
    settings: &IngestConfig,
    stream: &StreamShared,
    group: &Arc<SessionGroup>,
) -> Failure {
    let connect = Session::connect(config, Some(group.clone()));
    let mut session = match tokio::time::timeout(settings.connect_timeout, connect).await {
        Err(_) => {
            return Failure::new(
                StreamState::Offline,
                format!(
                    "no answer to DESCRIBE/SETUP/PLAY within {}",
                    secs(settings.connect_timeout)
                ),
            )
        }
        Ok(Err(e)) => return Failure::from_session(e),
        Ok(Ok(session)) => session,
    };
    stream.live.begin_session();
    stream.recording.begin_session();
    if let Some(params) = session.params() {
        stream.status.set_media(&media_info(params));
    }
    let mut first_frame: Option<Instant> = None;
    let mut online = false;
    let mut fps = FpsMeter::default();
    loop {
        let next = tokio::time::timeout(settings.stall_timeout, session.next_frame()).await;
        let healthy = online && first_frame.is_some_and(|t| t.elapsed() >= settings.healthy_after);
        let frame = match next {
            Err(_) => {
                return Failure {
                    state: StreamState::Stalled,
                    reason: format!("no video for {}", secs(settings.stall_timeout)),
                    healthy,
                }
            }
            Ok(Err(e)) => {
                return Failure {
                    healthy,
                    ..Failure::from_session(e)
                }
            }
            Ok(Ok(frame)) => frame,
        };
        let arrived = Instant::now();
        let wall = SystemTime::now();
        stream.status.frame_seen(wall);
        if let Some(params) = &frame.new_params {
            stream.status.set_media(&media_info(params));
        }
        if frame.loss > 0 {
            tracing::debug!("{} RTP packets lost before a frame", frame.loss);
        }
        let sent = match stream.live.push_arrived(&frame, arrived) {
            Ok(Packaged::Sent(sample)) => {
                if let Some(rate) = fps.add(sample.decode_time) {
                    stream.status.set_fps(rate);
                }
                Some(sample)
            }
            Ok(Packaged::Skipped) => None,
            // One bad frame is not worth a reconnection; the next keyframe
            // repairs the picture.
            Err(e) => {
                tracing::warn!("dropping a malformed frame: {e}");
                None
            }
        };
        // The recorder's one hook: what live video sent, recorded as sent
        // (never waits; see recording/tap.rs).
        stream.recording.offer(frame, sent, wall);
        let first = *first_frame.get_or_insert_with(Instant::now);
        if !online && first.elapsed() >= settings.online_after {
            online = true;
            stream.status.set(StreamState::Online, None);
        }
    }
}

fn media_info(params: &VideoParams) -> MediaInfo {
    MediaInfo {
        codec: codec_name(params.codec()),
        mime: params.mime_type(),
        width: u32::from(params.width()),
        height: u32::from(params.height()),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Frame rate from decode times, over windows of about a second of camera
/// time (wall-clock arrival jitters; the camera's clock does not).
#[derive(Debug, Default)]
struct FpsMeter {
    start: Option<u64>,
    frames: u32,
}

impl FpsMeter {
    const WINDOW: u64 = TIMESCALE as u64;

    /// Adds a frame; returns the rate at the end of each window.
    fn add(&mut self, decode_time: u64) -> Option<f64> {
        let Some(start) = self.start else {
            self.start = Some(decode_time);
            return None;
        };
        self.frames += 1;
        let span = decode_time.saturating_sub(start);
        if span < Self::WINDOW {
            return None;
        }
        let rate = f64::from(self.frames) * f64::from(TIMESCALE) / span as f64;
        self.start = Some(decode_time);
        self.frames = 0;
        Some(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fps_meter_measures_camera_time() {
        let mut m = FpsMeter::default();
        let mut rates = Vec::new();
        for i in 0..=50u64 {
            rates.extend(m.add(i * 3600));
        }
        assert_eq!(rates, vec![25.0, 25.0]);
    }

    #[test]
    fn session_errors_map_to_states() {
        let f = Failure::from_session(SessionError::AuthFailed("401".into()));
        assert_eq!(f.state, StreamState::AuthFailed);
        let f = Failure::from_session(SessionError::Unsupported("MJPEG".into()));
        assert_eq!(f.state, StreamState::Unsupported);
        let f = Failure::from_session(SessionError::EndOfStream);
        assert_eq!(f.state, StreamState::Offline);
        assert_eq!(f.reason, "the camera ended the stream");
    }
}
