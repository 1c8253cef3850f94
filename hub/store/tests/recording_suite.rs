//! The recording index on SQLite and on the real PostgreSQL: directories, segments (insert
//! retried, listed by time, marked and removed by deletion), retention's candidates with the
//! locks incidents put on time ranges, and evidence clips with the chain's head.

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::recording::{EvidenceClip, RecordMode, RecordingLock, Segment};
use gridwatch_store::{on_both, DirBytes, RecordingDir, SegmentFile, Store};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn min(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

/// Minute `m` of camera `cam` in directory `dir`.
fn segment(cam: &str, dir: &str, m: i64) -> Segment {
    Segment {
        id: format!("{cam}-{dir}-{m}"),
        camera_id: cam.into(),
        stream: "main".into(),
        mode: RecordMode::Continuous,
        dir_id: dir.into(),
        path: format!("{cam}/main/{}-continuous.mp4", min(m).timestamp_millis()),
        start: min(m),
        end: min(m + 1),
        bytes: 1_000_000 + m as u64,
        frames: 1500,
        sha256: format!("{m:064x}"),
        codec: "avc1.640028".into(),
        width: 1920,
        height: 1080,
    }
}

async fn with_segments(store: &Store, minutes: std::ops::Range<i64>) -> Vec<Segment> {
    store.put_recording_dir("d1", "/srv/a", t0()).await.unwrap();
    let mut all = Vec::new();
    for m in minutes {
        let s = segment("cam", "d1", m);
        store.insert_recording_segment(&s).await.unwrap();
        all.push(s);
    }
    all
}

async fn incident(store: &Store) -> String {
    let request = gridwatch_store::testing::bare_sos("d1");
    store
        .raise_incident(request, t0())
        .await
        .unwrap()
        .incident
        .id
}

on_both!(
    directories_are_known_by_id_and_path,
    |store: Store| async move {
        assert_eq!(store.recording_dir("d1").await.unwrap(), None);
        store.put_recording_dir("d1", "/srv/a", t0()).await.unwrap();
        store
            .put_recording_dir("d1", "/srv/b", min(1))
            .await
            .unwrap();
        assert_eq!(
            store.recording_dir("d1").await.unwrap(),
            Some(RecordingDir {
                id: "d1".into(),
                path: "/srv/b".into()
            })
        );
        assert!(!store
            .recording_dir_at_path_has_segments("/srv/b")
            .await
            .unwrap());
        store
            .insert_recording_segment(&segment("cam", "d1", 0))
            .await
            .unwrap();
        assert!(store
            .recording_dir_at_path_has_segments("/srv/b")
            .await
            .unwrap());
        assert!(!store
            .recording_dir_at_path_has_segments("/srv/a")
            .await
            .unwrap());
    }
);

on_both!(
    segments_round_trip_and_list_by_time,
    |store: Store| async move {
        let all = with_segments(&store, 0..5).await;
        // A retried insert is not an error and changes nothing.
        store.insert_recording_segment(&all[0]).await.unwrap();
        let listed = store
            .recording_segments("cam", "main", min(1) + Duration::seconds(30), min(3))
            .await
            .unwrap();
        assert_eq!(listed, all[1..3].to_vec());
        assert!(store
            .recording_segments("cam", "sub", min(0), min(5))
            .await
            .unwrap()
            .is_empty());
        let usage = store.recording_usage().await.unwrap();
        assert_eq!(
            usage,
            [DirBytes {
                dir_id: "d1".into(),
                bytes: all.iter().map(|s| s.bytes).sum(),
                segments: 5
            }]
        );
    }
);

on_both!(deletion_marks_then_removes, |store: Store| async move {
    let all = with_segments(&store, 0..4).await;
    let ids = vec![all[0].id.clone(), all[1].id.clone()];
    store.mark_recording_segments_deleting(&ids).await.unwrap();
    // Marked rows are no longer listed or counted, but repair still sees them.
    let listed = store
        .recording_segments("cam", "main", min(0), min(4))
        .await
        .unwrap();
    assert_eq!(listed, all[2..].to_vec());
    assert_eq!(store.recording_usage().await.unwrap()[0].segments, 2);
    let mut files = store.recording_files_in_dir("d1").await.unwrap();
    files.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        files[0],
        SegmentFile {
            id: all[0].id.clone(),
            path: all[0].path.clone(),
            bytes: all[0].bytes,
            deleting: true
        }
    );
    assert_eq!(files.iter().filter(|f| f.deleting).count(), 2);
    store.remove_recording_segments(&ids).await.unwrap();
    assert_eq!(store.recording_files_in_dir("d1").await.unwrap().len(), 2);
    // Many at once (more than one statement's worth).
    let many: Vec<String> = (0..1200).map(|i| format!("none-{i}")).collect();
    store.remove_recording_segments(&many).await.unwrap();
});

on_both!(
    locks_cover_time_ranges_while_active,
    |store: Store| async move {
        let all = with_segments(&store, 0..6).await;
        let inc = incident(&store).await;
        // The incident's evidence: minutes 1:30 to 3:00, kept while it is open.
        let lock = RecordingLock {
            id: "l1".into(),
            camera_id: "cam".into(),
            from: min(1) + Duration::seconds(30),
            to: min(3),
            incident_id: Some(inc.clone()),
            until: None,
        };
        store.lock_recordings(&lock, t0()).await.unwrap();
        // Another, already expired.
        let expired = RecordingLock {
            id: "l2".into(),
            camera_id: "cam".into(),
            from: min(4),
            to: min(5),
            incident_id: None,
            until: Some(min(10)),
        };
        store.lock_recordings(&expired, t0()).await.unwrap();
        let locked = |c: &[gridwatch_core::recording::retention::Candidate]| -> Vec<String> {
            c.iter()
                .filter(|c| c.locked)
                .map(|c| c.id.clone())
                .collect()
        };
        let now = min(60);
        let candidates = store.retention_candidates("d1", now, 100).await.unwrap();
        assert_eq!(
            candidates.iter().map(|c| &c.id).collect::<Vec<_>>(),
            all.iter().map(|s| &s.id).collect::<Vec<_>>(),
            "oldest first"
        );
        assert_eq!(locked(&candidates), [all[1].id.clone(), all[2].id.clone()]);
        assert_eq!(
            store
                .retention_candidates("d1", now, 2)
                .await
                .unwrap()
                .len(),
            2
        );
        // Before the second lock expired it held minute 4.
        let earlier = store.retention_candidates("d1", min(9), 100).await.unwrap();
        assert_eq!(locked(&earlier).len(), 3);

        // The incident closes: its lock holds for a day more, then not.
        let released = store
            .release_recording_locks(&inc, now + Duration::days(1))
            .await
            .unwrap();
        assert_eq!(released, 1);
        let day_later = now + Duration::days(1);
        assert_eq!(
            locked(
                &store
                    .retention_candidates("d1", day_later - Duration::seconds(1), 100)
                    .await
                    .unwrap()
            )
            .len(),
            2
        );
        assert!(locked(
            &store
                .retention_candidates("d1", day_later, 100)
                .await
                .unwrap()
        )
        .is_empty());
        let locks = store.recording_locks("cam", min(0), min(2)).await.unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].until, Some(day_later));
    }
);

on_both!(
    evidence_clips_and_the_chain_head,
    |store: Store| async move {
        let inc = incident(&store).await;
        assert_eq!(store.evidence_head().await.unwrap(), None);
        let clip = |seq: u64| EvidenceClip {
            id: format!("clip-{seq}"),
            incident_id: inc.clone(),
            camera_id: "cam".into(),
            from: min(0),
            to: min(1) + Duration::seconds(30),
            file: format!("clips/{seq:08}-x-cam.mp4"),
            bytes: 12_345,
            sha256: "a".repeat(64),
            manifest_seq: seq,
            manifest_file: format!("manifests/{seq:08}.json"),
            manifest_sha256: format!("{seq:064}"),
            created_at: min(2),
        };
        store.insert_evidence_clip(&clip(1)).await.unwrap();
        store.insert_evidence_clip(&clip(2)).await.unwrap();
        assert!(
            store.insert_evidence_clip(&clip(2)).await.is_err(),
            "one manifest per seq"
        );
        assert_eq!(
            store.evidence_clips(&inc).await.unwrap(),
            [clip(1), clip(2)]
        );
        assert_eq!(
            store.evidence_head().await.unwrap(),
            Some((2, format!("{:064}", 2)))
        );
    }
);
