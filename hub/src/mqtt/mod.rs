//! Panic buttons over MQTT: the bridge between the broker (Mosquitto) and the incident core.
//!
//! In: the hub subscribes (QoS 1) to `{prefix}/devices/+/sos`; each message is a press of that
//! device, raised through [`crate::incidents::intake::raise_sos`] exactly like an HTTP press,
//! with `mqtt` as the audit origin ([`press`]). Out: every change of an incident a device
//! raised is published, retained, on `{prefix}/devices/{device_id}/status` as
//! `{"incident_id", "state"}` ([`status`]).
//!
//! The broker authenticates the buttons (its ACL confines each to its own topics); the hub
//! checks only that the device exists. Nothing a client publishes can stop the bridge: bad
//! topics, bad payloads and unknown devices are logged and counted in
//! `gridwatch_mqtt_messages_total{outcome}`. When the broker goes away the bridge reconnects
//! with a growing pause ([`MIN_BACKOFF`] to [`MAX_BACKOFF`]) and `gridwatch_mqtt_connected`
//! says 0 meanwhile. A press is acknowledged to the broker only once its incident is
//! committed (or it is found to be nothing to save): while the database fails it is tried
//! again until it is saved, and one the bridge stops on is left unacknowledged ([`press`]).
//! With `persistent_session` the broker keeps presses for the hub while it is away, and
//! delivers those left unacknowledged again.
//!
//! Off unless `[mqtt] host` is set.

pub mod config;
pub mod payload;
pub mod press;
pub mod status;
pub mod topic;

use crate::incidents::Incidents;
use crate::metrics::Metrics;
pub use config::MqttConfig;
use press::Outcome;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use rumqttc::SubscribeReasonCode;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use topic::Topics;

/// The first pause after losing the broker; it doubles on each failed attempt.
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest pause between attempts to reach the broker.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lasted this long was a good one: the pause after losing it starts again
/// from [`MIN_BACKOFF`].
pub const STABLE: Duration = Duration::from_secs(10);
/// How often the hub pings a quiet broker, and so how soon a dead link is noticed.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Largest packet the hub sends (its status messages are small).
pub const MAX_PACKET: usize = 256 * 1024;
/// Largest packet the hub accepts: any MQTT allows (a remaining length of at most 268 435 455
/// bytes, and its fixed header). rumqttc cannot skip a packet over its limit: it drops the
/// connection unacknowledged, a broker with a persistent session sends it again on every
/// reconnect, and no press queued behind it is ever heard. So the limit is the broker's
/// (`max_packet_size` in `deploy/mosquitto.conf`); what gets through is read, found too big
/// for a press ([`payload::MAX_PAYLOAD`]), counted as malformed and acknowledged.
pub const MAX_INCOMING_PACKET: usize = 268_435_455 + 5;
/// Presses waiting for the database. QoS 1 presses are also bounded by the broker's in-flight
/// window, since they are acknowledged only once handled.
const QUEUE: usize = 1024;
/// Requests (publishes, acks) waiting for the connection.
const REQUESTS: usize = 256;
/// How long stopping waits for the presses under way to be committed and acknowledged.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum MqttError {
    #[error("[mqtt] is not configured")]
    Disabled,
    #[error("mqtt.topic_prefix: {0}")]
    Topic(#[from] topic::TopicError),
    #[error("mqtt.client_id must not be empty")]
    NoClientId,
}

/// The bridge's Prometheus metrics (prefixed `gridwatch_`).
#[derive(Clone)]
pub struct MqttMetrics {
    /// `mqtt_messages_total{outcome}`: SOS messages, by [`Outcome`].
    pub messages: IntCounterVec,
    /// `mqtt_connected`: 1 while the hub is connected and subscribed to the broker.
    pub connected: IntGauge,
    /// `mqtt_statuses_published_total`: status messages handed to the broker.
    pub statuses: IntCounter,
}

impl MqttMetrics {
    /// Registered on the hub's registry when the bridge starts, so a hub without MQTT shows
    /// no MQTT metrics (and a `connected 0` cannot be mistaken for an outage).
    fn new(registry: &crate::metrics::Metrics) -> MqttMetrics {
        let m = MqttMetrics {
            messages: IntCounterVec::new(
                Opts::new(
                    "mqtt_messages_total",
                    "MQTT SOS messages, by outcome (sos, repeat, replay, unknown_device, \
                     malformed, rate_limited, retained, rejected: refused for good by the \
                     store); error counts failed attempts, tried again",
                ),
                &["outcome"],
            )
            .expect("metric"),
            connected: IntGauge::new(
                "mqtt_connected",
                "1 while the hub is connected and subscribed to the MQTT broker",
            )
            .expect("metric"),
            statuses: IntCounter::new(
                "mqtt_statuses_published_total",
                "Retained device status messages handed to the MQTT broker",
            )
            .expect("metric"),
        };
        // Every outcome shows from the start, so rates and alerts work before the first one.
        for o in Outcome::ALL {
            m.messages.with_label_values(&[o.as_str()]);
        }
        registry.register(Box::new(m.messages.clone()));
        registry.register(Box::new(m.connected.clone()));
        registry.register(Box::new(m.statuses.clone()));
        m
    }

    fn count(&self, o: Outcome) {
        self.messages.with_label_values(&[o.as_str()]).inc();
    }
}

/// Whether this node's MQTT bridge is connected, for `/readyz`: `off` when `[mqtt]` is not
/// configured (or the bridge has not started), else `connected` or `disconnected`. Made with
/// the hub's state; the bridge it is given to at [`spawn`] keeps it current.
#[derive(Debug, Clone)]
pub struct MqttLink(Arc<watch::Sender<&'static str>>);

impl Default for MqttLink {
    fn default() -> Self {
        MqttLink(Arc::new(watch::channel("off").0))
    }
}

impl MqttLink {
    pub fn state(&self) -> &'static str {
        *self.0.borrow()
    }

    fn set(&self, subscribed: bool) {
        self.0.send_replace(if subscribed {
            "connected"
        } else {
            "disconnected"
        });
    }
}

/// A running bridge. Dropping it stops the bridge too, without waiting.
pub struct Bridge {
    stop: oneshot::Sender<()>,
    subscribed: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
    pub metrics: MqttMetrics,
}

impl Bridge {
    /// Waits until the hub is connected and subscribed (again, after an outage); `false` if
    /// that did not happen within `timeout`.
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribed.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether the hub is connected and subscribed now.
    pub fn is_subscribed(&self) -> bool {
        *self.subscribed.borrow()
    }

    /// Stops taking presses, lets those under way be committed and acknowledged (for up to a
    /// few seconds), and disconnects from the broker.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the MQTT bridge ended abnormally");
        }
    }
}

/// The client options for a configuration.
pub fn options(config: &MqttConfig) -> Result<MqttOptions, MqttError> {
    let client_id = config.client_id.trim();
    if client_id.is_empty() {
        // rumqttc panics on a persistent session without a client id.
        return Err(MqttError::NoClientId);
    }
    let mut o = MqttOptions::new(client_id, config.host.trim(), config.port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(!config.persistent_session)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_PACKET)
        .set_request_channel_capacity(REQUESTS);
    if !config.username.is_empty() {
        o.set_credentials(config.username.clone(), config.password.clone());
    }
    Ok(o)
}

/// Starts the bridge if `[mqtt]` is configured; `Ok(None)` when it is not.
pub fn spawn(
    config: &MqttConfig,
    incidents: Incidents,
    link: &MqttLink,
    metrics: &Metrics,
) -> Result<Option<Bridge>, MqttError> {
    match start(config, incidents, link, metrics) {
        Ok(b) => Ok(Some(b)),
        Err(MqttError::Disabled) => Ok(None),
        Err(e) => Err(e),
    }
}

fn start(
    config: &MqttConfig,
    incidents: Incidents,
    link: &MqttLink,
    metrics: &Metrics,
) -> Result<Bridge, MqttError> {
    if !config.enabled() {
        return Err(MqttError::Disabled);
    }
    let topics = Topics::new(&config.topic_prefix)?;
    let opts = options(config)?;
    let metrics = MqttMetrics::new(metrics);
    let (client, eventloop) = AsyncClient::new(opts, REQUESTS);
    // Tracked by the hub's lifecycle; the bridge stops them itself ([`Bridge::stop`]), before
    // the components, so that presses under way are settled first.
    let lifecycle = incidents.lifecycle.clone();
    let statuses = lifecycle.spawn(status::run(
        incidents.subscribe(),
        client.clone(),
        topics.clone(),
        metrics.clone(),
    ));
    let (queue, presses) = mpsc::channel::<Publish>(QUEUE);
    let (stopping, stopping_rx) = watch::channel(false);
    let worker = lifecycle.spawn(work(
        incidents,
        client.clone(),
        topics.clone(),
        metrics.clone(),
        presses,
        stopping_rx,
    ));
    let helpers = Helpers {
        queue,
        worker,
        statuses,
        stopping,
    };
    let (stop, stop_rx) = oneshot::channel();
    let (subscribed_tx, subscribed) = watch::channel(false);
    link.set(false);
    tracing::info!(host = %config.host, port = config.port, client_id = %config.client_id,
        filter = %topics.sos_filter(), "MQTT bridge starting");
    let task = lifecycle.spawn(run(
        client,
        eventloop,
        topics,
        metrics.clone(),
        (subscribed_tx, link.clone()),
        stop_rx,
        helpers,
    ));
    Ok(Bridge {
        stop,
        subscribed,
        task,
        metrics,
    })
}

/// The tasks beside the connection: the press worker (and its queue) and the status publisher.
struct Helpers {
    queue: mpsc::Sender<Publish>,
    worker: tokio::task::JoinHandle<()>,
    statuses: tokio::task::JoinHandle<()>,
    /// Tells the worker to stop trying again presses the database refused.
    stopping: watch::Sender<bool>,
}

/// The connection: polls the event loop (which reconnects when polled after an error), hands
/// presses to the worker and subscribes on every connection.
async fn run(
    client: AsyncClient,
    mut eventloop: EventLoop,
    topics: Topics,
    metrics: MqttMetrics,
    (subscribed, link): (watch::Sender<bool>, MqttLink),
    mut stop: oneshot::Receiver<()>,
    helpers: Helpers,
) {
    let Helpers {
        queue,
        mut worker,
        statuses,
        stopping,
    } = helpers;
    let filter = topics.sos_subscription();
    let mut backoff = MIN_BACKOFF;
    let mut connected_at: Option<tokio::time::Instant> = None;
    let set_subscribed = |v: bool| {
        metrics.connected.set(v as i64);
        subscribed.send_replace(v);
        link.set(v);
    };
    loop {
        let event = tokio::select! {
            _ = &mut stop => break,
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(
                    session_present = ack.session_present,
                    "MQTT broker connected"
                );
                connected_at = Some(tokio::time::Instant::now());
                // Subscribing on every connection covers a broker that lost the session.
                if let Err(e) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                    tracing::error!(error = %e, "MQTT: could not ask for the subscription");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                    // The broker's ACL does not let the hub read the SOS topics: presses
                    // would be lost in silence, so say it loudly, every connection.
                    tracing::error!(%filter, "MQTT broker refused the SOS subscription: \
                        check the hub's ACL on the broker");
                } else {
                    tracing::info!(%filter, "MQTT subscribed: panic buttons are heard");
                    set_subscribed(true);
                }
            }
            Ok(Event::Incoming(Packet::Publish(mut p))) => {
                // Too big for a press: only enough of it is kept to be found malformed in its
                // turn (acknowledgements go out in order), not megabytes per queued message.
                if p.payload.len() > payload::MAX_PAYLOAD {
                    p.payload =
                        axum::body::Bytes::copy_from_slice(&p.payload[..=payload::MAX_PAYLOAD]);
                }
                if let Err(e) = queue.try_send(p) {
                    // Not acknowledged, so a QoS 1 press comes again with the session.
                    metrics.count(Outcome::Error);
                    tracing::error!(error = %e, "MQTT SOS dropped: the hub cannot keep up");
                }
            }
            Ok(_) => {}
            Err(e) => {
                set_subscribed(false);
                match connected_at.take().map(|t| t.elapsed()) {
                    // The pause starts again from the shortest only after a connection that
                    // lasted: one the broker keeps closing at once (a second client with the
                    // same id takes it over) is retried ever more slowly, not twice a second.
                    Some(lasted) if lasted >= STABLE => {
                        backoff = MIN_BACKOFF;
                        tracing::warn!(error = %e, "MQTT broker lost; reconnecting");
                    }
                    Some(_) => tracing::warn!(error = %e, retry_in = ?backoff,
                        "MQTT broker closed the connection soon after accepting it; is another \
                         client connected with the same mqtt.client_id?"),
                    None => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "MQTT broker unreachable")
                    }
                }
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    statuses.abort();
    // Let the worker finish (commit and acknowledge) what it has, polling so acks go out; a
    // press the database keeps refusing is left unacknowledged, for the broker to send again.
    stopping.send_replace(true);
    drop(queue);
    let deadline = tokio::time::sleep(DRAIN);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut worker => break,
            _ = &mut deadline => {
                tracing::warn!("MQTT bridge stopping with presses not yet handled");
                worker.abort();
                break;
            }
            e = eventloop.poll() => if e.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    if subscribed.borrow().to_owned() && client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(e) = eventloop.poll().await {
                if matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }
    set_subscribed(false);
    tracing::info!("MQTT bridge stopped");
}

/// Handles presses one at a time, in the order the broker delivered them (so acknowledgements
/// go out in that order too, as MQTT asks), and acknowledges each once settled. A press the
/// database fails holds up those behind it until it is saved: they would fail the same way. A
/// press the store refuses for good (a corrupt row) is acknowledged as rejected and the queue
/// moves on: it would never be saved, and the other buttons must be heard.
async fn work(
    incidents: Incidents,
    client: AsyncClient,
    topics: Topics,
    metrics: MqttMetrics,
    mut presses: mpsc::Receiver<Publish>,
    mut stopping: watch::Receiver<bool>,
) {
    while let Some(p) = presses.recv().await {
        let Some(outcome) = press::settle(&incidents, &topics, &metrics, &p, &mut stopping).await
        else {
            continue; // not saved: not acknowledged
        };
        metrics.count(outcome);
        if let Err(e) = client.ack(&p).await {
            tracing::warn!(error = %e, "MQTT: could not acknowledge a press");
        }
    }
}
