//! Playback over the live WebSocket path (`…/live?from=`) from a served hub that records a
//! simulated camera: the live framing (init text and segment, then one media segment per
//! frame), a media timeline that runs on across segment boundaries and an outage (told as a
//! `gap` text frame, never a stall), 4× delivering about four times the media per wall second,
//! pause and resume, `end` at the end of the recording, and the roles of `…/recordings`. On
//! both backends.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use gridwatch_ingest::fmp4::inspect::{parse_init_segment, parse_media_segment};
use gridwatch_store::testing::fresh_store;
use gridwatch_store::Backend;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::playback::{segments_of, token};
use super::served::{add_camera, serve_recording};
use crate::ingest_common::start_sim;

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What a playback socket delivered, with when each piece arrived.
#[derive(Default, Debug)]
pub(crate) struct Received {
    pub texts: Vec<Value>,
    pub inits: usize,
    /// (arrival, decode time, duration) of each media segment.
    pub frames: Vec<(Instant, u64, u64)>,
    /// The recorded wall clock (`prft`) of each media segment.
    pub walls: Vec<DateTime<Utc>>,
    pub closed_with: Option<u16>,
    /// The socket failed (the hub gone before its close frame was read).
    pub failed: Option<String>,
}

/// An NTP timestamp (seconds since 1900, 32.32 fixed point) as a time.
fn ntp_wall(ntp: u64) -> DateTime<Utc> {
    let secs = (ntp >> 32) as i64 - 2_208_988_800;
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    DateTime::from_timestamp(secs, nanos as u32).unwrap()
}

/// Reads `ws` until it closes or `until`.
pub(super) async fn read(ws: &mut Socket, got: &mut Received, until: Instant) {
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        let Ok(msg) = tokio::time::timeout(left, ws.next()).await else {
            return;
        };
        match msg {
            None => return,
            Some(Err(e)) => {
                got.failed = Some(e.to_string());
                return;
            }
            Some(Ok(Message::Text(t))) => got.texts.push(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Binary(b))) => {
                if &b[4..8] == b"ftyp" {
                    parse_init_segment(&b).expect("an init segment");
                    got.inits += 1;
                } else {
                    let m = parse_media_segment(&b).expect("a media segment");
                    assert!(m.producer_time.is_some(), "a prft with the recorded time");
                    let d: u64 = m
                        .samples
                        .iter()
                        .map(|s| u64::from(s.duration.unwrap_or(0)))
                        .sum();
                    got.frames.push((Instant::now(), m.base_decode_time, d));
                    got.walls
                        .push(ntp_wall(m.producer_time.unwrap().ntp_timestamp));
                }
            }
            Some(Ok(Message::Close(c))) => {
                got.closed_with = c.map(|c| u16::from(c.code));
                return;
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Reads `ws` for `ms` milliseconds.
async fn read_for(ws: &mut Socket, got: &mut Received, ms: u64) {
    read(ws, got, Instant::now() + Duration::from_millis(ms)).await;
}

/// Sends a control message.
pub(super) async fn control(ws: &mut Socket, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

fn media_seconds(frames: &[(Instant, u64, u64)]) -> f64 {
    frames.iter().map(|f| f.2).sum::<u64>() as f64 / 90_000.0
}

async fn playback_over_the_live_path(backend: Backend) {
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let store = fresh_store(backend, tmp.path()).await.unwrap();
    let camera = add_camera(&store, &sim.url(1)).await;
    let running = serve_recording(store.clone(), &tmp.path().join("samples"), |c| {
        c.cameras.backoff_initial_ms = 200;
        c.cameras.backoff_max_ms = 500;
        // Pinged every 0.5 s, closed after 2 s without an answer.
        c.cameras.live_idle_seconds = 2;
    })
    .await;
    super::served::wait_for_segments(&store, &camera, 3).await;
    sim.stop(1).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resumed = Utc::now();
    sim.resume(1).unwrap();
    let started = Instant::now();
    let segments = loop {
        let all = segments_of(&store, &camera).await;
        if all.iter().filter(|s| s.start > resumed).count() >= 4 {
            break all;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "{all:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let recorded_frames: u64 = segments.iter().map(|s| s.frames).sum();
    let first = segments[0].clone();
    let ws_base = format!("ws://{}/api/v1/cameras/{camera}/live", running.addr);
    let duty = token(&store, "duty_officer", None).await;
    let url =
        |token: &str, from: DateTime<Utc>| format!("{ws_base}?token={token}&from={}", at(from));

    // Roles: those of the recordings; a range with nothing recorded is 404 before the upgrade.
    let post = store
        .create_post(
            serde_json::from_value(json!({"name": "警务室", "lat": 26.5, "lon": 107.9})).unwrap(),
            Utc::now(),
        )
        .await
        .unwrap();
    for (role, post, status) in [
        ("responder", Some(post.id.as_str()), 403),
        ("resident", None, 403),
    ] {
        let t = token(&store, role, post).await;
        match tokio_tungstenite::connect_async(url(&t, first.start))
            .await
            .unwrap_err()
        {
            tokio_tungstenite::tungstenite::Error::Http(r) => {
                assert_eq!(r.status(), status, "{role}")
            }
            other => panic!("{role}: expected {status}, got {other}"),
        }
    }
    match tokio_tungstenite::connect_async(url(&duty, Utc::now() + chrono::Duration::hours(1)))
        .await
        .unwrap_err()
    {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 404),
        other => panic!("expected 404, got {other}"),
    }
    let admin = token(&store, "admin", None).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(url(&admin, first.start))
        .await
        .unwrap();
    ws.close(None).await.unwrap();

    // 4× from the first segment to the end: across every boundary and the outage.
    let asked = Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(url(&duty, first.start))
        .await
        .unwrap();
    control(&mut ws, json!({"type": "speed", "value": 4})).await;
    let mut got = Received::default();
    read(&mut ws, &mut got, Instant::now() + Duration::from_secs(30)).await;
    assert_eq!(
        got.texts.first().unwrap()["type"],
        "init",
        "{:?}",
        got.texts
    );
    assert!(got.texts[0]["mime"]
        .as_str()
        .unwrap()
        .starts_with("video/mp4; codecs="));
    assert_eq!(got.inits, 1, "the codec never changed: one init segment");
    let first_frame = got.frames[0].0 - asked;
    println!(
        "playback: first frame {} ms after the request",
        first_frame.as_millis()
    );
    assert!(first_frame < Duration::from_secs(1), "{first_frame:?}");
    assert!(
        got.frames.len() as u64 >= recorded_frames,
        "{} < {recorded_frames}",
        got.frames.len()
    );
    // One continuous media timeline, gap or not.
    for w in got.frames.windows(2) {
        assert_eq!(w[1].1, w[0].1 + w[0].2, "decode times run on");
    }
    let gaps: Vec<&Value> = got.texts.iter().filter(|t| t["type"] == "gap").collect();
    assert_eq!(gaps.len(), 1, "{:?}", got.texts);
    let gap_from: DateTime<Utc> = serde_json::from_value(gaps[0]["from"].clone()).unwrap();
    let gap_to: DateTime<Utc> = serde_json::from_value(gaps[0]["to"].clone()).unwrap();
    assert!(
        gap_to - gap_from >= chrono::Duration::milliseconds(2500),
        "{:?}",
        gaps[0]
    );
    assert_eq!(got.texts.last().unwrap()["type"], "end", "{:?}", got.texts);
    // The same range as one MP4 holds its picture over the outage, and says where.
    let last = segments.last().unwrap();
    let mp4 = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/cameras/{camera}/recordings.mp4?from={}&to={}",
            running.addr,
            at(first.start),
            at(last.end)
        ))
        .bearer_auth(&duty)
        .send()
        .await
        .unwrap();
    assert_eq!(mp4.status(), 200);
    let said = super::support::not_recorded_said(mp4.headers());
    assert!(
        said.len() == 1
            && super::support::near_ms(said[0].0, gap_from)
            && super::support::near_ms(said[0].1, gap_to),
        "{said:?}, the gap told was {:?}",
        gaps[0]
    );
    assert_eq!(got.closed_with, Some(1000));
    // No stall: never more than half a second without a frame (a frame is 10 ms at 4×).
    let stall = got
        .frames
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap();
    assert!(stall < Duration::from_millis(500), "stalled {stall:?}");
    // Past the first 3 s of media (what the lead sends at once: half a second of wall time,
    // 2 s of media at 4×), 4× the media per wall second.
    let k = got.frames.iter().position(|f| f.1 >= 3 * 90_000).unwrap();
    let last = got.frames.last().unwrap();
    let rate =
        (last.1 - got.frames[k].1) as f64 / 90_000.0 / (last.0 - got.frames[k].0).as_secs_f64();
    println!(
        "playback at 4x: {:.2} media s per wall s over {:.1} media s",
        rate,
        media_seconds(&got.frames[k..])
    );
    assert!((3.2..4.8).contains(&rate), "{rate}");

    // 1× from the middle of the second segment: pause holds, resume goes on.
    let middle = segments[1].start + (segments[1].end - segments[1].start) / 2;
    let (mut ws, _) = tokio_tungstenite::connect_async(url(&duty, middle))
        .await
        .unwrap();
    let mut got = Received::default();
    read_for(&mut ws, &mut got, 1500).await;
    let played = media_seconds(&got.frames);
    assert!(
        (1.2..2.8).contains(&played),
        "1x for 1.5 s: {played} s of media"
    );
    control(&mut ws, json!({"type": "pause"})).await;
    read_for(&mut ws, &mut got, 300).await;
    let paused = got.frames.len();
    read_for(&mut ws, &mut got, 1200).await;
    assert_eq!(got.frames.len(), paused, "nothing sent while paused");
    control(&mut ws, json!({"type": "resume"})).await;
    read_for(&mut ws, &mut got, 1000).await;
    assert!(
        got.frames.len() > paused + 10,
        "resumed: {} after {paused}",
        got.frames.len()
    );
    control(&mut ws, json!({"type": "speed", "value": 3})).await;
    read_for(&mut ws, &mut got, 300).await;
    assert!(
        got.texts.iter().any(|t| t["type"] == "error"),
        "an unknown speed is answered: {:?}",
        got.texts
    );
    assert_eq!(got.closed_with, None);
    ws.close(None).await.unwrap();

    // Paused for longer than the idle time: a client that reads (and so answers the hub's
    // pings) keeps its playback; one that has gone (reads nothing, answers nothing) is closed
    // with 4008, not held until its session ends.
    let (mut ws, _) = tokio_tungstenite::connect_async(url(&duty, middle))
        .await
        .unwrap();
    let mut got = Received::default();
    read_for(&mut ws, &mut got, 500).await;
    control(&mut ws, json!({"type": "pause"})).await;
    read_for(&mut ws, &mut got, 3500).await;
    assert_eq!(got.closed_with, None, "a paused client that answers stays");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    read_for(&mut ws, &mut got, 5000).await;
    // The client's pongs, written as it reads again, may meet the closed socket first.
    assert!(
        got.closed_with == Some(4008)
            || got
                .failed
                .as_deref()
                .is_some_and(|e| e.contains("Broken pipe")),
        "a paused client gone silent is closed: {:?} {:?}",
        got.closed_with,
        got.failed
    );

    running.state.cameras.registry.clear();
    running.task.abort();
}

served_on_both!(playback_over_the_live_path);
