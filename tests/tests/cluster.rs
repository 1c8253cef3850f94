//! Two hub processes sharing one PostgreSQL database and NATS JetStream (the real servers on
//! this machine): an event committed on one node reaches a console on the other, in order and
//! without a gap; when a node is killed, its consoles resume on the other and miss nothing.

use crate::support;

use gridwatch_client::{Message, StreamClient};
use serde_json::{json, Value};
use std::time::Duration;
use support::{json, start, HubProcess};

const PATIENCE: Duration = Duration::from_secs(20);

/// Starts a node of the cluster.
async fn node(db: &str, nats_stream: &str) -> HubProcess {
    start(
        "serve",
        &[
            ("GRIDWATCH_DATABASE_URL", db.to_string()),
            ("GRIDWATCH_STREAM__BUS", "nats".into()),
            ("GRIDWATCH_STREAM__NATS_STREAM", nats_stream.into()),
        ],
    )
    .await
}

async fn login(base: &str, username: &str, password: &str) -> String {
    let v = json(
        reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password})),
    )
    .await;
    v["token"].as_str().expect("logged in").to_string()
}

async fn post(base: &str, token: &str, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// Reads `n` events, checking that their seqs follow each other from where the client was.
async fn read_in_order(c: &mut StreamClient, n: usize) -> Vec<i64> {
    let mut seqs = vec![];
    let mut last = c.last_seq().expect("past the hello");
    while seqs.len() < n {
        match tokio::time::timeout(PATIENCE, c.next())
            .await
            .expect("events in time")
            .unwrap()
        {
            Message::Event(e) => {
                assert_eq!(e.seq, last + 1, "a gap or a repeat after {last}");
                last = e.seq;
                seqs.push(e.seq);
            }
            Message::Hello(_) | Message::Other(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    seqs
}

async fn latest(base: &str, token: &str) -> i64 {
    // The hello of a fresh connection says where the log ends.
    let mut c = StreamClient::new(base, token).unwrap();
    match c.next().await.unwrap() {
        Message::Hello(h) => h["seq"].as_i64().unwrap(),
        other => panic!("expected hello, got {other:?}"),
    }
}

#[tokio::test]
async fn events_cross_nodes_in_order_and_consoles_resume_on_the_other_node() {
    let db = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let nats_stream = format!("GWTEST_{:08x}", std::process::id() ^ rand_suffix());

    // An admin from the command line, then two nodes.
    let dir = tempfile::tempdir().unwrap();
    support::add_user(dir.path(), Some(&db), "ops", "admin", "ops-password");
    let mut a = node(&db, &nats_stream).await;
    let b = node(&db, &nats_stream).await;

    let admin = login(&a.base, "ops", "ops-password").await;
    for (name, role) in [("duty1", "duty_officer")] {
        post(
            &a.base,
            &admin,
            "/api/v1/users",
            json!({"username": name, "password": "password-1", "role": role}),
        )
        .await;
    }
    let duty_a = login(&a.base, "duty1", "password-1").await;
    let duty_b = login(&b.base, "duty1", "password-1").await;

    let mut on_a = StreamClient::new(&a.base, &duty_a).unwrap();
    let mut on_b = StreamClient::new(&b.base, &duty_b).unwrap();
    for c in [&mut on_a, &mut on_b] {
        assert!(matches!(c.next().await.unwrap(), Message::Hello(_)));
    }

    // Incidents raised on both nodes at once; each console sees all of them, in seq order.
    let raise = |base: String, token: String| async move {
        for i in 0..15 {
            post(
                &base,
                &token,
                "/api/v1/incidents",
                json!({"kind": "manual", "note": format!("{base} #{i}")}),
            )
            .await;
        }
    };
    let started = std::time::Instant::now();
    tokio::join!(
        raise(a.base.clone(), duty_a.clone()),
        raise(b.base.clone(), duty_b.clone())
    );
    let seen_b = read_in_order(&mut on_b, 30).await;
    let seen_a = read_in_order(&mut on_a, 30).await;
    assert_eq!(seen_a, seen_b);
    println!("30 events across two nodes in {:?}", started.elapsed());
    // They came over the bus, not from B's periodic look at the log.
    let total = support::metric(&b.base, "gridwatch_stream_events_total").await;
    let from_log = support::metric(&b.base, "gridwatch_stream_events_from_log_total").await;
    println!("node B delivered {total} events, {from_log} of them read from the log");
    assert!(
        total >= 30.0 && from_log < total / 2.0,
        "{total} events, {from_log} from the log"
    );

    // Node A dies hard. Its console moves to B with since = its last seq, while B goes on.
    let resume_from = on_a.last_seq().unwrap();
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    drop(on_a);
    for i in 0..5 {
        post(
            &b.base,
            &duty_b,
            "/api/v1/incidents",
            json!({"kind": "manual", "note": format!("after #{i}")}),
        )
        .await;
    }
    let mut moved = StreamClient::new(&b.base, &duty_b)
        .unwrap()
        .resume_from(resume_from);
    let resumed = read_in_order(&mut moved, 5).await;
    assert_eq!(resumed.first(), Some(&(resume_from + 1)));
    assert_eq!(*resumed.last().unwrap(), latest(&b.base, &duty_b).await);
    // And B's own console carried on without a gap.
    read_in_order(&mut on_b, 5).await;
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}
