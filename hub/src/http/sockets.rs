//! How many WebSockets one login may hold open.
//!
//! Every stream socket costs a hello (the open incidents, up to 1.5 MB with 1,000 of them) and
//! a task; every live socket a viewer and its buffers. A probe with one resident's login opened
//! 1,000 stream sockets and took the hub from 31 MB to 2.27 GB. A duty officer needs a wall, a
//! console and a few tabs, not thousands: past `[stream] max_sockets_per_user` (16) or
//! `[cameras] max_live_per_user` (64) a new socket is refused with 429 before the upgrade,
//! saying what to close.

use super::caller::Caller;
use super::error::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which kind of socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    Stream,
    Live,
}

/// Open sockets per login and kind.
#[derive(Debug, Default)]
pub struct Sockets {
    open: Mutex<HashMap<(SocketKind, String), usize>>,
}

/// A claimed place; dropping it (when the socket ends) gives it back.
#[derive(Debug)]
pub struct SocketSlot {
    sockets: Arc<Sockets>,
    key: (SocketKind, String),
}

impl Sockets {
    /// A place for one more socket of `kind` for `caller`, or a 429 naming the limit.
    pub fn claim(
        self: &Arc<Self>,
        kind: SocketKind,
        caller: &Caller,
        max: usize,
    ) -> Result<SocketSlot, ApiError> {
        let who = match caller {
            Caller::User(u) => format!("user:{}", u.id),
            Caller::Device(d) => format!("device:{}", d.id),
        };
        let key = (kind, who);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.clone()).or_default();
        if *n >= max {
            let what = match kind {
                SocketKind::Stream => "real-time streams",
                SocketKind::Live => "live videos",
            };
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_sockets",
                format!(
                    "this login already has {n} {what} open (at most {max}): close a tab or a \
                     wall first"
                ),
            ));
        }
        *n += 1;
        Ok(SocketSlot {
            sockets: self.clone(),
            key,
        })
    }

    /// Open sockets of `kind` for the login `who` (`user:<id>` or `device:<id>`).
    pub fn open(&self, kind: SocketKind, who: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&(kind, who.to_string())).copied().unwrap_or(0)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}
