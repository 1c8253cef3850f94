//! One retina RTSP session to one camera stream: `DESCRIBE`, `SETUP` of the
//! first H.264/H.265 video stream, `PLAY`, then frames ready for the fMP4
//! writer.
//!
//! The session knows nothing of reconnecting or timeouts; the supervisor
//! (`supervisor.rs`) wraps every await here in its own deadlines (a hung
//! camera never errors, it just goes quiet).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::SystemTime;

use futures::StreamExt;
use retina::client::{Demuxed, SessionGroup, SetupOptions};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use url::Url;

use crate::config::{Credentials, Transport};
use crate::fmp4::{self, VideoCodec, VideoParams, TIMESCALE};
use crate::quirks::CameraQuirks;

/// Sent as `User-Agent` unless a camera's quirks say otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("gridwatch/", env!("CARGO_PKG_VERSION"));

/// Longest reason kept from an error message.
const MAX_REASON_LEN: usize = 300;

/// Where and how to connect to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The stream's URL. User info in it is used as credentials when
    /// [`SessionConfig::credentials`] is `None`, and never sent or logged.
    pub url: Url,
    pub credentials: Option<Credentials>,
    pub transport: Transport,
    pub quirks: CameraQuirks,
}

impl SessionConfig {
    /// A TCP session without credentials or quirks.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            credentials: None,
            transport: Transport::Tcp,
            quirks: CameraQuirks::default(),
        }
    }

    /// The URL without user info, safe to log and to send, and the
    /// credentials to use: the configured ones, else those from the URL.
    pub fn split_credentials(&self) -> (Url, Option<Credentials>) {
        let mut url = self.url.clone();
        let from_url = (!url.username().is_empty()).then(|| {
            Credentials::new(
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or("")),
            )
        });
        // Fails only for URLs that cannot have user info, which then has none.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        (url, self.credentials.clone().or(from_url))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a session could not be set up or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The camera answered `401 Unauthorized` (no, or wrong, credentials).
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The camera has no stream we can pass through to browsers.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Any other RTSP, network or stream error.
    #[error("{0}")]
    Rtsp(String),
    /// The camera closed the stream.
    #[error("the camera ended the stream")]
    EndOfStream,
}

impl SessionError {
    fn from_retina(e: &retina::Error) -> Self {
        let reason = first_line(&e.to_string());
        match e.status_code() {
            Some(401) => SessionError::AuthFailed(reason),
            _ => SessionError::Rtsp(reason),
        }
    }
}

/// Retina's messages carry multi-line connection context; the first line
/// says what happened.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(MAX_REASON_LEN) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// One access unit, as the fMP4 writer wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// NAL units with 4-byte length prefixes (retina's `FrameFormat::MP4`).
    pub data: Vec<u8>,
    /// 90 kHz, extended to 64 bits by retina.
    pub timestamp: i64,
    /// Decoding can start here: an IDR (H.264) or IRAP (H.265: IDR, CRA, BLA) picture, or
    /// one with a recovery point SEI, whole from its first slice on (see
    /// [`fmp4::picture`]). Such a frame starts a GOP.
    pub is_keyframe: bool,
    /// The frame has B slices (H.264): the stream reorders frames.
    pub has_b_slices: bool,
    /// The stream's parameters, on the first frame they are known for and
    /// whenever they change (then a new init segment is due).
    pub new_params: Option<VideoParams>,
    /// RTP packets lost just before this frame: the frame may not decode
    /// until the next keyframe.
    pub loss: u16,
    /// When the frame's last packet arrived from the camera (retina's receive time).
    pub received: SystemTime,
}

impl VideoFrame {
    /// The frame for [`fmp4::FragmentWriter::write`], with its arrival for the `prft`.
    pub fn as_fmp4(&self) -> fmp4::Frame<'_> {
        fmp4::Frame {
            data: &self.data,
            timestamp: self.timestamp,
            is_keyframe: self.is_keyframe,
            arrival: Some(self.received),
        }
    }
}

/// What a playing session yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    Frame(VideoFrame),
    /// Retina rejected a packet and discarded the frame it belonged to; the session goes
    /// on (later frames may depend on the lost one until the next keyframe). The reason is
    /// retina's, first line only.
    PacketError(String),
}

/// A playing session on one camera stream.
pub struct Session {
    demuxed: Demuxed,
    stream_index: usize,
    codec: VideoCodec,
    clock_rate: NonZeroU32,
    params: Option<VideoParams>,
    params_sent: bool,
    frame_rate: Option<f64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("stream_index", &self.stream_index)
            .field("codec", &self.codec)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// `DESCRIBE`, `SETUP` of the first video stream (which must be H.264 or
    /// H.265), `PLAY`. Credentials go to retina separately from the URL
    /// (it answers Basic and Digest challenges). `group` lets retina track
    /// sessions it still has to tear down (see [`CameraQuirks::always_teardown`]).
    pub async fn connect(
        config: &SessionConfig,
        group: Option<Arc<SessionGroup>>,
    ) -> Result<Self, SessionError> {
        let (url, credentials) = config.split_credentials();
        let mut options = config
            .quirks
            .session_options()
            .creds(credentials.map(Into::into));
        if let Some(group) = group {
            options = options.session_group(group);
        }
        let mut described = retina::client::Session::describe(url, options)
            .await
            .map_err(|e| SessionError::from_retina(&e))?;
        let (stream_index, codec) = pick_video_stream(described.streams())?;
        let clock_rate = NonZeroU32::new(described.streams()[stream_index].clock_rate_hz())
            .ok_or_else(|| SessionError::Unsupported("video stream with clock rate 0".into()))?;
        described
            .setup(
                stream_index,
                SetupOptions::default()
                    .transport(config.transport.to_retina())
                    .frame_format(FrameFormat::MP4),
            )
            .await
            .map_err(|e| SessionError::from_retina(&e))?;
        let playing = described
            .play(config.quirks.play_options())
            .await
            .map_err(|e| SessionError::from_retina(&e))?;
        let demuxed = playing
            .demuxed()
            .map_err(|e| SessionError::Unsupported(first_line(&e.to_string())))?;
        let mut session = Self {
            demuxed,
            stream_index,
            codec,
            clock_rate,
            params: None,
            params_sent: false,
            frame_rate: None,
        };
        // Often already known from the SDP; otherwise from the first frame.
        session.refresh_params()?;
        Ok(session)
    }

    /// The video codec.
    pub fn codec(&self) -> VideoCodec {
        self.codec
    }

    /// The current parameters, once known.
    pub fn params(&self) -> Option<&VideoParams> {
        self.params.as_ref()
    }

    /// The frame rate the camera announces, if it does.
    pub fn announced_frame_rate(&self) -> Option<f64> {
        self.frame_rate
    }

    /// The next video frame, or news of a bad packet (after which the session goes on);
    /// the end of the stream is [`SessionError::EndOfStream`]. Waits as long as the camera
    /// is quiet: callers need their own watchdog.
    pub async fn next_frame(&mut self) -> Result<SessionEvent, SessionError> {
        loop {
            let item = match self.demuxed.next().await {
                None => return Err(SessionError::EndOfStream),
                Some(Err(e)) if e.is_packet_error() => {
                    return Ok(SessionEvent::PacketError(first_line(&e.to_string())))
                }
                Some(Err(e)) => return Err(SessionError::from_retina(&e)),
                Some(Ok(item)) => item,
            };
            let CodecItem::VideoFrame(frame) = item else {
                continue; // RTCP sender reports and the like
            };
            if frame.stream_id() != self.stream_index {
                continue;
            }
            if frame.has_new_parameters() || self.params.is_none() {
                self.refresh_params()?;
            }
            let new_params = match (&self.params, self.params_sent) {
                (Some(p), false) => {
                    self.params_sent = true;
                    Some(p.clone())
                }
                _ => None,
            };
            let timestamp = to_timescale(frame.timestamp().timestamp(), self.clock_rate);
            let received = SystemTime::from(frame.end_ctx().received_wall());
            let loss = frame.loss();
            let data = frame.into_data();
            // Malformed length prefixes: the packager rejects the frame anyway.
            let picture = fmp4::classify(self.codec, &data).unwrap_or_default();
            return Ok(SessionEvent::Frame(VideoFrame {
                data,
                timestamp,
                is_keyframe: picture.is_keyframe(),
                has_b_slices: picture.has_b_slices,
                new_params,
                loss,
                received,
            }));
        }
    }

    /// Reads the stream's parameters from retina; marks them for the next
    /// frame if they changed.
    fn refresh_params(&mut self) -> Result<(), SessionError> {
        let Some(ParametersRef::Video(video)) =
            self.demuxed.streams()[self.stream_index].parameters()
        else {
            return Ok(());
        };
        let (width, height) = video.pixel_dimensions();
        let params = match self.codec {
            VideoCodec::H264 => VideoParams::h264(width, height, video.extra_data()),
            VideoCodec::H265 => VideoParams::h265(width, height, video.extra_data()),
        }
        .map_err(|e| {
            SessionError::Unsupported(format!(
                "{} parameters cannot be passed through to browsers: {e}",
                codec_name(self.codec)
            ))
        })?;
        self.frame_rate = video
            .frame_rate()
            .filter(|&(num, den)| num > 0 && den > 0)
            .map(|(num, den)| f64::from(den) / f64::from(num));
        if self.params.as_ref() != Some(&params) {
            self.params = Some(params);
            self.params_sent = false;
        }
        Ok(())
    }
}

/// Short codec name for status and reasons.
pub fn codec_name(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::H264 => "h264",
        VideoCodec::H265 => "h265",
    }
}

/// Picks the first H.264/H.265 video stream.
fn pick_video_stream(
    streams: &[retina::client::Stream],
) -> Result<(usize, VideoCodec), SessionError> {
    let mut others = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        if stream.media() != "video" {
            continue;
        }
        match stream.encoding_name() {
            "h264" => return Ok((i, VideoCodec::H264)),
            "h265" => return Ok((i, VideoCodec::H265)),
            other => others.push(other.to_uppercase()),
        }
    }
    Err(SessionError::Unsupported(if others.is_empty() {
        "the camera offers no video stream".into()
    } else {
        format!(
            "video codec {} cannot be passed through to browsers (only H.264 and H.265)",
            others.join(", ")
        )
    }))
}

/// Converts a timestamp at `clock_rate` to [`TIMESCALE`] (video RTP clocks
/// are 90 kHz already, so this is nearly always the identity).
fn to_timescale(ts: i64, clock_rate: NonZeroU32) -> i64 {
    let rate = clock_rate.get();
    if rate == TIMESCALE {
        return ts;
    }
    let scaled = i128::from(ts) * i128::from(TIMESCALE) / i128::from(rate);
    i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let c = SessionConfig::new("rtsp://admin:p%40ss@cam.local:554/s1".parse().unwrap());
        let (url, creds) = c.split_credentials();
        assert_eq!(url.as_str(), "rtsp://cam.local:554/s1");
        assert_eq!(creds, Some(Credentials::new("admin", "p@ss")));
    }

    #[test]
    fn configured_credentials_win() {
        let mut c = SessionConfig::new("rtsp://a:b@cam/s".parse().unwrap());
        c.credentials = Some(Credentials::new("x", "y"));
        let (url, creds) = c.split_credentials();
        assert_eq!(url.as_str(), "rtsp://cam/s");
        assert_eq!(creds, Some(Credentials::new("x", "y")));
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn first_line_is_kept_and_capped() {
        assert_eq!(first_line("404 Not Found\n\nconn: x"), "404 Not Found");
        let long = "x".repeat(1000);
        assert_eq!(first_line(&long).chars().count(), MAX_REASON_LEN + 1);
    }

    #[test]
    fn timescale_conversion() {
        let r = NonZeroU32::new(90_000).unwrap();
        assert_eq!(to_timescale(12345, r), 12345);
        let r = NonZeroU32::new(30_000).unwrap();
        assert_eq!(to_timescale(100, r), 300);
    }
}
