//! What the motion workers did with the frames they were offered: the share decoded is what
//! motion detection costs (`gridwatch_motion_frames_total{outcome}`), the detections what it
//! found.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, Opts};

/// What became of one frame offered to a motion worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to the decoder.
    Decoded,
    /// Not decoded: outside the camera's schedule (and until the next keyframe after it).
    Disarmed,
    /// Not decoded: a frame no other refers to, that the detector's rate would not take.
    Disposable,
    /// Dropped because the decoder was behind (and until the next keyframe after it), so
    /// that a slow decoder never holds up live video.
    Backlog,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Decoded,
        Outcome::Disarmed,
        Outcome::Disposable,
        Outcome::Backlog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Decoded => "decoded",
            Outcome::Disarmed => "disarmed",
            Outcome::Disposable => "disposable",
            Outcome::Backlog => "backlog",
        }
    }
}

/// Counters shared by every motion worker.
#[derive(Clone)]
pub struct MotionMetrics {
    frames: IntCounterVec,
    analysed: IntCounter,
    detections: IntCounter,
}

impl std::fmt::Debug for MotionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotionMetrics").finish_non_exhaustive()
    }
}

impl Default for MotionMetrics {
    fn default() -> Self {
        let frames = IntCounterVec::new(
            Opts::new(
                "motion_frames_total",
                "Camera frames offered to motion detection, by what became of them \
                 (decoded; not decoded: disarmed, disposable, backlog)",
            ),
            &["outcome"],
        )
        .expect("metric");
        for o in Outcome::ALL {
            frames.with_label_values(&[o.as_str()]);
        }
        Self {
            frames,
            analysed: IntCounter::new(
                "motion_pictures_analysed_total",
                "Decoded pictures the motion detector looked at (a few per second per camera)",
            )
            .expect("metric"),
            detections: IntCounter::new(
                "motion_detections_total",
                "Motion detections reported (one per episode, after the cooldown)",
            )
            .expect("metric"),
        }
    }
}

impl MotionMetrics {
    /// The collectors to register.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.frames.clone()),
            Box::new(self.analysed.clone()),
            Box::new(self.detections.clone()),
        ]
    }

    /// Frames with `outcome` so far.
    pub fn frames(&self, outcome: Outcome) -> u64 {
        self.frames.with_label_values(&[outcome.as_str()]).get()
    }

    /// The share of offered frames that were decoded (0 before any frame).
    pub fn share_decoded(&self) -> f64 {
        let all: u64 = Outcome::ALL.iter().map(|&o| self.frames(o)).sum();
        match all {
            0 => 0.0,
            n => self.frames(Outcome::Decoded) as f64 / n as f64,
        }
    }

    /// Pictures the detector looked at so far.
    pub fn analysed(&self) -> u64 {
        self.analysed.get()
    }

    /// Detections so far.
    pub fn detections(&self) -> u64 {
        self.detections.get()
    }

    pub(crate) fn frame(&self, outcome: Outcome) {
        self.frames.with_label_values(&[outcome.as_str()]).inc();
    }

    pub(crate) fn picture_analysed(&self) {
        self.analysed.inc();
    }

    pub(crate) fn detected(&self) {
        self.detections.inc();
    }
}
