//! The crash test: SOS at full speed, the hub killed with SIGKILL mid-stream, restarted on the
//! same database. Every SOS answered 201 must be there and dispatched, and the response
//! deadlines that fell due while the hub was down must fire once after the restart — and never
//! again after a second restart. On SQLite and on PostgreSQL.
//!
//! The response windows are set to seconds (`[response] *_seconds`) so that the whole check
//! runs while the hub is down; each grid has one post, so the acknowledgement deadline escalates
//! to the duty officers and arms nothing new, and every incident ends with exactly one
//! `incident.at_risk`, one `incident.breached`, and two `incident.escalated` (to the duty
//! officers, then to the supervisor level).

use crate::support;

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Devices, one per press: a repeat press of the same device would return its open incident,
/// and the per-caller rate limit would refuse the eleventh press in a minute.
const DEVICES: usize = 400;
/// The hub is killed once this many presses have been answered 201.
const KILL_AFTER: usize = 200;
/// Concurrent clients pressing.
const CLIENTS: usize = 16;
/// The response windows, in seconds: acknowledgement, at risk, deadline.
const ACK_S: u64 = 4;
const AT_RISK_S: u64 = 5;
const WINDOW_S: u64 = 6;

/// One hub process on a given database; SIGKILLed when dropped.
struct Hub {
    child: Child,
    base: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, no flush, no goodbye.
    fn sigkill(mut self) {
        self.child.kill().expect("SIGKILL the hub");
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );
    }
}

fn envs(db: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GRIDWATCH_DATABASE_URL", db.to_string()),
        ("GRIDWATCH_RESPONSE__ACK_SECONDS", ACK_S.to_string()),
        ("GRIDWATCH_RESPONSE__AT_RISK_SECONDS", AT_RISK_S.to_string()),
        ("GRIDWATCH_RESPONSE__WINDOW_SECONDS", WINDOW_S.to_string()),
        // No console is online, so every dispatch would be escalated at once as not received;
        // this test is about the deadlines surviving the kill, so they are left to fall due
        // while the hub is down.
        (
            "GRIDWATCH_RESPONSE__ESCALATE_UNDELIVERED",
            "false".to_string(),
        ),
        // Every incident is escalated and breached: that is the point, not news.
        ("GRIDWATCH_LOG__FILTER", "error".to_string()),
    ]
}

async fn serve(dir: &Path, db: &str) -> Hub {
    let port = support::free_port();
    let mut c = support::command(dir);
    c.arg("serve")
        .env("GRIDWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null());
    for (k, v) in envs(db) {
        c.env(k, v);
    }
    let hub = Hub {
        child: c.spawn().expect("gridwatch starts"),
        base: format!("http://127.0.0.1:{port}"),
    };
    support::wait_ready(&hub.base).await;
    hub
}

fn add_user(dir: &Path, db: &str, name: &str, role: &str) {
    support::add_user(dir, Some(db), name, role, &format!("{name}-password"));
}

async fn login(client: &reqwest::Client, base: &str, name: &str) -> String {
    let v = support::json(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": name, "password": format!("{name}-password")})),
    )
    .await;
    v["token"]
        .as_str()
        .expect("login gives a token")
        .to_string()
}

/// Every incident in the database, by id, as the duty officer sees them.
async fn all_incidents(client: &reqwest::Client, base: &str, duty: &str) -> HashMap<String, Value> {
    let list = support::json(
        client
            .get(format!("{base}/api/v1/incidents?state=all&limit=1000"))
            .bearer_auth(duty),
    )
    .await;
    let list = list.as_array().expect("a list of incidents");
    assert!(list.len() < 1000, "more incidents than one page");
    list.iter()
        .map(|i| (i["id"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

/// The response-check events of each incident's timeline: `(at_risk, breached, escalated
/// targets)`, and the whole timeline's length.
async fn checks(
    client: &reqwest::Client,
    base: &str,
    duty: &str,
    ids: &[String],
) -> HashMap<String, (usize, usize, Vec<String>, usize)> {
    let mut out = HashMap::new();
    for id in ids {
        let v = support::json(
            client
                .get(format!("{base}/api/v1/incidents/{id}"))
                .bearer_auth(duty),
        )
        .await;
        let timeline = v["incident"]["timeline"].as_array().expect("a timeline");
        let of = |t: &str| timeline.iter().filter(|e| e["type"] == t).count();
        let mut targets: Vec<String> = timeline
            .iter()
            .filter(|e| e["type"] == "incident.escalated")
            .map(|e| e["data"]["target"].as_str().unwrap_or("?").to_string())
            .collect();
        targets.sort();
        out.insert(
            id.clone(),
            (
                of("incident.at_risk"),
                of("incident.breached"),
                targets,
                timeline.len(),
            ),
        );
    }
    out
}

async fn crash_and_recover(db: String) {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), &db, "chief", "admin");
    add_user(dir.path(), &db, "duty", "duty_officer");
    let hub = serve(dir.path(), &db).await;
    let client = reqwest::Client::new();
    let admin = login(&client, &hub.base, "chief").await;
    let post = support::json(
        client
            .post(format!("{}/api/v1/posts", hub.base))
            .bearer_auth(&admin)
            .json(&json!({"name": "一号警务室", "lat": 31.2, "lon": 121.4})),
    )
    .await;
    let post_id = post["id"].as_str().expect("a post").to_string();
    let grid = support::json(
        client
            .post(format!("{}/api/v1/grids", hub.base))
            .bearer_auth(&admin)
            .json(&json!({"name": "一网格", "post_chain": [post_id]})),
    )
    .await;
    let grid_id = grid["id"].as_str().expect("a grid").to_string();
    let mut tokens = Vec::with_capacity(DEVICES);
    for n in 0..DEVICES {
        let d = support::json(
            client
                .post(format!("{}/api/v1/devices", hub.base))
                .bearer_auth(&admin)
                .json(&json!({"name": format!("button {n}"), "grid_id": grid_id})),
        )
        .await;
        tokens.push(d["token"].as_str().expect("a device token").to_string());
    }
    let tokens = Arc::new(tokens);

    // SOS at full speed from CLIENTS tasks, each device pressing once.
    let mut load = support::SosLoad::start(&client, &hub.base, tokens, CLIENTS);
    let (next, created, other) = (load.next.clone(), load.created.clone(), load.other.clone());
    let started = Instant::now();
    while load.answered() < KILL_AFTER {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} presses answered 201 in 30 s; others: {:?}",
            created.lock().unwrap().len(),
            other.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    hub.sigkill();
    let killed = Instant::now();
    let storm = killed - started;
    load.join().await;
    let created = created.lock().unwrap().clone();
    let other = other.lock().unwrap().clone();
    assert!(other.is_empty(), "presses not answered 201: {other:?}");
    assert!(created.len() >= KILL_AFTER);
    let pressed = next.load(Ordering::SeqCst).min(DEVICES);
    assert!(
        pressed < DEVICES,
        "the hub was killed after every press had been answered"
    );

    // Down until every deadline of every incident (even one committed the instant before the
    // kill) is due.
    tokio::time::sleep(Duration::from_secs(WINDOW_S) + Duration::from_millis(1500)).await;

    let hub = serve(dir.path(), &db).await;
    let duty = login(&client, &hub.base, "duty").await;
    let stored = all_incidents(&client, &hub.base, &duty).await;
    let missing: Vec<&String> = created
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} SOS answered 201 are lost: {missing:?}",
        missing.len(),
        created.len()
    );
    // Presses under way at the kill may have been committed without an answer; nothing else.
    assert!(
        stored.len() <= pressed,
        "{} incidents from {pressed} presses",
        stored.len()
    );
    for (id, i) in &stored {
        assert_eq!(
            i["post_id"],
            post_id.as_str(),
            "incident {id} not dispatched: {i}"
        );
        assert!(
            [
                "dispatched",
                "acknowledged",
                "en_route",
                "on_scene",
                "resolved"
            ]
            .contains(&i["state"].as_str().unwrap()),
            "incident {id}: {i}"
        );
    }

    // The deadlines that fell due while the hub was down fire now, each once.
    let ids: Vec<String> = stored.keys().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    let fired = loop {
        let c = checks(&client, &hub.base, &duty, &ids).await;
        if c.values().all(|(_, breached, _, _)| *breached > 0) || Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let escalations = vec!["duty_officers".to_string(), "supervisor".to_string()];
    for (id, (at_risk, breached, targets, _)) in &fired {
        assert_eq!(
            (*at_risk, *breached, targets),
            (1, 1, &escalations),
            "incident {id}: at_risk, breached, escalated targets"
        );
    }
    let after_restart = support::metric(&hub.base, "gridwatch_deadlines_fired_total").await;
    if storm < Duration::from_secs(ACK_S) {
        // Nothing was due before the kill: this process fired every deadline.
        assert_eq!(after_restart as usize, 3 * stored.len());
    } else {
        assert!(after_restart > 0.0);
    }
    assert_eq!(
        support::metric(&hub.base, "gridwatch_deadlines_overdue").await,
        0.0
    );

    // Killed and restarted once more: nothing fires twice.
    hub.sigkill();
    let hub = serve(dir.path(), &db).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        support::metric(&hub.base, "gridwatch_deadlines_fired_total").await,
        0.0,
        "deadlines fired again after a second restart"
    );
    let again = checks(&client, &hub.base, &duty, &ids).await;
    assert_eq!(again, fired, "timelines changed after a second restart");
    let distinct: HashSet<&String> = created.iter().collect();
    assert_eq!(distinct.len(), created.len(), "two presses, one incident");
    eprintln!(
        "{db}: {} SOS answered 201 in {storm:?} then SIGKILL; {} incidents after restart, \
         {} deadlines fired after restart",
        created.len(),
        stored.len(),
        after_restart
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_sos_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gridwatch.db").display());
    crash_and_recover(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_sos_on_postgresql() {
    let db = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL for the tests");
    crash_and_recover(db).await;
}
