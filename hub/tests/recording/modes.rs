//! A camera's record mode and retention set through the API: validated field by field, shown
//! to admins only, and applied to the running recorder without a restart (`off` stops writing
//! at once, `continuous` starts again, a camera's days reach the next retention pass). On both
//! backends.

use std::time::{Duration, Instant};

use gridwatch_store::testing::fresh_store;
use gridwatch_store::{Backend, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::playback::token;
use super::served::{serve_recording, wait_for_segments};
use crate::ingest_common::start_sim;

async fn segment_count(store: &Store, camera: &str) -> usize {
    super::playback::segments_of(store, camera).await.len()
}

/// Waits until the camera's segment count stays the same for `quiet`; returns it.
async fn wait_until_still(store: &Store, camera: &str, quiet: Duration) -> usize {
    let started = Instant::now();
    let mut last = segment_count(store, camera).await;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = segment_count(store, camera).await;
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still writing segments after 30 s ({now})"
        );
    }
}

async fn record_mode_is_set_through_the_api_and_applied_at_once(backend: Backend) {
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let running = serve_recording(store.clone(), &tmp.path().join("samples"), |_| {}).await;
    let base = format!("http://{}/api/v1/cameras", running.addr);
    let http = reqwest::Client::new();
    let admin = token(&store, "admin", None).await;
    let duty = token(&store, "duty_officer", None).await;
    let send = |req: reqwest::RequestBuilder| async move {
        let answer = req.send().await.unwrap();
        let status = answer.status();
        (status, answer.json::<Value>().await.unwrap_or(Value::Null))
    };

    // Refused field by field, before anything is stored.
    for (body, field) in [
        (json!({"record": "always"}), "record"),
        (json!({"retention_days": 0}), "retention_days"),
        (json!({"retention_days": 100000}), "retention_days"),
    ] {
        let mut new = json!({"name": "东门", "rtsp_url": sim.url(1)});
        new.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (status, answer) = send(http.post(&base).bearer_auth(&admin).json(&new)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{new} {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert!(store.cameras().await.unwrap().is_empty());

    // Created with recording off: live, but nothing written.
    let (status, created) = send(http.post(&base).bearer_auth(&admin).json(&json!({
        "name": "东门", "rtsp_url": sim.url(1), "record": "off", "retention_days": 7,
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["record"], "off", "{created}");
    assert_eq!(created["retention_days"], 7, "{created}");
    let camera = created["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    while running
        .state
        .cameras
        .registry
        .status(&camera)
        .is_none_or(|s| s.main.state.as_str() != "online")
    {
        assert!(started.elapsed() < Duration::from_secs(20), "never online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        segment_count(&store, &camera).await,
        0,
        "recorded while off"
    );

    // Admins see the settings; those who only watch do not.
    let (_, seen) = send(http.get(format!("{base}/{camera}")).bearer_auth(&admin)).await;
    assert_eq!(
        (&seen["record"], &seen["retention_days"]),
        (&json!("off"), &json!(7))
    );
    let (status, seen) = send(http.get(format!("{base}/{camera}")).bearer_auth(&duty)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        seen.get("record").is_none() && seen.get("retention_days").is_none(),
        "{seen}"
    );

    // Continuous: recorded from now on, no restart.
    let (status, patched) = send(
        http.patch(format!("{base}/{camera}"))
            .bearer_auth(&admin)
            .json(&json!({"record": "continuous", "retention_days": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["record"], "continuous");
    assert_eq!(patched["retention_days"], Value::Null);
    wait_for_segments(&store, &camera, 2).await;

    // A bad patch changes nothing.
    let (status, answer) = send(
        http.patch(format!("{base}/{camera}"))
            .bearer_auth(&admin)
            .json(&json!({"record": "sometimes"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["field"], "record", "{answer}");
    let (status, answer) = send(
        http.patch(format!("{base}/{camera}"))
            .bearer_auth(&admin)
            .json(&json!({"retention_days": -1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["field"], "retention_days", "{answer}");
    assert_eq!(
        store.camera(&camera).await.unwrap().record.as_str(),
        "continuous"
    );

    // Off again: the open segment is finished and no other starts, while live video goes on.
    let (status, _) = send(
        http.patch(format!("{base}/{camera}"))
            .bearer_auth(&admin)
            .json(&json!({"record": "off", "retention_days": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stopped_at = wait_until_still(&store, &camera, Duration::from_millis(2500)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(segment_count(&store, &camera).await, stopped_at);
    let status = running.state.cameras.registry.status(&camera).unwrap();
    assert_eq!(
        status.main.state.as_str(),
        "online",
        "recording off stops no video"
    );

    // The camera's days are what the next retention pass uses.
    let policy = running.state.recording.policy(&store).await.unwrap();
    assert_eq!(policy.camera_days.get(&camera), Some(&3));

    running.task.abort();
}

served_on_both!(record_mode_is_set_through_the_api_and_applied_at_once);
