//! `[cameras]`: camera supervision, live view and camera-offline alerts.

use gridwatch_ingest::IngestConfig;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CamerasConfig {
    /// Seconds a camera may stay offline before a `camera_offline` incident is raised in its
    /// grid (once per outage); 0 never raises one.
    pub offline_incident_seconds: u64,
    /// The frame watchdog: milliseconds without a frame before a connected stream counts as
    /// stalled and is reconnected.
    pub stall_timeout_ms: u64,
    /// Milliseconds `DESCRIBE`+`SETUP`+`PLAY` may take together.
    pub connect_timeout_ms: u64,
    /// First reconnection delay in milliseconds; it doubles up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    /// Longest reconnection delay in milliseconds: a camera that comes back is online again
    /// within about this.
    pub backoff_max_ms: u64,
    /// Video messages queued per live viewer before a slow one skips to the next keyframe.
    pub viewer_queue: usize,
    /// Seconds between re-reading every camera from the database, which picks up changes made
    /// through other hub nodes (changes through this node apply at once).
    pub resync_seconds: u64,
    /// Seconds one snapshot may take to decode.
    pub snapshot_timeout_seconds: u64,
    /// Threads of their own that carry camera sessions and live viewers, cameras spread over
    /// them in turn; 0 runs video on the main runtime. One relays a few hundred 1080p streams.
    pub video_threads: usize,
    /// Milliseconds a video thread lets events gather before it wakes again: one wake-up then
    /// serves every camera whose frames came meanwhile. It is the most delay this adds to a
    /// frame; 0 wakes for every event (more CPU per stream).
    pub wake_batch_ms: u64,
    /// Seconds a live viewer may go without answering the hub's pings (a WebSocket pong,
    /// which a browser sends only once it has read every frame before the ping) before it is
    /// closed with 4008: a viewer that stopped reading would otherwise hold its buffers for
    /// as long as the kernel's socket buffers take to fill. Pings go every quarter of it.
    pub live_idle_seconds: u64,
    /// Live video sockets one login may hold open (a 16-tile wall in two tabs is 32); more
    /// are refused with 429.
    pub max_live_per_user: usize,
}

impl Default for CamerasConfig {
    fn default() -> Self {
        CamerasConfig {
            offline_incident_seconds: 60,
            stall_timeout_ms: 5_000,
            connect_timeout_ms: 10_000,
            backoff_initial_ms: 500,
            backoff_max_ms: 5_000,
            viewer_queue: 64,
            resync_seconds: 30,
            snapshot_timeout_seconds: 5,
            video_threads: 1,
            wake_batch_ms: 5,
            live_idle_seconds: 20,
            max_live_per_user: 64,
        }
    }
}

impl CamerasConfig {
    /// The ingest's settings; values too small to work are raised to the least that does.
    pub fn ingest(&self) -> IngestConfig {
        let ms = |v: u64, least: u64| Duration::from_millis(v.max(least));
        let backoff_initial = ms(self.backoff_initial_ms, 50);
        IngestConfig {
            connect_timeout: ms(self.connect_timeout_ms, 500),
            stall_timeout: ms(self.stall_timeout_ms, 200),
            backoff_initial,
            backoff_max: ms(self.backoff_max_ms, 50).max(backoff_initial),
            viewer_queue: self.viewer_queue.max(2),
            video_threads: self.video_threads,
            wake_batch: Duration::from_millis(self.wake_batch_ms.min(100)),
            ..IngestConfig::default()
        }
    }

    /// How long an outage lasts before it is an incident; `None` for never.
    pub fn offline_incident_after(&self) -> Option<Duration> {
        (self.offline_incident_seconds > 0)
            .then(|| Duration::from_secs(self.offline_incident_seconds))
    }

    pub fn resync_every(&self) -> Duration {
        Duration::from_secs(self.resync_seconds.max(1))
    }

    /// How long a live viewer may stay silent; at least 2 s.
    pub fn live_idle(&self) -> Duration {
        Duration::from_secs(self.live_idle_seconds.max(2))
    }

    pub fn snapshot_timeout(&self) -> Duration {
        Duration::from_secs(self.snapshot_timeout_seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_ingests_and_small_values_are_raised() {
        let c = CamerasConfig::default();
        assert_eq!(c.ingest(), IngestConfig::default());
        assert_eq!(c.offline_incident_after(), Some(Duration::from_secs(60)));
        let tiny = CamerasConfig {
            stall_timeout_ms: 0,
            backoff_initial_ms: 0,
            backoff_max_ms: 0,
            viewer_queue: 0,
            offline_incident_seconds: 0,
            ..CamerasConfig::default()
        };
        let i = tiny.ingest();
        assert!(i.stall_timeout >= Duration::from_millis(200));
        assert!(i.backoff_max >= i.backoff_initial && !i.backoff_initial.is_zero());
        assert_eq!(i.viewer_queue, 2);
        assert_eq!(tiny.offline_incident_after(), None);
    }
}
