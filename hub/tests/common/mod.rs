//! An in-process hub for tests: a real store (SQLite in a temp dir, or a fresh PostgreSQL
//! database), a manual clock, and the real router, called without a network.

#![allow(dead_code)]

pub mod community;
pub mod recording_worker;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::clock::ManualClock;
use gridwatch_core::user::User;
use gridwatch_hub::{AppState, Config};
use gridwatch_store::testing::fresh_store;
use gridwatch_store::Backend;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

pub struct Hub {
    pub state: AppState,
    pub clock: ManualClock,
    pub app: axum::Router,
    _dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

impl Hub {
    pub async fn new(backend: Backend) -> Hub {
        Hub::with_config(backend, Config::default()).await
    }

    pub async fn with_config(backend: Backend, config: Config) -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh_store(backend, dir.path()).await.expect("fresh store");
        let clock = ManualClock::new(t0());
        let state = AppState::new(store, Arc::new(clock.clone()), config);
        let app = gridwatch_hub::http::router(state.clone());
        Hub {
            state,
            clock,
            app,
            _dir: dir,
        }
    }

    /// A hub over a state built elsewhere (e.g. a second node on the same database).
    pub fn from_state(state: AppState, clock: ManualClock) -> Hub {
        Hub {
            app: gridwatch_hub::http::router(state.clone()),
            state,
            clock,
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Serves the hub on a loopback port, with its real-time stream running, as `server::start`
    /// does; returns the base URL (`http://127.0.0.1:PORT`).
    pub async fn listen(&self) -> String {
        self.state.start_stream(None).await.expect("stream starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self.app.clone();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        format!("http://{addr}")
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A user of the role, created directly in the store, and a live session token for them.
    pub async fn login_as(
        &self,
        role: &str,
        post_id: Option<&str>,
        grid_id: Option<&str>,
    ) -> (User, String) {
        let n = gridwatch_core::id::new_id().replace('-', "");
        let user = self
            .state
            .store
            .create_user(
                serde_json::from_value(json!({
                    "username": format!("{role}{}", &n[n.len() - 12..]), "password": "password-1",
                    "role": role, "post_id": post_id, "grid_id": grid_id
                }))
                .unwrap(),
                t0(),
            )
            .await
            .unwrap();
        let s = self
            .state
            .store
            .open_session(
                user.clone(),
                Duration::hours(12),
                gridwatch_core::clock::Clock::now(&self.clock),
            )
            .await
            .unwrap();
        (user, s.token)
    }
}

/// Runs `$body`, an `async fn(Backend)`, on SQLite and on PostgreSQL as `$body::sqlite` and
/// `$body::postgres`, each on a multi-threaded runtime: a served hub, its recorder and the camera
/// simulator need more than the test's own thread.
macro_rules! served_on_both {
    ($body:ident) => {
        mod $body {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(gridwatch_store::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body(gridwatch_store::Backend::Postgres).await;
            }
        }
    };
}

/// Defines `mod $name { sqlite, postgres }`, each running the body on a fresh hub.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        on_both!($name, config = gridwatch_hub::Config::default(), $body);
    };
    ($name:ident, config = $config:expr, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let f = $body;
                let hub = common::Hub::with_config(gridwatch_store::Backend::Sqlite, $config);
                f(hub.await).await
            }
            #[tokio::test]
            async fn postgres() {
                let f = $body;
                let hub = common::Hub::with_config(gridwatch_store::Backend::Postgres, $config);
                f(hub.await).await
            }
        }
    };
}

/// `GET url` over HTTP with a bearer `token`: the JSON answer (of a real hub on loopback).
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
