//! Throttling of failed logins, against password guessing, that never locks a user out.
//!
//! A hard lock per account (N failures → refused for everyone for M minutes) hands a stranger
//! the power to take the police post's console offline during an incident, and a hard lock per
//! address does the same to a whole duty room behind one proxy. So nothing here refuses a
//! login outright; each *source* (client address) is made to wait, and the wait grows with
//! what that source did:
//!
//! - **source and account**: the first `free_per_pair` failures of one address on one username
//!   cost nothing, then each further attempt from it waits 1, 2, 4 … s after its last failure,
//!   at most `max_wait`;
//! - **account**: once a username has had `free_per_account` failures (from anywhere), every
//!   address that has itself failed on it waits after each of its failures (1, 2, 4 … s) — a
//!   guesser spread over many addresses is slowed too; an address that has not failed on the
//!   username is not, so the user typing the right password from their own console gets in
//!   whatever strangers did elsewhere;
//! - **address**: beyond `free_per_address` failures across usernames (password spraying), the
//!   address waits before each attempt. Behind a reverse proxy the address is the client's,
//!   taken from `X-Forwarded-For` when the proxy is trusted (`[http] trusted_proxies`).
//!
//! An attempt is counted when it is let through, before its password is verified, and checking
//! and counting happen under one lock: verifying is slow on purpose, so if the count waited for
//! the answer, a burst of parallel guesses would all pass the check before the first failure
//! was recorded. A success takes its attempt back and clears its source's count for the
//! username. Failures are forgotten after `forget_after`.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// How many failures cost nothing, and the longest wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub free_per_pair: u32,
    pub free_per_account: u32,
    pub free_per_address: u32,
    pub max_wait: Duration,
    pub forget_after: Duration,
}

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<Key, VecDeque<DateTime<Utc>>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// One address on one username.
    Pair(String, String),
    Account(String),
    Address(String),
}

/// An attempt let through and counted: hand it back with [`LoginThrottle::succeeded`] when
/// the password was right; otherwise it stays counted as a failure.
#[derive(Debug)]
#[must_use = "a successful login must hand its attempt back"]
pub struct Attempt {
    keys: Vec<Key>,
    at: DateTime<Utc>,
}

/// Beyond this many tracked keys, stale ones are dropped on the next attempt.
const PRUNE_ABOVE: usize = 10_000;

/// Failures kept per key.
const KEEP_PER_KEY: usize = 64;

/// The address of attempts whose address is unknown (in-process tests).
const NO_ADDRESS: &str = "-";

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, addr: Option<&str>) -> [Key; 3] {
        let user = username.trim().to_lowercase();
        let addr = addr.unwrap_or(NO_ADDRESS).to_string();
        [
            Key::Pair(addr.clone(), user.clone()),
            Key::Account(user),
            Key::Address(addr),
        ]
    }

    /// The map, even if a thread panicked holding it: the counts stay meaningful, and a
    /// throttle that panicked on every login would lock everyone out.
    fn map(&self) -> MutexGuard<'_, HashMap<Key, VecDeque<DateTime<Utc>>>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets an attempt through and counts it, or `Err(seconds to wait)` when this address must
    /// wait before trying this username again.
    pub fn begin(
        &self,
        username: &str,
        addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Attempt, i64> {
        let mut map = self.map();
        if map.len() > PRUNE_ABOVE {
            let forget = now - self.policy.forget_after;
            map.retain(|_, times| times.back().is_some_and(|t| *t > forget));
        }
        let keys = Self::keys(username, addr);
        let wait = self.wait(&mut map, &keys, now);
        if wait > 0 {
            return Err(wait);
        }
        for key in &keys {
            let times = map.entry(key.clone()).or_default();
            times.push_back(now);
            // Beyond this, more failures lengthen no wait (the cap is reached long before).
            if times.len() > KEEP_PER_KEY {
                times.pop_front();
            }
        }
        Ok(Attempt {
            keys: keys.to_vec(),
            at: now,
        })
    }

    /// The failures of `key` since it was last quiet for `forget_after`: how many, and the
    /// latest. (Not a sliding window: with one, a patient guesser's count would decay while
    /// it waits, and its waits would start over.)
    fn recent(
        &self,
        map: &mut HashMap<Key, VecDeque<DateTime<Utc>>>,
        key: &Key,
        now: DateTime<Utc>,
    ) -> (u32, Option<DateTime<Utc>>) {
        let Some(times) = map.get_mut(key) else {
            return (0, None);
        };
        if times
            .back()
            .is_some_and(|t| *t <= now - self.policy.forget_after)
        {
            map.remove(key);
            return (0, None);
        }
        (times.len() as u32, times.back().copied())
    }

    /// Seconds this attempt must still wait; 0 when it may go.
    fn wait(
        &self,
        map: &mut HashMap<Key, VecDeque<DateTime<Utc>>>,
        [pair, account, address]: &[Key; 3],
        now: DateTime<Utc>,
    ) -> i64 {
        let p = &self.policy;
        let (pair_n, pair_last) = self.recent(map, pair, now);
        let (account_n, _) = self.recent(map, account, now);
        let (address_n, address_last) = self.recent(map, address, now);
        // Each wait runs from this source's own latest failure.
        let mut waits = vec![];
        if let Some(last) = pair_last {
            let over = (pair_n + 1).saturating_sub(p.free_per_pair);
            // A username under attack: this source, having failed on it, loses its free tries.
            let over = if account_n >= p.free_per_account {
                over.max(pair_n)
            } else {
                over
            };
            waits.push((over, last));
        }
        if let Some(last) = address_last {
            waits.push(((address_n + 1).saturating_sub(p.free_per_address), last));
        }
        waits
            .into_iter()
            .filter(|(over, _)| *over > 0)
            .map(|(over, last)| {
                let ready = last + self.backoff(over);
                (ready - now).num_milliseconds()
            })
            .filter(|ms| *ms > 0)
            .map(|ms| (ms + 999) / 1000)
            .max()
            .unwrap_or(0)
    }

    /// 1 s for the first failure beyond the free ones, doubling, at most `max_wait`.
    fn backoff(&self, over: u32) -> Duration {
        let secs = 1i64 << over.saturating_sub(1).min(20);
        Duration::seconds(secs).min(self.policy.max_wait)
    }

    /// The password was right: the attempt is taken back everywhere, and the source's
    /// failures on this username are forgotten (it knows the password). The account's and the
    /// address's other failures stay: a stranger's guesses are not wiped by the user's login.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut map = self.map();
        for key in &attempt.keys {
            if matches!(key, Key::Pair(..)) {
                map.remove(key);
                continue;
            }
            if let Some(times) = map.get_mut(key) {
                if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                    times.remove(i);
                }
                if times.is_empty() {
                    map.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_per_pair: 3,
            free_per_account: 10,
            free_per_address: 20,
            max_wait: Duration::seconds(300),
            forget_after: Duration::minutes(15),
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_source_waits_longer_after_each_failure_never_more_than_the_cap() {
        let t = LoginThrottle::new(ThrottlePolicy {
            free_per_account: 1000,
            ..policy()
        });
        let mut now = t0();
        for _ in 0..3 {
            let _failed = t.begin("wang", Some("1.2.3.4"), now).unwrap();
        }
        let mut waits = vec![];
        for _ in 0..12 {
            let wait = t.begin("wang", Some("1.2.3.4"), now).unwrap_err();
            waits.push(wait);
            now += Duration::seconds(wait);
            let _failed = t.begin("wang", Some("1.2.3.4"), now).unwrap();
        }
        assert_eq!(
            waits,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300],
            "doubling, capped, and not forgotten while it keeps trying"
        );
    }

    #[test]
    fn a_strangers_failures_elsewhere_never_stop_the_users_own_address() {
        let t = LoginThrottle::new(policy());
        let mut now = t0();
        let mut slowed = 0;
        for _ in 0..100 {
            match t.begin("police", Some("6.6.6.6"), now) {
                Ok(_failed) => {}
                Err(wait) => {
                    slowed += 1;
                    now += Duration::seconds(wait);
                }
            }
        }
        assert!(slowed > 40, "the stranger was slowed {slowed} times");
        // The officer's console, which has not failed, goes straight in.
        t.succeeded(t.begin("police", Some("10.0.0.7"), now).unwrap());
        // A typo from the officer's console costs one second, not a lockout.
        let _typo = t.begin("police", Some("10.0.0.7"), now).unwrap();
        assert_eq!(t.begin("police", Some("10.0.0.7"), now).unwrap_err(), 1);
        let later = now + Duration::seconds(1);
        t.succeeded(t.begin("police", Some("10.0.0.7"), later).unwrap());
    }

    #[test]
    fn attempts_count_before_their_answer() {
        // Nothing is answered yet, and the fourth is already asked to wait.
        let t = LoginThrottle::new(policy());
        let pending: Vec<_> = (0..3).map(|_| t.begin("zhou", None, t0())).collect();
        assert!(pending.iter().all(Result::is_ok));
        assert_eq!(t.begin("zhou", None, t0()).unwrap_err(), 1);
    }

    #[test]
    fn spraying_from_one_address_slows_that_address_only() {
        let t = LoginThrottle::new(policy());
        for i in 0..20 {
            let _failed = t.begin(&format!("user{i}"), Some("9.9.9.9"), t0()).unwrap();
        }
        assert_eq!(t.begin("someone", Some("9.9.9.9"), t0()).unwrap_err(), 1);
        assert!(t.begin("someone", Some("8.8.8.8"), t0()).is_ok());
    }

    #[test]
    fn success_clears_the_sources_count_and_refunds_the_address() {
        let t = LoginThrottle::new(policy());
        for _ in 0..2 {
            let _failed = t.begin("zhao", None, t0()).unwrap();
        }
        t.succeeded(t.begin("zhao", None, t0()).unwrap());
        for _ in 0..3 {
            let _failed = t.begin("zhao", None, t0()).unwrap();
        }
        // Twenty-five colleagues logging in from one room use up none of its allowance.
        for i in 0..25 {
            t.succeeded(t.begin(&format!("duty{i}"), Some("7.7.7.7"), t0()).unwrap());
        }
        assert!(t.begin("duty99", Some("7.7.7.7"), t0()).is_ok());
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_while() {
        let t = LoginThrottle::new(policy());
        for _ in 0..3 {
            let _failed = t.begin("li", Some("1.1.1.1"), t0()).unwrap();
        }
        assert!(t.begin("li", Some("1.1.1.1"), t0()).is_err());
        let later = t0() + Duration::minutes(16);
        for _ in 0..3 {
            let _failed = t.begin("li", Some("1.1.1.1"), later).unwrap();
        }
    }
}
