//! Consoles online, shared by hub nodes through the database: `post.online` when a post gets
//! its first console, `post.offline` when it loses its last — including when the node holding
//! it dies and another node reaps its rows — on SQLite and on the real PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::event::EventType;
use gridwatch_store::{on_both, Console, Store};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn console(id: &str, node: &str, post: &str) -> Console {
    Console {
        id: id.into(),
        node: node.into(),
        post_id: post.into(),
        user_id: "u1".into(),
    }
}

fn kinds(events: &[gridwatch_core::event::Event]) -> Vec<EventType> {
    events.iter().map(|e| e.kind).collect()
}

on_both!(
    a_post_is_online_while_any_node_holds_a_console,
    |store: Store| async move {
        let a = console("c-a", "node-a", "p1");
        let b = console("c-b", "node-b", "p1");
        let first = store.console_connected(&a, t0()).await.unwrap();
        assert_eq!(kinds(&first), [EventType::PostOnline]);
        assert_eq!(first[0].data["post_id"], "p1");
        assert!(store.console_connected(&b, t0()).await.unwrap().is_empty());
        assert_eq!(store.consoles_online("p1").await.unwrap(), 2);

        // One goes: still online. Going twice records nothing more.
        assert!(store
            .console_disconnected(&a, t0())
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .console_disconnected(&a, t0())
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.consoles_online("p1").await.unwrap(), 1);
        let last = store.console_disconnected(&b, t0()).await.unwrap();
        assert_eq!(kinds(&last), [EventType::PostOffline]);
        assert_eq!(store.consoles_online("p1").await.unwrap(), 0);
    }
);

on_both!(
    the_consoles_of_a_dead_node_are_reaped_once,
    |store: Store| async move {
        store
            .console_connected(&console("c-a", "node-a", "p1"), t0())
            .await
            .unwrap();
        store
            .console_connected(&console("c-b", "node-b", "p2"), t0())
            .await
            .unwrap();
        store
            .console_connected(&console("c-c", "node-b", "p1"), t0())
            .await
            .unwrap();
        // Node a keeps refreshing; node b stopped at t0.
        let later = t0() + Duration::minutes(2);
        store.console_heartbeat("node-a", later).await.unwrap();
        let reaped = store
            .reap_consoles("node-a", later - Duration::minutes(1), later)
            .await
            .unwrap();
        // p2 had only node b's console; p1 still has node a's.
        assert_eq!(kinds(&reaped), [EventType::PostOffline]);
        assert_eq!(reaped[0].data["post_id"], "p2");
        assert_eq!(reaped[0].data["reason"], "hub node gone");
        assert_eq!(store.consoles_online("p1").await.unwrap(), 1);
        assert_eq!(store.consoles_online("p2").await.unwrap(), 0);
        let again = store
            .reap_consoles("node-a", later - Duration::minutes(1), later)
            .await
            .unwrap();
        assert!(again.is_empty());
    }
);
