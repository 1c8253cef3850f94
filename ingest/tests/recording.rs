//! Recording from the camera simulator: the ingest's own session feeds the
//! recorder (no second RTSP session), and every segment decodes in ffprobe
//! with the frame count, size and codec its row says.

use std::sync::Arc;
use std::time::Duration;

use crate::common::media::{have_ffprobe, probe};
use crate::common::{camera, fast_config, recording_config, start_sim, wait_for};
use gridwatch_ingest::recording::clip::{plan_clip, ClipSegment};
use gridwatch_ingest::recording::{MemoryIndex, RecordMode, Recorder};
use gridwatch_ingest::{Cameras, StreamState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_segments_decode_and_use_the_live_session() {
    crate::common::init_tracing();
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let index = Arc::new(MemoryIndex::new());
    let recorder = Recorder::open(recording_config(tmp.path()), index.clone());
    let cameras = Cameras::with_recorder(fast_config(), recorder.clone());
    let mut cam = camera("c1", &sim.url(1));
    cam.record = RecordMode::Continuous;
    cameras.apply([cam.clone()]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sim.client_count(1).unwrap(), 1, "one RTSP session");

    // Switching recording off reconnects nothing and finishes the segment.
    cam.record = RecordMode::Off;
    let summary = cameras.apply([cam]);
    assert_eq!(summary.changed, ["c1"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.client_count(1).unwrap(), 1);
    assert!(cameras.status("c1").unwrap().state().is_online());
    cameras.clear();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();

    let rows = index.segments();
    assert!(rows.len() >= 2, "{rows:?}");
    let total: u64 = rows.iter().map(|r| r.frames).sum();
    assert!(total >= 100, "{total} frames in 5 s at 25 fps");
    if !have_ffprobe("recorded_segments_decode_and_use_the_live_session") {
        return;
    }
    for row in &rows {
        let probed = probe(&tmp.path().join(&row.path));
        assert_eq!(probed.frames, row.frames, "{}", row.path);
        assert_eq!(probed.codec, "h264");
        assert_eq!((probed.width, probed.height), (320, 240));
        let indexed = row.end.duration_since(row.start).unwrap().as_secs_f64();
        assert!(
            (probed.duration - indexed).abs() < 0.1,
            "{} s in the file, {indexed} s in the row",
            probed.duration
        );
    }

    // A clip across a segment boundary: one progressive MP4 that decodes
    // from its first frame, with the frames and duration the plan says.
    let sources: Vec<ClipSegment> = rows
        .iter()
        .map(|r| ClipSegment {
            path: tmp.path().join(&r.path),
            start: r.start,
        })
        .collect();
    let from = rows[0].end - Duration::from_millis(1300);
    let to = rows[1].start + Duration::from_millis(1200);
    let plan = plan_clip(&sources, from, to).unwrap();
    assert!(plan.from <= from && plan.from > from - Duration::from_secs(1));
    let clip = tmp.path().join("clip.mp4");
    plan.write_file(&clip).unwrap();
    let probed = probe(&clip);
    assert_eq!(probed.frames, plan.frames);
    let planned = plan.to.duration_since(plan.from).unwrap().as_secs_f64();
    assert!(
        (probed.duration - planned).abs() < 0.05,
        "{probed:?} vs {planned} s"
    );
}
