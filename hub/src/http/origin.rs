//! Requests a browser makes for another site are refused.
//!
//! A page on any site can make the browser open a WebSocket to the hub, or send a "simple"
//! POST (a form, or `text/plain`), and the browser attaches the hub's session cookie. The
//! cookie's `SameSite=Strict` stops most of it, but not a sibling origin on the same site
//! (another service on `*.centre.local`), and not a WebSocket. So every request that a browser
//! could have sent with ambient credentials says where it comes from (`Origin`), and the hub
//! takes it only from itself or from `[http] allowed_origins`:
//!
//! * WebSocket upgrades (the stream, live video): always checked when an `Origin` is given;
//! * requests that change something (not GET, HEAD, OPTIONS) authenticated by the session
//!   cookie rather than a `Bearer` token (a token is never attached by the browser on its own).
//!
//! A request without `Origin` comes from a program (a panic button, curl, the tests), not from
//! a page on another site, and is let through: browsers always send it on upgrades and on
//! cross-origin POSTs.

use super::caller::SESSION_COOKIE;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The origins besides the hub's own that may use it from a browser, as
/// `scheme://host[:port]`, lower case.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Arc<Vec<String>>);

impl AllowedOrigins {
    pub fn new(origins: &[String]) -> Self {
        AllowedOrigins(Arc::new(
            origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        ))
    }

    /// Whether `origin` (an `Origin` header) may send this request: it names the host the
    /// request was sent to (the `Host`, or the `X-Forwarded-Host` a reverse proxy sets; a
    /// page cannot set either on a cross-origin request), or it is allowed by configuration.
    fn admits(&self, origin: &str, headers: &HeaderMap) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        if self.0.contains(&origin) {
            return true;
        }
        let Some((_, authority)) = origin.split_once("://") else {
            return false; // "null", or garbage
        };
        let host = |name| {
            headers.get(name).and_then(|v| v.to_str().ok()).map(|h| {
                h.split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
        };
        [host("x-forwarded-host"), host(header::HOST.as_str())]
            .into_iter()
            .flatten()
            .any(|h| !h.is_empty() && same_authority(authority, &h))
    }
}

/// `host:port` against `host[:port]`, where a missing port is the scheme's default: a page
/// served on port 80 or 443 sends its `Origin` without the port, while the `Host` may carry it.
fn same_authority(origin: &str, host: &str) -> bool {
    let strip_default = |a: &str| {
        a.strip_suffix(":80")
            .or_else(|| a.strip_suffix(":443"))
            .unwrap_or(a)
            .to_string()
    };
    origin == host || strip_default(origin) == strip_default(host)
}

/// Whether the browser could have attached credentials to this request by itself.
fn needs_check(req: &Request) -> bool {
    let h = req.headers();
    let upgrade = h
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return true;
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let bearer = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let cookie = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| {
            c.split(';')
                .any(|kv| kv.trim().starts_with(&format!("{SESSION_COOKIE}=")))
        });
    changes && cookie && !bearer
}

/// The middleware: a 403 with a JSON body for a request from another site.
pub async fn check(State(allowed): State<AllowedOrigins>, req: Request, next: Next) -> Response {
    if needs_check(&req) {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            if !allowed.admits(origin, req.headers()) {
                tracing::warn!(%origin, path = %req.uri().path(), "request from another site refused");
                return ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "origin_refused",
                    format!(
                        "requests from {origin} are not accepted: open the hub's own pages, or \
                         add the origin to [http] allowed_origins"
                    ),
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, forwarded: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(f) = forwarded {
            h.insert("x-forwarded-host", HeaderValue::from_str(f).unwrap());
        }
        h
    }

    #[test]
    fn the_hubs_own_pages_are_admitted() {
        let a = AllowedOrigins::default();
        assert!(a.admits("http://127.0.0.1:8080", &headers("127.0.0.1:8080", None)));
        assert!(a.admits(
            "https://hub.centre.local",
            &headers("hub.centre.local:443", None)
        ));
        assert!(a.admits(
            "https://hub.centre.local",
            &headers("10.0.0.2:8080", Some("hub.centre.local"))
        ));
    }

    #[test]
    fn other_sites_are_not() {
        let a = AllowedOrigins::default();
        let h = headers("hub.centre.local", None);
        assert!(!a.admits("https://evil.example", &h));
        assert!(
            !a.admits("https://printer.centre.local", &h),
            "a sibling on the same site"
        );
        assert!(!a.admits("null", &h));
        assert!(!a.admits("http://hub.centre.local:8081", &h));
    }

    #[test]
    fn configured_origins_are() {
        let a = AllowedOrigins::new(&["https://Wall.Centre.local/".into()]);
        assert!(a.admits(
            "https://wall.centre.local",
            &headers("hub.centre.local", None)
        ));
    }
}
