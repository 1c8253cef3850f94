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
        let metrics = Metrics {
            registry,
            names: Default::default(),
            http_requests,
            http_duration,
            login_failures,
            login_throttled,
        };
        for c in [
            Box::new(metrics.http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.http_duration.clone()),
            Box::new(metrics.login_failures.clone()),
            Box::new(metrics.login_throttled.clone()),
            Box::new(build_info),
        ] {
            metrics.register(c);
        }
        metrics
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
