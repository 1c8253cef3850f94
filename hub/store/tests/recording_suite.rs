//! The recording index on SQLite and on the real PostgreSQL: directories (scoped by the node
//! that writes them), segments (insert retried, fenced by the lease they were recorded under,
//! listed by time, marked and removed by deletion), retention's candidates with the locks
//! incidents put on time ranges, and evidence clips with the chain's head.

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::recording::{EvidenceClip, Hole, RecordMode, RecordingLock, Segment};
use gridwatch_store::{
    on_both, DirBytes, Inserted, RecordingDir, SegmentFence, SegmentFile, SegmentSource, Store,
};

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
        bytes: (1_000_000 + m) as u64,
        frames: 1500,
        sha256: format!("{m:064x}"),
        codec: "avc1.640028".into(),
        width: 1920,
        height: 1080,
        holes: Vec::new(),
    }
}

async fn with_segments(store: &Store, minutes: std::ops::Range<i64>) -> Vec<Segment> {
    store
        .put_recording_dir("d1", "/srv/a", None, t0())
        .await
        .unwrap();
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
        store
            .put_recording_dir("d1", "/srv/a", None, t0())
            .await
            .unwrap();
        store
            .put_recording_dir("d1", "/srv/b", None, min(1))
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
            .recording_dir_at_path_has_segments("/srv/b", None)
            .await
            .unwrap());
        store
            .insert_recording_segment(&segment("cam", "d1", 0))
            .await
            .unwrap();
        assert!(store
            .recording_dir_at_path_has_segments("/srv/b", None)
            .await
            .unwrap());
        assert!(!store
            .recording_dir_at_path_has_segments("/srv/a", None)
            .await
            .unwrap());
    }
);

on_both!(
    a_segment_keeps_its_holes_and_older_rows_have_none,
    |store: Store| async move {
        store
            .put_recording_dir("d1", "/srv/a", None, t0())
            .await
            .unwrap();
        let mut lossy = segment("cam", "d1", 0);
        lossy.holes = vec![
            Hole {
                from: min(0) + Duration::milliseconds(10_040),
                to: min(0) + Duration::milliseconds(12_000),
            },
            Hole {
                from: min(0) + Duration::seconds(30),
                to: min(0) + Duration::seconds(41),
            },
        ];
        store.insert_recording_segment(&lossy).await.unwrap();
        store
            .insert_recording_segment(&segment("cam", "d1", 1))
            .await
            .unwrap();
        let listed = store
            .recording_segments("cam", "main", min(0), min(2))
            .await
            .unwrap();
        assert_eq!(listed, [lossy, segment("cam", "d1", 1)]);
        assert!(listed[1].holes.is_empty());
    }
);

on_both!(
    a_directory_path_is_looked_up_on_its_own_node,
    |store: Store| async move {
        // Two workers' containers, and the in-process hub, all at the same path.
        let path = "/var/lib/gridwatch/recordings";
        store
            .put_recording_dir("w1-dir", path, Some("w1"), t0())
            .await
            .unwrap();
        store
            .put_recording_dir("w2-dir", path, Some("w2"), t0())
            .await
            .unwrap();
        store
            .insert_recording_segment(&segment("cam", "w1-dir", 0))
            .await
            .unwrap();
        let has = |node: Option<&'static str>| {
            let store = store.clone();
            async move {
                store
                    .recording_dir_at_path_has_segments(path, node)
                    .await
                    .unwrap()
            }
        };
        // W2's new directory is not taken for W1's unmounted disk, nor is the hub's.
        assert!(has(Some("w1")).await);
        assert!(!has(Some("w2")).await);
        assert!(!has(None).await);
        // The hub's own directory there counts for the hub only.
        store
            .put_recording_dir("hub-dir", path, None, t0())
            .await
            .unwrap();
        store
            .insert_recording_segment(&segment("cam", "hub-dir", 1))
            .await
            .unwrap();
        assert!(has(None).await);
        assert!(!has(Some("w2")).await);
        // A disk moved to W2's machine is W2's from its next opening.
        store
            .put_recording_dir("w1-dir", path, Some("w2"), min(5))
            .await
            .unwrap();
        assert!(has(Some("w2")).await);
        assert!(!has(Some("w1")).await);
    }
);

/// A camera, enabled, as workers claim them.
async fn camera(store: &Store) -> String {
    let new: gridwatch_core::camera::NewCamera = serde_json::from_value(serde_json::json!({
        "name": "gate", "rtsp_url": "rtsp://10.0.0.1/live"
    }))
    .unwrap();
    store.create_camera(new, t0()).await.unwrap().id
}

/// `cam`'s segment in `d1` from second `from` to second `to` after t0.
fn seconds(cam: &str, from: i64, to: i64) -> Segment {
    Segment {
        id: format!("{cam}-{from}-{to}"),
        path: format!("{cam}/main/{from}.mp4"),
        start: t0() + Duration::seconds(from),
        end: t0() + Duration::seconds(to),
        ..segment(cam, "d1", 0)
    }
}

fn fence(worker: &str, epoch: i64) -> SegmentFence {
    SegmentFence {
        worker_id: worker.into(),
        epoch,
    }
}

on_both!(
    a_segment_is_fenced_only_when_a_later_holder_claimed_before_it_ended,
    |store: Store| async move {
        let cam = camera(&store).await;
        store
            .put_recording_dir("d1", "/srv/a", Some("a"), t0())
            .await
            .unwrap();
        let at = |s: i64| t0() + Duration::seconds(s);
        let ttl = Duration::seconds(15);
        let insert = |s: Segment, f: Option<SegmentFence>| {
            let store = store.clone();
            async move {
                store
                    .insert_recording_segment_fenced(&s, f.as_ref())
                    .await
                    .unwrap()
            }
        };
        let a = store
            .claim_cameras("a", 1, at(0), at(0) + ttl)
            .await
            .unwrap();
        assert_eq!(a[0].epoch, 1);

        // A records under epoch 1; its rows carry the lease.
        let first = seconds(&cam, 1, 11);
        assert_eq!(
            insert(first.clone(), Some(fence("a", 1))).await,
            Inserted::Indexed
        );
        assert_eq!(
            store.recording_segment_fence(&first.id).await.unwrap(),
            Some(fence("a", 1))
        );
        // One it finished but has not indexed yet (ends at 12, indexed late).
        let late = seconds(&cam, 11, 12);
        // One indexed now whose answer is lost (it ends at 14, after B's claim below: the
        // workers' clocks a little apart).
        let answered = seconds(&cam, 12, 14);
        assert_eq!(
            insert(answered.clone(), Some(fence("a", 1))).await,
            Inserted::Indexed
        );

        // A gives the camera back at 12 (stopping); B claims it at 13, under epoch 2.
        assert!(store.release_lease(&a[0]).await.unwrap());
        let b = store
            .claim_cameras("b", 1, at(13), at(13) + ttl)
            .await
            .unwrap();
        assert_eq!(b[0].epoch, 2);

        // A's last segment ended before B's claim: kept, though A's lease is over.
        assert_eq!(
            insert(late.clone(), Some(fence("a", 1))).await,
            Inserted::Indexed
        );
        // Its retry finds the row there: indexed, not fenced, whatever the leases say now.
        assert_eq!(
            insert(answered.clone(), Some(fence("a", 1))).await,
            Inserted::Indexed
        );
        // A stale A that kept recording past B's claim: refused, and nothing written.
        let stale = seconds(&cam, 14, 20);
        assert_eq!(
            insert(stale.clone(), Some(fence("a", 1))).await,
            Inserted::Fenced
        );
        assert_eq!(
            store.recording_segment_fence(&stale.id).await.unwrap(),
            None
        );
        // B's own segments are indexed.
        let of_b = seconds(&cam, 14, 24);
        assert_eq!(
            insert(of_b.clone(), Some(fence("b", 2))).await,
            Inserted::Indexed
        );
        let ids: Vec<String> = store
            .recording_segments(&cam, "main", at(0), at(60))
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, [first.id, late.id, answered.id, of_b.id]);

        // B stalls; C takes over at 40 (epoch 3): two takeovers since epoch 1 refuse outright,
        // and B's segment past C's claim is fenced too.
        let c = store
            .claim_cameras("c", 1, at(40), at(40) + ttl)
            .await
            .unwrap();
        assert_eq!(c[0].epoch, 3);
        assert_eq!(
            insert(seconds(&cam, 5, 6), Some(fence("a", 1))).await,
            Inserted::Fenced
        );
        assert_eq!(
            insert(seconds(&cam, 24, 30), Some(fence("b", 2))).await,
            Inserted::Indexed,
            "ended before C's claim"
        );
        assert_eq!(
            insert(seconds(&cam, 30, 41), Some(fence("b", 2))).await,
            Inserted::Fenced
        );
        // Unfenced (the in-process hub, start-up repair): indexed, with no lease on the row.
        let repaired = seconds(&cam, 41, 42);
        assert_eq!(insert(repaired.clone(), None).await, Inserted::Indexed);
        assert_eq!(
            store.recording_segment_fence(&repaired.id).await.unwrap(),
            None
        );

        // A camera deleted since (its lease gone with it) keeps C's final segment.
        store.delete_camera(&cam).await.unwrap();
        assert_eq!(
            insert(seconds(&cam, 42, 60), Some(fence("c", 3))).await,
            Inserted::Indexed
        );
        // The directory's usage counts what was indexed, none of what was fenced.
        let indexed = store
            .recording_segments(&cam, "main", at(0), at(60))
            .await
            .unwrap();
        let usage = store.recording_usage().await.unwrap();
        assert_eq!(usage.len(), 1, "{usage:?}");
        assert_eq!(usage[0].segments, indexed.len() as u64);
        assert_eq!(usage[0].bytes, indexed.iter().map(|s| s.bytes).sum::<u64>());
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

on_both!(
    a_long_segment_is_found_however_far_back_it_starts,
    |store: Store| async move {
        // A camera that sent no keyframe for two hours wrote one long segment, then minutes.
        store
            .put_recording_dir("d1", "/srv/a", None, t0())
            .await
            .unwrap();
        let long = Segment {
            id: "cam-d1-long".into(),
            path: format!("cam/main/{}-continuous.mp4", min(-120).timestamp_millis()),
            start: min(-120),
            ..segment("cam", "d1", -1)
        };
        store.insert_recording_segment(&long).await.unwrap();
        let minutes = with_segments(&store, 0..30).await;
        // Its last minute, its first, and a range it shares with the minutes after it.
        let found = |from, to| {
            let store = store.clone();
            async move {
                let listed = store.recording_segments("cam", "main", from, to).await;
                listed
                    .unwrap()
                    .into_iter()
                    .map(|s| s.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(found(min(-1), min(0)).await, [long.id.as_str()]);
        assert_eq!(found(min(-120), min(-119)).await, [long.id.as_str()]);
        assert_eq!(
            found(min(-10), min(2)).await,
            [
                long.id.clone(),
                minutes[0].id.clone(),
                minutes[1].id.clone()
            ]
        );
        // Ranges before and between: nothing; the minutes alone after it.
        assert!(found(min(-200), min(-120)).await.is_empty());
        assert_eq!(found(min(20), min(21)).await, [minutes[20].id.as_str()]);
        // Deleting it does not narrow what later lookups scan: a segment as long, indexed
        // again (repair of the same file), is found.
        store
            .remove_recording_segments(std::slice::from_ref(&long.id))
            .await
            .unwrap();
        assert!(found(min(-60), min(-59)).await.is_empty());
        store.insert_recording_segment(&long).await.unwrap();
        assert_eq!(found(min(-60), min(-59)).await, [long.id.as_str()]);
        // Another stream of the camera has its own longest (none: nothing recorded).
        assert!(store
            .recording_segments("cam", "sub", min(-120), min(30))
            .await
            .unwrap()
            .is_empty());
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
    // The directory's usage (kept with the rows, not summed) counts each row once: marking
    // again, or removing what was marked, takes nothing more.
    let usage = |segments: &[Segment]| {
        vec![DirBytes {
            dir_id: "d1".into(),
            bytes: segments.iter().map(|s| s.bytes).sum(),
            segments: segments.len() as u64,
        }]
    };
    store.mark_recording_segments_deleting(&ids).await.unwrap();
    assert_eq!(store.recording_usage().await.unwrap(), usage(&all[2..]));
    store.remove_recording_segments(&ids).await.unwrap();
    assert_eq!(store.recording_files_in_dir("d1").await.unwrap().len(), 2);
    assert_eq!(store.recording_usage().await.unwrap(), usage(&all[2..]));
    // A row removed without a mark (repair: its file is gone) is taken from it; a directory
    // with none left is not listed.
    store
        .remove_recording_segments(std::slice::from_ref(&all[2].id))
        .await
        .unwrap();
    assert_eq!(store.recording_usage().await.unwrap(), usage(&all[3..]));
    store
        .remove_recording_segments(std::slice::from_ref(&all[3].id))
        .await
        .unwrap();
    assert_eq!(store.recording_usage().await.unwrap(), []);
    store.insert_recording_segment(&all[3]).await.unwrap();
    assert_eq!(store.recording_usage().await.unwrap(), usage(&all[3..]));
    // Many at once (more than one statement's worth).
    let many: Vec<String> = (0..1200).map(|i| format!("none-{i}")).collect();
    store.remove_recording_segments(&many).await.unwrap();
});

on_both!(
    a_directory_opened_again_has_its_usage_counted_again,
    |store: Store| async move {
        let all = with_segments(&store, 0..4).await;
        store
            .mark_recording_segments_deleting(std::slice::from_ref(&all[0].id))
            .await
            .unwrap();
        // Rows written by a binary that did not keep the counters: the usage drifted.
        gridwatch_store::testing::set_recording_usage(&store, "d1", 7, 99)
            .await
            .unwrap();
        assert_eq!(store.recording_usage().await.unwrap()[0].segments, 99);
        // Opened again (a restart): counted from its rows, those being deleted left out.
        store
            .put_recording_dir("d1", "/srv/a", None, t0())
            .await
            .unwrap();
        assert_eq!(
            store.recording_usage().await.unwrap(),
            vec![DirBytes {
                dir_id: "d1".into(),
                bytes: all[1..].iter().map(|s| s.bytes).sum(),
                segments: 3,
            }]
        );
        // A new directory starts at nothing (not listed).
        store
            .put_recording_dir("d2", "/srv/b", None, t0())
            .await
            .unwrap();
        assert_eq!(store.recording_usage().await.unwrap().len(), 1);
    }
);

on_both!(
    incidents_await_evidence_until_scheduled,
    |store: Store| async move {
        use gridwatch_core::recording::evidence::{EvidenceJob, JobState};
        let raise = |cameras: Vec<String>, minute: i64| {
            let store = store.clone();
            async move {
                let mut sos = gridwatch_store::testing::bare_sos("button-1");
                sos.raise.cameras = cameras;
                store
                    .raise_incident(sos, min(minute))
                    .await
                    .unwrap()
                    .incident
                    .id
            }
        };
        let a = raise(vec!["cam".into()], 1).await;
        let b = raise(vec!["cam".into(), "cam2".into()], 2).await;
        let _no_camera = raise(vec![], 3).await;
        let c = raise(vec!["cam".into()], 4).await;
        let awaiting = |since: i64| {
            let store = store.clone();
            async move {
                store
                    .incidents_awaiting_evidence(min(since), 50)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|i| i.incident_id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(awaiting(0).await, [a.clone(), b.clone(), c.clone()]);
        assert_eq!(awaiting(2).await, [b.clone(), c.clone()], "raised since");
        // `a` scheduled with its job; `b` with none (its cameras came to no job): neither
        // is asked for again.
        let job = EvidenceJob {
            incident_id: a.clone(),
            camera_id: "cam".into(),
            from: min(0),
            to: min(2),
            due: min(2),
            state: JobState::Pending,
            attempts: 0,
        };
        store
            .schedule_evidence(&[&a, &b], std::slice::from_ref(&job), min(5))
            .await
            .unwrap();
        assert_eq!(awaiting(0).await, std::slice::from_ref(&c));
        // Scheduling again (a second hub node) changes nothing.
        store
            .schedule_evidence(&[&a], &[job], min(6))
            .await
            .unwrap();
        assert_eq!(awaiting(0).await, [c]);
        assert_eq!(store.due_evidence_jobs(min(3), 10).await.unwrap().len(), 1);
    }
);

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
    retention_reads_what_age_may_have_made_due,
    |store: Store| async move {
        // Minutes 0-9 of a continuous camera, and of one recording for incidents (buffer).
        let all = with_segments(&store, 0..10).await;
        let mut buffer = Vec::new();
        for m in 0..10 {
            let mut s = segment("buf", "d1", m);
            s.mode = RecordMode::Incidents;
            s.path = s.path.replace("continuous", "incidents");
            store.insert_recording_segment(&s).await.unwrap();
            buffer.push(s);
        }
        // An incident locks the buffer's minute 2.
        let lock = RecordingLock {
            id: "l-buf".into(),
            camera_id: "buf".into(),
            from: min(2),
            to: min(3),
            incident_id: None,
            until: None,
        };
        store.lock_recordings(&lock, t0()).await.unwrap();
        let ids = |c: &[gridwatch_core::recording::retention::Candidate]| -> Vec<String> {
            c.iter().map(|c| c.id.clone()).collect()
        };
        // Continuous segments started before minute 3, buffer segments before minute 7:
        // oldest first, both kinds merged, the lock said.
        let due = store
            .retention_due("d1", min(10), (min(3), min(7)), 100)
            .await
            .unwrap();
        let mut want: Vec<&Segment> = all[..3].iter().chain(&buffer[..7]).collect();
        want.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        assert_eq!(
            ids(&due),
            want.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
        );
        let locked: Vec<&str> = due
            .iter()
            .filter(|c| c.locked)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(locked, [buffer[2].id.as_str()]);
        assert!(due
            .iter()
            .all(|c| (c.camera_id == "buf") == (c.mode == RecordMode::Incidents)));
        // At most `limit`, the oldest.
        let two = store
            .retention_due("d1", min(10), (min(3), min(7)), 2)
            .await
            .unwrap();
        assert_eq!(ids(&two), ids(&due[..2]));
        // Segments being deleted are not read again.
        store
            .mark_recording_segments_deleting(std::slice::from_ref(&all[0].id))
            .await
            .unwrap();
        let after = store
            .retention_due("d1", min(10), (min(3), min(7)), 100)
            .await
            .unwrap();
        assert_eq!(after.len(), due.len() - 1);
        assert!(after.iter().all(|c| c.id != all[0].id));
    }
);

on_both!(
    short_of_space_retention_reads_the_oldest_it_needs,
    |store: Store| async move {
        // Ten minutes, about 1 MB each; the oldest two locked by an incident.
        let all = with_segments(&store, 0..10).await;
        let lock = RecordingLock {
            id: "l-old".into(),
            camera_id: "cam".into(),
            from: min(0),
            to: min(2),
            incident_id: None,
            until: None,
        };
        store.lock_recordings(&lock, t0()).await.unwrap();
        let ids = |c: &[gridwatch_core::recording::retention::Candidate]| -> Vec<String> {
            c.iter().map(|c| c.id.clone()).collect()
        };
        let want = |n: usize| -> Vec<String> { all[..n].iter().map(|s| s.id.clone()).collect() };
        let read = |short: u64| {
            let store = store.clone();
            async move {
                store
                    .retention_oldest_to_free("d1", min(10), short, (4, 8))
                    .await
                    .unwrap()
            }
        };
        // Short of 2 MB: the first four (two locked, two of about 1 MB free) are enough.
        assert_eq!(ids(&read(2_000_000).await), want(4));
        // Short of 3 MB: they are not; the oldest eight.
        assert_eq!(ids(&read(3_000_000).await), want(8));
        let eight = read(3_000_000).await;
        assert_eq!(
            eight.iter().filter(|c| c.locked).count(),
            2,
            "the lock is said"
        );
        // More than everything: still at most eight.
        assert_eq!(ids(&read(u64::MAX).await), want(8));
        // Fewer segments than a first look: all of them, once.
        store
            .mark_recording_segments_deleting(&want(7))
            .await
            .unwrap();
        assert_eq!(
            ids(&read(u64::MAX).await),
            all[7..].iter().map(|s| s.id.clone()).collect::<Vec<_>>()
        );
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

on_both!(
    segment_sources_name_their_node_and_its_address,
    |store: Store| async move {
        store
            .put_recording_dir("hub-dir", "/srv/hub", None, t0())
            .await
            .unwrap();
        store
            .put_recording_dir("w1-dir", "/srv/w", Some("w1"), t0())
            .await
            .unwrap();
        store
            .put_recording_dir("gone-dir", "/srv/w", Some("gone"), t0())
            .await
            .unwrap();
        store
            .worker_alive("w1", "http://10.0.0.7:8090", 10, &[], t0())
            .await
            .unwrap();
        let (a, b, c) = (
            segment("cam", "hub-dir", 0),
            segment("cam", "w1-dir", 1),
            segment("cam", "gone-dir", 2),
        );
        for s in [&a, &b, &c] {
            store.insert_recording_segment(s).await.unwrap();
        }
        store
            .mark_recording_segments_deleting(std::slice::from_ref(&c.id))
            .await
            .unwrap();
        let ids = vec![a.id.clone(), b.id.clone(), c.id.clone(), "nope".into()];
        let mut found = store.recording_segment_sources(&ids).await.unwrap();
        found.sort();
        // A segment being deleted, and an unknown one, are not there to be read.
        assert_eq!(
            found,
            vec![
                SegmentSource {
                    id: a.id.clone(),
                    dir_id: "hub-dir".into(),
                    node: None,
                    address: None,
                    dir_path: "/srv/hub".into(),
                    path: a.path.clone(),
                    bytes: a.bytes,
                    sha256: a.sha256.clone()
                },
                SegmentSource {
                    id: b.id.clone(),
                    dir_id: "w1-dir".into(),
                    node: Some("w1".into()),
                    address: Some("http://10.0.0.7:8090".into()),
                    dir_path: "/srv/w".into(),
                    path: b.path.clone(),
                    bytes: b.bytes,
                    sha256: b.sha256.clone()
                },
            ]
        );
        // A node that is no registered worker has no address.
        store
            .remove_recording_segments(std::slice::from_ref(&c.id))
            .await
            .unwrap();
        let mut d = segment("cam", "gone-dir", 3);
        d.id = "d".into();
        store.insert_recording_segment(&d).await.unwrap();
        let found = store
            .recording_segment_sources(&["d".to_string()])
            .await
            .unwrap();
        assert_eq!(found[0].node.as_deref(), Some("gone"));
        assert_eq!(found[0].address, None);
    }
);
