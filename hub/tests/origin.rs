//! A page of another site cannot use a logged-in officer's browser against the hub: its
//! WebSocket upgrades and cookie-authenticated changes are refused 403, while the hub's own
//! pages, configured origins and Bearer-token clients go through (issue 15, hardening 4).

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::Hub;

const HOST: &str = "hub.centre.local:8080";

fn request(method: Method, path: &str, origin: Option<&str>, auth: Auth<'_>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST);
    if let Some(o) = origin {
        req = req.header(header::ORIGIN, o);
    }
    req = match auth {
        Auth::Cookie(t) => req.header(header::COOKIE, format!("gw_session={t}")),
        Auth::Bearer(t) => req.header(header::AUTHORIZATION, format!("Bearer {t}")),
    };
    req.body(Body::empty()).unwrap()
}

fn upgrade(path: &str, origin: &str, token: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, format!("gw_session={token}"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Body::empty())
        .unwrap()
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
}

fn refused(a: &common::Answer) -> bool {
    a.status == StatusCode::FORBIDDEN && a.body["error"]["code"] == "origin_refused"
}

on_both!(another_sites_pages_are_refused, |hub: Hub| async move {
    let (_, duty) = hub.login_as("duty_officer", None, None).await;
    let evil = "https://evil.example";
    let sibling = "http://printer.centre.local:8080";

    // The stream and live video, opened from another site with the officer's cookie.
    for path in ["/api/v1/stream", "/api/v1/cameras/c1/live"] {
        for origin in [evil, sibling, "null"] {
            let a = hub.send(upgrade(path, origin, &duty)).await;
            assert!(refused(&a), "{path} from {origin}: {} {}", a.status, a.body);
        }
        // From the hub's own page it reaches the handler (which, in process, cannot
        // complete the upgrade: anything but the origin refusal will do here).
        let a = hub
            .send(upgrade(path, &format!("http://{HOST}"), &duty))
            .await;
        assert!(!refused(&a), "{path} from the hub itself: {}", a.body);
    }

    // A cross-site "simple" POST (no preflight) with the cookie: a new incident.
    let a = hub
        .send(request(
            Method::POST,
            "/api/v1/incidents",
            Some(evil),
            Auth::Cookie(&duty),
        ))
        .await;
    assert!(refused(&a), "{} {}", a.status, a.body);
    // Nothing was raised.
    let a = hub
        .call(Method::GET, "/api/v1/incidents", Some(&duty), None)
        .await;
    assert_eq!(
        a.body["items"].as_array().map_or(0, Vec::len),
        0,
        "{}",
        a.body
    );

    // Reading is not a change; a Bearer token is never attached by the browser on its own;
    // a program sends no Origin. None of them is refused.
    let a = hub
        .send(request(
            Method::GET,
            "/api/v1/me",
            Some(evil),
            Auth::Cookie(&duty),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = hub
        .send(request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(evil),
            Auth::Bearer(&duty),
        ))
        .await;
    assert!(!refused(&a), "{}", a.body);
    let (_, duty2) = hub.login_as("duty_officer", None, None).await;
    let a = hub
        .send(request(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Auth::Cookie(&duty2),
        ))
        .await;
    assert!(!refused(&a), "{}", a.body);
});
