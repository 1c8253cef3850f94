//! Ingest workers (issue 17): cameras run by `gridwatch ingest` processes on other machines,
//! each holding its cameras by a lease in the shared database (see
//! [`gridwatch_core::lease`]), taken over when a worker dies, and never run twice.
//!
//! - [`config`]: `[ingest]`, and the switch that makes a hub leave its cameras to workers.
//! - [`holdings`]: the cameras a process may run, and the fence on what it writes.
//! - [`lease_loop`]: claim, renew, stop, give back.
//! - [`auth`]: the shared secret. The worker process is `crate::server::worker`, what it
//!   serves hubs `crate::http::worker`.
//! - The hub's side: `crate::http::proxy` (live view and snapshots relayed to the holder) and
//!   [`overview`] (`GET /api/v1/ingest/workers`, `/readyz`, the `gridwatch_ingest_workers`
//!   gauge).

pub mod auth;
pub mod config;
pub mod holdings;
pub mod lease_loop;

pub use config::{IngestMode, IngestSettings};

use chrono::{DateTime, Utc};
use gridwatch_core::lease::LeasePolicy;
use gridwatch_store::Store;
use gridwatch_store::{IngestWorker, StoreError};
use serde::Serialize;

/// A worker as operations see it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerView {
    #[serde(flatten)]
    pub worker: IngestWorker,
    /// `live`; `stopped`: it stopped cleanly, its leases given back; or `gone`: not seen for
    /// longer than a lease without having said it stopped (its cameras are taken over).
    pub state: &'static str,
    /// Cameras held over capacity, as a share (0.0–1.0).
    pub load: f64,
}

/// Every worker, the enabled cameras no worker holds, and the cameras pinned to a worker.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub workers: Vec<WorkerView>,
    pub unassigned: u64,
    /// Camera ID → the worker it is pinned to (only that worker runs it).
    pub pinned: std::collections::BTreeMap<String, String>,
}

impl Overview {
    /// The workers not seen for longer than a lease, that did not say they stopped.
    pub fn gone(&self) -> Vec<&str> {
        self.in_state("gone")
    }

    /// The workers that run now.
    pub fn live(&self) -> Vec<&str> {
        self.in_state("live")
    }

    fn in_state(&self, state: &str) -> Vec<&str> {
        self.workers
            .iter()
            .filter(|w| w.state == state)
            .map(|w| w.worker.id.as_str())
            .collect()
    }

    /// What of the workers the duty officers must be told on the wall, beside the hub's own
    /// health: the directories that record nothing on live workers, the workers that vanished,
    /// and how many enabled cameras nobody runs (not shown live, not recorded).
    pub fn health(&self) -> WorkersHealth {
        WorkersHealth {
            recording_stopped: self
                .workers
                .iter()
                .filter(|w| w.state == "live")
                .flat_map(|w| {
                    let worker = serde_json::Value::from(w.worker.id.clone());
                    w.worker.recording_stopped.iter().filter_map(move |dir| {
                        let mut dir = dir.as_object()?.clone();
                        dir.insert("worker".into(), worker.clone());
                        Some(serde_json::Value::Object(dir))
                    })
                })
                .collect(),
            gone: self
                .workers
                .iter()
                .filter(|w| w.state == "gone")
                .map(|w| GoneWorker {
                    worker: w.worker.id.clone(),
                    seen_at: w.worker.seen_at,
                })
                .collect(),
            unassigned: self.unassigned,
        }
    }
}

/// The workers' part of the stream's health message ([`Overview::health`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkersHealth {
    /// `{"worker", "path", "reason", "detail"}` each: a live worker's directory that records
    /// nothing. A gone worker's are left out: it is told as gone.
    pub recording_stopped: Vec<serde_json::Value>,
    pub gone: Vec<GoneWorker>,
    /// Enabled cameras no worker holds a lease on.
    pub unassigned: u64,
}

/// A worker that vanished, and when it was last seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoneWorker {
    pub worker: String,
    pub seen_at: DateTime<Utc>,
}

/// The workers as the database has them now.
pub async fn overview(
    store: &Store,
    policy: &LeasePolicy,
    now: DateTime<Utc>,
) -> Result<Overview, StoreError> {
    let since = now - policy.ttl;
    let workers = store.ingest_workers(now).await?;
    let held: u64 = workers.iter().map(|w| u64::from(w.cameras)).sum();
    let enabled = store.enabled_camera_count().await?;
    let pinned = store.camera_pins().await?.into_iter().collect();
    let workers = workers
        .into_iter()
        .map(|w| WorkerView {
            state: if w.is_live(since) {
                "live"
            } else if w.is_gone(since) {
                "gone"
            } else {
                "stopped"
            },
            load: match w.max_cameras {
                0 => 0.0,
                max => f64::from(w.cameras) / f64::from(max),
            },
            worker: w,
        })
        .collect();
    Ok(Overview {
        workers,
        unassigned: enabled.saturating_sub(held),
        pinned,
    })
}

/// `gridwatch_ingest_workers{state="live"|"stopped"|"gone"}` and
/// `gridwatch_ingest_unassigned_cameras`: a worker that vanished, and cameras nobody runs, are
/// alerts; and
/// `gridwatch_ingest_worker_cameras{worker}`, how the cameras are spread. Set when scraped, on
/// hubs in `workers` mode.
#[derive(Clone)]
pub struct WorkerGauges {
    pub workers: prometheus::IntGaugeVec,
    pub unassigned: prometheus::IntGauge,
    pub cameras: prometheus::IntGaugeVec,
}

impl Default for WorkerGauges {
    fn default() -> Self {
        WorkerGauges {
            workers: prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "ingest_workers",
                    "Ingest workers by state: live, stopped (cleanly, leases given back), or gone (not seen for longer than a lease)",
                ),
                &["state"],
            )
            .expect("metric"),
            unassigned: prometheus::IntGauge::new(
                "ingest_unassigned_cameras",
                "Enabled cameras no ingest worker holds",
            )
            .expect("metric"),
            cameras: prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "ingest_worker_cameras",
                    "Cameras each ingest worker holds a lease on",
                ),
                &["worker"],
            )
            .expect("metric"),
        }
    }
}

impl WorkerGauges {
    pub fn register(&self, metrics: &crate::metrics::Metrics) {
        metrics.register(Box::new(self.workers.clone()));
        metrics.register(Box::new(self.unassigned.clone()));
        metrics.register(Box::new(self.cameras.clone()));
    }

    pub fn set(&self, o: &Overview) {
        for state in ["live", "stopped", "gone"] {
            self.workers
                .with_label_values(&[state])
                .set(o.in_state(state).len() as i64);
        }
        self.unassigned.set(o.unassigned as i64);
        // Workers deleted from the table since the last scrape leave the series.
        self.cameras.reset();
        for w in &o.workers {
            self.cameras
                .with_label_values(&[w.worker.id.as_str()])
                .set(i64::from(w.worker.cameras));
        }
    }
}
