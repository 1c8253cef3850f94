//! Evidence clips to make (`evidence_jobs`): scheduled with the lock on the camera's
//! recordings when an incident naming cameras is first seen, sealed when due, and the locks
//! of closed incidents given their end.

use crate::recordings::ClipRow;
use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::recording::evidence::{EvidenceJob, JobState};
use gridwatch_core::recording::EvidenceClip;
use sqlx::AssertSqlSafe;

/// An incident that names cameras and has no evidence scheduled yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingEvidence {
    pub incident_id: String,
    pub cameras: Vec<String>,
    pub raised: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    incident_id: String,
    camera_id: String,
    from_ms: i64,
    to_ms: i64,
    due_ms: i64,
    state: String,
    attempts: i64,
}

impl From<JobRow> for EvidenceJob {
    fn from(r: JobRow) -> EvidenceJob {
        EvidenceJob {
            state: JobState::parse(&r.state).unwrap_or(JobState::Failed),
            incident_id: r.incident_id,
            camera_id: r.camera_id,
            from: from_ms(r.from_ms),
            to: from_ms(r.to_ms),
            due: from_ms(r.due_ms),
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
        }
    }
}

/// The lock an evidence job holds on its camera's recordings: one per incident and camera, so
/// that scheduling twice (two hub nodes) locks once.
fn lock_id(incident_id: &str, camera_id: &str) -> String {
    format!("evidence:{incident_id}:{camera_id}")
}

impl Store {
    /// Incidents raised since `since` that name cameras and have no evidence scheduled, oldest
    /// first. Reads only the incidents still waiting (an index of them), not the history.
    pub async fn incidents_awaiting_evidence(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AwaitingEvidence>, StoreError> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, p => {
            sqlx::query_as(
                // The condition of the partial index `incidents_awaiting_evidence`, word
                // for word: it holds only the incidents still waiting.
                "SELECT i.id, i.cameras, i.created_at FROM incidents i \
                 WHERE i.evidence_at IS NULL AND i.cameras <> '[]' AND i.created_at >= $1 \
                 ORDER BY i.created_at, i.id LIMIT $2",
            )
            .bind(to_ms(since))
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(incident_id, cameras, raised)| AwaitingEvidence {
                cameras: serde_json::from_str(&cameras).unwrap_or_default(),
                incident_id,
                raised: from_ms(raised),
            })
            .collect())
    }

    /// Schedules clips, and locks each camera's recordings over its window until the incident
    /// is closed, in one transaction; a job already scheduled is left as it is. `incidents`
    /// (those the jobs are for, and any that got none) are no longer awaiting evidence.
    pub async fn schedule_evidence(
        &self,
        incidents: &[&str],
        jobs: &[EvidenceJob],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for id in incidents {
                sqlx::query(
                    "UPDATE incidents SET evidence_at = $1 WHERE id = $2 AND evidence_at IS NULL",
                )
                .bind(to_ms(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            for j in jobs {
                sqlx::query(
                    "INSERT INTO evidence_jobs (incident_id, camera_id, from_ms, to_ms, due_ms, \
                     state, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7) \
                     ON CONFLICT (incident_id, camera_id) DO NOTHING",
                )
                .bind(&j.incident_id)
                .bind(&j.camera_id)
                .bind(to_ms(j.from))
                .bind(to_ms(j.to))
                .bind(to_ms(j.due))
                .bind(j.state.as_str())
                .bind(to_ms(now))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO recording_locks \
                     (id, camera_id, from_ms, to_ms, incident_id, until_ms, created_at) \
                     VALUES ($1, $2, $3, $4, $5, NULL, $6) ON CONFLICT (id) DO NOTHING",
                )
                .bind(lock_id(&j.incident_id, &j.camera_id))
                .bind(&j.camera_id)
                .bind(to_ms(j.from))
                .bind(to_ms(j.to))
                .bind(&j.incident_id)
                .bind(to_ms(now))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives the open-ended locks of closed incidents their end: `period` after the close.
    /// Returns how many. Called every second: it writes (and so takes SQLite's one writer)
    /// only when there is something to end.
    pub async fn end_closed_incident_locks(&self, period: Duration) -> Result<u64, StoreError> {
        // A clip still waiting to be sealed (its worker away, its disk short of room) keeps
        // its recordings locked open-ended until it is sealed, however long ago it closed.
        const CLOSED: &str = "until_ms IS NULL AND EXISTS (SELECT 1 FROM incidents i \
             WHERE i.id = recording_locks.incident_id AND i.closed_at IS NOT NULL) \
             AND NOT EXISTS (SELECT 1 FROM evidence_jobs j \
             WHERE j.incident_id = recording_locks.incident_id AND j.state = 'pending')";
        let pending: i64 = with_pool!(self, p => {
            sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM recording_locks WHERE {CLOSED}"
            )))
            .fetch_one(p)
            .await?
        });
        if pending == 0 {
            return Ok(0);
        }
        let done = with_pool!(self, p => {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE recording_locks SET until_ms = \
                 (SELECT i.closed_at FROM incidents i WHERE i.id = recording_locks.incident_id) + $1 \
                 WHERE {CLOSED}"
            )))
            .bind(period.num_milliseconds())
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done)
    }

    /// Pending clips due at `now`, the earliest first.
    pub async fn due_evidence_jobs(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EvidenceJob>, StoreError> {
        let rows: Vec<JobRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT incident_id, camera_id, from_ms, to_ms, due_ms, state, \
                 CAST(attempts AS BIGINT) AS attempts FROM evidence_jobs \
                 WHERE state = 'pending' AND due_ms <= $1 ORDER BY due_ms, incident_id LIMIT $2",
            )
            .bind(to_ms(now))
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(EvidenceJob::from).collect())
    }

    /// Claims a due job for sealing by moving its due time to `until`: `false` when another
    /// hub node claimed it first. A node that dies while sealing leaves it due again at
    /// `until`.
    pub async fn claim_evidence_job(
        &self,
        job: &EvidenceJob,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = with_pool!(self, p => {
            sqlx::query(
                "UPDATE evidence_jobs SET due_ms = $3 \
                 WHERE incident_id = $1 AND camera_id = $2 AND state = 'pending' AND due_ms = $4",
            )
            .bind(&job.incident_id)
            .bind(&job.camera_id)
            .bind(to_ms(until))
            .bind(to_ms(job.due))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(claimed == 1)
    }

    /// An incident's clips to make, whatever their state.
    pub async fn evidence_jobs(&self, incident_id: &str) -> Result<Vec<EvidenceJob>, StoreError> {
        let rows: Vec<JobRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT incident_id, camera_id, from_ms, to_ms, due_ms, state, \
                 CAST(attempts AS BIGINT) AS attempts FROM evidence_jobs \
                 WHERE incident_id = $1 ORDER BY camera_id",
            )
            .bind(incident_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(EvidenceJob::from).collect())
    }

    /// Records an attempt at a clip: its new state (`Pending` again with `retry_at` after a
    /// failure), the clip sealed, or the error.
    pub async fn finish_evidence_job(
        &self,
        job: &EvidenceJob,
        state: JobState,
        clip_id: Option<&str>,
        error: Option<&str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE evidence_jobs SET state = $3, clip_id = $4, last_error = $5, \
                 attempts = attempts + 1, due_ms = COALESCE($6, due_ms) \
                 WHERE incident_id = $1 AND camera_id = $2",
            )
            .bind(&job.incident_id)
            .bind(&job.camera_id)
            .bind(state.as_str())
            .bind(clip_id)
            .bind(error)
            .bind(retry_at.map(to_ms))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Puts a job off until `retry_at` after an attempt that failed for a reason that passes
    /// by itself (its worker away, its disk short of room): pending, its error noted, and not
    /// counted as one of its attempts, so a long wait never uses them up.
    pub async fn put_off_evidence_job(
        &self,
        job: &EvidenceJob,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE evidence_jobs SET state = 'pending', last_error = $3, due_ms = $4 \
                 WHERE incident_id = $1 AND camera_id = $2",
            )
            .bind(&job.incident_id)
            .bind(&job.camera_id)
            .bind(error)
            .bind(to_ms(retry_at))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// One of an incident's clips.
    pub async fn evidence_clip(
        &self,
        incident_id: &str,
        clip_id: &str,
    ) -> Result<EvidenceClip, StoreError> {
        let row: Option<ClipRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, incident_id, camera_id, from_ms, to_ms, file, bytes, sha256, \
                 manifest_seq, manifest_file, manifest_sha256, created_at \
                 FROM evidence_clips WHERE incident_id = $1 AND id = $2",
            )
            .bind(incident_id)
            .bind(clip_id)
            .fetch_optional(p)
            .await?
        });
        row.map(EvidenceClip::from)
            .ok_or_else(|| StoreError::not_found("clip", clip_id))
    }
}
