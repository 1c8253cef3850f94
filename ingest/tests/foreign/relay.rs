//! A lossy network between the ingest and an RTSP server, for RTP over UDP: an RTSP proxy
//! that points each stream's UDP ports at a relay of its own, and the relay, which drops
//! every Nth RTP packet, swaps others, or starts a client in the middle of a fragmented NAL
//! unit the way a server sharing one stream among clients does (VLC's, which offers UDP
//! only).
//!
//! `SETUP`'s `client_port` is rewritten to the relay's ports (so the server sends there) and
//! the answer's `server_port` too (so the client, which connects its sockets to the server's
//! ports, takes the relay's packets). The relay passes RTCP unharmed, and the client's
//! packets to the server. With [`Impairment::join_mid_fragment`] the `seq` of the `PLAY`
//! answer's `RTP-Info` goes too, so that the client cannot tell the first packet it gets
//! from the first one sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use gridwatch_ingest::fmp4::VideoCodec;

use super::quirks::QuirkyCamera;

/// What the relay does to RTP packets from the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Impairment {
    /// Drop every Nth packet.
    pub drop_every: Option<u64>,
    /// Hold every Nth packet back and send it after the next one.
    pub swap_every: Option<u64>,
    /// Forward nothing until `PLAY` is answered, then start at a fragment that does not
    /// start its NAL unit (H.264 FU-A or H.265 FU).
    pub join_mid_fragment: bool,
    /// Rewrite packets of this codec the way quirky cameras send them (see `quirks.rs`).
    pub camera_quirks: Option<VideoCodec>,
}

impl Impairment {
    /// A lossy network: every 97th packet dropped, every 61st swapped with the next.
    pub fn lossy() -> Impairment {
        Impairment {
            drop_every: Some(97),
            swap_every: Some(61),
            ..Impairment::default()
        }
    }
}

/// What the relay did, for the test to print and check.
#[derive(Debug, Default)]
pub struct RelayCounts {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub swapped: AtomicU64,
    /// The first packet forwarded was a fragment without the start of its NAL unit.
    pub joined_mid_fragment: AtomicBool,
    /// Packets rewritten or inserted as quirky cameras send them.
    pub quirky: AtomicU64,
}

/// The proxy; dropping it stops it.
pub struct LossyProxy {
    pub port: u16,
    pub counts: Arc<RelayCounts>,
    task: JoinHandle<()>,
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LossyProxy {
    /// Proxies RTSP to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16, impairment: Impairment) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(RelayCounts::default());
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                connections.push(AbortOnDrop(tokio::spawn(proxy(
                    client,
                    server,
                    impairment,
                    shared.clone(),
                ))));
            }
        });
        LossyProxy { port, counts, task }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One RTSP message or interleaved frame, as read from a connection.
enum Message {
    /// Head (start line and headers, with the blank line) and body.
    Text(String, Vec<u8>),
    Interleaved(Vec<u8>),
}

async fn read_message(
    conn: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut Vec<u8>,
) -> Option<Message> {
    loop {
        if buf.first() == Some(&b'$') && buf.len() >= 4 {
            let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() >= len {
                return Some(Message::Interleaved(buf.drain(..len).collect()));
            }
        } else if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let body_len = header(&head, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + body_len {
                buf.drain(..end + 4);
                let body = buf.drain(..body_len).collect();
                return Some(Message::Text(head, body));
            }
        }
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Replaces header `name`'s value.
fn set_header(head: &str, name: &str, value: &str) -> String {
    head.split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((k, _)) if k.trim().eq_ignore_ascii_case(name) => format!("{k}: {value}"),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The `a-b` port pair of a transport parameter, e.g. `client_port`.
fn port_pair(transport: &str, param: &str) -> Option<(u16, u16)> {
    let value = transport
        .split(';')
        .find_map(|p| p.trim().strip_prefix(param)?.strip_prefix('='))?;
    let (a, b) = value.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Sets `param`'s ports (and drops `source`, which would name the server).
fn with_ports(transport: &str, changes: &[(&str, (u16, u16))]) -> String {
    transport
        .split(';')
        .filter(|p| !p.trim().starts_with("source="))
        .map(|p| {
            for (param, (a, b)) in changes {
                if p.trim().starts_with(&format!("{param}=")) {
                    return format!("{param}={a}-{b}");
                }
            }
            p.to_string()
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// A stream's relay sockets: RTP and RTCP on consecutive ports (the client connects its
/// RTCP socket to the RTP port + 1).
async fn bind_pair() -> (UdpSocket, UdpSocket) {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)).await {
            return (rtp, rtcp);
        }
    }
}

/// What a `SETUP` in flight needs when its answer comes.
struct PendingSetup {
    client: (u16, u16),
    relay: (UdpSocket, UdpSocket),
}

async fn proxy(
    client: TcpStream,
    server: TcpStream,
    impairment: Impairment,
    counts: Arc<RelayCounts>,
) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let pending: Arc<Mutex<HashMap<String, PendingSetup>>> = Arc::default();
    let playing = Arc::new(AtomicBool::new(false));
    let mut relays = Vec::new();

    let requests = {
        let pending = pending.clone();
        async move {
            let mut buf = Vec::new();
            while let Some(msg) = read_message(&mut client_rx, &mut buf).await {
                let bytes = match msg {
                    Message::Interleaved(frame) => frame,
                    Message::Text(mut head, body) => {
                        let transport = header(&head, "transport").map(str::to_string);
                        let ports = transport
                            .as_deref()
                            .and_then(|t| port_pair(t, "client_port"));
                        if let (Some(transport), Some(client_ports)) = (transport, ports) {
                            let relay = bind_pair().await;
                            let relay_ports = (
                                relay.0.local_addr().unwrap().port(),
                                relay.1.local_addr().unwrap().port(),
                            );
                            let cseq = header(&head, "cseq").unwrap_or("").to_string();
                            head = set_header(
                                &head,
                                "Transport",
                                &with_ports(&transport, &[("client_port", relay_ports)]),
                            );
                            pending.lock().unwrap().insert(
                                cseq,
                                PendingSetup {
                                    client: client_ports,
                                    relay,
                                },
                            );
                        }
                        let mut bytes = head.into_bytes();
                        bytes.extend_from_slice(&body);
                        bytes
                    }
                };
                if server_tx.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        }
    };

    let responses = async {
        let mut buf = Vec::new();
        while let Some(msg) = read_message(&mut server_rx, &mut buf).await {
            let bytes = match msg {
                Message::Interleaved(frame) => frame,
                Message::Text(mut head, body) => {
                    let cseq = header(&head, "cseq").unwrap_or("").to_string();
                    let setup = pending.lock().unwrap().remove(&cseq);
                    if let Some(setup) = setup {
                        let transport = header(&head, "transport").unwrap_or("").to_string();
                        let server_ports = port_pair(&transport, "server_port").unwrap();
                        let relay_ports = (
                            setup.relay.0.local_addr().unwrap().port(),
                            setup.relay.1.local_addr().unwrap().port(),
                        );
                        head = set_header(
                            &head,
                            "Transport",
                            &with_ports(
                                &transport,
                                &[("client_port", setup.client), ("server_port", relay_ports)],
                            ),
                        );
                        let (rtp, rtcp) = (Arc::new(setup.relay.0), Arc::new(setup.relay.1));
                        let client = |p| SocketAddr::from(([127, 0, 0, 1], p));
                        relays.push(AbortOnDrop(tokio::spawn(relay(
                            rtp,
                            client(setup.client.0),
                            client(server_ports.0),
                            Some((impairment, playing.clone())),
                            counts.clone(),
                        ))));
                        relays.push(AbortOnDrop(tokio::spawn(relay(
                            rtcp,
                            client(setup.client.1),
                            client(server_ports.1),
                            None,
                            counts.clone(),
                        ))));
                    } else if let Some(rtp_info) = header(&head, "rtp-info") {
                        if impairment.join_mid_fragment {
                            let without_seq = rtp_info
                                .split(';')
                                .filter(|p| !p.trim().starts_with("seq="))
                                .collect::<Vec<_>>()
                                .join(";");
                            head = set_header(&head, "RTP-Info", &without_seq);
                        }
                        playing.store(true, Ordering::SeqCst);
                    }
                    let mut bytes = head.into_bytes();
                    bytes.extend_from_slice(&body);
                    bytes
                }
            };
            if client_tx.write_all(&bytes).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = requests => {}
        () = responses => {}
    }
}

/// Whether an RTP packet's payload is a fragment after the first of its NAL unit.
fn is_continuation_fragment(packet: &[u8]) -> bool {
    let Some(&first) = packet.first() else {
        return false;
    };
    let csrcs = usize::from(first & 0x0F);
    let payload = packet.get(12 + 4 * csrcs..).unwrap_or(&[]);
    let fu_header = match payload {
        // H.264 FU-A: indicator type 28, then the FU header.
        [indicator, fu, ..] if indicator & 0x1F == 28 => *fu,
        // H.265 FU: two-byte NAL header of type 49, then the FU header.
        [h0, _, fu, ..] if (h0 >> 1) & 0x3F == 49 => *fu,
        _ => return false,
    };
    fu_header & 0x80 == 0
}

/// Moves packets between the server's port and the client's through `socket`; harms
/// server-to-client RTP as `impairment` says.
async fn relay(
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    server: SocketAddr,
    impairment: Option<(Impairment, Arc<AtomicBool>)>,
    counts: Arc<RelayCounts>,
) {
    let mut buf = vec![0u8; 65_536];
    let mut n: u64 = 0;
    let mut held: Option<Vec<u8>> = None;
    let mut joined = false;
    let mut quirky = impairment
        .as_ref()
        .and_then(|(i, _)| i.camera_quirks)
        .map(QuirkyCamera::new);
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let packet = &buf[..len];
        if from == client {
            let _ = socket.send_to(packet, server).await;
            continue;
        }
        if from != server {
            continue;
        }
        let Some((impairment, playing)) = &impairment else {
            let _ = socket.send_to(packet, client).await;
            continue;
        };
        if impairment.join_mid_fragment && !joined {
            if !playing.load(Ordering::SeqCst) || !is_continuation_fragment(packet) {
                continue;
            }
            joined = true;
            counts.joined_mid_fragment.store(true, Ordering::SeqCst);
        }
        n += 1;
        if impairment
            .drop_every
            .is_some_and(|every| n.is_multiple_of(every))
        {
            counts.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if held.is_none()
            && impairment
                .swap_every
                .is_some_and(|every| n.is_multiple_of(every))
        {
            held = Some(packet.to_vec());
            continue;
        }
        let mut out = vec![packet.to_vec()];
        if let Some(earlier) = held.take() {
            out.push(earlier);
            counts.swapped.fetch_add(1, Ordering::Relaxed);
        }
        for p in out {
            let sent = match quirky.as_mut() {
                Some(q) => {
                    let mangled = q.mangle(&p);
                    let changed = mangled.len() != 1 || mangled[0][4..] != p[4..];
                    counts
                        .quirky
                        .fetch_add(u64::from(changed) * mangled.len() as u64, Ordering::Relaxed);
                    mangled
                }
                None => vec![p],
            };
            for p in sent {
                let _ = socket.send_to(&p, client).await;
                counts.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_ports_are_rewritten() {
        let t =
            "RTP/AVP;unicast;client_port=5000-5001;server_port=7000-7001;source=10.0.0.1;ssrc=1";
        assert_eq!(port_pair(t, "client_port"), Some((5000, 5001)));
        assert_eq!(port_pair(t, "server_port"), Some((7000, 7001)));
        assert_eq!(
            with_ports(t, &[("server_port", (9000, 9001))]),
            "RTP/AVP;unicast;client_port=5000-5001;server_port=9000-9001;ssrc=1"
        );
    }

    #[test]
    fn continuation_fragments_are_recognised() {
        let rtp =
            |payload: &[u8]| [&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1][..], payload].concat();
        assert!(is_continuation_fragment(&rtp(&[0x7C, 0x01, 0xAA])));
        assert!(is_continuation_fragment(&rtp(&[0x7C, 0x41, 0xAA])), "end");
        assert!(
            !is_continuation_fragment(&rtp(&[0x7C, 0x81, 0xAA])),
            "start"
        );
        assert!(!is_continuation_fragment(&rtp(&[0x65, 0x88])), "single NAL");
        assert!(is_continuation_fragment(&rtp(&[49 << 1, 0x01, 0x13, 0xAA])));
        assert!(!is_continuation_fragment(&rtp(&[
            49 << 1,
            0x01,
            0x93,
            0xAA
        ])));
    }
}
