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
}
