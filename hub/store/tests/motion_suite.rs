//! Cameras' motion settings (issue 19): defaults when none saved, saved whole, validated,
//! gone with the camera; on both backends.

use gridwatch_core::camera::NewCamera;
use gridwatch_core::motion::MotionSettings;
use gridwatch_store::{on_both, Store, StoreError};
use serde_json::json;

async fn camera(store: &Store) -> String {
    let new = json!({"name": "yard", "rtsp_url": "rtsp://10.0.0.5/Streaming/101"});
    let new: NewCamera = serde_json::from_value(new).unwrap();
    let made = store.create_camera(new, chrono::Utc::now()).await;
    made.unwrap().id
}

on_both!(motion_settings_round_trip, |store: Store| async move {
    let id = camera(&store).await;
    assert_eq!(
        store.camera_motion(&id).await.unwrap(),
        MotionSettings::default()
    );
    assert!(store.cameras_with_motion().await.unwrap().is_empty());

    let s: MotionSettings = serde_json::from_value(json!({
        "enabled": true,
        "zones": [{"name": "gate", "points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.6]]}],
        "schedule": {"kind": "window", "start": "22:00", "end": "06:00"},
        "min_area": 0.1, "min_duration_ms": 800, "cooldown_seconds": 120
    }))
    .unwrap();
    store
        .set_camera_motion(&id, &s, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(store.camera_motion(&id).await.unwrap(), s);
    // Saving again replaces.
    let mut off = s.clone();
    off.enabled = false;
    store
        .set_camera_motion(&id, &s, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        store.cameras_with_motion().await.unwrap(),
        vec![(id.clone(), s.clone())]
    );
    store
        .set_camera_motion(&id, &off, chrono::Utc::now())
        .await
        .unwrap();
    assert!(store.cameras_with_motion().await.unwrap().is_empty());

    let mut bad = s.clone();
    bad.zones[0].points = vec![[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]];
    match store.set_camera_motion(&id, &bad, chrono::Utc::now()).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field, "zones[0].points"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.camera_motion("nope").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .set_camera_motion("nope", &s, chrono::Utc::now())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    store.delete_camera(&id).await.unwrap();
    assert!(store.cameras_with_motion().await.unwrap().is_empty());
});
