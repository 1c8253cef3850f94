//! Accepting connections so that nobody can starve the hub of them.
//!
//! `axum::serve` gives a connection all the time it likes to send its request head, and takes
//! every connection the kernel hands it. A probe opened 21,000 connections sending a byte a
//! second: the hub reached its file limit and refused everything, `/healthz` and SOS included,
//! for over a minute. Here every connection is accepted under three rules:
//!
//! * **Head timeout.** A request head must arrive within `[http] header_read_timeout_seconds`
//!   (10), from the moment a connection is accepted (one that sends nothing included) and on
//!   idle keep-alive connections; then the connection is closed. HTTP/1.1 only (see
//!   [`builder`]).
//! * **A total cap** below the file limit (`[http] max_connections`, 0 = the file limit less
//!   room for the database, cameras and recordings). At the cap a new connection gets a 503 and
//!   is closed at once.
//! * **Room kept for calls for help.** The last `RESERVED` connections under the cap, and every
//!   connection beyond `[http] max_connections_per_address` from one address (trusted proxies
//!   excepted), are *reserve* connections: they serve only `/healthz`, `/readyz` and
//!   `/api/v1/sos`, without keep-alive and with a 2 s head timeout. One address's flood then
//!   costs it its own connections, not a resident's SOS from the same network.
//!
//! WebSockets are counted while they are open (an upgraded connection keeps its slot).

use super::client_addr::Network;
use super::unparsable::ExplainParseErrors;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Connections under the cap kept for the paths a call for help needs.
pub const RESERVED: usize = 64;

/// The head timeout of a reserve connection.
const RESERVE_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Paths a reserve connection serves.
fn is_reserved_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/api/v1/sos")
}

/// The rules, as configured.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
    /// Addresses not held to `max_per_address` (reverse proxies carry many clients).
    pub exempt: Vec<Network>,
}

/// What happens to a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Normal,
    Reserve,
    Refused,
}

/// Open connections, in all and per address.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// The connection table; a [`Slot`] gives its place back when dropped.
#[derive(Debug, Clone)]
struct Table {
    limits: Arc<Limits>,
    counts: Arc<Mutex<Counts>>,
}

struct Slot {
    table: Table,
    ip: IpAddr,
}

impl Table {
    fn admit(&self, ip: IpAddr) -> (Admission, Option<Slot>) {
        let l = &self.limits;
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= l.max_connections {
            return (Admission::Refused, None);
        }
        let mine = c.by_address.get(&ip).copied().unwrap_or(0);
        let exempt = l.exempt.iter().any(|n| n.contains(ip));
        let admission = if c.total >= l.max_connections.saturating_sub(RESERVED)
            || (!exempt && mine >= l.max_per_address)
        {
            Admission::Reserve
        } else {
            Admission::Normal
        };
        c.total += 1;
        *c.by_address.entry(ip).or_default() += 1;
        let slot = Slot {
            table: self.clone(),
            ip,
        };
        (admission, Some(slot))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&self.ip);
            }
        }
    }
}

/// The file limit: raised to its hard maximum, as servers do (systemd's `LimitNOFILE` sets
/// both), and returned.
pub fn raise_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    Some(lim.rlim_cur)
}

/// `max_connections` when configured as 0: the file limit less what the database, cameras,
/// recordings and the reserve need.
pub fn automatic_max_connections(file_limit: Option<u64>) -> usize {
    let files = file_limit.unwrap_or(1024).min(1 << 20) as usize;
    files.saturating_sub(256).max(RESERVED * 2)
}

/// Serves `app` on `listener` under `limits` until `shutdown`, then waits for the requests
/// under way (as `axum::serve`'s graceful shutdown does).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    refused: prometheus::IntCounterVec,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Table {
        limits: Arc::new(limits),
        counts: Arc::default(),
    };
    // Every connection's task, and the word to finish: at shutdown each ends after the
    // request it is serving (hyper's graceful shutdown), and `serve` waits for all of them.
    let tasks = TaskTracker::new();
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of files or memory: wait rather than spin; what is open goes on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Alerts and video are many small writes: without TCP_NODELAY, Nagle holds the second
        // of two back-to-back messages until the first is acknowledged (up to 40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
        let (admission, slot) = table.admit(peer.ip().to_canonical());
        match admission {
            Admission::Refused => {
                refused.with_label_values(&["full"]).inc();
                refuse(tcp);
                continue;
            }
            Admission::Reserve => refused.with_label_values(&["reserve_only"]).inc(),
            Admission::Normal => {}
        }
        let builder = builder(&table.limits, admission);
        let head_timeout = head_timeout(&table.limits, admission);
        let app = app.clone();
        let began = Arc::new(AtomicBool::new(false));
        let began_in_service = began.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                began_in_service.store(true, Ordering::Relaxed);
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    if admission == Admission::Reserve && !is_reserved_path(req.uri().path()) {
                        return Ok(busy());
                    }
                    app.oneshot(req.map(axum::body::Body::new)).await
                }
            });
        let conn = builder
            .serve_connection(TokioIo::new(ExplainParseErrors::new(tcp)), service)
            .with_upgrades();
        let mut stop = stop.clone();
        tasks.spawn(async move {
            tokio::pin!(conn);
            // A connection with no request begun by the head timeout is dropped (closed),
            // whatever the HTTP layer's own timers do: the HTTP/1-or-2 detection used before
            // waited for a first byte with none, and a silent connection held its slot.
            let first_request = tokio::time::sleep(head_timeout);
            tokio::pin!(first_request);
            let (mut awaiting_first, mut finishing) = (true, false);
            let ended = loop {
                tokio::select! {
                    ended = &mut conn => break ended,
                    // (Whether a request began is asked when the time comes: a guard is read
                    // only when the select starts, and a first request may last longer.)
                    _ = &mut first_request, if awaiting_first => {
                        if began.load(Ordering::Relaxed) {
                            awaiting_first = false;
                            continue;
                        }
                        tracing::debug!(%peer, "connection closed: no request within the head timeout");
                        break Ok(());
                    }
                    _ = stop.wait_for(|s| *s), if !finishing => {
                        finishing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// HTTP/1.1 only. Browsers speak HTTP/2 only over TLS, which a proxy in front ends; HTTP/2 in
/// clear (prior knowledge) has no head timeout, so an idle one would hold its slot for ever
/// (and telling the two apart waited for the first bytes without a timeout).
fn builder(limits: &Limits, admission: Admission) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(head_timeout(limits, admission))
        .keep_alive(admission != Admission::Reserve);
    b
}

/// How long a connection has for its (next) request head.
fn head_timeout(limits: &Limits, admission: Admission) -> Duration {
    match admission {
        Admission::Reserve => RESERVE_HEAD_TIMEOUT.min(limits.header_read_timeout),
        _ => limits.header_read_timeout,
    }
}

const BUSY: &str = r#"{"error":{"code":"busy","message":"the hub is at its connection limit for this address: only /healthz and /api/v1/sos are served on this connection; retry shortly"}}"#;

fn busy() -> axum::response::Response {
    axum::response::Response::builder()
        .status(503)
        .header("content-type", "application/json")
        .header("retry-after", "1")
        .header("connection", "close")
        .body(axum::body::Body::from(BUSY))
        .expect("a static response")
}

const FULL: &str =
    r#"{"error":{"code":"busy","message":"the hub is at its connection limit; retry shortly"}}"#;

/// A 503 written without waiting (the kernel's buffer takes it), then the connection closed.
fn refuse(tcp: TcpStream) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{FULL}",
        FULL.len()
    );
    let _ = tcp.try_write(response.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max: usize, per_address: usize, exempt: &[&str]) -> Table {
        Table {
            limits: Arc::new(Limits {
                header_read_timeout: Duration::from_secs(10),
                max_connections: max,
                max_per_address: per_address,
                exempt: exempt.iter().filter_map(|n| Network::parse(n)).collect(),
            }),
            counts: Arc::default(),
        }
    }

    #[test]
    fn the_answers_are_json() {
        for body in [FULL, BUSY] {
            assert!(
                serde_json::from_str::<serde_json::Value>(body).is_ok(),
                "{body}"
            );
        }
    }

    #[test]
    fn one_address_beyond_its_share_gets_reserve_connections() {
        let t = table(1000, 2, &[]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = t.admit(a);
        let s2 = t.admit(a);
        assert_eq!((s1.0, s2.0), (Admission::Normal, Admission::Normal));
        let s3 = t.admit(a);
        assert_eq!(s3.0, Admission::Reserve);
        assert_eq!(
            t.admit(b).0,
            Admission::Normal,
            "another address is not held up"
        );
        drop((s1, s3));
        assert_eq!(
            t.admit(a).0,
            Admission::Normal,
            "a closed slot is given back"
        );
    }

    #[test]
    fn the_cap_keeps_its_reserve_and_then_refuses() {
        let t = table(RESERVED + 3, 10_000, &[]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut held = vec![];
        for _ in 0..3 {
            let s = t.admit(ip);
            assert_eq!(s.0, Admission::Normal);
            held.push(s);
        }
        for _ in 0..RESERVED {
            let s = t.admit(ip);
            assert_eq!(s.0, Admission::Reserve);
            held.push(s);
        }
        let (refused, slot) = t.admit(ip);
        assert_eq!(refused, Admission::Refused);
        assert!(slot.is_none());
    }

    #[test]
    fn proxies_are_not_held_to_one_addresss_share() {
        let t = table(1000, 1, &["127.0.0.1"]);
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..5).map(|_| t.admit(proxy)).collect();
        assert!(held.iter().all(|s| s.0 == Admission::Normal));
    }

    #[test]
    fn the_automatic_cap_stays_below_the_file_limit() {
        assert_eq!(automatic_max_connections(Some(65536)), 65280);
        assert_eq!(automatic_max_connections(Some(1024)), 768);
        assert_eq!(automatic_max_connections(Some(100)), RESERVED * 2);
    }
}
