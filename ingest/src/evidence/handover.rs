//! A clip handed over with its manifest (to the police, say), checked where the evidence
//! directory is not: the clip is the one the manifest describes (its SHA-256 and length), and
//! the manifest's own SHA-256 is what the centre's chain links to (the next manifest's
//! `previous`, the database's `manifest_sha256`, the clip list the duty room sees), which the
//! receiver compares with what the centre tells them. What `gridwatch evidence check` runs.

use std::path::Path;

use super::chain::{hash_file, sha256};
use super::Manifest;

/// What a hand-over check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The manifest, as read.
    pub manifest: Manifest,
    /// SHA-256 of the manifest file's bytes: what the chain links to.
    pub manifest_sha256: String,
    /// SHA-256 and length of the clip file as it is now.
    pub clip_sha256: String,
    pub clip_bytes: u64,
}

impl Handover {
    /// Whether the clip is the one the manifest describes.
    pub fn clip_matches(&self) -> bool {
        self.clip_sha256 == self.manifest.clip.sha256 && self.clip_bytes == self.manifest.clip.bytes
    }
}

/// Why a hand-over could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an evidence manifest: {source}")]
    NotAManifest {
        path: String,
        source: serde_json::Error,
    },
}

/// Reads the manifest at `manifest` and hashes the clip at `clip`.
pub fn check_handover(clip: &Path, manifest: &Path) -> Result<Handover, HandoverError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| HandoverError::Io { path, source }
    };
    let bytes = std::fs::read(manifest).map_err(io(manifest))?;
    let parsed: Manifest =
        serde_json::from_slice(&bytes).map_err(|source| HandoverError::NotAManifest {
            path: manifest.display().to_string(),
            source,
        })?;
    let (clip_sha256, clip_bytes) = hash_file(clip).map_err(io(clip))?;
    Ok(Handover {
        manifest: parsed,
        manifest_sha256: sha256(&bytes),
        clip_sha256,
        clip_bytes,
    })
}
