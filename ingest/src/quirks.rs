//! Per-camera workarounds for non-compliant RTSP servers.
//!
//! Each switch maps onto an option retina 0.4 already has for a camera
//! family it met in the wild; they are plain bools (and one string) so the
//! hub can store them with the camera and expose them in its API. All off is
//! retina's default behaviour, which suits standards-following cameras.

use serde::{Deserialize, Serialize};

/// Workarounds for one camera; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraQuirks {
    /// Ignore the `rtptime` of the `PLAY` response's `RTP-Info` header and
    /// start the timeline at the first packet (cameras that send a wrong
    /// `rtptime`, e.g. some Reolink firmware).
    /// Retina: `InitialTimestampPolicy::Ignore`.
    pub ignore_rtptime: bool,
    /// Ignore the `seq` of the `RTP-Info` header altogether (retina already
    /// ignores the suspicious `seq=0`/`seq=1` that Hikvision and Tapo send;
    /// this is for cameras whose other values are wrong too).
    /// Retina: `InitialSequenceNumberPolicy::Ignore`.
    pub ignore_rtp_info_seq: bool,
    /// Ignore interleaved data on channels that were never set up (cameras
    /// that start sending e.g. their audio or metadata track anyway) instead
    /// of failing the session.
    /// Retina: `UnassignedChannelDataPolicy::Ignore`.
    pub ignore_unassigned_channel_data: bool,
    /// Keep the session ID of the first `SETUP` response when later ones
    /// change it (some cheap cameras).
    /// Retina: `SessionIdPolicy::UseFirst`.
    pub use_first_session_id: bool,
    /// Process RTCP packets with an unknown SSRC as the stream's own
    /// (cameras whose sender reports carry another SSRC than their RTP).
    /// Retina: `UnknownRtcpSsrcPolicy::ProcessPackets`.
    pub accept_unknown_rtcp_ssrc: bool,
    /// Always send `TEARDOWN` and wait for stale sessions to expire, also
    /// over TCP (old live555-based firmware, e.g. older Hikvision, that keeps
    /// sending on a closed connection's session and refuses new ones).
    /// Retina: `TeardownPolicy::Always`.
    pub always_teardown: bool,
    /// User-Agent to send instead of the default (cameras that only talk to
    /// the clients they know).
    pub user_agent: Option<String>,
}

impl CameraQuirks {
    pub(crate) fn session_options(&self) -> retina::client::SessionOptions {
        use retina::client::{
            SessionIdPolicy, SessionOptions, TeardownPolicy, UnassignedChannelDataPolicy,
        };
        let mut options = SessionOptions::default().user_agent(
            self.user_agent
                .clone()
                .unwrap_or_else(|| crate::session::DEFAULT_USER_AGENT.to_string()),
        );
        if self.ignore_unassigned_channel_data {
            options = options.unassigned_channel_data(UnassignedChannelDataPolicy::Ignore);
        }
        if self.use_first_session_id {
            options = options.session_id(SessionIdPolicy::UseFirst);
        }
        if self.always_teardown {
            options = options.teardown(TeardownPolicy::Always);
        }
        options
    }

    pub(crate) fn play_options(&self) -> retina::client::PlayOptions {
        use retina::client::{
            InitialSequenceNumberPolicy, InitialTimestampPolicy, PlayOptions, UnknownRtcpSsrcPolicy,
        };
        let mut options = PlayOptions::default();
        if self.ignore_rtptime {
            options = options.initial_timestamp(InitialTimestampPolicy::Ignore);
        }
        if self.ignore_rtp_info_seq {
            options = options.initial_seq(InitialSequenceNumberPolicy::Ignore);
        }
        if self.accept_unknown_rtcp_ssrc {
            options = options.unknown_rtcp_ssrc(UnknownRtcpSsrcPolicy::ProcessPackets);
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_default_to_off() {
        let q: CameraQuirks = serde_json::from_str(r#"{"ignore_rtptime": true}"#).unwrap();
        assert!(q.ignore_rtptime);
        assert_eq!(
            q,
            CameraQuirks {
                ignore_rtptime: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(serde_json::from_str::<CameraQuirks>(r#"{"ignore_everything": true}"#).is_err());
    }

    /// The `User-Agent` reaches the camera: a listener stands in for one and reads the first
    /// request the session sends.
    #[tokio::test]
    async fn the_user_agent_is_sent() {
        use crate::session::{Session, SessionConfig, DEFAULT_USER_AGENT};
        use tokio::io::AsyncReadExt;
        for (asked, expected) in [
            (Some("HikvisionClient/1.0"), "HikvisionClient/1.0"),
            (None, DEFAULT_USER_AGENT),
        ] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("rtsp://{}/cam1", listener.local_addr().unwrap());
            let mut config = SessionConfig::new(url.parse().unwrap());
            config.quirks.user_agent = asked.map(str::to_string);
            let camera = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = vec![0u8; 4096];
                let mut len = 0;
                while !request[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut request[len..]).await.unwrap();
                    assert!(n > 0, "the client closed before a whole request");
                    len += n;
                }
                String::from_utf8_lossy(&request[..len]).into_owned()
                // Dropping the socket answers nothing: the session fails, which is fine here.
            });
            let _ = Session::connect(&config, None).await;
            let request = camera.await.unwrap();
            let header = format!("User-Agent: {expected}\r\n");
            assert!(
                request
                    .to_ascii_lowercase()
                    .contains(&header.to_ascii_lowercase()),
                "{request}"
            );
        }
    }
}
