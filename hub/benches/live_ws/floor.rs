//! The floor: what it costs just to move a camera's bytes through a process on this machine.
//!
//! A relay child (this binary re-executed, `GRIDWATCH_BENCH_RELAY`) opens each camera with a
//! bare RTSP exchange (`DESCRIBE`, `SETUP` interleaved over TCP, `PLAY`) and then copies every
//! byte it reads from the camera to a TCP connection of its own to this process, parsing
//! nothing: no RTP, no H.264, no fMP4, no WebSocket framing, no GOP, no metrics. It runs on
//! one thread that lets events gather as the hub's video threads do (`wake_batch`), so it
//! pays what any relay on this machine pays at the least: the kernel's work to receive the
//! stream and to send it on (on loopback, sending includes the receiver's TCP processing),
//! and the wake-ups. Its CPU per stream-minute, measured like the hub's, tells how much of
//! the hub's cost is the hub's own and how far below ffmpeg's any relay here can go.

use std::cell::Cell;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::{cpu_seconds, spawn_self, stop_child};

/// The variable that makes this binary the relay child, set to `SINK BATCH_MS URL…`.
const RELAY: &str = "GRIDWATCH_BENCH_RELAY";

/// In the relay child: relays until stdin closes, then returns true; elsewhere false at once.
pub fn relay_child() -> bool {
    let Ok(spec) = std::env::var(RELAY) else {
        return false;
    };
    let mut words = spec.split_whitespace();
    let sink = words.next().expect("sink address").to_string();
    let batch = Duration::from_millis(words.next().and_then(|b| b.parse().ok()).unwrap_or(0));
    let urls: Vec<String> = words.map(String::from).collect();
    run_relay(&sink, batch, &urls);
    true
}

thread_local! {
    static WOKE: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn run_relay(sink: &str, batch: Duration, urls: &[String]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_unpark(|| WOKE.set(Some(Instant::now())))
        .on_thread_park(move || {
            if let Some(awake) = WOKE.get().map(|w| w.elapsed()) {
                if awake < batch {
                    std::thread::sleep(batch - awake);
                }
            }
        })
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for url in urls {
            let (camera, leftover) = play(url).await;
            let out = TcpStream::connect(sink).await.expect("sink");
            tokio::spawn(copy(camera, leftover, out));
        }
        println!("ready");
        let _ = tokio::task::spawn_blocking(super::support::wait_for_stdin_close).await;
    });
    runtime.shutdown_background();
}

async fn copy(mut from: TcpStream, first: Vec<u8>, mut to: TcpStream) {
    if to.write_all(&first).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A bare RTSP exchange up to `PLAY`; the socket and any stream bytes read past the answer.
async fn play(url: &str) -> (TcpStream, Vec<u8>) {
    let host = url
        .strip_prefix("rtsp://")
        .and_then(|r| r.split('/').next())
        .expect("rtsp://HOST:PORT/…");
    let mut s = TcpStream::connect(host).await.expect("camera");
    let mut buf = Vec::new();
    let describe = format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n");
    let (head, sdp) = exchange(&mut s, &mut buf, &describe).await;
    let base = header(&head, "Content-Base").unwrap_or_else(|| format!("{url}/"));
    let sdp = String::from_utf8_lossy(&sdp).into_owned();
    let video = sdp.split("m=video").nth(1).expect("a video stream");
    let control = video
        .lines()
        .find_map(|l| l.trim().strip_prefix("a=control:"))
        .expect("a control URL");
    let track = if control.starts_with("rtsp://") {
        control.to_string()
    } else {
        format!("{base}{control}")
    };
    let setup = format!(
        "SETUP {track} RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
    );
    let (head, _) = exchange(&mut s, &mut buf, &setup).await;
    let session = header(&head, "Session").expect("a session");
    let session = session.split(';').next().unwrap_or_default();
    let play =
        format!("PLAY {base} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\nRange: npt=0-\r\n\r\n");
    exchange(&mut s, &mut buf, &play).await;
    (s, buf)
}

/// Sends a request and reads its answer: the head and the body (`buf` keeps what follows).
async fn exchange(s: &mut TcpStream, buf: &mut Vec<u8>, request: &str) -> (String, Vec<u8>) {
    s.write_all(request.as_bytes()).await.expect("request");
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(s, buf).await;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    assert!(head.starts_with("RTSP/1.0 200"), "camera answered {head}");
    let len: usize = header(&head, "Content-Length").map_or(0, |l| l.parse().expect("length"));
    while buf.len() < head_end + len {
        read_more(s, buf).await;
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    (head, body)
}

async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = s.read(&mut chunk).await.expect("camera answers");
    assert!(n > 0, "camera closed the connection");
    buf.extend_from_slice(&chunk[..n]);
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The relay's CPU seconds per stream-minute over `seconds` (after 3 s to settle), with a
/// wake batch of `batch_ms`; this process drains what it relays.
pub async fn measure(urls: &[String], batch_ms: u64, seconds: u64, ticks: f64) -> f64 {
    let sink = TcpListener::bind("127.0.0.1:0").await.expect("sink");
    let addr = sink.local_addr().expect("sink address");
    let m = urls.len();
    let drain = tokio::spawn(async move {
        let mut readers = Vec::new();
        for _ in 0..m {
            let (mut s, _) = sink.accept().await.expect("relay connects");
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(1..) = s.read(&mut buf).await {}
            }));
        }
        readers
    });
    let spec = format!("{addr} {batch_ms} {}", urls.join(" "));
    let mut child = tokio::task::spawn_blocking(move || spawn_self(RELAY, &spec, &[]).0)
        .await
        .expect("relay starts");
    let readers = drain.await.expect("relay connected");
    let pid = child.id().to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu0 = cpu_seconds(&pid, ticks);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds(&pid, ticks) - cpu0;
    let elapsed = t0.elapsed().as_secs_f64();
    let _ = tokio::task::spawn_blocking(move || stop_child(&mut child)).await;
    for r in readers {
        r.abort();
    }
    cpu / m as f64 / (elapsed / 60.0)
}
