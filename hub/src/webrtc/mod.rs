//! WebRTC for the focused and incident views: WHEP (`POST /api/v1/cameras/{id}/whep` with
//! the browser's SDP offer, the answer naming this hub's host candidates; `DELETE` on the
//! session it created to end it).
//!
//! Why beside the live socket: Media Source Extensions make the browser buffer (a fragment,
//! then its own playout decisions), which keeps a live tile some hundred milliseconds behind;
//! WebRTC's receiver plays each frame as it arrives. The camera's H.264 frames are sent as
//! they came, packetized by [`str0m`] (sans-IO, driven by [`peer`]); nothing is transcoded.
//! H.265 cameras and ingest workers stay on the live socket (the page falls back to it by
//! itself when WebRTC does not play within 3 s).
//!
//! Each session has its own UDP socket per host candidate, bound to an ephemeral port: a
//! closed network needs no STUN or TURN, and a session's sockets close with it.
//!
//! Latency: each frame's first packet carries the instant it arrived from the camera (the
//! `abs-capture-time` header extension, when the browser offers it), and str0m's RTCP sender
//! reports map RTP time to the same instants. Chromium hands the former to the page per RTP
//! timestamp (`getSynchronizationSources().captureTimestamp`), which pairs it with the frame on
//! screen (`requestVideoFrameCallback`'s `rtpTimestamp`): how old the picture is, as the `prft`
//! box tells it for MSE.

mod config;
mod frames;
mod peer;

pub use config::WebRtcConfig;
pub use frames::FramesError;

use gridwatch_ingest::Viewer;
use prometheus::{IntCounter, IntGauge};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::crypto::CryptoProvider;
use str0m::rtp::Extension;
use str0m::{Candidate, RtcConfig};
use tokio_util::sync::CancellationToken;

/// The RTP header extension id offered for `abs-capture-time` (the offer's id wins).
const ABS_CAPTURE_TIME_ID: u8 = 9;

/// Why a WHEP offer was not answered.
#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    #[error("WebRTC is switched off on this hub ([webrtc] enabled = false)")]
    Disabled,
    #[error("this hub serves {0} WebRTC viewers already ([webrtc] max_sessions)")]
    Full(usize),
    #[error("the SDP offer cannot be read: {0}")]
    BadOffer(String),
    #[error("the offer cannot be answered: {0}")]
    Unanswerable(String),
    #[error("the camera cannot be sent over WebRTC: {0}")]
    Codec(#[from] FramesError),
    #[error("no UDP socket for WebRTC: {0}")]
    Socket(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct WebRtcMetrics {
    /// `gridwatch_webrtc_sessions`: WebRTC viewers connected or connecting.
    pub sessions: IntGauge,
    /// `gridwatch_webrtc_frames_sent_total`: frames handed to WebRTC viewers.
    pub frames: IntCounter,
    /// `gridwatch_webrtc_keyframe_requests_total`: viewers that lost a frame and asked for a
    /// keyframe (they get the camera's next one).
    pub keyframe_requests: IntCounter,
}

impl WebRtcMetrics {
    fn new() -> Self {
        WebRtcMetrics {
            sessions: IntGauge::new("webrtc_sessions", "WebRTC viewers connected or connecting")
                .expect("valid metric"),
            frames: IntCounter::new(
                "webrtc_frames_sent_total",
                "Frames handed to WebRTC viewers",
            )
            .expect("valid metric"),
            keyframe_requests: IntCounter::new(
                "webrtc_keyframe_requests_total",
                "Keyframe requests (PLI/FIR) from WebRTC viewers that lost a frame",
            )
            .expect("valid metric"),
        }
    }
}

/// A session as the hub keeps it: whose it is and how to end it.
struct Session {
    owner: String,
    stop: CancellationToken,
}

/// What an answered offer gives the caller.
#[derive(Debug)]
pub struct Answer {
    /// The session's id, for its `DELETE`.
    pub id: String,
    pub sdp: String,
}

/// The hub's WebRTC sessions. Cheap to clone.
#[derive(Clone)]
pub struct WebRtc {
    inner: Arc<Inner>,
}

struct Inner {
    config: WebRtcConfig,
    candidates: Vec<IpAddr>,
    crypto: Arc<CryptoProvider>,
    sessions: Mutex<HashMap<String, Session>>,
    metrics: WebRtcMetrics,
    /// Ends every session when the hub stops.
    shutdown: CancellationToken,
}

impl WebRtc {
    pub fn new(
        config: WebRtcConfig,
        shutdown: CancellationToken,
        registry: &crate::metrics::Metrics,
    ) -> WebRtc {
        let candidates = config.candidates();
        let metrics = WebRtcMetrics::new();
        registry.register(Box::new(metrics.sessions.clone()));
        registry.register(Box::new(metrics.frames.clone()));
        registry.register(Box::new(metrics.keyframe_requests.clone()));
        WebRtc {
            inner: Arc::new(Inner {
                config,
                candidates,
                crypto: Arc::new(str0m::crypto::from_feature_flags()),
                sessions: Mutex::new(HashMap::new()),
                metrics,
                shutdown,
            }),
        }
    }

    pub fn metrics(&self) -> &WebRtcMetrics {
        &self.inner.metrics
    }

    pub fn enabled(&self) -> bool {
        self.inner.config.enabled
    }

    /// The host candidates offered to browsers.
    pub fn candidates(&self) -> &[IpAddr] {
        &self.inner.candidates
    }

    /// How many sessions are open.
    pub fn open(&self) -> usize {
        self.sessions().len()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers `offer` for `owner` with `viewer`'s video. The session runs on the viewer's
    /// video thread (or this runtime) until the browser leaves, `session_over` resolves (made
    /// once the session starts), it is deleted, or the hub stops; `slot` is held as long.
    pub fn answer<S, F>(
        &self,
        offer: &str,
        mut viewer: Viewer,
        camera: String,
        owner: String,
        session_over: F,
        slot: impl Send + 'static,
    ) -> Result<Answer, WebRtcError>
    where
        S: Future<Output = &'static str> + Unpin + Send + 'static,
        F: FnOnce() -> S + Send + 'static,
    {
        let config = &self.inner.config;
        if !config.enabled {
            return Err(WebRtcError::Disabled);
        }
        if self.open() >= config.max_sessions {
            return Err(WebRtcError::Full(config.max_sessions));
        }
        // The codec is known once the camera has sent its parameters: refuse H.265 now
        // rather than after a connection that can never play.
        if let Some(first) = viewer.try_recv() {
            let mut probe = frames::Frames::default();
            probe.step(&first, None, false)?;
            viewer.push_front(first);
        }
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| WebRtcError::BadOffer(e.to_string()))?;
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(self.inner.crypto.clone())
            .clear_codecs()
            .enable_h264(true)
            // Each frame's arrival at the hub rides in its first packet, for the page's
            // latency figure (Chromium's `captureTime`), when the browser offers it.
            .set_extension(ABS_CAPTURE_TIME_ID, Extension::AbsoluteCaptureTime)
            .set_ice_lite(true)
            .build(Instant::now());
        let mut sockets = Vec::new();
        for ip in &self.inner.candidates {
            let socket = std::net::UdpSocket::bind(SocketAddr::new(*ip, 0))?;
            let addr = socket.local_addr()?;
            let candidate = Candidate::host(addr, "udp")
                .map_err(|e| WebRtcError::Unanswerable(e.to_string()))?;
            rtc.add_local_candidate(candidate);
            sockets.push(socket);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebRtcError::Unanswerable(e.to_string()))?;
        let id = hex::encode(rand::random::<[u8; 16]>());
        let stop = self.inner.shutdown.child_token();
        self.sessions().insert(
            id.clone(),
            Session {
                owner,
                stop: stop.clone(),
            },
        );
        let home = viewer.home().cloned();
        let peer = peer::Peer {
            rtc,
            sockets,
            viewer,
            camera,
            metrics: self.inner.metrics.clone(),
            connect_timeout: Duration::from_secs(config.connect_timeout_seconds.max(1)),
            stop,
        };
        let this = self.clone();
        let session_id = id.clone();
        let served = async move {
            let session_over = session_over();
            peer.run(session_over).await;
            this.sessions().remove(&session_id);
            drop(slot);
        };
        // On the camera's video thread when it has one, as the live socket is.
        match home {
            Some(home) => drop(home.spawn(served)),
            None => drop(tokio::spawn(served)),
        }
        Ok(Answer {
            id,
            sdp: answer.to_sdp_string(),
        })
    }

    /// Ends session `id` if `owner` opened it (or `any_owner`); false when there is none.
    pub fn close(&self, id: &str, owner: &str, any_owner: bool) -> bool {
        let sessions = self.sessions();
        match sessions.get(id) {
            Some(s) if any_owner || s.owner == owner => {
                s.stop.cancel();
                true
            }
            _ => false,
        }
    }
}
