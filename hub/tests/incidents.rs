//! Incidents over HTTP, on SQLite and PostgreSQL: SOS intake (routing, repeat presses,
//! idempotency, rate limit, lenient bodies), every transition and its 409, who sees and does
//! what, and manual incidents.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::Duration;
use common::community::{act, act_ok, community, get, keyed, raise, s, sos, timeline};
use common::Hub;
use serde_json::{json, Value};

on_both!(routing_by_polygon_and_by_fallback, |hub: Hub| async move {
    let c = community(&hub).await;
    // A resident of g2 pressing from inside g1's polygon: the place decides. (The resident's
    // answer does not show routing: read it as the duty room does.)
    let i = raise(
        &hub,
        &c.resident,
        Some(json!({"lat": 26.52, "lon": 107.92})),
    )
    .await;
    let i = get(&hub, &c.duty, s(&i["id"])).await;
    assert_eq!(s(&i["grid_id"]), c.g1);
    assert_eq!(s(&i["post_id"]), c.p1);
    assert_eq!(i["state"], "dispatched");
    assert_eq!(i["kind"], "sos");
    assert_eq!(i["source"], format!("resident:{}", c.resident_id));
    assert_eq!(i["post_chain"], json!([c.p1, c.p2]));
    // Cameras: g1's, nearest first, the unplaced one after, then g2's nearby; never disabled.
    assert_eq!(i["cameras"], json!([c.cams[0], c.cams[1], c.cams[2]]));
    let raised = &get(&hub, &c.duty, s(&i["id"])).await["timeline"][0];
    assert_eq!(raised["data"]["routed_by"], "location");
    hub.clock.advance(Duration::minutes(5));

    // Without a location: the resident's grid.
    let a = act_ok(
        &hub,
        &c.duty,
        s(&i["id"]),
        "cancel",
        Some(json!({"reason": "误报"})),
    )
    .await;
    assert_eq!(a["state"], "cancelled");
    let i = raise(&hub, &c.resident, None).await;
    let i = get(&hub, &c.duty, s(&i["id"])).await;
    assert_eq!(
        (s(&i["grid_id"]), s(&i["post_id"])),
        (c.g2.as_str(), c.p3.as_str())
    );
    assert_eq!(
        get(&hub, &c.duty, s(&i["id"])).await["timeline"][0]["data"]["routed_by"],
        "resident"
    );
    assert_eq!(
        i["cameras"],
        json!([c.cams[2]]),
        "no place: the grid's own cameras only"
    );

    // A panic button without a position, pressed from outside every polygon: its grid.
    let i = raise(&hub, &c.button, Some(json!({"lat": 30.0, "lon": 110.0}))).await;
    assert_eq!(
        (s(&i["grid_id"]), s(&i["post_id"])),
        (c.g1.as_str(), c.p1.as_str())
    );
    assert_eq!(
        get(&hub, &c.duty, s(&i["id"])).await["timeline"][0]["data"]["routed_by"],
        "device"
    );

    // A button with a position routes by it when the press carries none.
    let b = common::community::create(
        &hub,
        &c.admin,
        "/api/v1/devices",
        json!({"name": "广场报警柱", "grid_id": c.g1, "lat": 26.52, "lon": 107.97}),
    )
    .await;
    let i = raise(&hub, s(&b["token"]), None).await;
    assert_eq!(s(&i["grid_id"]), c.g2);
    assert_eq!(
        (i["lat"].as_f64(), i["lon"].as_f64()),
        (Some(26.52), Some(107.97))
    );

    // A resident with no grid and no location: raised, for the duty room to dispatch.
    let (_, lost) = hub.login_as("resident", None, None).await;
    let i = raise(&hub, &lost, None).await;
    let i = get(&hub, &c.duty, s(&i["id"])).await;
    assert_eq!(
        (
            i["state"].clone(),
            i["grid_id"].clone(),
            i["post_id"].clone()
        ),
        (json!("raised"), Value::Null, Value::Null)
    );
    let t = get(&hub, &c.duty, s(&i["id"])).await["timeline"].clone();
    assert_eq!(t.as_array().unwrap().len(), 1);
    assert_eq!(t[0]["data"]["routed_by"], "unrouted");
    let d = act_ok(
        &hub,
        &c.duty,
        s(&i["id"]),
        "dispatch",
        Some(json!({"post_id": c.p2})),
    )
    .await;
    assert_eq!(
        (s(&d["state"]), s(&d["post_id"])),
        ("dispatched", c.p2.as_str())
    );
    assert_eq!(d["chain_position"], Value::Null);
});

on_both!(every_transition_and_its_409, |hub: Hub| async move {
    let c = community(&hub).await;
    let i = raise(&hub, &c.button, None).await;
    let id = s(&i["id"]).to_string();
    let conflict = |a: &common::Answer, state: &str| {
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert_eq!(a.body["error"]["code"], "illegal_transition");
        assert_eq!(a.body["error"]["state"], state, "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains(state));
    };
    // Resolving before anyone is there is refused, naming the state.
    conflict(
        &act(&hub, &c.r1, &id, "resolve", Some(json!({"note": "x"}))).await,
        "dispatched",
    );

    // The incident says what its state allows: resolving is not offered yet.
    assert_eq!(
        i["allowed_actions"],
        json!(["dispatch", "acknowledge", "en_route", "arrive", "cancel"])
    );

    hub.clock.advance(Duration::seconds(30));
    let a = act_ok(&hub, &c.r1, &id, "ack", None).await;
    assert_eq!(a["state"], "acknowledged");
    assert!(a["acknowledged_at"].is_string());
    conflict(&act(&hub, &c.r1, &id, "ack", None).await, "acknowledged");

    let a = act_ok(&hub, &c.r1, &id, "en-route", Some(json!({}))).await;
    assert_eq!(a["state"], "en_route");
    conflict(&act(&hub, &c.r1, &id, "en-route", None).await, "en_route");
    conflict(&act(&hub, &c.r1, &id, "ack", None).await, "en_route");

    hub.clock.advance(Duration::minutes(6));
    let a = act_ok(
        &hub,
        &c.r1,
        &id,
        "arrive",
        Some(json!({"lat": 26.52, "lon": 107.92})),
    )
    .await;
    assert_eq!(a["state"], "on_scene");
    assert_eq!(a["on_scene_at"], "2026-11-26T08:06:30Z");
    assert_eq!(a["allowed_actions"], json!(["resolve", "cancel"]));
    conflict(&act(&hub, &c.r1, &id, "arrive", None).await, "on_scene");
    conflict(
        &act(
            &hub,
            &c.duty,
            &id,
            "dispatch",
            Some(json!({"post_id": c.p2})),
        )
        .await,
        "on_scene",
    );

    let a = act_ok(
        &hub,
        &c.r1,
        &id,
        "resolve",
        Some(json!({"note": "家庭纠纷，已调解"})),
    )
    .await;
    assert_eq!(a["state"], "resolved");
    assert!(a["resolved_at"].is_string());
    assert_eq!(a["allowed_actions"], json!([]));
    for (action, body) in [
        ("ack", None),
        ("en-route", None),
        ("arrive", None),
        ("resolve", Some(json!({"note": "again"}))),
        ("cancel", Some(json!({"reason": "late"}))),
        ("dispatch", Some(json!({"post_id": c.p1}))),
    ] {
        let token = if action == "dispatch" || action == "cancel" {
            &c.duty
        } else {
            &c.r1
        };
        conflict(&act(&hub, token, &id, action, body).await, "resolved");
    }
    let t = get(&hub, &c.duty, &id).await;
    let types: Vec<&str> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["type"]))
        .collect();
    assert_eq!(
        types,
        [
            "incident.raised",
            "incident.dispatched",
            "incident.acknowledged",
            "incident.en_route",
            "incident.on_scene",
            "incident.resolved"
        ]
    );
    let on_scene = &t["timeline"][4];
    assert_eq!(
        (
            on_scene["data"]["lat"].as_f64(),
            on_scene["data"]["within_deadline"].as_bool()
        ),
        (Some(26.52), Some(true))
    );
    assert!(s(&on_scene["actor"]).starts_with("user:"));
    assert_eq!(on_scene["origin"], "http");
    let seqs: Vec<i64> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Redirects, skips and cancels from the other states.
    let i = raise(&hub, &c.resident, None).await;
    let id = s(&i["id"]).to_string();
    let a = act_ok(&hub, &c.r3, &id, "ack", None).await;
    assert_eq!(a["state"], "acknowledged");
    let a = act_ok(
        &hub,
        &c.duty,
        &id,
        "dispatch",
        Some(json!({"post_id": c.p1})),
    )
    .await;
    assert_eq!(
        (s(&a["state"]), s(&a["post_id"])),
        ("dispatched", c.p1.as_str())
    );
    assert_eq!(a["acknowledged_at"], Value::Null);
    let a = act_ok(&hub, &c.r1, &id, "arrive", None).await;
    assert_eq!(a["state"], "on_scene", "arrive straight from dispatched");
    let a = act_ok(
        &hub,
        &c.duty,
        &id,
        "cancel",
        Some(json!({"reason": "报警人已离开"})),
    )
    .await;
    assert_eq!(a["state"], "cancelled");
    assert!(a["closed_at"].is_string());
    conflict(
        &act(&hub, &c.duty, &id, "cancel", Some(json!({"reason": "x"}))).await,
        "cancelled",
    );

    // Bad input is 400, an unknown incident 404.
    let a = act(&hub, &c.r1, "no-such-incident", "ack", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let i = raise(&hub, &c.button, Some(json!({"note": "second"}))).await;
    hub.clock.advance(Duration::minutes(3)); // past the repeat window for the next tests
    let id = s(&i["id"]).to_string();
    for (token, action, body, field) in [
        (&c.duty, "dispatch", json!({"post_id": "nope"}), "post_id"),
        (&c.r1, "resolve", json!({"note": "  "}), "note"),
        (&c.duty, "cancel", json!({"reason": ""}), "reason"),
        (&c.r1, "arrive", json!({"lat": 200, "lon": 1}), "lat"),
    ] {
        let a = act(&hub, token, &id, action, Some(body)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{action}: {}", a.body);
        assert_eq!(a.body["error"]["field"], field, "{}", a.body);
    }
    let a = act(&hub, &c.r1, &id, "ack", Some(json!({"surprise": 1}))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = act(&hub, &c.duty, &id, "dispatch", None).await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", a.body);
});

on_both!(
    each_role_sees_and_does_only_its_own,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let g1_incident = raise(&hub, &c.button, None).await; // g1, dispatched to p1
        let mine = raise(&hub, &c.resident, None).await; // g2, dispatched to p3
        let (g1_id, mine_id) = (
            s(&g1_incident["id"]).to_string(),
            s(&mine["id"]).to_string(),
        );

        let list = |token: String| {
            let hub = &hub;
            async move {
                let a = hub
                    .call(Method::GET, "/api/v1/incidents", Some(&token), None)
                    .await;
                assert_eq!(a.status, StatusCode::OK, "{}", a.body);
                a.body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| s(&i["id"]).to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(list(c.duty.clone()).await, [mine_id.clone(), g1_id.clone()]);
        assert_eq!(list(c.admin.clone()).await.len(), 2);
        assert_eq!(list(c.r1.clone()).await, vec![g1_id.clone()]);
        assert_eq!(
            list(c.r2.clone()).await,
            vec![g1_id.clone()],
            "p2 is next in g1's chain"
        );
        assert_eq!(list(c.r3.clone()).await, vec![mine_id.clone()]);
        assert_eq!(list(c.resident.clone()).await, vec![mine_id.clone()]);
        let (_, stranger) = hub.login_as("resident", None, Some(&c.g2)).await;
        assert!(list(stranger.clone()).await.is_empty());

        // Another post's or person's incident is not found, not forbidden: ids cannot be probed.
        for (token, id) in [
            (&c.r3, &g1_id),
            (&stranger, &mine_id),
            (&c.resident, &g1_id),
        ] {
            let a = hub
                .call(
                    Method::GET,
                    &format!("/api/v1/incidents/{id}"),
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
            let a = act(&hub, token, id, "cancel", Some(json!({"reason": "x"}))).await;
            assert!(
                matches!(a.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                "{}",
                a.body
            );
        }
        let a = act(&hub, &c.r3, &g1_id, "ack", None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        // p2 sees g1's incident but it is p1's to take.
        assert_eq!(get(&hub, &c.r2, &g1_id).await["post_id"], json!(c.p1));
        let a = act(&hub, &c.r2, &g1_id, "ack", None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert!(a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another post"));

        // The resident follows their own, with its timeline, and may call it off before anyone
        // is on scene.
        let own = get(&hub, &c.resident, &mine_id).await;
        assert_eq!(own["state"], "dispatched");
        assert_eq!(own["timeline"].as_array().unwrap().len(), 2);
        assert_eq!(own["timeline"][0]["actor"], "you");
        assert!(own["timeline"][0].get("origin").is_none());
        act_ok(&hub, &c.r3, &mine_id, "ack", None).await;
        let own = get(&hub, &c.resident, &mine_id).await;
        assert_eq!(
            own["timeline"][2]["actor"], "staff",
            "officers are not named to residents"
        );
        let full = get(&hub, &c.duty, &mine_id).await;
        assert!(s(&full["timeline"][2]["actor"]).starts_with("user:"));
        let a = act(&hub, &c.resident, &mine_id, "ack", None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        act_ok(&hub, &c.r3, &mine_id, "arrive", None).await;
        let a = act(
            &hub,
            &c.resident,
            &mine_id,
            "cancel",
            Some(json!({"reason": "没事了"})),
        )
        .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert_eq!(a.body["error"]["state"], "on_scene");
        hub.clock.advance(Duration::minutes(3));
        let second = raise(&hub, &c.resident, Some(json!({"note": "又有人敲门"}))).await;
        let a = act_ok(
            &hub,
            &c.resident,
            s(&second["id"]),
            "cancel",
            Some(json!({"reason": "没事了"})),
        )
        .await;
        assert_eq!(a["state"], "cancelled");
        let t = get(&hub, &c.resident, s(&second["id"])).await;
        let cancelled = &t["timeline"][2];
        assert_eq!(
            (&cancelled["type"], &cancelled["actor"], &cancelled["data"]),
            (&json!("incident.cancelled"), &json!("you"), &json!({}))
        );

        // Filters.
        let q = |path: &str| {
            let hub = &hub;
            let duty = c.duty.clone();
            let path = path.to_string();
            async move { hub.call(Method::GET, &path, Some(&duty), None).await }
        };
        let a = q("/api/v1/incidents?state=open").await;
        assert_eq!(a.body.as_array().unwrap().len(), 2, "{}", a.body);
        hub.clock.advance(Duration::minutes(1));
        act_ok(
            &hub,
            &c.r3,
            &mine_id,
            "resolve",
            Some(json!({"note": "已处理"})),
        )
        .await;
        let a = q("/api/v1/incidents?state=open").await;
        assert_eq!(a.body.as_array().unwrap().len(), 1, "{}", a.body);
        let a = q(&format!("/api/v1/incidents?state=all&grid_id={}", c.g1)).await;
        assert_eq!(a.body.as_array().unwrap().len(), 1);
        let a = q("/api/v1/incidents?state=cancelled&limit=1").await;
        assert_eq!(a.body.as_array().unwrap().len(), 1);
        // Resolved or cancelled: what a post's console lists as closed.
        let states = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|i| s(&i["state"]).to_string())
                .collect()
        };
        let a = q("/api/v1/incidents?state=closed").await;
        assert_eq!(states(&a.body), ["cancelled", "resolved"], "{}", a.body);
        // Closed since a time (the resolve came a minute after the cancel), and by post, as
        // a post's console lists them: the same for the post's responder as for the duty room.
        let all = a.body.as_array().unwrap().clone();
        let resolved_at = s(&all[1]["closed_at"]).to_string();
        let a = q(&format!(
            "/api/v1/incidents?state=closed&closed_since={}",
            resolved_at.replace('+', "%2B")
        ))
        .await;
        assert_eq!(states(&a.body), ["resolved"], "{}", a.body);
        for post in [&c.p1, &c.p2, &c.p3] {
            let path = format!("/api/v1/incidents?state=closed&post_id={post}");
            let ids = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|i| s(&i["id"]).to_string())
                    .collect()
            };
            let expected: Vec<String> = all
                .iter()
                .filter(|i| i["post_id"] == json!(post))
                .map(|i| s(&i["id"]).to_string())
                .collect();
            assert_eq!(ids(&q(&path).await.body), expected, "{post}");
            let r3 = hub.call(Method::GET, &path, Some(&c.r3), None).await;
            if *post == c.p3 {
                assert!(!expected.is_empty());
                assert_eq!(ids(&r3.body), expected, "{post}, as its responder");
            }
        }
        let a = q("/api/v1/incidents?since=2026-11-26T08:01:00Z").await;
        assert_eq!(a.body.as_array().unwrap().len(), 1);
        let a = q("/api/v1/incidents?since=2026-11-26T08:01:00%2B08:00").await;
        assert_eq!(a.body.as_array().unwrap().len(), 3);
        for (bad, field) in [
            ("state=finished", "state"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("since=yesterday", "since"),
            ("closed_since=last+week", "closed_since"),
        ] {
            let a = q(&format!("/api/v1/incidents?{bad}")).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.body);
            assert_eq!(a.body["error"]["field"], field);
        }
        let a = q("/api/v1/incidents?colour=red").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        let a = q("/api/v1/incidents?limit=1000").await;
        assert_eq!(a.status, StatusCode::OK);
    }
);

// The marks on a camera's timeline: the incidents that name it, however many others there are.
on_both!(
    incidents_listed_by_a_camera_they_name,
    |hub: Hub| async move {
        let c = community(&hub).await;
        // In g1's polygon: g1's cameras and g2's nearby one ([0, 1, 2]).
        let near = raise(
            &hub,
            &c.resident,
            Some(json!({"lat": 26.52, "lon": 107.92})),
        )
        .await;
        let near = s(&near["id"]).to_string();
        act_ok(
            &hub,
            &c.duty,
            &near,
            "cancel",
            Some(json!({"reason": "误报"})),
        )
        .await;
        hub.clock.advance(Duration::minutes(1));
        // Without a place: the resident's grid g2's camera only ([2]).
        let unplaced = raise(&hub, &c.resident, None).await;
        let unplaced = s(&unplaced["id"]).to_string();
        let ids = |cam: &str| {
            let (hub, duty) = (&hub, c.duty.clone());
            let path = format!("/api/v1/incidents?camera_id={cam}");
            async move {
                let a = hub.call(Method::GET, &path, Some(&duty), None).await;
                assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
                a.body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| s(&i["id"]).to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(ids(&c.cams[0]).await, vec![near.clone()]);
        assert_eq!(ids(&c.cams[2]).await, [unplaced.clone(), near.clone()]);
        // Not a substring of an id, nor a wildcard: exactly the camera.
        let part = &c.cams[0][..c.cams[0].len() - 1];
        assert!(ids(part).await.is_empty(), "{part}");
        assert!(ids("%25").await.is_empty());
        assert!(ids("_").await.is_empty());
        // With the other filters.
        let a = hub
            .call(
                Method::GET,
                &format!("/api/v1/incidents?camera_id={}&state=open", c.cams[2]),
                Some(&c.duty),
                None,
            )
            .await;
        assert_eq!(a.body.as_array().unwrap().len(), 1, "{}", a.body);
        assert_eq!(s(&a.body[0]["id"]), unplaced);
    }
);

on_both!(
    ten_presses_make_one_urgent_incident,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let presses = (0..10).map(|i| {
            let body = json!({"note": format!("press {i}")});
            let hub = &hub;
            let token = c.button.clone();
            async move { sos(hub, &token, Some(body)).await }
        });
        let answers = futures::future::join_all(presses).await;
        let created = answers
            .iter()
            .filter(|a| a.status == StatusCode::CREATED)
            .count();
        let repeats = answers
            .iter()
            .filter(|a| a.status == StatusCode::OK)
            .count();
        assert_eq!(
            (created, repeats),
            (1, 9),
            "{:?}",
            answers.iter().map(|a| a.status).collect::<Vec<_>>()
        );
        let ids: std::collections::HashSet<&str> = answers
            .iter()
            .map(|a| s(&a.body["incident"]["id"]))
            .collect();
        assert_eq!(ids.len(), 1);
        let id = ids.into_iter().next().unwrap().to_string();
        assert!(answers.iter().any(|a| a.body["outcome"] == "repeat"));
        let i = get(&hub, &c.duty, &id).await;
        assert_eq!(
            (i["urgent"].as_bool(), i["repeat_count"].as_u64()),
            (Some(true), Some(9))
        );
        let types = timeline(&hub, &c.duty, &id).await;
        assert_eq!(types.iter().filter(|t| *t == "incident.repeat").count(), 9);
        assert_eq!(types.len(), 11);
        let list = hub
            .call(Method::GET, "/api/v1/incidents", Some(&c.duty), None)
            .await;
        assert_eq!(list.body.as_array().unwrap().len(), 1);

        // The eleventh press in the minute is refused, saying when to try again.
        let a = sos(&hub, &c.button, None).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
        assert_eq!(a.body["error"]["code"], "rate_limited");
        assert_eq!(a.headers[header::RETRY_AFTER], "60");
        // Others are not held up by it.
        raise(&hub, &c.resident, None).await;
        // A minute on, the button may press again: still the same call (within 120 s of its last
        // press), recorded as a repeat.
        hub.clock.advance(Duration::seconds(61));
        let a = sos(&hub, &c.button, None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["incident"]["repeat_count"], 10);
        let metrics = hub.call(Method::GET, "/metrics", None, None).await;
        let text = metrics.body.as_str().unwrap();
        assert!(text.contains("gridwatch_sos_repeats_total 10"), "{text}");
        assert!(
            text.contains("gridwatch_sos_rate_limited_total 1"),
            "{text}"
        );
        assert!(
            text.contains("gridwatch_incidents_raised_total{kind=\"sos\"} 2"),
            "{text}"
        );
    }
);

on_both!(idempotency_keys_make_retries_safe, |hub: Hub| async move {
    let c = community(&hub).await;
    let a = keyed(&hub, &c.button, "press-0001").await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["outcome"], "raised");
    let id = s(&a.body["incident"]["id"]).to_string();
    assert_eq!(
        a.headers[header::LOCATION],
        format!("/api/v1/incidents/{id}")
    );
    // The retry (the answer was lost on the way): the same incident, nothing recorded.
    hub.clock.advance(Duration::minutes(5));
    let b = keyed(&hub, &c.button, "press-0001").await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    assert_eq!(b.body["outcome"], "replay");
    assert_eq!(s(&b.body["incident"]["id"]), id);
    assert_eq!(b.body["incident"]["repeat_count"], 0);
    assert_eq!(timeline(&hub, &c.duty, &id).await.len(), 2);
    // Another key is another press: five minutes on, a new incident.
    let d = keyed(&hub, &c.button, "press-0002").await;
    assert_eq!(d.status, StatusCode::CREATED);
    assert_ne!(s(&d.body["incident"]["id"]), id);
    // Keys belong to their caller.
    let e = keyed(&hub, &c.resident, "press-0001").await;
    assert_eq!(e.status, StatusCode::CREATED);
    assert_ne!(s(&e.body["incident"]["id"]), id);
    // A replay of a repeat press answers with the incident it was recorded on.
    let f = keyed(&hub, &c.resident, "press-0003").await;
    assert_eq!(
        (f.status, f.body["outcome"].clone()),
        (StatusCode::OK, json!("repeat"))
    );
    let g = keyed(&hub, &c.resident, "press-0003").await;
    assert_eq!(
        (g.status, g.body["outcome"].clone()),
        (StatusCode::OK, json!("replay"))
    );
    assert_eq!(g.body["incident"]["id"], e.body["incident"]["id"]);
    for bad in ["", &"k".repeat(201), "with space"] {
        let a = keyed(&hub, &c.button, bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", a.body);
    }
});

on_both!(sos_takes_any_body_that_is_json, |hub: Hub| async move {
    let c = community(&hub).await;
    let raw = |ctype: Option<&'static str>, body: &'static str, token: String| {
        let hub = &hub;
        async move {
            let mut req = Request::builder()
                .method(Method::POST)
                .uri("/api/v1/sos")
                .header(header::AUTHORIZATION, format!("Bearer {token}"));
            if let Some(t) = ctype {
                req = req.header(header::CONTENT_TYPE, t);
            }
            hub.send(req.body(Body::from(body)).unwrap()).await
        }
    };
    // Nothing at all, from a button that speaks no JSON.
    let a = raw(None, "", c.button.clone()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    // Not JSON: a clear 400.
    let (_, r) = hub.login_as("resident", None, Some(&c.g1)).await;
    let a = raw(Some("application/json"), "{\"lat\": ", r.clone()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"]["code"], "malformed_json");
    let a = raw(Some("application/json"), "[1, 2]", r.clone()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // A location that is not one, wrong types and unknown fields: raised all the same, with
    // what was dropped in the timeline.
    let a = raw(
        Some("text/plain"),
        r#"{"lat": 95, "lon": 107.9, "note": "救命", "battery": 3}"#,
        r.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let i = &a.body["incident"];
    assert_eq!(
        (i["lat"].clone(), i["note"].clone()),
        (Value::Null, json!("救命"))
    );
    let i = &get(&hub, &c.duty, s(&i["id"])).await;
    assert_eq!(s(&i["grid_id"]), c.g1, "the resident's grid");
    let raised = get(&hub, &c.duty, s(&i["id"])).await["timeline"][0]["data"].clone();
    assert!(s(&raised["location_dropped"]).contains("lat"), "{raised}");
    assert_eq!(raised["ignored_fields"], json!(["battery"]));
});

on_both!(
    duty_officers_raise_incidents_by_hand,
    |hub: Hub| async move {
        let c = community(&hub).await;
        // Named grid: it decides, whatever the place.
        let a = hub.call(Method::POST, "/api/v1/incidents", Some(&c.duty),
        Some(json!({"kind": "manual", "grid_id": c.g2, "lat": 26.52, "lon": 107.92, "note": "电话报警"}))).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let i = &a.body["incident"];
        assert_eq!(
            (s(&i["grid_id"]), s(&i["post_id"]), s(&i["kind"])),
            (c.g2.as_str(), c.p3.as_str(), "manual")
        );
        assert!(s(&i["source"]).starts_with("officer:"));
        // From a camera: its place and grid.
        let a = hub
            .call(
                Method::POST,
                "/api/v1/incidents",
                Some(&c.duty),
                Some(json!({"kind": "motion", "camera_id": c.cams[2]})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let i = &a.body["incident"];
        assert_eq!(
            (s(&i["grid_id"]), s(&i["camera_id"]), s(&i["kind"])),
            (c.g2.as_str(), c.cams[2].as_str(), "motion")
        );
        assert_eq!(i["lat"], 26.525);
        // A grid without a chain: raised, waiting.
        let a = hub
            .call(
                Method::POST,
                "/api/v1/incidents",
                Some(&c.duty),
                Some(json!({"grid_id": c.g3})),
            )
            .await;
        assert_eq!(a.body["incident"]["state"], "raised");
        assert_eq!(a.body["incident"]["kind"], "manual");
        // Two manual incidents in a row are two incidents (no repeat window for officers).
        let a = hub
            .call(
                Method::POST,
                "/api/v1/incidents",
                Some(&c.duty),
                Some(json!({"grid_id": c.g3})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED);
        for (body, field) in [
            (json!({"grid_id": "nope"}), "grid_id"),
            (json!({"camera_id": "nope"}), "camera_id"),
            (json!({"lat": 26.5}), "lon"),
        ] {
            let a = hub
                .call(Method::POST, "/api/v1/incidents", Some(&c.duty), Some(body))
                .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
            assert_eq!(a.body["error"]["field"], field);
        }
        let a = hub
            .call(
                Method::POST,
                "/api/v1/incidents",
                Some(&c.duty),
                Some(json!({"kind": "fire"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
);

/// The fields of an incident that are the duty room's, never shown to a resident. (How many
/// times it was escalated is shown: the resident's page says in plain words that their call
/// was passed on, instead of "the post has been told".)
const STAFF_FIELDS: [&str; 10] = [
    "grid_id",
    "post_id",
    "post_chain",
    "chain_position",
    "cameras",
    "camera_id",
    "policy",
    "source",
    "caller",
    "acknowledged_at",
];

fn assert_resident_form(i: &Value) {
    for f in STAFF_FIELDS {
        assert!(i.get(f).is_none(), "{f} shown to a resident: {i}");
    }
}

on_both!(
    a_resident_sees_progress_not_staff_data,
    |hub: Hub| async move {
        let c = community(&hub).await;
        // A resident of g2 presses without a location: p3's, then redirected to p1.
        let a = sos(&hub, &c.resident, None).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        assert_eq!(a.body["incident"]["state"], "dispatched");
        assert_resident_form(&a.body["incident"]);
        let id = s(&a.body["incident"]["id"]).to_string();
        act_ok(&hub, &c.r3, &id, "ack", None).await;
        let note = "门锁已修好，邻里纠纷已调解";
        let (lat, lon) = (26.5234, 107.9876);
        let (lat_text, lon_text) = (lat.to_string(), lon.to_string());
        act_ok(
            &hub,
            &c.duty,
            &id,
            "dispatch",
            Some(json!({"post_id": c.p1})),
        )
        .await;
        act_ok(&hub, &c.r1, &id, "ack", None).await;
        act_ok(&hub, &c.r1, &id, "en-route", None).await;
        hub.clock.advance(Duration::minutes(10));
        common::community::run_timers(&hub).await;
        let arrive = json!({"lat": lat, "lon": lon});
        act_ok(&hub, &c.r1, &id, "arrive", Some(arrive)).await;
        act_ok(&hub, &c.r1, &id, "resolve", Some(json!({"note": note}))).await;

        // The duty room's record holds all of it...
        let full = get(&hub, &c.duty, &id).await;
        let full_text = full.to_string();
        for secret in [note, lat_text.as_str(), c.p1.as_str(), c.p3.as_str()] {
            assert!(full_text.contains(secret), "{secret} not recorded: {full}");
        }
        assert!(timeline(&hub, &c.duty, &id)
            .await
            .contains(&"incident.at_risk".to_string()));

        // ...the resident sees the state and the steps, nothing else.
        let own = get(&hub, &c.resident, &id).await;
        let listed = hub
            .call(Method::GET, "/api/v1/incidents", Some(&c.resident), None)
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        for shown in [&own, &listed.body[0]] {
            let text = shown.to_string();
            let staff = [&lat_text, &lon_text, &c.p1, &c.p3, &c.g2].map(String::as_str);
            for secret in std::iter::once(note).chain(staff) {
                assert!(
                    !text.contains(secret),
                    "{secret} shown to the resident: {shown}"
                );
            }
            for cam in &c.cams {
                assert!(!text.contains(cam.as_str()), "a camera shown: {shown}");
            }
            assert_resident_form(shown);
            assert_eq!(shown["state"], "resolved");
            assert!(shown["on_scene_at"].is_string() && shown["resolved_at"].is_string());
        }
        let events = own["timeline"].as_array().unwrap();
        let types: Vec<&str> = events.iter().map(|e| s(&e["type"])).collect();
        assert_eq!(
            types,
            [
                "incident.raised",
                "incident.dispatched",
                "incident.acknowledged",
                "incident.dispatched",
                "incident.acknowledged",
                "incident.en_route",
                "incident.on_scene",
                "incident.resolved"
            ]
        );
        for e in events {
            assert_eq!(e["data"], json!({}), "{e}");
            assert!(e.get("origin").is_none(), "{e}");
        }
        // Who: the resident, or staff unnamed (the routing at the press is not an officer's).
        let actors: Vec<&str> = events.iter().map(|e| s(&e["actor"])).collect();
        assert_eq!(actors[0], "you");
        assert!(actors[2..].iter().all(|a| *a == "staff"), "{actors:?}");

        // Their answers to pressing again and to cancelling are in the same form.
        hub.clock.advance(Duration::minutes(5));
        let second = sos(&hub, &c.resident, None).await;
        assert_resident_form(&second.body["incident"]);
        let again = sos(&hub, &c.resident, None).await;
        assert_eq!(again.body["outcome"], "repeat", "{}", again.body);
        assert_resident_form(&again.body["incident"]);
        let cancelled = act_ok(
            &hub,
            &c.resident,
            s(&second.body["incident"]["id"]),
            "cancel",
            Some(json!({"reason": "按错了"})),
        )
        .await;
        assert_eq!(cancelled["state"], "cancelled");
        assert_resident_form(&cancelled);
    }
);

on_both!(
    staff_see_the_caller_and_residents_see_who_is_coming,
    |hub: Hub| async move {
        let c = community(&hub).await;
        // A resident with a phone and an address, as an admin registers them.
        let resident = common::community::create(
            &hub,
            &c.admin,
            "/api/v1/users",
            json!({"username": "chen-ayi", "password": "password-1", "role": "resident",
                   "display_name": "陈阿姨", "grid_id": c.g2,
                   "phone": "138 0855 0001", "address": "清江小区3栋2单元501"}),
        )
        .await;
        assert_eq!(resident["phone"], "138 0855 0001");
        let login = hub
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "chen-ayi", "password": "password-1"})),
            )
            .await;
        let token = login.body["token"].as_str().unwrap().to_string();
        let i = raise(&hub, &token, Some(json!({"lat": 26.52, "lon": 107.97}))).await;
        let id = s(&i["id"]).to_string();

        // The duty room and the post see whom to call back, and that the dispatch to p3 has
        // not been confirmed by a console yet.
        for staff in [&c.duty, &c.r3] {
            let seen = get(&hub, staff, &id).await;
            assert_eq!(
                seen["caller"],
                json!({"kind": "resident", "name": "陈阿姨", "phone": "138 0855 0001",
                       "address": "清江小区3栋2单元501"})
            );
            assert_eq!(seen["delivery"]["post_id"], c.p3.as_str());
            assert_eq!(seen["delivery"]["delivery"], "waiting");
        }
        // A panic button's caller is the button, with its address.
        let b = raise(&hub, &c.button, None).await;
        let seen = get(&hub, &c.duty, s(&b["id"])).await;
        assert_eq!(seen["caller"]["kind"], "device");
        assert_eq!(seen["caller"]["name"], "1栋大堂报警按钮");

        // The resident sees the post their call went to and, once someone has taken it, who.
        let mine = get(&hub, &token, &id).await;
        assert_eq!(mine["help"]["post"]["name"], "网格员二队");
        assert_eq!(mine["help"]["responder"], Value::Null);
        assert_eq!(mine["delivery"], "waiting");
        assert!(mine.get("caller").is_none() && mine.get("post_id").is_none());
        act_ok(&hub, &c.r3, &id, "ack", None).await;
        let mine = get(&hub, &token, &id).await;
        let responder = mine["help"]["responder"].as_str().unwrap();
        assert!(responder.starts_with("responder"), "{responder}");
        assert_eq!(mine["allowed_actions"], json!(["cancel"]));

        // The history: by kind, by time.
        assert_eq!(list(&hub, &c.duty, "kind=sos").await, 2);
        assert_eq!(list(&hub, &c.duty, "kind=manual").await, 0);
        assert_eq!(list(&hub, &c.duty, "until=2026-11-26T07:00:00Z").await, 0);
        assert_eq!(
            list(
                &hub,
                &c.duty,
                "since=2026-11-26T07:00:00Z&until=2099-01-01T00:00:00Z"
            )
            .await,
            2
        );
        let bad = hub
            .call(
                Method::GET,
                "/api/v1/incidents?kind=fire",
                Some(&c.duty),
                None,
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.body["error"]["field"], "kind");
    }
);

/// How many incidents `GET /api/v1/incidents?{q}` lists for the token.
async fn list(hub: &Hub, token: &str, q: &str) -> usize {
    let a = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents?{q}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{q}: {}", a.body);
    a.body.as_array().unwrap().len()
}
