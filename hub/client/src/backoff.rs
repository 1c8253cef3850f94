//! Exponential backoff with jitter, so that a hub coming back is not hit by every console in
//! the same millisecond.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            current: first,
        }
    }

    /// The next wait: the current delay ±25 %, then the delay doubles up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.cap);
        let jitter = rand::thread_rng().gen_range(0.75..=1.25);
        base.mul_f64(jitter).min(self.cap)
    }

    pub fn reset(&mut self) {
        self.current = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = b.next_delay();
        assert!((75..=125).contains(&first.as_millis()), "{first:?}");
        let second = b.next_delay();
        assert!((150..=250).contains(&second.as_millis()), "{second:?}");
        for _ in 0..10 {
            assert!(b.next_delay() <= Duration::from_secs(1));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(125));
    }
}
