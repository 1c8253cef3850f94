//! Live view against the camera simulator: what a viewer receives is
//! fragmented MP4 that a real demuxer and decoder accept, starts on a
//! keyframe, and one camera session serves every viewer.
//!
//! The ffprobe checks print that they are skipped and pass without ffprobe,
//! unless `GRIDWATCH_REQUIRE_FFPROBE` is set.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use gridwatch_ingest::fmp4::inspect::{parse_init_segment, parse_media_segment};
use gridwatch_ingest::fmp4::SYNC_SAMPLE_FLAGS;
use gridwatch_ingest::{Cameras, LiveMessage, Quality, StreamState, Viewer};

fn ffprobe_available(test: &str) -> bool {
    let works = Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        assert!(
            std::env::var_os("GRIDWATCH_REQUIRE_FFPROBE").is_none(),
            "{test}: ffprobe not found and GRIDWATCH_REQUIRE_FFPROBE is set"
        );
        eprintln!("{test}: SKIPPED (ffprobe not found)");
    }
    works
}

/// Everything a viewer gets within `duration`.
async fn collect(viewer: &mut Viewer, duration: Duration) -> Vec<LiveMessage> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, viewer.recv()).await {
        got.push(msg);
    }
    got
}

fn is_keyframe(segment: &[u8]) -> bool {
    let info = parse_media_segment(segment).expect("a well-formed media segment");
    info.samples[0].flags == Some(SYNC_SAMPLE_FLAGS)
}

/// Writes the messages as one fMP4 file.
fn write_file(name: &str, messages: &[LiveMessage]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-view");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut bytes = Vec::new();
    for msg in messages {
        match msg {
            LiveMessage::Init { segment, .. } => bytes.extend_from_slice(segment),
            LiveMessage::Media(segment) => bytes.extend_from_slice(segment),
        }
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `(codec, width, height, decoded frames)` as ffprobe sees the file.
fn ffprobe(path: &PathBuf) -> (String, u32, u32, usize) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffprobe failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_string()
    };
    (
        field("codec_name"),
        field("width").parse().unwrap(),
        field("height").parse().unwrap(),
        field("nb_read_frames").parse().unwrap(),
    )
}

fn media_count(messages: &[LiveMessage]) -> usize {
    messages
        .iter()
        .filter(|m| matches!(m, LiveMessage::Media(_)))
        .count()
}

/// Writes the messages as `file` and has ffprobe decode it: every media frame sent must
/// decode, give or take 3. Returns `(codec, width, height)` as ffprobe sees them.
fn assert_decodes_all(what: &str, file: &str, messages: &[LiveMessage]) -> (String, u32, u32) {
    let sent = media_count(messages);
    let (codec, width, height, decoded) = ffprobe(&write_file(file, messages));
    eprintln!("{what}: sent {sent}, decoded {decoded} ({codec} {width}x{height})");
    assert!(
        decoded.abs_diff(sent) <= 3,
        "sent {sent}, decoded {decoded}"
    );
    (codec, width, height)
}

#[tokio::test]
async fn frames_reach_a_viewer_as_fmp4_that_ffprobe_decodes() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = one_camera_online(&sim).await;
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let messages = collect(&mut viewer, Duration::from_secs(3)).await;

    let LiveMessage::Init { mime, segment } = &messages[0] else {
        panic!("the first message is the init segment")
    };
    assert!(mime.starts_with("video/mp4; codecs=\"avc1."), "{mime}");
    let init = parse_init_segment(segment).unwrap();
    assert_eq!((init.width, init.height), (320, 240));
    let LiveMessage::Media(first) = &messages[1] else {
        panic!("media follows")
    };
    assert!(is_keyframe(first));
    let sent = media_count(&messages);
    // About 3 s at 25 fps, plus the GOP the viewer joined with.
    assert!((70..=110).contains(&sent), "{sent} frames");
    assert_eq!(viewer.skips(), 0);

    if !ffprobe_available("frames_reach_a_viewer") {
        return;
    }
    let (codec, width, height) = assert_decodes_all("viewer", "viewer.mp4", &messages);
    assert_eq!((codec.as_str(), width, height), ("h264", 320, 240));
}

#[tokio::test]
async fn a_viewer_joining_mid_stream_gets_init_and_a_keyframe_first() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = one_camera_online(&sim).await;
    let mut first_viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    // Join in the middle of a GOP (keyframes every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let joined = Instant::now();
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let Some(LiveMessage::Init { .. }) = viewer.recv().await else {
        panic!("init first")
    };
    let Some(LiveMessage::Media(key)) = viewer.recv().await else {
        panic!("then media")
    };
    let first_frame = joined.elapsed();
    eprintln!("time to first frame: {first_frame:?}");
    assert!(first_frame < Duration::from_millis(300));
    assert!(is_keyframe(&key));
    // The GOP arrived at once: more frames are ready without waiting.
    let mut ready = 0;
    while let Some(LiveMessage::Media(seg)) = viewer.try_recv() {
        assert!(!is_keyframe(&seg) || ready > 0);
        ready += 1;
    }
    eprintln!("{ready} more frames of the GOP ready at once");
    assert!(ready >= 1);
    // The early viewer and the late one see the same segments from there on.
    let early: Vec<Bytes> = collect(&mut first_viewer, Duration::from_millis(10))
        .await
        .into_iter()
        .filter_map(|m| match m {
            LiveMessage::Media(b) => Some(b),
            LiveMessage::Init { .. } => None,
        })
        .collect();
    assert!(
        early.contains(&key),
        "the late viewer's keyframe is the stream's"
    );

    if !ffprobe_available("a_viewer_joining_mid_stream") {
        return;
    }
    let mut messages = vec![
        LiveMessage::Init {
            mime: "".into(),
            segment: match cameras.subscribe("c1", Quality::Main).unwrap().try_recv() {
                Some(LiveMessage::Init { segment, .. }) => segment,
                other => panic!("init expected, got {other:?}"),
            },
        },
        LiveMessage::Media(key),
    ];
    messages.extend(collect(&mut viewer, Duration::from_secs(1)).await);
    assert_decodes_all("late viewer", "late-viewer.mp4", &messages);
}

#[tokio::test]
async fn one_camera_session_serves_every_viewer() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = one_camera_online(&sim).await;
    let mut viewers: Vec<Viewer> = (0..8)
        .map(|_| cameras.subscribe("c1", Quality::Main).unwrap())
        .collect();
    assert_eq!(cameras.viewer_count("c1"), 8);
    for v in &mut viewers {
        assert!(matches!(v.recv().await, Some(LiveMessage::Init { .. })));
    }
    assert_eq!(sim.client_count(1).unwrap(), 1);
    // Viewers leave; the session does not notice.
    viewers.truncate(2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cameras.viewer_count("c1"), 2);
    assert_eq!(sim.client_count(1).unwrap(), 1);
    let status = cameras.status("c1").unwrap();
    assert_eq!(status.state(), StreamState::Online);
    let since = status.main.since;
    drop(viewers);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = cameras.status("c1").unwrap();
    assert_eq!(
        (status.state(), status.main.since),
        (StreamState::Online, since)
    );
    // The frame rate is measured over the first second of video.
    let mut fps = None;
    for _ in 0..20 {
        fps = cameras.status("c1").unwrap().main.fps;
        if fps.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        fps.is_some_and(|f| (f - f64::from(FPS)).abs() < 1.0),
        "{fps:?}"
    );
}

#[tokio::test]
async fn sub_streams_are_separate_sessions_and_fall_back_to_main() {
    init_tracing();
    let sim = start_sim(2);
    let cameras = Cameras::new(fast_config());
    let mut with_sub = camera("c1", &sim.url(1));
    with_sub.sub_url = Some(sim.url(2).parse().unwrap());
    cameras.apply([with_sub, camera("c2", &sim.url(1))]);
    for (id, quality) in [
        ("c1", Quality::Main),
        ("c1", Quality::Sub),
        ("c2", Quality::Main),
    ] {
        wait_for_quality(
            &cameras,
            id,
            quality,
            StreamState::Online,
            Duration::from_secs(5),
        )
        .await;
    }
    assert_eq!(
        cameras.subscribe("c1", Quality::Sub).unwrap().quality(),
        Quality::Sub
    );
    assert_eq!(
        cameras.subscribe("c2", Quality::Sub).unwrap().quality(),
        Quality::Main
    );
    assert!(cameras.status("c2").unwrap().sub.is_none());
    // cam1 feeds c1's main and c2's main; cam2 feeds c1's sub.
    assert_eq!(sim.client_count(1).unwrap(), 2);
    assert_eq!(sim.client_count(2).unwrap(), 1);
}

#[tokio::test]
async fn viewers_stay_subscribed_across_a_camera_restart() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = one_camera_online(&sim).await;
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    let before = collect(&mut viewer, Duration::from_millis(500)).await;
    sim.restart(1).unwrap();
    let after = collect(&mut viewer, Duration::from_secs(3)).await;
    let mut decode_times = Vec::new();
    let mut first_after = None;
    for msg in before.iter().chain(&after) {
        if let LiveMessage::Media(seg) = msg {
            decode_times.push(parse_media_segment(seg).unwrap().base_decode_time);
        }
    }
    for msg in &after {
        if let LiveMessage::Media(seg) = msg {
            first_after.get_or_insert_with(|| is_keyframe(seg));
        }
    }
    assert_eq!(first_after, Some(true), "frames resume at a keyframe");
    assert!(
        decode_times.windows(2).all(|w| w[0] < w[1]),
        "decode times keep increasing across the reconnection"
    );
    if ffprobe_available("viewers_stay_subscribed") {
        let mut all = before;
        all.extend(after);
        assert_decodes_all("across a restart", "across-restart.mp4", &all);
    }
}

#[tokio::test]
async fn removing_a_camera_ends_its_viewers() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = one_camera_online(&sim).await;
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    cameras.apply([]);
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while viewer.recv().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the viewer's stream ends");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.client_count(1).unwrap(), 0, "the session is gone");
}

#[tokio::test]
async fn a_pre_encoded_clip_is_served_in_a_loop() {
    init_tracing();
    if !ffprobe_available("a_pre_encoded_clip") {
        return;
    }
    // A 2 s clip, no B-frames, a keyframe a second, Annex B.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-view");
    std::fs::create_dir_all(&dir).unwrap();
    let clip = dir.join("clip.h264");
    let encoded = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x240:rate=25")
        .args(["-t", "2", "-c:v", "libx264", "-bf", "0", "-g", "25"])
        .args(["-pix_fmt", "yuv420p", "-f", "h264"])
        .arg(&clip)
        .status()
        .is_ok_and(|s| s.success());
    if !encoded {
        eprintln!("a_pre_encoded_clip: SKIPPED (ffmpeg cannot encode H.264)");
        return;
    }
    let sim = gridwatch_ingest::camsim::CamSim::start(gridwatch_ingest::camsim::CamSimConfig {
        source: gridwatch_ingest::camsim::SimSource::H264File(clip),
        ..sim_config(1)
    })
    .unwrap();
    let cameras = one_camera_online(&sim).await;
    let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
    // Longer than the clip: crosses the loop.
    let messages = collect(&mut viewer, Duration::from_millis(2500)).await;
    let sent = media_count(&messages);
    assert!(sent >= 60, "{sent} frames in 2.5 s");
    assert_decodes_all("clip in a loop", "clip-loop.mp4", &messages);
    let status = cameras.status("c1").unwrap().main;
    assert!(
        status.fps.is_some_and(|f| (f - 25.0).abs() < 1.0),
        "{:?}",
        status.fps
    );
}
