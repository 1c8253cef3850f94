//! The 15-minute response check through the HTTP edge and the timer engine, on a manual clock:
//! every timer path, frozen windows, restarts, the watchdog, and two hubs on one PostgreSQL.

use crate::common;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use common::community::{act, act_ok, community, get, raise, run_timers, s, timeline};
use common::{t0, Hub};
use gridwatch_core::clock::ManualClock;
use gridwatch_hub::incidents::response_check::tick;
use gridwatch_hub::{AppState, Config};
use serde_json::json;
use std::sync::Arc;

fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + Duration::minutes(minutes)
}

/// Moves the clock to `minutes` after t0 and runs the timers.
async fn to_minute(
    hub: &Hub,
    minutes: i64,
) -> gridwatch_hub::incidents::response_check::TickReport {
    hub.clock.set(at(minutes));
    run_timers(hub).await
}

on_both!(acknowledged_in_time_nothing_fires, |hub: Hub| async move {
    let c = community(&hub).await;
    let id = s(&raise(&hub, &c.button, None).await["id"]).to_string();
    hub.clock.set(at(1));
    act_ok(&hub, &c.r1, &id, "ack", None).await;
    act_ok(&hub, &c.r1, &id, "en-route", None).await;
    let r = to_minute(&hub, 3).await;
    assert_eq!(r.fired, 0, "the acknowledgement timer was disarmed");
    assert_eq!(r.next_due, Some(at(10)));
    hub.clock.set(at(8));
    let i = act_ok(&hub, &c.r1, &id, "arrive", None).await;
    assert_eq!(i["on_scene_at"], "2026-11-26T08:08:00Z");
    let r = to_minute(&hub, 30).await;
    assert_eq!(
        (r.fired, r.next_due),
        (0, None),
        "arriving disarmed the rest"
    );
    assert_eq!(
        timeline(&hub, &c.duty, &id).await,
        [
            "incident.raised",
            "incident.dispatched",
            "incident.acknowledged",
            "incident.en_route",
            "incident.on_scene"
        ]
    );
    let i = get(&hub, &c.duty, &id).await;
    assert_eq!(
        (
            i["escalation_level"].as_u64(),
            i["at_risk_at"].clone(),
            i["breached_at"].clone()
        ),
        (Some(0), json!(null), json!(null))
    );
});

on_both!(
    unacknowledged_escalates_along_the_chain_then_to_duty_officers,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let mut changes = hub.state.incidents.subscribe();
        let id = s(&raise(&hub, &c.button, None).await["id"]).to_string();
        let raised = changes.try_recv().expect("the raise is published");
        let kinds: Vec<&str> = raised.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["incident.raised", "incident.dispatched"]);
        assert_eq!(raised.incident.id, id);
        assert_eq!(to_minute(&hub, 1).await.fired, 0);
        // Two minutes without an acknowledgement: the next post of g1's chain.
        let r = to_minute(&hub, 2).await;
        assert_eq!((r.fired, r.acted), (1, 1));
        let escalated = changes.try_recv().expect("the escalation is published");
        assert_eq!(escalated.events[0].kind.as_str(), "incident.escalated");
        assert_eq!(escalated.incident.post_id.as_deref(), Some(c.p2.as_str()));
        let i = get(&hub, &c.duty, &id).await;
        assert_eq!(
            (
                s(&i["post_id"]),
                i["escalation_level"].as_u64(),
                s(&i["state"])
            ),
            (c.p2.as_str(), Some(1), "dispatched")
        );
        let e = i["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (s(&e["type"]), s(&e["actor"]), s(&e["origin"])),
            ("incident.escalated", "system", "timer")
        );
        assert_eq!(e["data"]["target"], "post");
        assert_eq!(e["data"]["reason"], "not_acknowledged");
        assert_eq!(
            (s(&e["data"]["from_post"]), s(&e["data"]["to_post"])),
            (c.p1.as_str(), c.p2.as_str())
        );
        assert_eq!(e["at"], "2026-11-26T08:02:00Z");
        // Now it is p2's: p1 can no longer take it, p2 can — but does not, in time.
        let a = act(&hub, &c.r1, &id, "ack", None).await;
        assert!(
            matches!(a.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{}",
            a.body
        );
        assert_eq!(to_minute(&hub, 3).await.fired, 0);
        let r = to_minute(&hub, 4).await;
        assert_eq!(r.fired, 1);
        let i = get(&hub, &c.duty, &id).await;
        let e = i["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(e["data"]["target"], "duty_officers", "end of the chain");
        assert_eq!(
            (s(&i["post_id"]), i["escalation_level"].as_u64()),
            (c.p2.as_str(), Some(2))
        );
        // The duty officer redirects; the new post acknowledges in time.
        hub.clock.set(at(5));
        act_ok(
            &hub,
            &c.duty,
            &id,
            "dispatch",
            Some(json!({"post_id": c.p3})),
        )
        .await;
        hub.clock.set(at(6));
        act_ok(&hub, &c.r3, &id, "ack", None).await;
        assert_eq!(to_minute(&hub, 8).await.fired, 0);
        let metrics = hub.call(Method::GET, "/metrics", None, None).await;
        let text = metrics.body.as_str().unwrap();
        assert!(
            text.contains("gridwatch_incident_escalations_total{target=\"post\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gridwatch_incident_escalations_total{target=\"duty_officers\"} 1"),
            "{text}"
        );
    }
);

on_both!(
    at_risk_then_breached_and_escalated_to_the_supervisor,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let id = s(&raise(&hub, &c.resident, None).await["id"]).to_string();
        hub.clock.set(at(1));
        act_ok(&hub, &c.r3, &id, "ack", None).await;
        assert_eq!(to_minute(&hub, 9).await.fired, 0);
        let r = to_minute(&hub, 10).await;
        assert_eq!(r.fired, 1);
        let i = get(&hub, &c.duty, &id).await;
        assert_eq!(i["at_risk_at"], "2026-11-26T08:10:00Z");
        let e = i["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (s(&e["type"]), e["data"]["seconds_left"].as_i64()),
            ("incident.at_risk", Some(300))
        );
        // The warning is the staff's: the resident, as on the stream, is shown progress only.
        assert!(!timeline(&hub, &c.resident, &id)
            .await
            .iter()
            .any(|t| t == "incident.at_risk"));
        let r = to_minute(&hub, 15).await;
        assert_eq!((r.fired, r.next_due), (1, None));
        let i = get(&hub, &c.duty, &id).await;
        let t: Vec<&str> = i["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| s(&e["type"]))
            .collect();
        assert_eq!(
            t[t.len() - 2..],
            ["incident.breached", "incident.escalated"]
        );
        assert_eq!(i["timeline"][t.len() - 1]["data"]["target"], "supervisor");
        assert_eq!(
            (s(&i["state"]), i["escalation_level"].as_u64()),
            ("acknowledged", Some(1)),
            "escalation is not a state"
        );
        assert_eq!(i["breached_at"], "2026-11-26T08:15:00Z");
        // Late, but still welcome; and it counts as late.
        hub.clock.set(at(17));
        let i = act_ok(&hub, &c.r3, &id, "arrive", None).await;
        assert_eq!(i["state"], "on_scene");
        let on_scene = get(&hub, &c.duty, &id).await["timeline"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(on_scene["data"]["within_deadline"], false);
        let metrics = hub.call(Method::GET, "/metrics", None, None).await;
        let text = metrics.body.as_str().unwrap();
        assert!(
            text.contains("gridwatch_incidents_at_risk_total 1"),
            "{text}"
        );
        assert!(
            text.contains("gridwatch_incident_breaches_total 1"),
            "{text}"
        );
        assert!(
            text.contains("gridwatch_incident_escalations_total{target=\"supervisor\"} 1"),
            "{text}"
        );
        assert!(text.contains("gridwatch_deadlines_overdue 0"), "{text}");
    }
);

on_both!(
    resolved_before_the_deadline_fires_nothing,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let id = s(&raise(&hub, &c.button, None).await["id"]).to_string();
        hub.clock.set(at(1));
        act_ok(&hub, &c.r1, &id, "ack", None).await;
        hub.clock.set(at(5));
        act_ok(&hub, &c.r1, &id, "arrive", None).await;
        hub.clock.set(at(6));
        act_ok(&hub, &c.r1, &id, "resolve", Some(json!({"note": "已处置"}))).await;
        let r = to_minute(&hub, 60).await;
        assert_eq!((r.fired, r.next_due), (0, None));
        assert_eq!(timeline(&hub, &c.duty, &id).await.len(), 5);
    }
);

on_both!(cancelled_fires_nothing, |hub: Hub| async move {
    let c = community(&hub).await;
    let id = s(&raise(&hub, &c.resident, None).await["id"]).to_string();
    hub.clock.set(at(1));
    act_ok(
        &hub,
        &c.resident,
        &id,
        "cancel",
        Some(json!({"reason": "按错了"})),
    )
    .await;
    let r = to_minute(&hub, 60).await;
    assert_eq!((r.fired, r.next_due), (0, None));
    assert_eq!(
        timeline(&hub, &c.duty, &id).await,
        [
            "incident.raised",
            "incident.dispatched",
            "incident.cancelled"
        ]
    );
});

on_both!(
    windows_are_the_grids_and_frozen_at_raise,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let a = hub
            .call(
                Method::PATCH,
                &format!("/api/v1/grids/{}", c.g1),
                Some(&c.admin),
                Some(json!({"response_minutes": 20, "ack_minutes": 3, "at_risk_minutes": 12})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let i = raise(&hub, &c.button, None).await;
        let id = s(&i["id"]).to_string();
        assert_eq!(i["deadline_at"], "2026-11-26T08:20:00Z");
        assert_eq!(
            i["policy"],
            json!({"response_window_seconds": 1200, "ack_window_seconds": 180, "at_risk_after_seconds": 720})
        );
        // Editing the grid mid-incident changes nothing for it: chain and windows are frozen.
        let a = hub.call(Method::PATCH, &format!("/api/v1/grids/{}", c.g1), Some(&c.admin),
        Some(json!({"post_chain": [c.p3], "response_minutes": null, "ack_minutes": null, "at_risk_minutes": null}))).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(
            to_minute(&hub, 2).await.fired,
            0,
            "three minutes to acknowledge, not two"
        );
        to_minute(&hub, 3).await;
        let i = get(&hub, &c.duty, &id).await;
        assert_eq!(s(&i["post_id"]), c.p2, "the frozen chain's next post");
        assert_eq!(i["post_chain"], json!([c.p1, c.p2]));
        hub.clock.set(at(4));
        act_ok(&hub, &c.r2, &id, "ack", None).await;
        assert_eq!(to_minute(&hub, 11).await.fired, 0);
        assert_eq!(to_minute(&hub, 12).await.fired, 1);
        assert_eq!(to_minute(&hub, 19).await.fired, 0);
        assert_eq!(to_minute(&hub, 20).await.fired, 1);
        let t = timeline(&hub, &c.duty, &id).await;
        assert_eq!(
            t[t.len() - 3..],
            [
                "incident.at_risk",
                "incident.breached",
                "incident.escalated"
            ]
        );
        // A new incident gets the grid's new settings.
        hub.clock.set(at(30));
        let i = raise(&hub, &c.button, None).await;
        assert_eq!(i["deadline_at"], "2026-11-26T08:45:00Z");
        assert_eq!(s(&i["post_id"]), c.p3);
    }
);

on_both!(
    deadlines_due_while_the_hub_was_down_fire_once_after_restart,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let id = s(&raise(&hub, &c.button, None).await["id"]).to_string();
        // The hub goes down at minute 1 and comes back at minute 20: a new process, the same
        // database, its deadlines read from the rows.
        let clock = ManualClock::new(at(20));
        let restarted = AppState::new(
            hub.state.store.clone(),
            Arc::new(clock.clone()),
            Config::default(),
        );
        let r = tick(&restarted.incidents).await.unwrap();
        // ack_due (escalated to p2, re-armed for 22 min), at_risk, breach.
        assert_eq!((r.fired, r.acted, r.next_due), (3, 3, Some(at(22))));
        assert_eq!(
            tick(&restarted.incidents).await.unwrap().fired,
            0,
            "each fired once"
        );
        let t = timeline(&hub, &c.duty, &id).await;
        assert_eq!(
            t,
            [
                "incident.raised",
                "incident.dispatched",
                "incident.escalated",
                "incident.at_risk",
                "incident.breached",
                "incident.escalated"
            ]
        );
        clock.set(at(22));
        assert_eq!(
            tick(&restarted.incidents).await.unwrap().fired,
            1,
            "p2 did not answer either"
        );
    }
);

on_both!(
    an_overdue_deadline_fails_readyz_until_the_engine_catches_up,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let ready = hub.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
        let id = s(&raise(&hub, &c.button, None).await["id"]).to_string();
        // Due at 2 min; 3 s late is within the grace, 10 s is a stalled engine.
        hub.clock.set(at(2) + Duration::seconds(3));
        assert_eq!(
            hub.call(Method::GET, "/readyz", None, None).await.status,
            StatusCode::OK
        );
        hub.clock.set(at(2) + Duration::seconds(10));
        let a = hub.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
        assert_eq!(a.body["error"]["code"], "response_check_stalled");
        let m = a.body["error"]["message"].as_str().unwrap();
        assert!(
            m.contains(&id) && m.contains("ack_due") && m.contains("10 s"),
            "{m}"
        );
        assert!(hub.state.incidents.stalled());
        let text = hub
            .call(Method::GET, "/metrics", None, None)
            .await
            .body
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains("gridwatch_deadlines_overdue 1"), "{text}");
        run_timers(&hub).await;
        assert_eq!(
            hub.call(Method::GET, "/readyz", None, None).await.status,
            StatusCode::OK
        );
        assert!(!hub.state.incidents.stalled());
        let text = hub
            .call(Method::GET, "/metrics", None, None)
            .await
            .body
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains("gridwatch_deadlines_overdue 0"), "{text}");
    }
);

/// Two hub processes on one PostgreSQL database, each running the engine at the same time:
/// every deadline fires exactly once.
#[tokio::test]
async fn two_hubs_on_one_postgres_fire_every_deadline_once() {
    let url = gridwatch_store::testing::fresh_postgres_url()
        .await
        .unwrap();
    let open = || async {
        let mut o = gridwatch_store::StoreOptions::new(url.clone());
        o.max_connections = 4;
        gridwatch_store::Store::open(&o).await.unwrap()
    };
    let clock = ManualClock::new(t0());
    let a = AppState::new(open().await, Arc::new(clock.clone()), Config::default());
    let b = AppState::new(open().await, Arc::new(clock.clone()), Config::default());
    let hub = Hub::from_state(a.clone(), clock.clone());
    let c = community(&hub).await;
    let mut ids = vec![];
    for _ in 0..25 {
        let (_, r) = hub.login_as("resident", None, Some(&c.g1)).await;
        ids.push(s(&raise(&hub, &r, None).await["id"]).to_string());
    }
    let mut total = 0;
    for minute in [2, 4, 10, 15] {
        clock.set(at(minute));
        let (x, y) = tokio::join!(tick(&a.incidents), tick(&b.incidents));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.failed + y.failed, 0);
        total += x.fired + y.fired;
    }
    // Per incident: ack at 2 (to p2), ack at 4 (to the duty officers), at risk, breach.
    assert_eq!(total, 4 * 25);
    let events = a.store.events_since(0, 100_000).await.unwrap();
    for id in &ids {
        let kinds: Vec<&str> = events
            .iter()
            .filter(|e| e.incident_id.as_deref() == Some(id))
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "incident.raised",
                "incident.dispatched",
                "incident.escalated",
                "incident.escalated",
                "incident.at_risk",
                "incident.breached",
                "incident.escalated"
            ],
            "{id}"
        );
    }
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
}
