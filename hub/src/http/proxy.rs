//! A hub in `[ingest] mode = "workers"` runs no camera: live view and snapshots of a camera
//! are fetched from the ingest worker whose lease holds it (looked up in the database at each
//! request), after the same role and visibility checks as in-process. Browsers keep talking to
//! the hub; the hub shows the worker the shared secret.
//!
//! A camera no worker holds (all gone, or between a worker's death and the takeover) is 503
//! `no_worker` with `Retry-After`; the page's player retries by itself.
//!
//! Playback (`live?from=`) is relayed to the holder too, with the browser's control messages,
//! so that it runs on through the segment the worker is writing; without a holder it is the
//! hub's own (finished segments only), not an error.

use super::error::{ApiError, ApiResult};
use super::heartbeat::{silent, Beat, Heartbeat};
use super::live::{send, WRITE_TIMEOUT};
use super::stream::{session_over, SessionWatch};
use super::worker::Writing;
use crate::state::AppState;
use crate::workers::auth::SECRET_HEADER;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{SinkExt, StreamExt};
use gridwatch_ingest::{Quality, StreamState};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// Longest a worker may take to answer (a snapshot decodes in at most
/// `[cameras] snapshot_timeout_seconds`, 5 s by default).
const WORKER_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest a timeline waits to learn what the worker is recording now.
const IN_PROGRESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a relayed download may go without a byte from the worker (the download as a whole
/// may take as long as the browser's connection needs).
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The worker's error codes a hub passes on as they are; any other failure is `worker_failed`.
const PASSED_ON: &[&str] = &[
    "not_found",
    "camera_disabled",
    "no_video",
    "busy",
    "unavailable",
    "bad_video",
];

/// The base URL of the worker holding `camera` now.
async fn holder(s: &AppState, camera: &str) -> ApiResult<String> {
    let held = s
        .store
        .camera_holder(camera, s.now())
        .await
        .map_err(ApiError::from)?;
    held.map(|h| h.address.trim_end_matches('/').to_string())
        .ok_or_else(|| no_worker(camera))
}

fn no_worker(camera: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_worker",
        format!("camera {camera} is not running on any ingest worker yet; try again shortly"),
    );
    e.retry_after = Some(2);
    e
}

/// A worker's error answer as the hub's.
fn worker_error(camera: &str, status: u16, body: &[u8]) -> ApiError {
    if status == StatusCode::MISDIRECTED_REQUEST.as_u16() {
        // The lease moved between the look-up and the request.
        return no_worker(camera);
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = v["error"]["code"].as_str().unwrap_or("");
    let message = v["error"]["message"].as_str().unwrap_or("").to_string();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    match PASSED_ON.iter().find(|c| **c == code) {
        Some(code) => {
            let mut e = ApiError::new(status, code, message);
            if *code == "busy" {
                e.retry_after = Some(1);
            }
            e
        }
        None => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "worker_failed",
            format!("the ingest worker running camera {camera} answered {status}"),
        ),
    }
}

fn unreachable(camera: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%camera, error = %e, "ingest worker unreachable");
    let mut err = ApiError::new(
        StatusCode::BAD_GATEWAY,
        "worker_unreachable",
        format!("the ingest worker running camera {camera} did not answer; try again shortly"),
    );
    err.retry_after = Some(2);
    err
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(WORKER_TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

/// For answers streamed from a worker: no limit on the whole, only on silence.
fn streaming_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(STREAM_READ_TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

/// Largest snapshot taken from a worker: a 4K JPEG is a few MB.
const MAX_SNAPSHOT_BYTES: usize = 32 << 20;
/// Largest answer of what a worker is recording (a few segments' rows).
const MAX_WRITING_BYTES: usize = 1 << 20;

/// `resp`'s body, refused past `max` bytes: a faulty worker must not fill the hub's memory.
async fn capped_body(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("an answer of over {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("an answer of over {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The camera's snapshot, from its worker.
pub async fn snapshot(s: &AppState, camera: &str, quality: Quality) -> ApiResult<Response> {
    let base = holder(s, camera).await?;
    let resp = client()
        .get(format!("{base}/internal/v1/cameras/{camera}/snapshot.jpg"))
        .query(&[("quality", quality.to_string())])
        .header(SECRET_HEADER, &s.config.ingest.secret)
        .send()
        .await
        .map_err(|e| unreachable(camera, e))?;
    let status = resp.status().as_u16();
    let body = capped_body(resp, MAX_SNAPSHOT_BYTES)
        .await
        .map_err(|e| unreachable(camera, e))?;
    if status != 200 {
        return Err(worker_error(camera, status, &body));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// The camera's live view, relayed from its worker. The worker is connected to before the
/// browser's upgrade is answered, so that a refusal (disabled camera, no worker) is an HTTP
/// error the page understands.
pub async fn live(
    s: &AppState,
    camera: &str,
    quality: Quality,
    ws: WebSocketUpgrade,
    session: SessionWatch,
    slot: impl Send + 'static,
) -> ApiResult<Response> {
    let base = holder(s, camera).await?;
    let path = format!("/internal/v1/cameras/{camera}/live?quality={quality}");
    let worker = connect(s, camera, &base, &path).await?;
    Ok(relayed(s, ws, worker, session, camera.to_string(), slot))
}

/// The camera's playback from `from`, from the worker holding it: the same playback as a
/// hub's (`super::live::serve_replay`), on the worker's replay, which has the segment the
/// worker is writing (the hub's has only the finished ones). The viewer's session is watched
/// here, by the relay, which closes both sockets when it ends. `None` when no worker holds the
/// camera or the holder does not serve this playback now (down, the lease moved, nothing
/// recorded): the hub then plays what it can itself.
pub async fn playback(s: &AppState, camera: &str, from: DateTime<Utc>) -> Option<WorkerSocket> {
    let base = match holder(s, camera).await {
        Ok(base) => base,
        Err(e) => {
            tracing::debug!(%camera, error = %e.message, "playback: no worker holds the camera");
            return None;
        }
    };
    let from = from.to_rfc3339_opts(SecondsFormat::Micros, true);
    let path = format!("/internal/v1/cameras/{camera}/playback?from={from}");
    match connect(s, camera, &base, &path).await {
        Ok(worker) => Some(worker),
        Err(e) => {
            tracing::info!(%camera, error = %e.message, "playback: the camera's worker does not serve it; played from the hub's index");
            None
        }
    }
}

/// What the worker holding `camera` has recorded that the index has not (yet): the segment it
/// is writing and finished ones waiting for their row. Nothing when no worker holds the
/// camera or the holder does not answer within a second or two (the caller then goes by the
/// index alone).
pub(crate) async fn recording_unindexed(s: &AppState, camera: &str) -> Writing {
    let Ok(base) = holder(s, camera).await else {
        return Writing::default();
    };
    let url = format!("{base}/internal/v1/cameras/{camera}/recording");
    match ask_json(s, &url, MAX_WRITING_BYTES).await {
        Ok(answer) => answer,
        Err(Asked::Unanswered(e)) => {
            tracing::info!(%camera, error = %e, "the worker did not say what it is recording");
            Writing::default()
        }
        Err(Asked::Unreadable(e)) => {
            tracing::warn!(%camera, error = %e, "the worker's recording in progress is unreadable");
            Writing::default()
        }
    }
}

/// Why a worker's JSON answer is not there.
enum Asked {
    /// No answer, or an error status, within [`IN_PROGRESS_TIMEOUT`].
    Unanswered(String),
    /// Too large, or not what was asked.
    Unreadable(String),
}

/// `GET url` of a worker (with the shared secret), its JSON answer of at most `max` bytes.
async fn ask_json<T: serde::de::DeserializeOwned>(
    s: &AppState,
    url: &str,
    max: usize,
) -> Result<T, Asked> {
    let resp = client()
        .get(url)
        .header(SECRET_HEADER, &s.config.ingest.secret)
        .timeout(IN_PROGRESS_TIMEOUT)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| Asked::Unanswered(e.to_string()))?;
    capped_body(resp, max)
        .await
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(Asked::Unreadable)
}

/// One camera as the worker holding it lists it (`/internal/v1/cameras`).
#[derive(serde::Deserialize)]
struct HeldCamera {
    camera_id: String,
    status: Option<StreamState>,
    reason: Option<String>,
}

#[derive(serde::Deserialize)]
struct HeldCameras {
    cameras: Vec<HeldCamera>,
}

/// Largest list of a worker's cameras (a few hundred, a line each).
const MAX_HELD_BYTES: usize = 4 << 20;

/// What a camera's worker says of it: its main stream's state, and why it is not online.
pub type WorkerSaid = (StreamState, Option<String>);

/// The state of every camera the live ingest workers run, as each says: all asked at once,
/// each within [`IN_PROGRESS_TIMEOUT`]. A worker that does not answer says nothing (its
/// cameras are then shown as run by no worker: no one can vouch for their video).
pub async fn worker_camera_states(s: &AppState) -> HashMap<String, WorkerSaid> {
    let now = s.now();
    let since = now - s.config.ingest.policy().ttl;
    let workers = match s.store.ingest_workers(now).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "the ingest workers could not be listed");
            return HashMap::new();
        }
    };
    let asks = workers
        .into_iter()
        .filter(|w| w.is_live(since))
        .map(|w| async move { listed_by(s, &w.id, &w.address).await });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c.camera_id, (c.status?, c.reason))))
        .collect()
}

/// What the worker holding `camera` says of it (`None`: no live lease, or its worker does not
/// answer or does not list it): only that worker is asked, within [`IN_PROGRESS_TIMEOUT`].
/// A worker that stopped gave its leases back, so it is not asked.
pub async fn worker_camera_state(s: &AppState, camera: &str) -> Option<WorkerSaid> {
    let held = match s.store.camera_holder(camera, s.now()).await {
        Ok(held) => held?,
        Err(e) => {
            tracing::warn!(%camera, error = %e, "the camera's ingest worker could not be read");
            return None;
        }
    };
    listed_by(s, &held.lease.worker_id, &held.address)
        .await
        .into_iter()
        .find(|c| c.camera_id == camera)
        .and_then(|c| Some((c.status?, c.reason)))
}

/// The cameras the worker at `address` says it runs, with their states; none (logged) when
/// it does not answer, or not readably.
async fn listed_by(s: &AppState, worker: &str, address: &str) -> Vec<HeldCamera> {
    let url = format!("{}/internal/v1/cameras", address.trim_end_matches('/'));
    match ask_json::<HeldCameras>(s, &url, MAX_HELD_BYTES).await {
        Ok(listed) => listed.cameras,
        Err(Asked::Unanswered(e) | Asked::Unreadable(e)) => {
            tracing::warn!(%worker, error = %e, "an ingest worker did not list its cameras");
            Vec::new()
        }
    }
}

/// `recordings.mp4` built by the worker holding `camera`, which has the segment it is writing;
/// the browser's `Range` and `If-Range` are passed on and the answer (video or JSON error)
/// relayed as it is. The lease having moved meanwhile is 503 `no_worker`.
pub async fn recordings_mp4(
    s: &AppState,
    camera: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let base = holder(s, camera).await?;
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut req = streaming_client()
        .get(format!(
            "{base}/internal/v1/cameras/{camera}/recordings.mp4"
        ))
        .query(&[("from", at(from)), ("to", at(to))])
        .header(SECRET_HEADER, &s.config.ingest.secret);
    for name in [header::RANGE, header::IF_RANGE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v.clone());
        }
    }
    let resp = req.send().await.map_err(|e| unreachable(camera, e))?;
    if resp.status() == StatusCode::MISDIRECTED_REQUEST {
        return Err(no_worker(camera));
    }
    let mut out = Response::builder().status(resp.status().as_u16());
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::CONTENT_DISPOSITION,
        header::CACHE_CONTROL,
        header::RETRY_AFTER,
        header::HeaderName::from_static(super::recordings::NOT_RECORDED_HEADER),
    ] {
        if let Some(v) = resp.headers().get(name.as_str()) {
            out = out.header(name.as_str(), v.as_bytes());
        }
    }
    let camera = camera.to_string();
    let body = futures::stream::unfold(Some(resp), move |resp| {
        let camera = camera.clone();
        async move {
            let mut resp = resp?;
            match resp.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(resp))),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(%camera, error = %e, "relaying a recording from its worker failed");
                    Some((Err(std::io::Error::other(e)), None))
                }
            }
        }
    });
    out.body(Body::from_stream(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// A WebSocket to the worker at `base`, on `path`, showing the shared secret.
async fn connect(s: &AppState, camera: &str, base: &str, path: &str) -> ApiResult<WorkerSocket> {
    let url = format!("{}{path}", base.replacen("http", "ws", 1));
    let mut req = url
        .into_client_request()
        .map_err(|e| unreachable(camera, e))?;
    let secret = s
        .config
        .ingest
        .secret
        .parse()
        .map_err(|e| unreachable(camera, e))?;
    req.headers_mut().insert(SECRET_HEADER, secret);
    let connect = tokio_tungstenite::connect_async(req);
    match tokio::time::timeout(WORKER_TIMEOUT, connect).await {
        Err(_) => Err(unreachable(camera, "timed out")),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let body = resp.body().clone().unwrap_or_default();
            Err(worker_error(camera, resp.status().as_u16(), &body))
        }
        Ok(Err(e)) => Err(unreachable(camera, e)),
    }
}

/// Answers the browser's upgrade with `worker`'s socket relayed ([`relay`]); `slot` is held
/// as long.
pub fn relayed(
    s: &AppState,
    ws: WebSocketUpgrade,
    worker: WorkerSocket,
    session: SessionWatch,
    camera: String,
    slot: impl Send + 'static,
) -> Response {
    let idle = s.cameras.config.live_idle();
    ws.on_upgrade(move |browser| async move {
        relay(browser, worker, session, &camera, idle).await;
        drop(slot);
    })
}

pub type WorkerSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Worker to browser, frame by frame, until either side leaves or the browser's session ends.
/// A slow browser holds the relay's send, which stops it reading the worker, whose own write
/// timeout then ends the stream: the worker's bounds hold through the hub. The browser's text
/// frames go to the worker (a playback's speed, pause and resume, and the answers to them come
/// back as the worker's frames); a worker that does not take one within
/// [`super::live::WRITE_TIMEOUT`] ends the relay. The hub pings the browser itself
/// ([`Heartbeat`]): the worker's pings are answered by this relay, which would keep a paused
/// playback whose browser is gone open.
async fn relay(
    browser: WebSocket,
    worker: WorkerSocket,
    session: SessionWatch,
    camera: &str,
    idle: Duration,
) {
    let (mut btx, mut brx) = browser.split();
    let (mut wtx, mut wrx) = worker.split();
    let mut session = session.spawn();
    let mut heartbeat = Heartbeat::new(idle);
    let why = loop {
        // Biased: the browser's few frames first (the worker's video cannot crowd them out),
        // the heartbeat last (a pong that waited while a frame was relayed is heard before
        // silence is judged).
        tokio::select! {
            biased;
            why = &mut session => {
                let _ = send(&mut btx, session_over(why)).await;
                break why;
            }
            msg = brx.next() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break "client left",
                Some(Ok(Message::Pong(_) | Message::Ping(_))) => heartbeat.heard(),
                Some(Ok(Message::Text(t))) => {
                    heartbeat.heard();
                    let forwarded = wtx.send(tungstenite::Message::Text(t.as_str().into()));
                    match tokio::time::timeout(WRITE_TIMEOUT, forwarded).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) | Err(_) => {
                            let close = CloseFrame { code: 1011, reason: "ingest worker gone".into() };
                            let _ = send(&mut btx, Message::Close(Some(close))).await;
                            break "the worker went away";
                        }
                    }
                }
                Some(Ok(_)) => heartbeat.heard(),
            },
            msg = wrx.next() => {
                let forwarded = match msg {
                    Some(Ok(tungstenite::Message::Text(t))) => Message::Text(t.as_str().into()),
                    Some(Ok(tungstenite::Message::Binary(b))) => Message::Binary(b),
                    Some(Ok(tungstenite::Message::Close(frame))) => {
                        let close = frame.map(|f| CloseFrame { code: f.code.into(), reason: f.reason.as_str().into() });
                        let _ = send(&mut btx, Message::Close(close)).await;
                        break "the worker closed";
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        let close = CloseFrame { code: 1011, reason: "ingest worker gone".into() };
                        let _ = send(&mut btx, Message::Close(Some(close))).await;
                        break "the worker went away";
                    }
                };
                if let Err(why) = send(&mut btx, forwarded).await {
                    break why;
                }
            }
            beat = heartbeat.tick() => match beat {
                Beat::Ping => {
                    if let Err(why) = send(&mut btx, Message::Ping(Default::default())).await {
                        break why;
                    }
                }
                Beat::Silent => {
                    let _ = send(&mut btx, Message::Close(Some(silent()))).await;
                    break "browser silent (no pong)";
                }
            },
        }
    };
    let _ = wtx.send(tungstenite::Message::Close(None)).await;
    tracing::debug!(%camera, why, "proxied live viewer gone");
}

#[cfg(test)]
mod tests {
    use super::capped_body;
    use axum::body::Body;
    use axum::routing::get;

    /// A server answering `/sized` with `n` bytes and a length, `/streamed` without one.
    async fn server(n: usize) -> String {
        let app = axum::Router::new()
            .route("/sized", get(move || async move { vec![7u8; n] }))
            .route(
                "/streamed",
                get(move || async move {
                    let chunks =
                        (0..n.div_ceil(1024)).map(|_| Ok::<_, std::io::Error>(vec![7u8; 1024]));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_worker_answer_is_read_up_to_its_cap_only() {
        let base = server(64 * 1024).await;
        let http = reqwest::Client::new();
        for path in ["sized", "streamed"] {
            let get = || http.get(format!("{base}/{path}")).send();
            let whole = capped_body(get().await.unwrap(), 64 * 1024).await;
            assert_eq!(whole.map(|b| b.len()), Ok(64 * 1024), "{path}");
            let refused = capped_body(get().await.unwrap(), 16 * 1024).await;
            assert_eq!(
                refused,
                Err("an answer of over 16384 bytes".to_string()),
                "{path}"
            );
        }
    }
}
