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
use crate::fmp4::VideoParams;
use crate::frames::SessionFrames;
use crate::live::LiveStream;
use crate::metrics::IngestMetrics;
use crate::recording::RecordingTap;
use crate::session::{codec_name, Session, SessionConfig, SessionError, SessionEvent};
use crate::status::{MediaInfo, StatusReporter, StreamState};

/// What a stream's supervisor, its viewers and its status readers share. It
/// outlives supervisors: a configuration change restarts the supervisor but
/// keeps viewers and the timeline.
pub(crate) struct StreamShared {
    pub(crate) status: StatusReporter,
    pub(crate) live: LiveStream,
    pub(crate) metrics: IngestMetrics,
    /// How long the stream may go without a keyframe (the GOP cache's time bound).
    pub(crate) keyframe_within: Duration,
    /// Where its frames are recorded (a tap that does nothing without a recorder).
    pub(crate) recording: RecordingTap,
}

impl StreamShared {
    pub(crate) fn new(
        status: StatusReporter,
        quality: Quality,
        config: &IngestConfig,
        recording: RecordingTap,
        metrics: IngestMetrics,
    ) -> Self {
        Self {
            status,
            live: LiveStream::new(quality, config.viewer_queue, config.gop_limits),
            metrics,
            keyframe_within: config.gop_limits.max_duration,
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
    let mut frames = SessionFrames::new(stream);
    let mut first_frame: Option<Instant> = None;
    let mut online = false;
    // The frame watchdog counts from the last frame, not from the last event: a camera
    // that sends nothing but bad packets is stalled too.
    let mut last_frame = Instant::now();
    let mut last_packet_error: Option<String> = None;
    loop {
        let deadline = last_frame + settings.stall_timeout;
        let next = tokio::time::timeout_at(deadline.into(), session.next_frame()).await;
        let healthy = online && first_frame.is_some_and(|t| t.elapsed() >= settings.healthy_after);
        let event = match next {
            Err(_) => {
                let reason = match last_packet_error.take() {
                    Some(e) => format!("no usable video for {}: {e}", secs(settings.stall_timeout)),
                    None => format!("no video for {}", secs(settings.stall_timeout)),
                };
                return Failure {
                    state: StreamState::Stalled,
                    reason,
                    healthy,
                };
            }
            Ok(Err(e)) => {
                return Failure {
                    healthy,
                    ..Failure::from_session(e)
                }
            }
            Ok(Ok(event)) => event,
        };
        let frame = match event {
            SessionEvent::Frame(frame) => frame,
            SessionEvent::PacketError(reason) => {
                tracing::debug!(
                    "camera stream {}: frame dropped: {reason}",
                    config.split_credentials().0
                );
                frames.packet_error();
                last_packet_error = Some(reason);
                continue;
            }
        };
        let arrived = Instant::now();
        last_frame = arrived;
        stream.status.frame_seen(SystemTime::now());
        if let Some(params) = &frame.new_params {
            stream.status.set_media(&media_info(params));
        }
        let keyframes_changed = frames.frame(frame, arrived);
        if keyframes_changed == Some(true) {
            tracing::info!(
                "camera stream {}: no keyframe within {}",
                config.split_credentials().0,
                secs(stream.keyframe_within)
            );
        }
        let first = *first_frame.get_or_insert(arrived);
        if !online && first.elapsed() >= settings.online_after {
            online = true;
            stream.status.set(StreamState::Online, frames.reason());
        } else if online && keyframes_changed.is_some() {
            stream.status.set(StreamState::Online, frames.reason());
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

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

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
