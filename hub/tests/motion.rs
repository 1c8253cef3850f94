//! A camera's motion settings over HTTP (issue 19): admins write, duty officers read, bad
//! zones and schedules are 400 naming the field, and nothing bad is stored.

use crate::common;

use axum::http::{Method, StatusCode};
use common::Hub;
use serde_json::json;

on_both!(motion_settings_api, |hub: Hub| async move {
    let (_, admin) = hub.login_as("admin", None, None).await;
    let (_, duty) = hub.login_as("duty_officer", None, None).await;
    let cam = hub
        .call(
            Method::POST,
            "/api/v1/cameras",
            Some(&admin),
            Some(json!({"name": "yard", "rtsp_url": "rtsp://127.0.0.1/yard"})),
        )
        .await;
    let path = format!(
        "/api/v1/cameras/{}/motion",
        cam.body["id"].as_str().unwrap()
    );

    let a = hub.call(Method::GET, &path, Some(&duty), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["enabled"], false);

    let good = json!({
        "enabled": true,
        "zones": [{"name": "gate", "points": [[0.1, 0.1], [0.6, 0.1], [0.6, 0.7], [0.1, 0.7]]}],
        "schedule": {"kind": "window", "start": "22:00", "end": "06:00"},
        "min_area": 0.05, "min_duration_ms": 600, "cooldown_seconds": 90,
        "utc_offset_minutes": 480
    });
    let a = hub
        .call(Method::PUT, &path, Some(&admin), Some(good.clone()))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = hub
        .call(Method::PUT, &path, Some(&duty), Some(good.clone()))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

    let mut bow = good.clone();
    bow["zones"][0]["points"] = json!([[0.1, 0.1], [0.6, 0.6], [0.6, 0.1], [0.1, 0.6]]);
    let mut outside = good.clone();
    outside["zones"][0]["points"][2] = json!([1.4, 0.7]);
    let mut night = good.clone();
    night["schedule"]["end"] = json!("6 o'clock");
    let mut area = good.clone();
    area["min_area"] = json!(0);
    for (body, field) in [
        (bow, "zones[0].points"),
        (outside, "zones[0].points[2]"),
        (night, "schedule.end"),
        (area, "min_area"),
    ] {
        let a = hub.call(Method::PUT, &path, Some(&admin), Some(body)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field}: {}", a.body);
        assert_eq!(a.body["error"]["field"], field, "{}", a.body);
    }
    let a = hub.call(Method::GET, &path, Some(&duty), None).await;
    assert_eq!(a.body, good, "the bad bodies changed nothing");

    let a = hub
        .call(
            Method::GET,
            "/api/v1/cameras/nope/motion",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
});

// A detection raises a `motion` incident in the camera's grid, with the camera named and the
// 15-minute deadline, only while the schedule is armed (night, 22:00–06:00 Shanghai time, on
// the hub's `ManualClock`), and never for a camera whose motion alerts are off.
on_both!(
    motion_incidents_follow_the_schedule,
    |hub: Hub| async move {
        use chrono::Duration;
        use common::community::community;
        use gridwatch_hub::cameras::motion::{raise_motion, MotionDetected};
        use gridwatch_store::RaiseOutcome;

        let c = community(&hub).await;
        let cam = c.cams[0].clone();
        let detected = MotionDetected {
            camera_id: cam.clone(),
            zone: "gate".into(),
            area: 0.3,
        };
        // Off by default: nothing.
        assert!(raise_motion(&hub.state.cameras, &detected)
            .await
            .unwrap()
            .is_none());

        let a = hub
            .call(
                Method::PUT,
                &format!("/api/v1/cameras/{cam}/motion"),
                Some(&c.admin),
                Some(json!({"enabled": true,
                "schedule": {"kind": "window", "start": "22:00", "end": "06:00"}})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        // t0 is 08:00 UTC, 16:00 in Shanghai: disarmed.
        assert!(raise_motion(&hub.state.cameras, &detected)
            .await
            .unwrap()
            .is_none());
        // 14:30 UTC is 22:30 in Shanghai: armed.
        hub.clock.advance(Duration::minutes(6 * 60 + 30));
        let raised = raise_motion(&hub.state.cameras, &detected)
            .await
            .unwrap()
            .expect("armed at night");
        assert_eq!(raised.outcome, RaiseOutcome::Raised);
        let inc = &raised.incident;
        assert_eq!(inc.kind.as_str(), "motion");
        assert_eq!(inc.grid_id.as_deref(), Some(c.g1.as_str()));
        assert_eq!(inc.camera_id.as_deref(), Some(cam.as_str()));
        assert_eq!(inc.deadline_at - inc.created_at, Duration::minutes(15));
        // 22:00 UTC is 06:00 in Shanghai: disarmed again.
        hub.clock.advance(Duration::minutes(7 * 60 + 30));
        assert!(raise_motion(&hub.state.cameras, &detected)
            .await
            .unwrap()
            .is_none());
    }
);
