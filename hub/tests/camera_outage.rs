//! A camera's outage raises one `camera_offline` incident while that incident is open — also
//! when a second hub node, or the same node after a restart, notices the outage with another
//! start — and the time before that incident counts from the outage's real start, which the
//! database keeps across a restart; on SQLite and on PostgreSQL.

use crate::common;

use axum::http::Method;
use chrono::Duration;
use common::community::{act_ok, community};
use common::Hub;
use gridwatch_core::access::Visibility;
use gridwatch_hub::cameras::health::raise_camera_offline;
use gridwatch_store::{IncidentFilter, RaiseOutcome};
use serde_json::json;

on_both!(an_open_outage_is_raised_once, |hub: Hub| async move {
    let c = community(&hub).await;
    let cam = &c.cams[0];
    let t0 = common::t0();
    let first = raise_camera_offline(&hub.state.cameras, cam, t0, "no frames")
        .await
        .unwrap()
        .expect("an enabled camera");
    assert_eq!(first.outcome, RaiseOutcome::Raised);
    assert_eq!(first.incident.kind.as_str(), "camera_offline");
    assert_eq!(first.incident.grid_id.as_deref(), Some(c.g1.as_str()));

    // The same outage again (a retry): nothing new.
    let again = raise_camera_offline(&hub.state.cameras, cam, t0, "no frames")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.outcome, RaiseOutcome::Replayed);
    // Another node, or a restart, sees it with another start: a repeat on the open incident.
    let other = raise_camera_offline(
        &hub.state.cameras,
        cam,
        t0 + Duration::seconds(40),
        "no frames",
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(other.outcome, RaiseOutcome::Repeated);
    assert_eq!(other.incident.id, first.incident.id);

    // Once it is closed, the next outage is a new incident.
    act_ok(
        &hub,
        &c.duty,
        &first.incident.id,
        "cancel",
        Some(json!({"reason": "fixed"})),
    )
    .await;
    let next = raise_camera_offline(
        &hub.state.cameras,
        cam,
        t0 + Duration::hours(1),
        "no frames",
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(next.outcome, RaiseOutcome::Raised);
    assert_ne!(next.incident.id, first.incident.id);
    // A disabled camera raises nothing.
    assert!(
        raise_camera_offline(&hub.state.cameras, &c.cams[3], t0, "x")
            .await
            .unwrap()
            .is_none()
    );
});

on_both!(
    an_outage_counts_from_its_start_after_a_restart,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let cam = c.cams[0].clone();
        // Nothing answers at its URL: the hub sees it offline at t0 and records when that began.
        gridwatch_hub::cameras::start(&hub.state.cameras).await;
        let t0 = hub.state.now();
        let store = hub.state.store.clone();
        let began = wait_for(|| {
            let store = store.clone();
            let cam = cam.clone();
            async move { store.camera_outage(&cam).await.unwrap() }
        })
        .await
        .expect("the outage's start is recorded");
        assert_eq!(began, t0);

        // 59 s into the outage (of the 60 before an incident) the hub restarts — here, a second
        // hub process on the same database sees the camera offline. Its count goes on from t0, so
        // the incident comes within about a second, not a minute, and it is the outage of t0.
        hub.clock.advance(Duration::seconds(59));
        let restarted = gridwatch_hub::AppState::new(
            store.clone(),
            std::sync::Arc::new(hub.clock.clone()),
            (*hub.state.config).clone(),
        );
        gridwatch_hub::cameras::start(&restarted.cameras).await;
        let raised = wait_for(|| {
            let store = store.clone();
            let cam = cam.clone();
            async move {
                let all = store
                    .incidents(&IncidentFilter::new(Visibility::All))
                    .await
                    .unwrap();
                all.into_iter().find(|i| {
                    i.kind.as_str() == "camera_offline" && i.camera_id == Some(cam.clone())
                })
            }
        })
        .await
        .expect("a camera_offline incident within the wait, i.e. counted from t0");
        let timeline = store.timeline(&raised.id).await.unwrap();
        assert_eq!(
            timeline[0].data["offline_since"],
            json!(t0),
            "the incident is the outage that began at t0"
        );
        assert_eq!(
            store.camera_outage(&cam).await.unwrap(),
            Some(t0),
            "the second sighting did not move the start"
        );

        // Disabling the camera ends the outage: if it is enabled again while still down, the
        // count starts afresh.
        let set_enabled = |enabled: bool| {
            let path = format!("/api/v1/cameras/{cam}");
            let body = json!({ "enabled": enabled });
            let (hub, admin) = (&hub, &c.admin);
            async move {
                let answer = hub
                    .call(Method::PATCH, &path, Some(admin), Some(body))
                    .await;
                assert_eq!(answer.status, 200, "{:?}", answer.body);
            }
        };
        set_enabled(false).await;
        let ended = wait_for(|| {
            let store = store.clone();
            let cam = cam.clone();
            async move {
                store
                    .camera_outage(&cam)
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            }
        })
        .await;
        assert!(ended.is_some(), "a disabled camera has no outage");

        // Enabled again while still down: a new outage, from now.
        hub.clock.advance(Duration::seconds(5));
        let again = hub.state.now();
        set_enabled(true).await;
        let began = wait_for(|| {
            let store = store.clone();
            let cam = cam.clone();
            async move { store.camera_outage(&cam).await.unwrap() }
        })
        .await;
        assert_eq!(
            began,
            Some(again),
            "the outage after re-enabling is recorded"
        );
    }
);

/// Polls `probe` every 50 ms for up to 15 s until it finds something.
async fn wait_for<T, F, Fut>(mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        if let Some(v) = probe().await {
            return Some(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}
