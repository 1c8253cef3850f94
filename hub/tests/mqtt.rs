//! Panic buttons over MQTT, against the real Mosquitto on 127.0.0.1:1883 (anonymous access, as
//! `./deploy/setup.sh test` starts it; `GRIDWATCH_TEST_MQTT=HOST:PORT` points elsewhere).
//!
//! Each test gives its hub a topic prefix and client ids of its own, so parallel tests (and
//! parallel runs) on one broker never hear each other's buttons; the retained statuses they
//! leave are cleared at the end. The buttons and the status watcher are separate rumqttc
//! clients speaking to the broker, as real buttons would.

use crate::common;

use axum::http::{Method, StatusCode};
use common::community::{act_ok, community, create, get, s, Community};
use common::Hub;
use gridwatch_core::clock::ManualClock;
use gridwatch_hub::mqtt::press::{handle, Attempt, Outcome};
use gridwatch_hub::mqtt::{self, Bridge};
use gridwatch_hub::Config;
use gridwatch_store::{Backend, Store, StoreOptions};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// How long a test waits for anything to come over the broker.
const WAIT: Duration = Duration::from_secs(10);

/// Runs the test `$test(backend)` twice, as `$test::sqlite` and `$test::postgres`.
macro_rules! on_both_backends {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test(gridwatch_store::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$test(gridwatch_store::Backend::Postgres).await
            }
        }
    };
}

fn broker() -> (String, u16) {
    let addr = std::env::var("GRIDWATCH_TEST_MQTT").unwrap_or_else(|_| "127.0.0.1:1883".into());
    let (host, port) = addr
        .rsplit_once(':')
        .expect("GRIDWATCH_TEST_MQTT is HOST:PORT");
    (host.to_string(), port.parse().expect("a port number"))
}

fn unique() -> String {
    let id = gridwatch_core::id::new_id().replace('-', "");
    id[id.len() - 12..].to_string()
}

/// A configuration with MQTT on, under a prefix and client id of this test's own.
fn mqtt_config(prefix: &str) -> Config {
    let (host, port) = broker();
    let mut c = Config::default();
    c.mqtt.host = host;
    c.mqtt.port = port;
    c.mqtt.client_id = format!("gridwatch-test-{}", unique());
    c.mqtt.topic_prefix = prefix.to_string();
    c.mqtt.persistent_session = false;
    c
}

/// A hub on `backend` with MQTT configured under a fresh prefix (bridge not started).
async fn hub_with_mqtt(backend: Backend) -> (Hub, String) {
    let prefix = format!("gridwatch-test/{}", unique());
    (
        Hub::with_config(backend, mqtt_config(&prefix)).await,
        prefix,
    )
}

/// Starts the hub's bridge and waits until it is subscribed.
async fn start_bridge(hub: &Hub) -> Bridge {
    let bridge = mqtt::spawn(
        &hub.state.config.mqtt,
        hub.state.incidents.clone(),
        &hub.state.mqtt,
        &hub.state.metrics,
    )
    .expect("valid [mqtt]")
    .expect("MQTT configured");
    assert!(
        bridge.wait_subscribed(WAIT).await,
        "the bridge did not subscribe on the broker"
    );
    bridge
}

/// A plain MQTT client: a panic button, or someone watching status topics.
struct TestClient {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<Publish>,
    subacks: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TestClient {
    async fn connect() -> TestClient {
        let (host, port) = broker();
        let mut opts = MqttOptions::new(format!("gridwatch-test-client-{}", unique()), host, port);
        // A button may send more than rumqttc's 10 KiB default (the oversized press below).
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (msg_tx, messages) = mpsc::unbounded_channel();
        let (sub_tx, subacks) = mpsc::unbounded_channel();
        let (conn_tx, mut connected) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        conn_tx.send_replace(true);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = sub_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = msg_tx.send(p);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("test client: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        tokio::time::timeout(WAIT, connected.wait_for(|c| *c))
            .await
            .expect("the test client could not reach the broker")
            .unwrap();
        TestClient {
            client,
            messages,
            subacks,
            task,
        }
    }

    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        tokio::time::timeout(WAIT, self.subacks.recv())
            .await
            .expect("no SUBACK")
            .unwrap();
    }

    async fn publish(&self, topic: &str, payload: &[u8], retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
            .await
            .unwrap();
    }

    /// The next message on `topic` (others are skipped), as JSON.
    async fn next_on(&mut self, topic: &str) -> (Value, bool) {
        self.next_on_within(topic, WAIT).await
    }

    /// [`Self::next_on`], waiting up to `wait` for each message.
    async fn next_on_within(&mut self, topic: &str, wait: Duration) -> (Value, bool) {
        loop {
            let p = tokio::time::timeout(wait, self.messages.recv())
                .await
                .unwrap_or_else(|_| panic!("nothing on {topic}"))
                .unwrap();
            if p.topic == topic {
                let v = serde_json::from_slice(&p.payload)
                    .unwrap_or_else(|e| panic!("status is not JSON ({e}): {:?}", p.payload));
                return (v, p.retain);
            }
        }
    }

    /// Nothing arrives on any subscribed topic for a while.
    async fn quiet(&mut self, d: Duration) {
        if let Ok(Some(p)) = tokio::time::timeout(d, self.messages.recv()).await {
            panic!("unexpected message on {}: {:?}", p.topic, p.payload);
        }
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Removes the retained messages a test left on the broker.
async fn clear_retained(topics: &[String]) {
    let c = TestClient::connect().await;
    for t in topics {
        c.publish(t, b"", true).await;
    }
    // Let the event loop send them before it is dropped.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The value of `gridwatch_mqtt_messages_total{outcome}` in the hub's `/metrics`.
async fn counted(hub: &Hub, outcome: &str) -> u64 {
    let text = hub.call(Method::GET, "/metrics", None, None).await.body;
    let text = text.as_str().expect("metrics are text");
    let line = format!("gridwatch_mqtt_messages_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until each counter, in turn, reaches its `n` (it is counted just after the press is
/// handled).
async fn assert_counted(hub: &Hub, expected: &[(&str, u64)]) {
    for &(outcome, n) in expected {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = counted(hub, outcome).await;
            if got == n {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mqtt_messages_total{{outcome={outcome:?}}} is {got}, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn incidents(hub: &Hub, c: &Community) -> Vec<Value> {
    let a = hub
        .call(Method::GET, "/api/v1/incidents", Some(&c.duty), None)
        .await;
    a.body.as_array().expect("a list").clone()
}

/// The community's panic button's topics under `prefix`: where it presses (`sos`) and where
/// it reads its state (`status`).
fn button_topics(prefix: &str, c: &Community) -> (String, String) {
    (
        format!("{prefix}/devices/{}/sos", c.button_id),
        format!("{prefix}/devices/{}/status", c.button_id),
    )
}

/// A client subscribed to `topic`.
async fn watching(topic: &str) -> TestClient {
    let mut watcher = TestClient::connect().await;
    watcher.subscribe(topic).await;
    watcher
}

/// Presses the button (`payload` on `sos`, not retained) and returns the state the watcher
/// then reads on `status`.
async fn press(
    button: &TestClient,
    sos: &str,
    payload: &[u8],
    watcher: &mut TestClient,
    status: &str,
) -> Value {
    button.publish(sos, payload, false).await;
    watcher.next_on(status).await.0
}

/// A press over MQTT raises an incident routed and dispatched like an HTTP press; the button
/// reads its state, retained, on its status topic at every change; a repeat press makes no
/// second incident and is answered too.
async fn press_raises_and_status_follows(backend: Backend) {
    let (hub, prefix) = hub_with_mqtt(backend).await;
    let c = community(&hub).await;
    let bridge = start_bridge(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);
    let mut watcher = watching(&status).await;
    let button = TestClient::connect().await;

    let payload = r#"{"lat": 26.52, "lon": 107.92, "note": "3栋大堂"}"#;
    let st = press(&button, &sos, payload.as_bytes(), &mut watcher, &status).await;
    assert_eq!(st["state"], "dispatched", "{st}");
    let id = s(&st["incident_id"]).to_string();
    assert_eq!(
        st.as_object().unwrap().len(),
        2,
        "exactly incident_id and state: {st}"
    );

    let i = get(&hub, &c.duty, &id).await;
    assert_eq!(i["source"], format!("device:{}", c.button_id));
    assert_eq!(i["kind"], "sos");
    assert_eq!(
        (s(&i["grid_id"]), s(&i["post_id"])),
        (c.g1.as_str(), c.p1.as_str())
    );
    assert_eq!(
        (i["lat"].as_f64(), i["lon"].as_f64()),
        (Some(26.52), Some(107.92))
    );
    assert_eq!(i["note"], "3栋大堂");
    let raised = &i["timeline"][0];
    assert_eq!(raised["type"], "incident.raised");
    assert_eq!(raised["actor"], format!("device:{}", c.button_id));
    assert_eq!(raised["origin"], "mqtt");

    // The post acknowledges over the API: the button sees it.
    act_ok(&hub, &c.r1, &id, "ack", None).await;
    let (st, _) = watcher.next_on(&status).await;
    assert_eq!(st, json!({"incident_id": id, "state": "acknowledged"}));

    // A panicking person presses again (empty payload): the same incident, marked urgent.
    let st = press(&button, &sos, b"", &mut watcher, &status).await;
    assert_eq!(st, json!({"incident_id": id, "state": "acknowledged"}));
    let i = get(&hub, &c.duty, &id).await;
    assert_eq!(
        (i["repeat_count"].as_u64(), i["urgent"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(incidents(&hub, &c).await.len(), 1, "no second incident");
    assert_counted(&hub, &[("sos", 1), ("repeat", 1)]).await;

    // The status is retained: a button that (re)connects reads it at once.
    let mut late = watching(&status).await;
    let (st, retained) = late.next_on(&status).await;
    assert!(retained);
    assert_eq!(st, json!({"incident_id": id, "state": "acknowledged"}));

    // Resolving is a change the button hears of too.
    for action in ["en-route", "arrive"] {
        act_ok(&hub, &c.r1, &id, action, None).await;
        watcher.next_on(&status).await;
    }
    act_ok(
        &hub,
        &c.r1,
        &id,
        "resolve",
        Some(json!({"note": "误触，已确认安全"})),
    )
    .await;
    let (st, _) = watcher.next_on(&status).await;
    assert_eq!(st, json!({"incident_id": id, "state": "resolved"}));

    bridge.stop().await;
    clear_retained(&[status]).await;
}

on_both_backends!(press_raises_and_status_follows);

/// Unknown devices, malformed payloads and stale retained presses are counted, raise nothing,
/// and do not stop the bridge: a good press after them is raised.
async fn bad_messages_are_counted_and_the_bridge_carries_on(backend: Backend) {
    let (hub, prefix) = hub_with_mqtt(backend).await;
    let c = community(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);
    let button = TestClient::connect().await;
    // A press left retained on the broker is replayed to every new subscriber: it is not a
    // new press, and must not raise an incident each time the hub connects.
    // (An empty retained publish would delete, not retain: the press carries `{}`.)
    button.publish(&sos, b"{}", true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bridge = start_bridge(&hub).await;
    let mut watcher = watching(&status).await;
    assert_counted(&hub, &[("retained", 1)]).await;

    let stranger = format!("{prefix}/devices/{}/sos", gridwatch_core::id::new_id());
    button.publish(&stranger, b"{}", false).await;
    for bad in [
        &b"SOS!"[..],
        b"[26.52, 107.92]",
        b"{\"lat\": 26.5",
        &[0xff, 0xfe, 0x00],
    ] {
        button.publish(&sos, bad, false).await;
    }
    button
        .publish(&sos, &vec![b' '; mqtt::payload::MAX_PAYLOAD + 1], false)
        .await;
    // Larger than any packet size the hub's client once accepted (256 KiB): rumqttc dropped
    // the connection, the broker (no size limit set, as this one) sent it again on every
    // reconnect, and no press after it was ever heard.
    button.publish(&sos, &vec![b' '; 300 << 10], false).await;
    watcher.quiet(Duration::from_millis(500)).await;
    assert_counted(&hub, &[("unknown_device", 1), ("malformed", 6)]).await;
    assert!(incidents(&hub, &c).await.is_empty());
    assert!(bridge.is_subscribed());

    // Still listening: a good press (with a field of the wrong type, ignored) is raised.
    let wrong_type = br#"{"lat": "here", "battery": 15}"#;
    let st = press(&button, &sos, wrong_type, &mut watcher, &status).await;
    assert_eq!(st["state"], "dispatched");
    let i = get(&hub, &c.duty, s(&st["incident_id"])).await;
    assert_eq!(
        i["timeline"][0]["data"]["ignored_fields"],
        json!(["lat", "battery"])
    );
    assert_counted(&hub, &[("sos", 1), ("error", 0)]).await;
    assert_eq!(incidents(&hub, &c).await.len(), 1);

    bridge.stop().await;
    // Cleared only now: to a live subscriber, the empty publish that deletes a retained
    // message is delivered as an empty press.
    clear_retained(&[status, sos]).await;
}

on_both_backends!(bad_messages_are_counted_and_the_bridge_carries_on);

/// A press the store refuses for good (its device's open incident has a corrupt row, so every
/// attempt fails the same way) is counted as rejected and acknowledged, and the queue moves
/// on: another button's press behind it is raised at once instead of waiting forever.
async fn a_press_the_store_refuses_for_good_does_not_hold_up_the_other_buttons(backend: Backend) {
    let (hub, prefix) = hub_with_mqtt(backend).await;
    let c = community(&hub).await;
    let other = create(
        &hub,
        &c.admin,
        "/api/v1/devices",
        json!({"name": "2栋大堂报警按钮", "grid_id": c.g1}),
    )
    .await;
    let other_id = s(&other["device"]["id"]).to_string();
    let bridge = start_bridge(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);
    let other_sos = format!("{prefix}/devices/{other_id}/sos");
    let other_status = format!("{prefix}/devices/{other_id}/status");
    let mut watcher = watching(&status).await;
    watcher.subscribe(&other_status).await;
    let button = TestClient::connect().await;

    let st = press(&button, &sos, b"{}", &mut watcher, &status).await;
    assert_eq!(st["state"], "dispatched", "{st}");
    let broken = s(&st["incident_id"]).to_string();
    let kind = gridwatch_store::testing::corrupt_incident(&hub.state.store, &broken)
        .await
        .unwrap();

    // The first button presses again: reading its open incident fails, and always will.
    button.publish(&sos, b"{}", false).await;
    // The other button, queued behind it, is heard.
    let st = press(&button, &other_sos, b"{}", &mut watcher, &other_status).await;
    assert_eq!(st["state"], "dispatched", "{st}");
    assert_ne!(s(&st["incident_id"]), broken);
    assert_counted(&hub, &[("rejected", 1), ("sos", 2), ("error", 0)]).await;

    gridwatch_store::testing::restore_incident_kind(&hub.state.store, &broken, &kind)
        .await
        .unwrap();
    // The rejected press was not recorded on the incident.
    assert_eq!(get(&hub, &c.duty, &broken).await["repeat_count"], 0);
    bridge.stop().await;
    clear_retained(&[status, other_status]).await;
}

on_both_backends!(a_press_the_store_refuses_for_good_does_not_hold_up_the_other_buttons);

/// A TCP relay in front of the broker that can be cut, so a test can take the broker away
/// from the hub (without stopping the Mosquitto others use) and bring it back.
struct Relay {
    port: u16,
    up: watch::Sender<bool>,
}

impl Relay {
    async fn start(target: (String, u16)) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, up_rx) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*up_rx.borrow() {
                    drop(inbound); // down: refuse by hanging up at once
                    continue;
                }
                let mut up_rx = up_rx.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up_rx.wait_for(|up| !*up) => {} // cut: both ends dropped
                    }
                });
            }
        });
        Relay { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// The broker goes away and comes back: the bridge notices, says so in the gauge, reconnects
/// by itself, and presses work again.
#[tokio::test]
async fn the_bridge_reconnects_when_the_broker_comes_back() {
    let relay = Relay::start(broker()).await;
    let prefix = format!("gridwatch-test/{}", unique());
    let mut config = mqtt_config(&prefix);
    config.mqtt.host = "127.0.0.1".into();
    config.mqtt.port = relay.port;
    let hub = Hub::with_config(Backend::Sqlite, config).await;
    let c = community(&hub).await;
    let bridge = start_bridge(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);
    let mut watcher = watching(&status).await;
    let button = TestClient::connect().await;

    relay.set_up(false);
    let deadline = tokio::time::Instant::now() + WAIT;
    while bridge.is_subscribed() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the loss went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = hub.call(Method::GET, "/metrics", None, None).await.body;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("gridwatch_mqtt_connected 0"),
        "{metrics}"
    );
    // Reported, not required: the node still takes SOS over HTTP.
    let ready = hub.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (ready.status, &ready.body["mqtt"]),
        (StatusCode::OK, &json!("disconnected"))
    );
    // Refused a few times (the pause grows), then the broker is back.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!bridge.is_subscribed());
    relay.set_up(true);
    assert!(bridge.wait_subscribed(WAIT).await, "did not reconnect");
    let metrics = hub.call(Method::GET, "/metrics", None, None).await.body;
    assert!(metrics
        .as_str()
        .unwrap()
        .contains("gridwatch_mqtt_connected 1"));
    let ready = hub.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.body["mqtt"], "connected");

    let st = press(&button, &sos, b"", &mut watcher, &status).await;
    assert_eq!(st["state"], "dispatched");
    assert_eq!(incidents(&hub, &c).await.len(), 1);

    bridge.stop().await;
    clear_retained(&[status]).await;
}

/// With a persistent session (the default), a press made while the hub is away is kept by the
/// broker and raised when the hub is back.
#[tokio::test]
async fn a_press_made_while_the_hub_is_away_is_raised_when_it_is_back() {
    let prefix = format!("gridwatch-test/{}", unique());
    let mut config = mqtt_config(&prefix);
    config.mqtt.persistent_session = true;
    let client_id = config.mqtt.client_id.clone();
    let hub = Hub::with_config(Backend::Sqlite, config).await;
    let c = community(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);

    start_bridge(&hub).await.stop().await;
    let button = TestClient::connect().await;
    button
        .publish(&sos, br#"{"note": "hub away"}"#, false)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(incidents(&hub, &c).await.is_empty());

    let mut watcher = watching(&status).await;
    let bridge = start_bridge(&hub).await;
    let (st, _) = watcher.next_on(&status).await;
    assert_eq!(st["state"], "dispatched");
    assert_eq!(
        get(&hub, &c.duty, s(&st["incident_id"])).await["note"],
        "hub away"
    );
    bridge.stop().await;
    discard_session(client_id).await;
    clear_retained(&[status]).await;
}

/// Leaves no session behind on the broker: a clean connection with the id discards it.
async fn discard_session(client_id: String) {
    let (host, port) = broker();
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_clean_session(true);
    let (cleaner, mut eventloop) = AsyncClient::new(opts, 8);
    let _ = tokio::time::timeout(WAIT, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = cleaner.try_disconnect();
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// MQTT is off unless configured: no bridge and no MQTT metrics by default; setting the host
/// (file or environment) turns it on, and a bad section is refused at start-up.
#[tokio::test]
async fn mqtt_is_off_unless_configured() {
    let c = Config::load_with_env(None, Vec::<(String, String)>::new()).unwrap();
    assert!(!c.mqtt.enabled());
    assert_eq!(c.mqtt, gridwatch_hub::config::MqttConfig::default());
    let hub = Hub::new(Backend::Sqlite).await;
    assert!(mqtt::spawn(
        &hub.state.config.mqtt,
        hub.state.incidents.clone(),
        &hub.state.mqtt,
        &hub.state.metrics,
    )
    .unwrap()
    .is_none());
    let metrics = hub.call(Method::GET, "/metrics", None, None).await.body;
    assert!(!metrics.as_str().unwrap().contains("gridwatch_mqtt_"));
    let ready = hub.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (ready.status, &ready.body["mqtt"]),
        (StatusCode::OK, &json!("off"))
    );

    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let on = Config::load_with_env(
        None,
        env(&[
            ("GRIDWATCH_MQTT__HOST", "broker.internal"),
            ("GRIDWATCH_MQTT__PORT", "8883"),
            ("GRIDWATCH_MQTT__USERNAME", "gridwatch-hub"),
            ("GRIDWATCH_MQTT__PASSWORD", "s3cret"),
        ]),
    )
    .unwrap();
    assert!(on.mqtt.enabled());
    assert_eq!(
        (
            on.mqtt.host.as_str(),
            on.mqtt.port,
            on.mqtt.password.as_str()
        ),
        ("broker.internal", 8883, "s3cret")
    );
    assert_eq!(on.mqtt.topic_prefix, "gridwatch");

    for (var, value, named) in [
        ("GRIDWATCH_MQTT__TOPIC_PREFIX", "a/+/b", "mqtt.topic_prefix"),
        ("GRIDWATCH_MQTT__CLIENT_ID", " ", "mqtt.client_id"),
        ("GRIDWATCH_MQTT__PORT", "0", "mqtt.port"),
    ] {
        let e = Config::load_with_env(
            None,
            env(&[("GRIDWATCH_MQTT__HOST", "127.0.0.1"), (var, value)]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(named), "{var}={value:?}: {e}");
    }
    let e = Config::load_with_env(
        None,
        env(&[
            ("GRIDWATCH_MQTT__PASSWORD", "x"),
            ("GRIDWATCH_MQTT__HOST", "h"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("mqtt.password"), "{e}");
}

/// Two hub nodes on one PostgreSQL database, each with its bridge (its own client id): a
/// press goes to one of them (a shared subscription), so it raises one incident, not one and
/// then a "repeat" from the other node.
#[tokio::test]
async fn with_two_nodes_a_press_is_raised_once() {
    let (hub, prefix) = hub_with_mqtt(Backend::Postgres).await;
    let c = community(&hub).await;
    let second = gridwatch_hub::AppState::new(
        hub.state.store.clone(),
        std::sync::Arc::new(hub.clock.clone()),
        mqtt_config(&prefix),
    );
    let node2 = Hub::from_state(second, hub.clock.clone());
    let bridges = [start_bridge(&hub).await, start_bridge(&node2).await];
    let (sos, status) = button_topics(&prefix, &c);
    let mut watcher = watching(&status).await;
    let button = TestClient::connect().await;
    let st = press(&button, &sos, b"{}", &mut watcher, &status).await;
    assert_eq!(st["state"], "dispatched", "{st}");
    // Give a second delivery every chance to arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let raised = incidents(&hub, &c).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0]["repeat_count"], 0, "recorded again as a repeat");
    let handled = counted(&hub, "sos").await + counted(&node2, "sos").await;
    assert_eq!(handled, 1);
    for b in bridges {
        b.stop().await;
    }
    clear_retained(&[status]).await;
}

/// A hub on a fresh PostgreSQL database that it reaches through a [`Relay`]: cutting the relay
/// takes the database away from this hub (its connections broken, new ones refused) without
/// touching the server other tests use.
async fn hub_behind_a_database_relay(config: Config) -> (Hub, Relay) {
    let url = gridwatch_store::testing::fresh_postgres_url()
        .await
        .unwrap();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').expect("a database name");
    let (user, server) = match authority.rsplit_once('@') {
        Some((user, server)) => (format!("{user}@"), server),
        None => (String::new(), authority),
    };
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().expect("a port")),
        None => (server.to_string(), 5432),
    };
    let relay = Relay::start((host, port)).await;
    let mut opts = StoreOptions::new(format!("{scheme}://{user}127.0.0.1:{}/{path}", relay.port));
    opts.max_connections = 4;
    let store = Store::open(&opts).await.unwrap();
    let clock = ManualClock::new(common::t0());
    let state = gridwatch_hub::AppState::new(store, std::sync::Arc::new(clock.clone()), config);
    (Hub::from_state(state, clock), relay)
}

/// Waits until `gridwatch_mqtt_messages_total{outcome}` reaches at least `n`.
async fn assert_counted_at_least(hub: &Hub, outcome: &str, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while counted(hub, outcome).await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mqtt_messages_total{{outcome={outcome:?}}} did not reach {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The database goes away while a button is pressed, again and again: nothing is acknowledged
/// while nothing can be saved, however long that lasts; once the database is back the first
/// press raises the incident and the others are recorded on it (up to the limit, which counts
/// only what was saved). None is lost.
#[tokio::test]
async fn presses_wait_out_a_database_outage() {
    let prefix = format!("gridwatch-test/{}", unique());
    let (hub, database) = hub_behind_a_database_relay(mqtt_config(&prefix)).await;
    let c = community(&hub).await;
    let bridge = start_bridge(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);
    let mut watcher = watching(&status).await;
    let button = TestClient::connect().await;

    database.set_up(false);
    for n in 0..12 {
        let payload = json!({"note": format!("第{n}次")}).to_string();
        button.publish(&sos, payload.as_bytes(), false).await;
    }
    // The first press fails, and fails again, for longer than a few quick retries last.
    assert_counted_at_least(&hub, "error", 3).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_counted(&hub, &[("sos", 0), ("rate_limited", 0)]).await;

    database.set_up(true);
    // The attempt under way when the database returns may still wait out the pool's acquire
    // timeout (10 s) and then the longest pause between attempts before the next one.
    let recovery = Duration::from_secs(10) + gridwatch_hub::mqtt::press::RETRY_MAX + WAIT;
    let (st, _) = watcher.next_on_within(&status, recovery).await;
    assert_eq!(st["state"], "dispatched", "{st}");
    let i = get(&hub, &c.duty, s(&st["incident_id"])).await;
    assert_eq!(i["note"], "第0次");
    assert_counted(&hub, &[("sos", 1), ("repeat", 9), ("rate_limited", 2)]).await;
    assert_eq!(incidents(&hub, &c).await.len(), 1);
    assert_eq!(
        get(&hub, &c.duty, s(&st["incident_id"])).await["repeat_count"],
        9
    );

    bridge.stop().await;
    clear_retained(&[status]).await;
}

/// The hub stops while the database is away: the press it could not save is left
/// unacknowledged, so the broker (persistent session) delivers it again to the hub that comes
/// back, which raises it.
#[tokio::test]
async fn a_press_not_saved_when_the_hub_stops_is_delivered_again() {
    let prefix = format!("gridwatch-test/{}", unique());
    let mut config = mqtt_config(&prefix);
    config.mqtt.persistent_session = true;
    let client_id = config.mqtt.client_id.clone();
    let (hub, database) = hub_behind_a_database_relay(config).await;
    let c = community(&hub).await;
    let bridge = start_bridge(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);
    let mut watcher = watching(&status).await;
    let button = TestClient::connect().await;

    database.set_up(false);
    button
        .publish(&sos, r#"{"note": "停机前"}"#.as_bytes(), false)
        .await;
    // It fails, and is still not saved after longer than a few quick retries last.
    assert_counted_at_least(&hub, "error", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Stopping does not wait for the database.
    let stopping = tokio::time::Instant::now();
    bridge.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(3));
    assert_counted(&hub, &[("sos", 0)]).await;

    database.set_up(true);
    let bridge = start_bridge(&hub).await;
    let (st, _) = watcher.next_on(&status).await;
    assert_eq!(st["state"], "dispatched", "{st}");
    let i = get(&hub, &c.duty, s(&st["incident_id"])).await;
    assert_eq!(i["note"], "停机前");
    assert_eq!(i["repeat_count"], 0);
    assert_eq!(incidents(&hub, &c).await.len(), 1);

    bridge.stop().await;
    discard_session(client_id).await;
    clear_retained(&[status]).await;
}

/// A press that names itself (`press_id`) and comes twice — the broker sends it again when the
/// hub's acknowledgement was lost — is one press: one incident, no repeat recorded, the second
/// counted as a replay. Another id is another press.
async fn the_same_press_id_twice_is_one_press(backend: Backend) {
    let (hub, prefix) = hub_with_mqtt(backend).await;
    let c = community(&hub).await;
    let bridge = start_bridge(&hub).await;
    let (sos, status) = button_topics(&prefix, &c);
    let mut watcher = watching(&status).await;
    let button = TestClient::connect().await;

    let first = r#"{"press_id": "btn-000123", "note": "3栋"}"#.as_bytes();
    let st = press(&button, &sos, first, &mut watcher, &status).await;
    assert_eq!(st["state"], "dispatched", "{st}");
    let id = s(&st["incident_id"]).to_string();
    button.publish(&sos, first, false).await;
    assert_counted(&hub, &[("replay", 1), ("sos", 1), ("repeat", 0)]).await;
    let i = get(&hub, &c.duty, &id).await;
    assert_eq!(
        (i["repeat_count"].as_u64(), i["urgent"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(i["note"], "3栋");
    // The id is the hub's business, not a field the press did not understand.
    assert_eq!(i["timeline"][0]["data"].get("ignored_fields"), None, "{i}");

    // The button's next press has its next id: a repeat, as ever.
    let st = press(
        &button,
        &sos,
        br#"{"press_id": 124}"#,
        &mut watcher,
        &status,
    )
    .await;
    assert_eq!(st["incident_id"], id.as_str());
    button.publish(&sos, br#"{"press_id": 124}"#, false).await;
    assert_counted(&hub, &[("repeat", 1), ("replay", 2), ("sos", 1)]).await;
    assert_eq!(get(&hub, &c.duty, &id).await["repeat_count"], 1);
    assert_eq!(incidents(&hub, &c).await.len(), 1);

    bridge.stop().await;
    clear_retained(&[status]).await;
}

on_both_backends!(the_same_press_id_twice_is_one_press);

/// A press without an id that the broker delivers again (DUP set) right after the device's
/// latest press is taken for that press, not recorded as a repeat; a press without DUP is a
/// repeat as ever; and once the repeat window is over a redelivered press is a press again.
#[tokio::test]
async fn a_press_delivered_again_without_an_id_is_not_recorded_twice() {
    let (hub, prefix) = hub_with_mqtt(Backend::Sqlite).await;
    let c = community(&hub).await;
    let topics = mqtt::topic::Topics::new(&prefix).unwrap();
    let (sos, _) = button_topics(&prefix, &c);
    let outcome = |a: Attempt| match a {
        Attempt::Settled(o) => o,
        Attempt::Failed(e) => panic!("the database failed: {e}"),
    };
    let first = Publish::new(&sos, QoS::AtLeastOnce, &b"{}"[..]);
    let mut again = first.clone();
    again.dup = true;

    assert_eq!(
        outcome(handle(&hub.state.incidents, &topics, &first).await),
        Outcome::Sos
    );
    assert_eq!(
        outcome(handle(&hub.state.incidents, &topics, &again).await),
        Outcome::Replay
    );
    let list = incidents(&hub, &c).await;
    assert_eq!((list.len(), &list[0]["repeat_count"]), (1, &json!(0)));

    assert_eq!(
        outcome(handle(&hub.state.incidents, &topics, &first).await),
        Outcome::Repeat
    );
    assert_eq!(
        outcome(handle(&hub.state.incidents, &topics, &again).await),
        Outcome::Replay
    );
    assert_eq!(incidents(&hub, &c).await[0]["repeat_count"], 1);

    hub.clock.advance(chrono::Duration::seconds(121));
    assert_eq!(
        outcome(handle(&hub.state.incidents, &topics, &again).await),
        Outcome::Sos
    );
    assert_eq!(incidents(&hub, &c).await.len(), 2);
}
