//! A receiving WebRTC peer (str0m) whose signalling happens elsewhere: WHEP with the hub
//! ([`crate::whep`]), or another server's own API (the `live_ws` benchmark asks Janus for the
//! same cameras through Janus' HTTP API).
//!
//! It receives one H.264 video track on its own UDP socket, answers RTCP, and hands over each
//! frame whole (depacketized, Annex B) with the instant it left the camera's side of the
//! sender, when the sender's RTCP reports say.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    #[error("webrtc: {0}")]
    Protocol(String),
    #[error("udp: {0}")]
    Io(#[from] std::io::Error),
    #[error("no offer of ours is waiting for an answer")]
    NoOffer,
}

fn protocol(e: impl std::fmt::Display) -> RtcError {
    RtcError::Protocol(e.to_string())
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
    /// The wall-clock instant the sender's latest RTCP sender report maps this frame's RTP
    /// time to (`None` before the first report). The hub's reports say when the frame
    /// arrived from the camera.
    pub at_sender: Option<SystemTime>,
}

/// A peer before its connection starts: make or answer an offer, then [`Receiver::start`].
pub struct Receiver {
    rtc: Rtc,
    socket: UdpSocket,
    pending: Option<SdpPendingOffer>,
}

impl Receiver {
    /// A peer with a UDP socket on `ip` (port chosen by the kernel), its only candidate.
    pub fn bind(ip: IpAddr) -> Result<Receiver, RtcError> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_h264(true)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(socket.local_addr()?, "udp").map_err(protocol)?);
        Ok(Receiver {
            rtc,
            socket,
            pending: None,
        })
    }

    /// Our offer to receive one video track (the WHEP way round).
    pub fn offer(&mut self) -> Result<String, RtcError> {
        let mut change = self.rtc.sdp_api();
        change.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| RtcError::Protocol("nothing to offer".into()))?;
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    /// Applies the remote answer to [`Receiver::offer`].
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), RtcError> {
        let pending = self.pending.take().ok_or(RtcError::NoOffer)?;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(protocol)?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(protocol)
    }

    /// Answers a remote offer (the way round of servers that offer, as Janus does).
    pub fn answer(&mut self, sdp: &str) -> Result<String, RtcError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(protocol)?;
        let answer = self.rtc.sdp_api().accept_offer(offer).map_err(protocol)?;
        Ok(answer.to_sdp_string())
    }

    /// Starts the connection. A reader that does not keep up loses frames (512 are buffered),
    /// not the connection.
    pub fn start(self) -> Result<Connection, RtcError> {
        self.socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(self.socket)?;
        let (tx, frames) = mpsc::channel(512);
        Ok(Connection {
            frames,
            task: tokio::spawn(run(self.rtc, socket, tx)),
        })
    }
}

/// A started peer; dropping it ends the connection.
pub struct Connection {
    frames: mpsc::Receiver<ReceivedFrame>,
    task: JoinHandle<()>,
}

impl Connection {
    /// The next frame; `None` once the connection is over.
    pub async fn next_frame(&mut self) -> Option<ReceivedFrame> {
        self.frames.recv().await
    }
}

impl Drop for Connection {
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
                    let at_sender = m.last_sender_info.map(|sr| {
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
                        at_sender,
                    };
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
