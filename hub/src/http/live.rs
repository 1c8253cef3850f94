//! `GET /api/v1/cameras/{id}/live?quality=main|sub`: live video for Media Source Extensions
//! (with `?from=<RFC 3339>`, the recordings from that instant: [`super::replay`]).
//!
//! Before the upgrade: 404 for an unknown camera or one the caller may not see (a responder
//! sees its post's grids' cameras), 409 for a disabled one, 426 for a request that is not a
//! WebSocket upgrade. After it, every init segment is announced by a text frame
//! `{"type":"init","mime":…,"quality":…}` and follows as a binary frame; media segments
//! (`prft`+`moof`+`mdat`, the `prft` holding the frame's arrival from the camera) follow as
//! binary frames, from the latest keyframe on. The ingest's viewer
//! bounds what waits for a slow client (it skips to the next keyframe), so a slow client costs
//! the others nothing; a client whose socket does not take a frame within
//! [`WRITE_TIMEOUT`] is disconnected. When the camera is removed the socket is closed with
//! 1001; when the session the socket was opened with is over (logout, expiry, user deleted or
//! changed) with 1008; a client's ping or close is answered. The hub pings every quarter of
//! `[cameras] live_idle_seconds`; a client that has sent nothing (no pong) for that long has
//! stopped reading and is closed with 4008, as a slow stream console is. Each live media frame sent observes
//! `gridwatch_live_send_delay_seconds`: from the frame's arrival from the camera to the socket
//! having taken its bytes.

use super::caller::Caller;
use super::cameras::ensure_visible;
use super::endpoints::OVERSIGHT;
use super::error::{ApiError, ApiResult};
use super::json::{Path, Query};
use super::sockets::{SocketKind, SocketSlot};
use super::stream::{session_over, SessionWatch, SLOW_CLIENT};
use crate::recording::replay::Replay;
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use gridwatch_ingest::{LiveMessage, Quality, Viewer};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a closed socket is kept reading for the client's answering close.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Longest a client's socket may take to accept one frame.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket's read buffer. A live viewer sends next to nothing (pings, a close), and
/// tungstenite zero-fills the free part of this buffer (up to its size) on every read
/// attempt, which the loop in [`serve`] makes after every frame sent: the default 128 KiB
/// cost a 128 KiB memset per frame per viewer. Larger messages still arrive whole (the
/// buffer grows to the announced length); this only bounds what is zeroed per attempt.
const READ_BUFFER: usize = 4 * 1024;

/// Largest message a viewer may send on a live or playback socket.
const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct VideoQuery {
    /// `main` (default) or `sub`.
    #[serde(default)]
    pub quality: Option<Quality>,
}

/// The live endpoint's query: a quality, or an instant to play the recordings back from.
#[derive(Debug, Default, Deserialize)]
pub struct LiveQuery {
    /// `main` (default) or `sub`.
    #[serde(default)]
    pub quality: Option<Quality>,
    /// Play the recordings from this instant instead (see [`super::replay`]).
    #[serde(default, deserialize_with = "super::times::optional")]
    pub from: Option<DateTime<Utc>>,
}

pub async fn live(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if let Some(from) = q.from {
        return playback(s, caller, id, from, headers, uri, ws).await;
    }
    let quality = q.quality.unwrap_or_default();
    ensure_visible(&s, &caller, &id).await?;
    if s.config.ingest.workers() {
        // The camera runs on an ingest worker: the socket is relayed to it.
        let slot = live_slot(&s, &caller)?;
        let session = SessionWatch::of_request(&s, &headers, uri.query()).await?;
        return super::proxy::live(&s, &id, quality, upgrade(ws)?, session, slot).await;
    }
    // Subscribed before the upgrade: the GOP is ready the moment the socket is.
    let viewer = s
        .cameras
        .registry
        .subscribe(&id, quality)
        .map_err(ApiError::from)?;
    let ws = upgrade(ws)?;
    let slot = live_slot(&s, &caller)?;
    let session = SessionWatch::of_request(&s, &headers, uri.query()).await?;
    tracing::debug!(camera = %id, quality = %viewer.quality(), "live viewer");
    // The session is checked on the main runtime; the video thread only polls the answer.
    Ok(serve_viewer(
        &s,
        ws,
        viewer,
        id,
        move || session.spawn(),
        slot,
    ))
}

/// Answers the upgrade with `viewer`'s video until the client leaves, the camera goes or
/// `session` (made once the socket is open) ends; `slot` is held as long. Also what an ingest
/// worker serves a hub with (`crate::http::worker`).
pub(crate) fn serve_viewer<S, F>(
    s: &AppState,
    ws: WebSocketUpgrade,
    viewer: Viewer,
    id: String,
    session: F,
    slot: impl Send + 'static,
) -> Response
where
    S: std::future::Future<Output = &'static str> + Unpin + Send + 'static,
    F: FnOnce() -> S + Send + 'static,
{
    let delay = s.cameras.live_send_delay.clone();
    let idle = s.cameras.config.live_idle();
    ws.on_upgrade(move |socket| async move {
        let session = session();
        let home = viewer.home().cloned();
        // The slot is held for as long as the socket is served, wherever that is.
        let served = async move {
            serve(socket, viewer, id, delay, session, idle).await;
            drop(slot);
        };
        // On the camera's video thread when it has one (see `Viewer::home`).
        match home {
            Some(home) => drop(home.spawn(served)),
            None => served.await,
        }
    })
}

pub(crate) fn upgrade(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<WebSocketUpgrade> {
    Ok(ws
        .map_err(|r| {
            ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "websocket_required",
                format!("this endpoint speaks WebSocket only ({})", r.body_text()),
            )
        })?
        // Control messages (pause, speed, back to live) are a few bytes: a client's message of
        // more closes its socket, as on the event stream, before tungstenite's 64 MiB default
        // is buffered.
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER))
}

/// One of the caller's live sockets (`[cameras] max_live_per_user`): a playback counts as
/// one, it holds a socket and reads files as long.
pub(crate) fn live_slot(s: &AppState, caller: &Caller) -> ApiResult<SocketSlot> {
    s.sockets.claim(
        SocketKind::Live,
        caller,
        s.cameras.config.max_live_per_user.max(1),
    )
}

/// `?from=`: the recordings, for those who may see them (admins and duty officers, as for
/// `…/recordings`); 404 `no_recording` when nothing is recorded at or after `from`.
///
/// On a hub in `[ingest] mode = "workers"` the playback is relayed to the worker holding the
/// camera ([`super::proxy::playback`]), after the checks here: its replay has the segment it
/// is writing, so the playback runs on to live. When no worker holds the camera or it cannot
/// serve the playback now, the hub plays it itself, from the finished segments only.
async fn playback(
    s: AppState,
    caller: Caller,
    id: String,
    from: DateTime<Utc>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if !OVERSIGHT.contains(&caller.role()) {
        return Err(ApiError::forbidden(
            "playback of recordings is for admins and duty officers",
        ));
    }
    ensure_visible(&s, &caller, &id).await?;
    if s.config.ingest.workers() {
        if let Some(worker) = super::proxy::playback(&s, &id, from).await {
            let ws = upgrade(ws)?;
            let slot = live_slot(&s, &caller)?;
            let session = SessionWatch::of_request(&s, &headers, uri.query()).await?;
            tracing::debug!(camera = %id, %from, "playback viewer, relayed to the camera's worker");
            return Ok(super::proxy::relayed(&s, ws, worker, session, id, slot));
        }
    }
    let replay = open_replay(&s, &id, from).await?;
    let ws = upgrade(ws)?;
    let slot = live_slot(&s, &caller)?;
    let session = SessionWatch::of_request(&s, &headers, uri.query()).await?;
    Ok(serve_replay(&s, ws, replay, id, Some(session), slot))
}

/// `id`'s recordings from `from`, as this process reads them (finished segments wherever they
/// were recorded, and the segment its own recorder is writing); 404 `no_recording` when
/// nothing is recorded at or after `from`. With [`serve_replay`], the playback a hub serves,
/// and what an ingest worker serves a hub with (`crate::http::worker`).
pub(crate) async fn open_replay(s: &AppState, id: &str, from: DateTime<Utc>) -> ApiResult<Replay> {
    let recorder = s.recording.recorder().cloned();
    Replay::open(s.recording.files.clone(), recorder, id, from)
        .await
        .map_err(|e| {
            tracing::error!(camera = %id, error = %e, "playback could not read the index");
            ApiError::internal(e.to_string())
        })?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_recording",
                format!("camera {id} has no recording at or after {from}"),
            )
        })
}

/// Answers the upgrade with `replay` ([`super::replay::serve`]) until it ends, the client
/// leaves or `session` ends; `slot` is held as long.
pub(crate) fn serve_replay(
    s: &AppState,
    ws: WebSocketUpgrade,
    replay: Replay,
    id: String,
    session: Option<SessionWatch>,
    slot: impl Send + 'static,
) -> Response {
    tracing::debug!(camera = %id, "playback viewer");
    let idle = s.cameras.config.live_idle();
    ws.on_upgrade(move |socket| async move {
        let session = session.map(SessionWatch::spawn);
        super::replay::serve(socket, replay, id, session, idle).await;
        drop(slot);
    })
}

/// One frame, or the socket is given up.
pub(crate) async fn send(
    tx: &mut futures::stream::SplitSink<WebSocket, Message>,
    msg: Message,
) -> Result<(), &'static str> {
    let mut sending = std::pin::pin!(tx.send(msg));
    // Nearly every send completes at once (the socket takes the bytes): those need no timer,
    // which would cost a clock reading and a timer entry per frame per viewer.
    let sent = match futures::poll!(sending.as_mut()) {
        Poll::Ready(sent) => Ok(sent),
        Poll::Pending => tokio::time::timeout(WRITE_TIMEOUT, sending).await,
    };
    match sent {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("socket closed"),
        Err(_) => Err("client too slow"),
    }
}

/// Reads what the client sends until it leaves, then says so on `left`. A live viewer sends
/// next to nothing: pings and a close, which the socket answers itself on the read that
/// follows them (so this reads on after a close, until the stream ends). Reading in the sending
/// loop instead would mean a read attempt, with its buffer preparation, after every frame.
async fn watch_client(
    mut rx: futures::stream::SplitStream<WebSocket>,
    left: oneshot::Sender<()>,
    heard: Arc<AtomicU64>,
    born: Instant,
) {
    while let Some(Ok(_)) = rx.next().await {
        heard.store(born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    let _ = left.send(());
}

async fn serve(
    socket: WebSocket,
    mut viewer: Viewer,
    camera: String,
    delay: prometheus::Histogram,
    mut session: impl std::future::Future<Output = &'static str> + Unpin,
    idle: Duration,
) {
    let (mut tx, rx) = socket.split();
    let (left_tx, mut left) = oneshot::channel();
    // When the client was last heard from, in ms after `born`: written by the reader, read
    // at each ping (an atomic, not a channel: one store per pong, no wake-up).
    let born = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    // Part of this connection, not a background task: it ends (aborted) with the connection.
    let client = tokio::spawn(watch_client(rx, left_tx, heard.clone(), born));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + idle / 4, idle / 4);
    let quality = viewer.quality();
    let ended = loop {
        tokio::select! {
            biased;
            _ = &mut left => break "client left",
            _ = ping.tick() => {
                let silent = born.elapsed().saturating_sub(Duration::from_millis(heard.load(Ordering::Relaxed)));
                if silent >= idle {
                    let close = CloseFrame { code: SLOW_CLIENT, reason: "not reading: too slow".into() };
                    let _ = send(&mut tx, Message::Close(Some(close))).await;
                    break "client too slow (no pong)";
                }
                if let Err(why) = send(&mut tx, Message::Ping(Default::default())).await {
                    break why;
                }
            }
            why = &mut session => {
                let _ = send(&mut tx, session_over(why)).await;
                break why;
            }
            msg = viewer.recv() => {
                let Some(msg) = msg else {
                    let close = CloseFrame { code: 1001, reason: "camera removed".into() };
                    let _ = send(&mut tx, Message::Close(Some(close))).await;
                    break "camera removed";
                };
                let sent = match msg {
                    LiveMessage::Init { mime, segment } => {
                        let text = json!({"type": "init", "mime": &*mime, "quality": quality}).to_string();
                        match send(&mut tx, Message::Text(text.into())).await {
                            Ok(()) => send(&mut tx, Message::Binary(segment)).await,
                            Err(e) => Err(e),
                        }
                    }
                    LiveMessage::Media(segment) => {
                        let sent = send(&mut tx, Message::Binary(segment)).await;
                        // Arrival from the camera to the socket having taken the bytes.
                        if let (Ok(()), Some(arrived)) = (&sent, viewer.arrived()) {
                            delay.observe(arrived.elapsed().as_secs_f64());
                        }
                        sent
                    }
                };
                if let Err(why) = sent {
                    break why;
                }
            }
        }
    };
    if ended != "client left" {
        // The closing handshake: a client reading its backlog answers pings on the way to our
        // close frame; dropping the socket now would reset those writes and lose the close
        // (and its reason) before the client reads it.
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut left).await;
    }
    client.abort();
    tracing::debug!(%camera, %quality, skips = viewer.skips(), why = ended, "live viewer gone");
}
