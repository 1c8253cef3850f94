//! An incident's evidence clips (see `crate::recording::evidence`):
//!
//! - `GET /api/v1/incidents/{id}/clips`: the sealed clips (camera, range, bytes, SHA-256, and
//!   where nothing was recorded, from their manifests) and those still to come;
//! - `GET /api/v1/incidents/{id}/clips/{clip_id}`: the MP4 (HTTP ranges supported). Every
//!   download is an `incident.evidence_downloaded` event on the incident's timeline: who, when,
//!   from where, which clip.
//! - `GET /api/v1/incidents/{id}/clips/{clip_id}/manifest`: the clip's manifest, the file as
//!   sealed, to hand over with the clip: whoever receives both checks one against the other
//!   (`gridwatch evidence check`) and the manifest's SHA-256 against the centre's record (the
//!   list's `manifest_sha256`). A manifest that is not the one sealed is not sent (409). Every
//!   download is an `incident.manifest_downloaded` event on the timeline, as a clip's is
//!   (not on the exports list: a manifest holds no video).
//!
//! For duty officers and admins, and responders for the incidents they see (their post's);
//! residents never (403), and an incident the caller may not see is 404, as an unknown one.

use super::auth::PeerAddr;
use super::caller::Caller;
use super::download::{video_response, wanted, Wanted};
use super::error::{ApiError, ApiResult};
use super::exports;
use super::json::Path;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gridwatch_core::event::{EventDraft, EventType};
use gridwatch_core::recording::evidence::JobState;
use gridwatch_core::recording::EvidenceClip;
use gridwatch_ingest::evidence::Manifest;
use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom, Write};

pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    s.store.visible_incident(&id, &caller.visibility()).await?;
    let sealed = s.store.evidence_clips(&id).await?;
    // Each clip's manifest is a file read: off the async threads, all in one go.
    let evidence_dir = s.recording.evidence_dir.clone();
    let clips: Vec<Value> = tokio::task::spawn_blocking(move || {
        sealed
            .into_iter()
            .map(|c| {
                json!({
                    "id": c.id, "camera_id": c.camera_id, "from": c.from, "to": c.to,
                    "bytes": c.bytes, "sha256": c.sha256, "manifest_seq": c.manifest_seq,
                    "manifest_sha256": c.manifest_sha256,
                    "created_at": c.created_at,
                    "not_recorded": not_recorded(&evidence_dir, &c),
                })
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the clips' manifests failed: {e}")))?;
    let pending: Vec<Value> = s
        .store
        .evidence_jobs(&id)
        .await?
        .into_iter()
        .filter(|j| j.state != JobState::Sealed)
        .map(|j| {
            json!({
                "camera_id": j.camera_id, "from": j.from, "to": j.to, "due": j.due,
                "state": j.state,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "clips": clips, "not_sealed": pending })))
}

/// Where the clip holds its picture because nothing was recorded, as its manifest says (the
/// store keeps no copy: the manifest is what the chain vouches for). `null` when the manifest
/// cannot be read: then nobody can say, and `gridwatch evidence verify` tells why.
fn not_recorded(evidence_dir: &std::path::Path, clip: &EvidenceClip) -> Value {
    let path = evidence_dir.join(&clip.manifest_file);
    let manifest = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).map_err(|e| e.to_string()));
    match manifest {
        // As the manifest has them: `{from, to}`, to the millisecond.
        Ok(m) => json!(m.clip.not_recorded),
        Err(e) => {
            tracing::error!(clip = %clip.id, path = %path.display(), error = %e,
                "an evidence clip's manifest cannot be read");
            Value::Null
        }
    }
}

pub async fn download(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path((id, clip_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    s.store.visible_incident(&id, &caller.visibility()).await?;
    let clip = s.store.evidence_clip(&id, &clip_id).await?;
    let path = s.recording.evidence_dir.join(&clip.file);
    let file = std::fs::File::open(&path).map_err(|e| {
        tracing::error!(clip = %clip.id, path = %path.display(), error = %e,
            "an evidence clip is missing from the evidence directory");
        ApiError::new(
            StatusCode::GONE,
            "clip_missing",
            format!("clip {clip_id} is recorded but its file cannot be read; run `gridwatch evidence verify`"),
        )
    })?;
    let len = clip.bytes;
    let wanted = wanted(&headers, len);
    // The audit comes first: a download nobody recorded must not happen.
    let actor = caller.actor(&peer);
    let draft = EventDraft::new(
        EventType::IncidentEvidenceDownloaded,
        json!({
            "clip_id": clip.id, "camera_id": clip.camera_id, "sha256": clip.sha256,
            "range": match wanted {
                Wanted::Part(start, end) => format!("bytes {start}-{}", end.saturating_sub(1)),
                _ => "all".into(),
            },
        }),
    );
    // A part that is the whole file is a save (`bytes=0-`: what download managers ask); an
    // unsatisfiable range sends nothing (416) and is not a download.
    let video = exports::Video {
        key: &format!("clip:{}", clip.id),
        part: wanted.is_part_of(len),
    };
    if wanted != Wanted::Unsatisfiable {
        exports::record_export(&s, Some(&id), video, draft, &actor).await?;
    }
    let name = format!("evidence-{id}-{}.mp4", clip.camera_id);
    Ok(video_response(
        wanted,
        len,
        &name,
        move |start, end, out| copy_range(file, start, end, out),
    ))
}

pub async fn manifest(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path((id, clip_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.store.visible_incident(&id, &caller.visibility()).await?;
    let clip = s.store.evidence_clip(&id, &clip_id).await?;
    let dir = s.recording.evidence_dir.clone();
    let sealed = clip.clone();
    let bytes = tokio::task::spawn_blocking(move || sealed_manifest(&dir, &sealed))
        .await
        .map_err(|e| ApiError::internal(format!("reading the manifest failed: {e}")))??;
    // Audited as a clip is, before it is sent: who took the proof of which clip; and counted
    // in the person's downloads a minute, as every download is (no endless events either).
    let draft = EventDraft::new(
        EventType::IncidentManifestDownloaded,
        json!({
            "clip_id": clip.id, "camera_id": clip.camera_id,
            "manifest_seq": clip.manifest_seq, "manifest_sha256": clip.manifest_sha256,
        }),
    );
    let file = exports::Video {
        key: &format!("manifest:{}", clip.id),
        part: false,
    };
    exports::record_export(&s, Some(&id), file, draft, &caller.actor(&peer)).await?;
    let name = format!(
        "evidence-{id}-{}-manifest-{:08}.json",
        clip.camera_id, clip.manifest_seq
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = super::download::attachment(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&clip.manifest_sha256) {
        headers.insert("x-gridwatch-manifest-sha256", v);
    }
    Ok(response)
}

/// The manifest of `clip` as it was sealed: its bytes, once their SHA-256 is the one recorded.
/// Missing: 410 `manifest_missing`; not the one sealed: 409 `manifest_altered` (never sent,
/// alone or in a package). Blocking.
pub(crate) fn sealed_manifest(
    evidence_dir: &std::path::Path,
    clip: &EvidenceClip,
) -> ApiResult<Vec<u8>> {
    let path = evidence_dir.join(&clip.manifest_file);
    let bytes = std::fs::read(&path).map_err(|e| {
        tracing::error!(clip = %clip.id, path = %path.display(), error = %e,
            "an evidence clip's manifest is missing from the evidence directory");
        ApiError::new(
            StatusCode::GONE,
            "manifest_missing",
            format!("the manifest of clip {} is recorded but its file cannot be read; run `gridwatch evidence verify`", clip.id),
        )
    })?;
    let found = gridwatch_ingest::evidence::sha256(&bytes);
    if found != clip.manifest_sha256 {
        tracing::error!(clip = %clip.id, path = %path.display(), sealed = %clip.manifest_sha256,
            found = %found, "an evidence clip's manifest is not the one sealed");
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "manifest_altered",
            format!("the manifest of clip {} is not the one sealed (its SHA-256 differs from the record), so it is not sent; run `gridwatch evidence verify`", clip.id),
        ));
    }
    Ok(bytes)
}

/// Copies bytes `[start, end)` of `file` into `out`.
pub(crate) fn copy_range(
    mut file: std::fs::File,
    start: u64,
    end: u64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(start))?;
    let copied = std::io::copy(&mut file.take(end - start), out)?;
    if copied != end - start {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the clip is shorter than recorded",
        ));
    }
    Ok(())
}
