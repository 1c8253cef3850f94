//! One retention pass: what the store holds and the disks have free, through the pure plan
//! (`gridwatch_core::recording::retention`), into the recorder's crash-safe deletions and its
//! holds. The hub runs it periodically (every minute, and at once when a directory stops for
//! space).

use std::collections::HashMap;
use std::sync::Arc;

use super::RecordingHub;

use chrono::{DateTime, Utc};
use gridwatch_core::recording::retention::{
    plan, Candidate, DeleteReason, DirUsage, Hold, RetentionPolicy,
};
use gridwatch_ingest::recording::{dir::free_bytes, Recorder, SegmentRef};
use gridwatch_store::{Store, StoreError};

/// Segments read per directory and pass; a directory with more goes on in the next pass.
pub const CANDIDATES_PER_PASS: u32 = 20_000;

/// The oldest segments a pass short of space reads first: usually enough to make up what is
/// short (at a minute each, hundreds of camera-minutes), and cheap. More (up to
/// [`CANDIDATES_PER_PASS`]) is read only when they are not
/// (`Store::retention_oldest_to_free`).
pub const FIRST_LOOK: u32 = 500;

/// A directory's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirLimits {
    /// Most bytes its segments may take; `None` for no limit.
    pub max_bytes: Option<u64>,
    /// Free space retention keeps on its disk.
    pub min_free_bytes: u64,
}

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted_for_age: u64,
    pub deleted_for_space: u64,
    pub bytes_freed: u64,
    /// Segments whose deletion failed (left marked for the next start-up).
    pub failed: u64,
    /// Directories held: only locked data left.
    pub holds: Vec<Hold>,
}

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("segment index: {0}")]
    Index(String),
    #[error("the deleting task failed: {0}")]
    Task(String),
}

/// Runs one pass. `limits` are by directory ID; a directory without limits has no
/// `max_bytes` and the recorder's own `min_free_bytes` floor only.
pub async fn run(
    store: &Store,
    recorder: &Recorder,
    policy: &RetentionPolicy,
    limits: &HashMap<String, DirLimits>,
    now: DateTime<Utc>,
) -> Result<RetentionReport, RetentionError> {
    let used: HashMap<String, (u64, u64)> = store
        .recording_usage()
        .await?
        .into_iter()
        .map(|u| (u.dir_id, (u.bytes, u.segments)))
        .collect();
    let mut dirs = Vec::new();
    let mut candidates = Vec::new();
    for status in recorder.statuses() {
        let Some(dir_id) = status.id else { continue };
        let (used_bytes, segments) = used.get(&dir_id).copied().unwrap_or_default();
        let limit = limits.get(&dir_id).copied().unwrap_or(DirLimits {
            max_bytes: None,
            min_free_bytes: 0,
        });
        let mut usage = DirUsage {
            complete: false,
            dir_id,
            used_bytes,
            free_bytes: free_bytes(&status.path).ok(),
            max_bytes: limit.max_bytes,
            min_free_bytes: limit.min_free_bytes,
        };
        // What age may have made due, always (however short of space a directory is, a
        // camera's shorter retention and the incidents-mode buffer are kept to). Short of
        // space, with the oldest segments, whatever their age, enough to free what is short
        // (and whether they are all of them: if they do not free enough, nothing will).
        let mut found = store
            .retention_due(
                &usage.dir_id,
                now,
                policy.due_before(now),
                CANDIDATES_PER_PASS,
            )
            .await?;
        if usage.shortfall() > 0 {
            let (dir, short) = (&usage.dir_id, usage.shortfall());
            let oldest = store
                .retention_oldest_to_free(dir, now, short, (FIRST_LOOK, CANDIDATES_PER_PASS))
                .await?;
            found = merged(found, oldest);
            usage.complete = found.len() as u64 >= segments;
        }
        dirs.push(usage);
        candidates.append(&mut found);
    }
    let plan = plan(policy, &dirs, &candidates, now);
    let mut report = RetentionReport {
        deleted_for_age: 0,
        deleted_for_space: 0,
        bytes_freed: 0,
        failed: 0,
        holds: plan.holds.clone(),
    };
    let reasons: HashMap<String, (DeleteReason, u64)> = plan
        .delete
        .iter()
        .map(|(c, r)| (c.id.clone(), (*r, c.bytes)))
        .collect();
    let refs: Vec<SegmentRef> = plan
        .delete
        .iter()
        .map(|(c, _)| SegmentRef {
            id: c.id.clone(),
            dir_id: c.dir_id.clone(),
            path: c.path.clone(),
        })
        .collect();
    if !refs.is_empty() {
        let deleter = recorder.clone();
        let deleted = tokio::task::spawn_blocking(move || deleter.delete(&refs))
            .await
            .map_err(|e| RetentionError::Task(e.to_string()))?
            .map_err(|e| RetentionError::Index(e.to_string()))?;
        for id in &deleted.deleted {
            if let Some((reason, bytes)) = reasons.get(id) {
                report.bytes_freed += bytes;
                match reason {
                    DeleteReason::Age => report.deleted_for_age += 1,
                    DeleteReason::Space => report.deleted_for_space += 1,
                }
            }
        }
        report.failed = deleted.failed.len() as u64;
    }
    let held: HashMap<&str, &Hold> = plan.holds.iter().map(|h| (h.dir_id.as_str(), h)).collect();
    for dir in &dirs {
        match held.get(dir.dir_id.as_str()) {
            Some(hold) => {
                tracing::error!(dir = %dir.dir_id, short = hold.short_bytes, "{}", hold.reason);
                recorder.hold(&dir.dir_id, Some(hold.reason.clone()));
            }
            None => recorder.hold(&dir.dir_id, None),
        }
    }
    Ok(report)
}

/// Both lists as one, oldest first, each segment once.
fn merged(mut a: Vec<Candidate>, b: Vec<Candidate>) -> Vec<Candidate> {
    a.extend(b);
    a.sort_by(|x, y| (x.start, &x.id).cmp(&(y.start, &y.id)));
    a.dedup_by(|x, y| x.id == y.id);
    a
}

/// Runs a pass every `retention_interval_seconds`, and at once when a directory stops or
/// resumes (a full disk wants space now, not in a minute). Time is the hub's clock, so age is
/// judged as the rest of the hub judges it.
pub fn spawn(hub: Arc<RecordingHub>) {
    let Some(recorder) = hub.recorder().cloned() else {
        return;
    };
    let every = hub.config.retention_every();
    let mut changes = recorder.subscribe();
    // Stopped at shutdown at an await: a deletion cut short is finished by the next start's
    // repair.
    let lifecycle = hub.lifecycle.clone();
    lifecycle.spawn_service(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            let policy = match hub.policy(&hub.store).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "retention: cameras not readable; next pass");
                    continue;
                }
            };
            let limits = hub.limits();
            match run(&hub.store, &recorder, &policy, limits, hub.now()).await {
                Ok(r) if r.deleted_for_age + r.deleted_for_space + r.failed > 0 => {
                    tracing::info!(
                        age = r.deleted_for_age,
                        space = r.deleted_for_space,
                        freed = r.bytes_freed,
                        failed = r.failed,
                        "retention pass"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed"),
            }
        }
    });
}
