use std::time::Duration;

use super::*;
use crate::config::Quality;
use crate::fmp4::inspect::{read_boxes, BoxRef};
use crate::recording::testing::{fake_recorder, FakeStream};
use crate::recording::{RecordMode, SegmentRecord};

fn child<'a>(b: &BoxRef<'a>, kind: &[u8; 4]) -> BoxRef<'a> {
    *b.children()
        .unwrap()
        .iter()
        .find(|c| &c.kind == kind)
        .unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(kind)))
}

/// The clip's sample durations and sync sample numbers, from its `moov`.
fn timing(clip: &[u8]) -> (Vec<u32>, Vec<u32>) {
    let top = read_boxes(clip).unwrap();
    assert_eq!(
        top.iter().map(|b| b.kind).collect::<Vec<_>>(),
        [*b"ftyp", *b"moov", *b"mdat"]
    );
    let stbl = [b"trak", b"mdia", b"minf", b"stbl"]
        .iter()
        .fold(top[1], |b, k| child(&b, k));
    let (_, _, mut c) = child(&stbl, b"stts").full_box().unwrap();
    let mut durations = Vec::new();
    for _ in 0..c.u32().unwrap() {
        let (count, d) = (c.u32().unwrap(), c.u32().unwrap());
        durations.extend(std::iter::repeat_n(d, count as usize));
    }
    let (_, _, mut c) = child(&stbl, b"stss").full_box().unwrap();
    let sync = (0..c.u32().unwrap()).map(|_| c.u32().unwrap()).collect();
    (durations, sync)
}

/// Two recordings of one stream, 2 s apart on the wall clock.
fn two_spans(dir: &Path) -> Vec<SegmentRecord> {
    let (recorder, index) = fake_recorder(dir);
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 300);
    for _ in 0..50 {
        let (frame, sample) = stream.next_frame();
        tap.offer(frame, Some(sample));
    }
    // The camera comes back 2 s later (50 frames of wall clock skipped).
    tap.begin_session();
    stream.start += Duration::from_secs(2);
    for _ in 0..30 {
        let (frame, sample) = stream.next_frame();
        tap.offer(frame, Some(sample));
    }
    drop(tap);
    recorder.shutdown();
    index.segments()
}

fn sources(dir: &Path, rows: &[SegmentRecord]) -> Vec<ClipSegment> {
    rows.iter()
        .map(|r| ClipSegment {
            path: dir.join(&r.path),
            start: r.start,
        })
        .collect()
}

#[test]
fn a_clip_starts_at_a_keyframe_and_keeps_wall_clock_time_across_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = two_spans(tmp.path());
    let t0 = rows[0].start;
    // From 0.5 s (keyframes every 0.4 s: starts at 0.4 s) to 5.2 s (the
    // second span runs from 4 s to 5.2 s).
    let plan = plan_clip(
        &sources(tmp.path(), &rows),
        t0 + Duration::from_millis(500),
        t0 + Duration::from_millis(5200),
    )
    .unwrap();
    assert_eq!(plan.from, t0 + Duration::from_millis(400));
    // Frames 10..50 of the first span, then frames 50..80.
    assert_eq!(plan.frames, 40 + 30);
    // 1.6 s, the 2 s outage, 1.2 s.
    assert_eq!(
        plan.to.duration_since(plan.from).unwrap(),
        Duration::from_millis(1600 + 2000 + 1200)
    );
    // Listed: the last frame before the outage ends at 2 s, the next frame comes at 4 s.
    assert_eq!(
        plan.held,
        [(
            t0 + Duration::from_millis(2000),
            t0 + Duration::from_millis(4000)
        )]
    );
    let mut bytes = Vec::new();
    let written = plan.write_to(&mut bytes).unwrap();
    assert_eq!(written.bytes, bytes.len() as u64);
    assert_eq!(written.bytes, plan.len());
    assert_eq!(written.sha256, hex::encode(Sha256::digest(&bytes)));
    let (durations, sync) = timing(&bytes);
    assert_eq!(durations.len(), 70);
    assert_eq!(
        durations[39],
        3600 + 2 * 90_000,
        "the outage held on the last frame"
    );
    assert!(durations
        .iter()
        .enumerate()
        .all(|(i, d)| i == 39 || *d == 3600));
    // Keyframes every 10 frames in each span.
    assert_eq!(sync, [1, 11, 21, 31, 41, 51, 61]);

    // The file written is the same clip.
    let path = tmp.path().join("clip.mp4");
    assert_eq!(plan.write_file(&path).unwrap(), written);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn any_byte_range_of_a_clip_is_that_part_of_the_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = two_spans(tmp.path());
    let t0 = rows[0].start;
    let plan = plan_clip(
        &sources(tmp.path(), &rows),
        t0,
        t0 + Duration::from_millis(5200),
    )
    .unwrap();
    let mut whole = Vec::new();
    plan.write_to(&mut whole).unwrap();
    let len = whole.len() as u64;
    // Inside the header, across its end, inside one segment's frames, across two segments,
    // the tail, past the end (clamped), and nothing.
    for (start, end) in [
        (0, 10),
        (5, 2000),
        (len / 3, len / 3 + 7),
        (len / 4, len - len / 4),
        (len - 100, len),
        (len - 5, len + 50),
        (17, 17),
    ] {
        let mut part = Vec::new();
        let n = plan.write_range(start, end, &mut part).unwrap();
        let expected = &whole[start as usize..end.min(len) as usize];
        assert_eq!(n, expected.len() as u64, "{start}..{end}");
        assert_eq!(part, expected, "{start}..{end}");
    }
}

#[test]
fn an_empty_range_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = two_spans(tmp.path());
    let t0 = rows[0].start;
    let err = plan_clip(
        &sources(tmp.path(), &rows),
        t0 + Duration::from_secs(60),
        t0 + Duration::from_secs(70),
    )
    .unwrap_err();
    assert!(matches!(err, ClipError::NoFrames), "{err}");
    let err = plan_clip(&[], t0, t0 + Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, ClipError::NoFrames), "{err}");
}
