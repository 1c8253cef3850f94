//! Playback of a camera's recordings:
//!
//! - `GET /api/v1/cameras/{id}/recordings?from&to`: what was recorded, as spans and gaps
//!   (`gridwatch_core::recording::playback`); the last 24 hours when no range is given.
//! - `GET /api/v1/cameras/{id}/recordings.mp4?from&to`: one MP4 built on the fly from the
//!   segments (the ingest's clip: frames copied, never decoded), HTTP ranges supported; 404
//!   `no_recording` when nothing was recorded in the range. Where nothing was recorded inside
//!   it the video holds its last picture, and the answer says where in
//!   [`NOT_RECORDED_HEADER`].
//!
//!   Each download is recorded before its video is sent: a `camera.recording_exported` event
//!   (who, from where, which camera and time, which bytes), listed by [`super::exports`].
//!
//! Both include the segment being written (the last minute has no row until its segment
//! ends): the recorder's own in this process, or, in `[ingest] mode = "workers"`, the one the
//! camera's worker is writing — asked of it, and an MP4 reaching into it is built by that
//! worker and relayed ([`super::proxy`]).
//!
//! Segments recorded by an ingest worker are fetched from it (and checked) first
//! ([`crate::recording::SegmentFiles`]): a worker that cannot serve them now is 503
//! `recording_unavailable` with `Retry-After`; bytes that do not match the index are 502
//! `recording_mismatch`.

use super::auth::PeerAddr;
use super::caller::Caller;
use super::cameras::ensure_visible;
use super::download::{video_response, wanted};
use super::error::{ApiError, ApiResult};
use super::exports;
use super::json::{Path, Query};
use super::proxy;
use super::worker::Writing;
use crate::recording::clips::{self, PlanError, PlannedClip, MAIN};
use crate::recording::FetchError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::event::{EventDraft, EventType};
use gridwatch_core::recording::playback::{
    check_range, timeline, InProgress, Timeline, MAX_LIST_RANGE_DAYS,
};
use gridwatch_core::recording::Segment;
use serde::Deserialize;
use serde_json::json;

/// The header of a `recordings.mp4` answer that lists where the video holds its picture
/// because nothing was recorded (an outage, recording off, frames lost; over a second):
/// `from/to` intervals (RFC 3339, UTC, to the millisecond) separated by `, `. Absent when the
/// video is whole.
pub const NOT_RECORDED_HEADER: &str = "x-gridwatch-not-recorded";

/// Longest MP4 one request may build: an hour of 1080p is about 2 GB.
pub const MAX_MP4_MINUTES: i64 = 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    #[serde(default, deserialize_with = "super::times::optional")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::times::optional")]
    pub to: Option<DateTime<Utc>>,
}

fn range_error(e: impl std::fmt::Display) -> ApiError {
    let mut err = ApiError::bad_request("invalid_range", e.to_string());
    err.field = Some("from".into());
    err
}

pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<axum::Json<Timeline>> {
    ensure_visible(&s, &caller, &id).await?;
    let to = q.to.unwrap_or_else(|| s.now());
    let from = q.from.unwrap_or_else(|| to - Duration::hours(24));
    check_range(from, to, Duration::days(MAX_LIST_RANGE_DAYS)).map_err(range_error)?;
    // Looked up before the rows: a segment indexed in between is then a row as well, and
    // counted once.
    let writing = unindexed(&s, &id).await;
    let mut segments = s.store.recording_segments(&id, MAIN, from, to).await?;
    // (`timeline` leaves out what is outside the range.)
    let finished: Vec<Segment> = writing
        .finished
        .into_iter()
        .filter(|w| !segments.iter().any(|s| s.id == w.id))
        .collect();
    segments.extend(finished);
    segments.sort_by_key(|s| s.start);
    let open = writing
        .in_progress
        .filter(|w| !segments.iter().any(|s| s.id == w.id))
        .map(|w| InProgress {
            start: w.start,
            written_end: w.written_end,
            holes: w.holes,
        });
    Ok(axum::Json(timeline(&segments, open, from, to)))
}

/// What the index does not have yet of `id`'s main stream (the segment being written, finished
/// ones waiting for their row): this process's recorder's, or the camera's worker's (nothing
/// when it cannot say now: the timeline then shows what is indexed).
async fn unindexed(s: &AppState, id: &str) -> Writing {
    let local = Writing::local(s, id);
    if local.is_empty() && s.recording.workers_mode {
        return proxy::recording_unindexed(s, id).await;
    }
    local
}

/// A failure to build a video: the store's own answer, 503 or 502 when an ingest worker's
/// segments cannot be had, or 500 (logged) when files are unreadable.
pub fn plan_error(e: PlanError) -> ApiError {
    match e {
        PlanError::Store(e) => e.into(),
        PlanError::Fetch(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "a recording is on an ingest worker that cannot serve it");
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "recording_unavailable",
                format!("part of this recording is on an ingest worker that cannot serve it now; try again shortly ({e})"),
            );
            err.retry_after = Some(10);
            err
        }
        PlanError::Fetch(e @ FetchError::Mismatch { .. }) => {
            tracing::error!(error = %e, "a segment fetched from an ingest worker does not match its index");
            ApiError::new(StatusCode::BAD_GATEWAY, "recording_mismatch", e.to_string())
        }
        e => {
            tracing::error!(error = %e, "a recording could not be read");
            ApiError::internal(e.to_string())
        }
    }
}

fn no_recording(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_recording",
        format!("camera {id} has no recording in that range"),
    )
}

pub async fn mp4(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    ensure_visible(&s, &caller, &id).await?;
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(range_error(
            "give the range as ?from=…&to=… (RFC 3339 times)",
        ));
    };
    check_range(from, to, Duration::minutes(MAX_MP4_MINUTES)).map_err(range_error)?;
    let mut via_worker = false;
    if s.recording.workers_mode {
        via_worker = proxy::recording_unindexed(&s, &id).await.reaches(from, to);
    }
    let response = match via_worker {
        true => proxy::recordings_mp4(&s, &id, from, to, &headers).await?,
        false => build_mp4(&s, &id, from, to, &headers).await?,
    };
    // The audit comes before the video: its body has not been sent yet, and is not if the
    // export cannot be recorded.
    if response.status().is_success() {
        let draft = export_event(&id, (from, to), response.headers());
        let video = exports::Video {
            key: &format!(
                "camera:{id}:{}:{}",
                from.timestamp_millis(),
                to.timestamp_millis()
            ),
            part: exports::is_part(response.headers()),
        };
        exports::record_export(&s, None, video, draft, &caller.actor(&peer)).await?;
    }
    Ok(response)
}

/// `camera.recording_exported`: which camera's video of which time was sent, which bytes of
/// it (`range`: `all` or `bytes first-last`) and how many (from the answer's `headers`).
fn export_event(
    camera_id: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    headers: &HeaderMap,
) -> EventDraft {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let range = header(header::CONTENT_RANGE)
        .and_then(|r| r.split('/').next())
        .unwrap_or("all");
    let bytes = header(header::CONTENT_LENGTH).and_then(|n| n.parse::<u64>().ok());
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    EventDraft::new(
        EventType::CameraRecordingExported,
        json!({
            "camera_id": camera_id, "from": at(from), "to": at(to), "range": range,
            "bytes": bytes,
        }),
    )
}

/// `recordings.mp4` as this process builds it: the indexed segments (wherever they were
/// recorded) and the one its own recorder is writing. What a hub answers, and what an ingest
/// worker answers a hub with for a range that reaches into the segment it is writing.
pub(crate) async fn build_mp4(
    s: &AppState,
    id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let writing = clips::Writing::all_of(s.recording.unindexed(id));
    let planned = clips::plan_with(&s.recording.files, id, from, to, writing)
        .await
        .map_err(plan_error)?;
    let Some(PlannedClip { plan, .. }) = planned else {
        return Err(no_recording(id));
    };
    let len = plan.len();
    let name = format!("{id}-{}.mp4", from.format("%Y%m%dT%H%M%SZ"));
    let not_recorded = not_recorded(&plan.held);
    let mut response = video_response(wanted(headers, len), len, &name, move |start, end, out| {
        plan.write_range(start, end, out).map(|_| ())
    });
    if let Some(value) = not_recorded {
        response.headers_mut().insert(NOT_RECORDED_HEADER, value);
    }
    Ok(response)
}

/// [`NOT_RECORDED_HEADER`]'s value for a clip's held stretches; `None` when there is none.
fn not_recorded(held: &[(std::time::SystemTime, std::time::SystemTime)]) -> Option<HeaderValue> {
    let at = |t: std::time::SystemTime| {
        DateTime::<Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let list: Vec<String> = held
        .iter()
        .map(|&(from, to)| format!("{}/{}", at(from), at(to)))
        .collect();
    (!list.is_empty())
        .then(|| HeaderValue::from_str(&list.join(", ")).ok())
        .flatten()
}
