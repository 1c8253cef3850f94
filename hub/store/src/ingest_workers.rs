//! The ingest workers as operations and routing see them (issue 17): each worker with the
//! cameras it holds, and which worker (at which address) runs a camera now.

use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::lease::Lease;
use serde::Serialize;

/// A worker as last seen, with its live leases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestWorker {
    pub id: String,
    /// Where hubs reach its HTTP.
    pub address: String,
    pub max_cameras: u32,
    /// When it last said it was alive.
    pub seen_at: DateTime<Utc>,
    /// Cameras whose lease it holds and has not let expire.
    pub cameras: u32,
    /// Its sample-file directories that record nothing, as it last said
    /// ([`Store::worker_alive`]): `{"path", "reason", "detail"}` each.
    pub recording_stopped: Vec<serde_json::Value>,
    /// When it stopped cleanly, having given its leases back ([`Store::worker_stopped`]);
    /// `None` while it runs, or when it vanished without a word.
    pub stopped_at: Option<DateTime<Utc>>,
}

impl IngestWorker {
    /// Whether it said it stopped after it was last seen. (A binary from before `stopped_at`
    /// that runs under the name of one that stopped renews `seen_at` only: it is seen after.)
    pub fn has_stopped(&self) -> bool {
        self.stopped_at.is_some_and(|at| at >= self.seen_at)
    }

    /// Whether it runs: seen since `since` (a lease ago), and not stopped since. What every
    /// process that shares cameras, asks workers or tells of them goes by.
    pub fn is_live(&self, since: DateTime<Utc>) -> bool {
        !self.has_stopped() && self.seen_at > since
    }

    /// Whether it vanished: not seen for a lease, without having said it stopped. Its cameras
    /// are taken over; the centre is told (the wall, `/readyz`, an alert).
    pub fn is_gone(&self, since: DateTime<Utc>) -> bool {
        !self.has_stopped() && self.seen_at <= since
    }
}

/// What a worker's sample-file directories index ([`Store::worker_recordings`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerRecordings {
    pub segments: u64,
    pub bytes: u64,
    /// The oldest and the newest segment's start, of every row (being deleted or not).
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

impl WorkerRecordings {
    /// Whether any row is left, even one being deleted.
    pub fn any(&self) -> bool {
        self.first.is_some()
    }
}

/// Where a camera runs now: its lease and its worker's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraHolder {
    pub lease: Lease,
    pub address: String,
}

impl Store {
    /// Every worker ever seen, by id, with the cameras it holds at `now`. A worker not seen
    /// for longer than a lease is gone (its cameras are free); the caller judges that.
    pub async fn ingest_workers(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestWorker>, StoreError> {
        type Row = (String, String, i64, i64, i64, Option<String>, Option<i64>);
        let rows: Vec<Row> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT w.id, w.address, CAST(w.max_cameras AS BIGINT), w.seen_at, \
                 (SELECT COUNT(*) FROM camera_leases l WHERE l.worker_id = w.id AND l.expires_at > $1), \
                 w.recording_stopped, w.stopped_at FROM ingest_workers w ORDER BY w.id",
            )
            .bind(to_ms(now))
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, address, max, seen, held, stopped, stopped_at)| IngestWorker {
                    id,
                    address,
                    max_cameras: u32::try_from(max).unwrap_or(0),
                    seen_at: from_ms(seen),
                    cameras: u32::try_from(held).unwrap_or(0),
                    recording_stopped: stopped
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default(),
                    stopped_at: stopped_at.map(from_ms),
                },
            )
            .collect())
    }

    /// Records that worker `id` stopped cleanly at `now`, its leases given back: the other
    /// workers share the cameras without it from their next round, and nobody is alarmed.
    /// [`Store::worker_alive`] undoes it.
    pub async fn worker_stopped(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        with_pool!(self, p => {
            // Never before its last renewal, even if its clock was stepped back meanwhile: a
            // stop said before the last sign of life would read as a worker that vanished.
            sqlx::query(
                "UPDATE ingest_workers SET stopped_at = \
                 CASE WHEN $1 < seen_at THEN seen_at ELSE $1 END WHERE id = $2",
            )
                .bind(to_ms(now))
                .bind(id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Forgets worker `id` if it does not run — it stopped, or was last seen at `since` or
    /// before (a machine gone for good, whose absence would otherwise be told for ever) — and
    /// no camera is pinned to it (that camera would stay dark unnoticed); unless
    /// `recordings_too`, also only while its directories index no segment (they are on its
    /// disks, and play again if it runs again: forgetting them is
    /// [`Store::forget_worker_recordings`], the admin's explicit decision). Should it run
    /// again, it is known again at its first renewal; its directories' rows are kept, so that
    /// it finds them as it left them.
    ///
    /// True when it was forgotten; false when no such worker is known, it runs, a camera is
    /// pinned to it, or its recordings were to be kept and it has some.
    pub async fn forget_ingest_worker(
        &self,
        id: &str,
        since: DateTime<Utc>,
        recordings_too: bool,
    ) -> Result<bool, StoreError> {
        let gone = with_pool!(self, p => {
            sqlx::query(
                "DELETE FROM ingest_workers WHERE id = $1 \
                 AND (stopped_at >= seen_at OR seen_at <= $2) \
                 AND NOT EXISTS (SELECT 1 FROM cameras WHERE pinned_worker = $1) \
                 AND ($3 OR NOT EXISTS (SELECT 1 FROM recording_segments s \
                      JOIN recording_dirs d ON d.id = s.dir_id \
                      WHERE d.node = $1 AND NOT s.deleting))",
            )
            .bind(id)
            .bind(to_ms(since))
            .bind(recordings_too)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(gone > 0)
    }

    /// What worker `id`'s sample-file directories index: what forgetting its recordings
    /// would take out of the index. Counted as kept with the rows (`recording_dir_usage`:
    /// those being deleted left out), with the oldest and newest start of any row.
    pub async fn worker_recordings(&self, id: &str) -> Result<WorkerRecordings, StoreError> {
        type Row = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);
        let (segments, bytes, first, last): Row = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT CAST(SUM(u.segments) AS BIGINT), CAST(SUM(u.bytes) AS BIGINT), \
                 (SELECT MIN(s.start_ms) FROM recording_segments s \
                  JOIN recording_dirs d ON d.id = s.dir_id WHERE d.node = $1), \
                 (SELECT MAX(s.start_ms) FROM recording_segments s \
                  JOIN recording_dirs d ON d.id = s.dir_id WHERE d.node = $1) \
                 FROM recording_dir_usage u JOIN recording_dirs d ON d.id = u.dir_id \
                 WHERE d.node = $1",
            )
            .bind(id)
            .fetch_one(p)
            .await?
        });
        let count = |n: Option<i64>| n.map_or(0, |n| u64::try_from(n).unwrap_or(0));
        Ok(WorkerRecordings {
            segments: count(segments),
            bytes: count(bytes),
            first: first.map(from_ms),
            last: last.map(from_ms),
        })
    }

    /// The worker running `camera` at `now`, if a live lease says one does.
    pub async fn camera_holder(
        &self,
        camera: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CameraHolder>, StoreError> {
        let row: Option<(String, i64, i64, String)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT l.worker_id, l.epoch, l.expires_at, w.address FROM camera_leases l \
                 JOIN ingest_workers w ON w.id = l.worker_id \
                 WHERE l.camera_id = $1 AND l.expires_at > $2",
            )
            .bind(camera)
            .bind(to_ms(now))
            .fetch_optional(p)
            .await?
        });
        Ok(
            row.map(|(worker_id, epoch, expires, address)| CameraHolder {
                lease: Lease {
                    camera_id: camera.to_string(),
                    worker_id,
                    epoch,
                    expires_at: from_ms(expires),
                },
                address,
            }),
        )
    }

    /// How many enabled cameras there are to run (what workers share).
    pub async fn enabled_camera_count(&self) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM cameras WHERE enabled")
                .fetch_one(p)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn worker(seen_at: DateTime<Utc>, stopped_at: Option<DateTime<Utc>>) -> IngestWorker {
        IngestWorker {
            id: "w".into(),
            address: "http://w".into(),
            max_cameras: 4,
            seen_at,
            cameras: 0,
            recording_stopped: Vec::new(),
            stopped_at,
        }
    }

    #[test]
    fn a_worker_is_live_stopped_or_gone() {
        let t = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let since = t - Duration::seconds(15);
        let state = |w: &IngestWorker| (w.is_live(since), w.has_stopped(), w.is_gone(since));
        assert_eq!(state(&worker(t, None)), (true, false, false));
        assert_eq!(state(&worker(since, None)), (false, false, true));
        // Stopped after its last renewal (the same millisecond too): stopped, however recent.
        assert_eq!(state(&worker(t, Some(t))), (false, true, false));
        assert_eq!(state(&worker(since, Some(t))), (false, true, false));
        // Seen after it said it stopped (a binary that does not clear `stopped_at`): live.
        let renewed = worker(t, Some(t - Duration::seconds(3)));
        assert_eq!(state(&renewed), (true, false, false));
    }
}
