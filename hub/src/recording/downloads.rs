//! Which downloads of recorded video go on the record, and how many one person may make.
//!
//! Every download is an audit event (who, when, which video) written under the event log's
//! lock and, for an evidence clip, onto its incident's timeline. A browser's player does not
//! download a clip once: it asks for byte ranges, one at the start and another at every seek.
//! Recording each range filled an incident's timeline with the same entry, and a duty officer
//! scrubbing through three clips ran into the per-minute allowance in the middle of watching.
//!
//! So a request for *part* of a video (a `Range` request: what players send) by a person who
//! has an access to that video recorded in the last [`ACCESS_WINDOW`] is part of that access:
//! served, not recorded again, counted only against a far larger [`COVERED_PER_MINUTE`]. A
//! request for the *whole* file (a save, `curl`, `bytes=0-`) is always recorded, and so is the
//! first part a person asks for; the caller keys the video with where the request came from,
//! so the same account on another device is recorded again. Recorded downloads count against
//! [`DOWNLOADS_PER_MINUTE`].
//!
//! This is kept per node, in memory: another node, or a restart, records the next range once
//! more (one event too many, never one too few).

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Recorded video downloads one person may make in a minute. A person saving footage makes a
/// few; a loop of them (each an event under the log's lock and on a timeline) must not go on.
pub const DOWNLOADS_PER_MINUTE: usize = 60;

/// Ranges one person may be served in a minute under accesses already recorded: many more
/// than a player seeking asks, few enough that a loop of them cannot hold the disks and, for
/// `recordings.mp4`, the clip builder.
pub const COVERED_PER_MINUTE: usize = 600;

/// How long a recorded access covers the same person's ranges of the same video. Not renewed
/// by them: a long viewing is recorded again every window, so the timeline shows it went on.
pub const ACCESS_WINDOW: Duration = Duration::minutes(10);

/// What to do with a download request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// A range of a video this person's access recorded at most [`ACCESS_WINDOW`] ago: serve it.
    Covered,
    /// Record it, then serve it (and call [`Downloads::recorded`]).
    Record,
    /// Over the allowance: refuse it; the seconds until one more is allowed.
    Refused { retry_after: i64 },
}

/// The recent downloads on this node: per person, the recorded ones' times (the allowance),
/// and per person and video, when its access was recorded.
#[derive(Default)]
pub struct Downloads {
    inner: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    by_person: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// The ranges served under recorded accesses, per person, in the last minute.
    covered: HashMap<String, VecDeque<DateTime<Utc>>>,
    accesses: HashMap<(String, String), DateTime<Utc>>,
}

/// Counts one more at `now` in `times` (the last minute's), or the seconds until one is
/// allowed when `max` are there.
fn count(times: &mut VecDeque<DateTime<Utc>>, max: usize, now: DateTime<Utc>) -> Result<(), i64> {
    let start = now - Duration::minutes(1);
    if let (true, Some(oldest)) = (times.len() >= max, times.front()) {
        let wait = (*oldest - start).num_milliseconds();
        return Err((wait + 999) / 1000);
    }
    times.push_back(now);
    Ok(())
}

impl Downloads {
    /// Judges a request by `who` for `video` (any key naming the bytes: a clip's ID, a camera's
    /// time range) at `now`; `part`: it asks for a byte range, not the whole file. A request
    /// judged [`Admit::Record`] has taken one of the person's allowance.
    pub fn admit(&self, who: &str, video: &str, part: bool, now: DateTime<Utc>) -> Admit {
        let mut recent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        recent.forget_before(now);
        let key = (who.to_string(), video.to_string());
        let (times, max, judged) =
            match part && recent.accesses.get(&key).is_some_and(|at| *at <= now) {
                true => (&mut recent.covered, COVERED_PER_MINUTE, Admit::Covered),
                false => (&mut recent.by_person, DOWNLOADS_PER_MINUTE, Admit::Record),
            };
        match count(times.entry(who.to_string()).or_default(), max, now) {
            Ok(()) => judged,
            Err(retry_after) => Admit::Refused { retry_after },
        }
    }

    /// Whether a whole download by `who` at `now` would be refused (the seconds to wait), without
    /// counting it: for a download that costs much to prepare (an evidence package is read
    /// and checked before it is admitted), so that one over the allowance costs nothing.
    pub fn would_refuse(&self, who: &str, now: DateTime<Utc>) -> Option<i64> {
        let mut recent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        recent.forget_before(now);
        let mut times = recent.by_person.get(who).cloned().unwrap_or_default();
        count(&mut times, DOWNLOADS_PER_MINUTE, now).err()
    }

    /// `who`'s download of `video` was recorded at `now`: their ranges of it are covered for
    /// the next [`ACCESS_WINDOW`]. Called only once the event is in the log, so a download
    /// whose audit failed covers nothing.
    pub fn recorded(&self, who: &str, video: &str, now: DateTime<Utc>) {
        let mut recent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .accesses
            .insert((who.to_string(), video.to_string()), now);
    }
}

impl Recent {
    /// Drops what no longer matters at `now`: downloads over a minute old, people with none
    /// left, accesses older than the window. Keeps the maps as small as the last minutes' use.
    fn forget_before(&mut self, now: DateTime<Utc>) {
        let minute_ago = now - Duration::minutes(1);
        for people in [&mut self.by_person, &mut self.covered] {
            people.retain(|_, times| {
                while times.front().is_some_and(|t| *t <= minute_ago) {
                    times.pop_front();
                }
                !times.is_empty()
            });
        }
        let window_start = now - ACCESS_WINDOW;
        self.accesses.retain(|_, at| *at > window_start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-12-07T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_person_gets_sixty_recorded_downloads_a_minute_and_is_told_how_long_to_wait() {
        let d = Downloads::default();
        for n in 0..DOWNLOADS_PER_MINUTE as i64 {
            let at = t0() + Duration::milliseconds(n * 100);
            assert_eq!(d.admit("user:a", "clip-1", false, at), Admit::Record);
        }
        // The 61st, 10 s after the first: until the first is a minute old.
        let at = t0() + Duration::seconds(10);
        let refused = Admit::Refused { retry_after: 50 };
        assert_eq!(d.admit("user:a", "clip-1", false, at), refused);
        // Someone else is not held by it.
        assert_eq!(d.admit("user:b", "clip-1", false, at), Admit::Record);
        // A minute after the first, one more.
        let later = t0() + Duration::milliseconds(60_001);
        assert_eq!(d.admit("user:a", "clip-1", false, later), Admit::Record);
        // After a quiet minute, both are forgotten.
        d.admit("user:c", "clip-1", false, t0() + Duration::minutes(3));
        assert_eq!(d.inner.lock().unwrap().by_person.len(), 1);
    }

    #[test]
    fn a_players_ranges_after_a_recorded_access_are_covered_for_the_window() {
        let d = Downloads::default();
        // The first range is recorded; until it is, the next is not covered.
        assert_eq!(d.admit("user:a", "clip-1", true, t0()), Admit::Record);
        assert_eq!(d.admit("user:a", "clip-1", true, t0()), Admit::Record);
        d.recorded("user:a", "clip-1", t0());
        // Five hundred seeks in the next 50 s: served, none recorded, none counted.
        for n in 0..500 {
            let at = t0() + Duration::milliseconds(n * 100);
            assert_eq!(d.admit("user:a", "clip-1", true, at), Admit::Covered);
        }
        assert_eq!(d.inner.lock().unwrap().by_person["user:a"].len(), 2);
        // They have a cap of their own, far above a player's: 600 a minute.
        let busy = Downloads::default();
        busy.recorded("user:a", "clip-1", t0());
        for n in 0..COVERED_PER_MINUTE as i64 {
            let at = t0() + Duration::milliseconds(n);
            assert_eq!(busy.admit("user:a", "clip-1", true, at), Admit::Covered);
        }
        let at = t0() + Duration::seconds(1);
        let refused = busy.admit("user:a", "clip-1", true, at);
        assert_eq!(refused, Admit::Refused { retry_after: 59 });
        // Ranges go on being covered after the minute, for the whole window.
        let later = t0() + ACCESS_WINDOW - Duration::milliseconds(1);
        assert_eq!(d.admit("user:a", "clip-1", true, later), Admit::Covered);
        // The whole file is a save: always recorded.
        let at = t0() + Duration::minutes(1);
        assert_eq!(d.admit("user:a", "clip-1", false, at), Admit::Record);
        // Another clip, another person: their own accesses.
        assert_eq!(d.admit("user:a", "clip-2", true, at), Admit::Record);
        assert_eq!(d.admit("user:b", "clip-1", true, at), Admit::Record);
        // The window is not renewed by what it covers: at its end, recorded again.
        let end = t0() + ACCESS_WINDOW;
        assert_eq!(d.admit("user:a", "clip-1", true, end), Admit::Record);
    }

    #[test]
    fn an_access_recorded_in_the_future_of_a_request_does_not_cover_it() {
        // A clock stepped back (the hub's clock is injected): nothing is covered before it
        // was recorded.
        let d = Downloads::default();
        d.recorded("user:a", "clip-1", t0());
        let before = t0() - Duration::seconds(5);
        assert_eq!(d.admit("user:a", "clip-1", true, before), Admit::Record);
    }
}
