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
    /// `live`, or `gone`: not seen for longer than a lease (its cameras are taken over).
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
    /// The workers not seen for longer than a lease.
    pub fn gone(&self) -> Vec<&str> {
        self.workers
            .iter()
            .filter(|w| w.state == "gone")
            .map(|w| w.worker.id.as_str())
            .collect()
    }
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
            state: if w.seen_at > since { "live" } else { "gone" },
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

/// The sample-file directories that record nothing on the live workers, as each last said:
/// `{"worker", "path", "reason", "detail"}` each, for the stream's health message beside the
/// hub's own. A gone worker's are left out: its cameras are taken over, and it is told as
/// gone (`/readyz`, the `GridwatchIngestWorkerGone` alert).
pub async fn recording_stopped(
    store: &Store,
    policy: &LeasePolicy,
    now: DateTime<Utc>,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let since = now - policy.ttl;
    Ok(store
        .ingest_workers(now)
        .await?
        .into_iter()
        .filter(|w| w.seen_at > since)
        .flat_map(|w| {
            let worker = serde_json::Value::from(w.id);
            w.recording_stopped.into_iter().filter_map(move |dir| {
                let mut dir = dir.as_object()?.clone();
                dir.insert("worker".into(), worker.clone());
                Some(serde_json::Value::Object(dir))
            })
        })
        .collect())
}

/// `gridwatch_ingest_workers{state="live"|"gone"}` and `gridwatch_ingest_unassigned_cameras`:
/// a worker that vanished, and cameras nobody runs, are alerts; and
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
                    "Ingest workers by state: live, or gone (not seen for longer than a lease)",
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
        let gone = o.gone().len() as i64;
        self.workers.with_label_values(&["gone"]).set(gone);
        self.workers
            .with_label_values(&["live"])
            .set(o.workers.len() as i64 - gone);
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
