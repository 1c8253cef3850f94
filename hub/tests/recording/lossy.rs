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
use gridwatch_store::{Backend, Store};
use serde_json::{json, Value};

use super::playback::{segments_of, token};
use super::replay::{at, control, read, Received};
use super::served::serve_recording;
use super::support::recordings_timeline;
use crate::foreign::relay::{Impairment, LossyProxy};
use crate::foreign::{Encoding, ForeignCamera};
use crate::worker_recording::hub_and_minute_worker;
use gridwatch_ingest::config::Quality;
use gridwatch_ingest::recording::OpenSegment;

/// Holes inside a segment longer than this are gaps on the timeline and told in playback
/// (`HOLE_LONGER_THAN_MS`: the holds an evidence clip lists).
const JOIN: chrono::Duration =
    chrono::Duration::milliseconds(gridwatch_core::recording::playback::HOLE_LONGER_THAN_MS);

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The foreign camera (x264 of noise, a keyframe every 4 s) behind the lossy relay, registered
/// over UDP in a fresh SQLite store.
struct Lossy {
    _cam: ForeignCamera,
    proxy: LossyProxy,
    tmp: tempfile::TempDir,
    store: Store,
    camera: String,
}

impl Lossy {
    async fn start() -> Lossy {
        crate::ingest_common::init_tracing();
        let cam = ForeignCamera::start(Encoding {
            key_int: 100,
            pattern: "snow",
            ..Encoding::h264()
        });
        let proxy = LossyProxy::start(cam.port, Impairment::lossy()).await;
        let tmp = tempfile::tempdir().unwrap();
        let store = fresh_store(Backend::Sqlite, tmp.path()).await.unwrap();
        let camera = add_udp_camera(&store, proxy.port).await;
        Lossy {
            _cam: cam,
            proxy,
            tmp,
            store,
            camera,
        }
    }
}

/// A camera pulled over UDP from `port` (the lossy relay).
async fn add_udp_camera(store: &Store, port: u16) -> String {
    store
        .create_camera(
            serde_json::from_value(json!({
                "name": "西门", "transport": "udp",
                "rtsp_url": format!("rtsp://127.0.0.1:{port}/cam"),
            }))
            .unwrap(),
            Utc::now(),
        )
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_camera_records_holes_shown_as_gaps_and_skipped_in_playback() {
    let Lossy {
        _cam,
        proxy,
        tmp,
        store,
        camera,
    } = Lossy::start().await;
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

    // Playback from the first segment's start: the frames before the first long hole, a gap
    // message for it, and frames after it, from the same file.
    plays_across_the_hole(
        &format!("{}", running.addr),
        &camera,
        &duty,
        first.start,
        long[0],
    )
    .await;
    running.state.cameras.registry.clear();
    running.task.abort();
}

/// Plays `camera` from `from` at 4× over `live?from=` on the hub at `addr` until past `hole`:
/// a `gap` message tells the hole to the millisecond, frames come before and after it and none
/// inside, and the media timeline runs on across it (the player never waits).
async fn plays_across_the_hole(
    addr: &str,
    camera: &str,
    token: &str,
    from: DateTime<Utc>,
    (hole_from, hole_to): (DateTime<Utc>, DateTime<Utc>),
) {
    let url = format!(
        "ws://{addr}/api/v1/cameras/{camera}/live?token={token}&from={}",
        at(from)
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
    for w in got.frames.windows(2) {
        assert_eq!(w[1].1, w[0].1 + w[0].2, "decode times run on");
    }
}

/// The same camera held by an ingest worker, through a hub in `workers` mode, while its
/// segment is still being written (60 s segments, no row yet): the worker's wire carries the
/// holes of the segment it writes, so the hub's timeline shows the long ones as gaps, and
/// playback through the hub (the worker's replay of its open file, relayed) tells them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_camera_on_a_worker_shows_its_holes_before_the_segment_ends() {
    let Lossy {
        _cam,
        proxy,
        tmp,
        store,
        camera,
    } = Lossy::start().await;
    let ((hub, stop_hub), (worker, stop_worker)) = hub_and_minute_worker(tmp.path(), &store).await;
    let duty = token(&store, "duty_officer", None).await;
    let base = format!("http://{}", hub.addr);
    let recorder = worker.state.recording.recorder().unwrap().clone();
    let open_now = || {
        recorder
            .open_segment(&camera, Quality::Main)
            .map(|(o, _)| o)
    };
    // Holes longer than the join, in what is written of the segment so far.
    let long_holes = |o: &OpenSegment| -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let written_end = DateTime::<Utc>::from(o.written_end);
        o.holes
            .iter()
            .map(|h| (DateTime::<Utc>::from(h.from), DateTime::<Utc>::from(h.to)))
            .filter(|(from, to)| *to - *from > JOIN && *to <= written_end)
            .collect()
    };

    // The worker's open segment with a long hole, and the hub's timeline of it, read while
    // the segment's holes stayed the same.
    let started = Instant::now();
    let (open, listed) = loop {
        if let Some(before) = open_now().filter(|o| !long_holes(o).is_empty()) {
            let listed =
                recordings_timeline(&base, &camera, &duty, before.start.into(), Utc::now()).await;
            let same = open_now().is_some_and(|o| o.id == before.id && o.holes == before.holes);
            if same {
                break (before, listed);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no long hole in the worker's open segment: {:?}",
            open_now()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        segments_of(&store, &camera).await.is_empty(),
        "the segment is still being written: no row"
    );
    let (start, written_end) = (
        DateTime::<Utc>::from(open.start),
        DateTime::<Utc>::from(open.written_end),
    );
    let gaps: Vec<(DateTime<Utc>, DateTime<Utc>)> = listed["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (time(&g["from"]), time(&g["to"])))
        .filter(|(from, to)| *from >= start && *to <= written_end)
        .collect();
    let long = long_holes(&open);
    eprintln!(
        "relay dropped {} packets; open segment {:?} long, holes {:?}",
        proxy
            .counts
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        written_end - start,
        open.holes
    );
    assert_eq!(gaps, long, "{listed}");
    assert_eq!(
        listed["spans"].as_array().unwrap().last().unwrap()["in_progress"],
        true,
        "{listed}"
    );

    plays_across_the_hole(&format!("{}", hub.addr), &camera, &duty, start, long[0]).await;
    assert!(
        recorder.is_open(&open.id),
        "what was played was the segment being written"
    );

    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
    drop(stop_hub);
    hub.task.await.unwrap().unwrap();
}
