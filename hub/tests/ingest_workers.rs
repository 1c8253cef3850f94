//! Ingest workers (issue 17), in process: workers' lease rounds spread the cameras, take a
//! dead worker's over once its leases run out, fence a stalled worker off (it stops its
//! cameras and may write nothing about them), and never run a camera on two workers; a hub in
//! `workers` mode relays live view and snapshots to the worker holding the camera, after its
//! own role checks, and the worker answers hubs only. A worker with `[recording] dirs` records
//! the cameras it holds, in directories of its own, each row fenced by its lease: once another
//! worker has claimed the camera, what it goes on recording is set aside, not indexed.

use crate::common;
use crate::ingest_common::start_sim;

use crate::recording::playback::segments_of;
use axum::http::Method;
use chrono::Duration;
use common::recording_worker::{one_camera, recording_worker, start_hub, start_worker, OneCamera};
use common::Hub;
use futures::StreamExt;
use gridwatch_core::lease::LeasePolicy;
use gridwatch_hub::workers::lease_loop::{LeaseLoop, WorkerIdentity};
use gridwatch_hub::workers::IngestMode;
use gridwatch_hub::{AppState, Config};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

const SECRET: &str = "a-secret-for-tests-only";

fn worker_config() -> Config {
    let mut c = Config::default();
    c.ingest.mode = IngestMode::Workers;
    c.ingest.secret = SECRET.into();
    c
}

fn worker(hub: &Hub, id: &str) -> (AppState, LeaseLoop) {
    let state = AppState::new(
        hub.state.store.clone(),
        Arc::new(hub.clock.clone()),
        worker_config(),
    );
    let me = WorkerIdentity {
        id: id.into(),
        address: format!("http://{id}.test:8090"),
        max_cameras: 100,
    };
    let leases = LeaseLoop::new(state.cameras.clone(), me, LeasePolicy::default());
    (state, leases)
}

fn running(s: &AppState) -> HashSet<String> {
    s.cameras.registry.ids().into_iter().collect()
}

/// `n` cameras at a closed port, made through the API; their IDs.
async fn add_cameras(hub: &Hub, admin: &str, n: usize) -> Vec<String> {
    let mut ids = vec![];
    for i in 0..n {
        let a = hub
            .call(
                Method::POST,
                "/api/v1/cameras",
                Some(admin),
                Some(json!({"name": format!("cam {i}"), "rtsp_url": "rtsp://127.0.0.1:1/x"})),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        ids.push(a.body["id"].as_str().unwrap().to_string());
    }
    ids
}

/// No camera runs on both workers.
fn disjoint(a: &AppState, b: &AppState) {
    let (a, b) = (running(a), running(b));
    assert!(a.is_disjoint(&b), "run twice: {:?}", a.intersection(&b));
}

on_both!(
    leases_spread_take_over_and_fence_a_stalled_worker,
    |hub: Hub| async move {
        let admin = hub.login_as("admin", None, None).await.1;
        add_cameras(&hub, &admin, 6).await;
        let (a, mut la) = worker(&hub, "a");
        let (b, mut lb) = worker(&hub, "b");

        // A alone takes everything it can; B joining finds nothing free.
        let r = la.round().await.unwrap();
        assert_eq!(r.claimed.len(), 6);
        assert_eq!(running(&a).len(), 6);
        assert!(lb.round().await.unwrap().claimed.is_empty());
        // A sees B and gives back what is above its share; B takes it.
        hub.clock.advance(Duration::seconds(1));
        let r = la.round().await.unwrap();
        assert_eq!(r.released.len(), 3, "{r:?}");
        let r = lb.round().await.unwrap();
        assert_eq!(r.claimed.len(), 3, "{r:?}");
        assert_eq!((running(&a).len(), running(&b).len()), (3, 3));
        disjoint(&a, &b);
        // Further rounds change nothing.
        hub.clock.advance(Duration::seconds(1));
        assert_eq!(la.round().await.unwrap(), Default::default());
        assert_eq!(lb.round().await.unwrap(), Default::default());

        // A stalls (no rounds). B goes on every 2 s; once A's leases have run out, B takes
        // A's cameras, under a new epoch.
        let of_a: Vec<String> = running(&a).into_iter().collect();
        let cam = of_a[0].clone();
        let mut taken_after = None;
        for _ in 1..=12 {
            hub.clock.advance(Duration::seconds(2));
            let r = lb.round().await.unwrap();
            assert!(r.lost.is_empty(), "B renews its own: {r:?}");
            if !r.claimed.is_empty() {
                // A last renewed (claimed) at t0, for 15 s.
                taken_after = Some((hub.state.now() - common::t0()).num_seconds());
                break;
            }
        }
        let taken_after = taken_after.expect("A's cameras taken over");
        assert!((15..=17).contains(&taken_after), "after {taken_after} s");
        assert_eq!(running(&b).len(), 6);
        let now = hub.state.now();
        let lease = hub
            .state
            .store
            .camera_holder(&cam, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (lease.lease.worker_id.as_str(), lease.lease.epoch),
            ("b", 2)
        );

        // A comes back: before its round its sessions still run, but it may write nothing
        // about them; its round stops them all.
        assert_eq!(running(&a).len(), 3);
        assert!(!a.cameras.may_write(&cam).await);
        assert!(b.cameras.may_write(&cam).await);
        let r = la.round().await.unwrap();
        assert_eq!(r.lost.len(), 3, "{r:?}");
        assert!(running(&a).is_empty());
        // What each counted: A assigned all six first and gave three back, then lost three;
        // B's six were all moved (given back, then taken over): 6 - 3 given back = 3 taken over.
        let count = |l: &LeaseLoop, e: &str| l.counters().get(e);
        assert_eq!(count(&la, "claimed_new"), 6);
        assert_eq!((count(&la, "released"), count(&la, "lost")), (3, 3));
        assert_eq!(count(&lb, "claimed_moved"), 6);
        assert_eq!(count(&lb, "claimed_new"), 0);
        disjoint(&a, &b);

        // A restarted with its old name: it gets its share back a few at a time, never a
        // camera B still runs.
        drop(la);
        let (a2, mut la2) = worker(&hub, "a");
        for _ in 0..6 {
            hub.clock.advance(Duration::seconds(1));
            la2.round().await.unwrap();
            disjoint(&a2, &b);
            lb.round().await.unwrap();
            disjoint(&a2, &b);
        }
        assert_eq!((running(&a2).len(), running(&b).len()), (3, 3));
        // A worker that stops gives its leases back at once, and says it stopped: B takes them
        // at its next round, a second later, not once A's last renewal is a lease old (before,
        // B still counted A and kept to half). A is "stopped", not "gone": nothing to alarm.
        la2.release_all().await;
        assert!(running(&a2).is_empty());
        let leases = hub.state.store.leases(hub.state.now()).await.unwrap();
        assert_eq!(leases.len(), 3);
        assert!(leases.iter().all(|l| l.worker_id == "b"));
        hub.clock.advance(Duration::seconds(1));
        let r = lb.round().await.unwrap();
        assert_eq!(r.claimed.len(), 3, "{r:?}");
        assert_eq!(running(&b).len(), 6);
        let policy = gridwatch_core::lease::LeasePolicy::default();
        let states = |at| {
            let store = hub.state.store.clone();
            async move {
                let o = gridwatch_hub::workers::overview(&store, &policy, at)
                    .await
                    .unwrap();
                let states: Vec<(String, &str)> = o
                    .workers
                    .iter()
                    .map(|w| (w.worker.id.clone(), w.state))
                    .collect();
                (states, o.health())
            }
        };
        let later = hub.state.now() + Duration::minutes(5);
        let (listed, health) = states(later).await;
        assert_eq!(
            listed,
            [("a".to_string(), "stopped"), ("b".to_string(), "gone")]
        );
        assert_eq!(health.gone.len(), 1, "only B vanished: {health:?}");
        assert_eq!(health.gone[0].worker, "b");
        assert_eq!(health.unassigned, 6, "{health:?}");
        // A started again is live again.
        drop(la2);
        let (_a3, mut la3) = worker(&hub, "a");
        hub.clock.advance(Duration::seconds(1));
        la3.round().await.unwrap();
        let (listed, _) = states(hub.state.now()).await;
        assert_eq!(
            listed,
            [("a".to_string(), "live"), ("b".to_string(), "live")]
        );
    }
);

/// A hub in `workers` mode and one worker on loopback, one simulated camera.
#[tokio::test]
async fn the_hub_relays_live_view_and_snapshots_to_the_worker_holding_the_camera() {
    crate::ingest_common::init_tracing();
    let sim = start_sim(1);
    let dir = tempfile::tempdir().unwrap();
    let store = gridwatch_store::testing::fresh_store(gridwatch_store::Backend::Sqlite, dir.path())
        .await
        .unwrap();
    let mut config = worker_config();
    config.listen = "127.0.0.1:0".into();
    config.cameras.backoff_initial_ms = 200;
    config.cameras.backoff_max_ms = 1000;
    let (hub, stop_hub) = start_hub(config.clone(), &store).await;
    let (worker, stop_worker) = start_worker(config.clone(), &store).await;
    let base = format!("http://{}", hub.addr);
    let wbase = format!("http://{}", worker.addr);
    let http = reqwest::Client::new();
    let token = |role: &'static str, grid: Option<String>| {
        let store = store.clone();
        async move {
            let user = store
                .create_user(
                    serde_json::from_value(json!({"username": format!("{role}1"),
                        "password": "password-1", "role": role, "grid_id": grid}))
                    .unwrap(),
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
            store
                .open_session(user, Duration::hours(1), chrono::Utc::now())
                .await
                .unwrap()
                .token
        }
    };
    let admin = token("admin", None).await;
    let duty = token("duty_officer", None).await;
    let cam: serde_json::Value = http
        .post(format!("{base}/api/v1/cameras"))
        .bearer_auth(&admin)
        .json(&json!({"name": "gate", "rtsp_url": sim.url(1)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = cam["id"].as_str().unwrap().to_string();
    // The hub runs nothing itself.
    assert!(hub.state.cameras.registry.ids().is_empty());

    // The worker claims the camera (at its next round) and it comes online there.
    let started = std::time::Instant::now();
    let jpeg = loop {
        let resp = http
            .get(format!("{base}/api/v1/cameras/{id}/snapshot.jpg"))
            .bearer_auth(&duty)
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            break resp.bytes().await.unwrap();
        }
        assert!(
            [503, 502].contains(&resp.status().as_u16()),
            "{}",
            resp.text().await.unwrap()
        );
        assert!(
            started.elapsed().as_secs() < 15,
            "no snapshot through the hub"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(crate::ingest_common::jpeg_size(&jpeg), Some((320, 240)));
    assert_eq!(worker.state.cameras.registry.ids(), vec![id.clone()]);

    // Live through the hub: the init text frame, the init segment, then media.
    let url = format!("ws://{}/api/v1/cameras/{id}/live?token={duty}", hub.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut binary = 0;
    let mut init = None;
    while binary < 3 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("video in time")
            .unwrap()
            .unwrap()
        {
            tokio_tungstenite::tungstenite::Message::Text(t) => {
                init = Some(serde_json::from_str::<serde_json::Value>(&t).unwrap())
            }
            tokio_tungstenite::tungstenite::Message::Binary(_) => binary += 1,
            _ => {}
        }
    }
    let init = init.expect("the init frame first");
    assert_eq!(init["type"], "init");
    assert!(init["mime"].as_str().unwrap().starts_with("video/mp4"));
    assert_eq!(worker.state.cameras.registry.viewer_count(&id), 1);
    drop(ws);

    // Same role checks as in-process: a resident sees no video.
    let resident = token("resident", None).await;
    let r = http
        .get(format!("{base}/api/v1/cameras/{id}/snapshot.jpg"))
        .bearer_auth(&resident)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The worker answers hubs only.
    let direct = format!("{wbase}/internal/v1/cameras/{id}/snapshot.jpg");
    assert_eq!(http.get(&direct).send().await.unwrap().status(), 401);
    let wrong = http
        .get(&direct)
        .header("x-gridwatch-worker-secret", "guess");
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let right = http
        .get(&direct)
        .header("x-gridwatch-worker-secret", SECRET);
    assert_eq!(right.send().await.unwrap().status(), 200);
    let held: serde_json::Value = http
        .get(format!("{wbase}/internal/v1/cameras"))
        .header("x-gridwatch-worker-secret", SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held["cameras"][0]["camera_id"], id.as_str());
    assert_eq!(held["cameras"][0]["status"], "online");
    // The hub's camera API says what the worker says (the wall's plan and every page that
    // lists cameras read it): online, not "not yet started on this hub".
    let camera_status = |path: String| {
        let (http, duty) = (http.clone(), duty.clone());
        async move {
            let v = common::get_json(&http, &path, &duty).await;
            let c = if v.is_array() { v[0].clone() } else { v };
            (c["status"].clone(), c["status_reason"].clone())
        }
    };
    let listed = format!("{base}/api/v1/cameras");
    let one = format!("{base}/api/v1/cameras/{id}");
    for path in [&listed, &one] {
        assert_eq!(
            camera_status(path.clone()).await,
            (json!("online"), serde_json::Value::Null),
            "{path}"
        );
    }

    // Operations see the worker, its camera and its load; /readyz reports it.
    let o: serde_json::Value = http
        .get(format!("{base}/api/v1/ingest/workers"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(o["workers"][0]["id"], worker.identity.id.as_str());
    assert_eq!(o["workers"][0]["cameras"], 1);
    assert_eq!(o["workers"][0]["state"], "live");
    assert_eq!(o["unassigned"], 0);
    let ready: serde_json::Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ingest"]["workers"], 1, "{ready}");
    // The dashboard's figures: cameras per worker on the hub, lease events on the worker.
    let text = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let hub_metrics = text(format!("{base}/metrics")).await;
    let per_worker = format!(
        "gridwatch_ingest_worker_cameras{{worker=\"{}\"}} 1",
        worker.identity.id
    );
    assert!(hub_metrics.contains(&per_worker), "{hub_metrics}");
    let worker_metrics = text(format!("{wbase}/metrics")).await;
    assert!(
        worker_metrics.contains("gridwatch_ingest_leases_total{event=\"claimed_new\"} 1"),
        "{worker_metrics}"
    );

    // The worker stops: it gives its lease back, and the hub says no worker holds the camera.
    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
    let r = http
        .get(format!("{base}/api/v1/cameras/{id}/snapshot.jpg"))
        .bearer_auth(&duty)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_worker");
    // And its camera API: offline, run by no worker.
    for path in [&listed, &one] {
        let (status, reason) = camera_status(path.clone()).await;
        assert_eq!(status, "offline", "{path}");
        assert!(
            reason.as_str().unwrap().contains("no ingest worker"),
            "{path}: {reason}"
        );
    }
    drop(stop_hub);
    hub.task.await.unwrap().unwrap();
}

on_both!(
    a_pinned_camera_runs_only_on_its_worker,
    |hub: Hub| async move {
        let admin = hub.login_as("admin", None, None).await.1;
        let duty = hub.login_as("duty_officer", None, None).await.1;
        let cams = add_cameras(&hub, &admin, 4).await;
        let (a, mut la) = worker(&hub, "a");
        let (b, mut lb) = worker(&hub, "b");
        assert_eq!(la.round().await.unwrap().claimed.len(), 4);
        assert!(lb.round().await.unwrap().claimed.is_empty());
        let cam = cams[0].clone();
        assert!(running(&a).contains(&cam));

        // Only admins pin, only to a worker the database knows, with a body it understands.
        let path = format!("/api/v1/cameras/{cam}/worker");
        let pin = |token: &str, body: serde_json::Value| {
            let (path, token) = (path.clone(), token.to_string());
            let hub = &hub;
            async move { hub.call(Method::PUT, &path, Some(&token), Some(body)).await }
        };
        assert_eq!(pin(&duty, json!({"worker_id": "b"})).await.status, 403);
        let typo = pin(&admin, json!({"worker_id": "bb"})).await;
        assert_eq!(typo.status, 400, "{}", typo.body);
        assert_eq!(typo.body["error"]["code"], "unknown_worker");
        assert_eq!(pin(&admin, json!({"worker": "b"})).await.status, 400);
        let unknown = hub
            .call(
                Method::PUT,
                "/api/v1/cameras/nope/worker",
                Some(&admin),
                Some(json!({"worker_id": "b"})),
            )
            .await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);
        let ok = pin(&admin, json!({"worker_id": "b"})).await;
        assert_eq!(ok.status, 200, "{}", ok.body);

        // A gives it back at its next renewal; B takes it at its next round.
        hub.clock.advance(Duration::seconds(5));
        let r = la.round().await.unwrap();
        assert!(r.lost.contains(&cam), "{r:?}");
        assert!(!running(&a).contains(&cam));
        let r = lb.round().await.unwrap();
        assert!(r.claimed.contains(&cam), "{r:?}");
        // However the others move, it stays on B.
        for _ in 0..6 {
            hub.clock.advance(Duration::seconds(2));
            la.round().await.unwrap();
            lb.round().await.unwrap();
            assert!(running(&b).contains(&cam) && !running(&a).contains(&cam));
            disjoint(&a, &b);
        }
        let o = hub
            .call(Method::GET, "/api/v1/ingest/workers", Some(&admin), None)
            .await;
        assert_eq!(o.body["pinned"][cam.as_str()], "b", "{}", o.body);

        // Unpinned: any worker again.
        assert_eq!(pin(&admin, json!({"worker_id": null})).await.status, 200);
        let o = hub
            .call(Method::GET, "/api/v1/ingest/workers", Some(&admin), None)
            .await;
        assert_eq!(o.body["pinned"], json!({}), "{}", o.body);
    }
);

on_both!(
    an_admin_forgets_a_worker_that_does_not_run,
    |hub: Hub| async move {
        let admin = hub.login_as("admin", None, None).await.1;
        let duty = hub.login_as("duty_officer", None, None).await.1;
        let cams = add_cameras(&hub, &admin, 2).await;
        let (_a, mut la) = worker(&hub, "a");
        let (_b, mut lb) = worker(&hub, "b");
        la.round().await.unwrap();
        lb.round().await.unwrap();
        let pin = hub
            .call(
                Method::PUT,
                &format!("/api/v1/cameras/{}/worker", cams[0]),
                Some(&admin),
                Some(json!({"worker_id": "b"})),
            )
            .await;
        assert_eq!(pin.status, 200, "{}", pin.body);
        let forget = |id: &str, token: &str| {
            let (path, token) = (format!("/api/v1/ingest/workers/{id}"), token.to_string());
            let hub = &hub;
            async move { hub.call(Method::DELETE, &path, Some(&token), None).await }
        };
        let listed = || async {
            let o = hub
                .call(Method::GET, "/api/v1/ingest/workers", Some(&admin), None)
                .await;
            o.body["workers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| {
                    format!(
                        "{} {}",
                        w["id"].as_str().unwrap(),
                        w["state"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        };
        let code = |r: &common::Answer| r.body["error"]["code"].as_str().map(str::to_string);

        // Running: not forgotten. Only admins; an unknown name is 404.
        let r = forget("a", &admin).await;
        assert_eq!(
            (r.status, code(&r)),
            (reqwest::StatusCode::CONFLICT, Some("worker_live".into())),
            "{}",
            r.body
        );
        assert_eq!(forget("a", &duty).await.status, 403);
        assert_eq!(forget("nope", &admin).await.status, 404);

        // Both stop renewing; a lease later they are gone, and told so.
        hub.clock.advance(Duration::seconds(20));
        assert_eq!(listed().await, ["a gone", "b gone"]);
        // A: forgotten, no longer listed nor told.
        let r = forget("a", &admin).await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(listed().await, ["b gone"]);
        let policy = LeasePolicy::default();
        let o = gridwatch_hub::workers::overview(&hub.state.store, &policy, hub.state.now())
            .await
            .unwrap();
        let told: Vec<String> = o.health().gone.into_iter().map(|g| g.worker).collect();
        assert_eq!(told, ["b"]);
        // B has a camera pinned to it: forgotten, that camera would stay dark unnoticed.
        let r = forget("b", &admin).await;
        assert_eq!(
            (r.status, code(&r)),
            (reqwest::StatusCode::CONFLICT, Some("worker_pinned".into())),
            "{}",
            r.body
        );
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&cams[0]));
        // The DELETE itself keeps a worker a camera is pinned to (a pin made meanwhile).
        let since = hub.state.now() - policy.ttl;
        let store = &hub.state.store;
        assert!(!store.forget_ingest_worker("b", since, false).await.unwrap());
        hub.call(
            Method::PUT,
            &format!("/api/v1/cameras/{}/worker", cams[0]),
            Some(&admin),
            Some(json!({"worker_id": null})),
        )
        .await;
        assert_eq!(forget("b", &admin).await.status, 204);
        assert!(listed().await.is_empty());

        // A stopped worker may be forgotten at once; one that runs again is known again.
        let (_c, mut lc) = worker(&hub, "c");
        lc.round().await.unwrap();
        lc.release_all().await;
        assert_eq!(listed().await, ["c stopped"]);
        assert_eq!(forget("c", &admin).await.status, 204);
        let (_a2, mut la2) = worker(&hub, "a");
        la2.round().await.unwrap();
        assert_eq!(listed().await, ["a live"]);
    }
);

// A worker lost with its disks: its recordings stay indexed, listed and waited for by evidence
// clips until an admin forgets them too, which a plain forget refuses to do silently.
on_both!(
    a_lost_workers_recordings_are_forgotten_only_when_asked,
    |hub: Hub| async move {
        use gridwatch_core::recording::{RecordMode, Segment};
        use gridwatch_hub::recording::evidence;

        let admin = hub.login_as("admin", None, None).await.1;
        let cam = add_cameras(&hub, &admin, 1).await.remove(0);
        let store = hub.state.store.clone();
        let (_a, mut la) = worker(&hub, "a");
        la.round().await.unwrap();
        // What it recorded, in a directory of its own: four minutes around an SOS.
        let now = hub.state.now();
        store
            .put_recording_dir("dir-a", "/var/lib/gridwatch/samples", Some("a"), now)
            .await
            .unwrap();
        let segment = |dir: &str, start: chrono::DateTime<chrono::Utc>| Segment {
            id: gridwatch_core::id::new_id(),
            camera_id: cam.clone(),
            stream: "main".into(),
            mode: RecordMode::Continuous,
            dir_id: dir.into(),
            path: format!("{}.mp4", start.timestamp_millis()),
            start,
            end: start + Duration::minutes(1),
            bytes: 1_000_000,
            frames: 1500,
            sha256: "0".repeat(64),
            codec: "avc1.640028".into(),
            width: 1920,
            height: 1080,
            holes: Vec::new(),
        };
        for m in -2..2 {
            let s = segment("dir-a", now + Duration::minutes(m));
            store.insert_recording_segment(&s).await.unwrap();
        }
        let mut sos = gridwatch_store::testing::bare_sos(&gridwatch_core::id::new_id());
        sos.raise.cameras = vec![cam.clone()];
        let incident = store.raise_incident(sos, now).await.unwrap().incident.id;
        let recorded = || {
            let path = format!(
                "/api/v1/cameras/{cam}/recordings?from={}&to={}",
                (now - Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                (now + Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            let (hub, admin) = (&hub, admin.clone());
            async move {
                let r = hub.call(Method::GET, &path, Some(&admin), None).await;
                assert_eq!(r.status, 200, "{}", r.body);
                let spans = r.body["spans"].as_array().unwrap();
                spans
                    .iter()
                    .map(|s| s["segments"].as_u64().unwrap())
                    .sum::<u64>()
            }
        };
        let workers = || async { store.ingest_workers(hub.state.now()).await.unwrap().len() };
        let indexed = |node: &'static str| {
            let store = store.clone();
            async move { store.worker_recordings(node).await.unwrap().segments }
        };
        // The machine is lost: gone a lease later. Its segments are listed, but cannot be
        // fetched, so the SOS's clip is put off, again and again.
        hub.clock.advance(Duration::minutes(2));
        assert_eq!(recorded().await, 4);
        let put_off = evidence::tick(&hub.state.recording).await.unwrap();
        assert_eq!((put_off.sealed, put_off.failed), (0, 1), "{put_off:?}");

        let forget = |name: &'static str, query: &'static str| {
            let (hub, admin) = (&hub, admin.clone());
            let path = format!("/api/v1/ingest/workers/{name}{query}");
            async move { hub.call(Method::DELETE, &path, Some(&admin), None).await }
        };
        // A plain forget says what would be lost, and keeps it all.
        let r = forget("a", "").await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.body["error"]["code"], "worker_has_recordings");
        let said = r.body["error"]["message"].as_str().unwrap();
        assert!(
            said.contains("4 recorded segments (4000000 bytes")
                && said.contains("?recordings=forget"),
            "{said}"
        );
        let r = forget("a", "?recordings=maybe").await;
        assert_eq!(
            (r.status.as_u16(), &r.body["error"]["field"]),
            (400, &json!("recordings")),
            "{}",
            r.body
        );
        // The store's own DELETE keeps it too (recordings indexed meanwhile).
        let since = hub.state.now() - LeasePolicy::default().ttl;
        assert!(!store.forget_ingest_worker("a", since, false).await.unwrap());
        assert_eq!(
            (recorded().await, indexed("a").await, workers().await),
            (4, 4, 1)
        );

        // Forgotten with its recordings: no longer listed, counted or waited for.
        let r = forget("a", "?recordings=forget").await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            (recorded().await, indexed("a").await, workers().await),
            (0, 0, 0)
        );
        assert!(store
            .recording_usage()
            .await
            .unwrap()
            .iter()
            .all(|u| u.dir_id != "dir-a"));
        hub.clock.advance(Duration::minutes(2));
        let ended = evidence::tick(&hub.state.recording).await.unwrap();
        assert_eq!((ended.no_recording, ended.failed), (1, 0), "{ended:?}");
        assert!(store.evidence_clips(&incident).await.unwrap().is_empty());
        // Nothing left of it to forget.
        assert_eq!(forget("a", "?recordings=forget").await.status, 404);

        // Should the machine run again after all, it is known again, and records into its
        // directory as it left it (its row was kept).
        let (_a2, mut la2) = worker(&hub, "a");
        la2.round().await.unwrap();
        assert_eq!(workers().await, 1);
        let back = hub.state.now();
        store
            .put_recording_dir("dir-a", "/var/lib/gridwatch/samples", Some("a"), back)
            .await
            .unwrap();
        let s = segment("dir-a", back - Duration::minutes(1));
        store.insert_recording_segment(&s).await.unwrap();
        assert_eq!(indexed("a").await, 1);

        // A worker forgotten before its recordings could be: they are forgotten by its name,
        // and only theirs.
        store
            .put_recording_dir("dir-old", "/srv/old", Some("old"), back)
            .await
            .unwrap();
        let s = segment("dir-old", now - Duration::minutes(30));
        store.insert_recording_segment(&s).await.unwrap();
        assert_eq!(forget("old", "").await.status, 404);
        assert_eq!(forget("old", "?recordings=forget").await.status, 204);
        assert_eq!((indexed("old").await, indexed("a").await), (0, 1));
    }
);

/// Every file under `dir` whose name ends with `suffix`, relative.
fn files_ending(dir: &std::path::Path, suffix: &str) -> std::collections::BTreeSet<String> {
    fn walk(base: &std::path::Path, at: &std::path::Path, suffix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, suffix, out);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path.strip_prefix(base).unwrap().to_string_lossy().into());
            }
        }
    }
    let mut out = vec![];
    walk(dir, dir, suffix, &mut out);
    out.into_iter().collect()
}

/// A worker (the real `server::worker::start`, on loopback) recording into its own directory:
/// rows carry its node and the lease's epoch; another worker's claim fences what it records
/// after, and it stops the camera at its next renewal.
async fn a_worker_records_its_cameras_fenced_by_its_lease(backend: gridwatch_store::Backend) {
    use gridwatch_store::SegmentFence;

    let OneCamera {
        sim: _sim,
        dir,
        store,
        camera,
    } = one_camera(backend).await;
    let samples = dir.path().join("samples");
    let mut config = worker_config();
    config.listen = "127.0.0.1:0".into();
    config.data_dir = dir.path().to_path_buf();
    config.cameras.backoff_initial_ms = 200;
    config.cameras.backoff_max_ms = 1000;
    let (worker, stop_worker) = start_worker(recording_worker(config, &samples), &store).await;
    let wbase = format!("http://{}", worker.addr);
    let http = reqwest::Client::new();
    let fence_of = |id: String| {
        let store = store.clone();
        async move { store.recording_segment_fence(&id).await.unwrap() }
    };
    let rows = || segments_of(&store, &camera);

    // The first round claimed the camera (epoch 1); it records, indexed as W1's under it.
    let held = store
        .camera_holder(&camera, chrono::Utc::now())
        .await
        .unwrap()
        .expect("held");
    assert_eq!((held.lease.worker_id.as_str(), held.lease.epoch), ("w1", 1));
    let started = std::time::Instant::now();
    while rows().await.len() < 2 {
        assert!(
            started.elapsed().as_secs() < 30,
            "no segments from the worker"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mine = Some(SegmentFence {
        worker_id: "w1".into(),
        epoch: 1,
    });
    for s in rows().await {
        assert_eq!(fence_of(s.id.clone()).await, mine, "{}", s.path);
    }
    // The directory is W1's: not the hub's, nor another worker's at the same path.
    let path = samples.to_string_lossy().to_string();
    assert!(store
        .recording_dir_at_path_has_segments(&path, Some("w1"))
        .await
        .unwrap());
    assert!(!store
        .recording_dir_at_path_has_segments(&path, None)
        .await
        .unwrap());
    assert!(!store
        .recording_dir_at_path_has_segments(&path, Some("w2"))
        .await
        .unwrap());
    let ready: serde_json::Value = http
        .get(format!("{wbase}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["cameras"], 1, "{ready}");
    assert_eq!(ready["recording"]["dirs"][0]["recording"], true, "{ready}");
    assert_eq!(ready["recording"]["dirs"][0]["streams"], 1, "{ready}");

    // W1 stalls, as far as the database knows: its lease is ended and W2 claims the camera
    // (epoch 2) while W1 still records. What W1 records past W2's claim is not indexed; it
    // stops the camera at its next renewal.
    // W1 looks for free cameras every 200 ms and may take the camera back between the release
    // and W2's claim: then its new lease is ended too, and W2 tries again.
    let mut lease = held.lease.clone();
    let (claimed_at, w2) = loop {
        assert!(store.release_lease(&lease).await.unwrap());
        let claimed_at = chrono::Utc::now();
        let w2 = store
            .claim_cameras(
                "w2",
                1,
                claimed_at,
                claimed_at + chrono::Duration::seconds(60),
            )
            .await
            .unwrap();
        if !w2.is_empty() {
            break (claimed_at, w2);
        }
        lease = store
            .camera_holder(&camera, chrono::Utc::now())
            .await
            .unwrap()
            .expect("W1 took the camera back")
            .lease;
        assert_eq!(lease.worker_id, "w1");
    };
    assert!(w2[0].epoch >= 2, "{w2:?}");
    let started = std::time::Instant::now();
    while !worker.state.cameras.registry.ids().is_empty() {
        assert!(started.elapsed().as_secs() < 10, "W1 still runs the camera");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fenced_metric = "gridwatch_recording_segments_fenced_total";
    let fenced_count = || {
        let http = http.clone();
        let url = format!("{wbase}/metrics");
        async move {
            let text = http.get(url).send().await.unwrap().text().await.unwrap();
            text.lines()
                .find(|l| l.starts_with(fenced_metric))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {fenced_metric} in {text}"))
        }
    };
    // The writer closes the segment the stop ended a moment later.
    let started = std::time::Instant::now();
    while fenced_count().await == 0 {
        assert!(started.elapsed().as_secs() < 10, "nothing fenced");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(stop_worker);
    worker.task.await.unwrap().unwrap();

    // Every row W1 indexed ended before W2's claim, and carries epoch 1; nothing of W1 was
    // indexed after. The segments W1 recorded past it are set aside, not lost, and counted;
    // every other file has its row.
    let indexed = rows().await;
    assert!(indexed.len() >= 2);
    for s in &indexed {
        assert!(s.end <= claimed_at, "{} ended after the claim", s.path);
        assert_eq!(fence_of(s.id.clone()).await, mine);
    }
    let aside = files_ending(&samples, ".mp4.fenced");
    assert!(!aside.is_empty());
    let recorder = worker.state.recording.recorder().expect("recording");
    assert_eq!(recorder.stats()[0].segments_fenced, aside.len() as u64);
    let on_disk = files_ending(&samples, ".mp4");
    let named: std::collections::BTreeSet<String> =
        indexed.iter().map(|s| s.path.clone()).collect();
    assert_eq!(named, on_disk, "rows and files differ");
}

served_on_both!(a_worker_records_its_cameras_fenced_by_its_lease);

/// A recording worker that gives a camera back to spread the cameras (another worker came
/// alive) keeps that camera's last segment: it waits `GIVE_BACK_AFTER` between stopping the
/// camera and giving the lease back, so that even a claim the moment the lease is free comes
/// after the segment's end (a segment ends where its video does, a frame past the last one's
/// arrival) and does not fence it. Here the other worker claims within milliseconds of the
/// release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_given_back_keeps_its_last_segment() {
    let OneCamera {
        sim,
        dir,
        store,
        camera: first,
    } = one_camera(gridwatch_store::Backend::Postgres).await;
    let second = crate::recording::served::add_camera(&store, &sim.url(1)).await;
    let samples = dir.path().join("samples");
    let mut config = worker_config();
    config.listen = "127.0.0.1:0".into();
    config.data_dir = dir.path().to_path_buf();
    let (worker, stop_worker) = start_worker(recording_worker(config, &samples), &store).await;
    let until = |what: &'static str| {
        let started = std::time::Instant::now();
        move || assert!(started.elapsed().as_secs() < 30, "{what}: not within 30 s")
    };
    let check = until("both cameras recorded");
    loop {
        let (a, b) = (
            segments_of(&store, &first).await,
            segments_of(&store, &second).await,
        );
        if !a.is_empty() && !b.is_empty() {
            break;
        }
        check();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // W2 comes alive: W1 gives one camera back; W2 claims it as soon as it is free.
    store
        .worker_alive("w2", "http://127.0.0.1:9", 10, &[], chrono::Utc::now())
        .await
        .unwrap();
    let check = until("a camera given back");
    let (given, claimed_at) = loop {
        let now = chrono::Utc::now();
        let mut free = None;
        for camera in [&first, &second] {
            if store.camera_holder(camera, now).await.unwrap().is_none() {
                free = Some(camera.clone());
            }
        }
        if let Some(camera) = free {
            let w2 = store
                .claim_cameras("w2", 1, now, now + chrono::Duration::seconds(60))
                .await
                .unwrap();
            assert_eq!(w2.len(), 1);
            assert_eq!(w2[0].camera_id, camera);
            break (camera, now);
        }
        check();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    };

    // W1's last segment of it is finished and indexed under W1's lease, ending before W2's
    // claim; nothing set aside.
    let recorder = worker
        .state
        .recording
        .recorder()
        .expect("recording")
        .clone();
    let check = until("the given camera's last segment indexed");
    loop {
        let waiting = recorder.unindexed(&given, gridwatch_ingest::config::Quality::Main);
        if waiting.open.is_none() && waiting.finished.is_empty() {
            break;
        }
        check();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rows = segments_of(&store, &given).await;
    let last = rows.last().expect("rows");
    assert!(
        last.end <= claimed_at,
        "{last:?} ends after the claim at {claimed_at}"
    );
    assert_eq!(recorder.stats()[0].segments_fenced, 0);
    assert!(files_ending(&samples, ".mp4.fenced").is_empty());
    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
}
