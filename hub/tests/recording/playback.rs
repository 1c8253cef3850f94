//! Playback over HTTP from a served hub that records a simulated camera: the recorded spans and
//! gaps, one MP4 of a range that ffprobe decodes, byte ranges (206, 416), `no_recording` for a
//! range without video, no recordings for residents, and every download on the export audit.
//! On both backends.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gridwatch_store::testing::fresh_store;
use gridwatch_store::{Backend, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::served::{add_camera, serve_recording, wait_for_segments};
use super::support::exports;
use crate::ingest_common::media::{have_ffprobe, probe};
use crate::ingest_common::start_sim;

/// A session token for a new user of `role`.
pub async fn token(store: &Store, role: &str, post: Option<&str>) -> String {
    let n = gridwatch_core::id::new_id().replace('-', "");
    let user = store
        .create_user(
            serde_json::from_value(json!({
                "username": format!("{role}{}", &n[n.len() - 12..]), "password": "password-1",
                "role": role, "post_id": post,
            }))
            .unwrap(),
            Utc::now(),
        )
        .await
        .unwrap();
    store
        .open_session(user, chrono::Duration::hours(1), Utc::now())
        .await
        .unwrap()
        .token
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn playback_lists_spans_and_serves_ranges(backend: Backend) {
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let camera = add_camera(&store, &sim.url(1)).await;
    let running = serve_recording(store.clone(), &tmp.path().join("samples"), |_| {}).await;
    wait_for_segments(&store, &camera, 3).await;
    let segments = store
        .recording_segments(
            &camera,
            "main",
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        )
        .await
        .unwrap();
    let (first, third) = (segments[0].clone(), segments[2].clone());
    let base = format!("http://{}/api/v1/cameras/{camera}", running.addr);
    let http = reqwest::Client::new();
    let duty = token(&store, "duty_officer", None).await;
    let get = |url: String, range: Option<&str>| {
        let mut req = http.get(url).bearer_auth(&duty);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        req.send()
    };

    // Spans and gaps: recorded from the first segment on, nothing before it.
    let (from, to) = (first.start - chrono::Duration::seconds(10), third.end);
    let answer = get(
        format!("{base}/recordings?from={}&to={}", at(from), at(to)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let listed: Value = answer.json().await.unwrap();
    let spans = listed["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{listed}");
    assert!(spans[0]["segments"].as_u64().unwrap() >= 3, "{listed}");
    assert_eq!(listed["gaps"][0]["from"], json!(at(from)), "{listed}");
    assert_eq!(listed["gaps"][0]["to"], json!(at(first.start)), "{listed}");

    // One MP4 across two segment boundaries; ffprobe decodes it.
    let (clip_from, clip_to) = (
        first.start + chrono::Duration::milliseconds(300),
        third.end - chrono::Duration::milliseconds(100),
    );
    let url = format!(
        "{base}/recordings.mp4?from={}&to={}",
        at(clip_from),
        at(clip_to)
    );
    // A player's first range (recorded: this person has no access to it yet), then a save.
    let part = get(url.clone(), Some("bytes=100-4099")).await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    let part_range = part.headers()["content-range"].clone();
    let part = part.bytes().await.unwrap();
    let whole = get(url.clone(), None).await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert!(
        whole.headers().get("x-gridwatch-not-recorded").is_none(),
        "recorded throughout"
    );
    let whole = whole.bytes().await.unwrap();
    assert!(whole.len() > 1000, "{} bytes", whole.len());
    if have_ffprobe("playback_lists_spans_and_serves_ranges") {
        let file = tmp.path().join("range.mp4");
        std::fs::write(&file, &whole).unwrap();
        let probed = probe(&file);
        let frames: u64 = segments[..3].iter().map(|s| s.frames).sum();
        assert!(probed.frames > 0 && probed.frames <= frames, "{probed:?}");
        let span = (clip_to - clip_from).num_milliseconds() as f64 / 1000.0;
        // Starts at the keyframe at or before `from`: never shorter, at most a GOP longer.
        assert!(probed.duration > span - 0.2, "{probed:?} vs {span}");
        assert!(probed.duration < span + 1.5, "{probed:?} vs {span}");
    }

    // Byte ranges are those bytes of the whole; outside it, 416.
    let len = whole.len();
    assert_eq!(part_range, format!("bytes 100-4099/{len}").as_str());
    assert_eq!(part, whole[100..4100]);
    let tail = get(url.clone(), Some("bytes=-1000")).await.unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), whole[len - 1000..]);
    let past = get(url.clone(), Some(&format!("bytes={len}-")))
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    // Nothing recorded a day before: 404 no_recording. A reversed range: 400.
    let day = chrono::Duration::days(1);
    let none = get(
        format!(
            "{base}/recordings.mp4?from={}&to={}",
            at(clip_from - day),
            at(clip_to - day)
        ),
        None,
    )
    .await
    .unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_recording", "{body}");
    let reversed = get(
        format!("{base}/recordings?from={}&to={}", at(to), at(from)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(reversed.status(), StatusCode::BAD_REQUEST);

    // Residents see no recordings (the role matrix walks every role).
    let resident = token(&store, "resident", None).await;
    let answer = http.get(&url).bearer_auth(&resident).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);

    // Each download that sent video is on the export audit, newest first: who, which camera
    // and time, which bytes. The 416, the 404 and the resident's 403 sent none and are not;
    // the tail, a range of a video this person's access is recorded for, joined it.
    let hub = format!("http://{}", running.addr);
    let me: Value = get(format!("{hub}/api/v1/me"), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = exports(&hub, &duty, "").await;
    let rows = listed["exports"].as_array().unwrap();
    let ranges: Vec<&str> = rows.iter().map(|r| r["range"].as_str().unwrap()).collect();
    assert_eq!(ranges, ["all", "bytes 100-4099"], "{listed}");
    let sizes: Vec<u64> = rows.iter().map(|r| r["bytes"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [len as u64, 4000], "{listed}");
    for row in rows {
        assert_eq!(row["type"], "camera.recording_exported", "{row}");
        assert_eq!(row["camera_id"], json!(camera), "{row}");
        assert_eq!(row["from"], json!(at(clip_from)), "{row}");
        assert_eq!(row["to"], json!(at(clip_to)), "{row}");
        assert_eq!(row["by"]["username"], me["user"]["username"], "{row} {me}");
        assert_eq!(
            row["actor"],
            json!(format!("user:{}", me["user"]["id"].as_str().unwrap()))
        );
    }
    assert_eq!(listed["more"], false, "{listed}");
    // One camera's only; a page of one says there are more; nonsense is a 400 naming it.
    let other = exports(&hub, &duty, "camera_id=another-camera").await;
    assert_eq!(other["exports"], json!([]), "{other}");
    let ours = exports(&hub, &duty, &format!("camera_id={camera}&limit=1")).await;
    assert_eq!(ours["exports"][0]["range"], "all", "{ours}");
    assert_eq!(ours["more"], true, "{ours}");
    for (q, field) in [
        ("limit=0", "limit"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
    ] {
        let bad = get(format!("{hub}/api/v1/exports?{q}"), None)
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{q}");
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{q}: {body}");
    }
    running.state.cameras.registry.clear();
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.task.abort();
}

/// The camera's segments, in time order.
pub async fn segments_of(store: &Store, camera: &str) -> Vec<gridwatch_core::recording::Segment> {
    store
        .recording_segments(
            camera,
            "main",
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        )
        .await
        .unwrap()
}

/// An outage of the camera is a gap between two spans, and one MP4 across it plays through
/// it with the wall clock's duration (the last frame before it held).
async fn playback_across_an_outage(backend: Backend) {
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let camera = add_camera(&store, &sim.url(1)).await;
    let running = serve_recording(store.clone(), &tmp.path().join("samples"), |c| {
        c.cameras.backoff_initial_ms = 200;
        c.cameras.backoff_max_ms = 500;
    })
    .await;
    wait_for_segments(&store, &camera, 2).await;
    sim.stop(1).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = segments_of(&store, &camera).await.len();
    let resumed = Utc::now();
    sim.resume(1).unwrap();
    // Two whole segments recorded after the outage.
    let started = std::time::Instant::now();
    let segments = loop {
        let all = segments_of(&store, &camera).await;
        if all.iter().filter(|s| s.start > resumed).count() >= 2 {
            break all;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{all:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(before >= 2);
    let (first, last) = (segments[0].clone(), segments.last().unwrap().clone());
    let base = format!("http://{}/api/v1/cameras/{camera}", running.addr);
    let duty = token(&store, "duty_officer", None).await;
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!(
            "{base}/recordings?from={}&to={}",
            at(first.start),
            at(last.end)
        ))
        .bearer_auth(&duty)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spans = listed["spans"].as_array().unwrap();
    let gaps = listed["gaps"].as_array().unwrap();
    assert_eq!((spans.len(), gaps.len()), (2, 1), "{listed}");
    let gap_from: DateTime<Utc> = serde_json::from_value(gaps[0]["from"].clone()).unwrap();
    let gap_to: DateTime<Utc> = serde_json::from_value(gaps[0]["to"].clone()).unwrap();
    assert!(
        gap_to - gap_from >= chrono::Duration::milliseconds(2500),
        "{listed}"
    );

    let (from, to) = (first.start, last.end);
    let answer = http
        .get(format!(
            "{base}/recordings.mp4?from={}&to={}",
            at(from),
            at(to)
        ))
        .bearer_auth(&duty)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let bytes = answer.bytes().await.unwrap();
    if have_ffprobe("playback_across_an_outage") {
        let file = tmp.path().join("outage.mp4");
        std::fs::write(&file, &bytes).unwrap();
        let probed = probe(&file);
        let frames: u64 = segments.iter().map(|s| s.frames).sum();
        assert_eq!(probed.frames, frames, "{probed:?}");
        let span = (to - from).num_milliseconds() as f64 / 1000.0;
        assert!((probed.duration - span).abs() < 0.3, "{probed:?} vs {span}");
    }
    running.state.cameras.registry.clear();
    running.task.abort();
}

served_on_both!(playback_across_an_outage);

served_on_both!(playback_lists_spans_and_serves_ranges);
