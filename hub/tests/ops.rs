//! Answers of the edge itself: a request not finished in time gets a JSON error, not an empty
//! answer; readiness says what is wrong without handing the database's own words to anyone.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::Hub;
use gridwatch_hub::Config;
use gridwatch_store::Backend;
use std::time::Duration;

#[tokio::test]
async fn a_request_whose_body_never_comes_is_answered_503_in_json() {
    let mut config = Config::default();
    config.http.request_timeout_seconds = 1;
    let hub = Hub::with_config(Backend::Sqlite, config).await;
    // Headers, then a body that never arrives.
    let body = Body::from_stream(futures::stream::pending::<
        Result<axum::body::Bytes, std::io::Error>,
    >());
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), hub.send(req))
        .await
        .expect("answered once the request timed out");
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["error"]["code"], "timeout", "{}", answer.body);
    assert!(answer.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("1 s")));
}

#[tokio::test]
async fn readiness_without_a_database_is_503_without_its_error_text() {
    let hub = Hub::new(Backend::Sqlite).await;
    let ready = hub.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    hub.state.store.close().await;
    let a = hub.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "not_ready");
    let m = a.body["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("database") && !m.to_lowercase().contains("pool"),
        "{m}"
    );
}

#[tokio::test]
async fn metrics_behind_a_token_when_one_is_configured() {
    let open = Hub::new(Backend::Sqlite).await;
    let a = open.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(a.status, StatusCode::OK, "open by default");

    let mut config = Config::default();
    config.http.metrics_token = "scrape-me-7f3a".into();
    let hub = Hub::with_config(Backend::Sqlite, config).await;
    let a = hub.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("metrics_token"));
    // A person's session is not the scraper's token.
    let (_, admin) = hub.login_as("admin", None, None).await;
    let a = hub.call(Method::GET, "/metrics", Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = hub
        .call(Method::GET, "/metrics", Some("scrape-me-7f3a"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body
            .as_str()
            .unwrap_or_default()
            .contains("gridwatch_build_info"),
        "{}",
        a.body
    );
    // `gridwatch config` does not print it.
    assert!(!hub
        .state
        .config
        .redacted()
        .to_toml()
        .contains("scrape-me-7f3a"));
}
