//! When a failed notification is tried again, and when a channel counts as failing. Backoff
//! doubles from `base` up to `max`, with a jitter taken from the key (deterministic, so tests
//! with a manual clock know when the next attempt is due, yet many notifications failing
//! together do not all retry in the same second).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts before a notification is given up (and shown as failed on the timeline).
    pub max_attempts: u32,
    pub base_seconds: u32,
    pub max_seconds: u32,
    /// Up to this percentage of the pause is added, by the key.
    pub jitter_percent: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 5 s, 10 s, 20 s … 5 min: twelve attempts cover about half an hour, past the
        // 15-minute promise, so a gateway down for a few minutes loses nothing.
        RetryPolicy {
            max_attempts: 12,
            base_seconds: 5,
            max_seconds: 300,
            jitter_percent: 20,
        }
    }
}

impl RetryPolicy {
    /// The pause after the `attempts`-th failed attempt (1 = the first).
    pub fn pause(&self, attempts: u32, key: &str) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let secs = u64::from(self.base_seconds)
            .saturating_mul(1u64 << exp)
            .min(u64::from(self.max_seconds));
        let spread = secs * 1000 * u64::from(self.jitter_percent.min(100)) / 100;
        let jitter = if spread == 0 {
            0
        } else {
            key.bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
                % (spread + 1)
        };
        Duration::milliseconds((secs * 1000 + jitter) as i64)
    }

    /// When to try again after the `attempts`-th failure, or `None` to give up.
    pub fn next_attempt(
        &self,
        attempts: u32,
        key: &str,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        (attempts < self.max_attempts).then(|| now + self.pause(attempts, key))
    }
}

/// Consecutive failures of one channel, to say on the stream that it keeps failing (and when it
/// recovers), once each way rather than at every attempt.
#[derive(Debug, Clone, Default)]
pub struct ChannelHealth {
    consecutive_failures: u32,
    failing: bool,
}

/// A change of a channel's health worth telling the duty room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    Failing,
    Recovered,
}

impl ChannelHealth {
    /// Failures in a row after which a channel is failing.
    pub const THRESHOLD: u32 = 3;

    pub fn record(&mut self, ok: bool) -> Option<HealthChange> {
        if ok {
            self.consecutive_failures = 0;
            if self.failing {
                self.failing = false;
                return Some(HealthChange::Recovered);
            }
            return None;
        }
        self.consecutive_failures += 1;
        if !self.failing && self.consecutive_failures >= Self::THRESHOLD {
            self.failing = true;
            return Some(HealthChange::Failing);
        }
        None
    }

    pub fn is_failing(&self) -> bool {
        self.failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_gives_up() {
        let p = RetryPolicy {
            max_attempts: 4,
            base_seconds: 5,
            max_seconds: 15,
            jitter_percent: 0,
        };
        let secs: Vec<i64> = (1..=4).map(|n| p.pause(n, "k").num_seconds()).collect();
        assert_eq!(secs, [5, 10, 15, 15]);
        let now = Utc::now();
        assert_eq!(
            p.next_attempt(1, "k", now),
            Some(now + Duration::seconds(5))
        );
        assert_eq!(p.next_attempt(4, "k", now), None);
        // Huge attempt counts do not overflow.
        assert_eq!(p.pause(u32::MAX, "k").num_seconds(), 15);
    }

    #[test]
    fn jitter_is_bounded_and_stable_per_key() {
        let p = RetryPolicy::default();
        let mut seen = std::collections::HashSet::new();
        for k in ["a", "b", "c", "gw-1-x-0", "gw-2-x-0"] {
            let d = p.pause(1, k).num_milliseconds();
            assert!((5000..=6000).contains(&d), "{k}: {d}");
            assert_eq!(d, p.pause(1, k).num_milliseconds());
            seen.insert(d);
        }
        assert!(seen.len() > 1, "jitter spreads keys");
    }

    #[test]
    fn a_channel_fails_after_three_in_a_row_and_recovers_once() {
        let mut h = ChannelHealth::default();
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(HealthChange::Failing));
        assert_eq!(h.record(false), None);
        assert!(h.is_failing());
        assert_eq!(h.record(true), Some(HealthChange::Recovered));
        assert_eq!(h.record(true), None);
    }
}
