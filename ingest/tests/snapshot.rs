//! Snapshots against the camera simulator: a JPEG of the stream's size,
//! decoded once per keyframe, and clear errors before there is a picture.

use crate::common;

use std::time::Duration;

use common::*;
use gridwatch_ingest::{Cameras, Quality, SnapshotError, Snapshots, StreamState};

#[tokio::test]
async fn a_snapshot_is_a_jpeg_of_the_stream_decoded_once_per_keyframe() {
    init_tracing();
    let sim = start_sim(1);
    let cameras = Cameras::new(fast_config());
    let snapshots = Snapshots::default();
    cameras.apply([camera("c1", &sim.url(1))]);
    assert_eq!(
        snapshots.jpeg(&cameras, "zz", Quality::Main).await,
        Err(SnapshotError::UnknownCamera("zz".into()))
    );
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(5)).await;
    let first = snapshots.jpeg(&cameras, "c1", Quality::Main).await.unwrap();
    assert!(!first.cached);
    assert_eq!(jpeg_size(&first.jpeg), Some((320, 240)));
    // Within the same GOP (a keyframe a second) the picture is the cached one.
    let again = snapshots.jpeg(&cameras, "c1", Quality::Main).await.unwrap();
    if again.cached {
        assert_eq!(again.jpeg, first.jpeg);
    }
    // The next keyframe makes a new picture.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = snapshots.jpeg(&cameras, "c1", Quality::Main).await.unwrap();
    assert!(!later.cached);
    assert_eq!(jpeg_size(&later.jpeg), Some((320, 240)));
}

#[tokio::test]
async fn no_picture_before_the_camera_sends_one() {
    init_tracing();
    let cameras = Cameras::new(fast_config());
    // Nothing listens there.
    cameras.apply([camera("dead", "rtsp://127.0.0.1:9/none")]);
    let snapshots = Snapshots::default();
    assert_eq!(
        snapshots.jpeg(&cameras, "dead", Quality::Main).await,
        Err(SnapshotError::NoFrames("dead".into()))
    );
}
