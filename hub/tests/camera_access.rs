//! Who sees which camera, and what of it: a responder the cameras of its post's grids and of its
//! open incidents (404 for any other, as for an unknown id), on the list, one camera, live video and snapshots; how the
//! hub reaches a camera (URLs, transport, quirks, user agent) only admins. On SQLite and on
//! PostgreSQL.

use crate::common;

use axum::http::{Method, StatusCode};
use common::community::{act_ok, community, raise, s, Community};
use common::Hub;
use serde_json::{json, Value};

/// The ids of the cameras `token` is listed.
async fn listed(hub: &Hub, token: &str) -> Vec<String> {
    let a = hub
        .call(Method::GET, "/api/v1/cameras", Some(token), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let mut ids: Vec<String> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

/// The status of GET `path` as `token`, and the error body.
async fn get(hub: &Hub, path: &str, token: &str) -> (StatusCode, Value) {
    let a = hub.call(Method::GET, path, Some(token), None).await;
    (a.status, a.body)
}

/// The paths a caller reaches one camera by.
fn camera_paths(id: &str) -> [String; 3] {
    [
        format!("/api/v1/cameras/{id}"),
        format!("/api/v1/cameras/{id}/live"),
        format!("/api/v1/cameras/{id}/snapshot.jpg"),
    ]
}

on_both!(
    a_responder_reaches_only_the_cameras_of_its_posts_grids,
    |hub: Hub| async move {
        let c: Community = community(&hub).await;
        let [c1, c2, c3, c4] = &c.cams;
        // p1 and p2 are in g1's chain (c1, c2, c4), p3 in g2's (c3).
        assert_eq!(listed(&hub, &c.r1).await, sorted(&[c1, c2, c4]));
        assert_eq!(listed(&hub, &c.r2).await, sorted(&[c1, c2, c4]));
        assert_eq!(listed(&hub, &c.r3).await, sorted(&[c3]));
        for officer in [&c.admin, &c.duty] {
            assert_eq!(listed(&hub, officer).await, sorted(&[c1, c2, c3, c4]));
        }

        // Its own grid's camera: the record, live (a plain GET is told to upgrade), a snapshot
        // (none yet: nothing serves the camera's URL).
        let [one, live, snapshot] = camera_paths(c1);
        assert_eq!(get(&hub, &one, &c.r1).await.0, StatusCode::OK);
        assert_eq!(
            get(&hub, &live, &c.r1).await.0,
            StatusCode::UPGRADE_REQUIRED
        );
        assert_eq!(
            get(&hub, &snapshot, &c.r1).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );

        // Another grid's camera is not there for it, in the very words of an unknown one.
        for (path, unknown) in camera_paths(c3).iter().zip(camera_paths("nope")) {
            let (status, body) = get(&hub, path, &c.r1).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
            let (_, unknown) = get(&hub, &unknown, &c.r1).await;
            assert_eq!(
                body["error"]["message"].as_str().unwrap().replace(c3, "ID"),
                unknown["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace("nope", "ID"),
                "{path}"
            );
            // Duty officers reach it.
            assert_ne!(get(&hub, path, &c.duty).await.0, StatusCode::NOT_FOUND);
        }

        // Refused before any upgrade, over a real WebSocket too.
        let base = hub.listen().await.replace("http://", "ws://");
        let url = format!("{base}/api/v1/cameras/{c3}/live?token={}", c.r1);
        match tokio_tungstenite::connect_async(url).await.unwrap_err() {
            tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 404),
            other => panic!("expected 404, got {other}"),
        }
        let url = format!("{base}/api/v1/cameras/{c1}/live?token={}", c.r1);
        assert!(tokio_tungstenite::connect_async(url).await.is_ok());
    }
);

/// What only admins are shown of a camera.
const CONNECTION: [&str; 6] = [
    "rtsp_url",
    "sub_rtsp_url",
    "has_credentials",
    "transport",
    "quirks",
    "user_agent",
];

on_both!(
    only_admins_see_how_the_hub_reaches_a_camera,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let id = &c.cams[0];
        let a = hub
            .call(
                Method::PATCH,
                &format!("/api/v1/cameras/{id}"),
                Some(&c.admin),
                Some(json!({"sub_rtsp_url": "rtsp://10.0.0.7/sub?token=s3cr3t",
                            "quirks": ["ignore_rtptime"], "user_agent": "VLC/3.0"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["sub_rtsp_url"], "rtsp://10.0.0.7/sub?token=s3cr3t");

        let one = format!("/api/v1/cameras/{id}");
        let find = |list: Value| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|v| v["id"] == id.as_str())
                .cloned()
                .unwrap()
        };
        for watcher in [&c.duty, &c.r1] {
            let (status, got) = get(&hub, &one, watcher).await;
            assert_eq!(status, StatusCode::OK, "{got}");
            let (_, list) = get(&hub, "/api/v1/cameras", watcher).await;
            for shown in [got, find(list)] {
                for field in CONNECTION {
                    assert!(shown.get(field).is_none(), "{field}: {shown}");
                }
                assert!(!shown.to_string().contains("rtsp://"), "{shown}");
                for field in [
                    "id",
                    "name",
                    "grid_id",
                    "lat",
                    "lon",
                    "panoramic",
                    "enabled",
                    "status",
                ] {
                    assert!(shown.get(field).is_some(), "{field} missing: {shown}");
                }
            }
        }

        let (_, got) = get(&hub, &one, &c.admin).await;
        let (_, list) = get(&hub, "/api/v1/cameras", &c.admin).await;
        for shown in [got, find(list)] {
            assert_eq!(shown["rtsp_url"], "rtsp://127.0.0.1:8554/cam1", "{shown}");
            assert_eq!(shown["quirks"], json!(["ignore_rtptime"]));
            assert_eq!(shown["user_agent"], "VLC/3.0");
            assert_eq!(shown["transport"], "tcp");
        }
    }
);

on_both!(
    a_responder_sees_the_cameras_its_open_incidents_name_while_they_are_open,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let [c1, _, c3, _] = &c.cams;
        assert_eq!(listed(&hub, &c.r3).await, sorted(&[c3]));
        // The resident presses SOS in g2 near the border: p3 is sent, and the incident names
        // g2's camera first, then g1's nearest.
        let raised = raise(
            &hub,
            &c.resident,
            Some(json!({"lat": 26.525, "lon": 107.952})),
        )
        .await;
        let i = common::community::get(&hub, &c.duty, s(&raised["id"])).await;
        assert_eq!(i["post_id"], c.p3.as_str(), "{i}");
        assert_eq!(i["cameras"], json!([c3, c1]), "{i}");
        assert_eq!(listed(&hub, &c.r3).await, sorted(&[c1, c3]));
        let one = format!("/api/v1/cameras/{c1}");
        assert_eq!(get(&hub, &one, &c.r3).await.0, StatusCode::OK);
        // Once it is closed, the neighbour's camera is not p3's to see any more.
        act_ok(
            &hub,
            &c.duty,
            s(&i["id"]),
            "cancel",
            Some(json!({"reason": "误报"})),
        )
        .await;
        assert_eq!(listed(&hub, &c.r3).await, sorted(&[c3]));
        assert_eq!(get(&hub, &one, &c.r3).await.0, StatusCode::NOT_FOUND);
    }
);
