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

/// A worker's leases, by camera.
#[derive(Debug, Default)]
pub struct Holdings {
    leases: Mutex<HashMap<String, Lease>>,
}

impl Holdings {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, camera: &str) -> Option<Lease> {
        self.map().get(camera).cloned()
    }

    pub fn holds(&self, camera: &str) -> bool {
        self.map().contains_key(camera)
    }

    pub fn insert(&self, lease: Lease) {
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
