//! The response check's deadlines: rows that survive restarts and fire once.
//!
//! Any number of hub processes may run [`Store::fire_deadline`] on the same due deadline at the
//! same time: each claims it with a conditional `UPDATE … SET fired_at … WHERE fired_at IS
//! NULL` inside the transaction that records the effect, and only the one whose claim changed a
//! row acts. A process that dies between claim and commit rolls the claim back with everything
//! else, so the deadline is still pending for the next tick, here or on another node.

use crate::changes::{self, Fired};
use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};

/// A deadline not yet fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDeadline {
    pub incident_id: String,
    /// `ack_due`, `at_risk` or `breach` ([`gridwatch_core::response_check::Timer::kind`]).
    pub kind: String,
    pub due_at: DateTime<Utc>,
}

/// One deadline row, fired or not (for tests and diagnosis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineRow {
    pub kind: String,
    pub timer: String,
    pub due_at: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Up to `limit` pending deadlines due at `now` or before, earliest first.
    pub async fn due_deadlines(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingDeadline>, StoreError> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT incident_id, kind, due_at FROM deadlines \
                 WHERE fired_at IS NULL AND due_at <= $1 \
                 ORDER BY due_at, incident_id, kind LIMIT $2",
            )
            .bind(to_ms(now))
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(incident_id, kind, due)| PendingDeadline {
                incident_id,
                kind,
                due_at: from_ms(due),
            })
            .collect())
    }

    /// Claims and fires one deadline if it is still pending and due at `now`: the response
    /// check decides, and its effect is recorded in the same transaction as the claim.
    /// `None` when there was nothing to claim (another node fired it, or it was re-armed or
    /// disarmed since it was listed).
    pub async fn fire_deadline(
        &self,
        incident_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Fired>, StoreError> {
        let now = crate::time::stored(now);
        Ok(with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let fired = changes::fire(&mut *tx, incident_id, kind, now).await?;
            if fired.is_some() {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            fired
        }))
    }

    /// Brings the pending acknowledgement deadline of an incident forward to `now`, if it is
    /// still the one armed by the dispatch made at `dispatched_at` (a later dispatch re-arms
    /// it): the response check then escalates at its next tick, as if the window had run out.
    /// False when there is no such deadline (acknowledged, redispatched, fired).
    pub async fn expedite_ack_deadline(
        &self,
        incident_id: &str,
        dispatched_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = with_pool!(self, p => {
            sqlx::query(
                "UPDATE deadlines SET due_at = $1 WHERE incident_id = $2 AND kind = 'ack_due' \
                 AND fired_at IS NULL AND armed_at = $3 AND due_at > $1",
            )
            .bind(to_ms(now))
            .bind(incident_id)
            .bind(to_ms(dispatched_at))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(changed > 0)
    }

    /// When the earliest pending deadline is due.
    pub async fn next_deadline(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<i64> = with_pool!(self, p => {
            sqlx::query_scalar("SELECT MIN(due_at) FROM deadlines WHERE fired_at IS NULL")
                .fetch_one(p)
                .await?
        });
        Ok(due.map(from_ms))
    }

    /// How many pending deadlines were due before `before`, and the earliest of them.
    pub async fn overdue_deadlines(
        &self,
        before: DateTime<Utc>,
    ) -> Result<(u64, Option<PendingDeadline>), StoreError> {
        let (count, oldest): (i64, Option<(String, String, i64)>) = with_pool!(self, p => {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM deadlines WHERE fired_at IS NULL AND due_at < $1",
            )
            .bind(to_ms(before))
            .fetch_one(p)
            .await?;
            let oldest = if count > 0 {
                sqlx::query_as(
                    "SELECT incident_id, kind, due_at FROM deadlines \
                     WHERE fired_at IS NULL AND due_at < $1 ORDER BY due_at LIMIT 1",
                )
                .bind(to_ms(before))
                .fetch_optional(p)
                .await?
            } else {
                None
            };
            (count, oldest)
        });
        Ok((
            count.max(0) as u64,
            oldest.map(|(incident_id, kind, due)| PendingDeadline {
                incident_id,
                kind,
                due_at: from_ms(due),
            }),
        ))
    }

    /// Every deadline row of an incident, fired or not, by kind.
    pub async fn deadlines_of(&self, incident_id: &str) -> Result<Vec<DeadlineRow>, StoreError> {
        let rows: Vec<(String, String, i64, Option<i64>)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT kind, timer, due_at, fired_at FROM deadlines WHERE incident_id = $1 \
                 ORDER BY kind",
            )
            .bind(incident_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(kind, timer, due, fired)| DeadlineRow {
                kind,
                timer,
                due_at: from_ms(due),
                fired_at: fired.map(from_ms),
            })
            .collect())
    }
}
