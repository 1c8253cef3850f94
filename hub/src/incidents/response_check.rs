//! The response check's timer engine: fires the deadlines that are due.
//!
//! [`tick`] reads the due deadlines from the database, has the store claim and fire each (the
//! claim and its effect are one transaction, so with several hub nodes each deadline fires
//! once), and counts what happened. Time is the injected clock's, so tests advance a manual
//! clock by 15 minutes and call `tick` to run the whole promise in milliseconds.
//!
//! In production [`spawn`] runs `tick` in a loop: it sleeps until the next deadline is due,
//! never longer than [`MAX_SLEEP`] (other nodes may have written deadlines; the clock may jump),
//! and is woken at once when this node writes new deadlines. Deadlines are rows, so there is
//! nothing to load at start-up: the first tick fires, once, whatever fell due while the hub
//! was down.

use super::Incidents;
use chrono::{DateTime, Utc};
use gridwatch_core::response_check::{EscalationTarget, TimerOutcome};
use gridwatch_store::{Fired, StoreError};
use std::time::Duration;

/// Longest sleep between ticks.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Deadlines read per query.
const BATCH: u32 = 200;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Deadlines this node claimed and fired (stale ones included).
    pub fired: usize,
    /// Of those, how many changed something (an escalation, a warning, a breach).
    pub acted: usize,
    /// Deadlines another node fired first, or that were re-armed or disarmed meanwhile.
    pub skipped: usize,
    /// Deadlines whose firing failed; they stay pending (and the watchdog will say so).
    pub failed: usize,
    /// When the next pending deadline is due.
    pub next_due: Option<DateTime<Utc>>,
}

/// Fires every deadline due at the clock's now.
pub async fn tick(incidents: &Incidents) -> Result<TickReport, StoreError> {
    let now = incidents.now();
    let mut report = TickReport::default();
    loop {
        let due = incidents.store.due_deadlines(now, BATCH).await?;
        let mut progress = false;
        for d in &due {
            match incidents
                .store
                .fire_deadline(&d.incident_id, &d.kind, now)
                .await
            {
                Ok(Some(fired)) => {
                    progress = true;
                    report.fired += 1;
                    if !fired.events.is_empty() {
                        report.acted += 1;
                    }
                    count(incidents, &fired);
                }
                Ok(None) => report.skipped += 1,
                Err(e) => {
                    report.failed += 1;
                    tracing::error!(incident = %d.incident_id, kind = %d.kind, error = %e,
                        "a response deadline could not be fired");
                }
            }
        }
        // A full batch may hide more; stop when nothing moved, so that a failing deadline
        // cannot spin the loop.
        if due.len() < BATCH as usize || !progress {
            break;
        }
    }
    report.next_due = incidents.store.next_deadline().await?;
    Ok(report)
}

fn count(incidents: &Incidents, f: &Fired) {
    incidents.publish(&f.incident, &f.events);
    let m = &incidents.metrics;
    m.deadlines_fired.inc();
    let i = &f.incident;
    match f.outcome {
        TimerOutcome::Nothing => {}
        TimerOutcome::AtRisk => {
            m.at_risk.inc();
            tracing::warn!(incident = %i.id, post = ?i.post_id, deadline = %i.deadline_at,
                "incident at risk: nobody on scene yet");
        }
        TimerOutcome::Breached => {
            m.breaches.inc();
            tracing::warn!(incident = %i.id, post = ?i.post_id,
                "response deadline breached: escalated to the supervisor level");
        }
        TimerOutcome::Escalate { target } => {
            tracing::warn!(incident = %i.id, to = ?target, post = ?i.post_id,
                "not acknowledged in time: escalated");
        }
    }
    if let Some(target) = f.outcome.escalation() {
        let label = match target {
            EscalationTarget::Post { .. } => "post",
            EscalationTarget::DutyOfficers => "duty_officers",
            EscalationTarget::Supervisor => "supervisor",
        };
        m.escalations.with_label_values(&[label]).inc();
    }
}

/// How long to sleep before the next tick: until the next deadline, at most [`MAX_SLEEP`].
/// After a tick in which a deadline failed, [`MAX_SLEEP`] whatever is due: the failed deadline
/// stays due (its time is past), and retrying it at once would loop without pause, each
/// attempt taking the event log's lock that every SOS intake needs.
fn pause(now: DateTime<Utc>, next_due: Option<DateTime<Utc>>, failed: bool) -> Duration {
    match next_due {
        _ if failed => MAX_SLEEP,
        Some(t) => (t - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP),
        None => MAX_SLEEP,
    }
}

/// Runs the engine until the hub stops (a tick cut short rolls back its transaction; the
/// deadline fires at the next start).
pub fn spawn(incidents: Incidents) -> tokio::task::JoinHandle<()> {
    let lifecycle = incidents.lifecycle.clone();
    lifecycle.spawn_service(async move {
        tracing::info!("response check running");
        loop {
            let pause = match tick(&incidents).await {
                Ok(r) => {
                    if r.fired > 0 || r.failed > 0 {
                        tracing::debug!(?r, "response check tick");
                    }
                    pause(incidents.now(), r.next_due, r.failed > 0)
                }
                Err(e) => {
                    tracing::error!(error = %e, "response check: the database did not answer");
                    MAX_SLEEP
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = incidents.wake.notified() => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sleeps_until_the_next_deadline_at_most_max_sleep() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let soon = now + chrono::Duration::milliseconds(300);
        assert_eq!(pause(now, Some(soon), false), Duration::from_millis(300));
        assert_eq!(
            pause(now, Some(now + chrono::Duration::minutes(15)), false),
            MAX_SLEEP
        );
        assert_eq!(pause(now, None, false), MAX_SLEEP);
        // Overdue: at once.
        assert_eq!(
            pause(now, Some(now - chrono::Duration::seconds(5)), false),
            Duration::ZERO
        );
    }

    #[test]
    fn a_failed_deadline_is_retried_after_a_pause_not_at_once() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let overdue = now - chrono::Duration::seconds(5);
        assert_eq!(pause(now, Some(overdue), true), MAX_SLEEP);
    }
}
