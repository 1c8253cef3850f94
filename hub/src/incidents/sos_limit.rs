//! A per-caller limit on SOS presses (a stuck button, a script), so that one caller cannot
//! flood the duty room. Repeat presses are cheap but still counted: ten presses a minute is
//! more than any person in distress makes, and the incident is already raised and urgent.
//!
//! The count is kept in this process; with several hub nodes behind a balancer each node
//! counts its own.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Presses a caller may make in [`WINDOW_SECONDS`].
pub const MAX_PRESSES: usize = 10;
pub const WINDOW_SECONDS: i64 = 60;

/// Beyond this many tracked callers, idle ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

pub struct SosLimit {
    max: usize,
    window: Duration,
    presses: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
    /// Idle callers are forgotten when more than this many are tracked.
    prune_above: AtomicUsize,
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
            presses: Mutex::new(HashMap::new()),
            prune_above: AtomicUsize::new(PRUNE_ABOVE),
        }
    }

    /// Counts a press of `caller` at `now`, or refuses it: `Err(seconds to wait)`.
    pub fn press(&self, caller: &str, now: DateTime<Utc>) -> Result<(), i64> {
        // A panic elsewhere while the lock was held leaves the map as it was (every change
        // below is a single push, pop or retain): go on with it rather than panic every
        // later SOS on the poisoned lock.
        let mut map = self
            .presses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > self.prune_above.load(Ordering::Relaxed) {
            let cutoff = now - self.window;
            map.retain(|_, t| t.back().is_some_and(|t| *t > cutoff));
            // When most callers are active (a flood of distinct buttons), scan again only once
            // their number has doubled: amortised O(1) per press instead of a scan per press.
            self.prune_above
                .store((map.len() * 2).max(PRUNE_ABOVE), Ordering::Relaxed);
        }
        let times = map.entry(caller.to_string()).or_default();
        while times.front().is_some_and(|t| *t <= now - self.window) {
            times.pop_front();
        }
        if times.len() >= self.max {
            if let Some(oldest) = times.front() {
                return Err((*oldest + self.window - now).num_seconds().max(1));
            }
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_a_minute_per_caller() {
        let l = SosLimit::default();
        let t0 = Utc::now();
        for i in 0..10 {
            assert!(
                l.press("device:a", t0 + Duration::seconds(i)).is_ok(),
                "{i}"
            );
        }
        assert_eq!(l.press("device:a", t0 + Duration::seconds(10)), Err(50));
        assert!(l.press("device:b", t0 + Duration::seconds(10)).is_ok());
        // The first press leaves the window at t0 + 60 s.
        assert!(l.press("device:a", t0 + Duration::seconds(60)).is_ok());
        assert!(l.press("device:a", t0 + Duration::seconds(60)).is_err());
    }

    #[test]
    fn a_panic_while_the_lock_is_held_does_not_stop_later_presses() {
        let l = std::sync::Arc::new(SosLimit::default());
        let t0 = Utc::now();
        l.press("device:a", t0).unwrap();
        let held = l.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = held.presses.lock().unwrap();
            panic!("a bug while counting a press");
        })
        .join();
        assert!(panicked.is_err());
        assert!(l.presses.is_poisoned());
        // Later presses are still counted, and the limit still holds.
        for i in 1..10 {
            assert!(l.press("device:a", t0 + Duration::seconds(i)).is_ok(), "{i}");
        }
        assert_eq!(l.press("device:a", t0 + Duration::seconds(10)), Err(50));
        assert!(l.press("device:b", t0 + Duration::seconds(10)).is_ok());
    }

    #[test]
    fn a_flood_of_callers_is_pruned_without_a_scan_per_press() {
        let l = SosLimit::default();
        let t0 = Utc::now();
        for i in 0..PRUNE_ABOVE + 2 {
            l.press(&format!("device:{i}"), t0).unwrap();
        }
        // Everyone is active: nobody forgotten, and no new scan until twice as many.
        assert_eq!(l.prune_above.load(Ordering::Relaxed), 2 * (PRUNE_ABOVE + 1));
        assert_eq!(l.presses.lock().unwrap().len(), PRUNE_ABOVE + 2);
        // A minute on, new callers: at the next scan the idle ones are forgotten.
        let later = t0 + Duration::seconds(WINDOW_SECONDS + 1);
        for i in 0..PRUNE_ABOVE + 2 {
            l.press(&format!("button:{i}"), later).unwrap();
        }
        assert_eq!(l.presses.lock().unwrap().len(), PRUNE_ABOVE + 2);
        assert!(l
            .presses
            .lock()
            .unwrap()
            .keys()
            .all(|k| k.starts_with("button:")));
    }
}
