//! The response report over HTTP, JSON and CSV, on SQLite and PostgreSQL: a known data set,
//! incidents cancelled after their deadline (broken promises, counted) and incidents not yet
//! due (pending, out of the ratio).

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::Duration;
use common::community::{act_ok, community, get, raise, run_timers, s};
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
        let id = raise_in(&hub, grid).await;
        if i == 6 {
            // Sessions last 12 hours: log in again as time goes by.
            let duty = hub.login_as("duty_officer", None, None).await.1;
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
             "within_deadline_ratio": 0.6, "median_seconds": 750.0, "p90_seconds": 1110.0,
             "pending": 0, "reached_by": {}},
            {"key": "第二网格", "incidents": 1, "on_scene": 1, "within_deadline": 1,
             "within_deadline_ratio": 1.0, "median_seconds": 240.0, "p90_seconds": 240.0,
             "pending": 0, "reached_by": {}},
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
        "key,incidents,on_scene,within_deadline,within_deadline_ratio,median_seconds,p90_seconds,pending,reached_by\r\n\
         第一网格,5,4,3,0.6,750,1110,0,\r\n\
         第二网格,1,1,1,1,240,240,0,\r\n"
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
    // A whole year is one report.
    let a = get("?from=2025-11-28&to=2026-11-28", false).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    for (bad, field) in [
        ("?group_by=week", "group_by"),
        ("?from=2026-11-28&to=2026-11-26", "from"),
        ("?from=last+monday", "from"),
        ("?tz=Asia/Shanghai", "tz"),
        // Every incident of the period is read: a year at most.
        ("?from=1970-01-01&to=9999-12-31", "from"),
        ("?from=2025-11-26&to=2026-11-28", "from"),
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

/// `GET /api/v1/reports/response` with the default period (the 30 days before now), as the
/// duty officer logged in at the hub's current time.
async fn report_now(hub: &Hub, csv: bool) -> common::Answer {
    let duty = hub.login_as("duty_officer", None, None).await.1;
    let mut req = Request::builder()
        .uri("/api/v1/reports/response")
        .header(header::AUTHORIZATION, format!("Bearer {duty}"));
    if csv {
        req = req.header(header::ACCEPT, "text/csv");
    }
    hub.send(req.body(Body::empty()).unwrap()).await
}

/// A duty officer (a new one each time, so that no raise is taken for a repeat) raises an
/// incident in `grid` at the hub's current time; returns its id.
async fn raise_in(hub: &Hub, grid: &str) -> String {
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
    s(&a.body["incident"]["id"]).to_string()
}

on_both!(
    a_cancel_after_the_deadline_counts_as_missed,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let at = |m: i64| t0() + Duration::minutes(m);
        // 第一网格: reached in 10 minutes.
        let reached = raise_in(&hub, &c.g1).await;
        // A false alarm, cancelled at minute 5: nobody was meant to arrive, left out.
        let false_alarm = raise_in(&hub, &c.g1).await;
        hub.clock.set(at(1));
        // Nobody comes; the response check records the breach at minute 16, an officer
        // closes it at minute 20.
        let closed = raise_in(&hub, &c.g1).await;
        hub.clock.set(at(2));
        // 第二网格: the resident presses SOS, nobody comes, at minute 22 they give up and
        // cancel (no tick has run since the deadline: no breach recorded).
        let gave_up = s(&raise(&hub, &c.resident, None).await["id"]).to_string();

        hub.clock.set(at(5));
        act_ok(
            &hub,
            &c.duty,
            &false_alarm,
            "cancel",
            Some(json!({"reason": "误报"})),
        )
        .await;
        hub.clock.set(at(10));
        act_ok(&hub, &c.r1, &reached, "arrive", None).await;
        hub.clock.set(at(16));
        run_timers(&hub).await;
        assert_eq!(
            get(&hub, &c.duty, &closed).await["breached_at"],
            json!(at(16))
        );
        hub.clock.set(at(20));
        act_ok(
            &hub,
            &c.duty,
            &closed,
            "cancel",
            Some(json!({"reason": "无人到场"})),
        )
        .await;
        hub.clock.set(at(22));
        let i = act_ok(
            &hub,
            &c.resident,
            &gave_up,
            "cancel",
            Some(json!({"reason": "不等了"})),
        )
        .await;
        assert_eq!(
            (s(&i["state"]), &i["breached_at"]),
            ("cancelled", &json!(null))
        );

        hub.clock.set(at(24 * 60));
        let a = report_now(&hub, false).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(
            a.body,
            json!([
                {"key": "第一网格", "incidents": 2, "on_scene": 1, "within_deadline": 1,
                 "within_deadline_ratio": 0.5, "median_seconds": 600.0, "p90_seconds": 600.0,
                 "pending": 0, "reached_by": {}},
                {"key": "第二网格", "incidents": 1, "on_scene": 0, "within_deadline": 0,
                 "within_deadline_ratio": 0.0, "median_seconds": null, "p90_seconds": null,
                 "pending": 0, "reached_by": {}},
            ])
        );
    }
);

on_both!(
    incidents_not_yet_due_are_pending_not_broken,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let at = |m: i64| t0() + Duration::minutes(m);
        // Decided: reached in 5 minutes; nobody came (due at minute 17).
        let first = raise_in(&hub, &c.g1).await;
        hub.clock.set(at(2));
        raise_in(&hub, &c.g1).await;
        hub.clock.set(at(5));
        act_ok(&hub, &c.r1, &first, "arrive", None).await;
        // Decided although its deadline is ahead: reached in 4 minutes.
        hub.clock.set(at(20));
        let quick = raise_in(&hub, &c.g1).await;
        hub.clock.set(at(24));
        act_ok(&hub, &c.r1, &quick, "arrive", None).await;
        // In progress at minute 30: nobody on scene yet, due at minutes 39, 42 and 43.
        raise_in(&hub, &c.g1).await;
        hub.clock.set(at(27));
        raise_in(&hub, &c.g1).await;
        hub.clock.set(at(28));
        raise(&hub, &c.resident, None).await; // 第二网格

        hub.clock.set(at(30));
        let a = report_now(&hub, false).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        // 240 and 300 seconds: median 270, p90 240 + 0.9 × 60 = 294.
        assert_eq!(
            a.body,
            json!([
                {"key": "第一网格", "incidents": 3, "on_scene": 2, "within_deadline": 2,
                 "within_deadline_ratio": 2.0 / 3.0, "median_seconds": 270.0,
                 "p90_seconds": 294.0, "pending": 2, "reached_by": {}},
                {"key": "第二网格", "incidents": 0, "on_scene": 0, "within_deadline": 0,
                 "within_deadline_ratio": null, "median_seconds": null, "p90_seconds": null,
                 "pending": 1, "reached_by": {}},
            ])
        );
        let a = report_now(&hub, true).await;
        assert_eq!(
            a.body.as_str().unwrap(),
            "key,incidents,on_scene,within_deadline,within_deadline_ratio,median_seconds,p90_seconds,pending,reached_by\r\n\
             第一网格,3,2,2,0.6666666666666666,270,294,2,\r\n\
             第二网格,0,0,0,,,,1,\r\n"
        );

        // Once their deadlines have passed with nobody on scene, they are broken promises.
        hub.clock.set(at(24 * 60));
        let a = report_now(&hub, false).await;
        let figures: Vec<_> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["incidents"].clone(),
                    r["within_deadline"].clone(),
                    r["pending"].clone(),
                )
            })
            .collect();
        assert_eq!(
            figures,
            [
                (json!(5), json!(2), json!(0)),
                (json!(1), json!(0), json!(0))
            ],
            "{}",
            a.body
        );
    }
);
