//! The response report over HTTP, JSON and CSV, on a known data set, on SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::Duration;
use common::community::{act_ok, community, s};
use common::{t0, Hub};
use serde_json::json;

on_both!(report_figures_on_a_known_data_set, |hub: Hub| async move {
    let c = community(&hub).await;
    // (grid, raised at minute, on scene after seconds)
    let data = [
        (&c.g1, 0, Some(600)),
        (&c.g1, 5, Some(300)),
        (&c.g1, 10, Some(1200)), // late
        (&c.g1, 20, None),       // nobody came
        (&c.g1, 30, Some(900)),  // at the very second of the deadline: kept
        (&c.g2, 24 * 60, Some(240)),
        (&c.g1, 40, None), // cancelled: left out
    ];
    let mut arrivals = vec![];
    for (i, (grid, start, took)) in data.iter().enumerate() {
        hub.clock.set(t0() + Duration::minutes(*start));
        // Sessions last 12 hours: log in again as time goes by.
        let duty = hub.login_as("duty_officer", None, None).await.1;
        let a = hub
            .call(
                Method::POST,
                "/api/v1/incidents",
                Some(&duty),
                Some(json!({"grid_id": grid})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let id = s(&a.body["incident"]["id"]).to_string();
        if i == 6 {
            act_ok(&hub, &duty, &id, "cancel", Some(json!({"reason": "误报"}))).await;
        }
        if let Some(secs) = took {
            arrivals.push((
                t0() + Duration::minutes(*start) + Duration::seconds(*secs),
                id,
            ));
        }
    }
    arrivals.sort();
    for (when, id) in arrivals {
        hub.clock.set(when);
        let duty = hub.login_as("duty_officer", None, None).await.1;
        act_ok(&hub, &duty, &id, "arrive", None).await;
    }
    hub.clock.set(t0() + Duration::days(2));
    let duty = hub.login_as("duty_officer", None, None).await.1;
    let r1 = hub.login_as("responder", Some(&c.p1), None).await.1;

    let get = |query: &str, csv: bool| {
        let hub = &hub;
        let duty = duty.clone();
        let uri = format!("/api/v1/reports/response{query}");
        async move {
            let mut req = Request::builder()
                .uri(uri)
                .header(header::AUTHORIZATION, format!("Bearer {duty}"));
            if csv {
                req = req.header(header::ACCEPT, "text/csv, */*;q=0.1");
            }
            hub.send(req.body(Body::empty()).unwrap()).await
        }
    };
    let a = get("?from=2026-11-26&to=2026-11-28&group_by=grid", false).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body,
        json!([
            {"key": "第一网格", "incidents": 5, "on_scene": 4, "within_deadline": 3,
             "within_deadline_ratio": 0.6, "median_seconds": 750.0, "p90_seconds": 1110.0},
            {"key": "第二网格", "incidents": 1, "on_scene": 1, "within_deadline": 1,
             "within_deadline_ratio": 1.0, "median_seconds": 240.0, "p90_seconds": 240.0},
        ])
    );
    // The default is grid, over the 30 days before now.
    let d = get("", false).await;
    assert_eq!(d.body, a.body);

    let a = get("?from=2026-11-26&to=2026-11-28&group_by=grid", true).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(a.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("response-report-20261126-20261128.csv"));
    assert_eq!(
        a.body.as_str().unwrap(),
        "key,incidents,on_scene,within_deadline,within_deadline_ratio,median_seconds,p90_seconds\r\n\
         第一网格,5,4,3,0.6,750,1110\r\n\
         第二网格,1,1,1,1,240,240\r\n"
    );

    let a = get("?group_by=post", false).await;
    let rows: Vec<(String, u64)> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (s(&r["key"]).to_string(), r["incidents"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [("清江警务室".to_string(), 5), ("网格员二队".to_string(), 1)]
    );

    // Days in Beijing time: 16:00 on the 26th, and the 27th.
    let a = get("?group_by=day&tz=%2B08:00", false).await;
    let keys: Vec<&str> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["key"]))
        .collect();
    assert_eq!(keys, ["2026-11-26", "2026-11-27"], "{}", a.body);
    // A period that ends before the second day.
    let a = get(
        "?group_by=day&from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(a.body.as_array().unwrap().len(), 1);
    assert_eq!(a.body[0]["incidents"], 5);

    for (bad, field) in [
        ("?group_by=week", "group_by"),
        ("?from=2026-11-28&to=2026-11-26", "from"),
        ("?from=last+monday", "from"),
        ("?tz=Asia/Shanghai", "tz"),
    ] {
        let a = get(bad, false).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.body);
        assert_eq!(a.body["error"]["field"], field, "{bad}");
    }
    // Responders and residents do not get the centre's report.
    let a = hub
        .call(Method::GET, "/api/v1/reports/response", Some(&r1), None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
});
