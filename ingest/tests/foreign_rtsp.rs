//! The ingest against a camera nobody here wrote: gst-rtsp-server driven from Python
//! (`tests/foreign/rtsp_server.py`), x264 and x265 with their own settings, over TCP and
//! over UDP through a relay that loses, reorders, or joins the stream mid-fragment
//! (`tests/foreign/relay.rs`).
//!
//! What the issue reported, and these check: H.265 with open GOP sends CRA pictures as
//! keyframes, and the GOP cache must start over at each; a stream that goes longer without a
//! keyframe than the cache holds says so instead of growing; lost and reordered UDP packets
//! drop the damaged frames until the next keyframe without ending the session; a stream
//! joined in the middle of a FU-A (a server sharing one stream among clients) comes online;
//! and the quirks of cameras in retina's issue tracker (fragments with both S and E set,
//! empty fragments, the reserved bit) damage nothing.

use crate::common;
use crate::foreign;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use foreign::relay::{Impairment, LossyProxy};
use foreign::{Encoding, ForeignCamera};
use gridwatch_ingest::fmp4::{classify, inspect, VideoCodec, SYNC_SAMPLE_FLAGS};
use gridwatch_ingest::gop::GopLimits;
use gridwatch_ingest::{
    Cameras, DropReason, IngestConfig, LiveMessage, Quality, StreamState, Transport, Viewer,
};

/// 25 fps in 90 kHz ticks.
const FRAME: u64 = 3600;

/// One media segment as a viewer got it.
#[derive(Debug)]
struct Segment {
    bytes: Vec<u8>,
    decode_time: u64,
    sync: bool,
    /// The NAL unit types of its frame.
    nal_types: Vec<u8>,
}

fn segment(bytes: &[u8], codec: VideoCodec) -> Segment {
    let info = inspect::parse_media_segment(bytes).expect("a media segment");
    let sample = &bytes[info.sample_ranges[0].clone()];
    let mut nal_types = Vec::new();
    let mut pos = 0;
    while pos + 4 <= sample.len() {
        let len = u32::from_be_bytes(sample[pos..pos + 4].try_into().unwrap()) as usize;
        let header = sample[pos + 4];
        nal_types.push(match codec {
            VideoCodec::H264 => header & 0x1F,
            VideoCodec::H265 => (header >> 1) & 0x3F,
        });
        pos += 4 + len;
    }
    assert_eq!(
        classify(codec, sample).unwrap().is_keyframe(),
        info.samples[0].flags == Some(SYNC_SAMPLE_FLAGS),
        "a sync sample exactly when the frame is a keyframe"
    );
    Segment {
        bytes: bytes.to_vec(),
        decode_time: info.base_decode_time,
        sync: info.samples[0].flags == Some(SYNC_SAMPLE_FLAGS),
        nal_types,
    }
}

/// What a viewer has: its init segment and media segments.
#[derive(Debug, Default)]
struct Received {
    init: Option<Vec<u8>>,
    media: Vec<Segment>,
}

impl Received {
    fn take(&mut self, msg: LiveMessage, codec: VideoCodec) {
        match msg {
            LiveMessage::Init { segment, .. } => {
                assert!(self.init.is_none(), "one init segment");
                self.init = Some(segment.to_vec());
            }
            LiveMessage::Media(bytes) => self.media.push(segment(&bytes, codec)),
        }
    }

    /// What the viewer has at once on subscribing: the init segment and the cached GOP.
    fn backlog(viewer: &mut Viewer, codec: VideoCodec) -> Received {
        let mut r = Received::default();
        while let Some(msg) = viewer.try_recv() {
            r.take(msg, codec);
        }
        r
    }

    /// Adds what the viewer gets for `time`.
    async fn follow(&mut self, viewer: &mut Viewer, codec: VideoCodec, time: Duration) {
        self.follow_until(viewer, codec, usize::MAX, time).await;
    }

    /// Follows until `frames` media segments are in, for at most `time`: the foreign
    /// server's software encoder is slow on a loaded machine, and the count, not the time,
    /// is what a test needs.
    async fn follow_until(
        &mut self,
        viewer: &mut Viewer,
        codec: VideoCodec,
        frames: usize,
        time: Duration,
    ) {
        let until = tokio::time::Instant::now() + time;
        while self.media.len() < frames {
            match tokio::time::timeout_at(until, viewer.recv()).await {
                Ok(Some(msg)) => self.take(msg, codec),
                _ => return,
            }
        }
    }

    /// ffmpeg decodes init + media without a single complaint.
    fn decodes_cleanly(&self, name: &str) {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.mp4"));
        let mut file = self.init.clone().expect("an init segment");
        for s in &self.media {
            file.extend_from_slice(&s.bytes);
        }
        std::fs::write(&path, file).unwrap();
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg runs (deploy/setup.sh installs it)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{}: {stderr}",
            path.display()
        );
    }
}

/// [`fast_config`] with room for the foreign server's first answer: it starts its encoder
/// (x264 or x265, in real time, in Python) only when asked, which on a loaded machine can take
/// longer than the simulator's 3 s.
fn foreign_config() -> IngestConfig {
    IngestConfig {
        connect_timeout: Duration::from_secs(10),
        ..fast_config()
    }
}

fn udp_camera(id: &str, url: &str) -> gridwatch_ingest::CameraConfig {
    let mut c = camera(id, url);
    c.transport = Transport::Udp;
    c
}

/// Every state change of `id` within `time`, as (from, to).
async fn transitions(
    events: &mut tokio::sync::broadcast::Receiver<gridwatch_ingest::StatusEvent>,
    time: Duration,
) -> Vec<(StreamState, StreamState)> {
    let until = tokio::time::Instant::now() + time;
    let mut seen = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout_at(until, events.recv()).await {
        seen.push((e.previous, e.status.state));
    }
    seen
}

/// x265's open GOP: after the first IDR picture every keyframe is a CRA picture. Each must
/// start a new GOP, so that a viewer joining after several seconds gets at most one GOP and
/// starts at a CRA within a second of live (before the fix, every frame since the session
/// began), marked as a sync sample; what it gets decodes cleanly.
#[tokio::test]
async fn h265_open_gop_starts_a_gop_at_each_cra() {
    init_tracing();
    let cam = ForeignCamera::start(Encoding::h265());
    let cameras = Cameras::new(foreign_config());
    cameras.apply([camera("c1", &cam.url())]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;

    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let mut got = Received::backlog(&mut viewer, VideoCodec::H265);
    let gop = got.media.len();
    let first = &got.media[0];
    let newest = &got.media[gop - 1];
    eprintln!(
        "after 3.5 s: a GOP of {gop} frames, {} bytes, from NAL types {:?}",
        got.media.iter().map(|s| s.bytes.len()).sum::<usize>(),
        first.nal_types
    );
    assert!((1..=25).contains(&gop), "at most one GOP: {gop} frames");
    assert!(first.sync, "the GOP starts with a sync sample");
    assert!(first.nal_types.contains(&21), "at a CRA picture: {first:?}");
    assert!(newest.decode_time - first.decode_time < 25 * FRAME);

    got.follow(&mut viewer, VideoCodec::H265, Duration::from_secs(3))
        .await;
    let keyframes: Vec<&Segment> = got.media.iter().filter(|s| s.sync).collect();
    assert!(keyframes.len() >= 3, "{} keyframes", keyframes.len());
    assert!(keyframes.iter().all(|s| s.nal_types.contains(&21)));
    for pair in keyframes.windows(2) {
        assert_eq!(pair[1].decode_time - pair[0].decode_time, 25 * FRAME);
    }
    got.decodes_cleanly("foreign-h265-cra");
}

/// A camera whose keyframes are 10 s apart, with a GOP cache that holds 2 s: the cache does
/// not grow past its bound; the stream stays online and says why new viewers wait, and the
/// metric counts it.
#[tokio::test]
async fn a_stream_without_keyframes_past_the_bound_says_so() {
    init_tracing();
    let cam = ForeignCamera::start(Encoding {
        key_int: 250,
        ..Encoding::h264()
    });
    let cameras = Cameras::new(IngestConfig {
        gop_limits: GopLimits {
            max_bytes: 32 << 20,
            max_duration: Duration::from_secs(2),
        },
        ..foreign_config()
    });
    cameras.apply([camera("c1", &cam.url())]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(20)).await;
    let mut watch = cameras.watch("c1", Quality::Main).unwrap();
    let said = tokio::time::timeout(
        Duration::from_secs(6),
        watch.wait_for(|s| {
            s.reason
                .as_deref()
                .is_some_and(|r| r.contains("no keyframe"))
        }),
    )
    .await
    .map(|s| s.expect("the stream is there").clone());
    let status = said.expect("the status says that keyframes are overdue");
    eprintln!("status: {:?}: {:?}", status.state, status.reason);
    assert_eq!(status.state, StreamState::Online);
    assert!(status
        .reason
        .unwrap()
        .contains("no keyframe for over 2.0 s"));
    assert!(cameras.metrics().gop_overflows() >= 1);
    // A new viewer gets the init segment and no stale GOP.
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let backlog = Received::backlog(&mut viewer, VideoCodec::H264);
    assert!(backlog.init.is_some());
    assert!(backlog.media.is_empty(), "{} frames", backlog.media.len());
}

/// RTP over UDP through a relay that drops every 97th packet and swaps every 61st with the
/// next: the camera stays online the whole time; the damaged frames and those after them
/// are dropped (counted), and what a viewer gets resumes at a keyframe after each gap, so it
/// decodes without an error.
async fn survives_loss_and_reordering(encoding: Encoding, video_codec: VideoCodec) {
    init_tracing();
    let codec = encoding.codec;
    let cam = ForeignCamera::start(encoding);
    let proxy = LossyProxy::start(cam.port, Impairment::lossy()).await;
    let cameras = Cameras::new(foreign_config());
    let mut events = cameras.events();
    let url = format!("rtsp://127.0.0.1:{}/cam", proxy.port);
    cameras.apply([udp_camera("c1", &url)]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(20)).await;
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let mut got = Received::backlog(&mut viewer, video_codec);
    let (watched, ()) = tokio::join!(
        transitions(&mut events, Duration::from_secs(8)),
        got.follow(&mut viewer, video_codec, Duration::from_secs(8)),
    );
    assert_eq!(
        watched,
        [(StreamState::Connecting, StreamState::Online)],
        "online throughout"
    );

    let counts = &proxy.counts;
    let lost = cameras.metrics().frames_dropped(DropReason::PacketLoss);
    let rejected = cameras
        .metrics()
        .frames_dropped(DropReason::Depacketization);
    eprintln!(
        "{codec} over UDP: relay forwarded {}, dropped {}, swapped {}; viewer got {} frames; \
         frames dropped: {lost} for packet loss, {rejected} for depacketization",
        counts.forwarded.load(Ordering::Relaxed),
        counts.dropped.load(Ordering::Relaxed),
        counts.swapped.load(Ordering::Relaxed),
        got.media.len()
    );
    assert!(
        counts.dropped.load(Ordering::Relaxed) > 0 && counts.swapped.load(Ordering::Relaxed) > 0
    );
    assert!(lost > 0, "the loss was seen and counted");
    assert!(
        got.media.len() > 50,
        "frames kept coming: {}",
        got.media.len()
    );
    let mut gaps = 0;
    for pair in got.media.windows(2) {
        if pair[1].decode_time - pair[0].decode_time > FRAME + FRAME / 2 {
            gaps += 1;
            assert!(pair[1].sync, "after a gap the viewer resumes at a keyframe");
        }
    }
    assert!(gaps > 0, "frames were dropped");
    got.decodes_cleanly(&format!("foreign-{codec}-udp-loss"));
}

#[tokio::test]
async fn h264_over_udp_survives_loss_and_reordering() {
    survives_loss_and_reordering(Encoding::h264(), VideoCodec::H264).await;
}

#[tokio::test]
async fn h265_over_udp_survives_loss_and_reordering() {
    survives_loss_and_reordering(Encoding::h265(), VideoCodec::H265).await;
}

/// A server that shares one stream among its clients (VLC's offers UDP only) starts a new
/// client wherever the stream is: here in the middle of a FU-A, with no `seq` in `RTP-Info`
/// to tell it so. Retina used to fail the session on that first packet ("FU-A has start bit
/// unset while no frag in progress"), again at every reconnection; now the partial frame is
/// skipped and the camera comes online with no frame counted as damaged.
#[tokio::test]
async fn a_stream_joined_mid_fu_a_comes_online() {
    init_tracing();
    // Noise at 2 Mbit/s: frames of 10 kB, several FU-A fragments each.
    let cam = ForeignCamera::start(Encoding {
        bitrate_kbps: 2000,
        pattern: "snow",
        ..Encoding::h264()
    });
    let proxy = LossyProxy::start(
        cam.port,
        Impairment {
            join_mid_fragment: true,
            ..Impairment::default()
        },
    )
    .await;
    let cameras = Cameras::new(foreign_config());
    let mut events = cameras.events();
    let url = format!("rtsp://127.0.0.1:{}/cam", proxy.port);
    let started = Instant::now();
    cameras.apply([udp_camera("c1", &url)]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(20)).await;
    eprintln!("online {:?} after joining mid-FU-A", started.elapsed());
    assert!(proxy.counts.joined_mid_fragment.load(Ordering::SeqCst));
    assert_eq!(
        transitions(&mut events, Duration::from_secs(2)).await,
        [(StreamState::Connecting, StreamState::Online)]
    );
    assert_eq!(
        cameras
            .metrics()
            .frames_dropped(DropReason::Depacketization),
        0
    );
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let mut got = Received::backlog(&mut viewer, VideoCodec::H264);
    got.follow(&mut viewer, VideoCodec::H264, Duration::from_secs(1))
        .await;
    assert!(got.media.first().is_some_and(|s| s.sync));
    got.decodes_cleanly("foreign-h264-mid-fu-a");
}

/// The quirks of cameras in retina's issue tracker: NAL units wrapped in fragmentation units
/// with both the start and end bits set, empty fragments, FU-A headers with the reserved bit
/// set. None of them damages a frame: the camera stays online, nothing is dropped, frames
/// come at the camera's rate and decode cleanly.
/// Frames the quirks test needs to have seen: a second of video at least.
const MIN_FRAMES: usize = 25;

async fn tolerates_camera_quirks(encoding: Encoding, codec: VideoCodec) {
    init_tracing();
    // Noise: frames large enough for several fragments each.
    let cam = ForeignCamera::start(Encoding {
        bitrate_kbps: 1500,
        pattern: "snow",
        ..encoding
    });
    let proxy = LossyProxy::start(
        cam.port,
        Impairment {
            camera_quirks: Some(codec),
            ..Impairment::default()
        },
    )
    .await;
    // Every frame is counted below, so a pause of the encoder on a loaded machine (x265 in
    // Python, beside other tests) need not count as a stall here.
    let cameras = Cameras::new(IngestConfig {
        stall_timeout: Duration::from_secs(4),
        ..foreign_config()
    });
    let url = format!("rtsp://127.0.0.1:{}/cam", proxy.port);
    cameras.apply([udp_camera("c1", &url)]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(20)).await;
    // Watched from the moment it is online: a first attempt that the loaded machine lets time
    // out is not the quirks' doing (CI saw one, once, among eight tests at a time); going
    // offline once online would be.
    let mut events = cameras.events();
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let mut got = Received::backlog(&mut viewer, codec);
    // 5 s: the foreign server's software H.265 encoder gives far fewer than 25 frames a second
    // when the machine is loaded (35 in 3 s once in CI); what matters is that none is missing.
    let (mut watched, ()) = tokio::join!(
        transitions(&mut events, Duration::from_secs(5)),
        got.follow(&mut viewer, codec, Duration::from_secs(5)),
    );
    // Slower still (CI once saw 18 frames in 5 s with other builds running): wait for the
    // frames the count below needs, still watching that the camera stays online.
    got.follow_until(&mut viewer, codec, MIN_FRAMES, Duration::from_secs(20))
        .await;
    while let Ok(e) = events.try_recv() {
        watched.push((e.previous, e.status.state));
    }
    assert!(
        !watched.iter().any(|(from, _)| *from == StreamState::Online),
        "online throughout: {watched:?}"
    );
    let quirky = proxy.counts.quirky.load(Ordering::Relaxed);
    let forwarded = proxy.counts.forwarded.load(Ordering::Relaxed);
    eprintln!(
        "{} with quirks: {quirky} of {forwarded} packets rewritten or inserted; viewer got {} frames",
        encoding.codec,
        got.media.len()
    );
    assert!(quirky > 10, "the quirks were there");
    for reason in DropReason::ALL {
        assert_eq!(cameras.metrics().frames_dropped(reason), 0, "{reason:?}");
    }
    let span = got.media.last().unwrap().decode_time - got.media[0].decode_time;
    assert_eq!(
        span / FRAME + 1,
        got.media.len() as u64,
        "every frame, none missing"
    );
    assert!(got.media.len() >= MIN_FRAMES, "{} frames", got.media.len());
    got.decodes_cleanly(&format!("foreign-{}-quirks", encoding.codec));
}

#[tokio::test]
async fn h264_camera_quirks_damage_nothing() {
    tolerates_camera_quirks(Encoding::h264(), VideoCodec::H264).await;
}

#[tokio::test]
async fn h265_camera_quirks_damage_nothing() {
    tolerates_camera_quirks(Encoding::h265(), VideoCodec::H265).await;
}
