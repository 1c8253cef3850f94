//! Throttling of failed logins, against password guessing.
//!
//! Attempts are counted per username and per client address. Once either reaches the limit
//! within the lockout window, logins for it are refused (429) until the window has passed,
//! whether or not the password is right — otherwise the lock would tell a guesser when they
//! hit. An address gets four times the username's allowance, as several people may log in
//! from one duty room behind one address.
//!
//! An attempt is counted when it is let through, before its password is verified, and checking
//! and counting happen under one lock: verifying is slow on purpose, so if the count waited for
//! the answer, a burst of parallel guesses would all pass the check before the first failure
//! was recorded. A success takes its attempt back and clears the username's count.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

/// An attempt let through and counted: hand it back with [`LoginThrottle::succeeded`] when
/// the password was right; otherwise it stays counted as a failure.
#[derive(Debug)]
#[must_use = "a successful login must hand its attempt back"]
pub struct Attempt {
    username: String,
    addr: Option<String>,
    at: DateTime<Utc>,
}

/// Beyond this many tracked keys, stale ones are dropped on the next attempt.
const PRUNE_ABOVE: usize = 10_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginThrottle {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn user_key(username: &str) -> String {
        format!("user:{}", username.to_lowercase())
    }

    fn keys(username: &str, addr: Option<&str>) -> Vec<(String, u32)> {
        let mut keys = vec![(Self::user_key(username), 1)];
        if let Some(a) = addr {
            keys.push((format!("addr:{a}"), 4));
        }
        keys
    }

    /// The map, even if a thread panicked holding it: the counts stay meaningful, and a
    /// throttle that panicked on every login would lock everyone out.
    fn map(&self) -> MutexGuard<'_, HashMap<String, VecDeque<DateTime<Utc>>>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets an attempt through and counts it, or `Err(seconds to wait)` when logins for this
    /// username or address are refused now.
    pub fn begin(
        &self,
        username: &str,
        addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Attempt, i64> {
        let mut map = self.map();
        let wait = self.wait(&map, username, addr, now);
        if wait > 0 {
            return Err(wait);
        }
        self.record(&mut map, username, addr, now);
        Ok(Attempt {
            username: username.to_string(),
            addr: addr.map(str::to_string),
            at: now,
        })
    }

    /// Seconds until the oldest counted attempt of a full key leaves the window; 0 if none is
    /// full.
    fn wait(
        &self,
        map: &HashMap<String, VecDeque<DateTime<Utc>>>,
        username: &str,
        addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> i64 {
        let mut wait = 0;
        for (key, factor) in Self::keys(username, addr) {
            let limit = (self.max_failures * factor) as usize;
            let Some(times) = map.get(&key) else { continue };
            let recent: Vec<_> = times.iter().filter(|t| **t > now - self.window).collect();
            if recent.len() >= limit {
                let oldest = recent[recent.len() - limit];
                wait = wait.max((*oldest + self.window - now).num_seconds().max(1));
            }
        }
        wait
    }

    fn record(
        &self,
        map: &mut HashMap<String, VecDeque<DateTime<Utc>>>,
        username: &str,
        addr: Option<&str>,
        now: DateTime<Utc>,
    ) {
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

    /// The password was right: the username's count is cleared, and the attempt no longer
    /// counts against the address (a duty room's colleagues logging in are not guessers).
    pub fn succeeded(&self, attempt: Attempt) {
        let mut map = self.map();
        map.remove(&Self::user_key(&attempt.username));
        let Some(addr) = &attempt.addr else { return };
        let key = format!("addr:{addr}");
        if let Some(times) = map.get_mut(&key) {
            if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                times.remove(i);
            }
            if times.is_empty() {
                map.remove(&key);
            }
        }
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
            assert!(t.begin("Wang", Some("1.2.3.4"), t0).is_ok(), "attempt {i}");
        }
        let wait = t.begin("WANG", Some("5.6.7.8"), t0).unwrap_err();
        assert_eq!(wait, 300);
        // Other users from the same address are still let in.
        assert!(t.begin("li", Some("1.2.3.4"), t0).is_ok());
        assert!(t.begin("wang", None, t0 + Duration::seconds(301)).is_ok());
    }

    #[test]
    fn attempts_count_before_their_answer() {
        // Nothing is answered yet, and the fourth is already refused.
        let t = LoginThrottle::new(3, Duration::seconds(60));
        let t0 = Utc::now();
        let pending: Vec<_> = (0..3).map(|_| t.begin("zhou", None, t0)).collect();
        assert!(pending.iter().all(Result::is_ok));
        assert!(t.begin("zhou", None, t0).is_err());
    }

    #[test]
    fn address_is_throttled_across_usernames() {
        let t = LoginThrottle::new(2, Duration::seconds(60));
        let t0 = Utc::now();
        for i in 0..8 {
            assert!(t.begin(&format!("user{i}"), Some("9.9.9.9"), t0).is_ok());
        }
        assert!(t.begin("someone", Some("9.9.9.9"), t0).is_err());
        assert!(t.begin("someone", Some("8.8.8.8"), t0).is_ok());
    }

    #[test]
    fn success_clears_the_username_and_refunds_the_address() {
        let t = LoginThrottle::new(2, Duration::seconds(60));
        let t0 = Utc::now();
        let _failed = t.begin("zhao", None, t0).unwrap();
        t.succeeded(t.begin("zhao", None, t0).unwrap());
        let _failed = t.begin("zhao", None, t0).unwrap();
        assert!(t.begin("zhao", None, t0).is_ok());
        // Eight colleagues logging in from one room use up none of its allowance.
        for i in 0..8 {
            t.succeeded(t.begin(&format!("duty{i}"), Some("7.7.7.7"), t0).unwrap());
        }
        assert!(t.begin("duty9", Some("7.7.7.7"), t0).is_ok());
    }
}
