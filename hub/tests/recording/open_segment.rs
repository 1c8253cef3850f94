//! Playback reaches into the segment being written: with minute-long segments nothing of the
//! last minute is indexed yet, and `live?from=` of a few seconds ago still plays it (what is
//! flushed, whole fragments), then ends at the present; the timeline shows it as recorded (in
//! progress), not as a gap, and `recordings.mp4` of the last seconds is cut from it. On both
//! backends.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gridwatch_store::testing::fresh_store;
use gridwatch_store::Backend;
use serde_json::json;

use super::playback::{segments_of, token};
use super::replay::{at, control, read, Received};
use super::served::{add_camera, serve_recording};
use super::support::{recordings_mp4, recordings_timeline};
use crate::ingest_common::media::{have_ffprobe, probe};
use crate::ingest_common::start_sim;
use serde_json::Value;

/// Plays `url` at 4× until it closes (or 20 s).
pub(crate) async fn play_to_the_end(url: &str) -> Received {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("playback opens, not 404");
    control(&mut ws, json!({"type": "speed", "value": 4})).await;
    let mut got = Received::default();
    read(&mut ws, &mut got, Instant::now() + Duration::from_secs(20)).await;
    assert_eq!(
        got.texts.first().unwrap()["type"],
        "init",
        "{:?}",
        got.texts
    );
    assert_eq!(got.inits, 1);
    for w in got.frames.windows(2) {
        assert_eq!(w[1].1, w[0].1 + w[0].2, "decode times run on");
    }
    // Each recorded frame once, in order, none skipped (25 fps): across boundaries too, and
    // where the segment being written was finished meanwhile (it is not played again).
    for w in got.walls.windows(2) {
        let step = w[1] - w[0];
        assert!(
            step > chrono::Duration::zero() && step < chrono::Duration::milliseconds(500),
            "{} then {}",
            w[0],
            w[1]
        );
    }
    assert!(
        got.texts.iter().all(|t| t["type"] != "gap"),
        "{:?}",
        got.texts
    );
    // At the present the replay ends: the page goes live.
    assert_eq!(got.texts.last().unwrap()["type"], "end", "{:?}", got.texts);
    assert_eq!(got.closed_with, Some(1000));
    let last = *got.walls.last().unwrap();
    assert!(
        Utc::now() - last < chrono::Duration::seconds(4),
        "caught up with the present: last frame at {last}"
    );
    got
}

/// Asserts that `got` played every frame of each segment `[start, end)` of `segments` (the
/// simulator's 25 fps; the last frame may have come a little early, the segment trimmed to the
/// next one's start).
pub(crate) fn assert_played_every_frame<'a>(
    got: &Received,
    segments: impl IntoIterator<Item = &'a gridwatch_ingest::recording::SegmentRecord>,
) {
    for s in segments {
        let (start, end): (DateTime<Utc>, DateTime<Utc>) = (s.start.into(), s.end.into());
        let played = got
            .walls
            .iter()
            .filter(|t| **t >= start && **t < end)
            .count();
        let frames = (end - start).num_milliseconds() / 40;
        assert!(
            played as i64 >= frames - 1,
            "{played} frames of {} played ({frames} in it)",
            s.path
        );
    }
}

async fn playback_reaches_the_segment_being_written(backend: Backend) {
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let camera = add_camera(&store, &sim.url(1)).await;
    let duty = token(&store, "duty_officer", None).await;
    let url = |addr: std::net::SocketAddr, from: chrono::DateTime<Utc>| {
        format!(
            "ws://{addr}/api/v1/cameras/{camera}/live?token={duty}&from={}",
            at(from)
        )
    };

    // Minute-long segments: after a few seconds nothing is finished, nothing indexed.
    let running = serve_recording(store.clone(), &tmp.path().join("long"), |c| {
        c.recording.segment_seconds = 60;
    })
    .await;
    let started = Utc::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(segments_of(&store, &camera).await.is_empty());
    let from = Utc::now() - chrono::Duration::seconds(3);
    let got = play_to_the_end(&url(running.addr, from)).await;
    assert!(got.frames.len() >= 25, "{} frames", got.frames.len());
    // From the keyframe at or before `from` (there is one a second).
    let first = got.walls[0];
    assert!(
        first <= from && first > from - chrono::Duration::milliseconds(1500),
        "first frame at {first}, asked {from}"
    );
    assert!(first >= started - chrono::Duration::seconds(1));
    assert!(
        segments_of(&store, &camera).await.is_empty(),
        "all of it came from the segment being written"
    );

    // The timeline: recorded from the first frame to what is written, in progress; the gap
    // before the camera started and at most the unwritten second or two after.
    let (list_from, list_to) = (started - chrono::Duration::seconds(10), Utc::now());
    let hub = format!("http://{}", running.addr);
    let listed = recordings_timeline(&hub, &camera, &duty, list_from, list_to).await;
    let spans = listed["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{listed}");
    assert_eq!(spans[0]["in_progress"], true, "{listed}");
    let time = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    };
    let (span_from, span_to) = (time(&spans[0]["from"]), time(&spans[0]["to"]));
    assert!(
        span_from >= started - chrono::Duration::seconds(1),
        "{listed}"
    );
    assert!(list_to - span_to < chrono::Duration::seconds(3), "{listed}");
    let gaps = listed["gaps"].as_array().unwrap();
    assert!(gaps.len() <= 2, "{listed}");
    assert_eq!(time(&gaps[0]["to"]), span_from, "{listed}");

    // One MP4 of the last four seconds, nothing of it indexed: cut from the segment.
    let (clip_from, clip_to) = (span_to - chrono::Duration::seconds(4), span_to);
    let mp4 = recordings_mp4(&hub, &camera, &duty, clip_from, clip_to).await;
    assert!(mp4.len() > 10_000, "{} bytes", mp4.len());
    assert!(segments_of(&store, &camera).await.is_empty());
    if have_ffprobe("playback_reaches_the_segment_being_written") {
        let file = tmp.path().join("last.mp4");
        std::fs::write(&file, &mp4).unwrap();
        let probed = probe(&file);
        // From the keyframe at or before `from` (one a second) to the last written frame.
        assert!(probed.duration > 3.8 && probed.duration < 5.5, "{probed:?}");
    }
    running.state.cameras.registry.clear();
    running.task.abort();
}

served_on_both!(playback_reaches_the_segment_being_written);
