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
//! address that reaches the hub (the peer is [`crate::webrtc::Receiver`]); the hub's sender
//! reports tie each frame to the instant it arrived from the camera
//! ([`ReceivedFrame::at_sender`]).

use std::net::IpAddr;

pub use crate::webrtc::ReceivedFrame;
use crate::webrtc::{Connection, Receiver, RtcError};

#[derive(Debug, thiserror::Error)]
pub enum WhepError {
    #[error("the hub refused the offer: {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Rtc(#[from] RtcError),
}

/// A connected viewer; dropping it ends the connection (call [`WhepViewer::close`] to also
/// tell the hub at once).
pub struct WhepViewer {
    connection: Connection,
    resource: String,
    token: String,
    http: reqwest::Client,
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
        let mut peer = Receiver::bind(host)?;
        let offer = peer.offer()?;

        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/api/v1/cameras/{camera}/whep"))
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(offer)
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
        peer.accept_answer(&body)?;
        Ok(WhepViewer {
            connection: peer.start()?,
            resource: format!("{base}{location}"),
            token: token.to_string(),
            http,
        })
    }

    /// The next frame; `None` once the session is over.
    pub async fn next_frame(&mut self) -> Option<ReceivedFrame> {
        self.connection.next_frame().await
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
        Ok(r.status().as_u16())
    }
}
