//! Group commit for raises (SOS intake): the raises that arrive while one transaction is under
//! way are made together in the next, one after the other under one log lock, and committed
//! at once. Each caller is answered only after that commit, so "committed before answered"
//! holds for every press; what is shared is the cost of taking the log lock and of making the
//! commit durable (an fsync on PostgreSQL), which otherwise bounds intake to one press per
//! commit while the lock is held.
//!
//! Inside a batch the raises run in arrival order and each sees the ones before it, so a repeat
//! press or a replayed `Idempotency-Key` arriving in the same batch as the first press is
//! recognised as such, and seqs stay gap-free. If one raise of a batch fails, the batch is
//! rolled back and every raise in it is retried in its own transaction, so one bad raise fails
//! alone. Nothing waits to fill a batch: a press arriving while the writer is idle is
//! committed at once.

use crate::changes::{self, ChangeTx, RaiseRequest, Raised};
use crate::{Pool, StoreError};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Most raises committed together.
pub(crate) const MAX_BATCH: usize = 64;

/// Most raises queued for the writer. When it is full (the database slower than the intake),
/// a raise waits for room before it is queued — its caller waits, as it would for the
/// database, and a caller that gives up meanwhile has queued nothing — and the wait is
/// counted ([`GroupCommit::full`]; `gridwatch_queue_full_total{queue="intake_writer"}`).
pub(crate) const MAX_QUEUED: usize = 4096;

struct Job {
    req: RaiseRequest,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<Raised, StoreError>>,
}

/// The queue to the writer task, started on first use (in the runtime of that use).
#[derive(Clone, Default)]
pub(crate) struct GroupCommit {
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
    /// Raises that found the queue full and waited for room.
    full: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Raises through the writer task; answers once the raise is committed.
    pub(crate) async fn raise(
        &self,
        pool: &Pool,
        req: RaiseRequest,
        now: DateTime<Utc>,
    ) -> Result<Raised, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_QUEUED);
            tokio::spawn(writer(pool.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let job = match queue.try_send(Job { req, now, reply }) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(job)) => {
                self.full.fetch_add(1, Ordering::Relaxed);
                queue.send(job).await.err().map(|e| e.0)
            }
            Err(mpsc::error::TrySendError::Closed(job)) => Some(job),
        };
        if let Some(job) = job {
            // The writer is gone (its runtime ended): raise directly.
            return alone(pool, &job.req, job.now).await;
        }
        answer.await.map_err(|_| {
            StoreError::Unavailable("the raise writer stopped before answering; try again".into())
        })?
    }
}

impl GroupCommit {
    /// How many raises found the queue full and waited for room, since the store opened.
    pub(crate) fn full(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }
}

/// Takes whatever is queued, up to [`MAX_BATCH`], and commits it; until every store is gone.
async fn writer(pool: Pool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch = std::mem::take(&mut jobs);
        if batch.len() == 1 {
            let job = batch.into_iter().next().expect("one job");
            let r = alone(&pool, &job.req, job.now).await;
            let _ = job.reply.send(r);
        } else {
            together(&pool, batch).await;
        }
    }
}

/// One raise in its own transaction.
async fn alone(pool: &Pool, req: &RaiseRequest, now: DateTime<Utc>) -> Result<Raised, StoreError> {
    Ok(match pool {
        Pool::Sqlite(p) => {
            let mut tx = p.begin().await?;
            let raised = changes::raise(&mut *tx, req, now).await?;
            tx.commit().await?;
            raised
        }
        Pool::Postgres(p) => {
            let mut tx = p.begin().await?;
            let raised = changes::raise(&mut *tx, req, now).await?;
            tx.commit().await?;
            raised
        }
    })
}

/// How a batch transaction ended.
enum Outcome {
    Committed(Vec<Raised>),
    /// A raise failed: nothing was written.
    RolledBack,
    /// The transaction could not begin or commit: nothing was written (a failed commit is
    /// reported, not retried, as a single raise's would be).
    Failed(String),
}

macro_rules! batch_on {
    ($p:expr, $jobs:expr) => {{
        match $p.begin().await {
            Err(e) => Outcome::Failed(e.to_string()),
            Ok(mut tx) => {
                let mut raised = Vec::with_capacity($jobs.len());
                // One log lock for the batch; each raise numbers its events after the last.
                let mut ok = true;
                let first = match (*tx).lock_log().await {
                    Ok(seq) => seq,
                    Err(_) => {
                        ok = false;
                        0
                    }
                };
                let mut last = first;
                for job in $jobs.iter() {
                    if !ok {
                        break;
                    }
                    match changes::raise_logged(&mut *tx, &job.req, job.now, last).await {
                        Ok((r, used)) => {
                            last = used;
                            raised.push(r);
                        }
                        Err(_) => ok = false,
                    }
                }
                if ok && last != first && (*tx).set_log(last).await.is_err() {
                    ok = false;
                }
                if !ok {
                    let _ = tx.rollback().await;
                    Outcome::RolledBack
                } else {
                    match tx.commit().await {
                        Ok(()) => Outcome::Committed(raised),
                        Err(e) => Outcome::Failed(e.to_string()),
                    }
                }
            }
        }
    }};
}

async fn together(pool: &Pool, jobs: Vec<Job>) {
    let outcome = match pool {
        Pool::Sqlite(p) => batch_on!(p, jobs),
        Pool::Postgres(p) => batch_on!(p, jobs),
    };
    match outcome {
        Outcome::Committed(raised) => {
            for (job, r) in jobs.into_iter().zip(raised) {
                let _ = job.reply.send(Ok(r));
            }
        }
        Outcome::RolledBack => {
            for job in jobs {
                let r = alone(pool, &job.req, job.now).await;
                let _ = job.reply.send(r);
            }
        }
        Outcome::Failed(e) => {
            tracing::error!(error = %e, raises = jobs.len(), "a batch of raises was not committed");
            for job in jobs {
                let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                    "the database did not commit the raise: {e}"
                ))));
            }
        }
    }
}
