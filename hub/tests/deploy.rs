//! What `deploy/` tells Grafana and Prometheus to read exists: every `gridwatch_…` metric named
//! in the dashboard and in the alert rules is one the hub registers. A renamed metric would
//! otherwise leave a blank panel, or an alert that can never fire, without anyone noticing.

use crate::common;

use common::Hub;
use gridwatch_core::lease::LeasePolicy;
use gridwatch_hub::workers::lease_loop::{LeaseLoop, WorkerIdentity};
use gridwatch_hub::workers::IngestMode;
use gridwatch_hub::{mqtt, AppState, Config};
use gridwatch_store::Backend;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// The `gridwatch_…` names in `text`.
fn metric_names(text: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("gridwatch_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[tokio::test]
async fn the_dashboard_and_the_alerts_read_metrics_the_hub_registers() {
    // Everything that registers metrics: the hub itself, its cameras, an MQTT bridge (to a
    // port where no broker listens: it registers its metrics before it connects).
    let mut config = Config::default();
    config.mqtt.host = "127.0.0.1".into();
    config.mqtt.port = 1;
    let hub = Hub::with_config(Backend::Sqlite, config).await;
    let bridge = mqtt::spawn(
        &hub.state.config.mqtt,
        hub.state.incidents.clone(),
        &hub.state.mqtt,
        &hub.state.metrics,
    )
    .unwrap()
    .expect("MQTT is configured");
    gridwatch_hub::cameras::start(&hub.state.cameras).await;
    let mut registered: HashSet<String> = hub.state.metrics.names().into_iter().collect();
    // A hub whose cameras are leased to ingest workers, and a worker's lease loop: the
    // cluster's panels and alerts read what they register.
    let mut workers_mode = Config::default();
    workers_mode.ingest.mode = IngestMode::Workers;
    workers_mode.ingest.secret = "a-secret-for-tests-only".into();
    let cluster_hub = AppState::new(
        hub.state.store.clone(),
        Arc::new(hub.clock.clone()),
        workers_mode,
    );
    let me = WorkerIdentity {
        id: "w".into(),
        address: "http://w.test:8090".into(),
        max_cameras: 1,
    };
    let leases = LeaseLoop::new(cluster_hub.cameras.clone(), me, LeasePolicy::default());
    leases.counters().register(&cluster_hub.metrics);
    registered.extend(cluster_hub.metrics.names());
    assert!(
        registered.contains("gridwatch_mqtt_connected"),
        "{registered:?}"
    );

    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut checked = 0;
    for file in ["grafana/gridwatch-dashboard.json", "alerts.yml"] {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap();
        let names = metric_names(&text);
        assert!(!names.is_empty(), "{file} names no metric");
        for name in names {
            // A histogram is registered under its name; its series carry these suffixes.
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|base| registered.contains(*base))
                .unwrap_or(&name);
            assert!(
                registered.contains(family),
                "{file} reads {name}, which the hub does not register"
            );
            checked += 1;
        }
    }
    println!(
        "{checked} metric names in deploy/ checked against {} registered",
        registered.len()
    );
    bridge.stop().await;
}

/// The `GRIDWATCH_…: value` lines of a compose file, each `${VAR…}` in them replaced by `secret`.
fn compose_env(text: &str, secret: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.trim().split_once(": ")?;
            name.starts_with("GRIDWATCH_").then_some(())?;
            let mut value = value.trim_matches('"').to_string();
            while let Some(start) = value.find("${") {
                let end = start + value[start..].find('}')? + 1;
                value.replace_range(start..end, secret);
            }
            Some((name.to_string(), value))
        })
        .collect()
}

#[test]
fn the_cluster_compose_file_configures_hubs_and_workers() {
    // The overlay's variables, read as the hub reads its environment: a misspelt name would
    // leave its default, and the checks below would see it.
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let text = std::fs::read_to_string(deploy.join("compose.cluster.yaml")).unwrap();
    let env = compose_env(&text, "0123456789abcdef0123456789abcdef");
    let names: HashSet<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
    for needed in [
        "GRIDWATCH_INGEST__MODE",
        "GRIDWATCH_INGEST__SECRET",
        "GRIDWATCH_INGEST__WORKER_ID",
        "GRIDWATCH_INGEST__ADVERTISE",
        "GRIDWATCH_STREAM__BUS",
        "GRIDWATCH_SECRET_KEY",
    ] {
        assert!(names.contains(needed), "{needed} missing: {names:?}");
    }
    // The shared block and one worker's own lines (the last ones of the file win, as they
    // would for ingest-2).
    let config = Config::load_with_env(None, env.clone()).unwrap();
    assert_eq!(config.ingest.mode, IngestMode::Workers);
    assert!(config.ingest.workers());
    assert_eq!(config.ingest.worker_id, "ingest-2");
    assert_eq!(config.ingest.advertise, "http://ingest-2:8080");
    assert_eq!(config.ingest.secret, "0123456789abcdef0123456789abcdef");
    assert_eq!(config.listen, "0.0.0.0:8080");
    assert_eq!(config.stream.nats_url, "nats://nats:4222");
    assert_eq!(
        serde_json::to_value(config.stream.bus).unwrap(),
        serde_json::json!("nats")
    );
    assert!(config.database_url().starts_with("postgres://"));
    // Every hub node its own MQTT client id.
    let ids: HashSet<&str> = env
        .iter()
        .filter(|(n, _)| n == "GRIDWATCH_MQTT__CLIENT_ID")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
}
