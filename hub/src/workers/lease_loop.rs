//! A worker's lease loop: say it is alive, renew what it holds, stop what it lost, claim its
//! share of the free cameras, give back what is above its share — a round every `claim_ms`,
//! renewals every `renew_seconds`.
//!
//! A camera runs only while its lease is held: a lease the database no longer renews (taken
//! over, the camera deleted) stops the camera at once, and so does one whose expiry passes by
//! this worker's own clock before it could be renewed (the database out of reach, or the
//! process stopped past its lease): another worker may already run it.

use crate::cameras::{sync, CameraHub};
use crate::recording::RecordingHub;
use crate::workers::holdings::Holdings;
use chrono::{DateTime, Utc};
use gridwatch_core::lease::{Lease, LeasePolicy};
use gridwatch_store::StoreError;
use std::sync::Arc;

/// How long a recording worker waits between stopping cameras it gives back and giving their
/// leases back. A segment ends where its video does, which may be a frame (and a first frame's
/// lateness) past the moment its session stopped; a claim by the next holder before that end
/// would fence the segment (set aside: up to a minute of recording lost at every handover).
/// Waiting this long puts every claim after the end.
pub const GIVE_BACK_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// Who this worker is, as others see it in `ingest_workers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIdentity {
    pub id: String,
    /// The URL hubs reach its HTTP at.
    pub address: String,
    pub max_cameras: u32,
}

/// What one round did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub claimed: Vec<String>,
    /// Stopped because the lease was lost or ran out.
    pub lost: Vec<String>,
    /// Given back for another worker to take.
    pub released: Vec<String>,
}

/// `gridwatch_ingest_leases_total{event}` on a worker: leases claimed for a camera's first
/// holder (`claimed_new`), claimed from a previous holder (`claimed_moved`: taken over from a
/// dead worker, or given back by another), given back (`released`), and lost (`lost`). Across
/// the workers, moved minus released is the cameras taken over.
#[derive(Clone)]
pub struct LeaseCounters {
    pub events: prometheus::IntCounterVec,
}

impl Default for LeaseCounters {
    fn default() -> Self {
        LeaseCounters {
            events: prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "ingest_leases_total",
                    "Camera leases this worker claimed (new or moved), released and lost",
                ),
                &["event"],
            )
            .expect("metric"),
        }
    }
}

impl LeaseCounters {
    pub fn register(&self, metrics: &crate::metrics::Metrics) {
        metrics.register(Box::new(self.events.clone()));
    }

    fn count(&self, event: &str, n: usize) {
        self.events.with_label_values(&[event]).inc_by(n as u64);
    }

    /// How many of `event` so far.
    pub fn get(&self, event: &str) -> u64 {
        self.events.with_label_values(&[event]).get()
    }
}

pub struct LeaseLoop {
    cameras: Arc<CameraHub>,
    counters: LeaseCounters,
    holdings: Arc<Holdings>,
    me: WorkerIdentity,
    policy: LeasePolicy,
    last_renew: Option<DateTime<Utc>>,
    /// The worker's recording, whose stopped directories it tells hubs at each renewal.
    recording: Option<Arc<RecordingHub>>,
}

impl LeaseLoop {
    /// # Panics
    ///
    /// When `cameras` run in-process (no holdings): a worker's cameras are built with
    /// `[ingest] mode = "workers"`.
    pub fn new(cameras: Arc<CameraHub>, me: WorkerIdentity, policy: LeasePolicy) -> LeaseLoop {
        let holdings = cameras
            .holdings
            .clone()
            .expect("a worker's cameras come from leases");
        LeaseLoop {
            cameras,
            counters: LeaseCounters::default(),
            holdings,
            me,
            policy,
            last_renew: None,
            recording: None,
        }
    }

    /// Tells hubs, at each renewal, which of `recording`'s directories record nothing (they
    /// show them on the wall with the hub's own).
    pub fn telling_recording(mut self, recording: Arc<RecordingHub>) -> LeaseLoop {
        self.recording = Some(recording);
        self
    }

    /// Its counters (registered by the worker process).
    pub fn counters(&self) -> &LeaseCounters {
        &self.counters
    }

    /// One round at the clock's now.
    pub async fn round(&mut self) -> Result<Round, StoreError> {
        let mut round = Round::default();
        let result = self.round_into(&mut round).await;
        self.counters.count("lost", round.lost.len());
        self.counters.count("released", round.released.len());
        result.map(|()| round)
    }

    async fn round_into(&mut self, round: &mut Round) -> Result<(), StoreError> {
        let now = self.cameras.now();
        // Leases run out by this worker's own clock first: after a stall, before anything else.
        for lease in self.holdings.all() {
            if lease.expires_at <= now {
                self.stop(
                    &lease.camera_id,
                    "lease ran out before it was renewed",
                    true,
                )
                .await;
                round.lost.push(lease.camera_id);
            }
        }
        let due = self
            .last_renew
            .is_none_or(|at| now - at >= self.policy.renew_every);
        if due {
            self.renew(now, round).await?;
        }
        self.share(now, round).await
    }

    async fn renew(&mut self, now: DateTime<Utc>, round: &mut Round) -> Result<(), StoreError> {
        let store = self.cameras.store();
        let stopped = self
            .recording
            .as_ref()
            .map(|r| r.stopped_dirs())
            .unwrap_or_default();
        let me = &self.me;
        store
            .worker_alive(&me.id, &me.address, me.max_cameras, &stopped, now)
            .await?;
        let until = self.policy.expiry(now);
        let lost = store
            .renew_leases(&self.me.id, &self.holdings.all(), until)
            .await?;
        for camera in lost {
            self.stop(
                &camera,
                "lease lost (taken over, or the camera deleted)",
                true,
            )
            .await;
            round.lost.push(camera);
        }
        self.holdings.extend(until);
        self.last_renew = Some(now);
        Ok(())
    }

    /// Claims up to this worker's target, or gives back what is above it.
    async fn share(&mut self, now: DateTime<Utc>, round: &mut Round) -> Result<(), StoreError> {
        let store = self.cameras.store();
        let since = now - self.policy.ttl;
        let workers = store.ingest_workers(now).await?;
        let live: Vec<_> = workers
            .iter()
            .filter(|w| w.is_live(since) || w.id == self.me.id)
            .collect();
        let others_full = live
            .iter()
            .any(|w| w.id != self.me.id && w.cameras >= w.max_cameras);
        let total = store.enabled_camera_count().await? as usize;
        let capacity = self.me.max_cameras as usize;
        let target = self
            .policy
            .target(capacity, total, live.len().max(1), others_full);
        let held = self.holdings.len();
        if held < target {
            let n = self.policy.to_claim(held, target);
            let taken = store
                .claim_cameras(&self.me.id, n, now, self.policy.expiry(now))
                .await?;
            for lease in taken {
                let moved = lease.epoch > 1;
                self.counters.count(
                    if moved {
                        "claimed_moved"
                    } else {
                        "claimed_new"
                    },
                    1,
                );
                round.claimed.push(lease.camera_id.clone());
                self.start(lease).await;
            }
        } else if held > target && !others_full {
            let n = self.policy.to_release(held, total, live.len());
            let mut mine = self.holdings.all();
            let given = mine.split_off(mine.len().saturating_sub(n));
            for lease in &given {
                self.stop(&lease.camera_id, "given back to spread the cameras", false)
                    .await;
            }
            self.wait_for_last_segments(given.len()).await;
            for lease in given {
                store.release_lease(&lease).await?;
                round.released.push(lease.camera_id);
            }
        }
        Ok(())
    }

    async fn start(&self, lease: Lease) {
        let camera = lease.camera_id.clone();
        tracing::info!(%camera, epoch = lease.epoch, "lease taken: camera starting");
        self.holdings.insert(lease);
        if let Err(e) = sync::reload_one(&self.cameras, &camera).await {
            // Held but not started: the next resync starts it.
            tracing::warn!(%camera, error = %e, "camera not started yet");
        }
    }

    /// Stops a camera whose lease is gone (`lost`: a warning) or given back (routine).
    async fn stop(&self, camera: &str, why: &str, lost: bool) {
        if lost {
            tracing::warn!(%camera, why, "camera stopped: lease no longer held");
        } else {
            tracing::info!(%camera, why, "camera stopped: lease given back");
        }
        self.holdings.remove(camera);
        sync::stop_one(&self.cameras, camera).await;
    }

    /// Gives every lease back (a worker stopping cleanly), so that other workers take the
    /// cameras at once instead of after the lease runs out. Says first that it stopped: the
    /// others then share the cameras without it at their next round (counted as live until
    /// its last sign of life was a lease old, it kept their share at half), and it is not
    /// taken for a worker that vanished.
    pub async fn release_all(&self) {
        let store = self.cameras.store();
        if let Err(e) = store.worker_stopped(&self.me.id, self.cameras.now()).await {
            tracing::warn!(error = %e,
                "could not say this worker stopped; the others count it until its lease runs out");
        }
        let all = self.holdings.all();
        for lease in &all {
            self.holdings.remove(&lease.camera_id);
            sync::stop_one(&self.cameras, &lease.camera_id).await;
        }
        self.wait_for_last_segments(all.len()).await;
        for lease in all {
            self.counters.count("released", 1);
            if let Err(e) = self.cameras.store().release_lease(&lease).await {
                tracing::warn!(camera = %lease.camera_id, error = %e, "lease not given back; it runs out");
            }
        }
    }

    /// After stopping `stopped` cameras, before giving their leases back: see
    /// [`GIVE_BACK_AFTER`]. Nothing to wait for when nothing is recorded.
    async fn wait_for_last_segments(&self, stopped: usize) {
        if stopped > 0 && self.cameras.records() {
            tokio::time::sleep(GIVE_BACK_AFTER).await;
        }
    }

    /// Rounds every `every`, until the process stops.
    pub async fn run(&mut self, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.round().await {
                Ok(r) if r == Round::default() => {}
                Ok(r) => tracing::info!(
                    claimed = r.claimed.len(),
                    lost = r.lost.len(),
                    released = r.released.len(),
                    held = self.holdings.len(),
                    "leases"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "lease round failed; held leases run out by themselves")
                }
            }
        }
    }
}
