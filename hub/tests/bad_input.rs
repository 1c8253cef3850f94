//! Bad input gets a clear error in the contract's shape, and loses nothing.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::Hub;
use serde_json::json;

fn error_code(a: &common::Answer) -> &str {
    a.body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {}", a.body))
}

async fn raw(
    hub: &Hub,
    method: Method,
    path: &str,
    token: &str,
    ctype: Option<&str>,
    body: impl Into<Body>,
) -> common::Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(c) = ctype {
        req = req.header(header::CONTENT_TYPE, c);
    }
    hub.send(req.body(body.into()).unwrap()).await
}

on_both!(malformed_and_mistyped_bodies, |hub: Hub| async move {
    let (_, admin) = hub.login_as("admin", None, None).await;
    let a = raw(
        &hub,
        Method::POST,
        "/api/v1/posts",
        &admin,
        Some("application/json"),
        "{\"name\": ",
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&a), "malformed_json");

    let a = hub
        .call(
            Method::POST,
            "/api/v1/posts",
            Some(&admin),
            Some(json!({"name": "x", "lat": "north", "lon": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&a), "invalid_body");
    assert!(
        a.body["error"]["message"].as_str().unwrap().contains("lat"),
        "{}",
        a.body
    );

    let a = hub
        .call(
            Method::POST,
            "/api/v1/posts",
            Some(&admin),
            Some(json!({"name": "x", "lat": 1, "lon": 1, "colour": "red"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{}",
        a.body
    );

    let a = hub
        .call(
            Method::POST,
            "/api/v1/posts",
            Some(&admin),
            Some(json!({"lat": 1, "lon": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("name"),
        "{}",
        a.body
    );

    let a = raw(
        &hub,
        Method::POST,
        "/api/v1/posts",
        &admin,
        None,
        r#"{"name":"x","lat":1,"lon":1}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&a), "unsupported_media_type");

    // Nothing of the above was stored.
    let a = hub
        .call(Method::GET, "/api/v1/posts", Some(&admin), None)
        .await;
    assert_eq!(a.body, json!([]));
});

on_both!(oversized_bodies_are_413, |hub: Hub| async move {
    let (_, admin) = hub.login_as("admin", None, None).await;
    let big = format!(r#"{{"name":"{}","lat":1,"lon":1}}"#, "x".repeat(200_000));
    let a = raw(
        &hub,
        Method::POST,
        "/api/v1/posts",
        &admin,
        Some("application/json"),
        big,
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&a), "too_large");
});

on_both!(validation_errors_name_the_field, |hub: Hub| async move {
    let (_, admin) = hub.login_as("admin", None, None).await;
    let a = hub
        .call(
            Method::POST,
            "/api/v1/posts",
            Some(&admin),
            Some(json!({"name": "x", "lat": 91, "lon": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"]["field"], "lat");

    let a = hub
        .call(
            Method::POST,
            "/api/v1/grids",
            Some(&admin),
            Some(json!({"name": "g", "post_chain": ["ghost"]})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"]["field"], "post_chain");

    let a = hub
        .call(
            Method::POST,
            "/api/v1/cameras",
            Some(&admin),
            Some(json!({"name": "c", "rtsp_url": "rtsp://admin:1234@10.1.1.1/"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"]["field"], "rtsp_url");

    let a = hub.call(Method::POST, "/api/v1/grids", Some(&admin), Some(json!({"name": "g", "polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}}))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"]["field"], "polygon");
});

on_both!(unknown_ids_routes_and_methods, |hub: Hub| async move {
    let (_, admin) = hub.login_as("admin", None, None).await;
    for path in [
        "/api/v1/posts/nope",
        "/api/v1/grids/nope",
        "/api/v1/users/nope",
        "/api/v1/devices/nope",
        "/api/v1/cameras/nope",
    ] {
        let a = hub.call(Method::GET, path, Some(&admin), None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(&a), "not_found");
        let a = hub
            .call(Method::PATCH, path, Some(&admin), Some(json!({})))
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "PATCH {path}");
        let a = hub.call(Method::DELETE, path, Some(&admin), None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "DELETE {path}");
    }
    let a = hub
        .call(Method::GET, "/api/v1/nothing-here", Some(&admin), None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&a), "not_found");
    let a = hub
        .call(Method::PUT, "/api/v1/posts", Some(&admin), None)
        .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&a), "method_not_allowed");
});

on_both!(
    conflicts_are_409_and_change_nothing,
    |hub: Hub| async move {
        let (_, admin) = hub.login_as("admin", None, None).await;
        let p = hub
            .call(
                Method::POST,
                "/api/v1/posts",
                Some(&admin),
                Some(json!({"name": "P", "lat": 1, "lon": 1})),
            )
            .await;
        let post = p.body["id"].as_str().unwrap().to_string();
        let g = hub
            .call(
                Method::POST,
                "/api/v1/grids",
                Some(&admin),
                Some(json!({"name": "G", "post_chain": [post]})),
            )
            .await;
        assert_eq!(g.status, StatusCode::CREATED);
        let a = hub
            .call(
                Method::DELETE,
                &format!("/api/v1/posts/{post}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT);
        assert_eq!(error_code(&a), "conflict");
        let a = hub
            .call(
                Method::POST,
                "/api/v1/grids",
                Some(&admin),
                Some(json!({"name": "G"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT);
        // A failed patch leaves the record as it was.
        let before = hub
            .call(
                Method::GET,
                &format!("/api/v1/posts/{post}"),
                Some(&admin),
                None,
            )
            .await
            .body;
        let a = hub
            .call(
                Method::PATCH,
                &format!("/api/v1/posts/{post}"),
                Some(&admin),
                Some(json!({"name": "renamed", "lat": 1000})),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        let after = hub
            .call(
                Method::GET,
                &format!("/api/v1/posts/{post}"),
                Some(&admin),
                None,
            )
            .await
            .body;
        assert_eq!(before, after);
    }
);

on_both!(
    query_tokens_are_for_websockets_only,
    |hub: Hub| async move {
        // Browsers cannot set headers on a WebSocket, so `?token=` is accepted there; anywhere else
        // a token in the URL would end up in logs and histories, so it is refused.
        let (_, admin) = hub.login_as("admin", None, None).await;
        let a = hub
            .call(
                Method::GET,
                &format!("/api/v1/me?token={admin}"),
                None,
                None,
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "query tokens are for WebSockets only"
        );
    }
);

/// Whether the answer says it is JSON.
fn is_json(a: &common::Answer) -> bool {
    a.headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

on_both!(
    undecodable_path_parameters_are_json_400,
    |hub: Hub| async move {
        let (_, duty) = hub.login_as("duty_officer", None, None).await;
        let (_, admin) = hub.login_as("admin", None, None).await;
        for (method, path, token) in [
            (Method::GET, "/api/v1/incidents/%FF", &duty),
            (Method::POST, "/api/v1/incidents/%FF/cancel", &duty),
            (Method::GET, "/api/v1/posts/%FF", &admin),
            (Method::DELETE, "/api/v1/grids/%C3%28", &admin),
            (Method::POST, "/api/v1/devices/%FF/token", &admin),
        ] {
            let a = raw(
                &hub,
                method.clone(),
                path,
                token,
                Some("application/json"),
                r#"{"reason": "x"}"#,
            )
            .await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{method} {path}: {}",
                a.body
            );
            assert!(is_json(&a), "{method} {path}: {:?}", a.headers);
            assert_eq!(error_code(&a), "invalid_path", "{method} {path}");
        }
    }
);

on_both!(an_oversized_sos_is_json_413, |hub: Hub| async move {
    let (_, resident) = hub.login_as("resident", None, None).await;
    let big = format!(r#"{{"note":"{}"}}"#, "x".repeat(200_000));
    for ctype in [Some("application/json"), None] {
        let a = raw(
            &hub,
            Method::POST,
            "/api/v1/sos",
            &resident,
            ctype,
            big.clone(),
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{ctype:?}: {}",
            a.body
        );
        assert!(is_json(&a), "{ctype:?}: {:?}", a.headers);
        assert_eq!(error_code(&a), "too_large");
    }
    // Nothing was raised.
    let a = hub
        .call(Method::GET, "/api/v1/incidents", Some(&resident), None)
        .await;
    assert_eq!(a.body, json!([]));
});

on_both!(
    times_outside_1970_to_9999_are_json_400,
    |hub: Hub| async move {
        // chrono parses years of any sign and length; adding a window to one near its ends
        // panicked (a 500 caught at the edge, or a playback task gone). Each is now refused
        // where it is parsed, naming the field.
        let (_, duty) = hub.login_as("duty_officer", None, None).await;
        let far_past = "-262143-01-01T00:00:00Z";
        let far_future = "%2B262142-12-31T23:55:00Z";
        for (path, field) in [
            (
                format!("/api/v1/cameras/cam-1/recordings?to={far_past}"),
                "to",
            ),
            (
                format!("/api/v1/cameras/cam-1/recordings?from={far_future}"),
                "from",
            ),
            (
                format!(
                    "/api/v1/cameras/cam-1/recordings.mp4?from={far_past}&to=2026-01-01T00:00:00Z"
                ),
                "from",
            ),
            (
                format!("/api/v1/cameras/cam-1/live?from={far_future}"),
                "from",
            ),
            (format!("/api/v1/exports?to={far_past}"), "to"),
            ("/api/v1/exports?from=1969-12-31T23:59:59Z".into(), "from"),
            // Strict RFC 3339 (four-digit years) here, so no panic was near; the same range
            // holds everywhere all the same.
            (
                "/api/v1/incidents?since=0001-01-01T00:00:00Z".into(),
                "since",
            ),
            ("/api/v1/reports/response?to=1969-12-31".into(), "to"),
            (
                "/api/v1/reports/false-alarms?from=0001-01-01".into(),
                "from",
            ),
        ] {
            let a = hub.call(Method::GET, &path, Some(&duty), None).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
            assert!(is_json(&a), "{path}: {:?}", a.headers);
            let text = a.body["error"].to_string();
            assert!(
                text.contains(field) && text.contains("1970") && text.contains("9999"),
                "{path}: {text}"
            );
        }
        // The hub still answers, and a time in range is taken.
        let a = hub
            .call(
                Method::GET,
                "/api/v1/exports?from=1970-01-01T00:00:00Z&to=1970-12-31T00:00:00Z",
                Some(&duty),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
);
