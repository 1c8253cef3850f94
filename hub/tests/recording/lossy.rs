//! A camera over a lossy network, through a served hub: RTP over UDP from a foreign
//! gst-rtsp-server (x264 of noise, a keyframe every 4 s) through a relay that drops every 97th
//! packet (about one every 2 s). Each loss is a hole up to the next keyframe, inside the
//! segment: the segments stay 8 s long (not one per loss), their rows list the holes, the
//! timeline shows each hole longer than 2 s as a gap inside the recording, and playback tells
//! the gap and goes on past it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gridwatch_core::recording::Segment;
use gridwatch_store::testing::fresh_store;
use gridwatch_store::Backend;
use serde_json::{json, Value};

use super::playback::{segments_of, token};
use super::replay::{at, control, read, Received};
use super::served::serve_recording;
use super::support::recordings_timeline;
use crate::foreign::relay::{Impairment, LossyProxy};
use crate::foreign::{Encoding, ForeignCamera};

/// Holes at least this long are gaps on the timeline (`JOIN_WITHIN_MS`).
const JOIN: chrono::Duration = chrono::Duration::milliseconds(2000);

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_camera_records_holes_shown_as_gaps_and_skipped_in_playback() {
    crate::ingest_common::init_tracing();
    let cam = ForeignCamera::start(Encoding {
        key_int: 100,
        pattern: "snow",
        ..Encoding::h264()
    });
    let proxy = LossyProxy::start(cam.port, Impairment::lossy()).await;
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(Backend::Sqlite, tmp.path()).await.unwrap();
    let camera = store
        .create_camera(
            serde_json::from_value(json!({
                "name": "西门", "transport": "udp",
                "rtsp_url": format!("rtsp://127.0.0.1:{}/cam", proxy.port),
            }))
            .unwrap(),
            Utc::now(),
        )
        .await
        .unwrap()
        .id;
    let running = serve_recording(store.clone(), &tmp.path().join("samples"), |c| {
        c.recording.segment_seconds = 8;
    })
    .await;
    let duty = token(&store, "duty_officer", None).await;

    // Two indexed segments, the first with a hole longer than the join.
    let started = Instant::now();
    let segments: Vec<Segment> = loop {
        let all = segments_of(&store, &camera).await;
        if all.len() >= 2 && all[0].holes.iter().any(|h| h.to - h.from > JOIN) {
            break all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "two segments, the first with a long hole: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (first, second) = (&segments[0], &segments[1]);
    eprintln!(
        "relay dropped {} packets; segments {:?}",
        proxy
            .counts
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        segments
            .iter()
            .map(|s| (s.end - s.start, s.frames, s.holes.len()))
            .collect::<Vec<_>>()
    );
    // Cut at the first keyframe after 8 s of video (holes included), never at a loss (a
    // segment's row ends with its last frame: a hole at its end is a gap before the next).
    // Starts are arrivals: give or take the network's jitter.
    assert!(
        second.start - first.start >= chrono::Duration::milliseconds(7900),
        "{segments:?}"
    );
    for s in [first, second] {
        for h in &s.holes {
            assert!(s.start < h.from && h.from < h.to && h.to <= s.end, "{s:?}");
        }
    }

    // The timeline: within the first segment, a gap for each hole longer than the join, and
    // only those.
    let listed = recordings_timeline(
        &format!("http://{}", running.addr),
        &camera,
        &duty,
        first.start,
        first.end,
    )
    .await;
    let gaps: Vec<(DateTime<Utc>, DateTime<Utc>)> = listed["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (time(&g["from"]), time(&g["to"])))
        .collect();
    let long: Vec<(DateTime<Utc>, DateTime<Utc>)> = first
        .holes
        .iter()
        .filter(|h| h.to - h.from > JOIN)
        .map(|h| (h.from, h.to))
        .collect();
    assert_eq!(gaps, long, "{listed}");

    // Playback from the first segment's start, at 4×: the frames before the first long hole,
    // a gap message for it, and frames after it, from the same file.
    let (hole_from, hole_to) = long[0];
    let url = format!(
        "ws://{}/api/v1/cameras/{camera}/live?token={duty}&from={}",
        running.addr,
        at(first.start)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    control(&mut ws, json!({"type": "speed", "value": 4})).await;
    let mut got = Received::default();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && got.walls.last().is_none_or(|w| *w < hole_to) {
        read(
            &mut ws,
            &mut got,
            Instant::now() + Duration::from_millis(500),
        )
        .await;
    }
    let told = got
        .texts
        .iter()
        .find(|t| t["type"] == "gap")
        .unwrap_or_else(|| panic!("no gap told: {:?}", got.texts));
    let near = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).num_milliseconds().abs() <= 2;
    assert!(
        near(time(&told["from"]), hole_from) && near(time(&told["to"]), hole_to),
        "told {told}, the hole is {hole_from} to {hole_to}"
    );
    // (The walls come through `prft`'s NTP fixed point: a nanosecond off at most.)
    let ms = chrono::Duration::milliseconds(1);
    let (inside_from, inside_to) = (hole_from + ms, hole_to - ms);
    let walls = &got.walls;
    assert!(
        walls.iter().any(|w| *w < hole_from),
        "frames before the hole"
    );
    assert!(
        walls.iter().any(|w| *w > inside_to),
        "frames after the hole"
    );
    assert!(
        walls.iter().all(|w| *w < inside_from || *w > inside_to),
        "nothing played inside the hole {hole_from} to {hole_to}: {walls:?}"
    );
    // The media timeline runs on across it: the player never waits.
    for w in got.frames.windows(2) {
        assert_eq!(w[1].1, w[0].1 + w[0].2, "decode times run on");
    }
    running.state.cameras.registry.clear();
    running.task.abort();
}
