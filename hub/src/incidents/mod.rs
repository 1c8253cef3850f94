//! The incident core of the hub: SOS and manual intake ([`intake`]), routing to a grid and its
//! posts ([`routing`]), actions on incidents ([`action`]: dispatch, acknowledge, …), the
//! response check's timer engine ([`response_check`]) and the watchdog that makes a stalled
//! engine visible ([`watchdog`]).
//!
//! The decisions are the domain's (`gridwatch_core::{incident, change, response_check, routing}`), the
//! transactions the store's; this module wires them to the configuration, the clock and the
//! metrics. Nothing here speaks HTTP, so the MQTT bridge can raise SOS through
//! [`intake::raise_sos`] like the HTTP edge does.

pub mod action;
pub mod config;
pub mod contacts;
pub mod intake;
pub mod response_check;
pub mod routing;
pub mod sos_limit;
pub mod watchdog;

use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use gridwatch_core::clock::Clock;
use gridwatch_core::event::Event;
use gridwatch_core::incident::Incident;
use gridwatch_core::response_check::ResponsePolicy;
use gridwatch_store::Store;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, Notify};

/// One committed change, as this process made it: the incident after it and the events it
/// recorded, in seq order. What the MQTT status topic and the real-time stream build on.
#[derive(Debug, Clone)]
pub struct Changed {
    pub incident: Incident,
    pub events: Vec<Event>,
}

/// How many changes a slow subscriber may fall behind before it misses some (it is then told
/// by `RecvError::Lagged`, and must catch up from the event log: `Store::events_since`).
pub const CHANGES_BUFFER: usize = 1024;

/// The incident core, as a handle: cheap to clone, it owns what raising, acting on and
/// timing incidents need (the store, the clock, the response policy, the metrics, the change
/// channel and the tasks it starts), so intake and the timer engine can be used — and tested —
/// without the rest of the hub. One per hub process; every clone shares it.
#[derive(Clone)]
pub struct Incidents {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// The centre's response windows (`[response]`); grids override them.
    pub policy: ResponsePolicy,
    pub metrics: IncidentMetrics,
    pub sos_limit: Arc<sos_limit::SosLimit>,
    /// Where the raise tasks are tracked (see [`intake::commit`]) and the timers run.
    pub lifecycle: Lifecycle,
    wake: Arc<Notify>,
    stalled: Arc<AtomicBool>,
    changes: broadcast::Sender<Arc<Changed>>,
}

impl Incidents {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        policy: ResponsePolicy,
        metrics: &Metrics,
        lifecycle: Lifecycle,
    ) -> Incidents {
        Incidents {
            store,
            clock,
            policy,
            metrics: IncidentMetrics::new(metrics),
            sos_limit: Arc::default(),
            lifecycle,
            wake: Arc::new(Notify::new()),
            stalled: Arc::new(AtomicBool::new(false)),
            changes: broadcast::channel(CHANGES_BUFFER).0,
        }
    }

    /// The injected clock's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Every change this process commits from now on (raises, repeats, actions, timers).
    /// Changes made by other hub nodes on the same database are not here: read the event log
    /// for those.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Changed>> {
        self.changes.subscribe()
    }

    /// Publishes a committed change (no subscriber is not an error; no events, no news).
    pub fn publish(&self, incident: &Incident, events: &[Event]) {
        if !events.is_empty() {
            let _ = self.changes.send(Arc::new(Changed {
                incident: incident.clone(),
                events: events.to_vec(),
            }));
        }
    }

    /// Tells the timer engine that deadlines were written, so that it re-reads when the next
    /// one is due instead of finishing its sleep.
    pub fn wake_timers(&self) {
        self.wake.notify_one();
    }

    /// Whether the watchdog last found a deadline overdue: the response check is stalled.
    pub fn stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    fn set_stalled(&self, v: bool) -> bool {
        self.stalled.swap(v, Ordering::Relaxed)
    }
}

/// The incident core's Prometheus metrics (all prefixed `gridwatch_`).
#[derive(Clone)]
pub struct IncidentMetrics {
    /// `incidents_raised_total{kind}`: new incidents (repeat presses and replays not counted).
    pub raised: IntCounterVec,
    /// `sos_repeats_total`: repeat presses recorded on an open incident.
    pub repeats: IntCounter,
    /// `sos_rate_limited_total`: presses refused with 429.
    pub rate_limited: IntCounter,
    /// `incident_escalations_total{target}`: `post`, `duty_officers` or `supervisor`.
    pub escalations: IntCounterVec,
    /// `incidents_at_risk_total`.
    pub at_risk: IntCounter,
    /// `incident_breaches_total`: deadlines passed with nobody on scene.
    pub breaches: IntCounter,
    /// `deadlines_fired_total`: deadlines this process claimed (stale ones included).
    pub deadlines_fired: IntCounter,
    /// `deadlines_overdue`: pending deadlines due more than the watchdog's grace ago. Anything
    /// but 0 means the response check is not running: alert on it.
    pub overdue: IntGauge,
}

impl IncidentMetrics {
    fn new(registry: &Metrics) -> IncidentMetrics {
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("metric");
        let m = IncidentMetrics {
            raised: IntCounterVec::new(
                Opts::new("incidents_raised_total", "New incidents, by kind"),
                &["kind"],
            )
            .expect("metric"),
            repeats: counter(
                "sos_repeats_total",
                "Repeat SOS presses recorded on an open incident",
            ),
            rate_limited: counter("sos_rate_limited_total", "SOS presses refused with 429"),
            escalations: IntCounterVec::new(
                Opts::new(
                    "incident_escalations_total",
                    "Escalations, by target (post, duty_officers, supervisor)",
                ),
                &["target"],
            )
            .expect("metric"),
            at_risk: counter(
                "incidents_at_risk_total",
                "Incidents flagged at risk: nobody on scene at the warning time",
            ),
            breaches: counter(
                "incident_breaches_total",
                "Incidents whose response deadline passed with nobody on scene",
            ),
            deadlines_fired: counter(
                "deadlines_fired_total",
                "Response deadlines claimed and fired by this process",
            ),
            overdue: IntGauge::new(
                "deadlines_overdue",
                "Pending response deadlines overdue by more than the watchdog's grace; \
                 not 0 means escalations are not happening",
            )
            .expect("metric"),
        };
        registry.register(Box::new(m.raised.clone()));
        registry.register(Box::new(m.repeats.clone()));
        registry.register(Box::new(m.rate_limited.clone()));
        registry.register(Box::new(m.escalations.clone()));
        registry.register(Box::new(m.at_risk.clone()));
        registry.register(Box::new(m.breaches.clone()));
        registry.register(Box::new(m.deadlines_fired.clone()));
        registry.register(Box::new(m.overdue.clone()));
        m
    }
}
