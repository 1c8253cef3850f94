//! A camera's outage raises one `camera_offline` incident while that incident is open — also
//! when a second hub node, or the same node after a restart, notices the outage with another
//! start — on SQLite and on PostgreSQL.

mod common;

use chrono::Duration;
use common::community::{act_ok, community};
use common::Hub;
use gridwatch_hub::cameras::health::raise_camera_offline;
use gridwatch_store::RaiseOutcome;
use serde_json::json;

on_both!(an_open_outage_is_raised_once, |hub: Hub| async move {
    let c = community(&hub).await;
    let cam = &c.cams[0];
    let t0 = common::t0();
    let first = raise_camera_offline(&hub.state, cam, t0, "no frames")
        .await
        .unwrap()
        .expect("an enabled camera");
    assert_eq!(first.outcome, RaiseOutcome::Raised);
    assert_eq!(first.incident.kind.as_str(), "camera_offline");
    assert_eq!(first.incident.grid_id.as_deref(), Some(c.g1.as_str()));

    // The same outage again (a retry): nothing new.
    let again = raise_camera_offline(&hub.state, cam, t0, "no frames")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.outcome, RaiseOutcome::Replayed);
    // Another node, or a restart, sees it with another start: a repeat on the open incident.
    let other = raise_camera_offline(&hub.state, cam, t0 + Duration::seconds(40), "no frames")
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
    let next = raise_camera_offline(&hub.state, cam, t0 + Duration::hours(1), "no frames")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.outcome, RaiseOutcome::Raised);
    assert_ne!(next.incident.id, first.incident.id);
    // A disabled camera raises nothing.
    assert!(raise_camera_offline(&hub.state, &c.cams[3], t0, "x")
        .await
        .unwrap()
        .is_none());
});
