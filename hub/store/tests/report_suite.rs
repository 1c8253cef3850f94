//! The response report's choice of incidents, on SQLite and on the real PostgreSQL: which
//! cancelled incidents are left out (only those cancelled before their deadline without a
//! breach) and which open ones are pending (nobody on scene, deadline still ahead of the
//! report's `now`). The figures themselves are unit-tested in `gridwatch_core::report`.
//!
//! Rows are compared as the JSON the API serves, so that a field added or a figure changed
//! shows here as a whole row.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use gridwatch_core::change::Raise;
use gridwatch_core::event::Actor;
use gridwatch_core::incident::{Action, IncidentKind, Source};
use gridwatch_core::report::ReportGroup;
use gridwatch_core::response_check::ResponsePolicy;
use gridwatch_core::routing::RoutedBy;
use gridwatch_store::{on_both, RaiseRequest, Store, StoreError};
use serde_json::{json, Value};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn min(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).unwrap()
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn ok(_: &gridwatch_core::incident::Incident) -> Result<(), StoreError> {
    Ok(())
}

fn duty() -> Actor {
    Actor::user("duty", "http 10.0.0.1")
}

/// A post, and a grid of that name whose chain is the post; returns the grid's and the
/// post's ids.
async fn grid(store: &Store, name: &str) -> (String, String) {
    let post = store
        .create_post(
            from(json!({"name": format!("{name}警务室"), "lat": 26.57, "lon": 107.98})),
            t0(),
        )
        .await
        .unwrap()
        .id;
    let grid = store
        .create_grid(from(json!({"name": name, "post_chain": [post]})), t0())
        .await
        .unwrap()
        .id;
    (grid, post)
}

/// Raises an SOS from a device of its own in `grid` at `at` (15-minute deadline), dispatched
/// to `post`; returns its id.
async fn raise(store: &Store, (grid, post): &(String, String), at: DateTime<Utc>) -> String {
    let req = RaiseRequest {
        raise: Raise {
            id: gridwatch_core::id::new_id(),
            kind: IncidentKind::Sos,
            source: Source::Device(gridwatch_core::id::new_id()),
            grid_id: Some(grid.clone()),
            routed_by: RoutedBy::Device,
            post_chain: vec![post.clone()],
            policy: ResponsePolicy::default(),
            lat: None,
            lon: None,
            note: None,
            camera_id: None,
            cameras: vec![],
            details: Value::Null,
        },
        actor: Actor::device("d1", "http"),
        repeat_window: None,
        idempotency_key: None,
    };
    store.raise_incident(req, at).await.unwrap().incident.id
}

async fn act(store: &Store, id: &str, action: Action, at: DateTime<Utc>) {
    store
        .act_on_incident(id, &action, &duty(), None, at, ok)
        .await
        .unwrap();
}

async fn arrive(store: &Store, id: &str, at: DateTime<Utc>) {
    act(store, id, Action::Arrive, at).await;
}

async fn cancel(store: &Store, id: &str, at: DateTime<Utc>) {
    let reason = "住户取消".to_string();
    act(store, id, Action::Cancel { reason }, at).await;
}

fn rows_json(rows: &[gridwatch_core::report::ReportRow]) -> Value {
    serde_json::to_value(rows).unwrap()
}

on_both!(
    a_cancel_after_the_deadline_is_a_broken_promise,
    |store: Store| async move {
        let g = grid(&store, "一网格").await;
        // Left out: cancelled before the deadline (minute 15) with no breach.
        let false_alarm = raise(&store, &g, min(0)).await;
        cancel(&store, &false_alarm, min(5)).await;
        let sent_home = raise(&store, &g, min(0)).await;
        arrive(&store, &sent_home, min(5)).await;
        cancel(&store, &sent_home, min(8)).await;

        // Missed: nobody came, and the resident gave up at minute 20 before the response
        // check had run (no breach recorded).
        let gave_up = raise(&store, &g, min(0)).await;
        cancel(&store, &gave_up, min(20)).await;
        // Missed: breached at minute 15, then closed by an officer at minute 20.
        let closed = raise(&store, &g, min(0)).await;
        let fired = store
            .fire_deadline(&closed, "breach", min(15))
            .await
            .unwrap()
            .expect("the breach fires");
        assert_eq!(fired.incident.breached_at, Some(min(15)));
        cancel(&store, &closed, min(20)).await;
        // Missed: cancelled at the very second of the deadline, not before it.
        let at_deadline = raise(&store, &g, min(0)).await;
        cancel(&store, &at_deadline, min(15)).await;
        // Kept: someone on scene at minute 10, cancelled afterwards.
        let reached = raise(&store, &g, min(0)).await;
        arrive(&store, &reached, min(10)).await;
        cancel(&store, &reached, min(20)).await;

        let rows = store
            .response_report(
                min(-60),
                min(24 * 60),
                ReportGroup::Grid,
                utc(),
                min(24 * 60),
            )
            .await
            .unwrap();
        assert_eq!(
            rows_json(&rows),
            json!([{"key": "一网格", "incidents": 4, "on_scene": 1, "within_deadline": 1,
                    "within_deadline_ratio": 0.25, "median_seconds": 600.0,
                    "p90_seconds": 600.0, "pending": 0, "reached_by": {}}])
        );

        // Another post of the same name whose only incident is left out: the name is not
        // ambiguous in the report, so the key carries no id.
        let twin = store
            .create_post(
                from(json!({"name": "一网格警务室", "lat": 26.57, "lon": 107.98})),
                t0(),
            )
            .await
            .unwrap()
            .id;
        let other = store
            .create_grid(from(json!({"name": "二网格", "post_chain": [twin]})), t0())
            .await
            .unwrap()
            .id;
        let false_alarm = raise(&store, &(other, twin), min(0)).await;
        cancel(&store, &false_alarm, min(5)).await;
        let rows = store
            .response_report(
                min(-60),
                min(24 * 60),
                ReportGroup::Post,
                utc(),
                min(24 * 60),
            )
            .await
            .unwrap();
        let keys: Vec<_> = rows.iter().map(|r| (r.key.as_str(), r.incidents)).collect();
        assert_eq!(keys, [("一网格警务室", 4)]);
    }
);

on_both!(
    open_incidents_not_yet_due_are_pending,
    |store: Store| async move {
        let g1 = grid(&store, "一网格").await;
        let g2 = grid(&store, "二网格").await;
        // Decided: reached in 5 minutes; nobody came and the deadline (minute -5) is past.
        let reached = raise(&store, &g1, min(-20)).await;
        arrive(&store, &reached, min(-15)).await;
        raise(&store, &g1, min(-20)).await;
        // Reached before a deadline still ahead: decided, kept.
        let early = raise(&store, &g1, min(0)).await;
        arrive(&store, &early, min(4)).await;
        // Pending at minute 5: nobody on scene yet, due at minutes 16 and 17.
        raise(&store, &g1, min(1)).await;
        raise(&store, &g1, min(2)).await;
        // A grid with nothing due yet: no ratio to give.
        raise(&store, &g2, min(3)).await;

        // The period that ends now (the HTTP default `to`).
        let rows = store
            .response_report(min(-60), min(5), ReportGroup::Grid, utc(), min(5))
            .await
            .unwrap();
        assert_eq!(
            rows_json(&rows),
            json!([
                {"key": "一网格", "incidents": 3, "on_scene": 2, "within_deadline": 2,
                 "within_deadline_ratio": 2.0 / 3.0, "median_seconds": 270.0,
                 "p90_seconds": 294.0, "pending": 2, "reached_by": {}},
                {"key": "二网格", "incidents": 0, "on_scene": 0, "within_deadline": 0,
                 "within_deadline_ratio": null, "median_seconds": null, "p90_seconds": null,
                 "pending": 1, "reached_by": {}},
            ])
        );
    }
);
on_both!(
    pending_is_judged_at_now_not_at_the_end_of_the_period,
    |store: Store| async move {
        let g = grid(&store, "一网格").await;
        let reached = raise(&store, &g, min(0)).await;
        arrive(&store, &reached, min(4)).await;
        raise(&store, &g, min(1)).await; // due at minute 16
        raise(&store, &g, min(2)).await; // due at minute 17
        let report = |now: DateTime<Utc>| {
            let store = store.clone();
            async move {
                let rows = store
                    .response_report(min(-60), min(5), ReportGroup::Grid, utc(), now)
                    .await
                    .unwrap();
                let r = &rows[0];
                (r.incidents, r.within_deadline, r.pending)
            }
        };
        assert_eq!(report(min(5)).await, (1, 1, 2));
        // At the very second of the first deadline the promise is broken (the breach fires
        // then); the second is still pending.
        assert_eq!(report(min(16)).await, (2, 1, 1));
        // A period that ended earlier, read an hour later: both deadlines have passed
        // although they fall after the period's end.
        assert_eq!(report(min(60)).await, (3, 1, 0));
    }
);
