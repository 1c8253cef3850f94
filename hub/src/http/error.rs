//! Every failure answered in the contract's shape:
//! `{"error": {"code": "snake_case", "message": "what is wrong, for a person"}}`.

use crate::incidents::intake::IntakeError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gridwatch_ingest::LiveError;
use gridwatch_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
    /// Seconds to wait, for 429 and some 503s (`Retry-After`).
    pub retry_after: Option<i64>,
    /// The incident's current state, for a 409 `illegal_transition`.
    pub state: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            state: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_many(message: impl Into<String>, retry_after: i64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(retry_after);
        e
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Video that was about to leave the centre (a `recordings.mp4`, an evidence clip) whose
    /// audit event the store did not take: nothing is sent — an export nobody can account for
    /// must not happen — and the caller is told why and to try again: what a download gets
    /// from a database that takes no writes (a long transaction, a full disk, a failover).
    pub fn export_not_recorded(e: StoreError) -> Self {
        match e {
            // Not the database's failure: the store's own answer (an incident gone: 404).
            StoreError::NotFound { .. }
            | StoreError::Conflict(_)
            | StoreError::Invalid(_)
            | StoreError::IllegalTransition(_)
            | StoreError::NotAllowed(_) => e.into(),
            other => {
                tracing::error!(error = %other, "an export's audit event was not recorded; no video sent");
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "export_not_recorded",
                    "the download could not be written to the audit trail, so no video was sent; try again shortly",
                );
                err.retry_after = Some(5);
                err
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::IllegalTransition(t) => {
                let mut err =
                    ApiError::new(StatusCode::CONFLICT, "illegal_transition", t.to_string());
                err.state = Some(t.state.as_str().to_string());
                err
            }
            StoreError::NotAllowed(m) => ApiError::forbidden(m),
            StoreError::Invalid(v) => {
                let mut err = ApiError::bad_request("invalid", v.to_string());
                err.field = Some(v.field);
                err
            }
            other => {
                // Details of database failures go to the log, not to the client.
                tracing::error!(error = %other, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database did not answer; try again",
                )
            }
        }
    }
}

impl From<gridwatch_core::ValidationError> for ApiError {
    fn from(v: gridwatch_core::ValidationError) -> Self {
        StoreError::Invalid(v).into()
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::RateLimited { retry_after } => {
                ApiError::too_many(e.to_string(), retry_after)
            }
            IntakeError::Invalid(v) => v.into(),
            IntakeError::Store(s) => s.into(),
        }
    }
}

/// Live video (and snapshots) of a camera that is not there or not on.
impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::UnknownCamera(id) => ApiError::not_found(format!("no camera {id}")),
            LiveError::Disabled(id) => ApiError::new(
                StatusCode::CONFLICT,
                "camera_disabled",
                format!("camera {id} is disabled; enable it to watch it"),
            ),
        }
    }
}

/// A WHEP offer that was not answered (see `http::whep`).
impl From<crate::webrtc::WebRtcError> for ApiError {
    fn from(e: crate::webrtc::WebRtcError) -> Self {
        use crate::webrtc::WebRtcError as E;
        let message = e.to_string();
        match e {
            E::Disabled => ApiError::new(StatusCode::NOT_FOUND, "webrtc_disabled", message),
            E::Full(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "webrtc_full", message),
            E::BadOffer(_) => ApiError::bad_request("bad_offer", message),
            E::Unanswerable(_) => ApiError::bad_request("unanswerable_offer", message),
            E::Codec(_) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "webrtc_codec", message)
            }
            E::Socket(_) => ApiError::internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(f) = &self.field {
            error["field"] = json!(f);
        }
        if let Some(s) = &self.state {
            error["state"] = json!(s);
        }
        // For pages, which cannot read `Retry-After` from every error path as easily.
        if let Some(secs) = self.retry_after {
            error["retry_after"] = json!(secs);
        }
        let mut resp = (self.status, axum::Json(json!({ "error": error }))).into_response();
        // An error is about now: a 404 or 410 is cacheable by default, and a browser keeping
        // "gone" would not fetch an evidence clip put back on its disk.
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
