//! SIGTERM while the database does not answer the recorder: PostgreSQL with the segments table
//! locked by another transaction, as a hung database or a failover holds it. The hub still
//! stops within its bounds (the recorder waits 10 s for its last rows, the store 5 s for its
//! connections), and the next start indexes, from the synced files, the segments whose rows did
//! not go in: afterwards every segment file on disk has its row.

use crate::support;

use gridwatch_ingest::camsim::{CamSim, CamSimConfig};
use gridwatch_store::{Store, StoreOptions};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// The recorder's wait (10 s), the store's (5 s), the components' grace and room for a loaded
/// machine: without the bounds the process would not stop while the lock is held.
const EXIT_WITHIN: Duration = Duration::from_secs(45);

/// Relative paths of the segment files under `dir` (`<camera>/<stream>/<start>-<mode>.mp4`).
fn segment_files(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, at: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "mp4") {
                let relative = path.strip_prefix(base).unwrap();
                out.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Relative paths of the camera's indexed main-stream segments.
async fn indexed(store: &Store, camera: &str) -> BTreeSet<String> {
    let from = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    store
        .recording_segments(camera, "main", from, to)
        .await
        .expect("the segments")
        .into_iter()
        .map(|s| s.path)
        .collect()
}

/// Segments the hub's recorder holds waiting for their rows (`/readyz`).
async fn unindexed(base: &str) -> u64 {
    let ready: Value = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("/readyz")
        .json()
        .await
        .expect("/readyz JSON");
    ready["recording"]["dirs"][0]["unindexed_segments"]
        .as_u64()
        .unwrap_or_else(|| panic!("no unindexed_segments in {ready}"))
}

async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: not within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_database_holds_the_recording_rows_stops_and_the_next_start_indexes() {
    let db = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL for the tests");
    let sim = CamSim::start(CamSimConfig {
        cameras: 1,
        width: 320,
        height: 240,
        fps: 10,
        key_int: 10,
        bitrate_kbps: 200,
        ..Default::default()
    })
    .expect("camsim starts");
    let video = tempfile::tempdir().unwrap();
    let env = [
        ("GRIDWATCH_DATABASE_URL", db.clone()),
        (
            "GRIDWATCH_RECORDING__DIRS",
            video.path().display().to_string(),
        ),
        ("GRIDWATCH_RECORDING__SEGMENT_SECONDS", "1".to_string()),
        ("GRIDWATCH_LOG__FILTER", "error".to_string()),
    ];
    let users = tempfile::tempdir().unwrap();
    support::add_user(users.path(), Some(&db), "ops", "admin", "ops-password");
    let mut hub = support::start("serve", &env).await;
    let http = reqwest::Client::new();
    let login = support::json(
        http.post(format!("{}/api/v1/auth/login", hub.base))
            .json(&json!({"username": "ops", "password": "ops-password"})),
    )
    .await;
    let admin = login["token"].as_str().expect("a token");
    let camera = support::json(
        http.post(format!("{}/api/v1/cameras", hub.base))
            .bearer_auth(admin)
            .json(&json!({"name": "gate", "rtsp_url": sim.urls()[0]})),
    )
    .await;
    let camera = camera["id"].as_str().expect("a camera id").to_string();

    let mut opts = StoreOptions::new(db.clone());
    opts.max_connections = 2;
    let store = Store::open(&opts).await.expect("the store");
    until("a first segment's row", || async {
        !indexed(&store, &camera).await.is_empty()
    })
    .await;

    // The table locked against writers: the rows of the segments that finish now wait.
    let hold = gridwatch_store::testing::hold_recording_index(&store)
        .await
        .expect("the lock");
    until("two segments waiting for their rows", || async {
        unindexed(&hub.base).await >= 2
    })
    .await;
    let before = indexed(&store, &camera).await;

    let (status, stopping) = support::terminate(&mut hub.child, EXIT_WITHIN).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    drop(sim);

    // Read while the table is still locked (reads go through): no row went in. (Once it is
    // released, an insert the stopped hub left waiting on the lock may still land: the database
    // notices the closed connection only when it answers. Its file is synced; that is fine.)
    let files = segment_files(video.path());
    let after_stop = indexed(&store, &camera).await;
    assert_eq!(
        after_stop, before,
        "no row went in while the table was locked"
    );
    let missing: Vec<&String> = files.difference(&after_stop).collect();
    assert!(
        missing.len() >= 2,
        "segments left without rows by the stop: {missing:?}"
    );
    hold.release().await.expect("the lock released");

    // The next start (the camera's simulator is gone: nothing new is written).
    let _hub = support::start("serve", &env).await;
    until("every segment file indexed", || async {
        indexed(&store, &camera).await == files
    })
    .await;
    store.close().await;
    eprintln!(
        "exit 0 {stopping:?} after SIGTERM with the index locked; {} segments without rows \
         indexed at the next start, {} files in all",
        missing.len(),
        files.len()
    );
}
