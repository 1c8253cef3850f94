//! Retrying an SOS over HTTP: a resident's page or a button that retries the same press (with
//! its `Idempotency-Key`) is answered with its incident however often it asks, and neither
//! retries nor attempts the database failed use up the per-caller limit. The limit refuses only
//! a caller whose SOS is already raised and open, and its 429 says so.

use crate::common;

use axum::http::{header, Method, StatusCode};
use common::community::{act_ok, community, keyed, s, sos};
use common::Hub;
use gridwatch_core::clock::ManualClock;
use gridwatch_hub::{AppState, Config};
use gridwatch_store::{Store, StoreOptions};
use serde_json::json;
use std::sync::Arc;

/// Presses the limit lets a caller make in its window (`incidents::sos_limit`).
const LIMIT: usize = gridwatch_hub::incidents::sos_limit::MAX_PRESSES;

/// Asserts a 429 that tells the truth: the caller's SOS is raised.
fn assert_refused_truthfully(a: &common::Answer) {
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "rate_limited");
    let message = s(&a.body["error"]["message"]);
    assert!(
        message.contains("already raised and still open"),
        "{message}"
    );
    assert!(a.headers.contains_key(header::RETRY_AFTER));
}

on_both!(
    a_retried_key_is_answered_past_the_limit,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let first = keyed(&hub, &c.button, "page-0001").await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        let id = s(&first.body["incident"]["id"]).to_string();

        // The page retries (its answers lost) more often than the limit allows presses: every
        // retry is answered with the incident, none is refused.
        for n in 0..LIMIT + 5 {
            let a = keyed(&hub, &c.button, "page-0001").await;
            assert_eq!(a.status, StatusCode::OK, "retry {n}: {}", a.body);
            assert_eq!(a.body["outcome"], "replay");
            assert_eq!(s(&a.body["incident"]["id"]), id);
        }
        // Retries are not presses: the caller still has the rest of its presses in the minute.
        for n in 1..LIMIT {
            let a = sos(&hub, &c.button, None).await;
            assert_eq!(a.status, StatusCode::OK, "press {n}: {}", a.body);
            assert_eq!(a.body["incident"]["repeat_count"], n);
        }
        // Now past it: refused, and told its SOS is raised, which it is.
        assert_refused_truthfully(&sos(&hub, &c.button, None).await);
        assert_refused_truthfully(&keyed(&hub, &c.button, "page-0002").await);
        // The retry of the press it made is still answered.
        let a = keyed(&hub, &c.button, "page-0001").await;
        assert_eq!(
            (a.status, a.body["outcome"].clone()),
            (StatusCode::OK, json!("replay"))
        );
        assert_eq!(s(&a.body["incident"]["id"]), id);
        let i = common::community::get(&hub, &c.duty, &id).await;
        assert_eq!(i["repeat_count"], LIMIT - 1);
    }
);

on_both!(
    a_caller_without_an_open_incident_is_never_refused,
    |hub: Hub| async move {
        let c = community(&hub).await;
        for _ in 0..LIMIT {
            assert!(sos(&hub, &c.button, None).await.status.is_success());
        }
        let refused = sos(&hub, &c.button, None).await;
        assert_refused_truthfully(&refused);
        // The duty room closes the call (a false alarm, say): the caller has no open incident,
        // so its next press is the one that must get through, within the same minute.
        let list = hub
            .call(Method::GET, "/api/v1/incidents", Some(&c.duty), None)
            .await;
        let id = s(&list.body[0]["id"]).to_string();
        act_ok(
            &hub,
            &c.duty,
            &id,
            "cancel",
            Some(json!({"reason": "误触"})),
        )
        .await;
        let again = sos(&hub, &c.button, None).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert_ne!(s(&again.body["incident"]["id"]), id);
    }
);

/// Runs SQL on the database with PostgreSQL's own client, as an operator (or a failure) would
/// from outside the hub.
fn psql(url: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql, PostgreSQL's client, is installed");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The database fails the SOS intake for a while (its incidents table is gone, as in a botched
/// migration or a restore), while logins still work: every attempt is answered 503, none 429,
/// and once the table is back the press is raised — the failed attempts used up nothing.
#[tokio::test]
async fn failed_attempts_do_not_use_up_the_limit() {
    let url = gridwatch_store::testing::fresh_postgres_url()
        .await
        .unwrap();
    let mut opts = StoreOptions::new(url.clone());
    opts.max_connections = 4;
    let store = Store::open(&opts).await.unwrap();
    let clock = ManualClock::new(common::t0());
    let state = AppState::new(store, Arc::new(clock.clone()), Config::default());
    let hub = Hub::from_state(state, clock);
    let c = community(&hub).await;

    psql(&url, "ALTER TABLE incidents RENAME TO incidents_away");
    for n in 0..LIMIT + 5 {
        let a = sos(&hub, &c.button, None).await;
        assert_eq!(
            a.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {n}: {}",
            a.body
        );
        let a = keyed(&hub, &c.resident, "page-0001").await;
        assert_eq!(
            a.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {n}: {}",
            a.body
        );
    }
    psql(&url, "ALTER TABLE incidents_away RENAME TO incidents");

    let a = sos(&hub, &c.button, None).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = keyed(&hub, &c.resident, "page-0001").await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let b = keyed(&hub, &c.resident, "page-0001").await;
    assert_eq!(
        (b.status, b.body["outcome"].clone()),
        (StatusCode::OK, json!("replay"))
    );
    hub.state.store.close().await;
}

on_both!(
    a_raise_whose_caller_gave_up_still_has_its_effects,
    |hub: Hub| async move {
        use gridwatch_hub::incidents::intake::{raise_sos, SosCaller};
        let c = community(&hub).await;
        let mut changes = hub.state.incidents.subscribe();
        let button = hub.state.store.device(&c.button_id).await.unwrap();
        // The log is busy: the raise is queued, and waits.
        let hold = gridwatch_store::testing::hold_event_log(&hub.state.store)
            .await
            .unwrap();
        let raise = raise_sos(
            &hub.state.incidents,
            SosCaller::Device(button),
            Default::default(),
            vec![],
            None,
            "test",
        );
        // The caller gives up (a request timing out): its future is dropped.
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(800), raise).await;
        assert!(gave_up.is_err(), "the raise did not wait for the log");
        hold.release().await.unwrap();

        // The raise it queued commits, and what follows a raise still happens: the change is
        // published (to the stream and MQTT) and the new incident counted.
        let changed = tokio::time::timeout(std::time::Duration::from_secs(10), changes.recv())
            .await
            .expect("the committed raise was never published")
            .unwrap();
        assert_eq!(
            changed.events[0].kind,
            gridwatch_core::event::EventType::IncidentRaised
        );
        assert_eq!(
            changed.incident.source.to_string(),
            format!("device:{}", c.button_id)
        );
        let raised = hub
            .state
            .incidents
            .metrics
            .raised
            .with_label_values(&["sos"])
            .get();
        assert_eq!(raised, 1);
        let stored = hub
            .state
            .store
            .incident(&changed.incident.id)
            .await
            .unwrap();
        assert_eq!(stored.id, changed.incident.id);
    }
);

on_both!(
    the_limit_holds_across_two_hub_nodes,
    |hub: Hub| async move {
        let c = community(&hub).await;
        // A second node on the same database, as behind a balancer.
        let second = AppState::new(
            hub.state.store.clone(),
            Arc::new(hub.clock.clone()),
            Config::default(),
        );
        let node2 = Hub::from_state(second, hub.clock.clone());
        let first = sos(&hub, &c.button, None).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        // The presses alternate between the nodes: the caller has LIMIT in all, not per node.
        for n in 1..LIMIT {
            let node = if n % 2 == 0 { &hub } else { &node2 };
            let a = sos(node, &c.button, None).await;
            assert_eq!(a.status, StatusCode::OK, "press {n}: {}", a.body);
            assert_eq!(a.body["incident"]["repeat_count"], n);
        }
        assert_refused_truthfully(&sos(&hub, &c.button, None).await);
        assert_refused_truthfully(&sos(&node2, &c.button, None).await);
        // Once the presses (all made at the same instant) have left the window, the caller
        // may press again, on either node.
        hub.clock.advance(chrono::Duration::seconds(
            gridwatch_hub::incidents::sos_limit::WINDOW_SECONDS,
        ));
        for node in [&node2, &hub] {
            let a = sos(node, &c.button, None).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        }
    }
);
