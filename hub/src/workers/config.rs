//! `[ingest]`: who runs the cameras — this hub (the default: one box needs nothing new), or
//! ingest workers (`gridwatch ingest`) holding them by leases in the shared database.

use gridwatch_core::lease::LeasePolicy;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where camera sessions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestMode {
    /// `gridwatch serve` runs every camera itself (one box, SQLite or not).
    InProcess,
    /// The hub runs no camera: ingest workers claim them, and the hub proxies live view and
    /// snapshots to the worker holding each.
    Workers,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// `in_process` (default) or `workers`. Read by `gridwatch serve`; `gridwatch ingest` is
    /// a worker whatever it says.
    pub mode: IngestMode,
    /// The worker's name in `ingest_workers`. Empty: its advertised address, so a restarted
    /// worker is the same worker.
    pub worker_id: String,
    /// The URL hubs reach the worker's HTTP at (`http://10.0.0.7:8090`). Empty: `http://` and
    /// the address it listens on (`listen`), which suits one machine only.
    pub advertise: String,
    /// Most cameras this worker runs at once.
    pub max_cameras: u32,
    /// The bitrate this worker's network and disks take, in kbit/s (0: no budget). Advertised
    /// for operations; claims are counted in cameras for now.
    pub max_bitrate_kbps: u64,
    /// The secret hubs and workers show each other (header `X-Gridwatch-Worker-Secret`); the
    /// same on every node. Required in `workers` mode and by `gridwatch ingest`; give it
    /// through `GRIDWATCH_INGEST__SECRET` rather than the file.
    pub secret: String,
    /// How long a lease lasts unless renewed: the longest a dead worker's cameras stay dark.
    pub lease_seconds: u64,
    /// How often a worker renews its leases (at most a third of `lease_seconds`).
    pub renew_seconds: u64,
    /// How often a worker looks for free cameras (a dead worker's, new ones) and rebalances.
    pub claim_ms: u64,
    /// Most cameras a worker claims (or a fifth as many it gives back) in one round.
    pub claim_batch: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            mode: IngestMode::InProcess,
            worker_id: String::new(),
            advertise: String::new(),
            max_cameras: 200,
            max_bitrate_kbps: 0,
            secret: String::new(),
            lease_seconds: 15,
            renew_seconds: 5,
            claim_ms: 1_000,
            claim_batch: 20,
        }
    }
}

impl IngestSettings {
    /// The lease rules in force; a renewal period longer than a third of the lease is
    /// shortened to it, so that two renewals may fail before the lease is lost.
    pub fn policy(&self) -> LeasePolicy {
        let ttl = self.lease_seconds.max(3) as i64;
        let renew = (self.renew_seconds.max(1) as i64).min(ttl / 3).max(1);
        LeasePolicy {
            ttl: chrono::Duration::seconds(ttl),
            renew_every: chrono::Duration::seconds(renew),
            claim_batch: self.claim_batch.max(1),
        }
    }

    /// How often a worker looks for free cameras.
    pub fn claim_every(&self) -> Duration {
        Duration::from_millis(self.claim_ms.clamp(100, 60_000))
    }

    /// Whether the hub leaves its cameras to workers.
    pub fn workers(&self) -> bool {
        self.mode == IngestMode::Workers
    }

    /// Checked when workers are in play: without a secret anyone on the network could watch
    /// every camera through a worker.
    pub fn validate(&self, worker: bool) -> Result<(), String> {
        if !(worker || self.workers()) {
            return Ok(());
        }
        if self.secret.len() < 16 {
            return Err(
                "ingest.secret must be at least 16 characters when workers are used".into(),
            );
        }
        if worker && self.max_cameras == 0 {
            return Err("ingest.max_cameras must be at least 1".into());
        }
        let web = |p: &str| self.advertise.starts_with(p);
        if !(self.advertise.is_empty() || web("http://") || web("https://")) {
            return Err(format!(
                "ingest.advertise: {:?} is not an http:// or https:// URL",
                self.advertise
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_kept_within_a_third_of_the_lease() {
        let s = IngestSettings {
            lease_seconds: 6,
            renew_seconds: 5,
            ..Default::default()
        };
        let p = s.policy();
        assert_eq!(p.ttl, chrono::Duration::seconds(6));
        assert_eq!(p.renew_every, chrono::Duration::seconds(2));
        let d = IngestSettings::default().policy();
        assert_eq!(d, LeasePolicy::default());
    }

    #[test]
    fn workers_need_a_secret_and_a_capacity() {
        let s = IngestSettings::default();
        assert!(s.validate(false).is_ok(), "in-process needs nothing");
        assert!(s.validate(true).unwrap_err().contains("ingest.secret"));
        let ok = IngestSettings {
            secret: "0123456789abcdef".into(),
            ..Default::default()
        };
        assert!(ok.validate(true).is_ok());
        let none = IngestSettings {
            max_cameras: 0,
            ..ok.clone()
        };
        assert!(none.validate(true).unwrap_err().contains("max_cameras"));
        let bad = IngestSettings {
            advertise: "10.0.0.7:8090".into(),
            ..ok
        };
        assert!(bad.validate(true).unwrap_err().contains("ingest.advertise"));
    }
}
