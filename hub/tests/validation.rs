//! The validation gaps a black-box probe found (issue 15): each is refused with a 400 (or a
//! 409 for a name that is already taken) whose body names the field, and nothing is stored.

use crate::common;

use axum::http::{Method, StatusCode};
use common::Hub;
use serde_json::{json, Value};

/// POSTs `body` to `path` as the admin and expects `status` with an error naming `field`.
async fn refused(hub: &Hub, admin: &str, path: &str, body: Value, status: StatusCode, field: &str) {
    let a = hub
        .call(Method::POST, path, Some(admin), Some(body.clone()))
        .await;
    assert_eq!(a.status, status, "{path} {body}: {}", a.body);
    if !field.is_empty() {
        assert_eq!(a.body["error"]["field"], field, "{path} {body}: {}", a.body);
    }
    assert!(
        a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        a.body
    );
}

fn ring(points: &[[f64; 2]]) -> Value {
    json!({"type": "Polygon", "coordinates": [points]})
}

on_both!(
    grid_shapes_and_windows_that_make_no_sense,
    |hub: Hub| async move {
        let (_, admin) = hub.login_as("admin", None, None).await;
        let bow_tie = ring(&[
            [107.90, 26.50],
            [107.95, 26.55],
            [107.95, 26.50],
            [107.90, 26.55],
            [107.90, 26.50],
        ]);
        let bad = StatusCode::BAD_REQUEST;
        refused(
            &hub,
            &admin,
            "/api/v1/grids",
            json!({"name": "g", "polygon": bow_tie}),
            bad,
            "polygon",
        )
        .await;
        let flat = ring(&[
            [107.90, 26.50],
            [107.91, 26.50],
            [107.92, 26.50],
            [107.90, 26.50],
        ]);
        refused(
            &hub,
            &admin,
            "/api/v1/grids",
            json!({"name": "g", "polygon": flat}),
            bad,
            "polygon",
        )
        .await;

        // The centre promises 15 minutes and warns at 10: a grid warning at 20 would warn after
        // the promise was broken.
        refused(
            &hub,
            &admin,
            "/api/v1/grids",
            json!({"name": "g", "at_risk_minutes": 20}),
            bad,
            "at_risk_minutes",
        )
        .await;
        refused(
            &hub,
            &admin,
            "/api/v1/grids",
            json!({"name": "g", "response_minutes": 8, "at_risk_minutes": 9}),
            bad,
            "at_risk_minutes",
        )
        .await;
        // Nothing of it was stored.
        let a = hub
            .call(Method::GET, "/api/v1/grids", Some(&admin), None)
            .await;
        assert_eq!(a.body, json!([]));

        // A good grid, then a patch that would break it, refused and not applied.
        let a = hub
            .call(
                Method::POST,
                "/api/v1/grids",
                Some(&admin),
                Some(json!({"name": "g", "response_minutes": 20, "at_risk_minutes": 15})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let id = a.body["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/grids/{id}");
        let a = hub
            .call(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(json!({"response_minutes": 12})),
            )
            .await;
        assert_eq!(a.status, bad, "{}", a.body);
        assert_eq!(a.body["error"]["field"], "at_risk_minutes", "{}", a.body);
        let a = hub.call(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(a.body["response_minutes"], 20);
    }
);

on_both!(
    camera_addresses_that_are_not_cameras,
    |hub: Hub| async move {
        let (_, admin) = hub.login_as("admin", None, None).await;
        let bad = StatusCode::BAD_REQUEST;
        for url in [
            "rtsp://[::1]:99999/x",
            "rtsp://10.0.0.5:0/x",
            "rtsp://169.254.169.254/latest/meta-data",
            "rtsp://[fe80::1]/x",
        ] {
            refused(
                &hub,
                &admin,
                "/api/v1/cameras",
                json!({"name": "c", "rtsp_url": url}),
                bad,
                "rtsp_url",
            )
            .await;
        }
        let a = hub
            .call(Method::GET, "/api/v1/cameras", Some(&admin), None)
            .await;
        assert_eq!(a.body, json!([]), "nothing stored");
    }
);

on_both!(names_that_hide_what_they_say, |hub: Hub| async move {
    let (_, admin) = hub.login_as("admin", None, None).await;
    let bad = StatusCode::BAD_REQUEST;
    // "东门警务室" with a right-to-left override, and one with a zero-width space.
    for name in ["东门\u{202E}室务警", "东门\u{200B}警务室"] {
        refused(
            &hub,
            &admin,
            "/api/v1/posts",
            json!({"name": name, "lat": 26.5, "lon": 107.9}),
            bad,
            "name",
        )
        .await;
    }
    let a = hub
        .call(Method::GET, "/api/v1/posts", Some(&admin), None)
        .await;
    assert_eq!(a.body, json!([]), "nothing stored");
});

on_both!(
    usernames_differing_only_in_case_are_one_name,
    |hub: Hub| async move {
        let (_, admin) = hub.login_as("admin", None, None).await;
        let user = |name: &str| json!({"username": name, "password": "a long enough password", "role": "duty_officer"});
        let a = hub
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&admin),
                Some(user("wangwei")),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        for taken in ["WangWei", "WANGWEI"] {
            refused(
                &hub,
                &admin,
                "/api/v1/users",
                user(taken),
                StatusCode::CONFLICT,
                "",
            )
            .await;
        }
        let a = hub
            .call(Method::GET, "/api/v1/users", Some(&admin), None)
            .await;
        let names: Vec<&str> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["username"].as_str())
            .collect();
        assert_eq!(
            names
                .iter()
                .filter(|n| n.eq_ignore_ascii_case("wangwei"))
                .count(),
            1,
            "{names:?}"
        );
    }
);
