//! `POST /api/v1/cameras/{id}/whep`: live video over WebRTC (WHEP, RFC 9725) for the
//! focused and incident views; `DELETE /api/v1/cameras/{id}/whep/{session}` ends it.
//!
//! The body is the browser's SDP offer (`Content-Type: application/sdp`); the answer comes
//! back with 201, `Content-Type: application/sdp` and the session's `Location`. The role
//! rules are the live socket's (a responder sees its post's grids' cameras; residents never
//! see video), and a WebRTC viewer takes one of the caller's live places. Refusals, each a
//! JSON error the page falls back to the live socket on: 404 `webrtc_disabled`, 415 for
//! another content type or an H.265 camera (`webrtc_codec`), 400 `bad_offer`, 409
//! `webrtc_unavailable` where cameras run on ingest workers, 503 `webrtc_full`.

use super::caller::Caller;
use super::cameras::ensure_visible;
use super::endpoints::OVERSIGHT;
use super::error::{ApiError, ApiResult};
use super::json::Path;
use super::live::live_slot;
use super::stream::SessionWatch;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub async fn offer(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> ApiResult<Response> {
    if !s.webrtc.enabled() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "webrtc_disabled",
            "WebRTC is switched off on this hub; watch over the live socket",
        ));
    }
    let sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/sdp"));
    if !sdp {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_content_type",
            "send the SDP offer with Content-Type: application/sdp",
        ));
    }
    ensure_visible(&s, &caller, &id).await?;
    if s.config.ingest.workers() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "webrtc_unavailable",
            "cameras run on ingest workers here; WebRTC is served only where the camera runs: watch over the live socket",
        ));
    }
    let viewer = s
        .cameras
        .registry
        .subscribe(&id, gridwatch_ingest::Quality::Main)
        .map_err(ApiError::from)?;
    let slot = live_slot(&s, &caller)?;
    let session = SessionWatch::of_request(&s, &headers, uri.query()).await?;
    let owner = owner(&caller);
    let answer = s.webrtc.answer(
        &body,
        viewer,
        id.clone(),
        owner,
        move || session.spawn(),
        slot,
    )?;
    tracing::debug!(camera = %id, session = %answer.id, "webrtc viewer");
    let location = format!("/api/v1/cameras/{id}/whep/{}", answer.id);
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_string()),
            (header::LOCATION, location),
        ],
        answer.sdp,
    )
        .into_response())
}

/// Ends a session: its owner, or an admin or duty officer.
pub async fn close(
    State(s): State<AppState>,
    caller: Caller,
    Path((_id, session)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let any = OVERSIGHT.contains(&caller.role());
    if s.webrtc.close(&session, &owner(&caller), any) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no WebRTC session {session}")))
    }
}

fn owner(caller: &Caller) -> String {
    match caller {
        Caller::User(u) => format!("user:{}", u.id),
        Caller::Device(d) => format!("device:{}", d.id),
    }
}
