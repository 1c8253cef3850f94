//! The HTTP edge: the router, built from [`endpoints::all`], and the layers every request
//! passes (request span, metrics, body limit, timeout, panic guard, the origin check).

pub mod admin;
pub mod auth;
pub mod caller;
pub mod cameras;
pub mod client_addr;
pub mod clips;
pub mod config;
pub mod connections;
pub mod dewarp;
pub mod download;
pub mod endpoints;
pub mod error;
pub mod evidence_package;
pub mod exports;
pub mod false_alarms;
pub mod heartbeat;
pub mod incidents;
pub mod ingest_workers;
pub mod json;
pub mod live;
pub mod motion;
pub mod notify_contacts;
pub mod notify_rules;
pub mod openapi;
pub mod ops;
pub mod origin;
pub mod pages;
pub mod pictures;
pub mod proxy;
pub mod recordings;
pub mod replay;
pub mod reports;
pub mod snapshot;
pub mod sockets;
pub mod sos;
pub mod stream;
pub mod times;
pub mod unparsable;
pub mod whep;
pub mod worker;

use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use error::ApiError;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for ep in endpoints::all() {
        let route = if ep.roles.is_empty() {
            ep.route
        } else {
            ep.route.route_layer(middleware::from_fn_with_state(
                (state.clone(), ep.roles),
                caller::require_roles,
            ))
        };
        api = api.route(ep.path, route);
    }
    let timeout = Duration::from_secs(state.config.http.request_timeout_seconds);
    api.merge(pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(middleware::from_fn_with_state(
            origin::AllowedOrigins::new(&state.config.http.allowed_origins),
            origin::check,
        ))
        .layer(DefaultBodyLimit::max(state.config.http.max_body_bytes))
        .layer(middleware::from_fn_with_state(timeout, deadline))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), %route)
        }))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("the hub hit a bug answering this request; it has been logged")
                    .into_response()
            },
        ))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// Answers a request that takes longer than `timeout` with a JSON 503, so that a stuck request
/// cannot hold a connection for ever. 503, not 408: the wait may be the hub's (a stalled
/// database) as well as a client's slow body, and either way the client may retry; a request
/// that changed something may have done so, which the Idempotency-Key makes safe to repeat.
/// WebSockets are not limited by it (their upgrade is answered at once).
async fn deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request was not finished within {} s; retry it (with the same \
                 Idempotency-Key if it changes something)",
                timeout.as_secs()
            ),
        )
        .into_response(),
    }
}

async fn record_metrics(
    axum::extract::State(s): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    // hyper takes any token as a method: a label per made-up one would grow without end.
    let method = match *req.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => req.method().as_str().to_string(),
        _ => "other".to_string(),
    };
    let started = Instant::now();
    let resp = next.run(req).await;
    s.metrics
        .http_requests
        .with_label_values(&[&method, &route, resp.status().as_str()])
        .inc();
    s.metrics
        .http_duration
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    resp
}
