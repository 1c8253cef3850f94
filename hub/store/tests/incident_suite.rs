//! The incident store, on SQLite and on the real PostgreSQL: raising (repeat presses,
//! idempotency keys), actions under the state machine, the gap-free event log, deadlines that
//! fire once, visibility, and the response report.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use gridwatch_core::change::Raise;
use gridwatch_core::event::Actor;
use gridwatch_core::event::EventType;
use gridwatch_core::incident::{Action, IncidentKind, IncidentState, Source};
use gridwatch_core::report::ReportGroup;
use gridwatch_core::response_check::ResponsePolicy;
use gridwatch_core::routing::RoutedBy;

use gridwatch_core::access::Visibility;
use gridwatch_store::{IncidentFilter, RaiseOutcome, RaiseRequest, Store, StoreError};
use serde_json::json;

use gridwatch_store::on_both;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn min(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn post(store: &Store, name: &str) -> String {
    store
        .create_post(
            from(json!({"name": name, "lat": 26.57, "lon": 107.98})),
            t0(),
        )
        .await
        .unwrap()
        .id
}

async fn grid(store: &Store, name: &str, chain: &[&str]) -> String {
    store
        .create_grid(from(json!({"name": name, "post_chain": chain})), t0())
        .await
        .unwrap()
        .id
}

fn sos(source: Source, grid: &str, chain: &[&str]) -> RaiseRequest {
    RaiseRequest {
        raise: Raise {
            id: gridwatch_core::id::new_id(),
            kind: IncidentKind::Sos,
            source,
            grid_id: Some(grid.into()),
            routed_by: RoutedBy::Device,
            post_chain: chain.iter().map(|s| s.to_string()).collect(),
            policy: ResponsePolicy::default(),
            lat: None,
            lon: None,
            note: None,
            camera_id: None,
            cameras: vec![],
            details: serde_json::Value::Null,
        },
        actor: Actor::device("d1", "http"),
        repeat_window: Some(Duration::seconds(120)),
        idempotency_key: None,
    }
}

fn device(id: &str) -> Source {
    Source::Device(id.into())
}

fn duty() -> Actor {
    Actor::user("duty", "http 10.0.0.1")
}

async fn seqs(store: &Store) -> Vec<i64> {
    store
        .events_since(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

fn ok(_: &gridwatch_core::incident::Incident) -> Result<(), StoreError> {
    Ok(())
}

on_both!(
    raise_dispatches_and_arms_the_timers,
    |store: Store| async move {
        let p1 = post(&store, "p1").await;
        let p2 = post(&store, "p2").await;
        let g = grid(&store, "g", &[&p1, &p2]).await;
        let r = store
            .raise_incident(sos(device("d1"), &g, &[&p1, &p2]), t0())
            .await
            .unwrap();
        assert_eq!(r.outcome, RaiseOutcome::Raised);
        let i = &r.incident;
        assert_eq!(i.state, IncidentState::Dispatched);
        assert_eq!(i.post_id.as_deref(), Some(p1.as_str()));
        assert_eq!(i.deadline_at, min(15));
        assert_eq!(
            store.incident(&i.id).await.unwrap(),
            *i,
            "read back as written"
        );
        let kinds: Vec<_> = r.events.iter().map(|e| (e.seq, e.kind)).collect();
        assert_eq!(
            kinds,
            [
                (1, EventType::IncidentRaised),
                (2, EventType::IncidentDispatched)
            ]
        );
        assert_eq!(r.events[0].actor, "device:d1");
        assert_eq!(store.timeline(&i.id).await.unwrap(), r.events);
        assert_eq!(store.latest_seq().await.unwrap(), 2);
        let d = store.deadlines_of(&i.id).await.unwrap();
        let d: Vec<_> = d
            .iter()
            .map(|d| (d.kind.as_str(), d.due_at, d.fired_at))
            .collect();
        assert_eq!(
            d,
            [
                ("ack_due", min(2), None),
                ("at_risk", min(10), None),
                ("breach", min(15), None)
            ]
        );
        assert_eq!(store.next_deadline().await.unwrap(), Some(min(2)));

        // Times are kept to the millisecond, and answered as kept.
        let odd = t0() + Duration::nanoseconds(1_234_567);
        let r = store
            .raise_incident(sos(device("d3"), &g, &[&p1, &p2]), odd)
            .await
            .unwrap();
        assert_eq!(r.incident.created_at, t0() + Duration::milliseconds(1));
        assert_eq!(store.incident(&r.incident.id).await.unwrap(), r.incident);
        assert_eq!(store.timeline(&r.incident.id).await.unwrap(), r.events);

        // A grid without a chain: raised, waiting for a duty officer.
        let lonely = grid(&store, "lonely", &[]).await;
        let r = store
            .raise_incident(sos(device("d2"), &lonely, &[]), t0())
            .await
            .unwrap();
        assert_eq!(r.incident.state, IncidentState::Raised);
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].seq, 5);
    }
);

on_both!(
    repeat_presses_and_idempotency_keys,
    |store: Store| async move {
        let p1 = post(&store, "p1").await;
        let g = grid(&store, "g", &[&p1]).await;
        let first = store
            .raise_incident(sos(device("d1"), &g, &[&p1]), t0())
            .await
            .unwrap();
        let id = first.incident.id.clone();

        // Within 120 s of the last press: the same incident, urgent, the press recorded.
        let mut again = sos(device("d1"), &g, &[&p1]);
        again.raise.lat = Some(26.5);
        again.raise.lon = Some(107.9);
        let r = store
            .raise_incident(again, t0() + Duration::seconds(100))
            .await
            .unwrap();
        assert_eq!(r.outcome, RaiseOutcome::Repeated);
        assert_eq!(r.incident.id, id);
        assert!(r.incident.urgent);
        assert_eq!(r.incident.repeat_count, 1);
        assert_eq!(r.incident.lat, Some(26.5));
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].kind, EventType::IncidentRepeat);
        // The window runs from the latest press: 100 s + 110 s is still the same call.
        let r = store
            .raise_incident(sos(device("d1"), &g, &[&p1]), t0() + Duration::seconds(210))
            .await
            .unwrap();
        assert_eq!(
            (r.outcome, r.incident.repeat_count),
            (RaiseOutcome::Repeated, 2)
        );
        // Another caller is another incident.
        let other = store
            .raise_incident(sos(device("d2"), &g, &[&p1]), t0())
            .await
            .unwrap();
        assert_eq!(other.outcome, RaiseOutcome::Raised);
        // More than 120 s after the last press: a new incident.
        let late = store
            .raise_incident(sos(device("d1"), &g, &[&p1]), t0() + Duration::seconds(331))
            .await
            .unwrap();
        assert_eq!(late.outcome, RaiseOutcome::Raised);
        assert_ne!(late.incident.id, id);
        // A closed incident is never repeated onto.
        store
            .act_on_incident(
                &late.incident.id,
                &Action::Cancel {
                    reason: "误报".into(),
                },
                &duty(),
                None,
                min(6),
                ok,
            )
            .await
            .unwrap();
        let fresh = store
            .raise_incident(sos(device("d1"), &g, &[&p1]), min(6))
            .await
            .unwrap();
        assert_eq!(fresh.outcome, RaiseOutcome::Raised);

        // Idempotency keys: the same key of the same caller replays, recording nothing.
        let mut keyed = sos(device("d9"), &g, &[&p1]);
        keyed.idempotency_key = Some("k-1".into());
        keyed.repeat_window = None;
        let a = store.raise_incident(keyed.clone(), min(7)).await.unwrap();
        let seq = store.latest_seq().await.unwrap();
        let mut retry = keyed.clone();
        retry.raise.id = gridwatch_core::id::new_id();
        let b = store.raise_incident(retry, min(8)).await.unwrap();
        assert_eq!(
            (b.outcome, &b.incident),
            (RaiseOutcome::Replayed, &a.incident)
        );
        assert!(b.events.is_empty());
        assert_eq!(store.latest_seq().await.unwrap(), seq);
        // The key is the caller's own: another caller's same key is another incident.
        let mut other = keyed.clone();
        other.raise.id = gridwatch_core::id::new_id();
        other.raise.source = device("d10");
        let c = store.raise_incident(other, min(8)).await.unwrap();
        assert_eq!(c.outcome, RaiseOutcome::Raised);
        assert_eq!(store.purge_idempotency_keys(min(8)).await.unwrap(), 1);
        assert_eq!(store.purge_idempotency_keys(min(9)).await.unwrap(), 1);
        // The log has no gaps.
        let s = seqs(&store).await;
        assert_eq!(s, (1..=s.len() as i64).collect::<Vec<_>>());
    }
);

on_both!(
    ten_simultaneous_presses_make_one_incident,
    |store: Store| async move {
        let p1 = post(&store, "p1").await;
        let g = grid(&store, "g", &[&p1]).await;
        let presses = (0..10).map(|i| {
            let store = store.clone();
            let req = sos(device("panicky"), &g, &[&p1]);
            async move {
                store
                    .raise_incident(req, t0() + Duration::milliseconds(i))
                    .await
                    .unwrap()
            }
        });
        let all = futures_join(presses).await;
        let ids: std::collections::HashSet<_> = all.iter().map(|r| r.incident.id.clone()).collect();
        assert_eq!(ids.len(), 1, "one incident");
        assert_eq!(
            all.iter()
                .filter(|r| r.outcome == RaiseOutcome::Raised)
                .count(),
            1
        );
        let id = ids.into_iter().next().unwrap();
        let i = store.incident(&id).await.unwrap();
        assert!(i.urgent);
        assert_eq!(i.repeat_count, 9);
        let t = store.timeline(&id).await.unwrap();
        assert_eq!(
            t.iter()
                .filter(|e| e.kind == EventType::IncidentRepeat)
                .count(),
            9
        );
        assert_eq!(seqs(&store).await, (1..=11).collect::<Vec<_>>());
    }
);

/// Runs futures concurrently (without depending on the futures crate).
async fn futures_join<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = vec![];
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

on_both!(
    actions_follow_the_state_machine,
    |store: Store| async move {
        let p1 = post(&store, "p1").await;
        let p2 = post(&store, "p2").await;
        let g = grid(&store, "g", &[&p1, &p2]).await;
        let id = store
            .raise_incident(sos(device("d1"), &g, &[&p1, &p2]), t0())
            .await
            .unwrap()
            .incident
            .id;

        let a = store
            .act_on_incident(&id, &Action::Acknowledge, &duty(), None, min(1), ok)
            .await
            .unwrap();
        assert_eq!(a.incident.state, IncidentState::Acknowledged);
        assert_eq!(a.events[0].kind, EventType::IncidentAcknowledged);
        assert_eq!(
            (a.events[0].actor.as_str(), a.events[0].origin.as_str()),
            ("user:duty", "http 10.0.0.1")
        );
        let kinds: Vec<_> = store
            .deadlines_of(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.kind)
            .collect();
        assert_eq!(
            kinds,
            ["at_risk", "breach"],
            "the acknowledgement timer is disarmed"
        );

        // Acknowledging twice is a 409 naming the state; nothing is written.
        let seq = store.latest_seq().await.unwrap();
        match store
            .act_on_incident(&id, &Action::Acknowledge, &duty(), None, min(1), ok)
            .await
        {
            Err(StoreError::IllegalTransition(e)) => {
                assert_eq!(e.state, IncidentState::Acknowledged)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.latest_seq().await.unwrap(), seq);

        // The guard sees the incident and may refuse.
        let r = store
            .act_on_incident(&id, &Action::EnRoute, &duty(), None, min(2), |i| {
                assert_eq!(i.state, IncidentState::Acknowledged);
                Err(StoreError::NotAllowed("not yours".into()))
            })
            .await;
        assert!(matches!(r, Err(StoreError::NotAllowed(_))), "{r:?}");

        // Redirect to an unknown post: bad input. To a real one: dispatched again, timer re-armed.
        let r = store
            .act_on_incident(
                &id,
                &Action::Dispatch {
                    post_id: "nope".into(),
                },
                &duty(),
                None,
                min(2),
                ok,
            )
            .await;
        assert!(
            matches!(r, Err(StoreError::Invalid(ref e)) if e.field == "post_id"),
            "{r:?}"
        );
        let a = store
            .act_on_incident(
                &id,
                &Action::Dispatch {
                    post_id: p2.clone(),
                },
                &duty(),
                None,
                min(3),
                ok,
            )
            .await
            .unwrap();
        assert_eq!(
            (a.incident.state, a.incident.chain_position),
            (IncidentState::Dispatched, Some(1))
        );
        let ack = store
            .deadlines_of(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.kind == "ack_due")
            .unwrap();
        assert_eq!((ack.due_at, ack.fired_at), (min(5), None));

        let extra = json!({"lat": 26.5, "lon": 107.9});
        let a = store
            .act_on_incident(&id, &Action::Arrive, &duty(), Some(&extra), min(9), ok)
            .await
            .unwrap();
        assert_eq!(a.incident.on_scene_at, Some(min(9)));
        assert_eq!(a.events[0].data["lat"], 26.5);
        assert!(
            store.deadlines_of(&id).await.unwrap().is_empty(),
            "nothing left to fire"
        );
        let r = store
            .act_on_incident(
                &id,
                &Action::Resolve { note: " ".into() },
                &duty(),
                None,
                min(10),
                ok,
            )
            .await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
        let a = store
            .act_on_incident(
                &id,
                &Action::Resolve {
                    note: "已调解".into(),
                },
                &duty(),
                None,
                min(10),
                ok,
            )
            .await
            .unwrap();
        assert_eq!(a.incident.state, IncidentState::Resolved);
        assert_eq!(a.incident.resolved_at, Some(min(10)));
        let r = store
            .act_on_incident(
                &id,
                &Action::Cancel { reason: "x".into() },
                &duty(),
                None,
                min(11),
                ok,
            )
            .await;
        assert!(matches!(r, Err(StoreError::IllegalTransition(_))), "{r:?}");
        assert!(matches!(
            store
                .act_on_incident("nope", &Action::Acknowledge, &duty(), None, min(11), ok)
                .await,
            Err(StoreError::NotFound { .. })
        ));

        let timeline: Vec<_> = store
            .timeline(&id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        use EventType as E;
        assert_eq!(
            timeline,
            [
                E::IncidentRaised,
                E::IncidentDispatched,
                E::IncidentAcknowledged,
                E::IncidentDispatched,
                E::IncidentOnScene,
                E::IncidentResolved
            ]
        );
    }
);

on_both!(
    deadlines_fire_once_and_walk_the_chain,
    |store: Store| async move {
        let p1 = post(&store, "p1").await;
        let p2 = post(&store, "p2").await;
        let g = grid(&store, "g", &[&p1, &p2]).await;
        let id = store
            .raise_incident(sos(device("d1"), &g, &[&p1, &p2]), t0())
            .await
            .unwrap()
            .incident
            .id;
        assert!(store.due_deadlines(min(1), 100).await.unwrap().is_empty());
        let due = store.due_deadlines(min(2), 100).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].kind.as_str(), due[0].due_at), ("ack_due", min(2)));
        // Not due yet: nothing to claim.
        assert!(store
            .fire_deadline(&id, "ack_due", min(1))
            .await
            .unwrap()
            .is_none());
        let f = store
            .fire_deadline(&id, "ack_due", min(2))
            .await
            .unwrap()
            .expect("fired");
        assert_eq!(f.events.len(), 1);
        assert_eq!(f.events[0].kind, EventType::IncidentEscalated);
        assert_eq!(f.events[0].actor, "system");
        assert_eq!(f.events[0].origin, "timer");
        assert_eq!(f.incident.post_id.as_deref(), Some(p2.as_str()));
        assert_eq!(store.incident(&id).await.unwrap(), f.incident);
        // Re-armed for p2: the same row, pending again, due two minutes on.
        let ack = store
            .deadlines_of(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.kind == "ack_due")
            .unwrap();
        assert_eq!((ack.due_at, ack.fired_at), (min(4), None));
        assert!(
            store
                .fire_deadline(&id, "ack_due", min(2))
                .await
                .unwrap()
                .is_none(),
            "fires once"
        );

        // Overdue: counted, the earliest named.
        let (n, oldest) = store.overdue_deadlines(min(11)).await.unwrap();
        assert_eq!(n, 2);
        assert_eq!(oldest.unwrap().kind, "ack_due");
        let f = store
            .fire_deadline(&id, "ack_due", min(11))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.events[0].data["target"], "duty_officers");
        let f = store
            .fire_deadline(&id, "at_risk", min(11))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.events[0].kind, EventType::IncidentAtRisk);
        assert_eq!(store.overdue_deadlines(min(11)).await.unwrap().0, 0);
        assert_eq!(store.next_deadline().await.unwrap(), Some(min(15)));

        // A stale timer fires harmlessly: claimed, nothing recorded.
        store
            .act_on_incident(&id, &Action::Arrive, &duty(), None, min(12), ok)
            .await
            .unwrap();
        assert!(
            store.due_deadlines(min(60), 10).await.unwrap().is_empty(),
            "arrival disarms"
        );
        let seq = store.latest_seq().await.unwrap();
        let s = seqs(&store).await;
        assert_eq!(s, (1..=seq).collect::<Vec<_>>());
    }
);

/// Two stores (two hub processes) on one PostgreSQL database race for every deadline; each
/// fires once, and the log stays gap-free.
#[tokio::test]
async fn two_stores_on_one_postgres_fire_each_deadline_once() {
    let url = gridwatch_store::testing::fresh_postgres_url()
        .await
        .unwrap();
    let mut opts = gridwatch_store::StoreOptions::new(url);
    opts.max_connections = 4;
    let a = Store::open(&opts).await.unwrap();
    let b = Store::open(&opts).await.unwrap();
    let p1 = post(&a, "p1").await;
    let p2 = post(&a, "p2").await;
    let g = grid(&a, "g", &[&p1, &p2]).await;
    for i in 0..20 {
        a.raise_incident(sos(device(&format!("d{i}")), &g, &[&p1, &p2]), t0())
            .await
            .unwrap();
    }
    let fire_all = |s: Store| async move {
        let mut fired = 0;
        for d in s.due_deadlines(min(16), 1000).await.unwrap() {
            if s.fire_deadline(&d.incident_id, &d.kind, min(16))
                .await
                .unwrap()
                .is_some()
            {
                fired += 1;
            }
        }
        fired
    };
    let (x, y) = tokio::join!(fire_all(a.clone()), fire_all(b.clone()));
    // Per incident: ack_due, at_risk, breach; the re-armed ack_due is due at 18 min.
    assert_eq!(x + y, 60, "{x} + {y}");
    let events = a.events_since(0, 10_000).await.unwrap();
    let count = |k: EventType| events.iter().filter(|e| e.kind == k).count();
    assert_eq!(count(EventType::IncidentAtRisk), 20);
    assert_eq!(count(EventType::IncidentBreached), 20);
    assert_eq!(
        count(EventType::IncidentEscalated),
        40,
        "to p2, then to the supervisor"
    );
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    a.close().await;
    b.close().await;
}

on_both!(lists_show_each_role_its_own, |store: Store| async move {
    let p1 = post(&store, "p1").await;
    let p2 = post(&store, "p2").await;
    let p3 = post(&store, "p3").await;
    let g1 = grid(&store, "g1", &[&p1, &p2]).await;
    let g2 = grid(&store, "g2", &[&p3]).await;
    let r = |s: Source, g: &str, chain: &[&str], at| {
        let store = store.clone();
        let mut req = sos(s, g, chain);
        req.repeat_window = None;
        async move { store.raise_incident(req, at).await.unwrap().incident }
    };
    let a = r(Source::Resident("u1".into()), &g1, &[&p1, &p2], min(0)).await;
    let b = r(Source::Resident("u2".into()), &g2, &[&p3], min(1)).await;
    let c = r(device("d1"), &g2, &[&p3], min(2)).await;
    // p1 now also gets c, by a duty officer's redirect.
    store
        .act_on_incident(
            &c.id,
            &Action::Dispatch {
                post_id: p1.clone(),
            },
            &duty(),
            None,
            min(3),
            ok,
        )
        .await
        .unwrap();
    store
        .act_on_incident(
            &b.id,
            &Action::Cancel {
                reason: "误报".into(),
            },
            &duty(),
            None,
            min(3),
            ok,
        )
        .await
        .unwrap();

    let ids = |v: Vec<gridwatch_core::incident::Incident>| {
        v.into_iter().map(|i| i.id).collect::<Vec<_>>()
    };
    let list = |f: IncidentFilter| {
        let store = store.clone();
        async move { ids(store.incidents(&f).await.unwrap()) }
    };
    assert_eq!(
        list(IncidentFilter::new(Visibility::All)).await,
        [c.id.clone(), b.id.clone(), a.id.clone()]
    );
    // p1 sees its grid's incident and the one redirected to it; p2 (second in g1's chain) sees g1's.
    assert_eq!(
        list(IncidentFilter::new(Visibility::Post(p1.clone()))).await,
        [c.id.clone(), a.id.clone()]
    );
    assert_eq!(
        list(IncidentFilter::new(Visibility::Post(p2.clone()))).await,
        vec![a.id.clone()]
    );
    assert_eq!(
        list(IncidentFilter::new(Visibility::Post(p3.clone()))).await,
        [c.id.clone(), b.id.clone()]
    );
    assert_eq!(
        list(IncidentFilter::new(Visibility::RaisedBy(Source::Resident(
            "u2".into()
        ))))
        .await,
        vec![b.id.clone()]
    );
    assert!(list(IncidentFilter::new(Visibility::Nothing))
        .await
        .is_empty());

    let mut f = IncidentFilter::new(Visibility::All);
    f.states = Some(IncidentState::OPEN.to_vec());
    assert_eq!(list(f.clone()).await, [c.id.clone(), a.id.clone()]);
    f.grid_id = Some(g2.clone());
    assert_eq!(list(f.clone()).await, vec![c.id.clone()]);
    let mut f = IncidentFilter::new(Visibility::Post(p3.clone()));
    f.since = Some(min(2));
    assert_eq!(list(f.clone()).await, vec![c.id.clone()]);
    let mut f = IncidentFilter::new(Visibility::All);
    f.limit = 2;
    assert_eq!(list(f).await, [c.id.clone(), b.id.clone()]);

    // One incident, through the same filter.
    assert_eq!(
        store
            .visible_incident(&a.id, &Visibility::Post(p2.clone()))
            .await
            .unwrap()
            .id,
        a.id
    );
    for v in [
        Visibility::Post(p3.clone()),
        Visibility::RaisedBy(Source::Resident("u2".into())),
        Visibility::Nothing,
    ] {
        assert!(
            matches!(
                store.visible_incident(&a.id, &v).await,
                Err(StoreError::NotFound { .. })
            ),
            "{v:?}"
        );
    }
});

on_both!(
    report_figures_on_a_known_data_set,
    |store: Store| async move {
        let p1 = post(&store, "清江警务室").await;
        let p2 = post(&store, "网格员一队").await;
        let g1 = grid(&store, "一网格", &[&p1]).await;
        let g2 = grid(&store, "Grid, \"B\"", &[&p2]).await;
        // (grid, chain, raised at minute, on scene after seconds)
        let data: [(&str, &str, i64, Option<i64>); 6] = [
            (&g1, &p1, 0, Some(600)),
            (&g1, &p1, 5, Some(300)),
            (&g1, &p1, 10, Some(1200)),
            (&g1, &p1, 20, None),
            (&g1, &p1, 30, Some(900)),
            (&g2, &p2, 24 * 60, Some(240)), // the next day
        ];
        for (i, (g, p, start, took)) in data.into_iter().enumerate() {
            let mut req = sos(device(&format!("d{i}")), g, &[p]);
            req.repeat_window = None;
            let created = min(start);
            let id = store
                .raise_incident(req, created)
                .await
                .unwrap()
                .incident
                .id;
            if let Some(s) = took {
                store
                    .act_on_incident(
                        &id,
                        &Action::Arrive,
                        &duty(),
                        None,
                        created + Duration::seconds(s),
                        ok,
                    )
                    .await
                    .unwrap();
            }
        }
        // Cancelled ones are left out; so are those outside the period.
        let mut req = sos(device("x"), &g1, &[&p1]);
        req.repeat_window = None;
        let id = store
            .raise_incident(req, min(40))
            .await
            .unwrap()
            .incident
            .id;
        store
            .act_on_incident(
                &id,
                &Action::Cancel {
                    reason: "误报".into(),
                },
                &duty(),
                None,
                min(41),
                ok,
            )
            .await
            .unwrap();
        let mut req = sos(device("y"), &g1, &[&p1]);
        req.repeat_window = None;
        store.raise_incident(req, min(-1)).await.unwrap();

        let utc = FixedOffset::east_opt(0).unwrap();
        let rows = store
            .response_report(
                t0(),
                min(3 * 24 * 60),
                ReportGroup::Grid,
                utc,
                min(3 * 24 * 60),
            )
            .await
            .unwrap();
        let keys: Vec<_> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["Grid, \"B\"", "一网格"]);
        let g = &rows[1];
        assert_eq!((g.incidents, g.on_scene, g.within_deadline), (5, 4, 3));
        assert_eq!(g.within_deadline_ratio, Some(0.6));
        assert_eq!(
            (g.median_seconds, g.p90_seconds),
            (Some(750.0), Some(1110.0))
        );

        let rows = store
            .response_report(
                t0(),
                min(3 * 24 * 60),
                ReportGroup::Post,
                utc,
                min(3 * 24 * 60),
            )
            .await
            .unwrap();
        let keys: Vec<_> = rows.iter().map(|r| (r.key.as_str(), r.incidents)).collect();
        assert_eq!(keys, [("清江警务室", 5), ("网格员一队", 1)]);

        let rows = store
            .response_report(
                t0(),
                min(3 * 24 * 60),
                ReportGroup::Day,
                utc,
                min(3 * 24 * 60),
            )
            .await
            .unwrap();
        let keys: Vec<_> = rows.iter().map(|r| (r.key.as_str(), r.incidents)).collect();
        assert_eq!(keys, [("2026-11-26", 5), ("2026-11-27", 1)]);
        // Days in Beijing time: 08:00 UTC is 16:00 the same day, the next day's 08:00 likewise.
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let rows = store
            .response_report(
                t0(),
                min(3 * 24 * 60),
                ReportGroup::Day,
                cst,
                min(3 * 24 * 60),
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        // Nothing in an empty period.
        assert!(store
            .response_report(min(-60), min(-30), ReportGroup::Grid, utc, min(-30))
            .await
            .unwrap()
            .is_empty());
    }
);

on_both!(
    incidents_are_read_by_id_many_at_once,
    |store: Store| async move {
        let p1 = post(&store, "p1").await;
        let g = grid(&store, "g", &[&p1]).await;
        let mut raised = Vec::new();
        for d in ["d1", "d2", "d3"] {
            let r = store
                .raise_incident(sos(device(d), &g, &[&p1]), t0())
                .await
                .unwrap();
            raised.push(r.incident.id);
        }
        // More ids than one statement takes (200): the known ones in different chunks,
        // unknown ones left out.
        let mut ids: Vec<String> = (0..300).map(|n| format!("unknown-{n}")).collect();
        ids[5] = raised[0].clone();
        ids[250] = raised[2].clone();
        let mut found: Vec<String> = store
            .incidents_by_id(&ids)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        found.sort();
        let mut want = vec![raised[0].clone(), raised[2].clone()];
        want.sort();
        assert_eq!(found, want);
        assert!(store.incidents_by_id(&[]).await.unwrap().is_empty());
        // As read one by one.
        let one = store.incident(&raised[1]).await.unwrap();
        let many = store
            .incidents_by_id(std::slice::from_ref(&raised[1]))
            .await
            .unwrap();
        assert_eq!(many, vec![one]);
    }
);

on_both!(
    a_receipt_is_recorded_once_per_dispatch_and_post,
    |store: Store| async move {
        let p1 = post(&store, "p1").await;
        let g = grid(&store, "g", &[&p1]).await;
        let raised = store
            .raise_incident(sos(device("d1"), &g, &[&p1]), t0())
            .await
            .unwrap();
        let id = raised.incident.id.clone();
        let dispatch = raised.events.last().unwrap().seq;
        let actor = Actor::user("u1", "stream node n1");
        let first = store
            .record_delivery(&id, dispatch, &p1, &actor, min(1))
            .await
            .unwrap()
            .expect("recorded");
        assert_eq!(first.kind, EventType::IncidentDelivered);
        assert_eq!(first.seq, dispatch + 1);
        assert_eq!(first.data, json!({"post_id": p1, "dispatch_seq": dispatch}));
        assert_eq!(store.event(first.seq).await.unwrap().as_ref(), Some(&first));
        // The same receipt from another console of the post records nothing.
        let again = store
            .record_delivery(&id, dispatch, &p1, &actor, min(1))
            .await
            .unwrap();
        assert!(again.is_none());
        // A repeat does not wait for the event log's lock (every incident write does): held
        // by another transaction, the repeat is still answered at once.
        let hold = gridwatch_store::testing::hold_event_log(&store)
            .await
            .unwrap();
        let repeat = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            store.record_delivery(&id, dispatch, &p1, &actor, min(1)),
        )
        .await
        .expect("a repeated receipt answered while the log is held")
        .unwrap();
        assert!(repeat.is_none());
        hold.release().await.unwrap();
        // Another post's receipt of it is its own.
        assert!(store
            .record_delivery(&id, dispatch, "p9", &actor, min(1))
            .await
            .unwrap()
            .is_some());
        assert_eq!(seqs(&store).await, (1..=dispatch + 2).collect::<Vec<_>>());
    }
);
