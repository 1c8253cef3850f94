//! A per-caller limit on SOS presses (a stuck button, a script), so that one caller cannot
//! flood the duty room. Repeat presses are cheap but still counted: ten presses a minute is
//! more than any person in distress makes, and the incident is already raised and urgent.
//!
//! The presses are counted from the shared event log (`Store::recent_presses`: the caller's
//! committed raises and repeats), not in this process: with several hub nodes on one
//! database a caller gets its ten presses a minute in all, not ten per node. Only committed
//! presses count, so an attempt the database failed, or a replayed key, uses up nothing. Two
//! presses checked at the same moment on two nodes may both pass with one press left: the
//! limit guards the duty room against floods, it does not meter single presses.

use chrono::{DateTime, Duration, Utc};

/// Presses a caller may make in [`WINDOW_SECONDS`].
pub const MAX_PRESSES: usize = 10;
pub const WINDOW_SECONDS: i64 = 60;

/// The limit: how many presses in how long.
#[derive(Debug, Clone, Copy)]
pub struct SosLimit {
    max: usize,
    window: Duration,
}

impl Default for SosLimit {
    fn default() -> Self {
        SosLimit::new(MAX_PRESSES, Duration::seconds(WINDOW_SECONDS))
    }
}

impl SosLimit {
    pub fn new(max: usize, window: Duration) -> SosLimit {
        SosLimit {
            max: max.max(1),
            window,
        }
    }

    /// Most presses in a window; the most a check needs to read.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Presses after this are in the window at `now`.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.window
    }

    /// Whether the caller may press again at `now`, given its committed presses, newest first
    /// (at least the [`Self::max`] newest in the window); `Err(seconds to wait)` when the
    /// window is full: until the oldest of the `max` newest leaves it.
    pub fn check(&self, newest_first: &[DateTime<Utc>], now: DateTime<Utc>) -> Result<(), i64> {
        let start = self.window_start(now);
        let in_window = newest_first.iter().filter(|t| **t > start).count();
        if in_window < self.max {
            return Ok(());
        }
        let oldest = newest_first
            .iter()
            .filter(|t| **t > start)
            .nth(self.max - 1)
            .copied()
            .unwrap_or(now);
        Err((oldest + self.window - now).num_seconds().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_a_minute() {
        let l = SosLimit::default();
        let t0 = Utc::now();
        let mut presses = vec![];
        for i in 0..10 {
            let now = t0 + Duration::seconds(i);
            assert!(l.check(&presses, now).is_ok(), "{i}");
            presses.insert(0, now);
        }
        assert_eq!(l.check(&presses, t0 + Duration::seconds(10)), Err(50));
        // The first press leaves the window at t0 + 60 s.
        let later = t0 + Duration::seconds(60);
        assert!(l.check(&presses, later).is_ok());
        presses.insert(0, later);
        assert_eq!(l.check(&presses, later), Err(1));
    }

    #[test]
    fn more_than_the_limit_in_the_log_waits_for_the_tenth_newest() {
        // Two nodes let two presses through at once: 11 in the window. The caller may press
        // again once the tenth newest has left it.
        let l = SosLimit::default();
        let t0 = Utc::now();
        let presses: Vec<_> = (0..11).rev().map(|i| t0 + Duration::seconds(i)).collect();
        assert_eq!(l.check(&presses, t0 + Duration::seconds(11)), Err(50));
    }
}
