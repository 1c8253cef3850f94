//! What the recording tests share: a recorder on a store, and checks that a directory and
//! its index agree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gridwatch_hub::recording::StoreIndex;
use gridwatch_ingest::evidence::hash_file;
use gridwatch_ingest::recording::{Recorder, RecordingConfig, SampleDirConfig};
use gridwatch_store::Store;

use crate::ingest_common::media::{have_ffprobe, probe};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Short segments and syncs, so a few seconds make several of each.
pub fn quick_config(dir: &Path) -> RecordingConfig {
    RecordingConfig {
        dirs: vec![SampleDirConfig {
            path: dir.to_path_buf(),
            min_free_bytes: 0,
        }],
        segment_duration: Duration::from_secs(1),
        fragment_duration: Duration::from_millis(250),
        sync_interval: Duration::from_millis(500),
        drain_interval: Duration::from_millis(20),
        space_check_interval: Duration::from_millis(200),
        ..RecordingConfig::default()
    }
}

/// Opens a recorder (repairing its directories) on the store, off the async threads.
pub async fn open_recorder(store: &Store, config: RecordingConfig) -> Recorder {
    let index = Arc::new(StoreIndex::new(store.clone()));
    tokio::task::spawn_blocking(move || Recorder::open(config, index))
        .await
        .expect("the recorder opens")
}

/// Every `.mp4` under `dir`, relative.
pub fn files_on_disk(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, at: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "mp4") {
                out.insert(path.strip_prefix(base).unwrap().to_string_lossy().into());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Index and disk agree: every row names a file of its size and hash that ffprobe decodes
/// into its frame count, no row is left marked for deletion, and every file has a row.
/// Returns the number of segments.
pub async fn assert_index_matches_disk(store: &Store, dir_id: &str, dir: &Path) -> usize {
    let rows = store.recording_files_in_dir(dir_id).await.unwrap();
    assert!(
        rows.iter().all(|r| !r.deleting),
        "rows left marked: {rows:?}"
    );
    let files = files_on_disk(dir);
    let named: BTreeSet<String> = rows.iter().map(|r| r.path.clone()).collect();
    assert_eq!(named, files, "rows and files differ");
    let probe_it = have_ffprobe("assert_index_matches_disk");
    for row in &rows {
        let path: PathBuf = dir.join(&row.path);
        let (sha256, len) = hash_file(&path).unwrap();
        assert_eq!(len, row.bytes, "{}", row.path);
        let segment = store
            .recording_segments(
                segment_camera(&row.path),
                "main",
                chrono::DateTime::<chrono::Utc>::MIN_UTC,
                chrono::DateTime::<chrono::Utc>::MAX_UTC,
            )
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.id == row.id)
            .expect("the row is listed");
        assert_eq!(sha256, segment.sha256, "{}", row.path);
        if probe_it {
            let probed = probe(&path);
            assert_eq!(probed.frames, segment.frames, "{}", row.path);
        }
    }
    rows.len()
}

/// The camera a segment's relative path names (the tests' IDs need no unescaping).
fn segment_camera(relative: &str) -> &str {
    relative.split('/').next().unwrap_or_default()
}

/// A new SOS incident (evidence clips belong to one).
pub async fn incident(store: &Store) -> String {
    let request = gridwatch_store::testing::bare_sos(&gridwatch_core::id::new_id());
    let raised = store.raise_incident(request, chrono::Utc::now()).await;
    raised.expect("an incident").incident.id
}

/// `recordings.mp4` of `camera` in `[from, to)` from a hub at `base` (`http://addr`), asked as
/// `token`'s holder; it must answer 200.
pub async fn recordings_mp4(
    base: &str,
    camera: &str,
    token: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<u8> {
    let answer = ask_ranged(base, camera, "recordings.mp4", token, from, to).await;
    let answer = ok(answer, "recordings.mp4");
    answer.bytes().await.unwrap().to_vec()
}

/// The timeline a hub at `base` (`http://addr`) answers for `camera`'s recordings in
/// `[from, to)` (`GET /api/v1/cameras/{id}/recordings`), asked as `token`'s holder.
pub async fn recordings_timeline(
    base: &str,
    camera: &str,
    token: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Value {
    let answer = ask_ranged(base, camera, "recordings", token, from, to).await;
    let answer = ok(answer, "recordings");
    answer.json().await.unwrap()
}

/// `answer`, which must be a 200 (to `what`).
fn ok(answer: reqwest::Response, what: &str) -> reqwest::Response {
    assert_eq!(answer.status(), reqwest::StatusCode::OK, "{what}");
    answer
}

/// `GET /api/v1/cameras/{camera}/{what}?from&to` from a hub at `base` (`http://addr`), asked
/// as `token`'s holder, whatever it answers.
pub async fn ask_ranged(
    base: &str,
    camera: &str,
    what: &str,
    token: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> reqwest::Response {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    reqwest::Client::new()
        .get(format!("{base}/api/v1/cameras/{camera}/{what}"))
        .query(&[("from", at(from)), ("to", at(to))])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The export audit a hub at `base` (`http://addr`) answers (`GET /api/v1/exports?{query}`),
/// asked as `token`'s holder; it must answer 200.
pub async fn exports(base: &str, token: &str, query: &str) -> Value {
    let answer = reqwest::Client::new()
        .get(format!("{base}/api/v1/exports?{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK, "exports?{query}");
    answer.json().await.unwrap()
}

/// The intervals a `recordings.mp4` answer's `X-Gridwatch-Not-Recorded` header lists (none
/// when it has none).
pub fn not_recorded_said(
    headers: &reqwest::header::HeaderMap,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let Some(value) = headers.get("x-gridwatch-not-recorded") else {
        return Vec::new();
    };
    value
        .to_str()
        .unwrap()
        .split(", ")
        .map(|interval| {
            let (from, to) = interval.split_once('/').unwrap();
            (from.parse().unwrap(), to.parse().unwrap())
        })
        .collect()
}

/// Within a millisecond (a header's times are to the millisecond).
pub fn near_ms(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_milliseconds().abs() <= 1
}
