//! Logging in and out: cookies, Bearer tokens, revocation and throttling.

use crate::common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use common::{Answer, Hub};
use serde_json::{json, Value};
use std::net::SocketAddr;

on_both!(
    login_sets_a_strict_httponly_cookie_that_works,
    |hub: Hub| async move {
        let (user, _) = hub.login_as("duty_officer", None, None).await;
        let a = hub
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": user.username, "password": "password-1"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["user"]["role"], "duty_officer");
        assert!(a.body["user"].get("password_hash").is_none());
        let token = a.body["token"].as_str().unwrap().to_string();
        let cookie = a.headers[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(cookie.starts_with(&format!("gw_session={token}")));

        // The cookie alone authenticates.
        let req = Request::builder()
            .uri("/api/v1/me")
            .header(header::COOKIE, format!("other=1; gw_session={token}"))
            .body(Body::empty())
            .unwrap();
        let me = hub.send(req).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["user"]["id"], user.id.as_str());

        // Logout revokes the token for every transport.
        let out = hub
            .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
            .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
        assert!(out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
        let me = hub
            .call(Method::GET, "/api/v1/me", Some(&token), None)
            .await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    }
);

/// A login from `addr`, as the socket's peer (the in-process router has no socket), or
/// through a proxy that names the client in `X-Forwarded-For`.
async fn login_from(hub: &Hub, peer: &str, forwarded: Option<&str>, body: &Value) -> Answer {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    let mut req = req.body(Body::from(body.to_string())).unwrap();
    let addr: SocketAddr = format!("{peer}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    hub.send(req).await
}

on_both!(
    a_name_longer_than_any_user_has_is_refused_unkept,
    |hub: Hub| async move {
        // The throttle keys its counts by the name given: a 60 KB one per attempt was kept
        // (and after five, this address made to wait). Now it is refused before it is counted.
        let long = json!({"username": "x".repeat(60_000), "password": "x"});
        for _ in 0..8 {
            let a = login_from(&hub, "192.0.2.9", None, &long).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        }
        assert!(
            hub.state
                .metrics
                .render()
                .contains("gridwatch_login_failures_total 8"),
            "counted as failures all the same"
        );
        // The address was not made to wait.
        let (user, _) = hub.login_as("resident", None, None).await;
        let right = json!({"username": user.username, "password": "password-1"});
        let a = login_from(&hub, "192.0.2.9", None, &right).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
);

on_both!(wrong_passwords_are_401_then_429, |hub: Hub| async move {
    let (user, _) = hub.login_as("resident", None, None).await;
    let wrong = json!({"username": user.username, "password": "not-it"});
    for _ in 0..5 {
        let a = login_from(&hub, "192.0.2.1", None, &wrong).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.body["error"]["code"], "unauthorized");
    }
    // This address waits now, even with the right password, and is told how long.
    let right = json!({"username": user.username, "password": "password-1"});
    let a = login_from(&hub, "192.0.2.1", None, &right).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.body["error"]["code"], "rate_limited");
    assert_eq!(a.headers[header::RETRY_AFTER], "1");
    assert_eq!(a.body["error"]["retry_after"], 1);
    // Unknown usernames get the same 401 as wrong passwords.
    let a = login_from(
        &hub,
        "192.0.2.2",
        None,
        &json!({"username": "nobody", "password": "x"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // After the wait the right password works.
    hub.clock.advance(chrono::Duration::seconds(1));
    let a = login_from(&hub, "192.0.2.1", None, &right).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let metrics = hub.state.metrics.render();
    assert!(
        metrics.contains("gridwatch_login_failures_total 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gridwatch_login_throttled_total 1"),
        "{metrics}"
    );
});

on_both!(
    a_strangers_hundred_wrong_passwords_do_not_stop_the_users_right_one,
    |hub: Hub| async move {
        // A stranger hammers the duty officer's account from another address: it is slowed
        // (waits doubling up to the cap), the officer's own screen is not.
        let (officer, _) = hub.login_as("duty_officer", None, None).await;
        let wrong = json!({"username": officer.username, "password": "not-it"});
        let (mut refused, mut slowed, mut longest) = (0, 0, 0i64);
        for _ in 0..100 {
            let a = login_from(&hub, "203.0.113.66", None, &wrong).await;
            match a.status {
                StatusCode::UNAUTHORIZED => refused += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    slowed += 1;
                    let wait = a.body["error"]["retry_after"].as_i64().unwrap();
                    longest = longest.max(wait);
                    // The stranger waits as told, then tries again.
                    hub.clock.advance(chrono::Duration::seconds(wait));
                }
                other => panic!("{other}: {}", a.body),
            }
        }
        assert!(
            slowed > 0 && refused >= 5,
            "{refused} refused, {slowed} slowed"
        );
        assert!(
            longest <= hub.state.config.auth.max_backoff_seconds as i64,
            "{longest}"
        );
        let right = json!({"username": officer.username, "password": "password-1"});
        let a = login_from(&hub, "198.51.100.7", None, &right).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        // Behind the centre's reverse proxy, the officer is known by the forwarded address,
        // the stranger by theirs: the same holds.
        let config = gridwatch_hub::Config {
            http: gridwatch_hub::config::HttpConfig {
                trusted_proxies: vec!["10.0.0.0/8".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let proxied = Hub::with_config(hub.state.store.backend(), config).await;
        let (officer, _) = proxied.login_as("duty_officer", None, None).await;
        let wrong = json!({"username": officer.username, "password": "not-it"});
        for _ in 0..100 {
            let a = login_from(&proxied, "10.0.0.2", Some("203.0.113.66"), &wrong).await;
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                let wait = a.body["error"]["retry_after"].as_i64().unwrap();
                proxied.clock.advance(chrono::Duration::seconds(wait));
            }
        }
        let right = json!({"username": officer.username, "password": "password-1"});
        let a = login_from(&proxied, "10.0.0.2", Some("198.51.100.7"), &right).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        // A header from an untrusted peer is not believed: the stranger posing as the
        // officer's address fails as itself, and the officer still gets in at once.
        for _ in 0..3 {
            let a = login_from(&proxied, "203.0.113.66", Some("198.51.100.7"), &wrong).await;
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                let wait = a.body["error"]["retry_after"].as_i64().unwrap();
                proxied.clock.advance(chrono::Duration::seconds(wait));
            }
        }
        let a = login_from(&proxied, "10.0.0.2", Some("198.51.100.7"), &right).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
);

on_both!(
    sessions_expire_and_forged_tokens_fail,
    |hub: Hub| async move {
        let (_, token) = hub.login_as("admin", None, None).await;
        assert_eq!(
            hub.call(Method::GET, "/api/v1/me", Some(&token), None)
                .await
                .status,
            StatusCode::OK
        );
        for forged in ["gws_AAAA", "gwd_AAAA", "hello", ""] {
            let a = hub
                .call(Method::GET, "/api/v1/me", Some(forged), None)
                .await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{forged:?}");
        }
        hub.clock.advance(chrono::Duration::hours(13));
        assert_eq!(
            hub.call(Method::GET, "/api/v1/me", Some(&token), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
);

on_both!(
    devices_authenticate_with_their_token_until_rotated,
    |hub: Hub| async move {
        let (_, admin) = hub.login_as("admin", None, None).await;
        let g = hub
            .call(
                Method::POST,
                "/api/v1/grids",
                Some(&admin),
                Some(json!({"name": "G"})),
            )
            .await;
        let d = hub
            .call(
                Method::POST,
                "/api/v1/devices",
                Some(&admin),
                Some(json!({"name": "btn", "grid_id": g.body["id"]})),
            )
            .await;
        let token = d.body["token"].as_str().unwrap().to_string();
        let id = d.body["device"]["id"].as_str().unwrap().to_string();
        let me = hub
            .call(Method::GET, "/api/v1/me", Some(&token), None)
            .await;
        assert_eq!(me.body["role"], "device");
        assert_eq!(me.body["device"]["id"], id.as_str());
        // The token is never listed again.
        let listed = hub
            .call(Method::GET, "/api/v1/devices", Some(&admin), None)
            .await;
        assert!(!listed.body.to_string().contains(&token));
        let r = hub
            .call(
                Method::POST,
                &format!("/api/v1/devices/{id}/token"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(
            hub.call(Method::GET, "/api/v1/me", Some(&token), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let fresh = r.body["token"].as_str().unwrap();
        assert_eq!(
            hub.call(Method::GET, "/api/v1/me", Some(fresh), None)
                .await
                .status,
            StatusCode::OK
        );
    }
);

on_both!(operations_endpoints, |hub: Hub| async move {
    let a = hub.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["status"], "ready");
    let a = hub.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = hub
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .body;
    assert_eq!(doc["openapi"], "3.1.0");
    for ep in gridwatch_hub::http::endpoints::all() {
        let op = &doc["paths"][ep.path][ep.method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from the OpenAPI document",
            ep.method,
            ep.path
        );
        assert_eq!(op["x-roles"].as_array().unwrap().len(), ep.roles.len());
    }
    assert!(
        doc["components"]["schemas"]["NewGrid"]["properties"]["post_chain"].is_object(),
        "{}",
        doc["components"]["schemas"]
    );
    hub.call(Method::GET, "/api/v1/me", None, None).await;
    // Made-up methods (hyper takes any token) share one label, not a series each.
    for made_up in ["FOO1", "FOO2"] {
        let m = Method::from_bytes(made_up.as_bytes()).unwrap();
        hub.call(m, "/api/v1/me", None, None).await;
    }
    let m = hub.call(Method::GET, "/metrics", None, None).await;
    let text = m.body.as_str().unwrap();
    assert!(!text.contains("FOO"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(
        text.contains(
            r#"gridwatch_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("gridwatch_build_info"), "{text}");
});

on_both!(
    parallel_guesses_get_no_more_than_the_limit,
    |hub: Hub| async move {
        // Verifying a password is slow: a burst of guesses sent at once must not all be
        // verified before the first failure is counted.
        let (user, _) = hub.login_as("resident", None, None).await;
        let wrong = json!({"username": user.username, "password": "not-it"});
        let guesses = (0..30).map(|_| {
            hub.call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(wrong.clone()),
            )
        });
        let answers = futures::future::join_all(guesses).await;
        let count = |status| answers.iter().filter(|a| a.status == status).count();
        let limit = hub.state.config.auth.max_failed_logins as usize;
        let (refused, locked) = (
            count(StatusCode::UNAUTHORIZED),
            count(StatusCode::TOO_MANY_REQUESTS),
        );
        assert!(
            (1..=limit).contains(&refused) && refused + locked == 30,
            "{refused} answered 401, {locked} 429, of 30 (limit {limit})"
        );
        assert!(answers
            .iter()
            .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
            .all(|a| a.body["error"]["code"] == "rate_limited"));
        let metrics = hub.state.metrics.render();
        assert!(
            metrics.contains(&format!("gridwatch_login_failures_total {refused}")),
            "{metrics}"
        );

        // The same address waits for the right password too, until its back-off has passed.
        let right = json!({"username": user.username, "password": "password-1"});
        for (after, expected) in [(0, StatusCode::TOO_MANY_REQUESTS), (1, StatusCode::OK)] {
            hub.clock.advance(chrono::Duration::seconds(after));
            let a = hub
                .call(
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(right.clone()),
                )
                .await;
            assert_eq!(a.status, expected, "{} s later: {}", after, a.body);
        }
    }
);

on_both!(
    logging_in_right_gives_the_attempt_back,
    |hub: Hub| async move {
        // Attempts are counted before the password is checked; a success still clears the
        // count, its own attempt included: four wrong then right, twice, is never locked.
        let (user, _) = hub.login_as("duty_officer", None, None).await;
        let login = |password: &str| {
            let body = json!({"username": user.username, "password": password});
            hub.call(Method::POST, "/api/v1/auth/login", None, Some(body))
        };
        for round in 0..2 {
            for _ in 0..4 {
                assert_eq!(login("not-it").await.status, StatusCode::UNAUTHORIZED);
            }
            let a = login("password-1").await;
            assert_eq!(a.status, StatusCode::OK, "round {round}: {}", a.body);
        }
    }
);
