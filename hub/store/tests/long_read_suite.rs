//! Long reads (a console's hello and replay, the history, the report) take at most half the
//! pool, so that an SOS never waits behind them (issue 15: 1,000 replays held every connection
//! and an SOS waited 30 s).

use gridwatch_store::testing::{bare_sos, hold_long_reads};
use gridwatch_store::{on_both, IncidentFilter, Store};
use std::time::Duration;

/// Plenty for a query on an idle test database; a wait for a long-read place never ends.
const PATIENCE: Duration = Duration::from_secs(10);

on_both!(
    an_sos_does_not_wait_behind_long_reads,
    |store: Store| async move {
        assert!(store.long_read_slots() >= 1);
        let held = hold_long_reads(&store).await;
        assert_eq!(store.long_reads_running(), store.long_read_slots());

        // Every long-read place taken: the intake raises, reads its caller's open incidents and
        // the log, as if nothing were going on ...
        let raised = tokio::time::timeout(
            PATIENCE,
            store.raise_incident(bare_sos("button-1"), chrono::Utc::now()),
        )
        .await
        .expect("the raise does not wait for a long-read place")
        .unwrap();
        let mut open = IncidentFilter::open(gridwatch_core::access::Visibility::All);
        open.limit = 10;
        let listed = tokio::time::timeout(PATIENCE, store.incidents(&open))
            .await
            .expect("the intake's look-up does not wait")
            .unwrap();
        assert!(listed.iter().any(|i| i.id == raised.incident.id));
        tokio::time::timeout(PATIENCE, store.events_since(0, 10))
            .await
            .expect("the hub's own delivery reads the log without waiting")
            .unwrap();

        // ... while a history list and a replay page wait for a place ...
        let s2 = store.clone();
        let f2 = open.clone();
        let history = tokio::spawn(async move { s2.list_incidents(&f2).await });
        let s3 = store.clone();
        let replay = tokio::spawn(async move { s3.replay_page(0, 10).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !history.is_finished() && !replay.is_finished(),
            "they wait their turn"
        );

        // ... and go on once the places are given back.
        drop(held);
        let history = tokio::time::timeout(PATIENCE, history)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(history.iter().any(|i| i.id == raised.incident.id));
        let replay = tokio::time::timeout(PATIENCE, replay)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(!replay.is_empty());
    }
);

on_both!(
    long_reads_never_take_more_than_their_places,
    |store: Store| async move {
        store
            .raise_incident(bare_sos("button-2"), chrono::Utc::now())
            .await
            .unwrap();
        let slots = store.long_read_slots();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let s = store.clone();
            tasks.spawn(async move {
                let f = IncidentFilter::open(gridwatch_core::access::Visibility::All);
                for _ in 0..5 {
                    s.list_incidents(&f).await.unwrap();
                    s.replay_page(0, 100).await.unwrap();
                }
            });
        }
        let mut peak = 0;
        while !tasks.is_empty() {
            peak = peak.max(store.long_reads_running());
            if let Some(r) = tasks.try_join_next() {
                r.unwrap();
            }
            tokio::task::yield_now().await;
        }
        assert!(peak <= slots, "{peak} long reads at once, {slots} places");
        assert!(peak >= 1, "the long reads were seen running");
    }
);
