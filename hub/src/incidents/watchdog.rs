//! Silence is an alarm: a stalled escalation engine must never look like a quiet night.
//!
//! The watchdog asks the database — not the engine — whether any pending deadline is due more
//! than [`GRACE_SECONDS`] ago. It runs on `/readyz` (which then fails with the reason), on
//! `/metrics` (the `gridwatch_deadlines_overdue` gauge) and every few seconds in the
//! background, logging an error when the engine stalls and again when it recovers. Because it
//! reads the deadlines themselves, it also notices an engine that runs but cannot fire (a
//! broken incident, a database error), and any node sees the stall, not just the stalled one.

use super::Incidents;
use chrono::{DateTime, Duration, Utc};
use gridwatch_store::{PendingDeadline, StoreError};

/// How late a deadline may be before it counts as overdue. The engine sleeps at most a second
/// between ticks, so a few seconds late means it is not running.
pub const GRACE_SECONDS: i64 = 5;

/// How often the background check runs.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Deadlines that should have fired and have not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub count: u64,
    pub oldest: PendingDeadline,
    pub now: DateTime<Utc>,
}

impl std::fmt::Display for Overdue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} response deadline(s) overdue; the oldest ({} of incident {}) was due {} s ago: \
             escalations are not happening",
            self.count,
            self.oldest.kind,
            self.oldest.incident_id,
            (self.now - self.oldest.due_at).num_seconds()
        )
    }
}

/// Looks, and sets the gauge and the stalled flag. `Ok(None)`: all on time.
pub async fn check(incidents: &Incidents) -> Result<Option<Overdue>, StoreError> {
    let now = incidents.now();
    let (count, oldest) = incidents
        .store
        .overdue_deadlines(now - Duration::seconds(GRACE_SECONDS))
        .await?;
    incidents.metrics.overdue.set(count as i64);
    let overdue = oldest.map(|oldest| Overdue { count, oldest, now });
    let was = incidents.set_stalled(overdue.is_some());
    match (&overdue, was) {
        (Some(o), false) => tracing::error!(%o, "the response check is stalled"),
        (None, true) => tracing::info!("the response check has caught up"),
        _ => {}
    }
    Ok(overdue)
}

/// Checks every [`EVERY`] until the hub stops.
pub fn spawn(incidents: Incidents) -> tokio::task::JoinHandle<()> {
    let lifecycle = incidents.lifecycle.clone();
    lifecycle.spawn_service(async move {
        let mut every = tokio::time::interval(EVERY);
        loop {
            every.tick().await;
            if let Err(e) = check(&incidents).await {
                tracing::warn!(error = %e, "watchdog: the database did not answer");
            }
        }
    })
}
