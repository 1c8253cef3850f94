//! Pacing recorded video at real time (or 2×, 4×) for playback over the live path.
//!
//! The player's position moves with the wall clock times the speed; a frame is sent when its
//! media time is due, a little ahead ([`Pace::lead`]) so the player's buffer never runs dry at
//! a boundary. Speed changes and pauses re-anchor at the position reached, so nothing jumps.
//! The wall clock is the caller's (`Instant`s passed in), so tests need no sleeping.

use std::time::{Duration, Instant};

/// Media ticks per second (the fMP4 timescale, 90 kHz).
pub const TICKS_PER_SECOND: u64 = 90_000;

/// The speeds a player may ask for.
pub const SPEEDS: [u32; 3] = [1, 2, 4];

#[derive(Debug, Clone)]
pub struct Pace {
    anchor_wall: Instant,
    anchor_media: u64,
    speed: u32,
    paused: bool,
    /// How far ahead of the player's position frames are sent, in wall time.
    pub lead: Duration,
}

impl Pace {
    /// A player at media time `media` at `now`, at 1×.
    pub fn new(now: Instant, media: u64, lead: Duration) -> Pace {
        Pace {
            anchor_wall: now,
            anchor_media: media,
            speed: 1,
            paused: false,
            lead,
        }
    }

    pub fn speed(&self) -> u32 {
        self.speed
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The player's media position at `now`.
    pub fn position(&self, now: Instant) -> u64 {
        if self.paused {
            return self.anchor_media;
        }
        let wall = now.saturating_duration_since(self.anchor_wall);
        let ticks =
            wall.as_nanos() * u128::from(self.speed) * u128::from(TICKS_PER_SECOND) / 1_000_000_000;
        self.anchor_media
            .saturating_add(u64::try_from(ticks).unwrap_or(u64::MAX))
    }

    /// When the frame at media time `media` is to be sent; `None` while paused.
    pub fn due(&self, media: u64) -> Option<Instant> {
        if self.paused {
            return None;
        }
        let ahead = media.saturating_sub(self.anchor_media);
        let wall = Duration::from_nanos(
            u64::try_from(
                u128::from(ahead) * 1_000_000_000
                    / (u128::from(TICKS_PER_SECOND) * u128::from(self.speed)),
            )
            .unwrap_or(u64::MAX),
        );
        Some(
            (self.anchor_wall + wall)
                .checked_sub(self.lead)
                .unwrap_or(self.anchor_wall),
        )
    }

    /// Plays at `speed` (one of [`SPEEDS`]) from the position reached; `false` for any other.
    pub fn set_speed(&mut self, now: Instant, speed: u32) -> bool {
        if !SPEEDS.contains(&speed) {
            return false;
        }
        self.reanchor(now);
        self.speed = speed;
        true
    }

    pub fn pause(&mut self, now: Instant) {
        self.reanchor(now);
        self.paused = true;
    }

    pub fn resume(&mut self, now: Instant) {
        if self.paused {
            self.paused = false;
            self.anchor_wall = now;
        }
    }

    fn reanchor(&mut self, now: Instant) {
        self.anchor_media = self.position(now);
        self.anchor_wall = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = TICKS_PER_SECOND;

    #[test]
    fn frames_are_due_with_the_wall_clock_times_the_speed() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0, 0, Duration::from_millis(500));
        assert_eq!(pace.due(0), Some(t0 - Duration::from_millis(500)));
        assert_eq!(pace.due(2 * S), Some(t0 + Duration::from_millis(1500)));
        assert_eq!(pace.position(t0 + Duration::from_secs(3)), 3 * S);
        // 4× from second 2 on: media second 10 is due 2 s later, less the lead.
        assert!(pace.set_speed(t0 + Duration::from_secs(2), 4));
        assert_eq!(pace.position(t0 + Duration::from_secs(3)), 6 * S);
        assert_eq!(
            pace.due(10 * S),
            Some(t0 + Duration::from_millis(3500)),
            "2 s + 8 s / 4 - 0.5 s"
        );
        assert!(!pace.set_speed(t0, 3));
        assert_eq!(pace.speed(), 4);
    }

    #[test]
    fn a_pause_holds_the_position_and_a_resume_goes_on_from_it() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0, 5 * S, Duration::ZERO);
        pace.pause(t0 + Duration::from_secs(1));
        assert!(pace.paused());
        assert_eq!(pace.due(7 * S), None);
        assert_eq!(pace.position(t0 + Duration::from_secs(60)), 6 * S);
        pace.resume(t0 + Duration::from_secs(60));
        assert_eq!(pace.position(t0 + Duration::from_secs(61)), 7 * S);
        assert_eq!(pace.due(8 * S), Some(t0 + Duration::from_secs(62)));
    }
}
