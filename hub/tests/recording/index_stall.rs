//! A database that stops taking segment rows while the hub records (a lock held by a long
//! transaction; on PostgreSQL the table's EXCLUSIVE lock, which lets reads through, as a
//! stuck migration or a failover would; on SQLite its one write lock): recording goes on and
//! drops nothing, and the finished segments waiting for their rows play back, show on the
//! timeline and are cut into `recordings.mp4` as indexed ones are. Once the database takes
//! writes again their rows go in. On both backends.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gridwatch_store::testing::{fresh_store, hold_recording_index};
use gridwatch_store::Backend;
use reqwest::StatusCode;
use serde_json::Value;

use super::open_segment::{assert_played_every_frame, play_to_the_end};
use super::playback::{segments_of, token};
use super::replay::at;
use super::served::{add_camera, serve_recording, wait_for_segments};
use super::support::{ask_ranged, exports, recordings_mp4, recordings_timeline};
use crate::ingest_common::media::{have_ffprobe, probe};
use crate::ingest_common::start_sim;

async fn segments_waiting_for_their_rows_still_play(backend: Backend) {
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let camera = add_camera(&store, &sim.url(1)).await;
    let duty = token(&store, "duty_officer", None).await;
    // Segments of a second: several finish while the rows are held.
    let running = serve_recording(store.clone(), &tmp.path().join("samples"), |_| {}).await;
    wait_for_segments(&store, &camera, 1).await;

    let hold = hold_recording_index(&store).await.unwrap();
    let recording = running.state.recording.clone();
    let until = Instant::now() + Duration::from_secs(30);
    while recording.unindexed(&camera).finished.len() < 4 {
        assert!(
            Instant::now() < until,
            "segments finish while the rows are held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waiting: Vec<_> = recording
        .unindexed(&camera)
        .finished
        .into_iter()
        .map(|(record, _)| record)
        .collect();
    let indexed = segments_of(&store, &camera).await;
    assert!(
        waiting
            .iter()
            .all(|w| !indexed.iter().any(|row| row.id == w.id)),
        "the waiting segments have no row"
    );
    let first_row = indexed.first().expect("a row from before the hold").start;
    let (waiting_from, waiting_to): (DateTime<Utc>, DateTime<Utc>) =
        (waiting[0].start.into(), waiting.last().unwrap().end.into());
    eprintln!(
        "{} rows, {} segments waiting for theirs: {waiting_from} to {waiting_to}",
        indexed.len(),
        waiting.len()
    );

    // The timeline: one span from the first row through the waiting segments to what is
    // being written, no gap between them.
    let hub = format!("http://{}", running.addr);
    let listed = recordings_timeline(
        &hub,
        &camera,
        &duty,
        first_row - chrono::Duration::seconds(5),
        Utc::now(),
    )
    .await;
    let spans = listed["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{listed}");
    let time = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert!(time(&spans[0]["from"]) <= first_row, "{listed}");
    assert!(time(&spans[0]["to"]) >= waiting_to, "{listed}");

    // One MP4 of the waiting segments: nothing of it indexed. On PostgreSQL the download's
    // audit event goes in beside the held table. SQLite's one write lock holds it back too, and
    // video nobody can account for does not leave: 503, no video, try again (below, once the
    // database takes writes again).
    let check_mp4 = |mp4: Vec<u8>, name: &str| {
        if have_ffprobe("segments_waiting_for_their_rows_still_play") {
            let file = tmp.path().join(name);
            std::fs::write(&file, &mp4).unwrap();
            let probed = probe(&file);
            let asked = (waiting_to - waiting_from).num_milliseconds() as f64 / 1000.0;
            assert!(
                (probed.duration - asked).abs() < 0.5,
                "{probed:?}, asked {asked} s"
            );
        }
    };
    match backend {
        Backend::Postgres => {
            let mp4 = recordings_mp4(&hub, &camera, &duty, waiting_from, waiting_to).await;
            check_mp4(mp4, "waiting.mp4");
        }
        Backend::Sqlite => {
            let answer = ask_ranged(
                &hub,
                &camera,
                "recordings.mp4",
                &duty,
                waiting_from,
                waiting_to,
            )
            .await;
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(answer.headers().contains_key("retry-after"));
            let body: Value = answer.json().await.expect("a JSON error, not video");
            assert_eq!(body["error"]["code"], "export_not_recorded", "{body}");
        }
    }

    // Playback from the first waiting segment: through all of them, frame after frame, to
    // the present (where it ends and the page goes live).
    let url = format!(
        "ws://{}/api/v1/cameras/{camera}/live?token={duty}&from={}",
        running.addr,
        at(waiting_from)
    );
    let got = play_to_the_end(&url).await;
    assert_played_every_frame(&got, &waiting);

    // Nothing was dropped meanwhile; the gauge and /readyz show the backlog (and the hub stays
    // ready: SOS intake and live video do not need these rows).
    let stats = recording.recorder().unwrap().stats()[0].clone();
    assert_eq!(stats.dropped_queue_full, 0, "{stats:?}");
    assert!(
        stats.unindexed_segments >= waiting.len() as u64,
        "{stats:?}"
    );
    let ready = reqwest::get(format!("{hub}/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    let backlog = ready["recording"]["dirs"][0]["unindexed_segments"].as_u64();
    assert!(backlog >= Some(waiting.len() as u64), "{ready}");

    // The database takes writes again: the rows go in.
    hold.release().await.unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while !recording.unindexed(&camera).finished.is_empty() {
        assert!(Instant::now() < until, "the waiting rows go in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = segments_of(&store, &camera).await;
    for w in &waiting {
        let row = rows.iter().find(|r| r.id == w.id).expect("its row is in");
        assert_eq!(row.sha256, w.sha256);
    }
    // The export refused on SQLite goes through now, and is on the audit list; the one taken
    // on PostgreSQL while the table was held is on it too.
    if backend == Backend::Sqlite {
        let mp4 = recordings_mp4(&hub, &camera, &duty, waiting_from, waiting_to).await;
        check_mp4(mp4, "waiting-later.mp4");
    }
    let audited = exports(&hub, &duty, &format!("camera_id={camera}")).await;
    assert_eq!(audited["exports"].as_array().unwrap().len(), 1, "{audited}");
    running.state.cameras.registry.clear();
    running.task.abort();
}

served_on_both!(segments_waiting_for_their_rows_still_play);
