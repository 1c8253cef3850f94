//! The ingest's Prometheus metrics. The ingest counts; whoever serves `/metrics` registers
//! [`IngestMetrics::collectors`] (the hub, under its `gridwatch_` prefix).

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, Opts};

use crate::decodable::DropReason;

/// Counters shared by every stream of a [`crate::Cameras`] registry.
#[derive(Clone)]
pub struct IngestMetrics {
    frames_dropped: IntCounterVec,
    gop_overflows: IntCounter,
}

impl std::fmt::Debug for IngestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestMetrics").finish_non_exhaustive()
    }
}

impl Default for IngestMetrics {
    fn default() -> Self {
        let frames_dropped = IntCounterVec::new(
            Opts::new(
                "camera_frames_dropped_total",
                "Camera frames not passed on because the stream was damaged (lost packets, \
                 packets the depacketizer rejected, malformed frames), until the next keyframe",
            ),
            &["reason"],
        )
        .expect("metric");
        // Every reason from the start: a dashboard sees 0 rather than nothing.
        for reason in DropReason::ALL {
            frames_dropped.with_label_values(&[reason.as_str()]);
        }
        let gop_overflows = IntCounter::new(
            "camera_gop_overflows_total",
            "Times a stream went longer without a keyframe than the GOP cache holds \
             (new viewers then wait for the next keyframe)",
        )
        .expect("metric");
        Self {
            frames_dropped,
            gop_overflows,
        }
    }
}

impl IngestMetrics {
    /// The collectors to register.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.frames_dropped.clone()),
            Box::new(self.gop_overflows.clone()),
        ]
    }

    /// Frames dropped for `reason` so far, by every stream.
    pub fn frames_dropped(&self, reason: DropReason) -> u64 {
        self.frames_dropped
            .with_label_values(&[reason.as_str()])
            .get()
    }

    /// GOP overflows so far, of every stream.
    pub fn gop_overflows(&self) -> u64 {
        self.gop_overflows.get()
    }

    pub(crate) fn frame_dropped(&self, reason: DropReason) {
        self.frames_dropped
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    pub(crate) fn gop_overflowed(&self) {
        self.gop_overflows.inc();
    }
}
