//! The answer to the buttons: every committed change of an incident raised by a device is
//! published, retained, on that device's status topic, so a button that reconnects (or a
//! technician's client) reads where its last call stands without waiting for the next change.
//!
//! It follows the incident core's broadcast, which carries raises, repeat presses, actions and
//! timer changes alike; a repeat press over MQTT is answered the same way, with the state the
//! incident is in. Changes made by other hub nodes reach this node's buttons through those
//! nodes' own bridges.

use super::payload;
use super::topic::Topics;
use super::MqttMetrics;
use crate::incidents::Changed;
use gridwatch_core::incident::Source;
use rumqttc::{AsyncClient, QoS};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

/// Publishes statuses until the incident core goes away or the client's event loop is gone.
/// `changes` is subscribed by the caller before the bridge starts, so no change made after
/// that is missed.
pub async fn run(
    mut changes: broadcast::Receiver<Arc<Changed>>,
    client: AsyncClient,
    topics: Topics,
    metrics: MqttMetrics,
) {
    loop {
        let changed: Arc<Changed> = match changes.recv().await {
            Ok(c) => c,
            Err(RecvError::Lagged(missed)) => {
                // The broker was away long enough for the queue to fill; the next change of
                // each incident publishes its state again.
                tracing::warn!(
                    missed,
                    "MQTT status: fell behind; some statuses were skipped"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Source::Device(device_id) = &changed.incident.source else {
            continue;
        };
        let topic = match topics.status(device_id) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "MQTT status: no topic for the device");
                continue;
            }
        };
        let body = payload::status(&changed.incident);
        // Waits while the request queue is full (the broker is away): statuses keep their
        // order, and the broadcast buffer absorbs the wait.
        match client.publish(topic, QoS::AtLeastOnce, true, body).await {
            Ok(()) => metrics.statuses.inc(),
            Err(e) => {
                tracing::debug!(error = %e, "MQTT status: the bridge has stopped");
                return;
            }
        }
    }
}
