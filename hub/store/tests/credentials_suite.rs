//! Camera passwords are sealed at rest (issue 15, hardening 5): what the database holds does
//! not give them away, a store without the key (or with another) says so, and passwords stored
//! in clear before are sealed at start-up.

use gridwatch_core::camera::NewCamera;
use gridwatch_store::sealed::CredentialKey;
use gridwatch_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use gridwatch_store::{Store, StoreError, StoreOptions};
use serde_json::json;

async fn open(url: &str, key: Option<&CredentialKey>) -> Store {
    let mut opts = StoreOptions::new(url);
    opts.max_connections = 2;
    opts.credential_key = key.cloned();
    Store::open(&opts).await.unwrap()
}

async fn camera(store: &Store, name: &str, password: &str) -> String {
    let new: NewCamera = serde_json::from_value(json!({
        "name": name, "rtsp_url": "rtsp://10.0.0.5/Streaming/101",
        "username": "admin", "password": password
    }))
    .unwrap();
    store
        .create_camera(new, chrono::Utc::now())
        .await
        .unwrap()
        .id
}

async fn sealed_at_rest(url: String) {
    let key = CredentialKey::generate();

    // A password given before the hub had a key is in clear ...
    let old = open(&url, None).await;
    let legacy = camera(&old, "旧摄像头", "old-cam-pass").await;
    assert_eq!(
        old.stored_camera_password(&legacy).await.as_deref(),
        Some("old-cam-pass")
    );
    old.close().await;

    // ... and sealed when a hub with a key starts.
    let store = open(&url, Some(&key)).await;
    assert_eq!(store.seal_plain_credentials().await.unwrap(), 1);
    assert_eq!(store.seal_plain_credentials().await.unwrap(), 0, "once");
    let stored = store.stored_camera_password(&legacy).await.unwrap();
    assert!(
        stored.starts_with("gw1:") && !stored.contains("old-cam-pass"),
        "{stored}"
    );
    let creds = store.camera_credentials(&legacy).await.unwrap().unwrap();
    assert_eq!(creds.password, "old-cam-pass");

    // New passwords are sealed as they are stored.
    let id = camera(&store, "东门", "cam-pass-1").await;
    let stored = store.stored_camera_password(&id).await.unwrap();
    assert!(
        stored.starts_with("gw1:") && !stored.contains("cam-pass-1"),
        "{stored}"
    );
    assert_eq!(
        store
            .camera_credentials(&id)
            .await
            .unwrap()
            .unwrap()
            .password,
        "cam-pass-1"
    );
    store.close().await;

    // Without the key, or with another, the hub says so instead of sending garbage to cameras.
    let keyless = open(&url, None).await;
    match keyless.camera_credentials(&id).await {
        Err(StoreError::Config(m)) => assert!(m.contains("no secret key"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    keyless.close().await;
    let stranger = open(&url, Some(&CredentialKey::generate())).await;
    match stranger.seal_plain_credentials().await {
        Err(StoreError::Config(m)) => assert!(m.contains("GRIDWATCH_SECRET_KEY"), "{m}"),
        other => panic!("a node with another key must not start: {other:?}"),
    }
    stranger.close().await;
}

#[tokio::test]
async fn camera_passwords_are_sealed_at_rest_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    sealed_at_rest(fresh_sqlite_url(dir.path())).await;
}

#[tokio::test]
async fn camera_passwords_are_sealed_at_rest_postgres() {
    sealed_at_rest(fresh_postgres_url().await.unwrap()).await;
}

#[tokio::test]
async fn the_sqlite_file_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_sqlite_url(dir.path());
    let store = open(&url, None).await;
    let path = url.strip_prefix("sqlite://").unwrap();
    for file in [path.to_string(), format!("{path}-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
    }
    store.close().await;
}
