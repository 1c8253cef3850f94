//! `GET /api/v1/exports?from&to&camera_id&limit`: who took recorded video out of the centre.
//!
//! Every download of recorded video is an event in the log, recorded before the video is sent
//! (a player's further ranges of the same video within ten minutes join the access already
//! recorded: [`crate::recording::downloads`]):
//! an evidence clip's (`incident.evidence_downloaded`, also on its incident's timeline) and a
//! camera's `recordings.mp4` (`camera.recording_exported`). This lists both, newest first, with
//! the person's name, so that the centre can answer "who has footage of the gate from that
//! night?" without reading incident by incident.

use super::caller::Caller;
use super::download::Wanted;
use super::error::{ApiError, ApiResult};
use super::json::Query;
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use gridwatch_core::event::{Actor, Event, EventDraft, EventType};
use gridwatch_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

use crate::recording::downloads::Admit;
pub use crate::recording::downloads::{COVERED_PER_MINUTE, DOWNLOADS_PER_MINUTE};

/// What the list holds: every kind of event that records video leaving the hub.
pub const EXPORT_EVENTS: [EventType; 2] = [
    EventType::CameraRecordingExported,
    EventType::IncidentEvidenceDownloaded,
];

/// How long a download waits for its audit event before it is refused: about as long as an
/// SQLite writer waits for the write lock (`gridwatch_store`'s busy handler), and on
/// PostgreSQL, where a writer would wait for a held lock without end, no longer either.
const RECORD_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The video a download sends, for [`record_export`]: what names its bytes, and whether the
/// request asked for a byte range (a player's) or the whole file (a save).
pub struct Video<'a> {
    pub key: &'a str,
    pub part: bool,
}

/// Whether an answer sent part of its video, not all of it: by its `Content-Range`, with
/// [`Wanted::is_part_of`]'s rule, the one the clip route applies to the request.
pub fn is_part(headers: &axum::http::HeaderMap) -> bool {
    Wanted::answered(headers).is_some_and(|(sent, len)| sent.is_part_of(len))
}

/// Records that video (or an evidence clip's manifest) is about to leave the hub (`draft`; on
/// `incident`'s timeline for an evidence clip), before its body is sent — unless it is a range of a video whose access by
/// the same person is already recorded ([`crate::recording::downloads`]: a player's seeks).
/// Over the person's [`DOWNLOADS_PER_MINUTE`]: 429 `rate_limited` with `Retry-After`, nothing
/// recorded or sent. Refused or not recorded within [`RECORD_WITHIN`]:
/// [`ApiError::export_not_recorded`], and the caller sends nothing. (Given up on while its
/// commit was under way, the event may still go in: the audit then names a download that was
/// refused, never the other way round.)
pub async fn record_export(
    s: &AppState,
    incident: Option<&str>,
    video: Video<'_>,
    draft: EventDraft,
    actor: &Actor,
) -> ApiResult<()> {
    record_exports(s, incident, video, vec![draft], actor).await
}

/// [`record_export`] of several events at once, all or none (an evidence package: one per
/// clip), admitted as one download.
pub async fn record_exports(
    s: &AppState,
    incident: Option<&str>,
    video: Video<'_>,
    drafts: Vec<EventDraft>,
    actor: &Actor,
) -> ApiResult<()> {
    let downloads = &s.recording.downloads;
    // From where is part of the access: the same account on another device is recorded.
    let key = format!("{} {}", video.key, actor.origin);
    match downloads.admit(&actor.actor, &key, video.part, s.now()) {
        Admit::Covered => return Ok(()),
        Admit::Record => {}
        Admit::Refused { retry_after } => {
            return Err(ApiError::too_many(
                format!(
                    "more than {DOWNLOADS_PER_MINUTE} video downloads (or {COVERED_PER_MINUTE} \
                     ranges of them) in a minute; no video was sent, try again in {retry_after} s"
                ),
                retry_after,
            ))
        }
    }
    record_before_sending(s, incident, drafts, actor).await?;
    downloads.recorded(&actor.actor, &key, s.now());
    Ok(())
}

/// Records `draft` (on `incident`'s timeline) before what it audits is sent: refused or not
/// recorded within [`RECORD_WITHIN`], [`ApiError::export_not_recorded`], and the caller sends
/// nothing.
async fn record_before_sending(
    s: &AppState,
    incident: Option<&str>,
    drafts: Vec<EventDraft>,
    actor: &Actor,
) -> ApiResult<()> {
    let recorded = s.store.record_events(incident, &drafts, actor, s.now());
    match tokio::time::timeout(RECORD_WITHIN, recorded).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ApiError::export_not_recorded(e)),
        Err(_) => Err(ApiError::export_not_recorded(StoreError::Unavailable(
            format!("the event log took no write within {RECORD_WITHIN:?}"),
        ))),
    }
}

/// How far back the list goes when no `from` is given.
const DEFAULT_DAYS: i64 = 30;
/// The longest range one request may list.
const MAX_DAYS: i64 = super::times::LONGEST_PERIOD_DAYS;
const DEFAULT_LIMIT: u32 = 200;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportsQuery {
    #[serde(default, deserialize_with = "super::times::optional")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::times::optional")]
    pub to: Option<DateTime<Utc>>,
    pub camera_id: Option<String>,
    pub limit: Option<u32>,
}

fn invalid(field: &str, message: String) -> ApiError {
    let mut err = ApiError::bad_request("invalid_query", message);
    err.field = Some(field.into());
    err
}

pub async fn list(
    State(s): State<AppState>,
    _caller: Caller,
    Query(q): Query<ExportsQuery>,
) -> ApiResult<axum::Json<Value>> {
    let to = q.to.unwrap_or_else(|| s.now());
    let from = q.from.unwrap_or_else(|| to - Duration::days(DEFAULT_DAYS));
    if from >= to {
        return Err(invalid("from", "`from` must be before `to`".into()));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(invalid(
            "from",
            format!("the range is longer than {MAX_DAYS} days"),
        ));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        ));
    }
    // One more than asked: whether there are more to page to (with an earlier `to`).
    let mut events = s
        .store
        .events_of_kinds(&EXPORT_EVENTS, q.camera_id.as_deref(), from, to, limit + 1)
        .await?;
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let people = names(&s, &events).await;
    let exports: Vec<Value> = events.iter().map(|e| shown(e, &people)).collect();
    Ok(axum::Json(json!({
        "from": at(from),
        "to": at(to),
        "exports": exports,
        "more": more,
    })))
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The people named by `events`, by user id: `{id, username, display_name}` (a user deleted
/// since is left out, and shown by id alone).
async fn names(s: &AppState, events: &[Event]) -> HashMap<String, Value> {
    let mut people = HashMap::new();
    for id in events.iter().filter_map(|e| e.actor.strip_prefix("user:")) {
        if people.contains_key(id) {
            continue;
        }
        match s.store.user(id).await {
            Ok(u) => {
                people.insert(
                    id.to_string(),
                    json!({ "id": u.id, "username": u.username, "display_name": u.display_name }),
                );
            }
            Err(e) => tracing::debug!(user = id, error = %e, "an export's user is not found"),
        }
    }
    people
}

/// One export as listed: the event's own fields and data, and who it was.
fn shown(e: &Event, people: &HashMap<String, Value>) -> Value {
    let data = |k: &str| e.data.get(k).cloned().unwrap_or(Value::Null);
    let by = e
        .actor
        .strip_prefix("user:")
        .and_then(|id| people.get(id))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "seq": e.seq,
        "at": at(e.at),
        "type": e.kind.as_str(),
        "camera_id": data("camera_id"),
        "incident_id": e.incident_id,
        "clip_id": data("clip_id"),
        "from": data("from"),
        "to": data("to"),
        "range": data("range"),
        "bytes": data("bytes"),
        "actor": e.actor,
        "by": by,
        "origin": e.origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderMap, HeaderValue};

    fn answered(range: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(r) = range {
            h.insert(header::CONTENT_RANGE, HeaderValue::from_static(r));
        }
        h
    }

    #[test]
    fn a_range_that_is_the_whole_video_is_a_save_not_a_part() {
        assert!(!is_part(&answered(None)));
        assert!(!is_part(&answered(Some("bytes 0-999/1000"))));
        assert!(!is_part(&answered(Some("bytes */1000"))));
        assert!(!is_part(&answered(Some("nonsense"))));
        assert!(is_part(&answered(Some("bytes 0-998/1000"))));
        assert!(is_part(&answered(Some("bytes 100-999/1000"))));
    }
}
