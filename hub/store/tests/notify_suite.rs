//! The notification outbox, on SQLite and on the real PostgreSQL: a row for every notifiable
//! event written in the event's own transaction (also when raises are committed in a batch,
//! and never for a raise that was rolled back), claims that exclude other nodes until their
//! lease runs out, idempotent expansion, and the record of attempts.

use chrono::{DateTime, Duration, Utc};
use gridwatch_store::testing::bare_sos;
use gridwatch_store::{on_both, AttemptOutcome, NewDelivery, Store};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

on_both!(
    every_raise_has_its_outbox_row_even_in_a_batch,
    |store: Store| async move {
        let first = store.raise_incident(bare_sos("d0"), t0()).await.unwrap();
        // 30 presses at once (committed in batches), one of them reusing an incident id: it
        // fails alone, and leaves no outbox row behind.
        let mut tasks = vec![];
        for n in 1..=30 {
            let mut req = bare_sos(&format!("d{n}"));
            if n == 15 {
                req.raise.id = first.incident.id.clone();
            }
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.raise_incident(req, t0()).await
            }));
        }
        let mut ok = 1;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 30, "29 new raises and the first");
        let (events, deliveries) = store.notify_backlog().await.unwrap();
        assert_eq!(
            (events, deliveries),
            (30, 0),
            "one incident.raised row each"
        );
        // Claimed by one node, the others get nothing until the lease runs out.
        let lease = Duration::seconds(60);
        let a = store
            .claim_notify_events("a", t0(), lease, 100)
            .await
            .unwrap();
        assert_eq!(a.len(), 30);
        assert!(a.iter().all(|e| e.kind.as_str() == "incident.raised"));
        assert!(a.windows(2).all(|w| w[0].seq < w[1].seq));
        let b = store
            .claim_notify_events("b", t0(), lease, 100)
            .await
            .unwrap();
        assert!(b.is_empty());
        let later = t0() + Duration::seconds(61);
        let b = store
            .claim_notify_events("b", later, lease, 10)
            .await
            .unwrap();
        assert_eq!(b.len(), 10);
        // Expanding twice (two nodes after a lost lease) makes each delivery once.
        let d = NewDelivery {
            key: "gw-k1".into(),
            rule: "r".into(),
            channel: "hook".into(),
            recipient: "https://x".into(),
            not_before: later,
        };
        store
            .expand_notify_event(&b[0], std::slice::from_ref(&d), later)
            .await
            .unwrap();
        store.expand_notify_event(&b[0], &[d], later).await.unwrap();
        assert_eq!(store.notify_backlog().await.unwrap(), (29, 1));
        // Deliveries: claimed once, retried when due, recorded.
        let due = store.claim_deliveries("b", later, lease, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert!(store
            .claim_deliveries("a", later, lease, 10)
            .await
            .unwrap()
            .is_empty());
        let retry_at = later + Duration::seconds(5);
        store
            .finish_delivery(&due[0], AttemptOutcome::Retry(retry_at), Some("500"), later)
            .await
            .unwrap();
        assert!(store
            .claim_deliveries("a", later, lease, 10)
            .await
            .unwrap()
            .is_empty());
        let again = store
            .claim_deliveries("a", retry_at, lease, 10)
            .await
            .unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        store
            .finish_delivery(&again[0], AttemptOutcome::Sent, None, retry_at)
            .await
            .unwrap();
        assert_eq!(store.notify_backlog().await.unwrap(), (29, 0));
        // Only expanded rows are forgotten, and only old ones.
        assert_eq!(store.purge_notify_outbox(later).await.unwrap(), 0);
        let week = later + Duration::days(7);
        assert_eq!(store.purge_notify_outbox(week).await.unwrap(), 1);
        assert_eq!(store.notify_backlog().await.unwrap(), (29, 0));
        let id = b[0].incident_id.clone().unwrap();
        let attempts = store.notify_attempts(&id).await.unwrap();
        let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["failed", "sent"]);
    }
);
