//! `[http]` and `[auth]`: the HTTP edge's limits, origins and proxies, and how logins last
//! and are throttled.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Mark session cookies `Secure` (set when the hub is served over HTTPS).
    pub secure_cookies: bool,
    /// Seconds a request may take before it is answered 503 (WebSockets excepted).
    pub request_timeout_seconds: u64,
    /// Reverse proxies (addresses, or networks as `10.0.0.0/8`) whose `X-Forwarded-For` is
    /// believed: behind one, every client would otherwise have the proxy's address, and the
    /// login throttle would slow the whole duty room for one stranger's guesses.
    pub trusted_proxies: Vec<String>,
    /// Origins (`https://wall.centre.local`) besides the hub's own whose pages may open its
    /// WebSockets and send it cookie-authenticated changes; any other site is refused 403
    /// (see `http::origin`). Empty: the hub's own pages only.
    pub allowed_origins: Vec<String>,
    /// Seconds a connection may take to send a request head (idle keep-alive included)
    /// before it is closed: a client trickling bytes cannot hold a connection for ever.
    pub header_read_timeout_seconds: u64,
    /// Most connections open at once; 0 (the default) is the file limit less room for the
    /// database, cameras and recordings. The last 64 under it serve only `/healthz`,
    /// `/readyz` and `/api/v1/sos`; beyond it a connection is answered 503 and closed.
    pub max_connections: usize,
    /// Connections one address may hold before its further ones serve only `/healthz`,
    /// `/readyz` and `/api/v1/sos` (trusted proxies are not held to it).
    pub max_connections_per_address: usize,
    /// When set, `/metrics` answers only `Authorization: Bearer <metrics_token>` (Prometheus'
    /// `authorization.credentials`); empty (the default) leaves it open, as scrapers expect on
    /// a closed network. The numbers say how busy the centre is and which cameras are down.
    pub metrics_token: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 64 * 1024,
            secure_cookies: false,
            request_timeout_seconds: 30,
            trusted_proxies: vec![],
            allowed_origins: vec![],
            header_read_timeout_seconds: 10,
            max_connections: 0,
            max_connections_per_address: 256,
            metrics_token: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a login lasts, in hours.
    pub session_hours: u32,
    /// Failed logins from one address for one username before that address must wait
    /// (429 "try again in N s", 1 s then doubling). Nobody else is slowed by them.
    pub max_failed_logins: u32,
    /// Failed logins for one username from anywhere before every address that failed on it
    /// waits after each of its failures. Addresses that did not fail on it are never slowed:
    /// a stranger cannot lock a user out.
    pub max_failed_logins_per_user: u32,
    /// Failed logins from one address across usernames before it waits before each attempt.
    pub max_failed_logins_per_address: u32,
    /// The longest wait, in seconds.
    pub max_backoff_seconds: u64,
    /// Failed logins older than this are forgotten, in seconds.
    pub forget_failed_logins_seconds: u64,
    /// Seconds between re-checks of the session an open WebSocket (the stream, live video) was
    /// opened with: after a logout, or once its user is deleted or given another role or post,
    /// the socket is closed (1008) within this. At least 1.
    pub session_check_seconds: u64,
    /// No longer used: accounts are never locked (a stranger could lock a post out of its
    /// console). Still accepted so that an older file loads; the hub warns that it is ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_seconds: Option<u64>,
}

impl AuthConfig {
    /// The login throttle's rules.
    pub fn throttle(&self) -> crate::throttle::ThrottlePolicy {
        let secs = |s: u64| chrono::Duration::seconds(s.min(i64::MAX as u64 / 1000) as i64);
        crate::throttle::ThrottlePolicy {
            free_per_pair: self.max_failed_logins.max(1),
            free_per_account: self.max_failed_logins_per_user.max(1),
            free_per_address: self.max_failed_logins_per_address.max(1),
            max_wait: secs(self.max_backoff_seconds.max(1)),
            forget_after: secs(self.forget_failed_logins_seconds.max(1)),
        }
    }

    /// How often an open WebSocket re-checks its session.
    pub fn session_check_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.session_check_seconds.max(1))
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_hours: 12,
            max_failed_logins: 5,
            max_failed_logins_per_user: 10,
            max_failed_logins_per_address: 20,
            max_backoff_seconds: 300,
            forget_failed_logins_seconds: 900,
            session_check_seconds: 10,
            lockout_seconds: None,
        }
    }
}
