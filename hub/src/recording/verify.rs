//! `gridwatch evidence verify`: the evidence chain and every file it names, against the
//! database's record of the chain's head and of the segments' hashes.

use std::collections::HashMap;
use std::path::Path;

use gridwatch_ingest::evidence::{
    EvidenceDir, EvidenceError, PreviousManifest, SegmentEvidence, VerifyOptions, VerifyReport,
};
use gridwatch_store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the verifying task failed: {0}")]
    Task(String),
}

/// Verifies the evidence directory `dir`. With a store, the newest manifest must be the one
/// the database recorded last, and sealed segments still kept are hashed again; without one
/// (an exported copy, say), the chain and the clips are checked on their own.
pub async fn verify_evidence(
    store: Option<&Store>,
    dir: &Path,
) -> Result<VerifyReport, VerifyError> {
    let evidence = EvidenceDir::open(dir)?;
    let (head, paths) = match store {
        None => (None, HashMap::new()),
        Some(store) => {
            let head = store
                .evidence_head()
                .await?
                .map(|(seq, sha256)| PreviousManifest { seq, sha256 });
            let ids: Vec<String> = evidence
                .manifests()?
                .into_iter()
                .flat_map(|m| m.segments.into_iter().map(|s| s.id))
                .collect();
            let paths = super::clips::segment_files(store, &ids).await?;
            (head, paths)
        }
    };
    let with_store = store.is_some();
    // Hashing clips reads every byte: off the async threads.
    let report = tokio::task::spawn_blocking(move || {
        let lookup = |s: &SegmentEvidence| paths.get(&s.id).filter(|p| p.exists()).cloned();
        let options = VerifyOptions {
            expected_head: head,
            segment_file: with_store.then_some(&lookup as _),
        };
        evidence.verify(&options)
    })
    .await
    .map_err(|e| VerifyError::Task(e.to_string()))??;
    Ok(report)
}
