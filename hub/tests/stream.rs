//! The real-time stream over real WebSockets: hello, replay after a disconnect, the role
//! filter, receipts, presence, the flag on a dispatch nobody can see, slow and silent clients.
//! Every test runs on SQLite and on PostgreSQL.

use crate::common;

use common::community::{community, create, raise, s, Community};
use common::Hub;
use futures::{SinkExt, StreamExt};
use gridwatch_client::{Event, Message, StreamClient};
use gridwatch_hub::Config;
use gridwatch_store::Backend;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Ws;

/// Long enough for anything on loopback; a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(15);

macro_rules! on_both_with {
    ($name:ident, $config:expr, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let f = $body;
                f(Hub::with_config(Backend::Sqlite, $config).await).await
            }
            #[tokio::test]
            async fn postgres() {
                let f = $body;
                f(Hub::with_config(Backend::Postgres, $config).await).await
            }
        }
    };
}

/// A connected client, past its hello (returned).
async fn connect(base: &str, token: &str) -> (StreamClient, Value) {
    let mut c = StreamClient::new(base, token).unwrap();
    match tokio::time::timeout(PATIENCE, c.next())
        .await
        .unwrap()
        .unwrap()
    {
        Message::Hello(h) => (c, h),
        other => panic!("expected a hello first, got {other:?}"),
    }
}

/// The next event, skipping other messages (pong, health).
async fn next_event(c: &mut StreamClient) -> Event {
    loop {
        match tokio::time::timeout(PATIENCE, c.next())
            .await
            .expect("an event in time")
            .unwrap()
        {
            Message::Event(e) => return e,
            Message::Other(_) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The response check's state in the next `health` message.
async fn next_health(c: &mut StreamClient) -> Value {
    loop {
        match tokio::time::timeout(PATIENCE, c.next())
            .await
            .unwrap()
            .unwrap()
        {
            Message::Other(v) if v["type"] == "health" => {
                return v["health"]["response_check"].clone()
            }
            _ => continue,
        }
    }
}

/// Events until (and with) the first of type `kind`.
async fn until(c: &mut StreamClient, kind: &str) -> Vec<Event> {
    let mut seen = vec![];
    loop {
        let e = next_event(c).await;
        let done = e.kind == kind;
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// The first event of type `kind` about `post` (in its `post_id`), skipping the others.
async fn about_post(c: &mut StreamClient, kind: &str, post: &str) -> Event {
    loop {
        let e = until(c, kind).await.pop().unwrap();
        if e.data["post_id"] == post {
            return e;
        }
    }
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn incident_id(e: &Event) -> &str {
    e.incident
        .as_ref()
        .and_then(|i| i["id"].as_str())
        .unwrap_or("")
}

/// An SOS from a new resident of `grid` at a point of it; returns the incident.
async fn sos_in(hub: &Hub, grid: &str, at: (f64, f64)) -> Value {
    let resident = hub.login_as("resident", None, Some(grid)).await.1;
    raise(hub, &resident, Some(json!({"lat": at.0, "lon": at.1}))).await
}

/// In the first grid (chain p1, p2) and the second (chain p3) of the community.
const IN_G1: (f64, f64) = (26.52, 107.92);
const IN_G2: (f64, f64) = (26.52, 107.97);

mod hello {
    use super::*;
    on_both!(
        says_where_the_log_is_and_what_is_open,
        |hub: Hub| async move {
            let c = community(&hub).await;
            let open = sos_in(&hub, &c.g1, IN_G1).await;
            let base = hub.listen().await;
            let (_client, hello) = connect(&base, &c.duty).await;
            assert_eq!(hello["type"], "hello");
            assert_eq!(hello["seq"], hub.state.store.latest_seq().await.unwrap());
            assert_eq!(hello["user"]["role"], "duty_officer");
            let ids: Vec<&str> = hello["open_incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, [s(&open["id"])]);
            assert_eq!(hello["health"]["response_check"], "ok");
            // Pages ping this often; and each open incident says where its dispatch stands
            // (here: to p1, which has no console, so not received), so that a page opened
            // now rings for it.
            assert_eq!(hello["heartbeat_seconds"], 3);
            let first = &hello["open_incidents"][0];
            assert_eq!(first["delivery"]["post_id"], c.p1.as_str());
            assert!(first["allowed_actions"].is_array());
        }
    );

    on_both!(
        a_since_the_log_cannot_replay_gets_resync,
        |hub: Hub| async move {
            let c = community(&hub).await;
            let base = hub.listen().await;
            let latest = hub.state.store.latest_seq().await.unwrap();
            let mut client = StreamClient::new(&base, &c.duty)
                .unwrap()
                .resume_from(latest + 100);
            let first = tokio::time::timeout(PATIENCE, client.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(first, Message::Resync);
            match client.next().await.unwrap() {
                Message::Hello(h) => assert_eq!(h["seq"], latest),
                other => panic!("expected a fresh hello, got {other:?}"),
            }
        }
    );
}

on_both!(
    replay_gives_exactly_the_missed_events_in_order,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        // Consoles of the posts are online, so that every event is the direct effect of a call.
        let (_p1, _) = connect(&base, &c.r1).await;
        let (_p3, _) = connect(&base, &c.r3).await;
        let (mut duty, _) = connect(&base, &c.duty).await;
        let first = sos_in(&hub, &c.g1, IN_G1).await;
        let seen = until(&mut duty, "incident.dispatched").await;
        assert_eq!(kinds(&seen), ["incident.raised", "incident.dispatched"]);
        let last_seen = duty.last_seq().unwrap();

        // The console drops; meanwhile incidents are raised and acted on.
        duty.disconnect().await;
        let second = sos_in(&hub, &c.g2, IN_G2).await;
        common::community::act_ok(&hub, &c.r1, s(&first["id"]), "ack", None).await;
        let third = sos_in(&hub, &c.g1, IN_G1).await;
        let latest = hub.state.store.latest_seq().await.unwrap();
        assert_eq!(
            latest,
            last_seen + 5,
            "two raises with their dispatches, and an ack"
        );

        // Back: exactly the missed events, in order, then live ones.
        let mut replayed = vec![];
        while replayed.len() < (latest - last_seen) as usize {
            match tokio::time::timeout(PATIENCE, duty.next())
                .await
                .unwrap()
                .unwrap()
            {
                Message::Event(e) => replayed.push(e),
                Message::Hello(_) | Message::Other(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let seqs: Vec<i64> = replayed.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, ((last_seen + 1)..=latest).collect::<Vec<_>>());
        let about: Vec<&str> = replayed.iter().map(incident_id).collect();
        assert!(about.contains(&s(&second["id"])) && about.contains(&s(&third["id"])));
        assert!(kinds(&replayed).contains(&"incident.acknowledged"));
        let live = sos_in(&hub, &c.g2, IN_G2).await;
        let e = next_event(&mut duty).await;
        assert_eq!((e.seq, incident_id(&e)), (latest + 1, s(&live["id"])));
    }
);

/// Runs `f` and then raises a marker SOS that the client must see; returns what the client
/// saw before the marker, so that "saw nothing" is a real observation.
async fn seen_before_marker(client: &mut StreamClient, marker_id: &str) -> Vec<Event> {
    let mut before = vec![];
    loop {
        let e = next_event(client).await;
        if incident_id(&e) == marker_id {
            return before;
        }
        before.push(e);
    }
}

on_both!(each_role_sees_only_what_it_may, |hub: Hub| async move {
    let c: Community = community(&hub).await;
    let base = hub.listen().await;
    let (mut duty, _) = connect(&base, &c.duty).await;
    let (mut r1, _) = connect(&base, &c.r1).await; // p1: first of g1's chain
    let (mut r3, _) = connect(&base, &c.r3).await; // p3: g2 only
    let (resident_a, token_a) = hub.login_as("resident", None, Some(&c.g1)).await;
    let (mut ra, _) = connect(&base, &token_a).await;
    let (mut rb, _) = connect(&base, &c.resident).await; // another resident
    let device = StreamClient::new(&base, &c.button).unwrap().next().await;
    assert!(
        matches!(device, Err(gridwatch_client::ClientError::Refused(403))),
        "devices may not open the stream: {device:?}"
    );

    let a = raise(
        &hub,
        &token_a,
        Some(json!({"lat": IN_G1.0, "lon": IN_G1.1})),
    )
    .await;
    let a_id = s(&a["id"]).to_string();

    // Duty officers see everything, with who did it.
    let d = until(&mut duty, "incident.dispatched").await;
    let raised = d.iter().find(|e| e.kind == "incident.raised").unwrap();
    assert_eq!(incident_id(raised), a_id);
    assert!(raised.incident.as_ref().unwrap()["cameras"].is_array());
    // The post of the grid sees its dispatch.
    let r = until(&mut r1, "incident.dispatched").await;
    assert!(r
        .iter()
        .all(|e| incident_id(e) == a_id || e.kind.starts_with("post.")));
    assert_eq!(r.last().unwrap().data["post_id"], c.p1.as_str());
    // The resident sees their own call, without cameras, officers or addresses.
    let mine = until(&mut ra, "incident.dispatched").await;
    assert_eq!(kinds(&mine), ["incident.raised", "incident.dispatched"]);
    for e in &mine {
        let i = e.incident.as_ref().unwrap();
        assert_eq!(i["id"], a_id.as_str());
        assert!(
            i.get("cameras").is_none() && i.get("post_chain").is_none(),
            "{i}"
        );
        assert!(i.get("source").is_none());
        assert_eq!(e.data, json!({}));
    }
    assert_eq!(resident_a.role.as_str(), "resident");

    // Another post's console and another resident saw nothing of it: the next thing each
    // sees is its own.
    let b = sos_in(&hub, &c.g2, IN_G2).await;
    let before = seen_before_marker(&mut r3, s(&b["id"])).await;
    assert!(
        before.iter().all(|e| incident_id(e) != a_id),
        "p3 saw g1's incident: {:?}",
        kinds(&before)
    );
    let own = raise(&hub, &c.resident, None).await;
    let before = seen_before_marker(&mut rb, s(&own["id"])).await;
    assert!(
        before.is_empty(),
        "a resident saw another's: {:?}",
        kinds(&before)
    );
});

on_both!(
    receipts_are_recorded_once_and_presence_is_told,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let (mut duty, _) = connect(&base, &c.duty).await;

        // p1's console comes online.
        let (mut console, _) = connect(&base, &c.r1).await;
        let online = until(&mut duty, "post.online").await;
        assert_eq!(online.last().unwrap().data["post_id"], c.p1.as_str());

        let inc = sos_in(&hub, &c.g1, IN_G1).await;
        let dispatched = until(&mut console, "incident.dispatched")
            .await
            .pop()
            .unwrap();
        console.receipt(dispatched.seq).await.unwrap();
        let delivered = until(&mut duty, "incident.delivered").await.pop().unwrap();
        assert_eq!(incident_id(&delivered), s(&inc["id"]));
        assert_eq!(delivered.data["dispatch_seq"], dispatched.seq);
        assert_eq!(delivered.data["post_id"], c.p1.as_str());
        // A console online means no "undelivered" flag for this dispatch.
        let timeline = common::community::timeline(&hub, &c.duty, s(&inc["id"])).await;
        assert!(
            !timeline.contains(&"incident.undelivered".to_string()),
            "{timeline:?}"
        );

        // The same receipt again, and one for an event that is not a dispatch to p1: nothing
        // more is recorded, and the console is told why.
        console.receipt(dispatched.seq).await.unwrap();
        console.receipt(dispatched.seq - 1).await.unwrap();
        let mut errors = 0;
        while errors < 1 {
            if let Message::Other(v) = tokio::time::timeout(PATIENCE, console.next())
                .await
                .unwrap()
                .unwrap()
            {
                if v["type"] == "error" {
                    assert!(
                        v["message"]
                            .as_str()
                            .unwrap()
                            .contains("not a dispatch to your post"),
                        "{v}"
                    );
                    errors += 1;
                }
            }
        }
        let timeline = common::community::timeline(&hub, &c.duty, s(&inc["id"])).await;
        assert_eq!(
            timeline
                .iter()
                .filter(|t| *t == "incident.delivered")
                .count(),
            1,
            "{timeline:?}"
        );

        // The console goes: p1 is offline.
        console.disconnect().await;
        let offline = until(&mut duty, "post.offline").await.pop().unwrap();
        assert_eq!(offline.data["post_id"], c.p1.as_str());
    }
);

on_both!(
    a_dispatch_no_console_can_see_is_flagged_at_once,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let (mut duty, _) = connect(&base, &c.duty).await;
        let inc = sos_in(&hub, &c.g1, IN_G1).await;
        let flagged = until(&mut duty, "incident.undelivered")
            .await
            .pop()
            .unwrap();
        assert_eq!(incident_id(&flagged), s(&inc["id"]));
        assert_eq!(flagged.data["post_id"], c.p1.as_str());
        assert_eq!(flagged.data["reason"], "no console online");
        // Nobody at p1 saw it: it goes to p2 at once, not after the 2-minute window (the
        // clock has not moved); p2 has no console either, so the duty officers are told.
        let id = s(&inc["id"]).to_string();
        assert_eq!(
            escalation(&hub, &mut duty).await.data["to_post"],
            c.p2.as_str()
        );
        let flagged = until(&mut duty, "incident.undelivered")
            .await
            .pop()
            .unwrap();
        assert_eq!(flagged.data["post_id"], c.p2.as_str());
        let up = escalation(&hub, &mut duty).await;
        assert_eq!(up.data["to_post"], Value::Null);
        assert_eq!(up.data["target"], "duty_officers", "{:?}", up.data);
        let i = common::community::get(&hub, &c.duty, &id).await;
        assert_eq!(i["escalation_level"], 2);
        assert_eq!(i["post_id"], c.p2.as_str());
    }
);

/// Runs the response check until it escalates (the undelivered flag brings the deadline
/// forward from a task of its own), and returns the escalation as the duty officer saw it.
async fn escalation(hub: &Hub, duty: &mut StreamClient) -> Event {
    tokio::time::timeout(PATIENCE, async {
        while common::community::run_timers(hub).await.acted == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the response check escalated");
    until(duty, "incident.escalated").await.pop().unwrap()
}

fn quick_receipts() -> Config {
    let mut config = quick_pings();
    config.response.receipt_seconds = 1;
    // Long enough for the test's own clients, which answer pings only while they read.
    config.stream.idle_seconds = 5;
    config
}

on_both_with!(
    a_console_that_stops_answering_is_offline_and_its_dispatches_escalate_at_once,
    quick_receipts(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let (mut duty, _) = connect(&base, &c.duty).await;
        // p1's console is there but never confirms a dispatch (its page is stuck): after
        // receipt_seconds the dispatch is not received, and goes to p2.
        let (mut stuck, _) = connect(&base, &c.r1).await;
        until(&mut duty, "post.online").await;
        let inc = sos_in(&hub, &c.g1, IN_G1).await;
        until(&mut stuck, "incident.dispatched").await;
        let flagged = until(&mut duty, "incident.undelivered")
            .await
            .pop()
            .unwrap();
        assert_eq!(incident_id(&flagged), s(&inc["id"]));
        assert_eq!(flagged.data["post_id"], c.p1.as_str());
        assert_eq!(flagged.data["reason"], "no console confirmed it within 1 s");
        assert_eq!(
            escalation(&hub, &mut duty).await.data["to_post"],
            c.p2.as_str()
        );

        // p3's console goes silent (its network dropped, the socket half-open): the hub
        // drops it after idle_seconds and p3 is offline.
        let _silent = raw_client(&base, &c.r3).await;
        about_post(&mut duty, "post.online", &c.p3).await;
        about_post(&mut duty, "post.offline", &c.p3).await;
        // An SOS in g2 (chain: p3 only) is then flagged at once and goes up.
        let inc = sos_in(&hub, &c.g2, IN_G2).await;
        let flagged = about_post(&mut duty, "incident.undelivered", &c.p3).await;
        assert_eq!(incident_id(&flagged), s(&inc["id"]));
        assert_eq!(flagged.data["reason"], "no console online");
        // (The first incident's own escalation is due too: tick until this one has gone.)
        let id = s(&inc["id"]).to_string();
        tokio::time::timeout(PATIENCE, async {
            loop {
                common::community::run_timers(&hub).await;
                if common::community::get(&hub, &c.duty, &id).await["escalation_level"] == 1 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("escalated at once");
        let up = loop {
            let e = until(&mut duty, "incident.escalated").await.pop().unwrap();
            if incident_id(&e) == s(&inc["id"]) {
                break e;
            }
        };
        assert_eq!(up.data["target"], "duty_officers");
        drop(stuck);
    }
);

fn small_queue() -> Config {
    let mut config = Config::default();
    config.stream.client_queue = 8;
    config.stream.write_timeout_seconds = 1;
    // The slow client does not read, so it does not answer pings either: on a busy machine
    // the default 12 s of silence could drop it before it falls behind.
    config.stream.idle_seconds = 600;
    config
}

/// A WebSocket client with a tiny receive buffer that does not read until told to.
async fn raw_client(
    base: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let url = format!("ws://{addr}/api/v1/stream?token={token}");
    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    ws
}

on_both_with!(
    a_client_that_cannot_keep_up_is_closed_with_4008_and_the_others_are_not,
    small_queue(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let mut slow = raw_client(&base, &c.duty).await;
        let (mut fast, _) = connect(&base, &c.duty).await;
        let start = fast.last_seq().unwrap();
        let note = "紧急情况".repeat(240);
        let mut raised = 0;
        let mut fast_seen = 0;
        let mut slowest = Duration::ZERO;
        // Raise until the hub has given up on the slow client, reading the fast one as we go.
        while hub.state.stream.metrics.slow_clients.get() == 0 {
            let committed = std::time::Instant::now();
            create(
                &hub,
                &c.duty,
                "/api/v1/incidents",
                json!({"kind": "manual", "grid_id": c.g3, "note": note}),
            )
            .await;
            raised += 1;
            assert!(raised < 10_000, "the slow client was never closed");
            while fast_seen < raised {
                let e = next_event(&mut fast).await;
                assert_eq!(e.kind, "incident.raised");
                fast_seen += 1;
            }
            slowest = slowest.max(committed.elapsed());
        }
        // The fast client had every event, in order, without a gap (how fast is a figure for
        // the benchmark; printed here for the record, not asserted).
        assert_eq!(fast.last_seq().unwrap(), start + raised);
        println!(
            "{raised} incidents; the reading client had each within {slowest:?} of its request"
        );

        // The slow one reads now: what was already on its way, then 4008.
        let mut code = None;
        while let Ok(Some(frame)) = tokio::time::timeout(PATIENCE, slow.next()).await {
            match frame {
                Ok(Ws::Close(Some(f))) => {
                    code = Some(u16::from(f.code));
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        assert_eq!(code, Some(4008), "after {raised} incidents");
    }
);

fn quick_pings() -> Config {
    let mut config = Config::default();
    config.stream.ping_seconds = 1;
    config.stream.idle_seconds = 2;
    config
}

on_both_with!(
    a_silent_client_is_dropped_and_a_live_one_is_kept,
    quick_pings(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        // This one never reads, so it never answers a ping.
        let mut silent = raw_client(&base, &c.duty).await;
        // This one reads (tungstenite answers pings as it reads), for twice the idle limit.
        let (mut live, _) = connect(&base, &c.duty).await;
        let reading = tokio::time::timeout(Duration::from_secs(4), async {
            loop {
                if let Message::Disconnected { reason } = live.next().await.unwrap() {
                    panic!("the live client was dropped: {reason}");
                }
            }
        })
        .await;
        assert!(reading.is_err(), "read for 4 s");
        // It keeps reading while the SOS is raised: on a loaded machine raising it can take
        // longer than the idle limit, and a client that stops reading is rightly dropped.
        let (inc, e) = tokio::join!(sos_in(&hub, &c.g2, IN_G2), next_event(&mut live));
        assert_eq!(
            incident_id(&e),
            s(&inc["id"]),
            "the live client is still served"
        );

        // The silent one finds its connection ended without the SOS.
        let mut saw_sos = false;
        let ended = tokio::time::timeout(PATIENCE, async {
            while let Some(frame) = silent.next().await {
                match frame {
                    Ok(Ws::Text(t)) => saw_sos |= t.contains(s(&inc["id"])),
                    Ok(Ws::Close(_)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the silent client was not dropped");
        assert!(!saw_sos, "the silent client was still being sent events");
    }
);

on_both!(
    bad_messages_get_an_error_and_the_connection_goes_on,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let addr = base.trim_start_matches("http://");
        let url = format!("ws://{addr}/api/v1/stream?token={}", c.duty);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let hello = ws.next().await.unwrap().unwrap();
        assert!(hello.to_text().unwrap().contains("\"hello\""));
        for bad in [
            "not json",
            "{\"type\":\"launch\"}",
            "{\"type\":\"receipt\",\"seq\":\"x\"}",
        ] {
            ws.send(Ws::Text(bad.into())).await.unwrap();
            let answer: Value =
                serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
            assert_eq!(answer["type"], "error", "{bad}: {answer}");
        }
        ws.send(Ws::Text("{\"type\":\"ping\"}".into()))
            .await
            .unwrap();
        let answer: Value =
            serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(answer["type"], "pong");

        // And over HTTP: a bad since, a plain GET.
        for (path, status, code) in [
            ("/api/v1/stream?since=-3", 400, "invalid_query"),
            ("/api/v1/stream?since=abc", 400, "invalid_query"),
            ("/api/v1/stream", 426, "websocket_required"),
        ] {
            let a = hub
                .call(axum::http::Method::GET, path, Some(&c.duty), None)
                .await;
            assert_eq!(a.status, status, "{path}: {}", a.body);
            assert_eq!(a.body["error"]["code"], code, "{path}: {}", a.body);
        }
    }
);

on_both!(
    the_running_response_check_escalates_and_consoles_see_it,
    |hub: Hub| async move {
        // The engine's own loop (not a test's tick), on the manual clock.
        let c = community(&hub).await;
        let base = hub.listen().await;
        gridwatch_hub::incidents::response_check::spawn(hub.state.incidents.clone());
        let (_p1, _) = connect(&base, &c.r1).await;
        let (mut duty, _) = connect(&base, &c.duty).await;
        let inc = sos_in(&hub, &c.g1, IN_G1).await;
        until(&mut duty, "incident.dispatched").await;
        // Nobody acknowledges for the acknowledgement window: the loop, which sleeps at most a
        // second, hands the incident to the next post of the chain.
        hub.clock
            .advance(chrono::Duration::minutes(2) + chrono::Duration::seconds(1));
        let escalated = until(&mut duty, "incident.escalated").await.pop().unwrap();
        assert_eq!(incident_id(&escalated), s(&inc["id"]));
        assert_eq!(escalated.data["to_post"], c.p2.as_str());
        assert_eq!(escalated.data["from_post"], c.p1.as_str());
    }
);

on_both!(
    a_stalled_response_check_is_told_to_duty_officers,
    |hub: Hub| async move {
        use gridwatch_hub::incidents::{response_check, watchdog};
        let c = community(&hub).await;
        let base = hub.listen().await;
        let (mut duty, hello) = connect(&base, &c.duty).await;
        assert_eq!(hello["health"]["response_check"], "ok");
        let (_, hello) = connect(&base, &c.r1).await;
        assert!(
            hello["health"].is_null(),
            "responders are not shown the node's health"
        );
        sos_in(&hub, &c.g1, IN_G1).await;
        // The engine is not running (no loop here): the acknowledgement deadline passes unfired.
        hub.clock.advance(chrono::Duration::minutes(3));
        assert!(watchdog::check(&hub.state.incidents)
            .await
            .unwrap()
            .is_some());
        assert_eq!(next_health(&mut duty).await, "stalled");
        // It catches up: told again.
        response_check::tick(&hub.state.incidents).await.unwrap();
        assert!(watchdog::check(&hub.state.incidents)
            .await
            .unwrap()
            .is_none());
        assert_eq!(next_health(&mut duty).await, "ok");
    }
);

on_both_with!(
    a_client_that_closes_has_its_close_answered,
    Config::default(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let url = format!(
            "{}/api/v1/stream?token={}",
            base.replace("http://", "ws://"),
            c.duty
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let hello = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap();
        assert!(matches!(hello, Some(Ok(Ws::Text(_)))), "{hello:?}");
        ws.send(Ws::Close(None)).await.unwrap();
        // The hub answers with a close of its own (RFC 6455 §5.5.1), not just a dropped
        // connection, which a browser would report as abnormal (1006).
        let answered = tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(frame)) = ws.next().await {
                if let Ws::Close(_) = frame {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(answered, Ok(true));
    }
);

/// Sessions re-checked every second, so that a test waits a second, not ten.
fn quick_session_checks() -> Config {
    let mut config = Config::default();
    config.auth.session_check_seconds = 1;
    config
}

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket at `path` of the hub, with `token` in the query as a browser passes it.
async fn open_ws(base: &str, path: &str, token: &str) -> RawWs {
    let url = format!("{}{path}?token={token}", base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Reads `ws` for `during`: it must stay open (whatever it is sent meanwhile).
async fn stays_open(ws: &mut RawWs, during: Duration) {
    let read = tokio::time::timeout(during, async {
        loop {
            match ws.next().await {
                Some(Ok(Ws::Close(f))) => panic!("closed: {f:?}"),
                Some(Ok(_)) => continue,
                other => panic!("the socket ended: {other:?}"),
            }
        }
    })
    .await;
    assert!(read.is_err(), "read for {during:?}");
}

/// Reads `ws` until its close frame, which must come within `within`: (code, reason).
async fn closed_within(ws: &mut RawWs, within: Duration) -> (u16, String) {
    let close = tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                Some(Ok(Ws::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
                Some(Ok(Ws::Close(None))) => panic!("closed without a code"),
                Some(Ok(_)) => continue,
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await;
    close.unwrap_or_else(|_| panic!("still open after {within:?}"))
}

// A client message larger than the stream reads gets a close frame saying so (1009), not a
// reset connection; the client may connect again at once.
on_both!(
    an_oversized_client_message_is_closed_with_1009,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let mut ws = open_ws(&base, "/api/v1/stream", &c.duty).await;
        ws.send(Ws::Text("x".repeat(64 * 1024).into()))
            .await
            .unwrap();
        let (code, reason) = closed_within(&mut ws, Duration::from_secs(5)).await;
        assert_eq!((code, reason.as_str()), (1009, "message too big"));
        let (again, _) = connect(&base, &c.duty).await;
        assert!(again.last_seq().is_some(), "a new socket is served");
    }
);

/// Within a second's check interval, and a little: the time a closed session may go on.
const CHECKED_WITHIN: Duration = Duration::from_secs(4);

on_both_with!(
    logging_out_closes_the_stream_and_live_video_with_1008,
    quick_session_checks(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let mut stream = open_ws(&base, "/api/v1/stream", &c.duty).await;
        // A responder of p1 watches a camera of g1.
        let live_path = format!("/api/v1/cameras/{}/live", c.cams[0]);
        let mut video = open_ws(&base, &live_path, &c.r1).await;
        // Both go on past several checks while the sessions last.
        stays_open(&mut stream, Duration::from_millis(2500)).await;
        stays_open(&mut video, Duration::from_millis(500)).await;

        for token in [&c.duty, &c.r1] {
            let a = hub
                .call(
                    axum::http::Method::POST,
                    "/api/v1/auth/logout",
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(a.status, 204, "{}", a.body);
        }
        for ws in [&mut stream, &mut video] {
            let (code, reason) = closed_within(ws, CHECKED_WITHIN).await;
            assert_eq!(code, 1008, "{reason}");
            assert!(reason.contains("session"), "{reason}");
        }
        // And the token opens nothing any more.
        for path in ["/api/v1/stream", live_path.as_str()] {
            let url = format!("{}{path}?token={}", base.replace("http://", "ws://"), c.r1);
            match tokio_tungstenite::connect_async(url).await.unwrap_err() {
                tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 401),
                other => panic!("expected 401, got {other}"),
            }
        }
    }
);

on_both_with!(
    a_deleted_or_changed_user_and_an_expired_session_close_the_socket_with_1008,
    quick_session_checks(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let live_path = format!("/api/v1/cameras/{}/live", c.cams[0]);

        // A duty officer deleted by an admin.
        let (gone, gone_token) = hub.login_as("duty_officer", None, None).await;
        let mut stream = open_ws(&base, "/api/v1/stream", &gone_token).await;
        let mut video = open_ws(&base, &live_path, &gone_token).await;
        let a = hub
            .call(
                axum::http::Method::DELETE,
                &format!("/api/v1/users/{}", gone.id),
                Some(&c.admin),
                None,
            )
            .await;
        assert_eq!(a.status, 204, "{}", a.body);
        for ws in [&mut stream, &mut video] {
            assert_eq!(closed_within(ws, CHECKED_WITHIN).await.0, 1008);
        }

        // A responder moved to another post: what its console may see has changed.
        let (moved, moved_token) = hub.login_as("responder", Some(&c.p1), None).await;
        let mut stream = open_ws(&base, "/api/v1/stream", &moved_token).await;
        let mut video = open_ws(&base, &live_path, &moved_token).await;
        let a = hub
            .call(
                axum::http::Method::PATCH,
                &format!("/api/v1/users/{}", moved.id),
                Some(&c.admin),
                Some(json!({"post_id": c.p3})),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        for ws in [&mut stream, &mut video] {
            let (code, reason) = closed_within(ws, CHECKED_WITHIN).await;
            assert_eq!(code, 1008);
            assert!(reason.contains("role or post"), "{reason}");
        }

        // Sessions past their expiry (the hub's clock moves past the 12 h of `login_as`).
        let mut stream = open_ws(&base, "/api/v1/stream", &c.duty).await;
        let mut video = open_ws(&base, &live_path, &c.r1).await;
        stays_open(&mut stream, Duration::from_millis(1500)).await;
        hub.clock.advance(chrono::Duration::hours(13));
        for ws in [&mut stream, &mut video] {
            let (code, reason) = closed_within(ws, CHECKED_WITHIN).await;
            assert_eq!(code, 1008);
            assert!(reason.contains("expired"), "{reason}");
        }
    }
);

fn two_sockets_per_user() -> Config {
    let mut config = Config::default();
    config.stream.max_sockets_per_user = 2;
    config.cameras.max_live_per_user = 1;
    config
}

/// The text events of a replay: everything the socket sends until `quiet` passes in silence.
async fn replayed_events(ws: &mut RawWs, quiet: Duration) -> Vec<Value> {
    let mut events = vec![];
    loop {
        let got = tokio::time::timeout(quiet, ws.next()).await;
        let Ok(Some(Ok(msg))) = got else { break };
        if let Ws::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["seq"].is_i64() && v["type"] != "hello" {
                events.push(v);
            }
        }
    }
    events
}

on_both_with!(
    one_login_holds_a_bounded_number_of_sockets,
    two_sockets_per_user(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        let ws_base = base.replace("http://", "ws://");
        let mut first = open_ws(&base, "/api/v1/stream", &c.resident).await;
        let _second = open_ws(&base, "/api/v1/stream", &c.resident).await;
        // The third is refused before the upgrade, in words.
        let url = format!("{ws_base}/api/v1/stream?token={}", c.resident);
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), 429);
                let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["error"]["code"], "too_many_sockets", "{body}");
            }
            other => panic!("a third stream socket must be refused: {other:?}"),
        }
        // Another login is not held up by this one's sockets.
        let _duty = open_ws(&base, "/api/v1/stream", &c.duty).await;
        // A closed socket gives its place back.
        first.send(Ws::Close(None)).await.unwrap();
        while let Some(Ok(_)) = first.next().await {}
        let mut reopened = None;
        for _ in 0..50 {
            if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
                reopened = Some(ws);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            reopened.is_some(),
            "a place is given back when a socket closes"
        );
    }
);

on_both!(
    a_residents_replay_reads_only_their_own_incidents,
    |hub: Hub| async move {
        let c = community(&hub).await;
        let base = hub.listen().await;
        // Other residents' incidents fill the log before and after this resident's own.
        let place = json!({"lat": 26.52, "lon": 107.97});
        let mut others = vec![];
        for _ in 0..6 {
            others.push(hub.login_as("resident", None, None).await.1);
        }
        for other in &others[..3] {
            raise(&hub, other, Some(place.clone())).await;
        }
        let mine = raise(&hub, &c.resident, Some(place.clone())).await;
        for other in &others[3..] {
            raise(&hub, other, Some(place.clone())).await;
        }
        let url = format!(
            "{}/api/v1/stream?since=0&token={}",
            base.replace("http://", "ws://"),
            c.resident
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let events = replayed_events(&mut ws, Duration::from_millis(800)).await;
        assert!(
            events.iter().any(|e| e["type"] == "incident.raised"),
            "the resident's own raise is replayed: {events:?}"
        );
        for e in &events {
            assert_eq!(
                e["incident"]["id"], mine["id"],
                "only the resident's own: {e}"
            );
        }
        let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");

        // What happens next arrives live, once, and others' news still does not.
        let (_, another) = hub.login_as("resident", None, None).await;
        raise(&hub, &another, Some(place.clone())).await;
        let id = mine["id"].as_str().unwrap();
        let a = common::community::act(
            &hub,
            &c.resident,
            id,
            "cancel",
            Some(json!({"reason": "pressed by mistake"})),
        )
        .await;
        assert!(a.status.is_success(), "{}", a.body);
        let live = replayed_events(&mut ws, Duration::from_millis(800)).await;
        assert!(
            live.iter().all(|e| e["incident"]["id"] == mine["id"]),
            "{live:?}"
        );
        let cancelled = live
            .iter()
            .filter(|e| e["type"] == "incident.cancelled")
            .count();
        assert_eq!(cancelled, 1, "{live:?}");
        let last = seqs.last().copied().unwrap_or(0);
        assert!(
            live.iter().all(|e| e["seq"].as_i64().unwrap_or(0) > last),
            "no repeat: {live:?}"
        );
    }
);

/// An event about an incident that cannot be read (its row corrupt) is not published without
/// its incident — residents' consoles would drop it in silence; it is counted, held back, and
/// delivered from the log with its incident once the incident reads again.
async fn an_event_whose_incident_cannot_be_read_is_not_published_bare(backend: Backend) {
    use gridwatch_core::event::{Actor, EventType};
    let hub = Hub::new(backend).await;
    let c = community(&hub).await;
    hub.state.start_stream(None).await.expect("stream starts");
    let mut delivered = hub.state.stream.subscribe();
    let a = common::community::sos(&hub, &c.button, None).await;
    assert_eq!(a.status, axum::http::StatusCode::CREATED, "{}", a.body);
    let id = s(&a.body["incident"]["id"]).to_string();
    let store = &hub.state.store;
    let dispatch = store
        .events_since(0, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventType::IncidentDispatched)
        .expect("the SOS was dispatched");
    // Everything so far reaches the stream.
    loop {
        let p = tokio::time::timeout(PATIENCE, delivered.recv())
            .await
            .expect("the dispatch was delivered")
            .unwrap();
        if p.event.seq == dispatch.seq {
            break;
        }
    }

    let receipt = store
        .record_delivery(
            &id,
            dispatch.seq,
            &c.p1,
            &Actor::user("r1", "test"),
            hub.state.now(),
        )
        .await
        .unwrap()
        .expect("a new receipt");
    let kind = gridwatch_store::testing::corrupt_incident(store, &id)
        .await
        .unwrap();
    hub.state.stream.publish_events(vec![receipt.clone()]).await;
    // Not delivered bare (the sequencer keeps trying the log meanwhile, and fails the same way).
    // Events committed before it (the SOS's own, still arriving) may come; nothing bare, and
    // not the receipt.
    let quiet = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(p) = tokio::time::timeout_at(quiet, delivered.recv()).await {
        let p = p.unwrap();
        assert!(
            p.event.seq < receipt.seq && p.incident.is_some(),
            "event {} delivered while its incident is unreadable (incident: {:?})",
            p.event.seq,
            p.incident.as_ref().map(|i| &i.id)
        );
    }
    assert_eq!(hub.state.stream.metrics.incident_read_failures.get(), 1);

    gridwatch_store::testing::restore_incident_kind(store, &id, &kind)
        .await
        .unwrap();
    let p = tokio::time::timeout(PATIENCE, delivered.recv())
        .await
        .expect("the receipt was delivered from the log once its incident read again")
        .unwrap();
    assert_eq!(p.event.seq, receipt.seq);
    assert_eq!(p.event.kind, EventType::IncidentDelivered);
    assert_eq!(
        p.incident.as_ref().map(|i| i.id.as_str()),
        Some(id.as_str())
    );
}

mod an_event_whose_incident_cannot_be_read_is_not_published_bare {
    #[tokio::test]
    async fn sqlite() {
        super::an_event_whose_incident_cannot_be_read_is_not_published_bare(
            gridwatch_store::Backend::Sqlite,
        )
        .await
    }
    #[tokio::test]
    async fn postgres() {
        super::an_event_whose_incident_cannot_be_read_is_not_published_bare(
            gridwatch_store::Backend::Postgres,
        )
        .await
    }
}
