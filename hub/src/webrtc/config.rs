//! `[webrtc]`: WebRTC (WHEP) for the focused and incident views.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebRtcConfig {
    /// Offer live video over WebRTC (`POST /api/v1/cameras/{id}/whep`). Off: the endpoint
    /// answers 404 `webrtc_disabled` and the pages play the live socket (MSE) instead.
    pub enabled: bool,
    /// The addresses browsers reach this hub at over UDP, given to them as ICE host
    /// candidates: a centre's closed network needs no STUN or TURN. Empty: the address of the
    /// interface the default route leaves by, else 127.0.0.1.
    pub candidates: Vec<IpAddr>,
    /// Most WebRTC viewers at once on this node; more are refused with 503 (the page then
    /// plays the live socket).
    pub max_sessions: usize,
    /// Seconds a new session may take to connect (ICE and DTLS) before it is given up.
    pub connect_timeout_seconds: u64,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            enabled: true,
            candidates: Vec::new(),
            max_sessions: 64,
            connect_timeout_seconds: 10,
        }
    }
}

impl WebRtcConfig {
    /// The candidates to offer: the configured ones, or one found on this machine.
    pub fn candidates(&self) -> Vec<IpAddr> {
        if !self.candidates.is_empty() {
            return self.candidates.clone();
        }
        vec![default_route_address().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))]
    }
}

/// The local address the kernel would send from towards the outside: a UDP socket
/// "connected" to a documentation address (no packet is sent).
fn default_route_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(("198.51.100.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_candidates_are_used_as_given() {
        let config = WebRtcConfig {
            candidates: vec!["10.1.2.3".parse().unwrap()],
            ..WebRtcConfig::default()
        };
        assert_eq!(
            config.candidates(),
            vec!["10.1.2.3".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn without_candidates_one_address_of_this_machine_is_offered() {
        let found = WebRtcConfig::default().candidates();
        assert_eq!(found.len(), 1);
        assert!(!found[0].is_unspecified());
    }
}
