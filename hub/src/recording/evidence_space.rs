//! Room on the evidence directory's disk for the next clip.
//!
//! Clips are copies: every incident that names cameras adds one per camera, ten to a hundred
//! MB each. The evidence directory is by default in the data directory, on the disk the
//! SQLite database writes to, and nothing else bounds it (retention never deletes evidence).
//! A run of incidents (or a caller raising and cancelling in a loop) could fill that disk,
//! and a full disk there stops the SOS intake. So a clip is sealed only if the disk keeps
//! `[evidence] min_free_bytes` free after it; otherwise it waits (its job stays pending, its
//! recordings locked) and the duty room is told: the stream's health (`evidence_low_space`,
//! shown on the wall), `/readyz` and `gridwatch_evidence_low_space`. A clip as large sealed
//! clears it.

use prometheus::IntGauge;
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;

/// The disk was short of room for a clip when last asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LowSpace {
    /// Free on the evidence directory's disk.
    pub free_bytes: u64,
    /// What sealing the clip needed free: its segments' bytes (the most it can take) plus the
    /// configured floor.
    pub needed_bytes: u64,
}

impl std::fmt::Display for LowSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the evidence directory's disk has {} bytes free; this clip needs {} \
             ([evidence] min_free_bytes included)",
            self.free_bytes, self.needed_bytes
        )
    }
}

/// Whether the evidence directory's disk has room, as the last seal found it.
pub struct EvidenceSpace {
    low: Mutex<Option<LowSpace>>,
    /// `gridwatch_evidence_low_space`: 1 while clips wait for room.
    gauge: IntGauge,
}

impl EvidenceSpace {
    pub fn new(metrics: &crate::metrics::Metrics) -> EvidenceSpace {
        let gauge = IntGauge::new(
            "evidence_low_space",
            "1 while evidence clips wait because the evidence directory's disk is short of \
             room ([evidence] min_free_bytes)",
        )
        .expect("a valid gauge");
        metrics.register(Box::new(gauge.clone()));
        EvidenceSpace {
            low: Mutex::new(None),
            gauge,
        }
    }

    /// Checks that a clip of at most `clip_bytes` leaves `min_free_bytes` on the disk of `dir`
    /// (or of its nearest existing parent, before the first clip makes it). A disk whose free
    /// space cannot be read is let through: the seal then says what is wrong with it.
    pub fn check(&self, dir: &Path, min_free_bytes: u64, clip_bytes: u64) -> Result<(), LowSpace> {
        let Some(free_bytes) = dir
            .ancestors()
            .find(|p| p.exists())
            .and_then(|p| gridwatch_ingest::recording::dir::free_bytes(p).ok())
        else {
            return Ok(());
        };
        let needed_bytes = min_free_bytes.saturating_add(clip_bytes);
        if free_bytes >= needed_bytes {
            return Ok(());
        }
        let low = LowSpace {
            free_bytes,
            needed_bytes,
        };
        self.set(Some(low));
        Err(low)
    }

    /// A write ran out of room all the same (the disk filled between the check and the
    /// write): low, with nothing free.
    pub fn ran_out(&self, clip_bytes: u64, min_free_bytes: u64) -> LowSpace {
        let low = LowSpace {
            free_bytes: 0,
            needed_bytes: min_free_bytes.saturating_add(clip_bytes),
        };
        self.set(Some(low));
        low
    }

    /// A clip that needed `needed_bytes` free was sealed: the alarm clears if that is as much
    /// as the clip waiting needed (a small clip sealed proves nothing for a large one).
    pub fn sealed(&self, needed_bytes: u64) {
        if self
            .low()
            .is_some_and(|low| needed_bytes >= low.needed_bytes)
        {
            self.set(None);
        }
    }

    /// Short of room, as the last seal found it.
    pub fn low(&self) -> Option<LowSpace> {
        *self.low.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, low: Option<LowSpace>) {
        *self.low.lock().unwrap_or_else(|e| e.into_inner()) = low;
        self.gauge.set(i64::from(low.is_some()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_that_would_go_below_the_floor_waits_until_one_is_sealed() {
        let space = EvidenceSpace::new(&crate::metrics::Metrics::new());
        let tmp = tempfile::tempdir().unwrap();
        let not_yet = tmp.path().join("evidence");
        // Room: a small clip over a small floor, measured on the parent before the first clip.
        assert_eq!(space.check(&not_yet, 1, 1000), Ok(()));
        assert_eq!(space.low(), None);
        // No disk has this much free.
        let low = space.check(&not_yet, u64::MAX / 2, 1000).unwrap_err();
        assert_eq!(low.needed_bytes, u64::MAX / 2 + 1000);
        assert!(low.free_bytes < low.needed_bytes);
        assert_eq!(space.low(), Some(low));
        assert_eq!(space.gauge.get(), 1);
        // Sums saturate.
        let low = space.check(&not_yet, u64::MAX, u64::MAX).unwrap_err();
        assert_eq!(low.needed_bytes, u64::MAX);
        // A smaller clip sealed meanwhile does not clear it; one as large does.
        space.sealed(1000);
        assert_eq!(space.low(), Some(low));
        space.sealed(u64::MAX);
        assert_eq!((space.low(), space.gauge.get()), (None, 0));
    }
}
