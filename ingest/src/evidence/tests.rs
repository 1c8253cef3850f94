//! Sealing clips and catching every kind of tampering.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::Digest as _;

use super::*;
use crate::recording::clip::{plan_clip, ClipSegment};
use crate::recording::testing::record_fake;
use crate::recording::SegmentRecord;

struct Setup {
    _tmp: tempfile::TempDir,
    samples: PathBuf,
    evidence: EvidenceDir,
    rows: Vec<SegmentRecord>,
}

fn segment_evidence(rows: &[SegmentRecord]) -> Vec<SegmentEvidence> {
    rows.iter()
        .map(|r| SegmentEvidence {
            id: r.id.clone(),
            sha256: r.sha256.clone(),
            start: r.start.into(),
            end: r.end.into(),
        })
        .collect()
}

/// Two clips sealed from 3 s of recording.
fn sealed_twice() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let samples = tmp.path().join("samples");
    let rows = record_fake(&samples, 75);
    let evidence = EvidenceDir::open(&tmp.path().join("evidence")).unwrap();
    let sources: Vec<ClipSegment> = rows
        .iter()
        .map(|r| ClipSegment {
            path: samples.join(&r.path),
            start: r.start,
        })
        .collect();
    let t0 = rows[0].start;
    for (incident, from, to) in [("inc-1", 0, 1500), ("inc-2", 1000, 3000)] {
        let from = t0 + Duration::from_millis(from);
        let to = t0 + Duration::from_millis(to);
        let plan = plan_clip(&sources, from, to).unwrap();
        let used: Vec<SegmentRecord> = rows
            .iter()
            .filter(|r| r.start < to && r.end > plan.from)
            .cloned()
            .collect();
        let sealed = evidence
            .seal(SealRequest {
                incident_id: incident,
                camera_id: "c",
                requested_from: DateTime::<Utc>::from(from),
                requested_to: DateTime::<Utc>::from(to),
                plan: &plan,
                segments: segment_evidence(&used),
                now: Utc::now(),
                known_head: None,
            })
            .unwrap();
        assert_eq!(sealed.manifest.clip.frames, plan.frames);
    }
    Setup {
        _tmp: tmp,
        samples,
        evidence,
        rows,
    }
}

fn lookup(samples: &Path, rows: &[SegmentRecord]) -> impl Fn(&SegmentEvidence) -> Option<PathBuf> {
    let paths: Vec<(String, PathBuf)> = rows
        .iter()
        .map(|r| (r.id.clone(), samples.join(&r.path)))
        .collect();
    move |s| {
        paths
            .iter()
            .find(|(id, p)| *id == s.id && p.exists())
            .map(|(_, p)| p.clone())
    }
}

fn verify(setup: &Setup, head: Option<PreviousManifest>) -> VerifyReport {
    let find = lookup(&setup.samples, &setup.rows);
    setup
        .evidence
        .verify(&VerifyOptions {
            expected_head: head,
            segment_file: Some(&find),
        })
        .unwrap()
}

#[test]
fn a_sealed_chain_verifies() {
    let setup = sealed_twice();
    let head = setup.evidence.head().unwrap().unwrap();
    assert_eq!(head.seq, 2);
    let report = verify(&setup, Some(head));
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.manifests, report.clips_checked), (2, 2));
    assert!(report.segments_checked >= 3, "{report:?}");
    let second: Manifest = serde_json::from_slice(
        &fs::read(setup.evidence.path().join("manifests/00000002.json")).unwrap(),
    )
    .unwrap();
    let first_bytes = fs::read(setup.evidence.path().join("manifests/00000001.json")).unwrap();
    assert_eq!(
        second.previous,
        Some(PreviousManifest {
            seq: 1,
            sha256: hex::encode(sha2::Sha256::digest(&first_bytes)),
        })
    );
}

#[test]
fn an_altered_clip_is_found() {
    let setup = sealed_twice();
    let clip = fs::read_dir(setup.evidence.path().join("clips"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("00000001-inc-1"))
        .unwrap();
    let mut bytes = fs::read(&clip).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    fs::write(&clip, bytes).unwrap();
    let report = verify(&setup, None);
    assert_eq!(
        report.problems,
        [Problem::ClipAltered {
            seq: 1,
            file: "clips/00000001-inc-1-c.mp4".into()
        }]
    );
    fs::remove_file(&clip).unwrap();
    assert!(matches!(
        verify(&setup, None).problems.as_slice(),
        [Problem::ClipMissing { seq: 1, .. }]
    ));
}

#[test]
fn an_edited_manifest_breaks_the_next_link() {
    let setup = sealed_twice();
    let path = setup.evidence.path().join("manifests/00000001.json");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace(r#""incident_id": "inc-1""#, r#""incident_id": "inc-9""#);
    fs::write(&path, text).unwrap();
    assert_eq!(
        verify(&setup, None).problems,
        [Problem::BrokenLink {
            seq: 2,
            previous: 1
        }]
    );
}

#[test]
fn a_removed_manifest_is_found() {
    let setup = sealed_twice();
    let head = setup.evidence.head().unwrap();
    fs::remove_file(setup.evidence.path().join("manifests/00000001.json")).unwrap();
    assert_eq!(
        verify(&setup, None).problems,
        [Problem::Missing { first: 1, last: 1 }]
    );
    // The newest one removed: only the database's head can tell.
    fs::remove_file(setup.evidence.path().join("manifests/00000002.json")).unwrap();
    assert!(verify(&setup, None).is_ok());
    assert!(matches!(
        verify(&setup, head).problems.as_slice(),
        [Problem::HeadMismatch { found: None, .. }]
    ));
}

#[test]
fn an_altered_source_segment_is_found_and_a_deleted_one_skipped() {
    let setup = sealed_twice();
    let first = setup.samples.join(&setup.rows[0].path);
    let mut bytes = fs::read(&first).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&first, bytes).unwrap();
    let report = verify(&setup, None);
    assert!(
        report
            .problems
            .iter()
            .all(|p| matches!(p, Problem::SegmentAltered { id, .. } if *id == setup.rows[0].id)),
        "{:?}",
        report.problems
    );
    assert!(!report.problems.is_empty());
    fs::remove_file(&first).unwrap();
    let report = verify(&setup, None);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.segments_unavailable >= 1);
}

#[test]
fn the_chain_continues_after_reopening() {
    let setup = sealed_twice();
    let again = EvidenceDir::open(setup.evidence.path()).unwrap();
    assert_eq!(again.head().unwrap().map(|h| h.seq), Some(2));
}

/// Seals one more clip of `setup`'s first second, linked to whatever the chain's head is.
fn seal_another(setup: &Setup) -> Result<Sealed, EvidenceError> {
    let sources: Vec<ClipSegment> = setup
        .rows
        .iter()
        .map(|r| ClipSegment {
            path: setup.samples.join(&r.path),
            start: r.start,
        })
        .collect();
    let from = setup.rows[0].start;
    let to = from + Duration::from_millis(1000);
    let plan = plan_clip(&sources, from, to).unwrap();
    setup.evidence.seal(SealRequest {
        incident_id: "inc-3",
        camera_id: "c",
        requested_from: DateTime::<Utc>::from(from),
        requested_to: DateTime::<Utc>::from(to),
        plan: &plan,
        segments: segment_evidence(&setup.rows[..1]),
        now: Utc::now(),
        known_head: None,
    })
}

#[test]
fn a_seal_links_to_the_newest_manifest_and_reads_no_other() {
    let setup = sealed_twice();
    // An older manifest made unreadable: sealing goes on (new evidence is not lost to old
    // damage), linked to the newest; verify still reports the damage.
    let first = setup.evidence.path().join("manifests/00000001.json");
    fs::write(&first, b"not json").unwrap();
    let head = setup.evidence.head().unwrap().unwrap();
    assert_eq!(head.seq, 2);
    let sealed = seal_another(&setup).unwrap();
    assert_eq!(sealed.manifest.seq, 3);
    assert_eq!(sealed.manifest.previous, Some(head));
    let problems = verify(&setup, None).problems;
    assert!(
        matches!(
            problems.as_slice(),
            [Problem::Unreadable { file, .. }, Problem::Missing { first: 1, last: 1 }]
                if file == "manifests/00000001.json"
        ),
        "only the damaged one, the new link is whole: {problems:?}"
    );

    // The newest one unreadable: nothing can be linked to it, the seal is refused and
    // writes nothing.
    let newest = setup.evidence.path().join("manifests/00000003.json");
    fs::write(&newest, b"{").unwrap();
    assert!(matches!(seal_another(&setup), Err(EvidenceError::Chain(_))));
    assert!(!setup
        .evidence
        .path()
        .join("manifests/00000004.json")
        .exists());
}

#[test]
fn a_clip_across_an_outage_says_in_its_manifest_where_nothing_was_recorded() {
    let setup = sealed_twice();
    let rows = &setup.rows;
    assert!(rows.len() >= 3, "{rows:?}");
    // The middle segment left out: an outage between the first and the third.
    let sources: Vec<ClipSegment> = [&rows[0], &rows[2]]
        .iter()
        .map(|r| ClipSegment {
            path: setup.samples.join(&r.path),
            start: r.start,
        })
        .collect();
    let (from, to) = (rows[0].start, rows[2].end);
    let plan = plan_clip(&sources, from, to).unwrap();
    assert_eq!(plan.held.len(), 1, "{:?}", plan.held);
    let (held_from, held_to) = plan.held[0];
    // From the end of the first segment's last frame to the third's first.
    let ms = |d: Duration| d.as_millis();
    assert!(
        ms(rows[0].end.duration_since(held_from).unwrap_or_default()) <= 1
            && ms(held_from.duration_since(rows[0].end).unwrap_or_default()) <= 1,
        "held from {held_from:?}, the first segment ends {:?}",
        rows[0].end
    );
    assert_eq!(held_to, rows[2].start);
    let sealed = setup
        .evidence
        .seal(SealRequest {
            incident_id: "inc-3",
            camera_id: "c",
            requested_from: DateTime::<Utc>::from(from),
            requested_to: DateTime::<Utc>::from(to),
            plan: &plan,
            segments: segment_evidence(&[rows[0].clone(), rows[2].clone()]),
            now: Utc::now(),
            known_head: None,
        })
        .unwrap();
    let file = setup.evidence.path().join(&sealed.manifest_file);
    let read: Manifest = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        read.clip.not_recorded,
        [NotRecorded {
            from: DateTime::<Utc>::from(held_from),
            to: DateTime::<Utc>::from(held_to),
        }]
    );
    // Clips without an outage say nothing of it (their manifests read as before).
    let first = fs::read_to_string(setup.evidence.path().join("manifests/00000001.json")).unwrap();
    assert!(!first.contains("not_recorded"), "{first}");
    let report = verify(&setup, None);
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn a_manifest_planted_far_ahead_is_one_missing_run_not_billions() {
    let setup = sealed_twice();
    let dir = setup.evidence.path().join("manifests");
    let mut planted: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("00000002.json")).unwrap()).unwrap();
    let far = 99_999_999_999u64;
    planted["seq"] = far.into();
    fs::write(
        dir.join(format!("{far:08}.json")),
        serde_json::to_vec(&planted).unwrap(),
    )
    .unwrap();
    let problems = verify(&setup, None).problems;
    assert!(
        problems.contains(&Problem::Missing {
            first: 3,
            last: far - 1
        }),
        "{problems:?}"
    );
    assert!(
        problems.contains(&Problem::BrokenLink {
            seq: far,
            previous: far - 1
        }),
        "{problems:?}"
    );
    assert_eq!(
        Problem::Missing {
            first: 3,
            last: far - 1
        }
        .to_string(),
        "manifests 3 to 99999999998 are missing"
    );
}

#[test]
fn a_clip_handed_over_is_checked_against_its_manifest() {
    let setup = sealed_twice();
    let manifests = setup.evidence.manifests().unwrap();
    let (first, second) = (&manifests[0], &manifests[1]);
    let dir = setup.evidence.path();
    let manifest = dir.join("manifests/00000001.json");
    let found = check_handover(&dir.join(&first.clip.file), &manifest).unwrap();
    assert!(found.clip_matches());
    assert_eq!(&found.manifest, first);
    // The manifest's hash is the one the next manifest links to.
    assert_eq!(
        second.previous.as_ref().map(|p| p.sha256.as_str()),
        Some(found.manifest_sha256.as_str())
    );
    // Another clip is not the one it describes; a file that is no manifest is said so.
    let other = check_handover(&dir.join(&second.clip.file), &manifest).unwrap();
    assert!(!other.clip_matches());
    assert!(matches!(
        check_handover(&manifest, &dir.join(&first.clip.file)),
        Err(HandoverError::NotAManifest { .. })
    ));
    assert!(matches!(
        check_handover(&dir.join("nothing.mp4"), &manifest),
        Err(HandoverError::Io { .. })
    ));
}
