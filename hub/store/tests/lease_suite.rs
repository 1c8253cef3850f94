//! Camera leases of ingest workers (issue 17): claimed up to a batch, never two holders, taken
//! over once expired with the epoch bumped, and a worker that lost its lease fenced off.

use chrono::{Duration, Utc};
use gridwatch_core::camera::NewCamera;
use gridwatch_store::{on_both, Backend, Store};
use std::collections::HashSet;

async fn cameras(store: &Store, n: usize) -> Vec<String> {
    let mut ids = vec![];
    for i in 0..n {
        let new: NewCamera = serde_json::from_value(serde_json::json!({
            "name": format!("cam {i}"), "rtsp_url": format!("rtsp://10.0.0.{}/live", i + 1)
        }))
        .unwrap();
        ids.push(store.create_camera(new, Utc::now()).await.unwrap().id);
    }
    ids
}

on_both!(
    leases_are_claimed_held_taken_over_and_fenced,
    |store: Store| async move {
        let ids = cameras(&store, 5).await;
        let t0 = Utc::now();
        let ttl = Duration::seconds(15);
        store
            .worker_alive("a", "10.0.0.101:8081", 100, &[], t0)
            .await
            .unwrap();
        store
            .worker_alive("b", "10.0.0.102:8081", 100, &[], t0)
            .await
            .unwrap();

        // A claims 3, B the 2 left; nobody holds a camera twice.
        let a = store.claim_cameras("a", 3, t0, t0 + ttl).await.unwrap();
        let b = store.claim_cameras("b", 10, t0, t0 + ttl).await.unwrap();
        assert_eq!((a.len(), b.len()), (3, 2));
        let all: HashSet<&str> = a.iter().chain(&b).map(|l| l.camera_id.as_str()).collect();
        assert_eq!(all.len(), 5);
        assert!(a.iter().chain(&b).all(|l| l.epoch == 1));
        assert!(
            store
                .claim_cameras("b", 10, t0, t0 + ttl)
                .await
                .unwrap()
                .is_empty(),
            "none free"
        );

        // A renews in time and keeps them.
        let t1 = t0 + Duration::seconds(5);
        assert!(store
            .renew_leases("a", &a, t1 + ttl)
            .await
            .unwrap()
            .is_empty());
        // A stalls past its lease; B takes its cameras over, under a new epoch.
        let t2 = t1 + ttl + Duration::seconds(1);
        assert!(store
            .renew_leases("b", &b, t2 + ttl)
            .await
            .unwrap()
            .is_empty());
        let taken = store.claim_cameras("b", 10, t2, t2 + ttl).await.unwrap();
        assert_eq!(taken.len(), 3);
        assert!(taken.iter().all(|l| l.epoch == 2 && l.worker_id == "b"));
        // A comes back: its renewals fail, its release cannot end B's lease, its writes are fenced.
        let mut lost = store.renew_leases("a", &a, t2 + ttl).await.unwrap();
        lost.sort();
        let mut expected: Vec<String> = a.iter().map(|l| l.camera_id.clone()).collect();
        expected.sort();
        assert_eq!(lost, expected);
        assert!(!store.release_lease(&a[0]).await.unwrap());
        assert!(!store.lease_is_current(&a[0], t2).await.unwrap());
        assert!(store.lease_is_current(&taken[0], t2).await.unwrap());

        // B gives one back: it is free for anyone at once, under the epoch after B's (epochs
        // only grow, so a stale holder's epoch is never current again).
        assert!(store.release_lease(&taken[0]).await.unwrap());
        let again = store.claim_cameras("a", 10, t2, t2 + ttl).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].camera_id.as_str(), again[0].epoch),
            (taken[0].camera_id.as_str(), 3)
        );
        let stale = a
            .iter()
            .find(|l| l.camera_id == again[0].camera_id)
            .unwrap();
        assert!(!store.lease_is_current(stale, t2).await.unwrap());

        // A disabled camera is run by nobody; a deleted one's lease goes with it.
        let patch = serde_json::from_value(serde_json::json!({"enabled": false})).unwrap();
        store.update_camera(&ids[0], patch, t2).await.unwrap();
        let t3 = t2 + ttl * 2;
        let after: Vec<String> = store
            .claim_cameras("a", 10, t3, t3 + ttl)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.camera_id)
            .collect();
        assert!(!after.contains(&ids[0]), "{after:?}");
        assert_eq!(after.len(), 4);
        let held = store.leases(t3).await.unwrap();
        store.delete_camera(&ids[1]).await.unwrap();
        let lost = store
            .renew_leases(
                "a",
                &held
                    .iter()
                    .filter(|l| l.worker_id == "a")
                    .cloned()
                    .collect::<Vec<_>>(),
                t3 + ttl,
            )
            .await
            .unwrap();
        assert!(lost.contains(&ids[1]), "{lost:?}");
    }
);

on_both!(
    workers_claiming_at_once_never_share_a_camera,
    |store: Store| async move {
        let ids = cameras(&store, 12).await;
        let now = Utc::now();
        let until = now + Duration::seconds(15);
        let claim = |w: &'static str| {
            let s = store.clone();
            async move {
                let mut got = vec![];
                // Batches of 2, as a worker's rounds would take them.
                for _ in 0..6 {
                    loop {
                        match s.claim_cameras(w, 2, now, until).await {
                            Ok(l) => {
                                got.extend(l);
                                break;
                            }
                            // SQLite's one writer: a claim that found the database busy retries.
                            Err(e) if s.backend() == Backend::Sqlite => {
                                let _ = e;
                                tokio::task::yield_now().await;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                got
            }
        };
        let (a, b, c) = tokio::join!(claim("a"), claim("b"), claim("c"));
        let mut seen = HashSet::new();
        for l in a.iter().chain(&b).chain(&c) {
            assert!(
                seen.insert(l.camera_id.clone()),
                "{} held twice",
                l.camera_id
            );
        }
        assert_eq!(seen.len(), ids.len(), "every camera taken");
        let held = store.leases(now).await.unwrap();
        assert_eq!(held.len(), ids.len());
    }
);

on_both!(
    a_worker_says_it_stopped_and_is_forgotten_only_when_it_does_not_run,
    |store: Store| async move {
        let t0 = Utc::now();
        let ttl = Duration::seconds(15);
        let dirs = [serde_json::json!({"path": "/srv/a", "reason": "disk_full", "detail": "x"})];
        store
            .worker_alive("a", "10.0.0.101:8081", 100, &dirs, t0)
            .await
            .unwrap();
        let a = || async {
            let all = store.ingest_workers(t0).await.unwrap();
            all.into_iter().find(|w| w.id == "a")
        };
        assert_eq!(a().await.unwrap().recording_stopped, dirs);
        // Live: not forgotten.
        assert!(!store
            .forget_ingest_worker("a", t0 - ttl, false)
            .await
            .unwrap());
        // Its clock stepped back before it stopped: the stop still reads as after its last
        // sign of life (not as a worker that vanished).
        store
            .worker_stopped("a", t0 - Duration::seconds(3))
            .await
            .unwrap();
        let stopped = a().await.unwrap();
        assert!(
            stopped.has_stopped() && !stopped.is_live(t0 - ttl),
            "{stopped:?}"
        );
        // Alive again: running, its directories as it says now.
        store
            .worker_alive("a", "10.0.0.101:8081", 100, &[], t0 + Duration::seconds(1))
            .await
            .unwrap();
        let back = a().await.unwrap();
        assert!(
            back.is_live(t0 - ttl) && back.recording_stopped.is_empty(),
            "{back:?}"
        );
        // Stopped: forgotten; then unknown; should it run again, known again.
        let at = t0 + Duration::seconds(2);
        store.worker_stopped("a", at).await.unwrap();
        assert!(store
            .forget_ingest_worker("a", at - ttl, false)
            .await
            .unwrap());
        assert!(a().await.is_none());
        assert!(!store
            .forget_ingest_worker("a", at - ttl, false)
            .await
            .unwrap());
        store
            .worker_alive("a", "10.0.0.101:8081", 100, &[], at)
            .await
            .unwrap();
        assert!(a().await.is_some());
    }
);
