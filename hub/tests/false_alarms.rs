//! A camera's false alarm dismissed in one click (issue 19) and the false-alarm report per
//! camera over HTTP, JSON and CSV, on SQLite and PostgreSQL: motion alerts raised by the
//! detector and by hand, dismissed, resolved and still open; an SOS cannot be dismissed.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::community::{act, act_ok, community, get, raise, s};
use common::Hub;
use serde_json::json;

on_both!(
    false_alarms_are_dismissed_and_counted_per_camera,
    |hub: Hub| async move {
        use gridwatch_hub::cameras::motion::{raise_motion, MotionDetected};

        let c = community(&hub).await;
        let by_hand = |cam: String| {
            let hub = &hub;
            let duty = c.duty.clone();
            async move {
                let a = hub
                    .call(
                        Method::POST,
                        "/api/v1/incidents",
                        Some(&duty),
                        Some(json!({"kind": "motion", "camera_id": cam})),
                    )
                    .await;
                assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
                s(&a.body["incident"]["id"]).to_string()
            }
        };
        // c1: four alarms; two dismissed, one resolved on scene, one still open.
        let (c1, c3) = (c.cams[0].clone(), c.cams[2].clone());
        let mut c1_alarms = vec![];
        for _ in 0..4 {
            c1_alarms.push(by_hand(c1.clone()).await);
        }
        let open = get(&hub, &c.duty, &c1_alarms[0]).await;
        assert!(
            open["allowed_actions"]
                .as_array()
                .unwrap()
                .contains(&json!("dismiss")),
            "{open}"
        );
        let dismissed = act_ok(&hub, &c.duty, &c1_alarms[0], "dismiss", None).await;
        assert_eq!(
            (s(&dismissed["state"]), &dismissed["false_alarm"]),
            ("cancelled", &json!(true))
        );
        act_ok(&hub, &c.duty, &c1_alarms[1], "dismiss", Some(json!({}))).await;
        act_ok(&hub, &c.duty, &c1_alarms[2], "arrive", None).await;
        let resolved = act_ok(
            &hub,
            &c.duty,
            &c1_alarms[2],
            "resolve",
            Some(json!({"note": "有人翻墙，已带离"})),
        )
        .await;
        assert_eq!(resolved["false_alarm"], json!(false));
        // The timeline says why it was closed: the standard reason, marked.
        let shown = get(&hub, &c.duty, &c1_alarms[0]).await;
        let last = shown["timeline"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["type"], "incident.cancelled");
        assert_eq!(
            (&last["data"]["reason"], &last["data"]["false_alarm"]),
            (&json!("false_alarm"), &json!(true))
        );
        // Nothing dismisses a closed incident again: 409 naming its state.
        let again = act(&hub, &c.duty, &c1_alarms[0], "dismiss", None).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

        // c3: the detector's alarm, dismissed.
        let a = hub
            .call(
                Method::PUT,
                &format!("/api/v1/cameras/{c3}/motion"),
                Some(&c.admin),
                Some(json!({"enabled": true})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let detected = MotionDetected {
            camera_id: c3.clone(),
            zone: "yard".into(),
            area: 0.3,
        };
        let raised = raise_motion(&hub.state.cameras, &detected)
            .await
            .unwrap()
            .expect("motion alerts on");
        act_ok(&hub, &c.duty, &raised.incident.id, "dismiss", None).await;

        // An SOS is not a camera's alert: it is called off with a reason, never dismissed, and
        // a cancelled SOS is in no camera's figures.
        let sos = raise(&hub, &c.button, None).await;
        let sos_id = s(&sos["id"]).to_string();
        let offered = get(&hub, &c.duty, &sos_id).await["allowed_actions"].clone();
        assert!(offered.as_array().unwrap().contains(&json!("cancel")));
        assert!(!offered.as_array().unwrap().contains(&json!("dismiss")));
        let refused = act(&hub, &c.duty, &sos_id, "dismiss", None).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert!(s(&refused.body["error"]["message"]).contains("motion"));
        assert_eq!(s(&get(&hub, &c.duty, &sos_id).await["state"]), "dispatched");
        act_ok(
            &hub,
            &c.duty,
            &sos_id,
            "cancel",
            Some(json!({"reason": "误报"})),
        )
        .await;

        // The report's period ends at now, excluded: look a minute later.
        hub.clock.advance(chrono::Duration::minutes(1));
        let report = |query: &'static str, csv: bool| {
            let hub = &hub;
            let duty = c.duty.clone();
            async move {
                let mut req = Request::builder()
                    .uri(format!("/api/v1/reports/false-alarms{query}"))
                    .header(header::AUTHORIZATION, format!("Bearer {duty}"));
                if csv {
                    req = req.header(header::ACCEPT, "text/csv");
                }
                hub.send(req.body(Body::empty()).unwrap()).await
            }
        };
        let a = report("", false).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(
            a.body,
            json!([
                {"camera_id": c1, "camera": "c1", "alarms": 4, "open": 1, "false_alarms": 2,
                 "false_alarm_ratio": 2.0 / 3.0},
                {"camera_id": c3, "camera": "c3", "alarms": 1, "open": 0, "false_alarms": 1,
                 "false_alarm_ratio": 1.0},
            ])
        );
        let a = report("?from=2026-11-26&to=2026-11-27&tz=%2B08:00", true).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        assert!(a.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("false-alarm-report-20261126-20261127.csv"));
        assert_eq!(
            a.body.as_str().unwrap(),
            format!(
                "camera_id,camera,alarms,open,false_alarms,false_alarm_ratio\r\n\
                 {c1},c1,4,1,2,{}\r\n{c3},c3,1,0,1,1\r\n",
                2.0f64 / 3.0
            )
        );
        // A period before the alarms: no rows. A bad bound: 400 naming it.
        let a = report("?from=2026-01-01&to=2026-01-02", false).await;
        assert_eq!(a.body, json!([]));
        let a = report("?from=yesterday", false).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.body["error"]["field"], "from", "{}", a.body);
    }
);
