//! A WHEP viewer: live video of one camera over WebRTC, as a browser receives it, for tests,
//! benchmarks and integrations (a recorder on another machine, say).
//!
//! ```no_run
//! # async fn run() -> Result<(), gridwatch_client::whep::WhepError> {
//! use gridwatch_client::whep::WhepViewer;
//! let mut viewer = WhepViewer::connect("http://127.0.0.1:8080", "cam-1", "gws_…").await?;
//! while let Some(frame) = viewer.next_frame().await {
//!     println!("{} bytes, keyframe: {}", frame.data.len(), frame.keyframe);
//! }
//! # Ok(()) }
//! ```
//!
//! It offers to receive one H.264 video track from its own UDP socket on `127.0.0.1` or the
//! address that reaches the hub, answers the hub's RTCP, and hands over each frame whole
//! (depacketized, Annex B) with the instant it arrived from the camera at the hub, when the
//! hub's sender reports say.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum WhepError {
    #[error("the hub refused the offer: {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("webrtc: {0}")]
    WebRtc(String),
    #[error("udp: {0}")]
    Io(#[from] std::io::Error),
}

/// One frame as received.
#[derive(Debug, Clone)]
pub struct ReceivedFrame {
    /// The access unit, NAL units after start codes.
    pub data: Arc<[u8]>,
    /// RTP time, 90 kHz.
    pub rtp_time: u64,
    pub keyframe: bool,
    /// When its first packet reached this viewer.
    pub received: Instant,
    /// When the frame reached the hub from the camera, by the hub's latest sender report
    /// (`None` before the first one).
    pub at_hub: Option<SystemTime>,
}

/// A connected viewer; dropping it ends the session's task (call [`WhepViewer::close`] to
/// also tell the hub at once).
pub struct WhepViewer {
    frames: mpsc::Receiver<ReceivedFrame>,
    resource: String,
    token: String,
    http: reqwest::Client,
    task: JoinHandle<()>,
}

impl WhepViewer {
    /// Offers to receive camera `camera` of the hub at `base` (`http://host:port`) with the
    /// session `token`.
    pub async fn connect(base: &str, camera: &str, token: &str) -> Result<WhepViewer, WhepError> {
        let base = base.trim_end_matches('/');
        let host: IpAddr = reqwest::Url::parse(base)
            .ok()
            .and_then(|u| u.host_str().and_then(|h| h.parse().ok()))
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let socket = UdpSocket::bind(SocketAddr::new(host, 0))?;
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_h264(true)
            .build(Instant::now());
        let candidate = Candidate::host(socket.local_addr()?, "udp")
            .map_err(|e| WhepError::WebRtc(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| WhepError::WebRtc("nothing to offer".into()))?;

        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/api/v1/cameras/{camera}/whep"))
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(offer.to_sdp_string())
            .send()
            .await?;
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = r.text().await?;
        let (201, Some(location)) = (status.as_u16(), location) else {
            return Err(WhepError::Refused {
                status: status.as_u16(),
                body,
            });
        };
        let answer =
            SdpAnswer::from_sdp_string(&body).map_err(|e| WhepError::WebRtc(e.to_string()))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| WhepError::WebRtc(e.to_string()))?;

        socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let (tx, frames) = mpsc::channel(512);
        let task = tokio::spawn(run(rtc, socket, tx));
        Ok(WhepViewer {
            frames,
            resource: format!("{base}{location}"),
            token: token.to_string(),
            http,
            task,
        })
    }

    /// The next frame; `None` once the session is over.
    pub async fn next_frame(&mut self) -> Option<ReceivedFrame> {
        self.frames.recv().await
    }

    /// The session's address at the hub (its `Location`).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Ends the session: `DELETE` on it, then the connection. The hub's answer status.
    pub async fn close(self) -> Result<u16, WhepError> {
        let r = self
            .http
            .delete(&self.resource)
            .bearer_auth(&self.token)
            .send()
            .await?;
        self.task.abort();
        Ok(r.status().as_u16())
    }
}

impl Drop for WhepViewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(mut rtc: Rtc, socket: tokio::net::UdpSocket, tx: mpsc::Sender<ReceivedFrame>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buf = vec![0u8; 2000];
    loop {
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::MediaData(m))) => {
                    let at_hub = m.last_sender_info.map(|sr| {
                        let ticks = m.time.numer() as i64 - sr.rtp_time.numer() as i64;
                        let offset = Duration::from_micros(ticks.unsigned_abs() * 1000 / 90);
                        if ticks >= 0 {
                            sr.ntp_time + offset
                        } else {
                            sr.ntp_time - offset
                        }
                    });
                    let frame = ReceivedFrame {
                        keyframe: m.is_keyframe(),
                        data: m.data,
                        rtp_time: m.time.numer(),
                        received: m.network_time,
                        at_hub,
                    };
                    // A reader that does not keep up loses frames, not the session.
                    if tx.try_send(frame).is_err() && tx.is_closed() {
                        return;
                    }
                }
                Ok(Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                ))) => return,
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        let input = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, source)) => match buf[..n].try_into() {
                    Ok(contents) => Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        contents,
                    }),
                    Err(_) => continue,
                },
                Err(_) => continue,
            },
            _ = tokio::time::sleep(wait) => Input::Timeout(Instant::now()),
        };
        if rtc.handle_input(input).is_err() {
            return;
        }
    }
}
