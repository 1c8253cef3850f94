//! `[stream]`: the real-time stream's connection health, queues and bus.

use serde::{Deserialize, Serialize};

/// How committed events reach the consoles of *other* hub nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// One hub process: events go from the committing request straight to its consoles.
    Local,
    /// Several hub nodes on one PostgreSQL database: every node publishes the events it
    /// commits to NATS JetStream and delivers what the others publish.
    Nats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Seconds between WebSocket pings to each client (answered by any WebSocket library,
    /// unseen by pages, which send their own `ping` every [`StreamConfig::heartbeat_seconds`]).
    pub ping_seconds: u64,
    /// A client that has sent nothing (not a pong, not a `ping`) for this many seconds is
    /// dropped, and a console's post goes offline: a Wi-Fi or NAT drop leaves the socket
    /// half-open, and a dispatch to a console that is not there must be known at once.
    pub idle_seconds: u64,
    /// Events a client may have waiting before it is closed with 4008 (it then resumes with
    /// `since`): a console that cannot keep up must not make the hub buffer without bound.
    pub client_queue: usize,
    /// Seconds a write to one client may block before the client is closed with 4008.
    pub write_timeout_seconds: u64,
    /// A `since` further back than this many events gets `resync` and a fresh hello instead
    /// of a replay.
    pub replay_max_events: i64,
    /// Stream sockets one login may hold open; more are refused with 429 (a wall, a console
    /// and a few tabs need far fewer).
    pub max_sockets_per_user: usize,
    /// `local` (one process) or `nats` (several nodes).
    pub bus: BusKind,
    /// The NATS server, for `bus = "nats"`.
    pub nats_url: String,
    /// The JetStream stream the nodes share, for `bus = "nats"`.
    pub nats_stream: String,
}

impl StreamConfig {
    /// How often a page sends its `ping` (told in the hello): four times per `idle_seconds`,
    /// at most every 3 s, so that the page, hearing a `pong` each time, knows within 10 s
    /// when its socket is dead.
    pub fn heartbeat_seconds(&self) -> u64 {
        (self.idle_seconds / 4).clamp(1, 3)
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            ping_seconds: 5,
            idle_seconds: 12,
            client_queue: 1024,
            write_timeout_seconds: 10,
            replay_max_events: 10_000,
            max_sockets_per_user: 16,
            bus: BusKind::Local,
            nats_url: "nats://127.0.0.1:4222".into(),
            nats_stream: "GRIDWATCH_EVENTS".into(),
        }
    }
}
