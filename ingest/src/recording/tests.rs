//! The recorder end to end on synthetic frames: segments, durability
//! bookkeeping, drops, holds, repair and deletion.

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dir::SegmentName;
use super::scan::scan_file;
use super::testing::FakeStream;
use super::*;
use crate::config::Quality;

fn quick_config(dir: &std::path::Path) -> RecordingConfig {
    RecordingConfig {
        dirs: vec![SampleDirConfig {
            path: dir.to_path_buf(),
            min_free_bytes: 0,
        }],
        segment_duration: Duration::from_secs(1),
        fragment_duration: Duration::from_millis(200),
        sync_interval: Duration::from_millis(50),
        drain_interval: Duration::from_millis(5),
        ..RecordingConfig::default()
    }
}

fn open(config: RecordingConfig) -> (Recorder, Arc<MemoryIndex>) {
    let index = Arc::new(MemoryIndex::new());
    (Recorder::open(config, index.clone()), index)
}

fn feed(tap: &RecordingTap, stream: &mut FakeStream, frames: u64) {
    for _ in 0..frames {
        let (frame, sample) = stream.next_frame();
        tap.offer(frame, Some(sample));
    }
}

/// Records `frames` of one synthetic stream (a keyframe every `key_every`)
/// and shuts the recorder down; returns the rows.
fn record(
    recorder: &Recorder,
    index: &MemoryIndex,
    key_every: u64,
    size: usize,
    frames: u64,
) -> Vec<SegmentRecord> {
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    feed(&tap, &mut FakeStream::new(key_every, size), frames);
    drop(tap);
    recorder.shutdown();
    index.segments()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn segments_start_on_keyframes_and_match_their_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let tap = recorder.tap("cam/1", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 2000);
    feed(&tap, &mut stream, 100); // 4 s
    drop(tap);
    recorder.shutdown();

    let rows = index.segments();
    assert!(rows.len() >= 3, "{} segments", rows.len());
    assert_eq!(rows.iter().map(|r| r.frames).sum::<u64>(), 100);
    let dir = recorder.statuses()[0].path.clone();
    for (i, row) in rows.iter().enumerate() {
        let scanned = scan_file(&dir.join(&row.path)).unwrap();
        assert!(!scanned.is_torn());
        assert_eq!(scanned.sha256, row.sha256);
        assert_eq!(scanned.valid_len, row.bytes);
        assert_eq!(scanned.frames(), row.frames);
        assert!(scanned.fragments[0].samples[0].is_keyframe);
        assert_eq!(scanned.fragments[0].decode_time, 0);
        assert_eq!(scanned.init.codec, "avc1.42C01E");
        let name = SegmentName::parse(&row.path).unwrap();
        assert_eq!(name.camera_id, "cam/1");
        assert_eq!(name.mode, RecordMode::Continuous);
        // Exact durations: 40 ms a frame.
        let media = row.end.duration_since(row.start).unwrap();
        assert_eq!(media, Duration::from_millis(40 * row.frames));
        if i + 1 < rows.len() {
            assert!(media >= Duration::from_secs(1), "{media:?}");
            assert_eq!(row.end, rows[i + 1].start, "back to back");
        }
    }
    let stats = &recorder.stats()[0];
    assert_eq!(stats.frames_written, 100);
    assert_eq!(stats.segments_finished, rows.len() as u64);
    assert!(stats.fsyncs >= rows.len() as u64, "{stats:?}");
    assert_eq!(
        stats.bytes_written,
        rows.iter().map(|r| r.bytes).sum::<u64>()
    );
    assert_eq!(stats.media_bytes, 100 * 2000);
}

/// How many of a file's pages are in the page cache, of how many (`mincore` on a read-only
/// mapping of it).
fn cached_pages(path: &std::path::Path) -> (usize, usize) {
    use std::os::fd::AsRawFd;
    let file = fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let mut resident = vec![0u8; len.div_ceil(page)];
    // SAFETY: a fresh read-only shared mapping of an open file, unmapped before returning;
    // `resident` has one byte per page of it, as mincore requires.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(addr, libc::MAP_FAILED);
        assert_eq!(libc::mincore(addr, len, resident.as_mut_ptr()), 0);
        libc::munmap(addr, len);
    }
    let cached = resident.iter().filter(|b| **b & 1 == 1).count();
    (cached, resident.len())
}

/// What is synced leaves the page cache: recording hundreds of cameras must not push the
/// database's pages out of memory with video nobody reads soon.
#[test]
fn synced_segments_leave_the_page_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let rows = record(&recorder, &index, 10, 20_000, 60);
    let dir = recorder.statuses()[0].path.clone();
    assert!(rows.len() >= 2, "{rows:?}");
    for row in &rows {
        let (cached, pages) = cached_pages(&dir.join(&row.path));
        assert!(pages >= 100, "{pages} pages");
        assert_eq!(
            cached, 0,
            "{} of {pages} pages of {} cached",
            cached, row.path
        );
    }
}

/// Written around the page cache (`direct_io`), the files and rows are those written through
/// it, byte for byte: a segment being written ends in a block's zeros, cut when it finishes.
#[test]
fn direct_writes_make_the_files_and_rows_the_cache_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let probe = fs::File::create(tmp.path().join("probe")).unwrap();
    assert!(
        super::direct::DirectWriter::enable(&probe).is_some(),
        "this test needs a temporary directory on a file system that does direct I/O"
    );
    let run = |direct_io: bool| {
        let dir = tmp.path().join(if direct_io { "direct" } else { "cache" });
        let (recorder, index) = open(RecordingConfig {
            direct_io,
            ..quick_config(&dir)
        });
        let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
        let mut stream = FakeStream::new(10, 3001);
        feed(&tap, &mut stream, 60);
        // While a segment is being written (frames 30 to 59, the first finished at the
        // keyframe 30; it lasts until the keyframe 60): its file is whole blocks when written
        // directly.
        wait_until("the second segment in progress", || {
            recorder.stats()[0].segments_finished == 1
                && recorder.open_segments().iter().any(|s| {
                    s.written_end.duration_since(s.start).unwrap_or_default()
                        >= Duration::from_millis(800)
                })
        });
        let (open, path) = recorder.open_segment("c", Quality::Main).unwrap();
        let on_disk = fs::metadata(&path).unwrap().len();
        assert!(on_disk >= open.bytes, "{on_disk} < {}", open.bytes);
        feed(&tap, &mut stream, 40);
        drop(tap);
        recorder.shutdown();
        let files: Vec<Vec<u8>> = index
            .segments()
            .iter()
            .map(|r| fs::read(recorder.statuses()[0].path.join(&r.path)).unwrap())
            .collect();
        (index.segments(), files, on_disk.is_multiple_of(4096))
    };
    let (cached, cached_files, _) = run(false);
    let (direct, direct_files, whole_blocks) = run(true);
    assert!(whole_blocks, "the open segment was not written directly");
    assert!(cached.len() >= 3, "{} segments", cached.len());
    assert_eq!(direct.len(), cached.len());
    for (i, (c, d)) in cached.iter().zip(&direct).enumerate() {
        assert_eq!(
            (&d.sha256, d.bytes, d.frames, &d.holes),
            (&c.sha256, c.bytes, c.frames, &c.holes),
            "segment {i}"
        );
        assert_eq!(direct_files[i], cached_files[i], "segment {i}'s bytes");
        assert_eq!(direct_files[i].len() as u64, d.bytes);
    }
}

#[test]
fn off_records_nothing_and_a_mode_change_starts_a_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let tap = recorder.tap("c", Quality::Main, RecordMode::Off);
    let mut stream = FakeStream::new(5, 500);
    feed(&tap, &mut stream, 20);
    tap.set_mode(RecordMode::Incidents);
    feed(&tap, &mut stream, 12); // waits for the keyframe at 20
    tap.set_mode(RecordMode::Continuous);
    feed(&tap, &mut stream, 10); // from the keyframe at 35
    drop(tap);
    recorder.shutdown();
    let rows = index.segments();
    let modes: Vec<_> = rows.iter().map(|r| (r.mode, r.frames)).collect();
    assert_eq!(
        modes,
        [(RecordMode::Incidents, 12), (RecordMode::Continuous, 7)]
    );
}

/// Frames live video could not use (damaged by packet loss) are a hole: the last whole frame
/// before it lasts its own duration (not stretched over the hole), recording resumes at the
/// keyframe after it in the same segment (one file a minute, however lossy the camera), and the
/// row lists the hole, as repair finds it again from the file.
#[test]
fn a_hole_in_the_stream_is_listed_by_its_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let config = RecordingConfig {
        segment_duration: Duration::from_secs(2),
        ..quick_config(tmp.path())
    };
    let (recorder, index) = open(config);
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 500);
    feed(&tap, &mut stream, 15);
    // Frames 15-20 lost (20 a keyframe), 21-22 come but follow no keyframe, 23-29 lost:
    // recording resumes at the keyframe 30.
    for n in 15..30 {
        let (frame, sample) = stream.next_frame();
        tap.offer(frame, (21..23).contains(&n).then_some(sample));
    }
    feed(&tap, &mut stream, 10);
    drop(tap);
    recorder.shutdown();
    let rows = index.segments();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.frames, 25);
    assert_eq!(
        row.end.duration_since(row.start).unwrap(),
        Duration::from_millis(40 * 40),
        "frames 0 to 39"
    );
    assert_eq!(
        row.holes,
        [Hole {
            from: row.start + Duration::from_millis(15 * 40),
            to: row.start + Duration::from_millis(30 * 40),
        }],
        "frames 15 to 29 missing"
    );
    let dir = recorder.statuses()[0].path.clone();
    let scanned = scan_file(&dir.join(&row.path)).unwrap();
    let before = scanned.fragments[scanned.fragments.len() - 2]
        .samples
        .last()
        .unwrap();
    assert_eq!(
        before.duration, 3600,
        "the frame before the hole lasts one frame"
    );
    assert_eq!(scanned.holes(), [(15 * 3600, 30 * 3600)]);

    // Indexed again from the file alone (its row lost): the same hole.
    index.remove(std::slice::from_ref(&row.id)).unwrap();
    drop(recorder);
    let recorder = Recorder::open(quick_config(tmp.path()), index.clone());
    assert_eq!(recorder.repair_reports()[0].files_indexed.len(), 1);
    let reindexed = index.segments();
    assert_eq!((reindexed[0].start, reindexed[0].end), (row.start, row.end));
    assert_eq!(reindexed[0].holes, row.holes);
    recorder.shutdown();
}

/// Records 40 frames in two segments (a keyframe every 10, 1 s segments) whose second
/// segment's first frame arrives 7 ms early, and shuts the recorder down.
fn record_with_an_early_keyframe(recorder: &Recorder) {
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 500);
    feed(&tap, &mut stream, 30);
    let (mut frame, sample) = stream.next_frame();
    frame.received -= Duration::from_millis(7);
    tap.offer(frame, Some(sample));
    feed(&tap, &mut stream, 9);
    drop(tap);
    recorder.shutdown();
}

/// A segment starts when its first frame arrived and lasts its video's duration; when the
/// next one's first frame arrived a little earlier than that (network jitter), the segment
/// ends where the next starts: a stream's rows never overlap.
#[test]
fn a_segment_ends_where_the_next_starts_when_its_first_frame_came_early() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    record_with_an_early_keyframe(&recorder);
    let rows = index.segments();
    assert_eq!(rows.iter().map(|r| r.frames).collect::<Vec<_>>(), [30, 10]);
    assert_eq!(rows[0].end, rows[1].start);
    assert_eq!(
        rows[0].end.duration_since(rows[0].start).unwrap(),
        Duration::from_millis(30 * 40 - 7)
    );
}

/// After a gap (here a new camera session) a segment ends where its video does; when its
/// frames came late and caught up (a session's first keyframe often arrives late), the next
/// session's first frame may have arrived before that end. The next segment then starts where
/// the last one ended: a stream's rows never overlap, whatever ended the segment.
#[test]
fn after_a_gap_the_next_segment_starts_no_earlier_than_the_last_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 500);
    // Ten frames (0.4 s of video), the first arriving 100 ms late.
    for n in 0..10 {
        let (mut frame, sample) = stream.next_frame();
        if n == 0 {
            frame.received += Duration::from_millis(100);
        }
        tap.offer(frame, Some(sample));
    }
    // A new session, its first keyframe (frame 20) arriving 60 ms after the last frame (at
    // 0.36 s): at 0.42 s, before the first segment's video (0.1 + 0.4 s) ends.
    tap.begin_session();
    stream.next = 20;
    stream.start -= Duration::from_millis(20 * 40 - (9 * 40 + 60));
    feed(&tap, &mut stream, 10);
    drop(tap);
    recorder.shutdown();
    let rows = index.segments();
    assert_eq!(rows.iter().map(|r| r.frames).collect::<Vec<_>>(), [10, 10]);
    let first_end = rows[0].start + Duration::from_millis(400);
    assert_eq!(rows[0].end, first_end, "the first ends with its video");
    assert_eq!(
        rows[1].start, first_end,
        "the second starts there, not 80 ms before"
    );
}

/// Rows that never went in (the index refused them to the end, then the process stopped) are
/// written by the next start-up's repair, and those rows do not overlap either.
#[test]
fn repair_indexes_segments_whose_rows_never_went_in_without_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    index.set_failing(true);
    record_with_an_early_keyframe(&recorder);
    drop(recorder);
    assert!(index.segments().is_empty());

    index.set_failing(false);
    let recorder = Recorder::open(quick_config(tmp.path()), index.clone());
    assert_eq!(recorder.repair_reports()[0].files_indexed.len(), 2);
    let rows = index.segments();
    assert_eq!(rows.iter().map(|r| r.frames).collect::<Vec<_>>(), [30, 10]);
    assert_eq!(rows[0].end, rows[1].start);
    recorder.shutdown();
}

#[test]
fn a_full_queue_drops_frames_counted_until_the_next_keyframe() {
    let tmp = tempfile::tempdir().unwrap();
    let config = RecordingConfig {
        queue_bytes: 5 * 1000,
        drain_interval: Duration::from_secs(3600), // the writer never drains by itself
        ..quick_config(tmp.path())
    };
    let (recorder, index) = open(config);
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 1000);
    feed(&tap, &mut stream, 25);
    let stats = &recorder.stats()[0];
    // 5 fit; 20 dropped (the keyframe at 10 and 20 did not fit either).
    assert_eq!(stats.dropped_queue_full, 20, "{stats:?}");
    assert_eq!(stats.queued_bytes, 5000);
    drop(tap);
    recorder.shutdown();
    assert_eq!(index.segments().iter().map(|r| r.frames).sum::<u64>(), 5);
}

#[test]
fn a_held_directory_stops_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let dir_id = recorder.statuses()[0].id.clone().unwrap();
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(5, 500);
    feed(&tap, &mut stream, 10);
    recorder.hold(&dir_id, Some("only locked data left".into()));
    wait_until("the hold", || !recorder.statuses()[0].is_recording());
    let status = &recorder.statuses()[0];
    assert_eq!(status.stopped, Some(StopReason::Held));
    assert_eq!(status.reason.as_deref(), Some("only locked data left"));
    // The open segment was finished when the hold took effect.
    wait_until("the finished segment", || index.segments().len() == 1);
    feed(&tap, &mut stream, 10);
    assert_eq!(recorder.stats()[0].dropped_stopped, 10);
    recorder.hold(&dir_id, None);
    wait_until("the release", || recorder.statuses()[0].is_recording());
    feed(&tap, &mut stream, 10);
    drop(tap);
    recorder.shutdown();
    let frames: Vec<u64> = index.segments().iter().map(|r| r.frames).collect();
    assert_eq!(frames, [10, 10]);
}

#[test]
fn rows_that_fail_to_be_written_are_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    index.set_failing(true);
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 500);
    feed(&tap, &mut stream, 40);
    wait_until("a failed insert", || recorder.stats()[0].index_failures > 0);
    index.set_failing(false);
    drop(tap);
    recorder.shutdown();
    assert_eq!(index.segments().iter().map(|r| r.frames).sum::<u64>(), 40);
}

/// A database that stops answering while segments finish (a failover, a long lock): the
/// writer writes on — nothing dropped though its queue holds only 20 frames, where waiting for
/// the first row would have filled it in a moment — and the finished segments are listed as
/// unindexed, whole and synced, until their rows go in, in order, once the index answers.
#[test]
fn a_stalled_index_delays_rows_not_the_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = RecordingConfig {
        queue_bytes: 20 * 500,
        ..quick_config(tmp.path())
    };
    let (recorder, index) = open(config);
    index.set_stalled(true);
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 500);
    for _ in 0..20 {
        feed(&tap, &mut stream, 10);
        wait_until("the writer to take the frames", || {
            recorder.stats()[0].queued_bytes == 0
        });
    }
    let stats = recorder.stats()[0].clone();
    assert_eq!(stats.dropped_queue_full, 0, "{stats:?}");
    assert!(stats.segments_finished >= 5, "{stats:?}");
    assert!(
        index.segments().is_empty(),
        "no row while the index is stalled"
    );

    let waiting = recorder.unindexed("c", Quality::Main);
    assert_eq!(waiting.finished.len() as u64, stats.segments_finished);
    assert_eq!(stats.unindexed_segments, stats.segments_finished);
    let open = waiting.open.as_ref().expect("the segment being written");
    assert!(open.0.start >= waiting.finished.last().unwrap().0.end);
    for (record, path) in &waiting.finished {
        let scanned = scan_file(path).unwrap();
        assert!(!scanned.is_torn());
        assert_eq!(scanned.sha256, record.sha256);
        assert_eq!(scanned.frames(), record.frames);
    }
    for pair in waiting.finished.windows(2) {
        assert_eq!(pair[0].0.end, pair[1].0.start, "oldest first, back to back");
    }

    index.set_stalled(false);
    wait_until("the rows", || {
        recorder.unindexed("c", Quality::Main).finished.is_empty()
    });
    let ids: Vec<String> = index.segments().into_iter().map(|r| r.id).collect();
    let waited: Vec<String> = waiting.finished.into_iter().map(|(r, _)| r.id).collect();
    assert_eq!(ids, waited);
    drop(tap);
    recorder.shutdown();
    assert_eq!(index.segments().iter().map(|r| r.frames).sum::<u64>(), 200);
    assert_eq!(recorder.stats()[0].unindexed_segments, 0);
}

/// A database that hangs at shutdown (a dead connection nobody closed) does not hang the stop:
/// after `shutdown_index_wait` the recorder returns with the rows still waiting, their files
/// whole and synced for the next start-up's repair; the rows go in if the index answers later.
#[test]
fn shutdown_does_not_wait_for_a_hung_index_beyond_its_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let wait = Duration::from_millis(300);
    let config = RecordingConfig {
        shutdown_index_wait: wait,
        ..quick_config(tmp.path())
    };
    let (recorder, index) = open(config);
    index.set_stalled(true);
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    feed(&tap, &mut FakeStream::new(10, 500), 30);
    drop(tap);
    let asked = Instant::now();
    recorder.shutdown();
    let took = asked.elapsed();
    assert!(
        took >= wait,
        "returned after {took:?}, before the wait was over"
    );
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert!(index.segments().is_empty(), "the index never answered");

    let waiting = recorder.unindexed("c", Quality::Main).finished;
    assert_eq!(
        waiting.iter().map(|(r, _)| r.frames).sum::<u64>(),
        30,
        "every frame is in a segment waiting for its row"
    );
    for (record, path) in &waiting {
        let scanned = scan_file(path).unwrap();
        assert!(!scanned.is_torn(), "{path:?}");
        assert_eq!(scanned.sha256, record.sha256);
    }

    index.set_stalled(false);
    wait_until("the late rows", || index.segments().len() == waiting.len());
    assert_eq!(recorder.stats()[0].unindexed_segments, 0);
}

#[test]
fn fenced_segments_are_set_aside_counted_and_never_reindexed() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    // Another camera records on beside the fenced one: only the fenced one's files go aside.
    index.set_fenced("lost", true);
    let lost = recorder.tap("lost", Quality::Main, RecordMode::Continuous);
    let kept = recorder.tap("kept", Quality::Main, RecordMode::Continuous);
    let (mut a, mut b) = (FakeStream::new(10, 500), FakeStream::new(10, 500));
    for _ in 0..40 {
        feed(&lost, &mut a, 1);
        feed(&kept, &mut b, 1);
    }
    drop((lost, kept));
    recorder.shutdown();
    let rows = index.segments();
    assert!(rows.iter().all(|r| r.camera_id == "kept"), "{rows:?}");
    assert_eq!(rows.iter().map(|r| r.frames).sum::<u64>(), 40);
    let stats = &recorder.stats()[0];
    assert!(stats.segments_fenced >= 1, "{stats:?}");
    // Not retried: a refusal is not a failure.
    assert_eq!(stats.index_failures, 0, "{stats:?}");
    let dir = recorder.statuses()[0].path.clone();
    let mut aside = vec![];
    for e in fs::read_dir(dir.join("lost").join("main")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".mp4.fenced"), "{name}");
        aside.push(name);
    }
    assert_eq!(aside.len() as u64, stats.segments_fenced);
    drop(recorder);

    // The next start-up's repair leaves them alone, though the index would take them now.
    index.set_fenced("lost", false);
    let recorder = Recorder::open(quick_config(tmp.path()), index.clone());
    let report = &recorder.repair_reports()[0];
    assert!(report.files_indexed.is_empty(), "{report:?}");
    assert!(index.segments().iter().all(|r| r.camera_id == "kept"));
    assert_eq!(
        fs::read_dir(dir.join("lost").join("main")).unwrap().count(),
        aside.len()
    );
    recorder.shutdown();
}

#[test]
fn repair_cuts_torn_files_indexes_orphans_and_drops_rows_without_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let rows = record(&recorder, &index, 10, 3000, 60);
    let dir = recorder.statuses()[0].path.clone();
    assert!(rows.len() >= 2);
    drop(recorder);

    // The last segment lost its row and got a torn half fragment (a crash
    // mid-write); the first lost its file; a file with a torn init segment
    // and one the recorder did not make lie around.
    let last = rows.last().unwrap();
    index.remove(std::slice::from_ref(&last.id)).unwrap();
    let torn_path = dir.join(&last.path);
    let whole = fs::read(&torn_path).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[whole.len() - 1500..]);
    fs::write(&torn_path, &torn).unwrap();
    fs::remove_file(dir.join(&rows[0].path)).unwrap();
    let stub = "c/main/1000-continuous.mp4";
    fs::write(dir.join(stub), &whole[..20]).unwrap();
    fs::write(dir.join("c/main/notes.mp4"), b"hello").unwrap();

    let index2 = index.clone();
    let recorder = Recorder::open(quick_config(tmp.path()), index2);
    let report = &recorder.repair_reports()[0];
    assert_eq!(report.rows_dropped, [rows[0].path.clone()]);
    assert_eq!(report.torn_truncated, std::slice::from_ref(&last.path));
    assert_eq!(report.files_indexed, std::slice::from_ref(&last.path));
    assert_eq!(report.empty_removed, [stub.to_string()]);
    assert_eq!(report.foreign_files, ["c/main/notes.mp4".to_string()]);
    assert!(report.found_damage());
    assert_eq!(fs::read(&torn_path).unwrap(), whole, "cut back exactly");
    let after = index.segments();
    assert_eq!(after.len(), rows.len() - 1);
    let reindexed = after.iter().find(|r| r.path == last.path).unwrap();
    assert_eq!(
        (reindexed.sha256.as_str(), reindexed.bytes, reindexed.frames),
        (last.sha256.as_str(), last.bytes, last.frames)
    );
    assert_eq!((reindexed.start, reindexed.end), (last.start, last.end));
    recorder.shutdown();
    drop(recorder);

    // A second start-up finds nothing to do.
    let recorder = Recorder::open(quick_config(tmp.path()), index.clone());
    assert!(!recorder.repair_reports()[0].found_damage());
}

#[test]
fn deletion_marks_unlinks_then_removes_and_survives_an_interruption() {
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let rows = record(&recorder, &index, 10, 500, 60);
    let dir = recorder.statuses()[0].path.clone();
    let refs: Vec<SegmentRef> = rows
        .iter()
        .map(|r| SegmentRef {
            id: r.id.clone(),
            dir_id: r.dir_id.clone(),
            path: r.path.clone(),
        })
        .collect();
    let report = recorder.delete(&refs[..1]).unwrap();
    assert_eq!(report.deleted, [rows[0].id.clone()]);
    assert!(!dir.join(&rows[0].path).exists());
    assert_eq!(index.segments().len(), rows.len() - 1);

    // Interrupted after marking (a crash): the next start-up finishes it.
    index
        .mark_deleting(std::slice::from_ref(&rows[1].id))
        .unwrap();
    drop(recorder);
    let recorder = Recorder::open(quick_config(tmp.path()), index.clone());
    let report = &recorder.repair_reports()[0];
    assert_eq!(report.deletions_finished, 1);
    assert!(!report.found_damage());
    assert!(!dir.join(&rows[1].path).exists());
    assert_eq!(index.segments().len(), rows.len() - 2);
}

#[test]
fn an_unusable_directory_is_reported_and_others_record() {
    let tmp = tempfile::tempdir().unwrap();
    let blocked = tmp.path().join("file-not-dir");
    fs::write(&blocked, b"x").unwrap();
    let good = tmp.path().join("good");
    let mut config = quick_config(&good);
    config.dirs.insert(0, SampleDirConfig::new(&blocked));
    let (recorder, index) = open(config);
    let statuses = recorder.statuses();
    assert_eq!(statuses[0].stopped, Some(StopReason::Unavailable));
    assert!(statuses[0].id.is_none());
    assert!(statuses[1].is_recording());
    assert_eq!(record(&recorder, &index, 5, 500, 10).len(), 1);
}

#[test]
fn a_fragment_decoded_a_century_in_ends_the_valid_part() {
    use crate::fmp4::run::{fragment_head, RunSample};
    let tmp = tempfile::tempdir().unwrap();
    let (recorder, index) = open(quick_config(tmp.path()));
    let rows = record(&recorder, &index, 10, 500, 10);
    let path = recorder.statuses()[0].path.join(&rows[0].path);
    let whole = scan_file(&path).unwrap();
    // A damaged (or planted) fragment whose decode time would put its frame past any date
    // the hub can show: the scan stops before it, as before any fragment that is not whole.
    let data = vec![0u8; 64];
    let sample = RunSample {
        data: &data,
        duration: 3600,
        is_keyframe: true,
    };
    let head = fragment_head(99, scan::MAX_DECODE_TICKS + 1, &[sample]).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&data);
    fs::write(&path, &bytes).unwrap();
    let scanned = scan_file(&path).unwrap();
    assert!(scanned.is_torn());
    assert_eq!(scanned.valid_len, whole.valid_len);
    assert_eq!(scanned.frames(), whole.frames());
    assert_eq!(scanned.sha256, whole.sha256);
}
