//! `GET /api/v1/cameras/{id}/live?from=<RFC 3339>`: playback of the recordings over the live
//! path, for admins and duty officers (the roles of `…/recordings`).
//!
//! The framing is live's (see [`super::live`]): a text frame `{"type":"init","mime":…}` then
//! the init segment as a binary frame, then one media segment per frame, from the last keyframe
//! at or before `from`, paced at the wall clock times the speed ([`Pace`]). Added for playback:
//!
//! - the client may send `{"type":"speed","value":1|2|4}`, `{"type":"pause"}` and
//!   `{"type":"resume"}` (anything else is answered `{"type":"error","message":…}`);
//! - a gap in the recordings is skipped (the media timeline runs on, so the player never waits)
//!   and told as `{"type":"gap","from":…,"to":…}`;
//! - a new init segment (with its text frame) comes when the codec parameters change;
//! - at the end of what is recorded the server sends `{"type":"end"}` and closes with 1000:
//!   the page goes back to live.
//!
//! As for live, a socket whose session ends is closed with 1008, a client that does not take
//! a frame within [`super::live::WRITE_TIMEOUT`] is dropped, and one that has not answered a
//! ping for `[cameras] live_idle_seconds` (paused, then gone) is closed with 4008.

use super::heartbeat::{silent, Beat, Heartbeat};
use super::live::send;
use super::stream::{session_over, SessionEnd};
use crate::recording::replay::{Replay, ReplayItem};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::SecondsFormat;
use futures::StreamExt;
use gridwatch_core::recording::pace::Pace;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// How far ahead of the player frames are sent: enough for the next segment to be read at a
/// boundary without the player's buffer running dry.
const LEAD: Duration = Duration::from_millis(500);

/// What a client may ask of a playback.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Speed { value: u32 },
    Pause,
    Resume,
}

/// What the client did, read while a frame waits for its time.
enum Heard {
    Left,
    Control(Result<Control, String>),
    Nothing,
}

fn heard(msg: Option<Result<Message, axum::Error>>, heartbeat: &mut Heartbeat) -> Heard {
    if matches!(msg, Some(Ok(_))) {
        heartbeat.heard();
    }
    match msg {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Heard::Left,
        Some(Ok(Message::Text(text))) => {
            Heard::Control(serde_json::from_str::<Control>(&text).map_err(|e| {
                format!("expected {{\"type\":\"speed\",\"value\":1|2|4}}, pause or resume: {e}")
            }))
        }
        Some(Ok(_)) => Heard::Nothing,
    }
}

fn text(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

/// `session`: the viewer's, whose end closes the socket (1008); `None` for a playback a hub
/// relays, which watches the session itself. `idle`: how long the client may stay silent
/// ([`Heartbeat`]: a paused playback sends nothing that would find it gone).
pub async fn serve(
    socket: WebSocket,
    mut replay: Replay,
    camera: String,
    mut session: Option<SessionEnd>,
    idle: Duration,
) {
    let (mut tx, mut rx) = socket.split();
    let mut heartbeat = Heartbeat::new(idle);
    let mut pace: Option<Pace> = None;
    // Media time at the end of the last frame sent.
    let mut media_end = 0u64;
    let ended: &str = 'socket: loop {
        let item = match replay.next().await {
            Ok(Some(item)) => item,
            Ok(None) => break "end",
            Err(e) => {
                tracing::error!(%camera, error = %e, "playback could not read the recordings");
                let close = CloseFrame {
                    code: 1011,
                    reason: "the recordings could not be read".into(),
                };
                let _ = send(&mut tx, Message::Close(Some(close))).await;
                break "unreadable";
            }
        };
        let pace = pace.get_or_insert_with(|| Pace::new(Instant::now().into(), 0, LEAD));
        // When the item is due: frames at their media time, the end once the last frame has
        // played, the rest at once.
        let due_at = |pace: &Pace| match &item {
            ReplayItem::Frame { media, .. } => pace.due(*media),
            ReplayItem::End => pace.due(media_end).map(|t| t + LEAD),
            _ => Some(Instant::now().into()),
        };
        loop {
            let due = due_at(pace);
            let wait = async {
                match due {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            // Biased, the client's frames before the heartbeat: a pong that waited while the
            // replay read a file is heard before silence is judged.
            tokio::select! {
                biased;
                why = ended(&mut session) => {
                    let _ = send(&mut tx, session_over(why)).await;
                    break 'socket why;
                }
                msg = rx.next() => match heard(msg, &mut heartbeat) {
                    Heard::Left => break 'socket "client left",
                    Heard::Nothing => {}
                    Heard::Control(Err(why)) => {
                        if send(&mut tx, text(json!({"type": "error", "message": why}))).await.is_err() {
                            break 'socket "socket closed";
                        }
                    }
                    Heard::Control(Ok(control)) => {
                        let now = Instant::now().into();
                        match control {
                            Control::Speed { value } => {
                                if !pace.set_speed(now, value) {
                                    let why = format!("speed {value}: expected 1, 2 or 4");
                                    if send(&mut tx, text(json!({"type": "error", "message": why}))).await.is_err() {
                                        break 'socket "socket closed";
                                    }
                                }
                            }
                            Control::Pause => pace.pause(now),
                            Control::Resume => pace.resume(now),
                        }
                    }
                },
                beat = heartbeat.tick() => match beat {
                    Beat::Ping => {
                        if send(&mut tx, Message::Ping(Default::default())).await.is_err() {
                            break 'socket "socket closed";
                        }
                    }
                    Beat::Silent => {
                        let _ = send(&mut tx, Message::Close(Some(silent()))).await;
                        break 'socket "client silent (no pong)";
                    }
                },
                () = wait => break,
            }
        }
        let sent = match item {
            ReplayItem::Init { mime, segment } => {
                match send(
                    &mut tx,
                    text(json!({"type": "init", "mime": mime, "quality": "main"})),
                )
                .await
                {
                    Ok(()) => send(&mut tx, Message::Binary(segment.into())).await,
                    Err(e) => Err(e),
                }
            }
            ReplayItem::Gap { from, to } => {
                let at = |t: chrono::DateTime<chrono::Utc>| {
                    t.to_rfc3339_opts(SecondsFormat::Millis, true)
                };
                send(
                    &mut tx,
                    text(json!({"type": "gap", "from": at(from), "to": at(to)})),
                )
                .await
            }
            ReplayItem::Frame {
                media,
                duration,
                segment,
                ..
            } => {
                media_end = media + u64::from(duration);
                send(&mut tx, Message::Binary(segment.into())).await
            }
            ReplayItem::End => {
                let _ = send(&mut tx, text(json!({"type": "end"}))).await;
                let close = CloseFrame {
                    code: 1000,
                    reason: "end of the recording".into(),
                };
                let _ = send(&mut tx, Message::Close(Some(close))).await;
                break "end";
            }
        };
        if let Err(why) = sent {
            break why;
        }
    };
    tracing::debug!(%camera, why = ended, "playback viewer gone");
}

/// When the session ends; never, when there is none to watch.
async fn ended(session: &mut Option<SessionEnd>) -> &'static str {
    match session {
        Some(end) => end.await,
        None => std::future::pending().await,
    }
}
