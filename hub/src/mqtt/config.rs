//! `[mqtt]`: the panic buttons' broker.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};

/// Panic buttons over MQTT (`[mqtt]`): the hub subscribes on the broker to
/// `{topic_prefix}/devices/{device_id}/sos` and answers on the retained
/// `{topic_prefix}/devices/{device_id}/status`. Off unless `host` is set, so a box without a
/// broker runs without one and logs no connection errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// The broker's host name or address. Empty (the default): MQTT is off.
    pub host: String,
    pub port: u16,
    /// The hub's MQTT client id. Each hub node needs its own: the broker disconnects a client
    /// when another connects with the same id.
    pub client_id: String,
    /// The hub's login on the broker; empty for none. Give the password through
    /// `GRIDWATCH_MQTT__PASSWORD` rather than the file.
    pub username: String,
    pub password: String,
    /// The first topic level, `gridwatch` in `gridwatch/devices/{device_id}/sos`.
    pub topic_prefix: String,
    /// Keep the hub's session on the broker across reconnections and restarts, so that presses
    /// made while the hub is away are queued by the broker and delivered when it is back.
    pub persistent_session: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: String::new(),
            port: 1883,
            client_id: "gridwatch-hub".into(),
            username: String::new(),
            password: String::new(),
            topic_prefix: "gridwatch".into(),
            persistent_session: true,
        }
    }
}

impl MqttConfig {
    /// Whether the hub is to connect to a broker at all.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// Checked only when MQTT is on: an unused section may hold anything.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("mqtt.{m}")));
        if self.port == 0 {
            return invalid("port must be 1 to 65535");
        }
        if self.client_id.trim().is_empty() {
            return invalid("client_id must not be empty");
        }
        if self.username.is_empty() && !self.password.is_empty() {
            return invalid("password is set but username is not");
        }
        if let Err(e) = crate::mqtt::topic::Topics::new(&self.topic_prefix) {
            return invalid(&format!("topic_prefix: {e}"));
        }
        Ok(())
    }
}
