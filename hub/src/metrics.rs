//! Prometheus metrics, served at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// The names of the metrics registered so far, prefix included (see [`Metrics::names`]).
    names: std::sync::Mutex<Vec<String>>,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub login_failures: IntCounter,
    pub login_throttled: IntCounter,
    /// `queue_full_total{queue}`: items a bounded internal queue could not take (each queue's
    /// doc comment says what then happens to them). See [`Queue`].
    pub queue_full: IntCounterVec,
    /// `sqlite_busy_retries_total`: times an SQLite connection found the write lock taken and
    /// tried again ([`gridwatch_store::sqlite_busy_retries`]), a measure of write contention.
    pub sqlite_busy_retries: IntCounter,
}

/// The hub's bounded internal queues, as `gridwatch_queue_full_total{queue}` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Committed events on their way to the stream's sequencer (`stream::Stream::publish`).
    StreamInbox,
    /// Events waiting for a missing seq in the sequencer (`stream::sequencer`).
    SequencerWaiting,
    /// This node's events waiting to be published on NATS (`stream::nats`).
    NatsPublish,
    /// NATS publish acknowledgements awaited at once (`stream::nats`).
    NatsAcks,
    /// Raises waiting for the store's group-commit writer (`gridwatch_store`).
    IntakeWriter,
}

impl Queue {
    pub const ALL: [Queue; 5] = [
        Queue::StreamInbox,
        Queue::SequencerWaiting,
        Queue::NatsPublish,
        Queue::NatsAcks,
        Queue::IntakeWriter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::StreamInbox => "stream_inbox",
            Queue::SequencerWaiting => "sequencer_waiting",
            Queue::NatsPublish => "nats_publish",
            Queue::NatsAcks => "nats_acks",
            Queue::IntakeWriter => "intake_writer",
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("gridwatch".into()), None).expect("registry");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )
        .expect("metric");
        let login_failures = IntCounter::new(
            "login_failures_total",
            "Logins refused for a wrong username or password",
        )
        .expect("metric");
        let login_throttled = IntCounter::new(
            "login_throttled_total",
            "Logins refused because of too many failures",
        )
        .expect("metric");
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "The running gridwatch version"),
            &["version"],
        )
        .expect("metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let queue_full = IntCounterVec::new(
            Opts::new(
                "queue_full_total",
                "Items a bounded internal queue could not take, by queue (stream_inbox, \
                 sequencer_waiting, nats_publish: left for the log; nats_acks, intake_writer: \
                 the sender waited for room)",
            ),
            &["queue"],
        )
        .expect("metric");
        for q in Queue::ALL {
            queue_full.with_label_values(&[q.as_str()]);
        }
        let sqlite_busy_retries = IntCounter::new(
            "sqlite_busy_retries_total",
            "Times an SQLite connection found another's write under way and tried again \
             (every 0.5 ms): write contention",
        )
        .expect("metric");
        let metrics = Metrics {
            registry,
            names: Default::default(),
            http_requests,
            http_duration,
            login_failures,
            login_throttled,
            queue_full,
            sqlite_busy_retries,
        };
        for c in [
            Box::new(metrics.http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.http_duration.clone()),
            Box::new(metrics.login_failures.clone()),
            Box::new(metrics.login_throttled.clone()),
            Box::new(metrics.queue_full.clone()),
            Box::new(metrics.sqlite_busy_retries.clone()),
            Box::new(build_info),
        ] {
            metrics.register(c);
        }
        metrics
    }

    /// The counter of a queue's refusals.
    pub fn queue_full(&self, q: Queue) -> IntCounter {
        self.queue_full.with_label_values(&[q.as_str()])
    }

    /// Registers a collector owned by another part of the hub.
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) {
        let names: Vec<String> = c
            .desc()
            .iter()
            .map(|d| format!("gridwatch_{}", d.fq_name))
            .collect();
        match self.registry.register(c) {
            Ok(()) => self
                .names
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(names),
            Err(e) => tracing::warn!("metric not registered: {e}"),
        }
    }

    /// The names of every metric this process has registered, `gridwatch_` prefix included —
    /// also those with no sample yet (a labelled family before its first label, which
    /// `/metrics` leaves out). For checking that dashboards and alerts name real metrics.
    pub fn names(&self) -> Vec<String> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}
