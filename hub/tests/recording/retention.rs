//! Retention against the store and the disk: by age, by space, and with locked segments
//! surviving both; a directory with only locked data left is held (recording stops there)
//! and released once its limits allow.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::recording::retention::RetentionPolicy;
use gridwatch_core::recording::{RecordMode, RecordingLock, Segment};
use gridwatch_hub::recording::retention::{run, DirLimits};
use gridwatch_ingest::config::Quality;
use gridwatch_ingest::recording::dir::SegmentName;
use gridwatch_ingest::recording::{RecordMode as IngestMode, StopReason};
use gridwatch_store::Store;

use super::support::{files_on_disk, open_recorder, quick_config};

const SIZE: u64 = 100_000;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A segment of `SIZE` bytes of camera `cam` that started `ago` before now, with its file.
async fn segment(
    store: &Store,
    dir_id: &str,
    dir: &std::path::Path,
    cam: &str,
    ago: Duration,
) -> Segment {
    segment_in(RecordMode::Continuous, store, dir_id, dir, cam, ago).await
}

/// A minute-long segment of `cam` recorded in `mode`, started `ago`, file and row.
async fn segment_in(
    mode: RecordMode,
    store: &Store,
    dir_id: &str,
    dir: &std::path::Path,
    cam: &str,
    ago: Duration,
) -> Segment {
    let start = now() - ago;
    let path = SegmentName {
        camera_id: cam.into(),
        stream: Quality::Main,
        start_ms: start.timestamp_millis() as u64,
        mode: match mode {
            RecordMode::Incidents => IngestMode::Incidents,
            _ => IngestMode::Continuous,
        },
    }
    .relative_path();
    let file = dir.join(&path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, vec![0u8; SIZE as usize]).unwrap();
    let s = Segment {
        id: gridwatch_core::id::new_id(),
        camera_id: cam.into(),
        stream: "main".into(),
        mode,
        dir_id: dir_id.into(),
        path,
        start,
        end: start + Duration::minutes(1),
        bytes: SIZE,
        frames: 1500,
        sha256: "0".repeat(64),
        codec: "avc1.640028".into(),
        width: 1920,
        height: 1080,
        holes: Vec::new(),
    };
    store.insert_recording_segment(&s).await.unwrap();
    s
}

async fn lock(store: &Store, s: &Segment) {
    let lock = RecordingLock {
        id: gridwatch_core::id::new_id(),
        camera_id: s.camera_id.clone(),
        from: s.start,
        to: s.end,
        incident_id: None,
        until: None,
    };
    store.lock_recordings(&lock, now()).await.unwrap();
}

async fn left(store: &Store, dir_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .recording_files_in_dir(dir_id)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    ids.sort();
    ids
}

fn sorted(segments: &[&Segment]) -> Vec<String> {
    let mut ids: Vec<String> = segments.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    ids
}

gridwatch_store::on_both!(
    retention_by_age_and_space_keeps_locked_segments,
    |store: Store| async move {
        let tmp = tempfile::tempdir().unwrap();
        let recorder = open_recorder(&store, quick_config(tmp.path())).await;
        let status = recorder.statuses()[0].clone();
        let (dir_id, dir) = (status.id.unwrap(), status.path);
        let days = |d| Duration::days(d);
        let mins = |m| Duration::minutes(m);
        let old = segment(&store, &dir_id, &dir, "a", days(40)).await;
        let old_locked = segment(&store, &dir_id, &dir, "a", days(40) - mins(1)).await;
        let old_short = segment(&store, &dir_id, &dir, "b", days(8)).await;
        let mut recent = Vec::new();
        for m in (1..=6).rev() {
            recent.push(segment(&store, &dir_id, &dir, "a", mins(m)).await);
        }
        // Camera c records for incidents: a pre-event buffer of 5 minutes, longer where
        // locked.
        let buffer = |m| segment_in(RecordMode::Incidents, &store, &dir_id, &dir, "c", mins(m));
        let (buffer_old, buffer_locked, buffer_new) =
            (buffer(9).await, buffer(8).await, buffer(3).await);
        lock(&store, &old_locked).await;
        lock(&store, &recent[1]).await;
        lock(&store, &buffer_locked).await;
        let mut policy = RetentionPolicy::default();
        policy.camera_days.insert("b".into(), 7);
        let mut limits = HashMap::new();

        // Age: the 40-day-old one, camera b's 8-day-old one and camera c's buffer older than
        // 5 minutes; the locked ones stay.
        let report = run(&store, &recorder, &policy, &limits, now())
            .await
            .unwrap();
        assert_eq!((report.deleted_for_age, report.deleted_for_space), (3, 0));
        assert_eq!(report.bytes_freed, 3 * SIZE);
        assert!(!dir.join(&old.path).exists() && !dir.join(&old_short.path).exists());
        assert!(!dir.join(&buffer_old.path).exists());
        // (The buffer's locked and recent segments out of the rest of the test.)
        store
            .remove_recording_segments(&[buffer_locked.id.clone(), buffer_new.id.clone()])
            .await
            .unwrap();
        for s in [&buffer_locked, &buffer_new] {
            std::fs::remove_file(dir.join(&s.path)).unwrap();
        }
        let mut kept: Vec<&Segment> = vec![&old_locked];
        kept.extend(recent.iter());
        assert_eq!(left(&store, &dir_id).await, sorted(&kept));

        // Space: at most 4 segments' worth of 7: the oldest unlocked three go (not the
        // locked old one, not the locked recent[1]).
        limits.insert(
            dir_id.clone(),
            DirLimits {
                max_bytes: Some(4 * SIZE),
                min_free_bytes: 0,
            },
        );
        let report = run(&store, &recorder, &policy, &limits, now())
            .await
            .unwrap();
        assert_eq!((report.deleted_for_age, report.deleted_for_space), (0, 3));
        let kept = [&old_locked, &recent[1], &recent[4], &recent[5]];
        assert_eq!(left(&store, &dir_id).await, sorted(&kept));
        assert!(report.holds.is_empty());
        assert!(recorder.statuses()[0].is_recording());

        // Only locked data would be left: everything unlocked goes, then the directory is
        // held, and nothing locked is touched.
        limits.insert(
            dir_id.clone(),
            DirLimits {
                max_bytes: Some(SIZE),
                min_free_bytes: 0,
            },
        );
        let report = run(&store, &recorder, &policy, &limits, now())
            .await
            .unwrap();
        assert_eq!(report.deleted_for_space, 2);
        assert_eq!(report.holds.len(), 1);
        assert_eq!(
            left(&store, &dir_id).await,
            sorted(&[&old_locked, &recent[1]])
        );
        wait_for_stop(&recorder, Some(StopReason::Held)).await;
        let status = &recorder.statuses()[0];
        assert!(
            status.reason.as_deref().unwrap().contains("locked"),
            "{status:?}"
        );

        // Room again: released, recording resumes.
        limits.insert(
            dir_id.clone(),
            DirLimits {
                max_bytes: Some(10 * SIZE),
                min_free_bytes: 0,
            },
        );
        let report = run(&store, &recorder, &policy, &limits, now())
            .await
            .unwrap();
        assert!(report.holds.is_empty());
        wait_for_stop(&recorder, None).await;

        // Index and disk agree.
        let names: Vec<String> = store
            .recording_files_in_dir(&dir_id)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(files_on_disk(&dir), names.into_iter().collect());
        tokio::task::spawn_blocking(move || recorder.shutdown())
            .await
            .unwrap();
    }
);

async fn wait_for_stop(recorder: &gridwatch_ingest::recording::Recorder, want: Option<StopReason>) {
    let until = std::time::Instant::now() + StdDuration::from_secs(10);
    while recorder.statuses()[0].stopped != want {
        assert!(
            std::time::Instant::now() < until,
            "directory not {want:?}: {:?}",
            recorder.statuses()
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

gridwatch_store::on_both!(
    short_of_space_age_is_still_kept_to,
    |store: Store| async move {
        let tmp = tempfile::tempdir().unwrap();
        let recorder = open_recorder(&store, quick_config(tmp.path())).await;
        let status = recorder.statuses()[0].clone();
        let (dir_id, dir) = (status.id.unwrap(), status.path);
        // More continuous segments than a pass short of space looks at first, all kept by age;
        // then, newer than all of them, an incidents-mode buffer segment older than the buffer.
        let first_look = gridwatch_hub::recording::retention::FIRST_LOOK as i64;
        for m in (0..=first_look).rev() {
            segment(&store, &dir_id, &dir, "a", Duration::minutes(100 + m)).await;
        }
        let buffer = segment_in(
            RecordMode::Incidents,
            &store,
            &dir_id,
            &dir,
            "c",
            Duration::minutes(9),
        )
        .await;
        // Short by one segment.
        let limits = HashMap::from([(
            dir_id.clone(),
            DirLimits {
                max_bytes: Some(first_look as u64 * SIZE),
                min_free_bytes: 0,
            },
        )]);
        let report = run(
            &store,
            &recorder,
            &RetentionPolicy::default(),
            &limits,
            now(),
        )
        .await
        .unwrap();
        // The buffer goes for its age though it is not among the oldest (before: only the
        // oldest were read while short, and it stayed until it was one of them).
        assert_eq!(report.deleted_for_age, 1, "{report:?}");
        assert!(!dir.join(&buffer.path).exists());
        assert!(!left(&store, &dir_id).await.contains(&buffer.id));
        let left_bytes = left(&store, &dir_id).await.len() as u64 * SIZE;
        assert!(left_bytes <= first_look as u64 * SIZE, "{report:?}");
        tokio::task::spawn_blocking(move || recorder.shutdown())
            .await
            .unwrap();
    }
);
