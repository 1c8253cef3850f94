//! One WebRTC viewer: a str0m `Rtc` driven by this task, its UDP sockets and the camera's
//! live fan-out.
//!
//! str0m is sans-IO: it never reads a socket or a clock itself. This loop follows its one
//! rule (every change to the `Rtc` is followed by draining `poll_output` until it asks for a
//! timeout) and waits for whichever comes first: a datagram, that timeout, the next frame of
//! the camera, or the end (the client's DELETE, its session ending, the hub stopping).

use super::frames::{Frames, Step};
use super::WebRtcMetrics;
use gridwatch_ingest::Viewer;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::AbsCaptureTime;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A datagram as read: its bytes, where from, and the socket it reached.
type Datagram = (Vec<u8>, SocketAddr, SocketAddr);

/// Everything one session runs with.
pub(super) struct Peer {
    pub rtc: Rtc,
    /// One socket per host candidate, bound to it.
    pub sockets: Vec<std::net::UdpSocket>,
    pub viewer: Viewer,
    pub camera: String,
    pub metrics: WebRtcMetrics,
    pub connect_timeout: Duration,
    pub stop: CancellationToken,
}

impl Peer {
    /// Runs the session to its end; says why it ended.
    pub async fn run(self, session_over: impl Future<Output = &'static str> + Unpin) -> String {
        let camera = self.camera.clone();
        let metrics = self.metrics.clone();
        metrics.sessions.inc();
        let why = match self.serve(session_over).await {
            Ok(why) => why.to_string(),
            Err(e) => e,
        };
        metrics.sessions.dec();
        tracing::debug!(%camera, why = %why, "webrtc viewer gone");
        why
    }

    async fn serve(
        self,
        mut session_over: impl Future<Output = &'static str> + Unpin,
    ) -> Result<&'static str, String> {
        let Peer {
            mut rtc,
            sockets,
            mut viewer,
            camera,
            metrics,
            connect_timeout,
            stop,
        } = self;
        let sockets = sockets
            .into_iter()
            .map(|s| {
                s.set_nonblocking(true)
                    .and_then(|()| UdpSocket::from_std(s))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("udp socket: {e}"))?;
        let sockets: Vec<_> = sockets.into_iter().map(std::sync::Arc::new).collect();
        // Each socket's address, asked once: str0m names the source of every packet to send.
        let locals: Vec<_> = sockets.iter().map(|s| s.local_addr().ok()).collect();
        // Each socket's reader feeds one queue, so the loop waits on one thing for all.
        let (tx, mut datagrams) = mpsc::channel::<Datagram>(256);
        let mut readers = tokio::task::JoinSet::new();
        for socket in &sockets {
            readers.spawn(read_datagrams(socket.clone(), tx.clone()));
        }
        drop(tx);

        let mut frames = Frames::default();
        let mut video: Option<(Mid, Option<Pt>)> = None;
        let mut connected = false;
        let connect_by = tokio::time::Instant::now() + connect_timeout;
        let ended = loop {
            // Drain: send what str0m has to send, take its events, until it names a deadline.
            let deadline = loop {
                match rtc.poll_output().map_err(|e| format!("webrtc: {e}"))? {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let at = locals.iter().position(|a| *a == Some(t.source));
                        let socket = &sockets[at.unwrap_or(0)];
                        // A datagram the kernel will not take is a lost packet, as on the wire.
                        let _ = socket.try_send_to(&t.contents, t.destination);
                    }
                    Output::Event(Event::Connected) => connected = true,
                    Output::Event(Event::MediaAdded(m)) if m.kind == MediaKind::Video => {
                        video = Some((m.mid, None));
                    }
                    // The browser lost a frame: only a keyframe helps it now.
                    Output::Event(Event::KeyframeRequest(_)) => {
                        frames.restart();
                        metrics.keyframe_requests.inc();
                    }
                    Output::Event(Event::IceConnectionStateChange(
                        IceConnectionState::Disconnected,
                    )) => return Ok("the browser went away (ICE disconnected)"),
                    Output::Event(_) => {}
                }
            };
            let wait = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                biased;
                _ = stop.cancelled() => break "closed",
                why = &mut session_over => break why,
                _ = tokio::time::sleep_until(connect_by), if !connected => {
                    break "never connected";
                }
                datagram = datagrams.recv() => {
                    let Some((bytes, source, destination)) = datagram else {
                        break "sockets closed";
                    };
                    let Ok(contents) = bytes.as_slice().try_into() else {
                        continue; // not STUN, DTLS or RTP: not for us
                    };
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination,
                        contents,
                    });
                    if let Err(e) = rtc.handle_input(input) {
                        tracing::debug!(%camera, error = %e, "webrtc input refused");
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    rtc.handle_input(Input::Timeout(Instant::now()))
                        .map_err(|e| format!("webrtc: {e}"))?;
                }
                msg = viewer.recv() => {
                    let Some(msg) = msg else { break "camera removed" };
                    let ready = connected && video.is_some();
                    let step = frames
                        .step(&msg, viewer.arrived(), ready)
                        .map_err(|e| e.to_string())?;
                    let (Step::Send(au), Some((mid, pt))) = (step, video.as_mut()) else {
                        continue;
                    };
                    let Some(writer) = rtc.writer(*mid) else { continue };
                    let pt = match pt {
                        Some(pt) => *pt,
                        None => match h264_payload_type(&writer) {
                            Some(found) => *pt.insert(found),
                            None => return Err("the browser offered no H.264 that fits".into()),
                        },
                    };
                    let time = MediaTime::new(au.media_time, str0m::media::Frequency::NINETY_KHZ);
                    let arrived_at = SystemTime::now() - au.arrived.elapsed();
                    let writer = writer.abs_capture_time(AbsCaptureTime {
                        capture_time: arrived_at,
                        clock_offset: None,
                    });
                    match writer.write(pt, au.arrived, time, au.data) {
                        Ok(()) => metrics.frames.inc(),
                        Err(e) => tracing::debug!(%camera, error = %e, "webrtc write"),
                    }
                }
            }
        };
        rtc.disconnect();
        readers.abort_all();
        Ok(ended)
    }
}

/// The payload type to send H.264 with: packetization mode 1 (fragments), which every
/// browser offers.
fn h264_payload_type(writer: &str0m::media::Writer<'_>) -> Option<Pt> {
    writer
        .payload_params()
        .filter(|p| p.spec().codec == Codec::H264)
        .find(|p| p.spec().format.packetization_mode == Some(1))
        .map(|p| p.pt())
}

async fn read_datagrams(socket: std::sync::Arc<UdpSocket>, tx: mpsc::Sender<Datagram>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buf = vec![0u8; 2000];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                if tx.send((buf[..n].to_vec(), from, local)).await.is_err() {
                    return;
                }
            }
            // ICMP "port unreachable" from a browser that left shows up as an error on
            // Linux; the session ends by its own timeouts, not here.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}
