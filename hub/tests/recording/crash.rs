//! SIGKILL during writing, at random moments: a child process records the camera simulator
//! into a directory and the store, and is killed; the next start repairs. In the end the
//! index and the disk agree, every indexed segment decodes, and each kill lost at most the
//! last few seconds. Once more with the files written around the page cache (`direct_io`),
//! where a kill leaves the open segment padded with zeros to a whole block.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use gridwatch_ingest::recording::{RecordMode, RecordingConfig};
use gridwatch_ingest::{Cameras, StreamState};
use gridwatch_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use gridwatch_store::{Store, StoreOptions};
use rand::Rng;

use super::support::{assert_index_matches_disk, open_recorder, quick_config};
use crate::ingest_common::{camera, fast_config, start_sim, wait_for};

const CHILD_DB: &str = "GRIDWATCH_RECORDING_CHILD_DB";
const CHILD_DIR: &str = "GRIDWATCH_RECORDING_CHILD_DIR";
const CHILD_URL: &str = "GRIDWATCH_RECORDING_CHILD_URL";
/// Set: the child writes around the page cache (`direct_io`).
const CHILD_DIRECT: &str = "GRIDWATCH_RECORDING_CHILD_DIRECT";
const READY: &str = "RECORDING CHILD READY";
/// The child's name in the hub's test binary.
const CHILD_TEST: &str = "recording::crash::recording_child";
const ROUNDS: usize = 4;
/// The most a kill may lose: the fragment being gathered (250 ms here), what queued for the
/// writer (20 ms), and the arrival of the frames themselves, with room for a loaded machine.
const MAX_LOSS: Duration = Duration::from_secs(2);

/// The child: records camera `c1` until killed. Run only by the tests below (it returns at
/// once without their environment).
#[test]
#[ignore = "a child process of the SIGKILL tests"]
fn recording_child() {
    let (Ok(db), Ok(dir), Ok(url)) = (
        std::env::var(CHILD_DB),
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_URL),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(&StoreOptions::new(db)).await.unwrap();
        let config = RecordingConfig {
            direct_io: std::env::var_os(CHILD_DIRECT).is_some(),
            ..quick_config(dir.as_ref())
        };
        let recorder = open_recorder(&store, config).await;
        let report = &recorder.repair_reports()[0];
        println!(
            "REPAIR indexed={} torn={} dropped={} removed={} deletions={}",
            report.files_indexed.len(),
            report.torn_truncated.len(),
            report.rows_dropped.len(),
            report.empty_removed.len(),
            report.deletions_finished,
        );
        let cameras = Cameras::with_recorder(fast_config(), recorder);
        let mut cam = camera("c1", &url);
        cam.record = RecordMode::Continuous;
        cameras.apply([cam]);
        wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(10)).await;
        println!("{READY}");
        std::future::pending::<()>().await;
    });
}

/// What the kills left.
struct Killed {
    /// When each child was killed.
    kills: Vec<SystemTime>,
    /// Files the children's repairs found without a row (indexed, or removed when not one
    /// fragment in them was whole).
    indexed: usize,
    /// Kills after which the segment started last was whole blocks long.
    whole_blocks: usize,
}

/// Runs the child `ROUNDS` times, killing it at a random moment each time.
fn kill_children(db: &str, dir: &std::path::Path, url: &str, direct: bool) -> Killed {
    let mut kills = Vec::new();
    let mut indexed = 0;
    let mut whole_blocks = 0;
    let mut rng = rand::thread_rng();
    for round in 0..ROUNDS {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
            .env(CHILD_DB, db)
            .env(CHILD_DIR, dir)
            .env(CHILD_URL, url)
            .stdout(Stdio::piped());
        if direct {
            command.env(CHILD_DIRECT, "1");
        }
        let mut child = command.spawn().expect("the child starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(counts) = line.strip_prefix("REPAIR ") {
                eprintln!("round {round}: {counts}");
                for key in ["indexed=", "removed="] {
                    indexed += counts
                        .split(' ')
                        .find_map(|kv| kv.strip_prefix(key))
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(0);
                }
            }
            if line == READY {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(1500..4500)));
        child.kill().expect("SIGKILL");
        kills.push(SystemTime::now());
        child.wait().unwrap();
        let last = last_started(dir);
        let len = std::fs::metadata(&last).unwrap().len();
        eprintln!("round {round}: {} left {len} bytes", last.display());
        whole_blocks += usize::from(len.is_multiple_of(4096));
    }
    Killed {
        kills,
        indexed,
        whole_blocks,
    }
}

async fn sigkill_then_repair(db: String, direct: bool) {
    crate::ingest_common::init_tracing();
    let sim = start_sim(1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("samples");
    let url = sim.url(1);
    let (db2, dir2) = (db.clone(), dir.clone());
    let Killed {
        kills,
        indexed: indexed_by_children,
        whole_blocks,
    } = tokio::task::spawn_blocking(move || kill_children(&db2, &dir2, &url, direct))
        .await
        .unwrap();
    if direct {
        // The segment being written is whole blocks: written directly, not through the page
        // cache (which leaves the fragments' own lengths). Not so only when a kill fell
        // between a segment's end (cut to its length) and the next one's start.
        assert!(whole_blocks >= ROUNDS - 1, "{whole_blocks} of {ROUNDS}");
    }

    // The next start repairs what the last kill left.
    let store = Store::open(&StoreOptions::new(db)).await.unwrap();
    let config = RecordingConfig {
        direct_io: direct,
        ..quick_config(&dir)
    };
    let recorder = open_recorder(&store, config).await;
    let report = recorder.repair_reports()[0].clone();
    let dir_id = recorder.statuses()[0].id.clone().unwrap();
    let dir = recorder.statuses()[0].path.clone();
    recorder.shutdown();
    eprintln!("final repair: {report:?}");
    // Each kill left the segment being written without a row, and the next start found it:
    // indexed, or removed if it held no whole fragment yet.
    let found = report.files_indexed.len() + report.empty_removed.len();
    assert_eq!(
        indexed_by_children + found,
        ROUNDS,
        "{indexed_by_children} + {report:?}"
    );
    assert!(
        report.rows_dropped.is_empty(),
        "rows are written after their files"
    );

    let segments = assert_index_matches_disk(&store, &dir_id, &dir).await;
    assert!(segments >= ROUNDS * 2, "{segments} segments");
    let rows = store
        .recording_segments(
            "c1",
            "main",
            chrono::DateTime::<chrono::Utc>::MIN_UTC,
            chrono::DateTime::<chrono::Utc>::MAX_UTC,
        )
        .await
        .unwrap();
    for kill in kills {
        let kill = chrono::DateTime::<chrono::Utc>::from(kill);
        let last = rows
            .iter()
            .filter(|s| s.start < kill)
            .map(|s| s.end)
            .max()
            .expect("something recorded before the kill");
        let lost = (kill - last).to_std().unwrap_or_default();
        assert!(lost <= MAX_LOSS, "a kill lost {lost:?}");
    }
}

/// The segment file that started last under `dir` (its name starts with its first frame's
/// millisecond).
fn last_started(dir: &std::path::Path) -> std::path::PathBuf {
    fn walk(at: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "mp4") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files
        .into_iter()
        .max_by_key(|p| p.file_name().map(|n| n.to_os_string()))
        .expect("a segment file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writing_then_repair_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    sigkill_then_repair(fresh_sqlite_url(tmp.path()), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writing_then_repair_postgres() {
    sigkill_then_repair(fresh_postgres_url().await.unwrap(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_direct_writing_then_repair_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    sigkill_then_repair(fresh_sqlite_url(tmp.path()), true).await;
}
