//! Recording from a camera nobody here wrote (gst-rtsp-server driven from Python,
//! `tests/foreign/`), as real cameras send: x265's open GOP, where every keyframe after the
//! first is a CRA picture, with a G.711 sound track listed before the video in the SDP, behind
//! Digest authentication; and x264 over UDP through a relay that loses and reorders packets.
//!
//! What must hold for every segment the recorder indexes: ffprobe decodes it without a
//! complaint, with the frames, codec and duration its row says; it starts at a keyframe;
//! a sample is marked as a sync sample exactly when it is a keyframe; segments of a camera
//! never overlap. What packet loss damaged is left out (the segment ends, the next starts at
//! a keyframe), never written as a broken frame.

use crate::common;
use crate::foreign;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::media::{have_ffprobe, probe};
use common::*;
use foreign::relay::{Impairment, LossyProxy};
use foreign::{Encoding, ForeignCamera};
use gridwatch_ingest::fmp4::{classify, inspect, VideoCodec, SYNC_SAMPLE_FLAGS};
use gridwatch_ingest::recording::clip::{plan_clip, ClipSegment, HELD_AT_LEAST};
use gridwatch_ingest::recording::scan::scan_file;
use gridwatch_ingest::recording::{
    MemoryIndex, RecordMode, Recorder, RecordingConfig, SegmentRecord,
};
use gridwatch_ingest::{Cameras, Credentials, DropReason, IngestConfig, StreamState, Transport};

/// What recording a camera for a while left: the directory and the index's rows, oldest first.
struct Recorded {
    dir: tempfile::TempDir,
    rows: Vec<SegmentRecord>,
    cameras: Cameras,
}

/// Records `url` continuously until `frames` frames are in finished or open segments (the
/// foreign server's software encoder is slow on a loaded machine: the count, not the time,
/// is what the checks need), or for at most `time`; with `credentials` when the camera asks,
/// in segments of `segment` (at the next keyframe after it).
async fn record(
    url: &str,
    transport: Transport,
    credentials: Option<Credentials>,
    segment: Duration,
    frames: u64,
    time: Duration,
) -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let index = Arc::new(MemoryIndex::new());
    let config = RecordingConfig {
        segment_duration: segment,
        ..recording_config(dir.path())
    };
    let recorder = Recorder::open(config, index.clone());
    let cameras = Cameras::with_recorder(
        IngestConfig {
            // The foreign server starts its encoder only when asked.
            connect_timeout: Duration::from_secs(10),
            ..fast_config()
        },
        recorder.clone(),
    );
    let mut cam = camera("c1", url);
    cam.transport = transport;
    cam.credentials = credentials;
    cam.record = RecordMode::Continuous;
    cameras.apply([cam]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(20)).await;
    let until = tokio::time::Instant::now() + time;
    while tokio::time::Instant::now() < until {
        let indexed: u64 = index.segments().iter().map(|r| r.frames).sum();
        if indexed >= frames {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cameras.clear();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
    let mut rows = index.segments();
    rows.sort_by_key(|r| r.start);
    Recorded { dir, rows, cameras }
}

/// The first sample's NAL unit types, and whether every sample of every fragment of the file
/// is a sync sample exactly when it is a keyframe. Returns the first sample's NAL types.
fn check_fragments(path: &Path, codec: VideoCodec) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let boxes = inspect::read_boxes(&bytes).expect("the file is whole boxes");
    let mut first_nal_types = None;
    let mut moof = None;
    for b in &boxes {
        match &b.kind {
            b"moof" => moof = Some(b.offset),
            b"mdat" => {
                let start = moof.take().expect("an mdat follows its moof");
                let fragment = &bytes[start..b.offset + b.size()];
                let info = inspect::parse_media_segment(fragment).expect("a fragment");
                for (i, range) in info.sample_ranges.iter().enumerate() {
                    let sample = &fragment[range.clone()];
                    let keyframe = classify(codec, sample).unwrap().is_keyframe();
                    assert_eq!(
                        keyframe,
                        info.samples[i].flags == Some(SYNC_SAMPLE_FLAGS),
                        "{}: a sync sample exactly when the frame is a keyframe",
                        path.display()
                    );
                    if first_nal_types.is_none() {
                        assert!(keyframe, "{}: starts at a keyframe", path.display());
                        first_nal_types = Some(nal_types(sample, codec));
                    }
                }
            }
            _ => {}
        }
    }
    first_nal_types.expect("at least one fragment")
}

/// The NAL unit types of one sample (4-byte lengths, as the recorder writes them).
fn nal_types(sample: &[u8], codec: VideoCodec) -> Vec<u8> {
    let mut types = Vec::new();
    let mut pos = 0;
    while pos + 4 < sample.len() {
        let len = u32::from_be_bytes(sample[pos..pos + 4].try_into().unwrap()) as usize;
        let header = sample[pos + 4];
        types.push(match codec {
            VideoCodec::H264 => header & 0x1F,
            VideoCodec::H265 => (header >> 1) & 0x3F,
        });
        pos += 4 + len;
    }
    types
}

/// Every row's file decodes with what the row says, starts at a keyframe and has its sync
/// samples right; rows do not overlap. Returns each file's first NAL types.
fn check_rows(recorded: &Recorded, codec: VideoCodec, name: &str) -> Vec<Vec<u8>> {
    let rows = &recorded.rows;
    for pair in rows.windows(2) {
        assert!(
            pair[1].start >= pair[0].end,
            "segments overlap: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    let firsts: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| check_fragments(&recorded.dir.path().join(&r.path), codec))
        .collect();
    if !have_ffprobe(name) {
        return firsts;
    }
    let expected = match codec {
        VideoCodec::H264 => "h264",
        VideoCodec::H265 => "hevc",
    };
    for (i, row) in rows.iter().enumerate() {
        let probed = probe(&recorded.dir.path().join(&row.path));
        assert_eq!(probed.codec, expected, "{}", row.path);
        assert_eq!(probed.frames, row.frames, "{}", row.path);
        assert_eq!((probed.width, probed.height), (320, 240));
        let indexed = row.end.duration_since(row.start).unwrap().as_secs_f64();
        // A row ends where its video does, or where the next segment starts if that came
        // first (frames that arrived late and caught up: rows never overlap).
        let cut_by_next = rows.get(i + 1).is_some_and(|next| next.start == row.end);
        assert!(
            (probed.duration - indexed).abs() < 0.1 || (cut_by_next && indexed < probed.duration),
            "{}: {} s in the file, {indexed} s in the row",
            row.path,
            probed.duration
        );
    }
    firsts
}

/// x265 with open GOP and a sound track listed first, behind Digest authentication, over TCP:
/// without the password the camera is reported as refusing us; with it the recorder takes the
/// video only, its segments after the first start at CRA pictures and decode on their own,
/// and a clip across two of them decodes from its first frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_open_gop_with_sound_behind_digest_records_segments_that_decode() {
    init_tracing();
    let cam = ForeignCamera::start(Encoding {
        audio: true,
        digest: Some(("admin", "hik:12345")),
        ..Encoding::h265()
    });
    let refused = Cameras::new(fast_config());
    refused.apply([camera("c0", &cam.url())]);
    let (status, _) = wait_for(
        &refused,
        "c0",
        StreamState::AuthFailed,
        Duration::from_secs(20),
    )
    .await;
    assert!(status.reason.unwrap_or_default().contains("401"));
    refused.clear();

    let credentials = Credentials::new("admin", "hik:12345");
    let recorded = record(
        &cam.url(),
        Transport::Tcp,
        Some(credentials),
        Duration::from_secs(2),
        150,
        Duration::from_secs(20),
    )
    .await;
    let rows = &recorded.rows;
    eprintln!(
        "recorded {} segments: {:?}",
        rows.len(),
        rows.iter().map(|r| (r.frames, r.bytes)).collect::<Vec<_>>()
    );
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.codec.starts_with("hvc1") || r.codec.starts_with("hev1")));
    let firsts = check_rows(&recorded, VideoCodec::H265, "foreign-h265-recording");
    // The session began at an IDR picture; later segments begin at CRA pictures (type 21).
    assert!(
        firsts[1..].iter().all(|t| t.contains(&21)),
        "segments after the first start at a CRA: {firsts:?}"
    );
    assert_eq!(
        recorded
            .cameras
            .metrics()
            .frames_dropped(DropReason::PacketLoss),
        0
    );

    if !have_ffprobe("foreign-h265-clip") {
        return;
    }
    let sources: Vec<ClipSegment> = rows
        .iter()
        .map(|r| ClipSegment {
            path: recorded.dir.path().join(&r.path),
            start: r.start,
        })
        .collect();
    let from = rows[0].end - Duration::from_millis(1300);
    let to = rows[1].start + Duration::from_millis(1200);
    let plan = plan_clip(&sources, from, to).unwrap();
    let clip = recorded.dir.path().join("clip.mp4");
    plan.write_file(&clip).unwrap();
    let probed = probe(&clip);
    assert_eq!(probed.codec, "hevc");
    assert_eq!(probed.frames, plan.frames);
}

/// x264 over UDP through a relay that drops every 97th packet and swaps every 61st with the
/// next, in minute-long segments: the camera keeps recording into one segment, which resumes at
/// the keyframe after each loss and lists the hole; every frame in it decodes, none is stretched
/// over a hole, and the row's holes are where the file's decode times jump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_over_lossy_udp_records_only_what_decodes() {
    init_tracing();
    let cam = ForeignCamera::start(Encoding::h264());
    let proxy = LossyProxy::start(cam.port, Impairment::lossy()).await;
    let url = format!("rtsp://127.0.0.1:{}/cam", proxy.port);
    let minute = Duration::from_secs(60);
    // Nothing is indexed before the minute ends: this records for the whole 12 s.
    let time = Duration::from_secs(12);
    let recorded = record(&url, Transport::Udp, None, minute, u64::MAX, time).await;
    let rows = &recorded.rows;
    let lost = recorded
        .cameras
        .metrics()
        .frames_dropped(DropReason::PacketLoss);
    let holes: Vec<_> = rows.iter().flat_map(|r| r.holes.iter()).collect();
    let missing: Duration = holes
        .iter()
        .map(|h| h.to.duration_since(h.from).unwrap())
        .sum();
    eprintln!(
        "relay dropped {} and swapped {} packets; {lost} frames dropped for loss; recorded {} \
         segments of {:?} frames with {} holes ({missing:?} without video)",
        proxy.counts.dropped.load(Ordering::Relaxed),
        proxy.counts.swapped.load(Ordering::Relaxed),
        rows.len(),
        rows.iter().map(|r| r.frames).collect::<Vec<_>>(),
        holes.len(),
    );
    assert!(proxy.counts.dropped.load(Ordering::Relaxed) > 0);
    assert!(lost > 0, "the loss was seen");
    // One segment (two if the camera's session restarted), not one per loss.
    assert!(!rows.is_empty() && rows.len() <= 2, "{rows:?}");
    assert!(
        holes.len() >= 2,
        "the losses are holes in the segment: {rows:?}"
    );
    check_rows(&recorded, VideoCodec::H264, "foreign-h264-udp-recording");
    for row in rows {
        let path = recorded.dir.path().join(&row.path);
        // What was left out is a hole, never a frame frozen across it: every sample lasts one
        // frame (40 ms at 25 fps), give or take the camera's clock.
        let longest = longest_sample(&path);
        assert!(
            longest <= 3600 + 360,
            "{}: a sample lasts {longest} ticks",
            row.path
        );
        // The row's holes are the file's: where decode time jumps.
        let in_file: Vec<(SystemTime, SystemTime)> = scan_file(&path)
            .unwrap()
            .holes()
            .into_iter()
            .map(|(from, to)| (row.start + ticks(from), row.start + ticks(to)))
            .collect();
        let in_row: Vec<(SystemTime, SystemTime)> =
            row.holes.iter().map(|h| (h.from, h.to)).collect();
        assert_eq!(in_row, in_file, "{}", row.path);
        for (from, to) in &in_row {
            assert!(row.start < *from && from < to && *to < row.end, "{row:?}");
        }
        // A clip of the segment holds its picture over each hole of a second or more, and lists
        // it (for its manifest); shorter ones only as a longer frame.
        let source = ClipSegment {
            path: path.clone(),
            start: row.start,
        };
        let plan = plan_clip(&[source], row.start, row.end).unwrap();
        let long: Vec<&(SystemTime, SystemTime)> = in_row
            .iter()
            .filter(|(from, to)| to.duration_since(*from).unwrap() >= HELD_AT_LEAST)
            .collect();
        let close = |a: SystemTime, b: SystemTime| {
            a.duration_since(b)
                .or_else(|_| b.duration_since(a))
                .unwrap()
                < Duration::from_millis(1)
        };
        assert_eq!(plan.held.len(), long.len(), "{:?} vs {long:?}", plan.held);
        for (held, hole) in plan.held.iter().zip(long) {
            assert!(
                close(held.0, hole.0) && close(held.1, hole.1),
                "{held:?} vs {hole:?}"
            );
        }
    }
}

/// 90 kHz ticks as a duration.
fn ticks(t: u64) -> Duration {
    Duration::from_micros(t * 1_000_000 / 90_000)
}

/// The longest sample duration in a recorded file, in 90 kHz ticks.
fn longest_sample(path: &Path) -> u32 {
    let bytes = std::fs::read(path).unwrap();
    let boxes = inspect::read_boxes(&bytes).unwrap();
    let mut longest = 0;
    let mut moof = None;
    for b in &boxes {
        match &b.kind {
            b"moof" => moof = Some(b.offset),
            b"mdat" => {
                let start = moof.take().unwrap();
                let info =
                    inspect::parse_media_segment(&bytes[start..b.offset + b.size()]).unwrap();
                for sample in &info.samples {
                    longest = longest.max(sample.duration.expect("each sample's duration"));
                }
            }
            _ => {}
        }
    }
    longest
}
