//! Evidence clips of incidents, as the hub makes them.
//!
//! [`tick`] does, at the hub clock's now:
//!
//! 1. every incident that names cameras and has no clips scheduled gets one job per camera
//!    (`gridwatch_core::recording::evidence::window`: `[raised - pre, raised + post]`), and the
//!    camera's recordings over that window are locked, in one transaction (retention never
//!    deletes them);
//! 2. the locks of incidents closed since get their end, `lock_days` after the close;
//! 3. every job due (`raised + post` passed) is cut from the segments (`super::clips`), sealed
//!    into the evidence chain (`gridwatch_ingest::evidence`), recorded in the store, and noted
//!    on the incident's timeline (`incident.evidence_sealed`) — if its disk has room
//!    ([`super::evidence_space`]); else, and while a worker is away, the job waits.
//!
//! Jobs are rows, so nothing is lost across a restart, and time is the injected clock's: tests
//! advance a manual clock past `post` and call `tick` instead of waiting 90 s. In production
//! [`spawn`] ticks every second.
//!
//! With ingest workers, the hub seals the clips of the cameras they record: the segments are
//! fetched from the workers and checked against their indexed SHA-256
//! ([`super::fetch::SegmentFiles`]), which is what the manifest lists. Workers never seal.
//! A worker that cannot serve its segments now puts the job off (it is not given up while
//! the worker is away: the segments are locked, and will be there when it is back).
//!
//! **One chain.** The chain is one directory and `manifest_seq` is unique in the database, so
//! hub nodes that seal must share the evidence directory (the chain is extended under a lock
//! in it), or one node alone seals. A node with a directory of its own would fork the chain:
//! each seal refuses, under the chain's lock and before the clip is cut, when the database has
//! a manifest this directory has not (another node sealed it), so the mistake fails loudly
//! instead. A local chain *ahead* of the database is allowed: that is a seal whose row was not
//! written (the store failed after the seal), and its job seals again.

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::event::{Actor, EventDraft, EventType};
use gridwatch_core::recording::evidence::{window, EvidenceJob, JobState};
use gridwatch_core::recording::{EvidenceClip, Segment};
use gridwatch_ingest::evidence::{
    EvidenceDir, EvidenceError, PreviousManifest, SealRequest, Sealed, SegmentEvidence,
};
use gridwatch_ingest::recording::clip::ClipError;
use gridwatch_store::StoreError;
use serde_json::json;

use super::clips::{self, PlanError, PlannedClip};
use super::evidence_space::LowSpace;
use super::RecordingHub;
use std::sync::Arc;

/// Incidents scheduled, and jobs sealed, per tick at most.
const BATCH: u32 = 50;

/// How long a node has to seal a clip it claimed before another may try.
const CLAIM_MINUTES: i64 = 10;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EvidenceReport {
    /// Jobs scheduled (and locks taken).
    pub scheduled: usize,
    /// Locks of closed incidents given their end.
    pub locks_ended: u64,
    pub sealed: usize,
    pub no_recording: usize,
    /// Attempts that failed (retried later, or given up).
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
enum SealError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sealing task failed: {0}")]
    Task(String),
    /// No room for the clip on the evidence directory's disk (`super::evidence_space`).
    #[error("{0}")]
    NoSpace(LowSpace),
}

impl SealError {
    /// What will pass by itself (a worker that cannot serve the segments now, a disk short of
    /// room): the job waits rather than failing.
    fn is_unavailable(&self) -> bool {
        match self {
            SealError::Plan(PlanError::Fetch(e)) => e.is_unavailable(),
            SealError::NoSpace(_) => true,
            _ => false,
        }
    }
}

/// Whether a seal failed because a write found the disk (or the quota) full: the manifest's
/// or the clip's own, the big one.
fn out_of_room(e: &EvidenceError) -> bool {
    let source = match e {
        EvidenceError::Io { source, .. } => source,
        EvidenceError::Clip(ClipError::Io { source, .. }) => source,
        _ => return false,
    };
    matches!(
        source.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// How long a job put off (its worker away, its disk short of room) waits before it is tried
/// again; such waits do not count as attempts.
const PUT_OFF_MINUTES: i64 = 1;

/// Schedules, locks and seals what is due now (see the module's description).
pub async fn tick(hub: &RecordingHub) -> Result<EvidenceReport, StoreError> {
    let now = hub.now();
    let config = &hub.evidence;
    let mut report = EvidenceReport::default();
    // As far back as recordings are kept: an incident the hub did not see in time (it was
    // down for days, or the store did not answer) still gets its clips while its recordings
    // exist; older than that, nothing unlocked is left to clip.
    let look_back = hub.policy(&hub.store).await?.longest();
    let awaiting = hub
        .store
        .incidents_awaiting_evidence(now - look_back, BATCH)
        .await?;
    let jobs: Vec<EvidenceJob> = awaiting
        .iter()
        .flat_map(|i| {
            let (from, to) = window(i.raised, config.pre(), config.post());
            i.cameras.iter().map(move |camera| EvidenceJob {
                incident_id: i.incident_id.clone(),
                camera_id: camera.clone(),
                from,
                to,
                due: to,
                state: JobState::Pending,
                attempts: 0,
            })
        })
        .collect();
    if !awaiting.is_empty() {
        // Each incident is marked, even one whose cameras came to no job (an unreadable
        // list): it would otherwise be asked for again, first in line, every second.
        let incidents: Vec<&str> = awaiting.iter().map(|i| i.incident_id.as_str()).collect();
        hub.store.schedule_evidence(&incidents, &jobs, now).await?;
        report.scheduled = jobs.len();
    }
    report.locks_ended = hub
        .store
        .end_closed_incident_locks(config.lock_period())
        .await?;
    for job in hub.store.due_evidence_jobs(now, BATCH).await? {
        let claim_until = now + Duration::minutes(CLAIM_MINUTES);
        if !hub.store.claim_evidence_job(&job, claim_until).await? {
            continue;
        }
        match seal(hub, &job).await {
            Ok(Some(clip)) => {
                report.sealed += 1;
                hub.store
                    .finish_evidence_job(&job, JobState::Sealed, Some(&clip.id), None, None)
                    .await?;
            }
            Ok(None) => {
                report.no_recording += 1;
                hub.store
                    .finish_evidence_job(&job, JobState::NoRecording, None, None, None)
                    .await?;
            }
            Err(e) if e.is_unavailable() => {
                report.failed += 1;
                let retry = now + Duration::minutes(PUT_OFF_MINUTES);
                tracing::warn!(incident = %job.incident_id, camera = %job.camera_id,
                    error = %e, retry = %retry, "an evidence clip is put off");
                hub.store
                    .put_off_evidence_job(&job, &e.to_string(), retry)
                    .await?;
            }
            Err(e) => {
                report.failed += 1;
                let retry = job.retry_at(now);
                tracing::error!(incident = %job.incident_id, camera = %job.camera_id,
                    error = %e, retry = ?retry, "an evidence clip could not be sealed");
                let next = if retry.is_some() {
                    JobState::Pending
                } else {
                    JobState::Failed
                };
                hub.store
                    .finish_evidence_job(&job, next, None, Some(&e.to_string()), retry)
                    .await?;
            }
        }
    }
    Ok(report)
}

/// Cuts, seals and records one clip; `None` when the camera recorded nothing in its window.
async fn seal(hub: &RecordingHub, job: &EvidenceJob) -> Result<Option<EvidenceClip>, SealError> {
    // The chain must hold what the database says was sealed last (checked by the seal, under
    // the chain's lock, before the clip is cut).
    let known_head = hub
        .store
        .evidence_head()
        .await?
        .map(|(seq, sha256)| PreviousManifest { seq, sha256 });
    let Some(PlannedClip { plan, segments }) =
        clips::plan(&hub.files, &job.camera_id, job.from, job.to).await?
    else {
        return Ok(None);
    };
    // The clip takes at most its segments' bytes (it is cut from them).
    let clip_bytes: u64 = segments.iter().map(|s| s.bytes).sum();
    let min_free = hub.evidence.min_free_bytes;
    hub.evidence_space
        .check(&hub.evidence_dir, min_free, clip_bytes)
        .map_err(SealError::NoSpace)?;
    let now = hub.now();
    let dir = hub.evidence_dir.clone();
    let (incident_id, camera_id) = (job.incident_id.clone(), job.camera_id.clone());
    let (from, to) = (job.from, job.to);
    let evidence = segment_evidence(segments.iter());
    // Writing the clip reads every byte of its segments: off the async threads.
    let sealed = tokio::task::spawn_blocking(move || {
        EvidenceDir::open(&dir)?.seal(SealRequest {
            incident_id: &incident_id,
            camera_id: &camera_id,
            requested_from: from,
            requested_to: to,
            plan: &plan,
            segments: evidence,
            now,
            known_head,
        })
    })
    .await
    .map_err(|e| SealError::Task(e.to_string()))?
    .map_err(|e| match out_of_room(&e) {
        true => SealError::NoSpace(hub.evidence_space.ran_out(clip_bytes, min_free)),
        false => SealError::Evidence(e),
    })?;
    hub.evidence_space
        .sealed(min_free.saturating_add(clip_bytes));
    let clip = clip_of(&sealed, now);
    hub.store.insert_evidence_clip(&clip).await?;
    let draft = EventDraft::new(
        EventType::IncidentEvidenceSealed,
        json!({
            "clip_id": clip.id, "camera_id": clip.camera_id, "from": clip.from, "to": clip.to,
            "bytes": clip.bytes, "sha256": clip.sha256,
        }),
    );
    hub.store
        .record_events(Some(&job.incident_id), &[draft], &Actor::timer(), now)
        .await?;
    tracing::info!(incident = %job.incident_id, camera = %job.camera_id, seq = clip.manifest_seq,
        bytes = clip.bytes, "evidence clip sealed");
    Ok(Some(clip))
}

/// What a manifest says of the segments a clip was cut from: their indexed hashes.
pub fn segment_evidence<'a>(segments: impl Iterator<Item = &'a Segment>) -> Vec<SegmentEvidence> {
    segments
        .map(|s| SegmentEvidence {
            id: s.id.clone(),
            sha256: s.sha256.clone(),
            start: s.start,
            end: s.end,
        })
        .collect()
}

/// The store's record of a sealed clip (a new ID; the rest from its manifest).
pub fn clip_of(sealed: &Sealed, now: DateTime<Utc>) -> EvidenceClip {
    let m = &sealed.manifest;
    EvidenceClip {
        id: gridwatch_core::id::new_id(),
        incident_id: m.incident_id.clone(),
        camera_id: m.camera_id.clone(),
        from: m.clip.from,
        to: m.clip.to,
        file: m.clip.file.clone(),
        bytes: m.clip.bytes,
        sha256: m.clip.sha256.clone(),
        manifest_seq: m.seq,
        manifest_file: sealed.manifest_file.clone(),
        manifest_sha256: sealed.manifest_sha256.clone(),
        created_at: now,
    }
}

/// Ticks every second while the hub records, or while its cameras are on ingest workers (it
/// seals their recordings; see the module's description on the single sealer). Only hubs call
/// this: workers never seal.
pub fn spawn(hub: Arc<RecordingHub>) {
    if hub.recorder().is_none() && !hub.workers_mode {
        return;
    }
    // Stopped at shutdown at an await: a clip cut short is sealed again by its job.
    let lifecycle = hub.lifecycle.clone();
    lifecycle.spawn_service(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = tick(&hub).await {
                tracing::warn!(error = %e, "evidence: the store did not answer; next second");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_full_disk_anywhere_in_the_seal_is_waited_out() {
        let io = |kind| Error::new(kind, "write");
        let manifest = EvidenceError::Io {
            path: "manifests/7.json".into(),
            source: io(ErrorKind::StorageFull),
        };
        let clip = |kind| {
            EvidenceError::Clip(ClipError::Io {
                path: "clips/7.mp4".into(),
                source: io(kind),
            })
        };
        assert!(out_of_room(&manifest));
        assert!(out_of_room(&clip(ErrorKind::StorageFull)));
        assert!(out_of_room(&clip(ErrorKind::QuotaExceeded)));
        // Anything else is an error of its own, retried and in the end given up.
        assert!(!out_of_room(&clip(ErrorKind::PermissionDenied)));
        assert!(!out_of_room(&EvidenceError::Chain("broken".into())));
    }
}
