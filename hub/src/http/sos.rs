//! `POST /api/v1/sos`: a resident's or a panic button's press.
//!
//! The body is optional (`{"lat"?, "lon"?, "note"?}`, any content type, or nothing at all). A
//! press is never refused for its form: a location that is not one is dropped and fields that
//! are not understood are ignored, both recorded in the timeline; only a body that is not JSON
//! at all is a 400. Answers: 201 for a new incident, 200 with the same incident for a repeat
//! press within 120 s or a replayed `Idempotency-Key`, 429 with `Retry-After` past the
//! per-caller limit. The incident is committed before any answer goes out. A body over the
//! hub's limit is a JSON 413. A resident is answered with the incident in their reduced form
//! (state and times: see [`super::incidents::shown`]).

use super::auth::PeerAddr;
use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::incidents::shown;
use super::json::{parse_json, RawBody};
use crate::incidents::intake::{self, SosCaller};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gridwatch_core::event::Actor;
use gridwatch_core::incident::SosPress;
use gridwatch_store::{RaiseOutcome, Raised};
use serde_json::json;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` header, if sent.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get(IDEMPOTENCY_KEY) {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map_err(|_| {
                ApiError::bad_request("invalid", "Idempotency-Key: must be visible ASCII")
            })?;
            intake::check_idempotency_key(k)?;
            Ok(Some(k.to_string()))
        }
    }
}

/// 201 or 200 with `{"incident", "outcome": "raised"|"repeat"|"replay"}` and a `Location`;
/// the incident as the caller is shown it.
pub fn raised_response(caller: &Caller, raised: Raised) -> Response {
    let (status, outcome) = match raised.outcome {
        RaiseOutcome::Raised => (StatusCode::CREATED, "raised"),
        RaiseOutcome::Repeated => (StatusCode::OK, "repeat"),
        RaiseOutcome::Replayed => (StatusCode::OK, "replay"),
    };
    let location = format!("/api/v1/incidents/{}", raised.incident.id);
    let mut resp = (
        status,
        axum::Json(json!({"incident": shown(caller, &raised.incident), "outcome": outcome})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

pub async fn sos(
    State(s): State<AppState>,
    caller: Caller,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        parse_json(&body)?
    };
    let (press, ignored) = SosPress::from_json(&value)?;
    let who = match caller.clone() {
        Caller::Device(d) => SosCaller::Device(d),
        Caller::User(u) => SosCaller::Resident(u),
    };
    let origin = Actor::http_origin(peer.map(|p| p.ip()));
    let raised = intake::raise_sos(&s.incidents, who, press, ignored, key, &origin).await?;
    Ok(raised_response(&caller, raised))
}
