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
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use gridwatch_core::event::Event;
use gridwatch_core::incident::Incident;
use serde::{Deserialize, Serialize};
use std::future::IntoFuture;
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

/// Most publish acknowledgements awaited at once. They are awaited in the publishing task
/// (no task per ack); when this many are outstanding, it waits for one before publishing the
/// next (counted in `gridwatch_queue_full_total{queue="nats_acks"}`), and meanwhile this
/// node's events queue up to [`super::BUS_QUEUE`], past which they are left to the log.
pub const MAX_ACKS: usize = 1024;

/// Connects, makes sure the JetStream stream exists, starts reading it into `inbox`, and
/// publishes what comes from `rx` (this node's events).
pub async fn connect(
    config: &StreamConfig,
    inbox: mpsc::Sender<Published>,
    mut rx: mpsc::Receiver<Published>,
    metrics: super::StreamMetrics,
    lifecycle: &crate::lifecycle::Lifecycle,
) -> anyhow::Result<()> {
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
    let reader_metrics = metrics.clone();
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
    lifecycle.spawn_service(async move {
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) => match serde_json::from_slice::<Wire>(&m.payload) {
                    Ok(w) => {
                        // Full: the sequencer reads it from the log (see `super::INBOX`).
                        match inbox.try_send(Published::new(w.event, w.incident)) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                reader_metrics.inbox_full.inc();
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
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

    let subject = subject(config);
    lifecycle.spawn_service(async move {
        let mut acks = FuturesUnordered::new();
        loop {
            let room = acks.len() < MAX_ACKS;
            tokio::select! {
                Some(acked) = acks.next(), if !acks.is_empty() => {
                    if let Err(e) = acked {
                        tracing::warn!(error = %e, "bus: JetStream did not take an event; other nodes will read it from the log");
                    }
                }
                p = rx.recv(), if room => {
                    let Some(p) = p else { break };
                    if let Some(ack) = publish(&js, &subject, p).await {
                        acks.push(ack.into_future());
                        if acks.len() == MAX_ACKS {
                            metrics.nats_acks_full.inc();
                        }
                    }
                }
            }
        }
    });
    Ok(())
}

/// Publishes one event; the acknowledgement to await, or `None` when it could not be sent
/// (logged: the other nodes read it from the log).
async fn publish(
    js: &jetstream::Context,
    subject: &str,
    p: Published,
) -> Option<jetstream::context::PublishAckFuture> {
    let wire = Wire {
        event: p.event,
        incident: p.incident,
    };
    let payload = match serde_json::to_vec(&wire) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "bus: cannot encode an event");
            return None;
        }
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", wire.event.seq.to_string().as_str());
    match js
        .publish_with_headers(subject.to_string(), headers, payload.into())
        .await
    {
        Ok(ack) => Some(ack),
        Err(e) => {
            tracing::warn!(error = %e, "bus: cannot publish an event; other nodes will read it from the log");
            None
        }
    }
}
