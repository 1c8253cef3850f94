//! Login, logout and "who am I".

use super::caller::{token_of, Caller, SESSION_COOKIE};
use super::client_addr::ClientAddr;
use super::error::{ApiError, ApiResult};
use super::json::Json;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// The client's address, when the server knows it (it does not in in-process tests).
pub struct PeerAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.http.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is ASCII")
}

/// Longest username there is (`gridwatch_core::user::validate_username`).
const MAX_USERNAME_BYTES: usize = 64;

/// 200 `{"token", "user", "expires_at"}` and the session cookie; 401 for a wrong username or
/// password (the same answer for both); 429 with `retry_after` when this address must wait
/// after its failures (never because of other addresses' failures: see [`crate::throttle`]).
///
/// The attempt is counted before the password is verified, so a burst of parallel guesses
/// gets no more verifications than the limit allows.
pub async fn login(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<Login>,
) -> ApiResult<Response> {
    let addr = client.map(|a| a.to_string());
    let now = s.now();
    // No user has a longer name: refused before the throttle keeps it (its map is keyed by
    // the name given, which could otherwise be 64 KB) and before any password work.
    if body.username.len() > MAX_USERNAME_BYTES {
        s.metrics.login_failures.inc();
        return Err(ApiError::unauthorized("wrong username or password"));
    }
    let attempt = s
        .throttle
        .begin(&body.username, addr.as_deref(), now)
        .map_err(|wait| locked_out(&s, wait))?;
    let Some(user) = s
        .store
        .check_password(&body.username, &body.password)
        .await?
    else {
        // The attempt stays counted.
        s.metrics.login_failures.inc();
        tracing::info!(username = %body.username, ?addr, "login refused");
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    s.throttle.succeeded(attempt);
    let ttl = chrono::Duration::hours(s.config.auth.session_hours as i64);
    let session = s.store.open_session(user, ttl, now).await?;
    tracing::info!(user = %session.user.username, role = %session.user.role, "logged in");
    let mut resp = axum::Json(json!({
        "token": session.token,
        "user": session.user,
        "expires_at": session.expires_at,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&s, &session.token, ttl.num_seconds()),
    );
    Ok(resp)
}

/// 429 with `Retry-After`: this address has failed too often for now.
fn locked_out(s: &AppState, wait: i64) -> ApiError {
    s.metrics.login_throttled.inc();
    ApiError::too_many(
        format!("too many failed logins from here; try again in {wait} s"),
        wait,
    )
}

/// Revokes the session the request was made with, and clears the cookie.
pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = token_of(&headers, None) {
        s.store.revoke_session(&token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&s, "", 0));
    Ok(resp)
}

/// `{"user": {...}}` for a person, `{"device": {...}}` for a panic button.
pub async fn me(caller: Caller) -> axum::Json<serde_json::Value> {
    axum::Json(match caller {
        Caller::User(u) => json!({"role": u.role, "user": u}),
        Caller::Device(d) => json!({"role": "device", "device": d}),
    })
}
