//! Camera leases of ingest workers (see `gridwatch_core::lease`): the database decides who
//! runs which camera. Claims take cameras nobody holds (or whose lease expired) with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers claiming at once take different
//! cameras without waiting for each other; SQLite has one writer, which serialises claims.
//! Renewals and releases name the epoch they hold, and do nothing when it is stale.

use crate::time::{from_ms, to_ms};
use crate::{with_pool, Backend, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::lease::Lease;

impl Store {
    /// Records that worker `id` (reachable at `address`, running at most `max_cameras`) is
    /// alive at `now` (and so no longer stopped, if it had stopped), with its sample-file
    /// directories that record nothing (`{"path", "reason", "detail"}` each; empty: none), for
    /// hubs to tell the duty officers. All of it at each renewal: a row deleted meanwhile (the
    /// worker forgotten while it was cut off) comes back whole.
    pub async fn worker_alive(
        &self,
        id: &str,
        address: &str,
        max_cameras: u32,
        recording_stopped: &[serde_json::Value],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let stopped = (!recording_stopped.is_empty())
            .then(|| serde_json::Value::from(recording_stopped).to_string());
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO ingest_workers (id, address, max_cameras, seen_at, recording_stopped) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                 max_cameras = excluded.max_cameras, seen_at = excluded.seen_at, \
                 recording_stopped = excluded.recording_stopped, stopped_at = NULL",
            )
            .bind(id)
            .bind(address)
            .bind(i64::from(max_cameras))
            .bind(to_ms(now))
            .bind(&stopped)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Takes up to `n` enabled cameras that no live lease holds and that are not pinned to
    /// another worker, for `worker` until `expires_at`; each taken camera's epoch is one more
    /// than its last, claimed at `now` (what fences the previous holder's segments, see
    /// [`Store::insert_recording_segment_fenced`]). Returns the leases taken (fewer than `n`
    /// when fewer are free).
    pub async fn claim_cameras(
        &self,
        worker: &str,
        n: usize,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<Lease>, StoreError> {
        if n == 0 {
            return Ok(vec![]);
        }
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE OF c SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let pick = format!(
            "SELECT c.id, COALESCE(l.epoch, 0) FROM cameras c \
             LEFT JOIN camera_leases l ON l.camera_id = c.id \
             WHERE c.enabled AND (l.camera_id IS NULL OR l.expires_at <= $1) \
             AND (c.pinned_worker IS NULL OR c.pinned_worker = $3) \
             ORDER BY c.id LIMIT $2{lock}"
        );
        let taken: Vec<(String, i64)> = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let free: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(pick))
                .bind(to_ms(now))
                .bind(n as i64)
                .bind(worker)
                .fetch_all(&mut *tx)
                .await?;
            let mut taken = Vec::with_capacity(free.len());
            for (camera, epoch) in free {
                // Taken only if still free: a lease renewed or taken since the pick (SQLite
                // has no row locks to hold it) keeps its holder.
                let n = sqlx::query(
                    "INSERT INTO camera_leases \
                     (camera_id, worker_id, epoch, expires_at, claimed_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (camera_id) DO UPDATE SET \
                     worker_id = excluded.worker_id, epoch = excluded.epoch, \
                     expires_at = excluded.expires_at, claimed_at = excluded.claimed_at \
                     WHERE camera_leases.expires_at <= $5 AND camera_leases.epoch = $6",
                )
                .bind(&camera)
                .bind(worker)
                .bind(epoch + 1)
                .bind(to_ms(expires_at))
                .bind(to_ms(now))
                .bind(epoch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 1 {
                    taken.push((camera, epoch + 1));
                }
            }
            tx.commit().await?;
            taken
        });
        Ok(taken
            .into_iter()
            .map(|(camera_id, epoch)| Lease {
                camera_id,
                worker_id: worker.to_string(),
                epoch,
                expires_at,
            })
            .collect())
    }

    /// Extends `worker`'s leases it still holds under their epochs; returns the cameras whose
    /// lease it has lost (taken over, the camera deleted, or pinned to another worker since:
    /// that lease is ended at once, for the pinned worker to claim): it must stop them.
    pub async fn renew_leases(
        &self,
        worker: &str,
        held: &[Lease],
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut lost = vec![];
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE camera_leases SET expires_at = 0 WHERE worker_id = $1 AND camera_id IN \
                 (SELECT id FROM cameras WHERE pinned_worker IS NOT NULL AND pinned_worker <> $1)",
            )
            .bind(worker)
            .execute(&mut *tx)
            .await?;
            for lease in held {
                let n = sqlx::query(
                    "UPDATE camera_leases SET expires_at = $1 \
                     WHERE camera_id = $2 AND worker_id = $3 AND epoch = $4 AND expires_at > 0",
                )
                .bind(to_ms(expires_at))
                .bind(&lease.camera_id)
                .bind(worker)
                .bind(lease.epoch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    lost.push(lease.camera_id.clone());
                }
            }
            tx.commit().await?;
        });
        Ok(lost)
    }

    /// Gives a camera back (rebalancing, or the worker stopping): only under the epoch held,
    /// so a stale release cannot end the lease of the worker that took the camera over. The
    /// row stays, expired, so that the camera's next holder gets the next epoch: epochs only
    /// ever grow, or a fenced-off worker could find its old epoch current again.
    pub async fn release_lease(&self, lease: &Lease) -> Result<bool, StoreError> {
        let n = with_pool!(self, p => {
            sqlx::query(
                "UPDATE camera_leases SET expires_at = 0 \
                 WHERE camera_id = $1 AND worker_id = $2 AND epoch = $3",
            )
            .bind(&lease.camera_id)
            .bind(&lease.worker_id)
            .bind(lease.epoch)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Whether `lease` is still the camera's current one at `now`: what a worker checks before
    /// it writes anything about the camera (the fence).
    pub async fn lease_is_current(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM camera_leases WHERE camera_id = $1 AND worker_id = $2 \
                 AND epoch = $3 AND expires_at > $4",
            )
            .bind(&lease.camera_id)
            .bind(&lease.worker_id)
            .bind(lease.epoch)
            .bind(to_ms(now))
            .fetch_one(p)
            .await?
        });
        Ok(n == 1)
    }

    /// Every lease not yet expired at `now`, by camera (for operations: which worker runs
    /// what).
    pub async fn leases(&self, now: DateTime<Utc>) -> Result<Vec<Lease>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT camera_id, worker_id, epoch, expires_at FROM camera_leases \
                 WHERE expires_at > $1 ORDER BY camera_id",
            )
            .bind(to_ms(now))
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(camera_id, worker_id, epoch, expires)| Lease {
                camera_id,
                worker_id,
                epoch,
                expires_at: from_ms(expires),
            })
            .collect())
    }

    /// Pins `camera` to `worker` (`None`: any worker may run it). Only that worker claims it
    /// from then on; another holding it loses it at its next renewal.
    pub async fn pin_camera(&self, camera: &str, worker: Option<&str>) -> Result<(), StoreError> {
        let n = with_pool!(self, p => {
            sqlx::query("UPDATE cameras SET pinned_worker = $1 WHERE id = $2")
                .bind(worker)
                .bind(camera)
                .execute(p)
                .await?
                .rows_affected()
        });
        match n {
            0 => Err(StoreError::not_found("camera", camera)),
            _ => Ok(()),
        }
    }

    /// Every pinned camera and the worker it is pinned to, by camera.
    pub async fn camera_pins(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, pinned_worker FROM cameras WHERE pinned_worker IS NOT NULL ORDER BY id",
            )
            .fetch_all(p)
            .await?
        }))
    }
}
