//! One message on the SOS filter, from the broker to a committed incident.
//!
//! Everything a message can be is an [`Outcome`], counted in
//! `gridwatch_mqtt_messages_total{outcome}`; none of them stops the bridge. The message is
//! acknowledged to the broker (QoS 1) only after this returns, so a press whose incident was
//! not yet committed when the hub died is delivered again.

use super::payload::parse_press;
use super::topic::Topics;
use crate::incidents::intake::{raise_sos, IntakeError, SosCaller};
use crate::state::AppState;
use gridwatch_store::{RaiseOutcome, StoreError};
use rumqttc::Publish;
use std::time::Duration;

/// The audit trail's origin for presses that came over MQTT.
pub const ORIGIN: &str = "mqtt";

/// Attempts at raising when the database fails, and the pause before each retry: a press
/// must outlive a database hiccup, but not hold up the presses behind it for long.
const RETRIES: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new incident.
    Sos,
    /// A repeat press on the device's open incident.
    Repeat,
    /// No device with the topic's id.
    UnknownDevice,
    /// A topic or payload that is not a press.
    Malformed,
    /// Past the per-device limit; the incident is already raised.
    RateLimited,
    /// A retained message, replayed by the broker on subscribing: an old press, not a new one.
    Retained,
    /// The database failed, or the hub could not keep up; logged as an error.
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Sos,
        Outcome::Repeat,
        Outcome::UnknownDevice,
        Outcome::Malformed,
        Outcome::RateLimited,
        Outcome::Retained,
        Outcome::Error,
    ];

    /// The metric's `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sos => "sos",
            Outcome::Repeat => "repeat",
            Outcome::UnknownDevice => "unknown_device",
            Outcome::Malformed => "malformed",
            Outcome::RateLimited => "rate_limited",
            Outcome::Retained => "retained",
            Outcome::Error => "error",
        }
    }
}

/// Handles one message from the SOS filter.
pub async fn handle(state: &AppState, topics: &Topics, msg: &Publish) -> Outcome {
    if msg.retain {
        tracing::warn!(topic = ?msg.topic,
            "a retained SOS message is an old press replayed by the broker: ignored \
             (a button must not publish its SOS retained)");
        return Outcome::Retained;
    }
    let device_id = match topics.device_of_sos(&msg.topic) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "MQTT SOS on a malformed topic: ignored");
            return Outcome::Malformed;
        }
    };
    let (press, ignored) = match parse_press(&msg.payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(device = ?device_id, error = %e, "malformed MQTT SOS: ignored");
            return Outcome::Malformed;
        }
    };
    let device = match state.store.device(device_id).await {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => {
            tracing::warn!(device = ?device_id,
                "MQTT SOS from a device the hub does not know: ignored");
            return Outcome::UnknownDevice;
        }
        Err(e) => {
            tracing::error!(device = ?device_id, error = %e,
                "MQTT SOS: could not look the device up");
            return Outcome::Error;
        }
    };
    let mut retries = RETRIES.iter();
    loop {
        let caller = SosCaller::Device(device.clone());
        let result = raise_sos(state, caller, press.clone(), ignored.clone(), None, ORIGIN).await;
        return match result {
            Ok(raised) => match raised.outcome {
                RaiseOutcome::Raised => Outcome::Sos,
                RaiseOutcome::Repeated | RaiseOutcome::Replayed => Outcome::Repeat,
            },
            Err(IntakeError::RateLimited { .. }) => Outcome::RateLimited,
            Err(IntakeError::Invalid(e)) => {
                tracing::warn!(device = %device.id, error = %e, "MQTT SOS refused");
                Outcome::Malformed
            }
            Err(IntakeError::Store(e)) => match retries.next() {
                Some(pause) => {
                    tracing::warn!(device = %device.id, error = %e, retry_in = ?pause,
                        "MQTT SOS: the database failed; retrying");
                    tokio::time::sleep(*pause).await;
                    continue;
                }
                None => {
                    tracing::error!(device = %device.id, error = %e,
                        "MQTT SOS could not be raised: the database failed");
                    Outcome::Error
                }
            },
        };
    }
}
