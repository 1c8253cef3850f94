//! The supervisor against the camera simulator: status follows what the
//! camera does, and the session comes back by itself.

use crate::common;

use std::time::Duration;

use common::*;
use gridwatch_ingest::camsim::{AuthScheme, CamSim};
use gridwatch_ingest::{Cameras, Credentials, StreamState};

#[tokio::test]
async fn stop_marks_the_camera_offline_and_resume_brings_it_back() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = Cameras::new(fast_config());
    let mut events = cameras.events();
    cameras.apply([camera("c1", &sim.url(1))]);
    let (status, took) =
        wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    eprintln!("online after {took:?}");
    assert_eq!(status.codec.as_deref(), Some("h264"));
    assert_eq!((status.width, status.height), (Some(320), Some(240)));
    assert!(status
        .mime
        .unwrap()
        .starts_with("video/mp4; codecs=\"avc1."));

    sim.stop(1).unwrap();
    let (status, took) = wait_for(
        &cameras,
        "c1",
        StreamState::Offline,
        fast_config().stall_timeout,
    )
    .await;
    eprintln!("offline {took:?} after stop: {:?}", status.reason);
    assert!(status.reason.is_some());
    // Reconnection attempts meanwhile hit the removed mount.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reason = cameras.status("c1").unwrap().main.reason.unwrap();
    assert!(reason.contains("404"), "{reason}");

    sim.resume(1).unwrap();
    let (_, took) = wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    eprintln!("online {took:?} after resume");

    // The status shows a change a moment before its event is broadcast (the supervisor runs
    // on a video thread), so the events are read until they stop coming.
    let mut transitions = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
        assert_eq!(&*e.camera_id, "c1");
        transitions.push((e.previous, e.status.state));
    }
    use StreamState::*;
    assert_eq!(
        transitions,
        [(Connecting, Online), (Online, Offline), (Offline, Online)]
    );
}

#[tokio::test]
async fn restart_reconnects_within_five_seconds() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = one_camera_online(&sim).await;
    let mut watch = cameras
        .watch("c1", gridwatch_ingest::Quality::Main)
        .unwrap();
    watch.mark_unchanged();
    sim.restart(1).unwrap();
    let left_online = tokio::time::timeout(
        Duration::from_secs(2),
        watch.wait_for(|s| s.state != StreamState::Online),
    )
    .await
    // Not holding the borrow: it would block the status sender.
    .map(|_| ());
    assert!(left_online.is_ok(), "the dropped session was noticed");
    let (_, took) = wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    eprintln!("online {took:?} after restart");
    assert_eq!(sim.client_count(1).unwrap(), 1);
}

#[tokio::test]
async fn a_stall_is_caught_by_the_frame_watchdog() {
    init_tracing();
    let sim = start_sim(1);
    let config = fast_config();
    let cameras = Cameras::new(config.clone());
    cameras.apply([camera("c1", &sim.url(1))]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;

    sim.stall(1).unwrap();
    let (status, took) = wait_for(
        &cameras,
        "c1",
        StreamState::Stalled,
        config.stall_timeout + Duration::from_secs(1),
    )
    .await;
    eprintln!("stalled {took:?} after stall: {:?}", status.reason);
    assert!(status.reason.unwrap().contains("no video"));
    // Reconnections to the hung camera do not make it flap back online.
    tokio::time::sleep(config.stall_timeout * 2).await;
    assert_eq!(cameras.status("c1").unwrap().state(), StreamState::Stalled);

    sim.resume(1).unwrap();
    let (_, took) = wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    eprintln!("online {took:?} after resume");
}

#[tokio::test]
async fn wrong_credentials_give_auth_failed_and_a_fix_applies_without_restart() {
    init_tracing();
    let sim = start_sim_with_auth("admin", "s3cret", AuthScheme::Digest);
    let cameras = Cameras::new(fast_config());
    let mut cam = camera("c1", &sim.url(1));
    cam.credentials = Some(Credentials::new("admin", "wrong"));
    cameras.apply([cam.clone()]);
    let (status, took) = wait_for(
        &cameras,
        "c1",
        StreamState::AuthFailed,
        Duration::from_secs(5),
    )
    .await;
    eprintln!("auth_failed after {took:?}: {:?}", status.reason);
    assert!(status.reason.unwrap().contains("401"));

    cam.credentials = Some(Credentials::new("admin", "s3cret"));
    let summary = cameras.apply([cam]);
    assert_eq!(summary.changed, ["c1"]);
    let (_, took) = wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    eprintln!("online {took:?} after the fix");
}

#[tokio::test]
async fn basic_auth_and_credentials_in_the_url_work() {
    init_tracing();
    let sim = start_sim_with_auth("op", "pa:ss", AuthScheme::Basic);
    let cameras = Cameras::new(fast_config());
    let url = sim.url(1).replace("rtsp://", "rtsp://op:pa%3Ass@");
    cameras.apply([camera("c1", &url)]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    let no_creds = camera("c2", &sim.url(1));
    cameras.upsert(no_creds);
    wait_for(
        &cameras,
        "c2",
        StreamState::AuthFailed,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test]
async fn a_bad_url_is_offline_with_the_reason() {
    init_tracing();
    let cameras = Cameras::new(fast_config());
    cameras.apply([camera("c1", "rtsp://127.0.0.1:1/nothing")]);
    let (status, took) =
        wait_for(&cameras, "c1", StreamState::Offline, Duration::from_secs(5)).await;
    eprintln!("offline after {took:?}: {:?}", status.reason);
    let reason = status.reason.unwrap();
    assert!(
        reason.contains("connect") && reason.contains("refused"),
        "{reason}"
    );
}

#[tokio::test]
async fn killing_the_simulator_and_bringing_it_back() {
    init_tracing();
    let sim = start_sim(1);
    let port = sim.bound_port();
    let url = sim.url(1);
    let config = fast_config();
    let cameras = Cameras::new(config.clone());
    cameras.apply([camera("c1", &url)]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;

    drop(sim);
    let (status, took) = wait_for(&cameras, "c1", StreamState::Offline, config.stall_timeout).await;
    eprintln!("offline {took:?} after kill: {:?}", status.reason);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sim = CamSim::start(gridwatch_ingest::camsim::CamSimConfig {
        port,
        ..sim_config(1)
    })
    .unwrap();
    assert_eq!(sim.bound_port(), port);
    let (_, took) = wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    eprintln!("online {took:?} after the simulator's return");
}

#[tokio::test]
async fn a_camera_that_accepts_and_never_answers_times_out() {
    init_tracing();
    // Accepts connections and reads, but never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = fast_config();
    config.connect_timeout = Duration::from_secs(1);
    let cameras = Cameras::new(config);
    cameras.apply([camera("c1", &format!("rtsp://127.0.0.1:{port}/hung"))]);
    let (status, took) =
        wait_for(&cameras, "c1", StreamState::Offline, Duration::from_secs(3)).await;
    eprintln!("offline after {took:?}: {:?}", status.reason);
    assert!(status.reason.unwrap().contains("no answer"));
}
