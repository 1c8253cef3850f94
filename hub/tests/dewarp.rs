//! The fisheye calibration API (`/api/v1/cameras/{id}/dewarp`): the default circle until an
//! admin sets one, a bad number refused naming its field, responders reading only the cameras
//! they may see, and the row gone with its camera. On SQLite and on PostgreSQL.

use crate::common;

use axum::http::{Method, StatusCode};
use common::community::{community, Community};
use common::Hub;
use serde_json::json;

fn path(id: &str) -> String {
    format!("/api/v1/cameras/{id}/dewarp")
}

on_both!(
    calibration_is_set_by_admins_and_read_by_watchers,
    |hub: Hub| async move {
        let c: Community = community(&hub).await;
        let [c1, _, c3, _] = &c.cams;

        let a = hub.call(Method::GET, &path(c1), Some(&c.duty), None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["calibrated"], false);
        assert_eq!(a.body["mount"], "ceiling");
        assert_eq!(a.body["center_x"], 0.5);

        let body = json!({"mount": "floor", "center_x": 0.45, "center_y": 0.55,
                          "radius": 0.3, "orientation": 90.0});
        let a = hub
            .call(Method::PUT, &path(c1), Some(&c.admin), Some(body.clone()))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["calibrated"], true);
        // Set again: replaced, not added.
        let mut again = body.clone();
        again["orientation"] = json!(180.0);
        let a = hub
            .call(Method::PUT, &path(c1), Some(&c.admin), Some(again))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);

        // A responder of the camera's grid reads it; another grid's camera is not there.
        let a = hub.call(Method::GET, &path(c1), Some(&c.r1), None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["calibrated"], true);
        assert_eq!(a.body["mount"], "floor");
        assert_eq!(a.body["center_y"], 0.55);
        assert_eq!(a.body["orientation"], 180.0);
        let a = hub.call(Method::GET, &path(c3), Some(&c.r1), None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
        // Only admins set it.
        let a = hub
            .call(Method::PUT, &path(c1), Some(&c.duty), Some(body.clone()))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

        // Bad values: 400 naming the field.
        for (field, value) in [
            ("center_x", json!(1.2)),
            ("center_y", json!(-0.1)),
            ("radius", json!(0.0)),
            ("orientation", json!(360.0)),
        ] {
            let mut bad = body.clone();
            bad[field] = value;
            let a = hub
                .call(Method::PUT, &path(c1), Some(&c.admin), Some(bad))
                .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field}: {}", a.body);
            let text = a.body["error"].to_string();
            assert!(text.contains(field), "{field}: {}", a.body);
        }
        let mut bad = body.clone();
        bad["mount"] = json!("desk");
        let a = hub
            .call(Method::PUT, &path(c1), Some(&c.admin), Some(bad))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
        assert!(a.body["error"].to_string().contains("desk"), "{}", a.body);
        // Unchanged by the refusals.
        let a = hub.call(Method::GET, &path(c1), Some(&c.admin), None).await;
        assert_eq!(a.body["orientation"], 180.0);

        // Unknown cameras: 404 both ways.
        let a = hub
            .call(Method::GET, &path("nope"), Some(&c.admin), None)
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
        let a = hub
            .call(Method::PUT, &path("nope"), Some(&c.admin), Some(body))
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);

        // Deleting the camera deletes its calibration.
        let a = hub
            .call(
                Method::DELETE,
                &format!("/api/v1/cameras/{c1}"),
                Some(&c.admin),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
        assert_eq!(hub.state.store.camera_dewarp(c1).await.unwrap(), None);
    }
);
