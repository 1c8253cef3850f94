//! Hubs and workers show each other the shared secret (`[ingest] secret`) in a header.
//!
//! Compared as SHA-256 digests, byte by byte without stopping at the first difference: the
//! time taken says nothing of how much of the secret matched, nor of its length.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2_011::{Digest, Sha256};
use std::sync::Arc;

/// The header carrying the secret.
pub const SECRET_HEADER: &str = "x-gridwatch-worker-secret";

/// The secret's digest, made once.
#[derive(Clone)]
pub struct SharedSecret(Arc<[u8; 32]>);

impl SharedSecret {
    pub fn new(secret: &str) -> SharedSecret {
        SharedSecret(Arc::new(Sha256::digest(secret.as_bytes()).into()))
    }

    /// Whether `given` is the secret, in a time that does not depend on where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        let differ = self
            .0
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        differ == 0
    }

    /// Whether the request's headers carry the secret.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(SECRET_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        self.matches(given)
    }
}

/// Middleware: 401 (JSON) for a request without the secret.
pub async fn require_secret(
    State(secret): State<SharedSecret>,
    req: Request,
    next: Next,
) -> Response {
    if secret.admits(req.headers()) {
        return next.run(req).await;
    }
    crate::http::error::ApiError::unauthorized(
        "this is an ingest worker: it answers hubs only (header X-Gridwatch-Worker-Secret)",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_matches() {
        let s = SharedSecret::new("correct horse battery");
        assert!(s.matches("correct horse battery"));
        assert!(!s.matches("correct horse batter"));
        assert!(!s.matches("correct horse battery "));
        assert!(!s.matches(""));
        let mut h = HeaderMap::new();
        assert!(!s.admits(&h));
        h.insert(SECRET_HEADER, "correct horse battery".parse().unwrap());
        assert!(s.admits(&h));
    }
}
