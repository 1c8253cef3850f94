//! The real-time stream (实时推送): every committed event, in seq order, to every console that
//! may see it, the instant it is committed.
//!
//! How an event travels:
//!
//! 1. A change commits its events in the database (the log is the truth; [`gridwatch_store`]).
//! 2. The committing code hands them to [`Stream::publish`] (incident changes arrive through
//!    `forward_incident_changes`, which listens to [`crate::incidents::Incidents::subscribe`]).
//!    With `bus = "nats"` they also go to NATS JetStream, and the other nodes' events come
//!    back from it ([`nats`]).
//! 3. The [`sequencer`] task puts them in seq order, reading from the log whatever did not
//!    arrive, and sends each once on a broadcast channel.
//! 4. Each WebSocket connection (`crate::http::stream`) reads that channel, filters by its
//!    audience (`gridwatch_core::access::Audience`) and writes to its client; a client too slow to keep up is closed with 4008
//!    and resumes with `since` from the log. The channel never waits for anyone.
//!
//! Presence of responders' consoles is kept in the database ([`presence`]) so that every node
//! knows whether a post has a console to receive a dispatch.

mod config;
pub mod delivery;
pub mod message;
mod nats;
pub mod presence;
pub mod sequencer;

pub use config::{BusKind, StreamConfig};

use crate::incidents::Incidents;
use crate::metrics::{Metrics, Queue};
use crate::recording::RecordingHub;
use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use gridwatch_core::access::Form;
use gridwatch_core::event::Event;
use gridwatch_core::incident::Incident;
use gridwatch_store::{Store, StoreError};
use prometheus::{IntCounter, IntGauge};
use sequencer::Sequencer;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// One event on its way to the consoles, with the incident it is about (after the change),
/// and its JSON text, made once for all the connections that show it in the same form.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: Event,
    pub incident: Option<Incident>,
    full: OnceLock<Utf8Bytes>,
    resident: OnceLock<Utf8Bytes>,
}

impl Published {
    pub fn new(event: Event, incident: Option<Incident>) -> Published {
        Published {
            event,
            incident,
            full: OnceLock::new(),
            resident: OnceLock::new(),
        }
    }

    /// The text frame for `form`, serialised on first use.
    pub fn text(&self, form: Form) -> Utf8Bytes {
        let cell = match form {
            Form::Full => &self.full,
            Form::Resident => &self.resident,
        };
        cell.get_or_init(|| message::event(self, form).into())
            .clone()
    }
}

/// Most committed events on their way to the sequencer (the inbox). When it is full (the
/// sequencer stalled on the log, or a flood), [`Stream::publish`] drops the event, counted in
/// `gridwatch_queue_full_total{queue="stream_inbox"}`: the sequencer finds the gap and reads
/// it from the log, so it is late, not lost.
pub const INBOX: usize = 16_384;

/// Most of this node's events waiting to be published on NATS. When full, an event is not
/// sent on the bus (`queue="nats_publish"`): the other nodes read it from the log.
pub const BUS_QUEUE: usize = 4096;

/// How many delivered events the broadcast channel holds for connections that are behind.
/// A connection further behind than its own `client_queue` is closed before this matters.
pub const FANOUT_BUFFER: usize = 8192;

/// How long an out-of-order event waits for the ones before it before they are read from the
/// log (they are normally a few microseconds behind, in another request's publish).
const GAP_WAIT: Duration = Duration::from_millis(150);

/// How often the sequencer asks the log whether it missed anything (a node that died between
/// commit and publish, a lost bus message). The bound on how late such an event can be.
const LOG_POLL: Duration = Duration::from_secs(1);

/// What the stream asks of a dispatch's receipt (`[response]`'s `receipt_seconds` and
/// `escalate_undelivered`; see [`delivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipts {
    /// How long a console has to confirm a dispatch; 0: not checked.
    pub wait_seconds: u32,
    /// Whether an undelivered dispatch goes to the next post at once.
    pub escalate_undelivered: bool,
}

/// The stream of one hub process, shared as `Arc<Stream>`: it owns what its tasks use (the
/// incident core's handle, and through it the store, the clock and the lifecycle).
pub struct Stream {
    pub config: StreamConfig,
    pub receipts: Receipts,
    /// Incident changes come from here; the store, clock and lifecycle are its.
    incidents: Incidents,
    /// This process, as presence rows and the bus name it: unique per start.
    pub node: String,
    out: broadcast::Sender<Arc<Published>>,
    inbox: mpsc::Sender<Published>,
    inbox_rx: Mutex<Option<mpsc::Receiver<Published>>>,
    /// This node's events for the other nodes, with the NATS bus: queued from the start and
    /// published once [`spawn`] has connected (the publisher takes `bus_rx`).
    bus: Option<mpsc::Sender<Published>>,
    bus_rx: Mutex<Option<mpsc::Receiver<Published>>>,
    health: watch::Sender<Value>,
    pub metrics: StreamMetrics,
}

/// Where the health message's parts come from besides the response check: the notification
/// channels failing now (issue 18) and the sample-file directories that stopped recording
/// (issue 13).
#[derive(Clone)]
pub struct HealthSources {
    /// `None` where no notification worker runs (tests of the stream alone).
    pub notify_failing: Option<crate::notify::FailingChannels>,
    pub recording: Arc<RecordingHub>,
    /// On a hub that leaves its cameras to ingest workers, their leases' rules: the live
    /// workers' stopped directories are told with the hub's own.
    pub workers: Option<gridwatch_core::lease::LeasePolicy>,
}

impl Stream {
    pub fn new(
        config: StreamConfig,
        receipts: Receipts,
        incidents: Incidents,
        metrics: &Metrics,
    ) -> Stream {
        let (inbox, inbox_rx) = mpsc::channel(INBOX);
        let (bus, bus_rx) = match config.bus {
            BusKind::Nats => {
                let (tx, rx) = mpsc::channel(BUS_QUEUE);
                (Some(tx), Some(rx))
            }
            BusKind::Local => (None, None),
        };
        Stream {
            config,
            receipts,
            incidents,
            node: format!("{}-{:08x}", hostname(), rand::random::<u32>()),
            out: broadcast::channel(FANOUT_BUFFER).0,
            inbox,
            inbox_rx: Mutex::new(Some(inbox_rx)),
            bus,
            bus_rx: Mutex::new(bus_rx),
            health: watch::channel(json!({ "response_check": "ok" })).0,
            metrics: StreamMetrics::new(metrics),
        }
    }

    /// Every event delivered from now on, in seq order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.out.subscribe()
    }

    /// Hands committed events to the consoles (of this node and, over the bus, of the others).
    /// Never waits: a full queue drops the event (counted; see [`INBOX`] and [`BUS_QUEUE`]),
    /// and the log delivers it instead.
    pub fn publish(&self, p: Published) {
        if let Some(bus) = &self.bus {
            if let Err(mpsc::error::TrySendError::Full(_)) = bus.try_send(p.clone()) {
                self.metrics.nats_publish_full.inc();
            }
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.inbox.try_send(p) {
            self.metrics.inbox_full.inc();
        }
    }

    /// Publishes events recorded outside an incident change (receipts, presence, cameras):
    /// each goes with its incident, read from the store, when it has one.
    ///
    /// An event about an incident is never published without it: residents' consoles (and
    /// the role filter) need the incident to know whether the event is theirs, and would drop
    /// a bare one in silence. When the incident cannot be read (after [`INCIDENT_READS`]
    /// tries), the event is logged, counted in `stream_incident_read_failures_total` and left
    /// out here: the sequencer sees the gap and delivers it from the log, with its incident,
    /// once the incident reads again.
    pub async fn publish_events(&self, events: Vec<Event>) {
        for e in events {
            let incident = match &e.incident_id {
                Some(id) => match read_incident(self.store(), id).await {
                    Ok(i) => Some(i),
                    Err(err) => {
                        self.metrics.incident_read_failures.inc();
                        tracing::warn!(seq = e.seq, incident = %id, error = %err,
                            "stream: cannot read the event's incident; the event is left for \
                             the log to deliver with it");
                        continue;
                    }
                },
                None => None,
            };
            self.publish(Published::new(e, incident));
        }
    }

    /// The node's health as duty officers see it in the hello and in `health` messages.
    pub fn health(&self) -> watch::Receiver<Value> {
        self.health.subscribe()
    }

    pub fn store(&self) -> &Store {
        &self.incidents.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.incidents.now()
    }

    pub fn incidents(&self) -> &Incidents {
        &self.incidents
    }

    pub(crate) fn lifecycle(&self) -> &crate::lifecycle::Lifecycle {
        &self.incidents.lifecycle
    }
}

/// How often [`Stream::publish_events`] tries to read an event's incident.
pub const INCIDENT_READS: u32 = 3;

/// An event's incident, tried again after a short pause while the failure is transient.
async fn read_incident(store: &Store, id: &str) -> Result<Incident, StoreError> {
    let mut pause = Duration::from_millis(20);
    let mut tries = 1;
    loop {
        match store.incident(id).await {
            Err(e) if e.is_transient() && tries < INCIDENT_READS => {
                tokio::time::sleep(pause).await;
                pause *= 4;
                tries += 1;
            }
            r => return r,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hub".into())
}

/// The stream's Prometheus metrics.
#[derive(Clone)]
pub struct StreamMetrics {
    /// `stream_connections`: open stream WebSockets.
    pub connections: IntGauge,
    /// `stream_events_total`: events delivered by the sequencer.
    pub events: IntCounter,
    /// `stream_events_from_log_total`: of those, read from the log (not from the bus).
    pub from_log: IntCounter,
    /// `stream_slow_clients_total`: clients closed with 4008.
    pub slow_clients: IntCounter,
    /// `stream_incident_read_failures_total`: events not published at once because their
    /// incident could not be read (they come from the log later).
    pub incident_read_failures: IntCounter,
    /// `queue_full_total{queue="stream_inbox"}`.
    pub inbox_full: IntCounter,
    /// `queue_full_total{queue="sequencer_waiting"}`.
    pub waiting_full: IntCounter,
    /// `queue_full_total{queue="nats_publish"}`.
    pub nats_publish_full: IntCounter,
    /// `queue_full_total{queue="nats_acks"}`.
    pub nats_acks_full: IntCounter,
}

impl StreamMetrics {
    fn new(registry: &Metrics) -> StreamMetrics {
        let m = StreamMetrics {
            connections: IntGauge::new("stream_connections", "Open stream WebSockets")
                .expect("metric"),
            events: IntCounter::new("stream_events_total", "Events delivered to the stream")
                .expect("metric"),
            from_log: IntCounter::new(
                "stream_events_from_log_total",
                "Events the stream read from the log because the bus did not bring them in time",
            )
            .expect("metric"),
            slow_clients: IntCounter::new(
                "stream_slow_clients_total",
                "Stream clients closed with 4008 because they could not keep up",
            )
            .expect("metric"),
            inbox_full: registry.queue_full(Queue::StreamInbox),
            waiting_full: registry.queue_full(Queue::SequencerWaiting),
            nats_publish_full: registry.queue_full(Queue::NatsPublish),
            nats_acks_full: registry.queue_full(Queue::NatsAcks),
            incident_read_failures: IntCounter::new(
                "stream_incident_read_failures_total",
                "Events held back from the stream because their incident could not be read; \
                 delivered from the log once it reads",
            )
            .expect("metric"),
        };
        registry.register(Box::new(m.incident_read_failures.clone()));
        registry.register(Box::new(m.connections.clone()));
        registry.register(Box::new(m.events.clone()));
        registry.register(Box::new(m.from_log.clone()));
        registry.register(Box::new(m.slow_clients.clone()));
        m
    }
}

/// Starts the stream's tasks: the bus (when configured), the sequencer, the forwarding of
/// incident changes, presence upkeep and the health signal. Fails when the bus is configured
/// but cannot be reached: a node that cannot tell the others must not pretend to.
/// An ingest worker's part of the stream: it only publishes (camera health events) to the
/// bus, when there is one; the hubs' sequencers deliver them (or read them from the log). What
/// comes in is dropped: the worker has no consoles.
pub async fn spawn_publisher(stream: &Arc<Stream>) -> anyhow::Result<()> {
    let mut inbox = stream
        .inbox_rx
        .lock()
        .expect("stream inbox lock")
        .take()
        .ok_or_else(|| anyhow::anyhow!("the stream is started already"))?;
    connect_bus(stream).await?;
    stream
        .lifecycle()
        .spawn_service(async move { while inbox.recv().await.is_some() {} });
    Ok(())
}

/// Connects the NATS bus, when there is one: reads the other nodes' events into the inbox and
/// publishes this node's, queued since the stream was made.
async fn connect_bus(stream: &Stream) -> anyhow::Result<()> {
    let queued = stream.bus_rx.lock().expect("stream bus lock").take();
    if let Some(queued) = queued {
        nats::connect(
            &stream.config,
            stream.inbox.clone(),
            queued,
            stream.metrics.clone(),
            stream.lifecycle(),
        )
        .await?;
    }
    Ok(())
}

pub async fn spawn(stream: &Arc<Stream>, health: HealthSources) -> anyhow::Result<()> {
    let stream = stream.clone();
    let inbox = stream
        .inbox_rx
        .lock()
        .expect("stream inbox lock")
        .take()
        .ok_or_else(|| anyhow::anyhow!("the stream is started already"))?;
    let start = stream.store().latest_seq().await?;
    connect_bus(&stream).await?;
    let lifecycle = stream.lifecycle();
    lifecycle.spawn_service(run_sequencer(stream.clone(), inbox, start));
    lifecycle.spawn_service(forward_incident_changes(stream.clone()));
    lifecycle.spawn_service(flag_unattended_dispatches(stream.clone()));
    lifecycle.spawn_service(presence::upkeep(stream.clone()));
    lifecycle.spawn_service(watch_health(stream.clone(), health));
    Ok(())
}

/// Puts events in order and delivers each once; reads from the log what did not arrive.
async fn run_sequencer(stream: Arc<Stream>, mut inbox: mpsc::Receiver<Published>, start: i64) {
    let mut seq = Sequencer::new(start);
    let mut poll = tokio::time::interval(LOG_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gap_since: Option<tokio::time::Instant> = None;
    loop {
        let gap_deadline = gap_since.map(|t| t + GAP_WAIT);
        tokio::select! {
            p = inbox.recv() => {
                let Some(p) = p else { return };
                deliver(&stream, seq.offer(p));
                while let Ok(p) = inbox.try_recv() {
                    deliver(&stream, seq.offer(p));
                }
            }
            _ = poll.tick() => {
                match stream.store().latest_seq().await {
                    // Give the bus its chance first: what is still missing after a gap's
                    // wait is read from the log.
                    Ok(latest) if latest > seq.delivered() => {
                        gap_since.get_or_insert_with(tokio::time::Instant::now);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "stream: cannot read the log's end"),
                }
            }
            _ = sleep_until(gap_deadline) => {
                fill_from_log(&stream, &mut seq).await;
                gap_since = None;
            }
        }
        let dropped = seq.take_dropped();
        if dropped > 0 {
            stream.metrics.waiting_full.inc_by(dropped);
            tracing::warn!(
                dropped,
                waiting = seq.waiting(),
                "stream: too many events waiting for a missing one; the log will bring them"
            );
        }
        if seq.has_gap() {
            gap_since.get_or_insert_with(tokio::time::Instant::now);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Reads the log after the last delivered seq and delivers it.
async fn fill_from_log(stream: &Stream, seq: &mut Sequencer) {
    loop {
        let events = match stream.store().events_since(seq.delivered(), 500).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "stream: cannot read the log; will retry");
                return;
            }
        };
        let full = events.len() == 500;
        let from_log = match with_incidents(stream.store(), events).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "stream: cannot read incidents; will retry");
                return;
            }
        };
        let ready = seq.fill(from_log);
        stream.metrics.from_log.inc_by(ready.len() as u64);
        deliver(stream, ready);
        if !full {
            return;
        }
    }
}

/// Pairs events read from the log with their incidents as they are now, read in one go (a
/// replay of thousands of events read them one statement each before).
pub async fn with_incidents(
    store: &Store,
    events: Vec<Event>,
) -> Result<Vec<Published>, StoreError> {
    let mut ids: Vec<String> = events
        .iter()
        .filter_map(|e| e.incident_id.clone())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let incidents: HashMap<String, Incident> = store
        .incidents_by_id(&ids)
        .await?
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let incident = match &e.incident_id {
            // An event's incident is written with it: one missing is a read to retry.
            Some(id) => Some(
                incidents
                    .get(id)
                    .cloned()
                    .ok_or_else(|| StoreError::NotFound {
                        what: "incident",
                        id: id.clone(),
                    })?,
            ),
            None => None,
        };
        out.push(Published::new(e, incident));
    }
    Ok(out)
}

fn deliver(stream: &Stream, ready: Vec<Published>) {
    for p in ready {
        stream.metrics.events.inc();
        let _ = stream.out.send(Arc::new(p));
    }
}

/// Publishes every incident change this process commits. Nothing here waits on the
/// database, so that forwarding keeps up with the fastest intake.
async fn forward_incident_changes(stream: Arc<Stream>) {
    let mut changes = stream.incidents.subscribe();
    // What is skipped when changes come too fast, the sequencer reads from the log.
    while let Some(changed) = next_change(&mut changes, "forwarded").await {
        for e in &changed.events {
            stream.publish(Published::new(e.clone(), Some(changed.incident.clone())));
        }
    }
}

/// The next change, past any skipped because they came too fast (logged); `None` at the end.
async fn next_change(
    changes: &mut broadcast::Receiver<Arc<crate::incidents::Changed>>,
    what: &str,
) -> Option<Arc<crate::incidents::Changed>> {
    loop {
        match changes.recv().await {
            Ok(c) => return Some(c),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    skipped = n,
                    "stream: incident changes not {what}: too many at once"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Checks every dispatch this process makes for a console to receive it ([`delivery`]).
async fn flag_unattended_dispatches(stream: Arc<Stream>) {
    let mut changes = stream.incidents.subscribe();
    while let Some(changed) = next_change(&mut changes, "checked for a console").await {
        for e in &changed.events {
            if let Some(post) = gridwatch_core::delivery::dispatched_to(e) {
                stream.lifecycle().spawn_service(delivery::watch(
                    stream.clone(),
                    changed.incident.clone(),
                    post.to_string(),
                    e.clone(),
                ));
            }
        }
    }
}

/// How often the workers' part of the health is read (they renew every few seconds).
const WORKERS_HEALTH_EVERY: Duration = Duration::from_secs(2);

/// Keeps `into` at the workers' part of the health ([`crate::workers::Overview::health`]),
/// read every [`WORKERS_HEALTH_EVERY`]; what was read last stays while the database does not
/// answer.
async fn read_workers_health(
    recording: Arc<RecordingHub>,
    policy: gridwatch_core::lease::LeasePolicy,
    into: Arc<Mutex<crate::workers::WorkersHealth>>,
) {
    let mut tick = tokio::time::interval(WORKERS_HEALTH_EVERY);
    // Cameras are nobody's for a claim round or two whenever a worker stops cleanly or joins:
    // routine, not news. They are told once nobody has run them for two renewals.
    let settle = (policy.renew_every * 2)
        .to_std()
        .unwrap_or(Duration::from_secs(10));
    let mut unassigned_since: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        match crate::workers::overview(&recording.store, &policy, recording.now()).await {
            Ok(o) => {
                let mut health = o.health();
                if health.unassigned == 0 {
                    unassigned_since = None;
                } else if unassigned_since
                    .get_or_insert_with(tokio::time::Instant::now)
                    .elapsed()
                    < settle
                {
                    health.unassigned = 0;
                }
                *into.lock().unwrap_or_else(|p| p.into_inner()) = health;
            }
            Err(e) => tracing::warn!(error = %e, "the ingest workers' health could not be read"),
        }
    }
}

/// Keeps the health message in step with the response check's watchdog, the failing
/// notification channels, the sample-file directories that stopped recording (the duty
/// officers are told rather than evidence being silently lost) and, on a hub that leaves its
/// cameras to ingest workers, the workers that vanished and the cameras nobody runs.
async fn watch_health(stream: Arc<Stream>, sources: HealthSources) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // The workers' part, read from the database by a task of its own: a slow or unreachable
    // database must not hold up the rest of the health message (a stalled response check is
    // news then most of all).
    let workers: Arc<Mutex<crate::workers::WorkersHealth>> = Arc::default();
    if let Some(policy) = sources.workers {
        stream.lifecycle().spawn_service(read_workers_health(
            sources.recording.clone(),
            policy,
            workers.clone(),
        ));
    }
    loop {
        tick.tick().await;
        let mut value = if stream.incidents.stalled() {
            json!({ "response_check": "stalled" })
        } else {
            json!({ "response_check": "ok" })
        };
        if let Some(f) = &sources.notify_failing {
            let failing: Vec<String> = f
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect();
            if !failing.is_empty() {
                value["notify_failing"] = json!(failing);
            }
        }
        let workers = workers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut stopped = sources.recording.stopped_dirs();
        stopped.extend(workers.recording_stopped);
        if !stopped.is_empty() {
            value["recording_stopped"] = json!(stopped);
        }
        if !workers.gone.is_empty() {
            value["ingest_workers_gone"] = json!(workers.gone);
        }
        if workers.unassigned > 0 {
            value["cameras_unassigned"] = json!(workers.unassigned);
        }
        if let Some(low) = sources.recording.evidence_space.low() {
            value["evidence_low_space"] = json!(low);
        }
        stream.health.send_if_modified(|h| {
            let changed = *h != value;
            *h = value;
            changed
        });
    }
}
