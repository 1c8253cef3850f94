//! Whether a video socket's client is still there, when nothing else would tell.
//!
//! A live socket learns of a vanished client from a write that does not complete; a paused
//! playback, or a relay whose worker is paused, writes nothing, and would hold its viewer's
//! slot and open files until the session expires. So the hub pings every quarter of
//! `[cameras] live_idle_seconds`, and a client not heard from (any frame: browsers answer a
//! ping with a pong) for that long is closed with 4008, as a live viewer that stops reading.

use super::stream::SLOW_CLIENT;
use axum::extract::ws::CloseFrame;
use std::time::Duration;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};

pub(crate) struct Heartbeat {
    ping: Interval,
    last_heard: Instant,
    idle: Duration,
}

/// What a tick of the heartbeat asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Send a ping.
    Ping,
    /// Nothing heard for the idle time: close.
    Silent,
}

impl Heartbeat {
    /// `idle`: how long a client may stay silent (at least 2 s, see `live_idle`).
    pub(crate) fn new(idle: Duration) -> Self {
        let every = (idle / 4).max(Duration::from_millis(100));
        let mut ping = interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            ping,
            last_heard: Instant::now(),
            idle,
        }
    }

    /// The client sent something.
    pub(crate) fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Waits for the next ping's time.
    pub(crate) async fn tick(&mut self) -> Beat {
        self.ping.tick().await;
        if self.last_heard.elapsed() >= self.idle {
            Beat::Silent
        } else {
            Beat::Ping
        }
    }
}

/// The close of a client that no longer answers pings ([`Beat::Silent`]).
pub(crate) fn silent() -> CloseFrame {
    CloseFrame {
        code: SLOW_CLIENT,
        reason: "no answer to pings".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pings_a_quarter_of_the_idle_time_and_gives_up_on_silence() {
        let mut h = Heartbeat::new(Duration::from_secs(8));
        let start = Instant::now();
        assert_eq!(h.tick().await, Beat::Ping);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        h.heard();
        for _ in 0..3 {
            assert_eq!(h.tick().await, Beat::Ping);
        }
        // 6 s since it was last heard at 2 s: one more ping, then silence.
        assert_eq!(start.elapsed(), Duration::from_secs(8));
        assert_eq!(h.tick().await, Beat::Silent);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }
}
