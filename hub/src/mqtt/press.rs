//! One message on the SOS filter, from the broker to a committed incident.
//!
//! Everything a message can be is an [`Outcome`], counted in
//! `gridwatch_mqtt_messages_total{outcome}`; none of them stops the bridge. A message is
//! acknowledged to the broker (QoS 1) only once it is [settled](settle): its press committed,
//! or found to be nothing to save (malformed, an unknown device, a replay). While the database
//! fails the press is tried again, with a growing pause, for as long as it takes; a bridge that
//! stops meanwhile leaves it unacknowledged, so the broker delivers it again (with a persistent
//! session) and the promise holds: an acknowledged press is a saved one.
//!
//! QoS 1 is "at least once", so a press may come twice: the broker sends it again, with DUP
//! set, when the hub committed it but its acknowledgement was lost. A press that carries a
//! `press_id` ([`super::payload`]) is then replayed by its key. One without an id that comes
//! with DUP set is taken for the device's latest press when that press is recent enough to be
//! the same call (within the repeat window, on an incident still open), instead of being
//! recorded as a repeat.

use super::payload::parse_press;
use super::topic::Topics;
use super::MqttMetrics;
use crate::incidents::intake::{
    open_incidents, raise_sos, IntakeError, SosCaller, REPEAT_WINDOW_SECONDS,
};
use crate::incidents::Incidents;
use gridwatch_core::device::Device;
use gridwatch_core::incident::Source;
use gridwatch_store::{RaiseOutcome, StoreError};
use rumqttc::Publish;
use std::time::Duration;
use tokio::sync::watch;

/// The audit trail's origin for presses that came over MQTT.
pub const ORIGIN: &str = "mqtt";

/// The first pause before trying a press again after the database failed; it doubles on each
/// failed attempt.
pub const RETRY_MIN: Duration = Duration::from_millis(250);
/// The longest pause between attempts: once the database is back, the presses waiting for it
/// (this one and those queued behind it) are saved within this long.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

/// How many of a device's open incidents are looked at to recognise a redelivered press.
const RECENT: u32 = 10;

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new incident.
    Sos,
    /// A repeat press on the device's open incident.
    Repeat,
    /// The same press again (its `press_id` known, or redelivered with DUP set): answered with
    /// its incident, nothing recorded.
    Replay,
    /// No device with the topic's id.
    UnknownDevice,
    /// A topic or payload that is not a press.
    Malformed,
    /// Past the per-device limit, which applies only while the device has an open incident:
    /// its SOS is raised, this press is not recorded on it.
    RateLimited,
    /// A retained message, replayed by the broker on subscribing: an old press, not a new one.
    Retained,
    /// An attempt at which the database failed (the press is tried again, unacknowledged), or
    /// a press the hub could not queue; logged.
    Error,
    /// A press the store refuses for good (a corrupt row, a conflict: [`StoreError::is_transient`]
    /// is false): logged and acknowledged, so that the presses behind it are not held up by
    /// one that would fail the same way however often it is tried.
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Sos,
        Outcome::Repeat,
        Outcome::Replay,
        Outcome::UnknownDevice,
        Outcome::Malformed,
        Outcome::RateLimited,
        Outcome::Retained,
        Outcome::Error,
        Outcome::Rejected,
    ];

    /// The metric's `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sos => "sos",
            Outcome::Repeat => "repeat",
            Outcome::Replay => "replay",
            Outcome::UnknownDevice => "unknown_device",
            Outcome::Malformed => "malformed",
            Outcome::RateLimited => "rate_limited",
            Outcome::Retained => "retained",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
        }
    }
}

/// What one attempt at a message came to.
#[derive(Debug)]
pub enum Attempt {
    /// Nothing more to do: acknowledge it.
    Settled(Outcome),
    /// The store failed; nothing was saved. When the failure is transient, try again and do not
    /// acknowledge it meanwhile; otherwise it is [`Outcome::Rejected`].
    Failed(StoreError),
}

/// Handles a message until it is settled, trying again while the database fails (a transient
/// [`StoreError`]), with a pause growing from [`RETRY_MIN`] to [`RETRY_MAX`]; each failed
/// attempt is counted as an error. A permanent failure settles it as [`Outcome::Rejected`],
/// logged: retrying would only hold up the other buttons' presses queued behind it. `None`
/// when `stopping` turns true first: the press is not saved and must not be acknowledged.
pub async fn settle(
    incidents: &Incidents,
    topics: &Topics,
    metrics: &MqttMetrics,
    msg: &Publish,
    stopping: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    let mut pause = RETRY_MIN;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let e = match handle(incidents, topics, msg).await {
            Attempt::Settled(outcome) => return Some(outcome),
            Attempt::Failed(e) if !e.is_transient() => {
                tracing::error!(topic = ?msg.topic, error = %e, attempt,
                    "MQTT SOS refused for good by the store (trying again would fail the same \
                     way): acknowledged and not saved; the presses behind it go on");
                return Some(Outcome::Rejected);
            }
            Attempt::Failed(e) => e,
        };
        metrics.count(Outcome::Error);
        if *stopping.borrow() {
            tracing::error!(topic = ?msg.topic, error = %e, attempt,
                "MQTT SOS not saved before the bridge stopped: left unacknowledged for the \
                 broker to deliver again");
            return None;
        }
        tracing::error!(topic = ?msg.topic, error = %e, attempt, retry_in = ?pause,
            "MQTT SOS not saved yet: the database failed; trying again");
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return None,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// One attempt at a message from the SOS filter.
pub async fn handle(incidents: &Incidents, topics: &Topics, msg: &Publish) -> Attempt {
    if msg.retain {
        tracing::warn!(topic = ?msg.topic,
            "a retained SOS message is an old press replayed by the broker: ignored \
             (a button must not publish its SOS retained)");
        return Attempt::Settled(Outcome::Retained);
    }
    let device_id = match topics.device_of_sos(&msg.topic) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "MQTT SOS on a malformed topic: ignored");
            return Attempt::Settled(Outcome::Malformed);
        }
    };
    let press = match parse_press(&msg.payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(device = ?device_id, error = %e, "malformed MQTT SOS: ignored");
            return Attempt::Settled(Outcome::Malformed);
        }
    };
    let device = match incidents.store.device(device_id).await {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => {
            tracing::warn!(device = ?device_id,
                "MQTT SOS from a device the hub does not know: ignored");
            return Attempt::Settled(Outcome::UnknownDevice);
        }
        Err(e) => return Attempt::Failed(e),
    };
    if msg.dup && press.id.is_none() {
        match redelivered(incidents, &device).await {
            Ok(true) => {
                tracing::info!(device = %device.id,
                    "MQTT SOS delivered again (DUP) right after a press: taken for that press");
                return Attempt::Settled(Outcome::Replay);
            }
            Ok(false) => {}
            Err(e) => return Attempt::Failed(e),
        }
    }
    let caller = SosCaller::Device(device.clone());
    match raise_sos(
        incidents,
        caller,
        press.press,
        press.ignored,
        press.id,
        ORIGIN,
    )
    .await
    {
        Ok(raised) => Attempt::Settled(match raised.outcome {
            RaiseOutcome::Raised => Outcome::Sos,
            RaiseOutcome::Repeated => Outcome::Repeat,
            RaiseOutcome::Replayed => Outcome::Replay,
        }),
        Err(IntakeError::RateLimited { .. }) => Attempt::Settled(Outcome::RateLimited),
        Err(IntakeError::Invalid(e)) => {
            tracing::warn!(device = %device.id, error = %e, "MQTT SOS refused");
            Attempt::Settled(Outcome::Malformed)
        }
        Err(IntakeError::Store(e)) => Attempt::Failed(e),
    }
}

/// Whether a message redelivered without a press id is the device's latest press, already
/// saved: the device pressed within the repeat window on an incident still open. Were it not
/// saved, taking it for that press loses only a repeat's mark on an open incident; recording
/// it again would count a press the person made once.
async fn redelivered(incidents: &Incidents, device: &Device) -> Result<bool, StoreError> {
    let source = Source::Device(device.id.clone());
    let since = incidents.now() - chrono::Duration::seconds(REPEAT_WINDOW_SECONDS);
    let open = open_incidents(incidents, &source, RECENT).await?;
    Ok(open.iter().any(|i| i.last_press_at >= since))
}
