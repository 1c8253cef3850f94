//! What `deploy/` tells Grafana and Prometheus to read exists: every `gridwatch_…` metric named
//! in the dashboard and in the alert rules is one the hub registers. A renamed metric would
//! otherwise leave a blank panel, or an alert that can never fire, without anyone noticing.

use crate::common;

use common::Hub;
use gridwatch_hub::{mqtt, Config};
use gridwatch_store::Backend;
use std::collections::HashSet;
use std::path::Path;

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
    let registered: HashSet<String> = hub.state.metrics.names().into_iter().collect();
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
