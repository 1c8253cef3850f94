//! The cameras this process may run, and the fence on what it writes about them.
//!
//! `None` (see [`crate::cameras::CameraHub::holdings`]): a hub running its cameras in-process
//! runs every camera and writes freely, as before leases existed. `Some`: only the cameras
//! whose lease this worker holds (none at all on a hub in `workers` mode); every status write
//! first checks that the lease is still the camera's current one in the database.

use chrono::{DateTime, Utc};
use gridwatch_core::lease::Lease;
use gridwatch_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

fn ms_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A worker's leases, by camera.
#[derive(Debug, Default)]
pub struct Holdings {
    leases: Mutex<HashMap<String, Lease>>,
    /// Each camera's last few claims by this process, oldest first: when (ms since the epoch,
    /// by the system clock that also stamps the frames) and under which epoch. Kept after a
    /// lease is lost or given back, so that a segment indexed after its camera stopped (or
    /// claimed again) is still fenced by the epoch it was recorded under ([`Holdings::epoch_at`]).
    claims: Mutex<HashMap<String, Vec<(i64, i64)>>>,
}

/// Claims remembered per camera: a segment lasts a minute or so, and is indexed when it ends
/// (or retried a little later), so only the newest few can be the one it was recorded under.
const CLAIMS_KEPT: usize = 8;

impl Holdings {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(i64, i64)>>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The epoch a segment of `camera` that started at `start` was recorded under: that of
    /// the last claim made before it started (a camera's session starts only after its lease
    /// is in here, and stops before the lease leaves). `None` when this process never held the
    /// camera (start-up repair, before any claim): such a segment is indexed unfenced.
    pub fn epoch_at(&self, camera: &str, start: SystemTime) -> Option<i64> {
        let start = ms_since_epoch(start);
        let claims = self.claims();
        let list = claims.get(camera)?;
        // With the clock stepped back since the claim, the first one remembered: stricter,
        // never looser, than the truth.
        list.iter()
            .rev()
            .find(|(at, _)| *at <= start)
            .or(list.first())
            .map(|(_, epoch)| *epoch)
    }

    pub fn get(&self, camera: &str) -> Option<Lease> {
        self.map().get(camera).cloned()
    }

    pub fn holds(&self, camera: &str) -> bool {
        self.map().contains_key(camera)
    }

    /// A lease just claimed; its epoch fences the segments recorded from now on.
    pub fn insert(&self, lease: Lease) {
        {
            let mut claims = self.claims();
            let list = claims.entry(lease.camera_id.clone()).or_default();
            list.push((ms_since_epoch(SystemTime::now()), lease.epoch));
            if list.len() > CLAIMS_KEPT {
                list.remove(0);
            }
        }
        self.map().insert(lease.camera_id.clone(), lease);
    }

    pub fn remove(&self, camera: &str) -> Option<Lease> {
        self.map().remove(camera)
    }

    /// Every lease held, by camera id.
    pub fn all(&self) -> Vec<Lease> {
        let mut all: Vec<Lease> = self.map().values().cloned().collect();
        all.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
        all
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// Renewed leases carry their new expiry.
    pub fn extend(&self, until: DateTime<Utc>) {
        for lease in self.map().values_mut() {
            lease.expires_at = until;
        }
    }
}

/// Whether this process may write about `camera` now (status events, outages, incidents):
/// always in-process; on a worker only while its lease is the camera's current one in the
/// database. A worker that stalled past its lease finds its epoch stale here and writes
/// nothing, whatever its sessions still believe.
pub async fn may_write(
    holdings: Option<&Holdings>,
    store: &Store,
    camera: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(h) = holdings else {
        return Ok(true);
    };
    match h.get(camera) {
        None => Ok(false),
        Some(lease) => store.lease_is_current(&lease, now).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lease(camera: &str, epoch: i64) -> Lease {
        Lease {
            camera_id: camera.into(),
            worker_id: "w".into(),
            epoch,
            expires_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_segment_is_fenced_by_the_claim_it_was_recorded_under() {
        let h = Holdings::default();
        let before = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(h.epoch_at("c", before), None, "never held: unfenced");
        h.insert(lease("c", 3));
        std::thread::sleep(Duration::from_millis(5));
        let during_3 = SystemTime::now();
        // Lost, and claimed again later under a newer epoch: a segment recorded under 3 and
        // indexed only now is still fenced by 3; one recorded since, by 5.
        h.remove("c");
        std::thread::sleep(Duration::from_millis(5));
        h.insert(lease("c", 5));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(h.epoch_at("c", during_3), Some(3));
        assert_eq!(h.epoch_at("c", SystemTime::now()), Some(5));
        // A start before every claim remembered (the clock stepped back): the oldest.
        assert_eq!(h.epoch_at("c", before), Some(3));
        assert_eq!(h.epoch_at("other", SystemTime::now()), None);
        // Only the newest few are kept.
        for e in 6..20 {
            h.insert(lease("c", e));
        }
        assert_eq!(h.claims()["c"].len(), CLAIMS_KEPT);
        assert_eq!(h.epoch_at("c", SystemTime::now()), Some(19));
    }
}
