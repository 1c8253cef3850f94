//! Recordings of cameras held by ingest workers, read through the hub (issue 17): a real hub
//! in `workers` mode and a real worker with `[recording] dirs`, on loopback, with the camera
//! simulator. Through the hub's HTTP: the timeline, `recordings.mp4` (whole, a range, ffprobe),
//! playback over `live?from=`, and an incident's evidence clip sealed on the hub from the
//! worker's segments (its manifest lists their indexed hashes). The hub fetches the segments
//! into its cache and checks them: a cached file altered on the hub is fetched again, a worker
//! serving altered bytes is refused (502), and a stopped worker is a 503 JSON error. Both
//! backends.

use crate::common::recording_worker::{
    one_camera, recording_worker, start_hub, start_worker, OneCamera,
};
use crate::recording::playback::segments_of;
use crate::recording::support::{
    exports, near_ms, not_recorded_said, recordings_mp4, recordings_timeline,
};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures::{SinkExt, StreamExt};
use gridwatch_core::recording::evidence::JobState;
use gridwatch_core::recording::Segment;
use gridwatch_hub::recording::evidence;
use gridwatch_hub::workers::IngestMode;
use gridwatch_hub::Config;
use gridwatch_store::{Backend, Store};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

const SECRET: &str = "a-secret-for-worker-recording-tests";

/// A running hub and a running worker, each with what stops it.
pub(crate) type HubAndWorker = (
    (
        gridwatch_hub::server::Running,
        tokio::sync::oneshot::Sender<()>,
    ),
    (
        gridwatch_hub::server::worker::RunningWorker,
        tokio::sync::oneshot::Sender<()>,
    ),
);

/// A hub in `workers` mode and a recording worker writing minute-long segments (so that the
/// one being written stays open through a test), under `dir`.
pub(crate) async fn hub_and_minute_worker(dir: &Path, store: &Store) -> HubAndWorker {
    hub_and_worker(dir, store, 60).await
}

/// A hub in `workers` mode and a recording worker (`w1`) writing segments of `seconds` into
/// `dir`/samples.
pub(crate) async fn hub_and_worker(dir: &Path, store: &Store, seconds: u64) -> HubAndWorker {
    let hub = start_hub(config(&dir.join("hub")), store).await;
    let mut worker_config = recording_worker(config(&dir.join("worker")), &dir.join("samples"));
    worker_config.recording.segment_seconds = seconds;
    (hub, start_worker(worker_config, store).await)
}

/// A hub or worker in `workers` mode, sharing the test's secret.
pub(crate) fn config(data_dir: &Path) -> Config {
    let mut c = Config::default();
    c.ingest.mode = IngestMode::Workers;
    c.ingest.secret = SECRET.into();
    c.listen = "127.0.0.1:0".into();
    c.data_dir = data_dir.to_path_buf();
    c.cameras.backoff_initial_ms = 200;
    c.cameras.backoff_max_ms = 1000;
    // No evidence floor: the test machine's disk may have less free than the default.
    c.evidence.min_free_bytes = 0;
    c
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn token(store: &Store, role: &str) -> String {
    let user = store
        .create_user(
            serde_json::from_value(json!({"username": format!("{role}1"),
                "password": "password-1", "role": role}))
            .unwrap(),
            Utc::now(),
        )
        .await
        .unwrap();
    store
        .open_session(user, chrono::Duration::hours(1), Utc::now())
        .await
        .unwrap()
        .token
}

/// The first bytes of the first frame in `file`'s `mdat` (as recorded).
fn first_frame_bytes(file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == b"mdat")
        .expect("an mdat box");
    bytes[at + 4..at + 4 + 48].to_vec()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn cached_files(dir: &Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => vec![],
    }
}

async fn worker_recordings_through_the_hub(backend: Backend) {
    let OneCamera {
        sim: _sim,
        dir: tmp,
        store,
        camera,
    } = one_camera(backend).await;

    // The hub: no recorder of its own; it seals evidence all the same.
    let hub_dir = tmp.path().join("hub");
    let mut hub_config = config(&hub_dir);
    hub_config.evidence.pre_seconds = 2;
    hub_config.evidence.post_seconds = 2;
    // The hub's relay pings the browser every 0.5 s and gives up after 2 s of silence (the
    // worker keeps its default: it is the relay's heartbeat that is tested below).
    hub_config.cameras.live_idle_seconds = 2;
    let (hub, stop_hub) = start_hub(hub_config, &store).await;
    assert!(hub.state.recording.recorder().is_none());

    // The worker records into its own directory, in 1 s segments.
    let samples = tmp.path().join("samples");
    let worker_config = recording_worker(config(&tmp.path().join("worker")), &samples);
    let (worker, stop_worker) = start_worker(worker_config, &store).await;

    let base = format!("http://{}", hub.addr);
    let http = reqwest::Client::new();
    let duty = token(&store, "duty_officer").await;
    let started = std::time::Instant::now();
    while segments_of(&store, &camera).await.len() < 6 {
        assert!(
            started.elapsed().as_secs() < 40,
            "the worker recorded nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let segments = segments_of(&store, &camera).await;
    let (first, last) = (&segments[0], &segments[segments.len() - 1]);
    let dir_id = &segments[0].dir_id;
    assert_eq!(
        worker
            .state
            .recording
            .recorder()
            .unwrap()
            .dir_path(dir_id)
            .map(|p| p.canonicalize().unwrap()),
        Some(samples.canonicalize().unwrap()),
        "the worker's directory"
    );

    // The worker serves its segments to hubs only, and only its own indexed ones.
    let wbase = format!("http://{}", worker.addr);
    let direct = format!("{wbase}/internal/v1/recordings/segments/{}", first.id);
    assert_eq!(http.get(&direct).send().await.unwrap().status(), 401);
    let own = http
        .get(&direct)
        .header("x-gridwatch-worker-secret", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(
        own.bytes().await.unwrap().to_vec(),
        std::fs::read(samples.join(&first.path)).unwrap()
    );
    let unknown = http
        .get(format!("{wbase}/internal/v1/recordings/segments/nope"))
        .header("x-gridwatch-worker-secret", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_segment", "{body}");

    // The timeline, through the hub.
    let timeline = recordings_timeline(
        &base,
        &camera,
        &duty,
        first.start - Duration::seconds(1),
        last.end,
    )
    .await;
    let spans = timeline["spans"].as_array().expect("spans");
    assert!(!spans.is_empty(), "{timeline}");

    // The MP4 of the first three segments: fetched from the worker, built on the hub.
    let mp4_url = format!("{base}/api/v1/cameras/{camera}/recordings.mp4");
    let range = [("from", rfc(first.start)), ("to", rfc(segments[2].end))];
    let get_mp4 = |range: [(&'static str, String); 2], extra: Option<&'static str>| {
        let mut req = http.get(&mp4_url).query(&range).bearer_auth(&duty);
        if let Some(r) = extra {
            req = req.header("Range", r);
        }
        req.send()
    };
    let resp = get_mp4(range.clone(), None).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    let whole = resp.bytes().await.unwrap().to_vec();
    for s in &segments[..3] {
        let frame = first_frame_bytes(&samples.join(&s.path));
        assert!(
            contains(&whole, &frame),
            "segment {} is not in the MP4",
            s.path
        );
    }
    let copy = tmp.path().join("through-hub.mp4");
    std::fs::write(&copy, &whole).unwrap();
    if crate::ingest_common::media::have_ffprobe("worker_recordings_through_the_hub") {
        assert!(crate::ingest_common::media::probe(&copy).frames > 0);
    }
    let part = get_mp4(range.clone(), Some("bytes=0-99")).await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), whole[..100]);

    // The hub keeps what it fetched, byte for byte the worker's files.
    let cache = hub_dir.join("cache").join("segments");
    let cached_path = |s: &Segment| cache.join(format!("{}.mp4", s.id));
    for s in &segments[..3] {
        assert_eq!(
            std::fs::read(cached_path(s)).unwrap(),
            std::fs::read(samples.join(&s.path)).unwrap(),
            "cached {}",
            s.path
        );
    }

    // A cached file altered on the hub is not used: fetched again, and the MP4 is the same.
    let victim = cached_path(&segments[1]);
    let len = std::fs::metadata(&victim).unwrap().len() as usize;
    std::fs::write(&victim, vec![0u8; len]).unwrap();
    let again = get_mp4(range.clone(), None).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.bytes().await.unwrap().to_vec(), whole);
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        std::fs::read(samples.join(&segments[1].path)).unwrap()
    );

    // A worker serving bytes that are not the indexed ones is refused, and nothing is kept.
    // (The first MP4 may have fetched this segment already, when it touches the range's end.)
    let _ = std::fs::remove_file(cached_path(&segments[3]));
    let original_path = samples.join(&segments[3].path);
    let original = std::fs::read(&original_path).unwrap();
    let mut altered = original.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0xff;
    std::fs::write(&original_path, &altered).unwrap();
    let bad_range = [
        ("from", rfc(segments[3].start)),
        ("to", rfc(segments[3].end)),
    ];
    let refused = get_mp4(bad_range.clone(), None).await.unwrap();
    assert_eq!(refused.status(), 502);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "recording_mismatch", "{body}");
    assert!(!cached_path(&segments[3]).exists());
    assert!(cached_files(&cache)
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".part")));
    std::fs::write(&original_path, &original).unwrap();
    let fixed = get_mp4(bad_range, None).await.unwrap();
    assert_eq!(fixed.status(), 200);

    // Playback over the live socket, through the hub, from the first segment.
    let url = format!(
        "ws://{}/api/v1/cameras/{camera}/live?from={}&token={duty}",
        hub.addr,
        rfc(first.start)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut init, mut binary) = (None, 0);
    while binary < 5 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("playback in time")
            .expect("open")
            .unwrap()
        {
            tokio_tungstenite::tungstenite::Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_ne!(v["type"], "error", "{v}");
                if v["type"] == "init" {
                    init = Some(v);
                }
            }
            tokio_tungstenite::tungstenite::Message::Binary(_) => binary += 1,
            _ => {}
        }
    }
    assert!(init.expect("an init first")["mime"]
        .as_str()
        .unwrap()
        .starts_with("video/mp4"));
    // Paused through the relay: a browser that reads (and answers pings) keeps it past the
    // idle time; one gone silent is closed by the hub, though the worker's replay, whose
    // pings the relay answers, would hold it.
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    ws.send(WsMessage::Text(r#"{"type":"pause"}"#.into()))
        .await
        .unwrap();
    assert_eq!(read_for(&mut ws, 3).await, "open", "paused, answering");
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(read_for(&mut ws, 5).await, "closed", "paused, gone silent");

    // An incident naming the camera, raised when it was being recorded: its clip is sealed on
    // the hub, from the worker's segments, and its manifest lists their indexed hashes.
    let recorded = segments_of(&store, &camera).await;
    let raised = recorded[recorded.len() - 1].end - Duration::milliseconds(2500);
    let mut sos = gridwatch_store::testing::bare_sos(&gridwatch_core::id::new_id());
    sos.raise.cameras = vec![camera.clone()];
    let incident = store.raise_incident(sos, raised).await.unwrap().incident.id;
    let started = std::time::Instant::now();
    let clip = loop {
        let listed: Value = http
            .get(format!("{base}/api/v1/incidents/{incident}/clips"))
            .bearer_auth(&duty)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(c) = listed["clips"].as_array().and_then(|c| c.first()) {
            break c.clone();
        }
        assert!(started.elapsed().as_secs() < 20, "no clip sealed: {listed}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let sealed = store.evidence_clips(&incident).await.unwrap();
    assert_eq!(sealed.len(), 1);
    let evidence_dir = hub_dir.join("evidence");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(evidence_dir.join(&sealed[0].manifest_file)).unwrap(),
    )
    .unwrap();
    let listed = manifest["segments"].as_array().expect("segments");
    assert!(!listed.is_empty(), "{manifest}");
    for s in listed {
        let row = recorded
            .iter()
            .find(|r| r.id == s["id"].as_str().unwrap())
            .expect("a worker's segment");
        assert_eq!(s["sha256"], row.sha256.as_str());
        assert_eq!(row.dir_id, *dir_id);
    }
    let clip_bytes = http
        .get(format!(
            "{base}/api/v1/incidents/{incident}/clips/{}",
            clip["id"].as_str().unwrap()
        ))
        .bearer_auth(&duty)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(clip_bytes.len() as u64, clip["bytes"].as_u64().unwrap());
    let report = gridwatch_hub::recording::verify_evidence(Some(&store), &evidence_dir)
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");

    // The worker stopped: what the hub has not fetched is a 503 JSON error, not a 500.
    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
    for f in cached_files(&cache) {
        std::fs::remove_file(f).unwrap();
    }
    let down = get_mp4(range, None).await.unwrap();
    assert_eq!(down.status(), 503);
    assert!(down.headers().contains_key("retry-after"));
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"]["code"], "recording_unavailable", "{body}");

    drop(stop_hub);
    hub.task.await.unwrap().unwrap();

    // Evidence while the worker is away: the job is put off (pending), not failed.
    let raise = |at: DateTime<Utc>| {
        let store = store.clone();
        let camera = camera.clone();
        async move {
            let mut sos = gridwatch_store::testing::bare_sos(&gridwatch_core::id::new_id());
            sos.raise.cameras = vec![camera];
            store.raise_incident(sos, at).await.unwrap().incident.id
        }
    };
    let mut same = config(&hub_dir);
    same.evidence = hub.state.config.evidence.clone();
    let same = gridwatch_hub::AppState::new(
        store.clone(),
        Arc::new(gridwatch_core::clock::SystemClock),
        same,
    );
    let waiting = raise(raised).await;
    let report = evidence::tick(&same.recording).await.unwrap();
    assert_eq!((report.sealed, report.failed), (0, 1), "{report:?}");
    let jobs = store.evidence_jobs(&waiting).await.unwrap();
    assert_eq!(jobs[0].state, JobState::Pending);
    assert!(jobs[0].due > Utc::now(), "retried later");

    // A second node sealing into the same database, from another evidence directory, is
    // refused before it forks the chain. Its cache has the segments (so only the chain
    // differs): with the first node's evidence directory, the same node seals.
    let hub2 = tmp.path().join("hub2");
    let cache2 = hub2.join("cache").join("segments");
    std::fs::create_dir_all(&cache2).unwrap();
    for s in segments_of(&store, &camera).await {
        std::fs::copy(samples.join(&s.path), cache2.join(format!("{}.mp4", s.id))).unwrap();
    }
    let node2 = |evidence_dir: Option<&Path>| {
        let mut c = config(&hub2);
        c.evidence = hub.state.config.evidence.clone();
        if let Some(dir) = evidence_dir {
            c.evidence.dir = dir.to_path_buf();
        }
        gridwatch_hub::AppState::new(
            store.clone(),
            Arc::new(gridwatch_core::clock::SystemClock),
            c,
        )
    };
    let refused = raise(raised).await;
    let report = evidence::tick(&node2(None).recording).await.unwrap();
    assert_eq!((report.sealed, report.failed), (0, 1), "{report:?}");
    assert!(store.evidence_clips(&refused).await.unwrap().is_empty());
    assert!(cached_files(&hub2.join("evidence").join("manifests")).is_empty());
    let sealed_here = raise(raised).await;
    let report = evidence::tick(&node2(Some(&evidence_dir)).recording)
        .await
        .unwrap();
    assert_eq!(report.sealed, 1, "{report:?}");
    assert_eq!(store.evidence_clips(&sealed_here).await.unwrap().len(), 1);
}

served_on_both!(worker_recordings_through_the_hub);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `ws` for up to `secs` (answering pings as it reads): whether it is still "open"
/// then or was "closed" (a close frame, or the connection gone).
async fn read_for(ws: &mut Socket, secs: u64) -> &'static str {
    use tokio_tungstenite::tungstenite::Message;
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => return "open",
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return "closed",
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn next_message(ws: &mut Socket) -> tokio_tungstenite::tungstenite::Message {
    tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("a frame in time")
        .expect("open")
        .unwrap()
}

/// Playback through the hub of the segment the worker is still writing (its 60 s segments keep
/// it open through the test): the hub relays the playback to the worker, whose replay plays its
/// open segment (the index has nothing at or after `from`, so the hub alone has nothing to
/// play), and the viewer's control messages reach the worker's playback: a bad speed is
/// answered there, and 4x catches the replay up with the segment being written, which ends it
/// (at 1x it would stay `from`'s lag behind).
async fn open_segment_through_the_hub(backend: Backend) {
    let OneCamera {
        sim: _sim,
        dir: tmp,
        store,
        camera,
    } = one_camera(backend).await;
    let (hub, stop_hub) = start_hub(config(&tmp.path().join("hub")), &store).await;
    let samples = tmp.path().join("samples");
    let mut worker_config = recording_worker(config(&tmp.path().join("worker")), &samples);
    worker_config.recording.segment_seconds = 60;
    let (worker, stop_worker) = start_worker(worker_config, &store).await;
    let duty = token(&store, "duty_officer").await;

    // The worker's open segment, 6 s into it.
    let recorder = worker.state.recording.recorder().unwrap().clone();
    let started = std::time::Instant::now();
    let open = loop {
        let open = recorder.open_segment(&camera, gridwatch_ingest::config::Quality::Main);
        if let Some((open, _)) =
            open.filter(|(o, _)| DateTime::<Utc>::from(o.start) < Utc::now() - Duration::seconds(6))
        {
            break open;
        }
        assert!(
            started.elapsed().as_secs() < 40,
            "the worker is not recording"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let from = Utc::now() - Duration::seconds(5);
    assert!(DateTime::<Utc>::from(open.start) <= from);
    let indexed = segments_of(&store, &camera).await;
    assert!(
        indexed.iter().all(|s| s.end <= from),
        "a finished segment covers {from}: {indexed:?}"
    );
    let alone = gridwatch_hub::recording::replay::Replay::open(
        hub.state.recording.files.clone(),
        hub.state.recording.recorder().cloned(),
        &camera,
        from,
    )
    .await
    .unwrap();
    assert!(alone.is_none(), "the hub alone has something to play");

    let url = format!(
        "ws://{}/api/v1/cameras/{camera}/live?from={}&token={duty}",
        hub.addr,
        rfc(from)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use tokio_tungstenite::tungstenite::Message;
    let (mut init, mut binary) = (None, 0);
    while binary < 5 {
        match next_message(&mut ws).await {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert!(v["type"] == "init", "{v}");
                init = Some(v);
            }
            Message::Binary(_) => {
                assert!(init.is_some(), "media before the init");
                binary += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(init.unwrap()["mime"]
        .as_str()
        .unwrap()
        .starts_with("video/mp4"));

    // A bad speed is answered by the worker's playback.
    ws.send(Message::Text(r#"{"type":"speed","value":3}"#.into()))
        .await
        .unwrap();
    let answer = loop {
        match next_message(&mut ws).await {
            Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
            Message::Binary(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("speed 3"),
        "{answer}"
    );

    // 4x: caught up with the segment being written, the playback ends (the page goes live).
    ws.send(Message::Text(r#"{"type":"speed","value":4}"#.into()))
        .await
        .unwrap();
    let asked = std::time::Instant::now();
    let mut after = 0;
    let end = loop {
        match next_message(&mut ws).await {
            Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
            Message::Binary(_) => after += 1,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(end["type"], "end", "{end}");
    assert!(after > 0, "no frames between 4x and the end");
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "4x took {:?} to catch up 5 s",
        asked.elapsed()
    );
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("{other:?}"),
    }
    // Still open: what was played was the segment being written.
    assert!(recorder.is_open(&open.id));
    assert!(segments_of(&store, &camera)
        .await
        .iter()
        .all(|s| s.end <= from));

    // The hub's timeline asks the worker what it is writing: recorded up to the last
    // second or two, in progress, not a gap.
    let http = reqwest::Client::new();
    let hub_base = format!("http://{}", hub.addr);
    let base = format!("{hub_base}/api/v1/cameras/{camera}");
    let now = Utc::now();
    let listed = recordings_timeline(&hub_base, &camera, &duty, from, now).await;
    let spans = listed["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{listed}");
    assert_eq!(spans[0]["in_progress"], true, "{listed}");
    let span_to: DateTime<Utc> = spans[0]["to"].as_str().unwrap().parse().unwrap();
    assert!(now - span_to < Duration::seconds(3), "{listed}");

    // The MP4 of the last seconds: built by the worker (the hub has no row for it) and
    // relayed, ranges too.
    let url = format!(
        "{base}/recordings.mp4?from={}&to={}",
        rfc(span_to - Duration::seconds(3)),
        rfc(span_to)
    );
    let ranged = |range: &'static str| {
        let ask = http.get(&url).bearer_auth(&duty).header("range", range);
        async move { ask.send().await.unwrap() }
    };
    // A player's first range (recorded), then a save.
    let part = ranged("bytes=100-1099").await;
    assert_eq!(part.status(), reqwest::StatusCode::PARTIAL_CONTENT);
    let part_range = part.headers()["content-range"].clone();
    let part = part.bytes().await.unwrap();
    let whole = http.get(&url).bearer_auth(&duty).send().await.unwrap();
    assert_eq!(whole.status(), reqwest::StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    let whole = whole.bytes().await.unwrap();
    assert!(whole.len() > 10_000, "{} bytes", whole.len());
    assert_eq!(
        part_range,
        format!("bytes 100-1099/{}", whole.len()).as_str()
    );
    assert_eq!(part, whole[100..1100]);
    // The player's next range joins its access: served, not recorded again.
    let again = ranged("bytes=0-99").await;
    assert_eq!(again.status(), reqwest::StatusCode::PARTIAL_CONTENT);
    assert_eq!(again.bytes().await.unwrap(), whole[..100]);
    if crate::ingest_common::media::have_ffprobe("open_segment_through_the_hub") {
        let file = tmp.path().join("last.mp4");
        std::fs::write(&file, &whole).unwrap();
        let probed = crate::ingest_common::media::probe(&file);
        assert!(probed.duration > 2.8 && probed.duration < 4.5, "{probed:?}");
    }
    // A resident is refused by the hub before any worker is asked.
    let resident = token(&store, "resident").await;
    let refused = http.get(&url).bearer_auth(&resident).send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
    // The hub audits what it relayed as it audits what it builds: each download, once (the
    // range that joined an access is not one).
    let exports = exports(&hub_base, &duty, &format!("camera_id={camera}")).await;
    let listed: Vec<(Value, Value)> = exports["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["range"].clone(), r["bytes"].clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (json!("all"), json!(whole.len())),
            (json!("bytes 100-1099"), json!(1000))
        ],
        "{exports}"
    );
    // The worker's two routes behind this answer hubs only.
    let wbase = format!("http://{}/internal/v1/cameras/{camera}", worker.addr);
    for direct in [
        format!("{wbase}/recording"),
        format!(
            "{wbase}/recordings.mp4?from={}&to={}",
            rfc(from),
            rfc(span_to)
        ),
    ] {
        assert_eq!(http.get(&direct).send().await.unwrap().status(), 401);
        let with_secret = http
            .get(&direct)
            .header("x-gridwatch-worker-secret", SECRET)
            .send()
            .await
            .unwrap();
        assert_eq!(with_secret.status(), 200, "{direct}");
    }

    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
    drop(stop_hub);
    hub.task.await.unwrap().unwrap();
}

served_on_both!(open_segment_through_the_hub);

/// A database that stops taking segment rows while a worker records (PostgreSQL: the table's
/// EXCLUSIVE lock held by another transaction; leases, reads and everything else go on): the
/// worker records on, and through the hub the timeline, `recordings.mp4` (built by the
/// worker, relayed) and playback (the worker's replay, relayed) include the worker's finished
/// segments waiting for their rows. Once the
/// lock goes, the rows go in. PostgreSQL only: workers share a PostgreSQL database in
/// production, and on SQLite the one write lock would hold the leases too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_rows_through_the_hub() {
    let OneCamera {
        sim: _sim,
        dir: tmp,
        store,
        camera,
    } = one_camera(Backend::Postgres).await;
    let (hub, stop_hub) = start_hub(config(&tmp.path().join("hub")), &store).await;
    let samples = tmp.path().join("samples");
    let worker_config = recording_worker(config(&tmp.path().join("worker")), &samples);
    let (worker, stop_worker) = start_worker(worker_config, &store).await;
    let duty = token(&store, "duty_officer").await;
    crate::recording::served::wait_for_segments(&store, &camera, 1).await;
    let first_row = segments_of(&store, &camera).await[0].start;

    let hold = gridwatch_store::testing::hold_recording_index(&store)
        .await
        .unwrap();
    let recorder = worker.state.recording.recorder().unwrap().clone();
    let waiting = || {
        recorder
            .unindexed(&camera, gridwatch_ingest::config::Quality::Main)
            .finished
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while waiting().len() < 3 {
        assert!(std::time::Instant::now() < until, "segments wait for rows");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let held: Vec<_> = waiting().into_iter().map(|(r, _)| r).collect();
    let (from, to): (DateTime<Utc>, DateTime<Utc>) =
        (held[0].start.into(), held.last().unwrap().end.into());
    let indexed = segments_of(&store, &camera).await;
    assert!(held.iter().all(|h| indexed.iter().all(|s| s.id != h.id)));

    let hub_base = format!("http://{}", hub.addr);
    let listed = recordings_timeline(
        &hub_base,
        &camera,
        &duty,
        first_row - Duration::seconds(5),
        Utc::now(),
    )
    .await;
    let spans = listed["spans"].as_array().unwrap();
    assert_eq!(
        spans.len(),
        1,
        "one span through the waiting segments: {listed}"
    );
    let time = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert!(time(&spans[0]["from"]) <= first_row, "{listed}");
    assert!(time(&spans[0]["to"]) >= to, "{listed}");

    let mp4 = recordings_mp4(&hub_base, &camera, &duty, from, to).await;
    if crate::ingest_common::media::have_ffprobe("waiting_rows_through_the_hub") {
        let file = tmp.path().join("waiting.mp4");
        std::fs::write(&file, &mp4).unwrap();
        let probed = crate::ingest_common::media::probe(&file);
        let asked = (to - from).num_milliseconds() as f64 / 1000.0;
        assert!(
            (probed.duration - asked).abs() < 0.5,
            "{probed:?}, asked {asked} s"
        );
    }

    // Playback through the hub (relayed to the worker's replay) from the first waiting
    // segment: every frame of each, on to the present.
    let url = format!(
        "ws://{}/api/v1/cameras/{camera}/live?from={}&token={duty}",
        hub.addr,
        from.to_rfc3339_opts(SecondsFormat::Millis, true)
    );
    let got = crate::recording::open_segment::play_to_the_end(&url).await;
    crate::recording::open_segment::assert_played_every_frame(&got, &held);

    hold.release().await.unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !waiting().is_empty() {
        assert!(std::time::Instant::now() < until, "the rows go in");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let rows = segments_of(&store, &camera).await;
    assert!(held.iter().all(|h| rows.iter().any(|s| s.id == h.id)));

    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
    drop(stop_hub);
    hub.task.await.unwrap().unwrap();
}

/// A camera held by a recording worker stops for 3 s: `recordings.mp4` of a range reaching
/// into the segment the worker is writing is built by the worker and relayed by the hub, and
/// its `X-Gridwatch-Not-Recorded` header (where the video holds its picture) comes through:
/// the outage, from the end of the segment before it to the start of the one being written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_built_video_says_where_it_holds_its_picture() {
    let OneCamera {
        sim,
        dir: tmp,
        store,
        camera,
    } = one_camera(Backend::Sqlite).await;
    let ((hub, stop_hub), (worker, stop_worker)) = hub_and_minute_worker(tmp.path(), &store).await;
    let duty = token(&store, "duty_officer").await;
    let recorder = worker.state.recording.recorder().unwrap().clone();
    let open_now = || {
        recorder
            .open_segment(&camera, gridwatch_ingest::config::Quality::Main)
            .map(|(o, _)| o)
    };
    // 3 s recorded, then the camera stops for 3 s and comes back.
    wait_until("the worker records", || {
        open_now().is_some_and(|o| o.written_end.duration_since(o.start).unwrap().as_secs() >= 3)
    })
    .await;
    let before = open_now().unwrap();
    sim.stop(1).unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    sim.resume(1).unwrap();
    wait_until("recording after the outage", || {
        open_now().is_some_and(|o| {
            o.id != before.id && o.written_end.duration_since(o.start).unwrap().as_secs() >= 2
        })
    })
    .await;
    let after = open_now().unwrap();
    let rows = segments_of(&store, &camera).await;
    let ended = rows
        .iter()
        .find(|s| s.id == before.id)
        .unwrap_or_else(|| panic!("the segment before the outage is indexed: {rows:?}"));

    let from = DateTime::<Utc>::from(before.start);
    let to = DateTime::<Utc>::from(after.written_end);
    let answer = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/cameras/{camera}/recordings.mp4?from={}&to={}",
            hub.addr,
            rfc(from),
            rfc(to)
        ))
        .bearer_auth(&duty)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let said = not_recorded_said(answer.headers());
    assert!(
        said.len() == 1 && near_ms(said[0].0, ended.end) && near_ms(said[0].1, after.start.into()),
        "{said:?}: the segment before ends {}, the next starts {:?}",
        ended.end,
        after.start
    );
    assert!(!answer.bytes().await.unwrap().is_empty());

    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
    drop(stop_hub);
    hub.task.await.unwrap().unwrap();
}

/// A worker's directory that stops recording is told on the hub, as the hub's own are: in the
/// stream's health message (what the wall shows), naming the worker, and on
/// `GET /api/v1/ingest/workers`; a worker gone for longer than a lease is no longer counted.
/// Before, a worker's stopped directory reached only its own `/metrics`.
async fn a_worker_s_stopped_directory_is_told_on_the_hub(backend: Backend) {
    let OneCamera {
        sim: _sim,
        dir: tmp,
        store,
        camera,
    } = one_camera(backend).await;
    let ((hub, stop_hub), (worker, stop_worker)) = hub_and_worker(tmp.path(), &store, 1).await;
    crate::recording::served::wait_for_segments(&store, &camera, 1).await;
    let mut health = hub.state.stream.health();
    assert!(
        health.borrow().get("recording_stopped").is_none(),
        "{:?}",
        *health.borrow()
    );

    // The worker's directory stops (its recorder shut down; a full disk is told the same way).
    let recorder = worker.state.recording.recorder().cloned().unwrap();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
    let told = health_with(
        &mut health,
        "recording_stopped",
        "the hub's health message tells the worker's stopped directory",
    )
    .await;
    let dirs = told["recording_stopped"].as_array().unwrap();
    assert_eq!(dirs.len(), 1, "{told}");
    assert_eq!(dirs[0]["worker"], "w1", "{told}");
    assert_eq!(dirs[0]["reason"], "unavailable", "{told}");
    assert!(
        dirs[0]["path"].as_str().unwrap().ends_with("samples"),
        "{told}"
    );
    let admin = token(&store, "admin").await;
    let url = format!("http://{}/api/v1/ingest/workers", hub.addr);
    let listed = crate::common::get_json(&reqwest::Client::new(), &url, &admin).await;
    let w1 = listed["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "w1")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(
        w1["recording_stopped"][0]["reason"], "unavailable",
        "{listed}"
    );

    drop(stop_worker);
    worker.task.await.unwrap().unwrap();
    // Stopped cleanly: its camera is nobody's now (told), its directory no longer, and the
    // worker is not taken for one that vanished.
    let told = health_with(
        &mut health,
        "cameras_unassigned",
        "the hub's health message counts the camera nobody runs",
    )
    .await;
    assert_eq!(told["cameras_unassigned"], 1, "{told}");
    assert!(told.get("recording_stopped").is_none(), "{told}");
    assert!(told.get("ingest_workers_gone").is_none(), "{told}");
    // A worker that vanished (last seen a minute ago, never said it stopped) is named.
    let a_minute_ago = Utc::now() - Duration::minutes(1);
    store
        .worker_alive("w-vanished", "http://127.0.0.1:9", 4, &[], a_minute_ago)
        .await
        .unwrap();
    let told = health_with(
        &mut health,
        "ingest_workers_gone",
        "the hub's health message names the worker that vanished",
    )
    .await;
    let gone = told["ingest_workers_gone"].as_array().unwrap();
    assert_eq!(gone.len(), 1, "{told}");
    assert_eq!(gone[0]["worker"], "w-vanished", "{told}");
    let seen: chrono::DateTime<Utc> = serde_json::from_value(gone[0]["seen_at"].clone()).unwrap();
    assert_eq!(seen.timestamp_millis(), a_minute_ago.timestamp_millis());
    drop(stop_hub);
    hub.task.await.unwrap().unwrap();

    // Counted while the worker is live: not once it stopped cleanly (it said so when it gave
    // its leases back), nor once it is gone (its cameras are taken over; it is told as gone).
    let policy = gridwatch_core::lease::LeasePolicy::default();
    let w1 = |workers: Vec<gridwatch_store::IngestWorker>| {
        workers.into_iter().find(|w| w.id == "w1").unwrap()
    };
    let stopped = w1(store.ingest_workers(Utc::now()).await.unwrap());
    let seen = stopped.seen_at;
    assert!(stopped.stopped_at.is_some(), "{stopped:?}");
    let health_at = |at| {
        let store = store.clone();
        async move {
            gridwatch_hub::workers::overview(&store, &policy, at)
                .await
                .unwrap()
                .health()
        }
    };
    let w1_gone = |h: &gridwatch_hub::workers::WorkersHealth| {
        h.gone
            .iter()
            .filter(|g| g.worker == "w1")
            .cloned()
            .collect::<Vec<_>>()
    };
    let h = health_at(seen + Duration::seconds(1)).await;
    assert!(
        h.recording_stopped.is_empty() && w1_gone(&h).is_empty(),
        "{h:?}"
    );
    // As if it had vanished without a word: live, then gone.
    store
        .worker_alive(
            "w1",
            &stopped.address,
            stopped.max_cameras,
            &stopped.recording_stopped,
            seen,
        )
        .await
        .unwrap();
    let h = health_at(seen + Duration::seconds(1)).await;
    assert_eq!(
        (h.recording_stopped.len(), w1_gone(&h).len()),
        (1, 0),
        "{h:?}"
    );
    let h = health_at(seen + policy.ttl + Duration::seconds(1)).await;
    assert!(h.recording_stopped.is_empty(), "{h:?}");
    assert_eq!(w1_gone(&h).len(), 1, "{h:?}");
    assert_eq!(w1_gone(&h)[0].seen_at, seen);
    // A worker recording everywhere again says so.
    store
        .worker_alive("w1", &stopped.address, stopped.max_cameras, &[], seen)
        .await
        .unwrap();
    assert!(health_at(seen + Duration::seconds(1))
        .await
        .recording_stopped
        .is_empty());
}

served_on_both!(a_worker_s_stopped_directory_is_told_on_the_hub);

/// The health message once it has `key` (within 30 s; else the test fails saying `what`).
async fn health_with(
    health: &mut tokio::sync::watch::Receiver<serde_json::Value>,
    key: &str,
    what: &str,
) -> serde_json::Value {
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        health.wait_for(|h| h.get(key).is_some()),
    )
    .await
    .unwrap_or_else(|_| panic!("{what}"))
    .unwrap()
    .clone()
}

/// Waits (up to 40 s) until `ok`.
async fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !ok() {
        assert!(started.elapsed().as_secs() < 40, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
