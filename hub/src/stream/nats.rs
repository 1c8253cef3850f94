//! The bus between hub nodes: NATS JetStream.
//!
//! Every node publishes the events it commits to one subject of one JetStream stream, with
//! the event's seq as `Nats-Msg-Id` (JetStream drops a duplicate publish), and reads the
//! stream with an ordered consumer from the moment it starts. What it reads goes into its
//! sequencer, which drops its own events (it had them first, from the local path) and puts
//! the rest in seq order. Anything older than the node's start, or lost on the way, the
//! sequencer reads from the shared database: JetStream carries the news, PostgreSQL the truth.

use super::{Published, StreamConfig};
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use gridwatch_core::event::Event;
use gridwatch_core::incident::Incident;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;

/// The subject events are published on: one per JetStream stream, so that two installations
/// (or two test runs) on one NATS server do not mix their events.
fn subject(config: &StreamConfig) -> String {
    format!("{}.events", config.nats_stream)
}

/// What goes over the wire: the event and its incident after the change.
#[derive(Serialize, Deserialize)]
struct Wire {
    event: Event,
    incident: Option<Incident>,
}

/// Connects, makes sure the JetStream stream exists, starts reading it into `inbox`, and
/// returns where to send this node's events for publishing.
pub async fn connect(
    config: &StreamConfig,
    inbox: mpsc::UnboundedSender<Published>,
) -> anyhow::Result<mpsc::UnboundedSender<Published>> {
    let client = async_nats::connect(&config.nats_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach NATS at {}: {e}", config.nats_url))?;
    let js = jetstream::new(client);
    let js_stream = js
        .get_or_create_stream(stream::Config {
            name: config.nats_stream.clone(),
            subjects: vec![subject(config)],
            // Consoles catch up from the database; the bus only needs the recent past.
            max_age: Duration::from_secs(3600),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot open JetStream stream {}: {e}", config.nats_stream))?;
    let reader = js_stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot read JetStream stream: {e}"))?;
    let mut messages = reader
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read JetStream stream: {e}"))?;
    tokio::spawn(async move {
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) => match serde_json::from_slice::<Wire>(&m.payload) {
                    Ok(w) => {
                        if inbox.send(Published::new(w.event, w.incident)).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "bus: a message that is not an event"),
                },
                // The ordered consumer recreates itself; the sequencer fills from the log.
                Err(e) => tracing::warn!(error = %e, "bus: reading JetStream"),
            }
        }
        tracing::error!(
            "bus: the JetStream reader ended; other nodes' events now come from the log only"
        );
    });

    let (out, mut rx) = mpsc::unbounded_channel::<Published>();
    let subject = subject(config);
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            let wire = Wire {
                event: p.event,
                incident: p.incident,
            };
            let payload = match serde_json::to_vec(&wire) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "bus: cannot encode an event");
                    continue;
                }
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", wire.event.seq.to_string().as_str());
            match js
                .publish_with_headers(subject.clone(), headers, payload.into())
                .await
            {
                // The ack is awaited apart, so that one slow ack does not hold the others.
                Ok(ack) => {
                    tokio::spawn(async move {
                        if let Err(e) = ack.await {
                            tracing::warn!(error = %e, "bus: JetStream did not take an event; other nodes will read it from the log");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bus: cannot publish an event; other nodes will read it from the log")
                }
            }
        }
    });
    Ok(out)
}
