//! Throttling of failed logins, against password guessing.
//!
//! Failures are counted per username and per client address. Once either reaches the limit
//! within the lockout window, logins for it are refused (429) until the window has passed,
//! whether or not the password is right — otherwise the lock would tell a guesser when they
//! hit. A success clears the username's count. An address gets four times the username's
//! allowance, as several people may log in from one duty room behind one address.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

/// Beyond this many tracked keys, stale ones are dropped on the next failure.
const PRUNE_ABOVE: usize = 10_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginThrottle {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, addr: Option<&str>) -> Vec<(String, u32)> {
        let mut keys = vec![(format!("user:{}", username.to_lowercase()), 1)];
        if let Some(a) = addr {
            keys.push((format!("addr:{a}"), 4));
        }
        keys
    }

    /// `Err(seconds to wait)` when logins for this username or address are refused now.
    pub fn check(&self, username: &str, addr: Option<&str>, now: DateTime<Utc>) -> Result<(), i64> {
        let map = self.failures.lock().expect("throttle lock");
        let mut wait = 0;
        for (key, factor) in Self::keys(username, addr) {
            if let Some(times) = map.get(&key) {
                let recent: Vec<_> = times.iter().filter(|t| **t > now - self.window).collect();
                if recent.len() as u32 >= self.max_failures * factor {
                    let oldest = recent[recent.len() - (self.max_failures * factor) as usize];
                    wait = wait.max((*oldest + self.window - now).num_seconds().max(1));
                }
            }
        }
        if wait > 0 {
            Err(wait)
        } else {
            Ok(())
        }
    }

    pub fn failed(&self, username: &str, addr: Option<&str>, now: DateTime<Utc>) {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, times| times.back().is_some_and(|t| *t > now - self.window));
        }
        for (key, factor) in Self::keys(username, addr) {
            let times = map.entry(key).or_default();
            times.push_back(now);
            while times.len() > (self.max_failures * factor) as usize {
                times.pop_front();
            }
        }
    }

    pub fn succeeded(&self, username: &str) {
        let mut map = self.failures.lock().expect("throttle lock");
        map.remove(&format!("user:{}", username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_limit_and_releases_after_window() {
        let t = LoginThrottle::new(3, Duration::seconds(300));
        let t0 = Utc::now();
        for i in 0..3 {
            assert!(t.check("Wang", Some("1.2.3.4"), t0).is_ok(), "attempt {i}");
            t.failed("wang", Some("1.2.3.4"), t0);
        }
        let wait = t.check("WANG", Some("5.6.7.8"), t0).unwrap_err();
        assert_eq!(wait, 300);
        // Other users from the same address are still let in.
        assert!(t.check("li", Some("1.2.3.4"), t0).is_ok());
        assert!(t.check("wang", None, t0 + Duration::seconds(301)).is_ok());
    }

    #[test]
    fn address_is_throttled_across_usernames() {
        let t = LoginThrottle::new(2, Duration::seconds(60));
        let t0 = Utc::now();
        for i in 0..8 {
            t.failed(&format!("user{i}"), Some("9.9.9.9"), t0);
        }
        assert!(t.check("someone", Some("9.9.9.9"), t0).is_err());
        assert!(t.check("someone", Some("8.8.8.8"), t0).is_ok());
    }

    #[test]
    fn success_clears_the_username() {
        let t = LoginThrottle::new(2, Duration::seconds(60));
        let t0 = Utc::now();
        t.failed("zhao", None, t0);
        t.succeeded("zhao");
        t.failed("zhao", None, t0);
        assert!(t.check("zhao", None, t0).is_ok());
    }
}
