//! Motion alerts end to end (issue 19): the camera simulator's scenes, the real ingest and its
//! motion worker (GStreamer decoding the camera's stream), the hub raising `motion` incidents;
//! on SQLite and on PostgreSQL.
//!
//! - An object entering the watched zone raises exactly one incident, within 2 s of the
//!   frame it entered in (the simulator records when that frame was made).
//! - A scene whose whole picture only fades brighter and darker raises none over as long,
//!   though the detector looked at its pictures all along.
//! - Outside the camera's schedule (on the hub's `ManualClock`) nothing is decoded and
//!   nothing raised; moved into it, the same scene raises its incident.

use crate::common;

use axum::http::{Method, StatusCode};
use common::community::{community, Community};
use common::Hub;
use gridwatch_core::access::Visibility;
use gridwatch_ingest::camsim::{CamSim, CamSimConfig, SimSource};
use gridwatch_ingest::motion::Outcome;
use gridwatch_store::IncidentFilter;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};

/// The lower right quarter of the picture, where the simulator's object walks.
fn lower_right() -> Value {
    json!([{"name": "yard", "points": [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]}])
}

/// One 640×360 25 fps camera, a keyframe a second (also the WebRTC suite's camera).
pub(crate) fn sim(source: SimSource) -> CamSim {
    CamSim::start(CamSimConfig {
        source,
        cameras: 1,
        width: 640,
        height: 360,
        fps: 25,
        key_int: 25,
        bitrate_kbps: 800,
        ..CamSimConfig::default()
    })
    .expect("camsim starts")
}

/// A camera of grid g1 watching the simulator, with motion alerts as `motion` says; the
/// hub's cameras (and motion workers) started. Returns the camera's ID.
async fn watched_camera(hub: &Hub, c: &Community, sim: &CamSim, motion: Value) -> String {
    let body = json!({"name": "yard", "rtsp_url": sim.url(1), "grid_id": c.g1,
        "lat": 26.525, "lon": 107.925});
    let cam = common::community::create(hub, &c.admin, "/api/v1/cameras", body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = hub
        .call(
            Method::PUT,
            &format!("/api/v1/cameras/{cam}/motion"),
            Some(&c.admin),
            Some(motion),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    gridwatch_hub::cameras::start(&hub.state.cameras).await;
    cam
}

/// The camera's `motion` incidents.
async fn motion_incidents(hub: &Hub, cam: &str) -> Vec<gridwatch_core::incident::Incident> {
    let all = hub
        .state
        .store
        .incidents(&IncidentFilter::new(Visibility::All))
        .await
        .unwrap();
    all.into_iter()
        .filter(|i| i.kind.as_str() == "motion" && i.camera_id.as_deref() == Some(cam))
        .collect()
}

/// Waits (up to `within`) for the simulator's object to enter; its wall-clock instant.
async fn entered(sim: &CamSim, within: Duration) -> SystemTime {
    let deadline = Instant::now() + within;
    loop {
        if let Some(at) = sim.scene_times(1).unwrap().entered {
            return at;
        }
        assert!(Instant::now() < deadline, "the object never entered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_both!(
    an_object_entering_raises_one_incident_within_2_s,
    |hub: Hub| async move {
        let enter_after = Duration::from_secs(4);
        let sim = sim(SimSource::Intrusion {
            cameras: vec![1],
            enter_after,
        });
        let c = community(&hub).await;
        let motion = json!({"enabled": true, "zones": lower_right(), "cooldown_seconds": 60});
        let cam = watched_camera(&hub, &c, &sim, motion).await;
        assert!(motion_incidents(&hub, &cam).await.is_empty());

        let entry = entered(&sim, Duration::from_secs(15)).await;
        let times = sim.scene_times(1).unwrap();
        let after_first = entry.duration_since(times.first_frame.unwrap()).unwrap();
        // The schedule is the stream's time; in wall-clock time the pipeline's start (its
        // first frame, then the wait for the first client's PLAY) may stretch it a little.
        assert!(
            after_first + Duration::from_millis(50) >= enter_after
                && after_first < enter_after + Duration::from_secs(2),
            "the simulator keeps its schedule: entered {after_first:?} after its first frame"
        );
        // Polled every 20 ms from the entry on.
        let raised_seen = loop {
            if !motion_incidents(&hub, &cam).await.is_empty() {
                break SystemTime::now();
            }
            let waited = SystemTime::now().duration_since(entry).unwrap_or_default();
            assert!(
                waited < Duration::from_secs(5),
                "no incident {waited:?} after the entry"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let delay = raised_seen.duration_since(entry).unwrap_or_default();
        assert!(
            delay <= Duration::from_secs(2),
            "incident {delay:?} after the object entered"
        );
        // The object walks on for another 5 s: still one incident.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let all = motion_incidents(&hub, &cam).await;
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].grid_id.as_deref(), Some(c.g1.as_str()));
        let motion = hub.state.cameras.motion.metrics();
        assert_eq!(motion.detections(), 1);
        eprintln!(
            "incident {delay:?} after entry; share of frames decoded {:.2}",
            motion.share_decoded()
        );
        the_alert_has_its_picture(&hub, &c, &all[0].id).await;
    }
);

/// The motion alert's picture: one `incident.snapshot_taken` on its timeline (taken within a
/// GOP of the detection, long before this check), a JPEG whose SHA-256 the event names, for
/// the duty officer and the grid's post; never for a resident, and 404 for a post that does
/// not see the incident.
async fn the_alert_has_its_picture(hub: &Hub, c: &Community, incident: &str) {
    let read = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{incident}"),
            Some(&c.duty),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let timeline = read.body["incident"]["timeline"].as_array().unwrap();
    let taken: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["type"] == "incident.snapshot_taken")
        .collect();
    assert_eq!(taken.len(), 1, "{timeline:?}");
    let data = &taken[0]["data"];
    let id = data["snapshot_id"].as_str().unwrap();
    let (stored, jpeg) = hub
        .state
        .store
        .incident_snapshot(incident, id)
        .await
        .unwrap();
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "a JPEG starts with SOI");
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9], "and ends with EOI");
    assert_eq!(data["sha256"], json!(stored.sha256));
    assert_eq!(data["bytes"], json!(jpeg.len()));
    let path = format!("/api/v1/incidents/{incident}/snapshots/{id}");
    for (who, token, status) in [
        ("duty officer", &c.duty, StatusCode::OK),
        ("g1's first post", &c.r1, StatusCode::OK),
        ("resident", &c.resident, StatusCode::FORBIDDEN),
        ("another grid's post", &c.r3, StatusCode::NOT_FOUND),
    ] {
        let a = hub.call(Method::GET, &path, Some(token), None).await;
        assert_eq!(a.status, status, "{who}: {}", a.body);
        if status == StatusCode::OK {
            assert_eq!(a.headers["content-type"], "image/jpeg");
            assert_eq!(a.headers["x-content-sha256"], stored.sha256.as_str());
        }
    }
    let unknown = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{incident}/snapshots/nope"),
            Some(&c.duty),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(
        unknown.body["error"]["code"], "not_found",
        "{}",
        unknown.body
    );
}

on_both!(
    a_change_of_brightness_alone_raises_nothing,
    |hub: Hub| async move {
        let sim = sim(SimSource::Brightness(vec![1]));
        let c = community(&hub).await;
        // The whole picture watched, as touchy as the defaults allow.
        let motion = json!({"enabled": true});
        let cam = watched_camera(&hub, &c, &sim, motion).await;
        // As long as the entry test watches: 4 s before the entry and 7 s after; more than a
        // full fade (8 s) from its brightest to its darkest.
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert!(motion_incidents(&hub, &cam).await.is_empty());
        let motion = hub.state.cameras.motion.metrics();
        assert_eq!(motion.detections(), 0);
        // The detector did look: about 5 pictures a second once the stream was up.
        assert!(
            motion.analysed() >= 30,
            "pictures analysed: {}",
            motion.analysed()
        );
    }
);

on_both!(
    outside_the_schedule_nothing_is_decoded_or_raised,
    |hub: Hub| async move {
        let sim = sim(SimSource::Intrusion {
            cameras: vec![1],
            enter_after: Duration::from_secs(2),
        });
        let c = community(&hub).await;
        // The hub's clock says 16:00 in Shanghai; the yard is watched 22:00–06:00.
        let motion = json!({"enabled": true, "zones": lower_right(),
            "schedule": {"kind": "window", "start": "22:00", "end": "06:00"}});
        let cam = watched_camera(&hub, &c, &sim, motion).await;
        entered(&sim, Duration::from_secs(15)).await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(motion_incidents(&hub, &cam).await.is_empty());
        let metrics = hub.state.cameras.motion.metrics();
        assert_eq!(metrics.frames(Outcome::Decoded), 0);
        assert!(
            metrics.frames(Outcome::Disarmed) >= 50,
            "frames were offered"
        );

        // 22:30 in Shanghai: armed within the hub's check, and the object still walking
        // about is seen.
        hub.clock.advance(chrono::Duration::minutes(6 * 60 + 30));
        let deadline = Instant::now()
            + gridwatch_hub::cameras::motion_workers::ARM_CHECK
            + Duration::from_secs(5);
        while motion_incidents(&hub, &cam).await.is_empty() {
            assert!(Instant::now() < deadline, "no incident once armed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(metrics.frames(Outcome::Decoded) > 0);
    }
);
