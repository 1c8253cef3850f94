//! Live video over WebRTC (WHEP, issue 14): a real WebRTC peer (str0m, as `gridwatch-client`'s
//! `WhepViewer`) against the served hub and the camera simulator. On SQLite and on PostgreSQL.
//!
//! - The answer is 201 `application/sdp` with the hub's host candidate and a `Location`; the
//!   first frame is a keyframe carrying its SPS and PPS, frames keep coming at the camera's
//!   rate with their RTP times 3,600 apart (25 fps), and the hub's sender reports let the
//!   viewer tell when each frame reached the hub.
//! - `DELETE` on the `Location` ends the session (the viewer's frames stop, the gauge is 0).
//! - The role rules are the live socket's; bad offers get a JSON error; switched off, 404.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::community::{community, Community};
use common::Hub;
use gridwatch_client::whep::{WhepError, WhepViewer};
use gridwatch_hub::Config;
use gridwatch_ingest::camsim::{CamSim, SimSource};
use serde_json::json;
use std::time::{Duration, Instant, SystemTime};

fn sim() -> CamSim {
    crate::motion_alerts::sim(SimSource::TestPattern)
}

fn config() -> Config {
    let mut config = Config::default();
    config.webrtc.candidates = vec!["127.0.0.1".parse().unwrap()];
    config
}

/// A camera of grid g1 on the simulator, the hub's cameras started.
async fn camera(hub: &Hub, c: &Community, sim: &CamSim) -> String {
    let body = json!({"name": "gate", "rtsp_url": sim.url(1), "grid_id": c.g1});
    let cam = common::community::create(hub, &c.admin, "/api/v1/cameras", body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    gridwatch_hub::cameras::start(&hub.state.cameras).await;
    cam
}

/// POSTs `body` as `content_type` to the camera's WHEP endpoint in process.
async fn offer(
    hub: &Hub,
    cam: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> common::Answer {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/cameras/{cam}/whep"))
        .header(header::CONTENT_TYPE, content_type);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    hub.send(req.body(Body::from(body.to_string())).unwrap())
        .await
}

fn nal_types(au: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 4 < au.len() {
        if au[i..i + 4] == [0, 0, 0, 1] || au[i..i + 3] == [0, 0, 1] {
            let start = if au[i + 2] == 1 { i + 3 } else { i + 4 };
            types.push(au[start] & 0x1F);
            i = start;
        } else {
            i += 1;
        }
    }
    types
}

on_both!(
    a_viewer_gets_the_camera_s_frames_from_a_keyframe_on,
    config = config(),
    |hub: Hub| async move {
        let sim = sim();
        let c = community(&hub).await;
        let cam = camera(&hub, &c, &sim).await;
        let base = hub.listen().await;

        // The camera comes online within a few seconds; until it has, a viewer may get no
        // frame at first, so the offer is made once it plays over the live path.
        let connected = Instant::now();
        let mut viewer = loop {
            match WhepViewer::connect(&base, &cam, &c.duty).await {
                Ok(v) => break v,
                Err(e) => {
                    assert!(connected.elapsed() < Duration::from_secs(15), "{e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        assert!(viewer
            .resource()
            .contains(&format!("/api/v1/cameras/{cam}/whep/")));

        let first = tokio::time::timeout(Duration::from_secs(10), viewer.next_frame())
            .await
            .expect("a first frame within 10 s")
            .expect("the session stays up");
        assert!(
            first.keyframe,
            "the first frame is a keyframe: NAL types {:?}, {} bytes",
            nal_types(&first.data),
            first.data.len()
        );
        let types = nal_types(&first.data);
        assert_eq!(
            &types[..2],
            &[7, 8],
            "SPS and PPS before the first slice: {types:?}"
        );
        assert!(types.contains(&5), "an IDR slice: {types:?}");

        // Two seconds of frames: about 50, each 3,600 ticks after the one before.
        let mut frames = vec![first];
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if let Ok(Some(f)) =
                tokio::time::timeout(Duration::from_millis(500), viewer.next_frame()).await
            {
                frames.push(f);
            }
        }
        assert!(
            (40..=60).contains(&frames.len()),
            "{} frames in 2 s at 25 fps",
            frames.len()
        );
        for pair in frames.windows(2) {
            assert_eq!(pair[1].rtp_time - pair[0].rtp_time, 3600);
        }
        let keyframes = frames.iter().filter(|f| f.keyframe).count();
        assert!(
            (2..=4).contains(&keyframes),
            "{keyframes} keyframes in ~2 s"
        );
        // The sender reports tie RTP time to when the frame reached the hub: a moment ago.
        let last = frames.last().unwrap();
        let at_hub = last.at_sender.expect("a sender report came within 2 s");
        let age = SystemTime::now().duration_since(at_hub).unwrap_or_default();
        assert!(age < Duration::from_secs(2), "reached the hub {age:?} ago");
        let metrics = hub.state.metrics.render();
        assert!(
            metrics.contains("gridwatch_webrtc_sessions 1"),
            "one session open"
        );

        // DELETE ends it: no more frames, the session gone.
        assert_eq!(viewer.close().await.unwrap(), 204);
        let gone = Instant::now();
        while hub.state.webrtc.open() > 0 {
            assert!(gone.elapsed() < Duration::from_secs(5), "the session ends");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(hub
            .state
            .metrics
            .render()
            .contains("gridwatch_webrtc_sessions 0"));
    }
);

on_both!(
    the_offer_follows_the_live_video_rules,
    config = config(),
    |hub: Hub| async move {
        let c = community(&hub).await;
        let [c1, _, c3, c4] = &c.cams;
        let sdp = "application/sdp";
        // Residents never see video; no login, 401; another grid's camera is not there for a
        // responder; a disabled camera is a conflict.
        assert_eq!(
            offer(&hub, c1, Some(&c.resident), sdp, "v=0").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            offer(&hub, c1, None, sdp, "v=0").await.status,
            StatusCode::UNAUTHORIZED
        );
        let a = offer(&hub, c3, Some(&c.r1), sdp, "v=0").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
        let a = offer(&hub, c4, Some(&c.duty), sdp, "v=0").await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        // Bad input: another content type, an offer that is not SDP.
        let a = offer(&hub, c1, Some(&c.duty), "application/json", "{}").await;
        assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", a.body);
        assert_eq!(a.body["error"]["code"], "bad_content_type");
        let a = offer(&hub, c1, Some(&c.r1), sdp, "this is not an offer").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
        assert_eq!(a.body["error"]["code"], "bad_offer");
        // Nobody's session cannot be deleted.
        let a = hub
            .call(
                Method::DELETE,
                &format!("/api/v1/cameras/{c1}/whep/0123"),
                Some(&c.duty),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
        assert_eq!(hub.state.webrtc.open(), 0);
    }
);

#[tokio::test]
async fn switched_off_the_offer_is_refused_and_the_page_falls_back() {
    let mut config = config();
    config.webrtc.enabled = false;
    let hub = Hub::with_config(gridwatch_store::Backend::Sqlite, config).await;
    let c = community(&hub).await;
    let base = hub.listen().await;
    match WhepViewer::connect(&base, &c.cams[0], &c.duty).await {
        Err(WhepError::Refused { status, body }) => {
            assert_eq!(status, 404);
            assert!(body.contains("webrtc_disabled"), "{body}");
        }
        Err(e) => panic!("refused with 404, not {e}"),
        Ok(_) => panic!("refused with 404, not answered"),
    }
}
