//! Evidence clips (证据片段) of an incident, as the domain schedules them: one per camera the
//! incident names, covering `[raised - pre, raised + post]`, sealed once `raised + post` has
//! passed (the recording of the `post` part exists by then), retried a few times when it fails.
//! The camera's recordings over that window are locked from the moment the incident is seen
//! until `lock period` after it is closed.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Attempts at sealing a clip before it is given up as failed.
pub const MAX_ATTEMPTS: u32 = 5;

/// The time range an incident's clips cover.
pub fn window(
    raised: DateTime<Utc>,
    pre: Duration,
    post: Duration,
) -> (DateTime<Utc>, DateTime<Utc>) {
    (raised - pre, raised + post)
}

/// Where a clip to make stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Not sealed yet.
    Pending,
    Sealed,
    /// The camera recorded nothing in the window (off, offline, no recording configured).
    NoRecording,
    /// Sealing failed [`MAX_ATTEMPTS`] times.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Sealed => "sealed",
            JobState::NoRecording => "no_recording",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        [
            JobState::Pending,
            JobState::Sealed,
            JobState::NoRecording,
            JobState::Failed,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }
}

/// A clip to make for an incident and one of its cameras.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceJob {
    pub incident_id: String,
    pub camera_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// When to (try to) seal it.
    pub due: DateTime<Utc>,
    pub state: JobState,
    pub attempts: u32,
}

impl EvidenceJob {
    /// After a failed attempt at `now`: when to try again (30 s, doubling), or `None` to give
    /// up.
    pub fn retry_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let attempts = self.attempts + 1;
        (attempts < MAX_ATTEMPTS).then(|| now + Duration::seconds(30 << (attempts - 1).min(6)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_pre_before_and_post_after_the_raise() {
        let t = Utc::now();
        let (from, to) = window(t, Duration::seconds(30), Duration::seconds(60));
        assert_eq!(
            (t - from, to - t),
            (Duration::seconds(30), Duration::seconds(60))
        );
    }

    #[test]
    fn failures_are_retried_later_then_given_up() {
        let t = Utc::now();
        let mut job = EvidenceJob {
            incident_id: "i".into(),
            camera_id: "c".into(),
            from: t,
            to: t,
            due: t,
            state: JobState::Pending,
            attempts: 0,
        };
        assert_eq!(job.retry_at(t), Some(t + Duration::seconds(30)));
        job.attempts = 1;
        assert_eq!(job.retry_at(t), Some(t + Duration::seconds(60)));
        job.attempts = MAX_ATTEMPTS - 1;
        assert_eq!(job.retry_at(t), None);
        for s in ["pending", "sealed", "no_recording", "failed"] {
            assert_eq!(JobState::parse(s).unwrap().as_str(), s);
        }
    }
}
