//! Evidence from real recordings: clips sealed from the store's segments around an incident,
//! the manifest chain recorded in the database, and `gridwatch evidence verify` (the binary)
//! passing on the sealed chain and failing on a tampered clip or a removed manifest.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gridwatch_core::recording::{EvidenceClip, Segment};
use gridwatch_hub::recording::evidence::{clip_of, segment_evidence};
use gridwatch_hub::recording::verify_evidence;
use gridwatch_ingest::evidence::{EvidenceDir, Problem, SealRequest};
use gridwatch_ingest::recording::clip::{plan_clip, ClipSegment};
use gridwatch_ingest::recording::RecordMode;
use gridwatch_ingest::{Cameras, StreamState};
use gridwatch_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use gridwatch_store::{Store, StoreOptions};

use super::support::{incident, open_recorder, quick_config};
use crate::ingest_common::media::{have_ffprobe, probe};
use crate::ingest_common::{camera, fast_config, start_sim, wait_for};

/// Records the simulator's camera for `seconds`; returns its segments.
async fn record(store: &Store, dir: &Path, seconds: u64) -> Vec<Segment> {
    let sim = start_sim(1);
    let recorder = open_recorder(store, quick_config(dir)).await;
    let cameras = Cameras::with_recorder(fast_config(), recorder.clone());
    let mut cam = camera("c1", &sim.url(1));
    cam.record = RecordMode::Continuous;
    cameras.apply([cam]);
    wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    cameras.clear();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
    store
        .recording_segments(
            "c1",
            "main",
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        )
        .await
        .unwrap()
}

/// Seals the clip of `[from, to)` for `incident` and records it in the store.
async fn seal(
    store: &Store,
    evidence: &EvidenceDir,
    samples: &Path,
    segments: &[Segment],
    incident: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> EvidenceClip {
    let used: Vec<&Segment> = segments
        .iter()
        .filter(|s| s.start < to && s.end > from - chrono::Duration::seconds(2))
        .collect();
    let sources: Vec<ClipSegment> = used
        .iter()
        .map(|s| ClipSegment {
            path: samples.join(&s.path),
            start: s.start.into(),
        })
        .collect();
    let plan = plan_clip(&sources, from.into(), to.into()).unwrap();
    let sealed = evidence
        .seal(SealRequest {
            incident_id: incident,
            camera_id: "c1",
            requested_from: from,
            requested_to: to,
            plan: &plan,
            segments: segment_evidence(used.iter().copied()),
            now: Utc::now(),
            known_head: None,
        })
        .unwrap();
    let clip = clip_of(&sealed, Utc::now());
    store.insert_evidence_clip(&clip).await.unwrap();
    clip
}

/// `gridwatch evidence verify` on `dir`; whether it passed, and what it printed.
pub fn cli_verify(db: &str, dir: &Path, offline: bool) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridwatch"));
    cmd.args(["evidence", "verify", "--dir"]).arg(dir);
    if offline {
        cmd.arg("--offline");
    }
    let out = cmd
        .env("GRIDWATCH_DATABASE_URL", db)
        .env("GRIDWATCH_LOG__FILTER", "warn")
        .output()
        .expect("gridwatch runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn evidence_verifies_and_tampering_is_found(db: String) {
    let store = Store::open(&StoreOptions::new(db.clone())).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let samples = tmp.path().join("samples");
    let segments = record(&store, &samples, 4).await;
    assert!(segments.len() >= 3, "{segments:?}");
    let samples = samples.canonicalize().unwrap();
    let evidence = EvidenceDir::open(&tmp.path().join("evidence")).unwrap();
    let t0 = segments[0].start;
    let (a, b) = (incident(&store).await, incident(&store).await);
    let first = seal(
        &store,
        &evidence,
        &samples,
        &segments,
        &a,
        (
            t0 + chrono::Duration::milliseconds(1500),
            t0 + chrono::Duration::milliseconds(2500),
        ),
    )
    .await;
    let second = seal(
        &store,
        &evidence,
        &samples,
        &segments,
        &b,
        (
            t0 + chrono::Duration::milliseconds(500),
            t0 + chrono::Duration::milliseconds(3000),
        ),
    )
    .await;
    assert_eq!((first.manifest_seq, second.manifest_seq), (1, 2));
    assert!(first.from <= t0 + chrono::Duration::milliseconds(1500));
    if have_ffprobe("evidence_verifies_and_tampering_is_found") {
        let probed = probe(&evidence.path().join(&second.file));
        let span = (second.to - second.from).to_std().unwrap().as_secs_f64();
        assert!(
            (probed.duration - span).abs() < 0.05,
            "{probed:?} vs {span}"
        );
    }

    let report = verify_evidence(Some(&store), evidence.path())
        .await
        .unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.manifests, 2);
    assert!(report.segments_checked >= 3, "{report:?}");
    let (ok, out) = cli_verify(&db, evidence.path(), false);
    assert!(ok, "{out}");
    assert!(out.contains("OK"), "{out}");

    // A tampered clip fails, in the library and on the command line.
    let clip = evidence.path().join(&first.file);
    let original = std::fs::read(&clip).unwrap();
    let mut tampered = original.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x20;
    std::fs::write(&clip, &tampered).unwrap();
    let report = verify_evidence(Some(&store), evidence.path())
        .await
        .unwrap();
    assert!(matches!(
        report.problems.as_slice(),
        [Problem::ClipAltered { seq: 1, .. }]
    ));
    let (ok, out) = cli_verify(&db, evidence.path(), true);
    assert!(!ok, "{out}");
    assert!(out.contains("PROBLEM"), "{out}");
    std::fs::write(&clip, &original).unwrap();

    // The newest manifest removed: the files alone look whole, the database's head does not.
    std::fs::remove_file(evidence.path().join(&second.manifest_file)).unwrap();
    assert!(cli_verify(&db, evidence.path(), true).0);
    let (ok, out) = cli_verify(&db, evidence.path(), false);
    assert!(!ok && out.contains("newest manifest"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_verifies_and_tampering_is_found_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    evidence_verifies_and_tampering_is_found(fresh_sqlite_url(tmp.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_verifies_and_tampering_is_found_postgres() {
    evidence_verifies_and_tampering_is_found(fresh_postgres_url().await.unwrap()).await;
}
