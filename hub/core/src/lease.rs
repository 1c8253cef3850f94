//! Camera leases of ingest workers (issue 17): which worker runs which camera, for how long,
//! and under which epoch.
//!
//! The database is the only judge (no home-made consensus): a worker holds a camera while its
//! lease has not expired and renews it well before; a lease that expired may be taken by any
//! worker, and taking it bumps the camera's **epoch**. Everything a worker writes about a
//! camera carries the epoch it holds, so a worker that stalled past its lease (a long GC-like
//! pause, a network cut from the database) and comes back is fenced off: its epoch is stale,
//! its renewals fail, and it must stop the camera.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// A worker's hold on one camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub camera_id: String,
    pub worker_id: String,
    /// Bumped at every takeover: the fencing token.
    pub epoch: i64,
    pub expires_at: DateTime<Utc>,
}

/// How leases are held: their length, and how much a worker takes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// How long a lease lasts unless renewed (15 s): the longest a dead worker's cameras stay
    /// dark before another worker may take them.
    pub ttl: Duration,
    /// How often a worker renews (5 s): a third of the lease, so two renewals may fail before
    /// it is lost.
    pub renew_every: Duration,
    /// Most cameras a worker claims in one round (20): a worker joining takes its share over a
    /// few rounds, and a takeover spreads over the workers left, instead of one of them taking
    /// everything at once.
    pub claim_batch: usize,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        LeasePolicy {
            ttl: Duration::seconds(15),
            renew_every: Duration::seconds(5),
            claim_batch: 20,
        }
    }
}

impl LeasePolicy {
    /// How many cameras a worker holding `held` of at most `capacity` claims this round.
    pub fn to_claim(&self, held: usize, capacity: usize) -> usize {
        capacity.saturating_sub(held).min(self.claim_batch)
    }

    /// How many of its cameras a worker gives back this round so that the cameras spread:
    /// those above its fair share (`total` cameras over `workers` live workers, rounded up),
    /// a few at a time, never all at once.
    pub fn to_release(&self, held: usize, total: usize, workers: usize) -> usize {
        if workers <= 1 {
            return 0;
        }
        let share = total.div_ceil(workers);
        held.saturating_sub(share)
            .min(self.claim_batch.div_ceil(4).max(1))
    }

    /// The most cameras a worker of `capacity` should hold, `total` cameras to run over
    /// `workers` live workers (itself included): its fair share (rounded up), so that a worker
    /// joining finds cameras to take; or its whole capacity when `others_full` (a worker at its
    /// capacity cannot take its share, and every camera must run somewhere).
    pub fn target(
        &self,
        capacity: usize,
        total: usize,
        workers: usize,
        others_full: bool,
    ) -> usize {
        if others_full || workers <= 1 {
            return capacity;
        }
        total.div_ceil(workers).min(capacity)
    }

    /// When a lease taken or renewed at `now` expires.
    pub fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_claims_up_to_its_capacity_a_batch_at_a_time() {
        let p = LeasePolicy::default();
        assert_eq!(p.to_claim(0, 100), 20);
        assert_eq!(p.to_claim(95, 100), 5);
        assert_eq!(p.to_claim(100, 100), 0);
        assert_eq!(p.to_claim(120, 100), 0, "over capacity claims nothing");
    }

    #[test]
    fn cameras_spread_gently_when_a_worker_joins() {
        let p = LeasePolicy::default();
        // 100 cameras on one worker; a second joins: the first gives back 5 per round.
        assert_eq!(p.to_release(100, 100, 2), 5);
        assert_eq!(p.to_release(52, 100, 2), 2);
        assert_eq!(p.to_release(50, 100, 2), 0);
        assert_eq!(p.to_release(100, 100, 1), 0, "alone, it keeps them all");
        // 101 cameras, 2 workers: a share is 51.
        assert_eq!(p.to_release(51, 101, 2), 0);
    }

    #[test]
    fn a_worker_aims_at_its_share_unless_another_is_full() {
        let p = LeasePolicy::default();
        assert_eq!(p.target(100, 20, 2, false), 10);
        assert_eq!(p.target(100, 21, 2, false), 11);
        assert_eq!(p.target(8, 20, 2, false), 8, "never past its capacity");
        assert_eq!(
            p.target(100, 20, 2, true),
            100,
            "the other is full: take the rest"
        );
        assert_eq!(p.target(100, 20, 1, false), 100, "alone: everything it can");
    }

    #[test]
    fn renewal_comes_well_before_expiry() {
        let p = LeasePolicy::default();
        assert!(p.renew_every * 3 <= p.ttl);
        let now = Utc::now();
        assert_eq!(p.expiry(now) - now, Duration::seconds(15));
    }
}
