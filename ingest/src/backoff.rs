//! Reconnection delays: exponential, capped, with jitter.
//!
//! Exponential so a dead camera costs next to nothing; capped so a camera
//! that comes back is picked up soon; jittered so that cameras behind one
//! switch that went down together do not all reconnect in the same
//! millisecond, forever in step.

use std::time::Duration;

use rand::Rng;

/// Share of a delay that is randomised: each delay is its nominal value
/// ±20 %.
const JITTER: f64 = 0.2;

/// Backoff state of one stream.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        let max = max.max(initial);
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The nominal delay the next [`Backoff::next_delay`] is based on.
    #[cfg(test)]
    pub(crate) fn nominal(&self) -> Duration {
        self.next
    }

    /// The delay before the next attempt; doubles the following one, up to
    /// the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.max);
        let factor = rand::thread_rng().gen_range(1.0 - JITTER..=1.0 + JITTER);
        nominal.mul_f64(factor).min(self.max)
    }

    /// Back to the initial delay (after a healthy period).
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let nominal = [500, 1000, 2000, 4000, 4000, 4000];
        for ms in nominal {
            let d = b.next_delay().as_secs_f64() * 1000.0;
            let ms = f64::from(ms);
            assert!(
                d >= ms * 0.8 - 1e-6 && d <= (ms * 1.2).min(4000.0) + 1e-6,
                "{d} vs {ms}"
            );
        }
        b.reset();
        assert_eq!(b.nominal(), Duration::from_millis(500));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            seen.insert(b.next_delay().as_micros());
        }
        assert!(seen.len() > 1);
    }
}
