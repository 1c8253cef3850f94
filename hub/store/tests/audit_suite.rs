//! Audit lists read from the event log by kind, time and camera (`Store::events_of_kinds`):
//! newest first, the range's ends included, and a camera matched exactly — however its id is
//! spelled for LIKE (`_`, `%`, a backslash) — on SQLite and on the real PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::event::{Actor, EventDraft, EventType};
use gridwatch_store::{on_both, Store};
use serde_json::json;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn export(store: &Store, camera: &str, at: DateTime<Utc>) -> i64 {
    let draft = EventDraft::new(
        EventType::CameraRecordingExported,
        json!({ "camera_id": camera, "range": "all" }),
    );
    let actor = Actor::user("u1", "http 10.0.0.7");
    store
        .record_events(None, &[draft], &actor, at)
        .await
        .unwrap()[0]
        .seq
}

on_both!(
    exports_are_listed_by_kind_time_and_camera,
    |store: Store| async move {
        let kinds = [EventType::CameraRecordingExported];
        let min = |m: i64| t0() + Duration::minutes(m);
        let plain = export(&store, "cam1", min(0)).await;
        let underscore = export(&store, "cam_1", min(1)).await;
        let percent = export(&store, "cam%1", min(2)).await;
        let slash = export(&store, "cam\\1", min(3)).await;
        // Another kind about the same camera is not listed.
        let other = EventDraft::new(EventType::CameraOffline, json!({ "camera_id": "cam1" }));
        store
            .record_events(None, &[other], &Actor::timer(), min(4))
            .await
            .unwrap();

        let seqs = |events: Vec<gridwatch_core::event::Event>| -> Vec<i64> {
            events.iter().map(|e| e.seq).collect()
        };
        let all = store
            .events_of_kinds(&kinds, None, min(0), min(4), 10)
            .await
            .unwrap();
        assert_eq!(seqs(all), [slash, percent, underscore, plain]);
        for (camera, seq) in [
            ("cam1", plain),
            ("cam_1", underscore),
            ("cam%1", percent),
            ("cam\\1", slash),
        ] {
            let one = store
                .events_of_kinds(&kinds, Some(camera), min(0), min(4), 10)
                .await
                .unwrap();
            assert_eq!(seqs(one), [seq], "{camera}");
        }
        // The ends are included; outside them nothing; the newest `limit`.
        let ends = store
            .events_of_kinds(&kinds, None, min(1), min(2), 10)
            .await
            .unwrap();
        assert_eq!(seqs(ends), [percent, underscore]);
        let later = store
            .events_of_kinds(&kinds, None, min(5), min(9), 10)
            .await
            .unwrap();
        assert!(later.is_empty());
        let newest = store
            .events_of_kinds(&kinds, None, min(0), min(4), 2)
            .await
            .unwrap();
        assert_eq!(seqs(newest), [slash, percent]);
    }
);
