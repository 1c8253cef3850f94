//! Group commit of raises, on SQLite and on the real PostgreSQL: many presses at once are
//! committed together, yet each is judged as if alone — one incident per caller, repeat
//! presses and replayed keys recognised within a batch, a failing raise failing alone, and a
//! gap-free log.

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::change::Raise;
use gridwatch_core::event::Actor;
use gridwatch_core::incident::{IncidentKind, Source};
use gridwatch_core::response_check::ResponsePolicy;
use gridwatch_core::routing::RoutedBy;
use gridwatch_store::{on_both, RaiseOutcome, RaiseRequest, Store, StoreError};
use serde_json::json;
use std::collections::HashMap;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn sos(caller: &str, grid: &str, post: &str, key: Option<&str>) -> RaiseRequest {
    RaiseRequest {
        raise: Raise {
            id: gridwatch_core::id::new_id(),
            kind: IncidentKind::Sos,
            source: Source::Device(caller.into()),
            grid_id: Some(grid.into()),
            routed_by: RoutedBy::Device,
            post_chain: vec![post.into()],
            policy: ResponsePolicy::default(),
            lat: None,
            lon: None,
            note: None,
            camera_id: None,
            cameras: vec![],
            details: serde_json::Value::Null,
        },
        actor: Actor::device(caller, "http"),
        repeat_window: Some(Duration::seconds(120)),
        idempotency_key: key.map(str::to_owned),
    }
}

on_both!(
    presses_at_once_are_each_judged_alone,
    |store: Store| async move {
        let post = store
            .create_post(
                serde_json::from_value(json!({"name": "p", "lat": 26.5, "lon": 107.9})).unwrap(),
                t0(),
            )
            .await
            .unwrap()
            .id;
        let grid = store
            .create_grid(
                serde_json::from_value(json!({"name": "g", "post_chain": [post]})).unwrap(),
                t0(),
            )
            .await
            .unwrap()
            .id;
        let first = store
            .raise_incident(sos("first", &grid, &post, None), t0())
            .await
            .unwrap();
        // 40 callers press three times each, all at once; the first ten send one
        // Idempotency-Key with every press. One more raise reuses an incident id and must fail
        // without taking the others down with it.
        let mut tasks = vec![];
        for press in 0..3 {
            for c in 0..40 {
                let key = (c < 10).then_some("k");
                let req = sos(&format!("c{c}"), &grid, &post, key);
                let store = store.clone();
                let at = t0() + Duration::milliseconds(1 + press);
                tasks.push((
                    format!("c{c}"),
                    tokio::spawn(async move { store.raise_incident(req, at).await }),
                ));
            }
            if press == 1 {
                let mut dup = sos("dup", &grid, &post, None);
                dup.raise.id = first.incident.id.clone();
                let store = store.clone();
                tasks.push((
                    "dup".into(),
                    tokio::spawn(async move { store.raise_incident(dup, t0()).await }),
                ));
            }
        }
        let mut by_caller: HashMap<String, Vec<(RaiseOutcome, String)>> = HashMap::new();
        for (caller, task) in tasks {
            match task.await.unwrap() {
                Ok(r) => by_caller
                    .entry(caller)
                    .or_default()
                    .push((r.outcome, r.incident.id)),
                Err(e) => {
                    assert_eq!(caller, "dup", "{caller}: {e}");
                    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
                }
            }
        }
        assert!(
            !by_caller.contains_key("dup"),
            "a raise over an existing id"
        );
        assert_eq!(by_caller.len(), 40);
        for (caller, answers) in &by_caller {
            let n = |o: RaiseOutcome| answers.iter().filter(|(x, _)| *x == o).count();
            let keyed = caller.trim_start_matches('c').parse::<u32>().unwrap() < 10;
            let expected = if keyed { (1, 0, 2) } else { (1, 2, 0) };
            assert_eq!(
                (
                    n(RaiseOutcome::Raised),
                    n(RaiseOutcome::Repeated),
                    n(RaiseOutcome::Replayed)
                ),
                expected,
                "{caller}"
            );
            assert!(
                answers.iter().all(|(_, id)| *id == answers[0].1),
                "{caller}"
            );
            let i = store.incident(&answers[0].1).await.unwrap();
            assert_eq!(i.repeat_count, if keyed { 0 } else { 2 }, "{caller}");
            assert!(i.post_id.is_some());
        }
        let mut filter =
            gridwatch_store::IncidentFilter::new(gridwatch_core::access::Visibility::All);
        filter.limit = 1000;
        assert_eq!(store.incidents(&filter).await.unwrap().len(), 41);
        // raised + dispatched for 41 incidents, and 60 repeats: 142 events, numbered 1..=142.
        let seqs: Vec<i64> = store
            .events_since(0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=142).collect::<Vec<_>>());
    }
);
