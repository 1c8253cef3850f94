//! Evidence: clips of recorded video that nobody can silently alter or
//! remove.
//!
//! Each clip ([`crate::recording::clip`]) is sealed with a manifest
//! (incident, camera, time range, the clip's and the source segments'
//! SHA-256, and the previous manifest's hash), so the manifests form a
//! chain; [`EvidenceDir::verify`] checks the chain and every file (what
//! `gridwatch evidence verify` runs); [`check_handover`] checks a clip
//! handed over with its manifest, away from the directory; [`Package`] is
//! an incident's clips and manifests as one ZIP archive to hand over.

mod chain;
mod handover;
mod manifest;
mod package;

pub use chain::{
    hash_file, sha256, EvidenceDir, EvidenceError, Problem, SealRequest, Sealed, SegmentLookup,
    VerifyOptions, VerifyReport,
};
pub use handover::{check_handover, Handover, HandoverError};
pub use manifest::{
    ClipEvidence, Manifest, NotRecorded, PreviousManifest, SegmentEvidence, FORMAT,
};
pub use package::{Package, PackageError, Scanned};

#[cfg(test)]
mod tests;
