//! Who is calling: resolved from a Bearer token, the session cookie, or (for WebSockets, which
//! browsers cannot give headers) a `?token=` query parameter.

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use gridwatch_core::access::Visibility;
use gridwatch_core::device::Device;
use gridwatch_core::event::Actor;
use gridwatch_core::user::User;
use gridwatch_core::Role;
use gridwatch_store::secret::TokenKind;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gw_session";

/// An authenticated caller: a person or a panic button.
#[derive(Debug, Clone)]
pub enum Caller {
    User(User),
    Device(Device),
}

impl Caller {
    pub fn role(&self) -> Role {
        match self {
            Caller::User(u) => u.role,
            Caller::Device(_) => Role::Device,
        }
    }

    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::User(u) => Some(u),
            Caller::Device(_) => None,
        }
    }

    /// The caller as the event log names it, and from where it called (`peer`).
    pub fn actor(&self, peer: &super::auth::PeerAddr) -> Actor {
        let origin = Actor::http_origin(peer.0.map(|a| a.ip()));
        match self {
            Caller::User(u) => Actor::user(&u.id, origin),
            Caller::Device(d) => Actor::device(&d.id, origin),
        }
    }

    /// Which incidents the caller may see, and so how it is shown them
    /// ([`Visibility::form`]) and which cameras it may watch (`CameraScope`).
    pub fn visibility(&self) -> Visibility {
        match self {
            Caller::User(u) => Visibility::of_user(u),
            Caller::Device(d) => Visibility::of_device(d),
        }
    }
}

/// The token the request carries, wherever it carries it.
pub fn token_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
        {
            return Some(t.trim().to_string());
        }
    }
    for cookies in headers.get_all(header::COOKIE) {
        let Ok(cookies) = cookies.to_str() else {
            continue;
        };
        for c in cookies.split(';') {
            if let Some((name, value)) = c.trim().split_once('=') {
                if name == SESSION_COOKIE && !value.is_empty() {
                    return Some(value.to_string());
                }
            }
        }
    }
    let is_websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_websocket {
        for pair in query.unwrap_or("").split('&') {
            if let Some(t) = pair.strip_prefix("token=") {
                return Some(t.to_string());
            }
        }
    }
    None
}

/// Resolves a token to a caller; `Ok(None)` for a token that is unknown, expired or revoked.
pub async fn resolve(state: &AppState, token: &str) -> Result<Option<Caller>, ApiError> {
    Ok(match TokenKind::of(token) {
        Some(TokenKind::Session) => state
            .store
            .session_user(token, state.now())
            .await?
            .map(Caller::User),
        Some(TokenKind::Device) => state
            .store
            .device_by_token(token)
            .await?
            .map(Caller::Device),
        None => None,
    })
}

/// Middleware on every non-public endpoint: 401 without valid credentials, 403 for a role the
/// endpoint does not admit. The caller is left in the request for the handler.
pub async fn require_roles(
    State((state, roles)): State<(AppState, &'static [Role])>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = token_of(req.headers(), req.uri().query())
        .ok_or_else(|| ApiError::unauthorized("log in first: no session cookie or Bearer token"))?;
    let caller = resolve(&state, &token)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token is unknown, expired or revoked"))?;
    if !roles.contains(&caller.role()) {
        return Err(ApiError::forbidden(format!(
            "the {} role may not use this endpoint",
            caller.role()
        )));
    }
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("log in first"))
    }
}
