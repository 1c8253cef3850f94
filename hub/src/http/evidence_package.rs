//! `GET /api/v1/incidents/{id}/evidence.zip`: every sealed clip of an incident with its
//! manifest, a `SHA256SUMS` list and a note (zh-CN and English) on how to check them, as one
//! ZIP archive — what a police officer takes away, instead of a file per clip and manifest.
//!
//! Every file is checked against the record before anything is sent: a clip or manifest that
//! is not the one sealed refuses the package (409 `clip_altered` / `manifest_altered`, the
//! manifest as its own download checks it: `clips::sealed_manifest`), one missing too (410
//! `clip_missing` / `manifest_missing`); `gridwatch evidence verify` says more.
//! The download is recorded first, as a clip's: an `incident.evidence_downloaded` event per
//! clip (`range: "package"`), all or none, on the timeline and the exports list, counted as
//! one download in the person's allowance (checked before anything is read, as is the size:
//! at most [`MAX_PACKAGE_BYTES`] of clips, 413 above). Same roles as the clips.

use super::auth::PeerAddr;
use super::caller::Caller;
use super::download::{attachment, blocking_body};
use super::error::{ApiError, ApiResult};
use super::exports;
use super::json::Path;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use gridwatch_core::event::{EventDraft, EventType};
use gridwatch_core::recording::EvidenceClip;
use gridwatch_ingest::evidence::{Package, PackageError};
use serde_json::json;
use std::fmt::Write as _;

pub async fn download(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.store.visible_incident(&id, &caller.visibility()).await?;
    let clips = s.store.evidence_clips(&id).await?;
    if clips.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_clips",
            format!("incident {id} has no sealed evidence clip yet (GET /api/v1/incidents/{id}/clips says what is to come)"),
        ));
    }
    // Refused before anything is read: too large to be read and checked within the request's
    // deadline (on a slow disk), or over the person's allowance.
    let bytes: u64 = clips.iter().map(|c| c.bytes).sum();
    if bytes > MAX_PACKAGE_BYTES {
        return Err(too_large(format!(
            "the package would hold {bytes} bytes of clips, more than {MAX_PACKAGE_BYTES}"
        )));
    }
    let actor = caller.actor(&peer);
    if let Some(retry_after) = s.recording.downloads.would_refuse(&actor.actor, s.now()) {
        return Err(ApiError::too_many(
            format!(
                "more than {} downloads in a minute; nothing was sent, try again in {retry_after} s",
                exports::DOWNLOADS_PER_MINUTE
            ),
            retry_after,
        ));
    }
    let mut cameras = Vec::new();
    for c in &clips {
        let name = match s.store.camera(&c.camera_id).await {
            Ok(camera) => camera.name,
            Err(_) => "(deleted)".into(), // the clip outlives its camera
        };
        cameras.push(name);
    }
    let now = s.now();
    let evidence_dir = s.recording.evidence_dir.clone();
    let note = Note {
        incident: id.clone(),
        packed_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        packed_by: actor.actor.clone(),
    };
    let drafts: Vec<EventDraft> = clips
        .iter()
        .map(|c| {
            EventDraft::new(
                EventType::IncidentEvidenceDownloaded,
                json!({"clip_id": c.id, "camera_id": c.camera_id, "sha256": c.sha256,
                    "range": "package"}),
            )
        })
        .collect();
    // Laid out (every file read once, checked against the record) off the async threads.
    let package =
        tokio::task::spawn_blocking(move || lay_out(&evidence_dir, &clips, &cameras, &note, now))
            .await
            .map_err(|e| ApiError::internal(format!("packing the evidence failed: {e}")))??;
    let video = exports::Video {
        key: &format!("package:{id}"),
        part: false,
    };
    exports::record_exports(&s, Some(&id), video, drafts, &actor).await?;
    let len = package.len();
    let body = blocking_body(move |out| package.write_to(out));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = attachment(&format!("evidence-{id}.zip")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The most bytes of clips one package holds: read and checked before its answer starts, it
/// must be ready within the request's deadline (30 s by default) on a disk reading 100 MB/s.
/// Above it the clips go one by one.
pub const MAX_PACKAGE_BYTES: u64 = 2 << 30;

/// Who packed what, for the note.
struct Note {
    incident: String,
    packed_at: String,
    packed_by: String,
}

/// The package of `clips` (with their cameras' names): each clip and manifest checked against
/// the record, the sums, the note.
fn lay_out(
    evidence_dir: &std::path::Path,
    clips: &[EvidenceClip],
    cameras: &[String],
    note: &Note,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Package> {
    let mut package = Package::new(now);
    let mut sums = String::new();
    let mut files = String::new();
    for (clip, camera) in clips.iter().zip(cameras) {
        let clip_name = format!("clips/{:08}-{}.mp4", clip.manifest_seq, clip.camera_id);
        let manifest_name = format!("manifests/{:08}.json", clip.manifest_seq);
        let scanned = package
            .add_file(&clip_name, &evidence_dir.join(&clip.file))
            .map_err(|e| unreadable(clip, e))?;
        if scanned.sha256 != clip.sha256 {
            return Err(altered(clip, &scanned.sha256));
        }
        let manifest = super::clips::sealed_manifest(evidence_dir, clip)?;
        package
            .add_bytes(&manifest_name, manifest)
            .map_err(too_large)?;
        let _ = writeln!(sums, "{}  {clip_name}", clip.sha256);
        let _ = writeln!(sums, "{}  {manifest_name}", clip.manifest_sha256);
        let _ = writeln!(
            files,
            "{clip_name}\n    摄像机 camera: {camera} ({})\n    时段 from–to (UTC): {} – {}\n    \
             SHA-256: {}\n{manifest_name}\n    清单 manifest of the clip above; SHA-256: {}",
            clip.camera_id,
            clip.from.to_rfc3339_opts(SecondsFormat::Millis, true),
            clip.to.to_rfc3339_opts(SecondsFormat::Millis, true),
            clip.sha256,
            clip.manifest_sha256,
        );
    }
    let readme = format!(
        "证据包 / Evidence package\n\n\
         事件 Incident: {incident}\n\
         打包时间 Packed at (UTC): {at}\n\
         打包人 Packed by: {by}\n\n\
         文件 Files:\n{files}\n\
         核验方法 How to check:\n\
         1. 在本目录运行 / in this folder run:  sha256sum -c SHA256SUMS\n   \
            每个文件都应显示 OK / every file must say OK.\n\
         2. 每个片段与其清单 / each clip against its manifest:\n   \
            gridwatch evidence check --clip clips/<片段 clip>.mp4 --manifest manifests/<清单 manifest>.json\n\
         3. 清单的 SHA-256 应与中心的记录一致 / each manifest's SHA-256 must equal the centre's\n   \
            record of it (GET /api/v1/incidents/{incident}/clips: manifest_sha256);\n   \
            清单环环相扣，删改任何一份都可被中心查出 / the manifests form a chain: removing or\n   \
            editing one is detectable at the centre (gridwatch evidence verify).\n",
        incident = note.incident,
        at = note.packed_at,
        by = note.packed_by,
    );
    package
        .add_bytes("SHA256SUMS", sums.into_bytes())
        .map_err(too_large)?;
    package
        .add_bytes("README.txt", readme.into_bytes())
        .map_err(too_large)?;
    Ok(package)
}

fn altered(clip: &EvidenceClip, found: &str) -> ApiError {
    tracing::error!(clip = %clip.id, %found, "an evidence clip is not the one sealed");
    ApiError::new(
        StatusCode::CONFLICT,
        "clip_altered",
        format!("clip {} is not the one sealed (its SHA-256 differs from the record), so no package is sent; run `gridwatch evidence verify`", clip.id),
    )
}

fn unreadable(clip: &EvidenceClip, e: PackageError) -> ApiError {
    match e {
        PackageError::TooLarge { .. } => too_large(e),
        e => {
            tracing::error!(clip = %clip.id, error = %e, "an evidence clip cannot be read");
            ApiError::new(
                StatusCode::GONE,
                "clip_missing",
                format!("clip {} is recorded but its file cannot be read, so no package is sent; run `gridwatch evidence verify`", clip.id),
            )
        }
    }
}

fn too_large(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "package_too_large",
        format!("{why}; download the clips one by one"),
    )
}
