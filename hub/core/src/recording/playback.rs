//! Playback (回放): what was recorded of a camera in a time range, as spans of continuous video
//! and the gaps between them (an outage, a stopped disk, recording off).
//!
//! Pure: the store gives the segments that overlap the range (and the recorder the one it is
//! writing, which has no row until it ends: without it the last minute would look like a gap
//! while the camera is recording), this merges them. Segments of
//! one recording follow each other closely but not exactly (a segment ends with its last
//! frame's duration, the next starts at its first frame's arrival): a hole shorter than
//! [`JOIN_WITHIN_MS`] is not a gap.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{pieces, Hole, Segment};

/// Holes between segments up to this long are not gaps.
pub const JOIN_WITHIN_MS: i64 = 2_000;

/// Holes inside a segment (frames lost) longer than this are gaps: the shortest hold an
/// evidence clip lists (`gridwatch_ingest::recording::clip::HELD_AT_LEAST`), so that the
/// timeline, playback and a clip name the same holes. Shorter than the join between segments:
/// a hole is measured on the camera's own clock, a boundary on arrival times, which jitter.
pub const HOLE_LONGER_THAN_MS: i64 = 1_000;

/// Longest range one request may ask for.
pub const MAX_LIST_RANGE_DAYS: i64 = 31;

/// Continuous recorded video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Segment files it is made of.
    pub segments: u32,
    /// Of the finished segments that start in it (the one being written is not counted).
    pub bytes: u64,
    /// It ends with the segment being written: its end moves on while the camera records.
    pub in_progress: bool,
}

/// The segment a recorder is writing now: from its first frame to the end of what is in its
/// file so far, with the holes in it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgress {
    pub start: DateTime<Utc>,
    pub written_end: DateTime<Utc>,
    pub holes: Vec<Hole>,
}

/// Time without recorded video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A camera's recordings in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Timeline {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub spans: Vec<Span>,
    pub gaps: Vec<Gap>,
}

/// Why a range cannot be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("`from` must be before `to`")]
    Empty,
    #[error("the range is longer than {0}")]
    TooLong(String),
}

/// Checks a requested range against `max`.
pub fn check_range(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: Duration,
) -> Result<(), RangeError> {
    if from >= to {
        return Err(RangeError::Empty);
    }
    if to - from > max {
        let shown = if max.num_days() > 0 {
            format!("{} days", max.num_days())
        } else {
            format!("{} minutes", max.num_minutes())
        };
        return Err(RangeError::TooLong(shown));
    }
    Ok(())
}

/// A stretch of one segment with video (between its holes).
struct Stretch {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Which segment (its index in the input).
    segment: usize,
    /// The segment's bytes on its first stretch, none on the others.
    bytes: u64,
    /// Of the segment being written.
    open: bool,
}

/// Spans and gaps of `segments` (any order) and of the one `in_progress` within
/// `[from, to)`, both clipped to it.
pub fn timeline(
    segments: &[Segment],
    in_progress: Option<InProgress>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Timeline {
    // The stretches with video, each segment cut at its holes. A hole of a second or less is
    // no gap, nor is a hole between segments within the join.
    let mut stretches: Vec<Stretch> = segments
        .iter()
        .map(|s| (s.pieces(), s.bytes, false))
        .chain(in_progress.map(|p| (pieces(p.start, p.written_end, &p.holes), 0, true)))
        .enumerate()
        .flat_map(|(segment, (pieces, bytes, open))| {
            pieces
                .into_iter()
                .enumerate()
                .map(move |(i, (start, end))| Stretch {
                    start,
                    end,
                    segment,
                    bytes: if i == 0 { bytes } else { 0 },
                    open,
                })
        })
        .filter(|s| s.start < to && s.end > from)
        .collect();
    stretches.sort_by_key(|s| (s.start, s.end));
    let (join, hole) = (
        Duration::milliseconds(JOIN_WITHIN_MS),
        Duration::milliseconds(HOLE_LONGER_THAN_MS),
    );
    let mut spans: Vec<Span> = Vec::new();
    // The segment of the last stretch added: a segment's stretches in one span count once.
    let mut last_segment = None;
    for s in stretches {
        let (start, end) = (s.start.max(from), s.end.min(to));
        let same_segment = last_segment == Some(s.segment);
        let within = if same_segment { hole } else { join };
        match spans.last_mut() {
            Some(last) if start <= last.to + within => {
                last.to = last.to.max(end);
                if !same_segment {
                    last.segments += 1;
                }
                last.bytes = last.bytes.saturating_add(s.bytes);
                last.in_progress |= s.open;
            }
            _ => spans.push(Span {
                from: start,
                to: end,
                segments: 1,
                bytes: s.bytes,
                in_progress: s.open,
            }),
        }
        last_segment = Some(s.segment);
    }
    let mut gaps = Vec::new();
    let mut at = from;
    for span in &spans {
        if span.from > at {
            gaps.push(Gap {
                from: at,
                to: span.from,
            });
        }
        at = at.max(span.to);
    }
    if at < to {
        gaps.push(Gap { from: at, to });
    }
    Timeline {
        from,
        to,
        spans,
        gaps,
    }
}

#[cfg(test)]
mod tests {
    use super::super::RecordMode;
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::milliseconds(s)
    }

    fn seg(start: i64, end: i64) -> Segment {
        Segment {
            id: format!("s{start}"),
            camera_id: "c".into(),
            stream: "main".into(),
            mode: RecordMode::Continuous,
            dir_id: "d".into(),
            path: "p".into(),
            start: t(start),
            end: t(end),
            bytes: 10,
            frames: 1,
            sha256: String::new(),
            codec: String::new(),
            width: 0,
            height: 0,
            holes: Vec::new(),
        }
    }

    #[test]
    fn close_segments_join_and_outages_are_gaps() {
        // 0-60 s, 60.04-120 s (joined), outage, 300-360 s.
        let segments = [seg(300_000, 360_000), seg(0, 60_000), seg(60_040, 120_000)];
        let tl = timeline(&segments, None, t(-10_000), t(400_000));
        assert_eq!(
            tl.spans,
            [
                Span {
                    from: t(0),
                    to: t(120_000),
                    segments: 2,
                    bytes: 20,
                    in_progress: false,
                },
                Span {
                    from: t(300_000),
                    to: t(360_000),
                    segments: 1,
                    bytes: 10,
                    in_progress: false,
                }
            ]
        );
        assert_eq!(
            tl.gaps,
            [
                Gap {
                    from: t(-10_000),
                    to: t(0)
                },
                Gap {
                    from: t(120_000),
                    to: t(300_000)
                },
                Gap {
                    from: t(360_000),
                    to: t(400_000)
                }
            ]
        );
    }

    #[test]
    fn holes_inside_a_segment_are_gaps_when_longer_than_a_second() {
        // 0-60 s with frames lost at 10-15 s (a gap), 30-31 s (a second: none) and 40-41.5 s
        // (a gap, though shorter than the join between segments); being written: 60.04-90 s,
        // frames lost at 70-80 s.
        let mut lossy = seg(0, 60_000);
        lossy.holes = vec![
            Hole {
                from: t(10_000),
                to: t(15_000),
            },
            Hole {
                from: t(30_000),
                to: t(31_000),
            },
            Hole {
                from: t(40_000),
                to: t(41_500),
            },
        ];
        let open = InProgress {
            start: t(60_040),
            written_end: t(90_000),
            holes: vec![Hole {
                from: t(70_000),
                to: t(80_000),
            }],
        };
        let tl = timeline(&[lossy], Some(open), t(0), t(90_000));
        let spans: Vec<_> = tl
            .spans
            .iter()
            .map(|s| (s.from, s.to, s.segments, s.bytes, s.in_progress))
            .collect();
        assert_eq!(
            spans,
            [
                (t(0), t(10_000), 1, 10, false),
                (t(15_000), t(40_000), 1, 0, false),
                // The rest of the lossy segment and the start of the one being written.
                (t(41_500), t(70_000), 2, 0, true),
                (t(80_000), t(90_000), 1, 0, true),
            ]
        );
        assert_eq!(
            tl.gaps,
            [
                Gap {
                    from: t(10_000),
                    to: t(15_000)
                },
                Gap {
                    from: t(40_000),
                    to: t(41_500)
                },
                Gap {
                    from: t(70_000),
                    to: t(80_000)
                }
            ]
        );
    }

    /// A segment being written with no whole fragment yet (its first second) still marks the
    /// span it continues as recording: the wall shows the camera as recording throughout.
    #[test]
    fn a_segment_just_begun_marks_the_last_span_as_recording() {
        let open = InProgress {
            start: t(60_030),
            written_end: t(60_030),
            holes: Vec::new(),
        };
        let tl = timeline(&[seg(0, 60_000)], Some(open), t(0), t(61_000));
        assert_eq!(tl.spans.len(), 1, "{tl:?}");
        assert_eq!(tl.spans[0].to, t(60_030));
        assert_eq!(tl.spans[0].segments, 2);
        assert!(tl.spans[0].in_progress);
    }

    #[test]
    fn spans_are_clipped_to_the_range_and_nothing_is_one_gap() {
        let tl = timeline(&[seg(0, 60_000)], None, t(30_000), t(45_000));
        assert_eq!(tl.spans.len(), 1);
        assert_eq!((tl.spans[0].from, tl.spans[0].to), (t(30_000), t(45_000)));
        assert!(tl.gaps.is_empty());
        let tl = timeline(&[seg(0, 60_000)], None, t(60_000), t(90_000));
        assert!(tl.spans.is_empty());
        assert_eq!(
            tl.gaps,
            [Gap {
                from: t(60_000),
                to: t(90_000)
            }]
        );
    }

    #[test]
    fn the_segment_being_written_extends_the_last_span_and_is_no_gap() {
        let open = |start, end| {
            Some(InProgress {
                start: t(start),
                written_end: t(end),
                holes: Vec::new(),
            })
        };
        // 0-60 s indexed, 60.03-85 s being written, the range up to 90 s: one span to 85 s.
        let tl = timeline(&[seg(0, 60_000)], open(60_030, 85_000), t(0), t(90_000));
        assert_eq!(
            tl.spans,
            [Span {
                from: t(0),
                to: t(85_000),
                segments: 2,
                bytes: 10,
                in_progress: true,
            }]
        );
        assert_eq!(
            tl.gaps,
            [Gap {
                from: t(85_000),
                to: t(90_000)
            }],
            "only what is not written yet"
        );
        // After an outage, the new recording is a span of its own, after a gap.
        let tl = timeline(&[seg(0, 60_000)], open(70_000, 80_000), t(0), t(90_000));
        assert_eq!(tl.spans.len(), 2);
        assert!(!tl.spans[0].in_progress && tl.spans[1].in_progress);
        assert_eq!((tl.spans[1].from, tl.spans[1].to), (t(70_000), t(80_000)));
        assert_eq!(
            tl.gaps[0],
            Gap {
                from: t(60_000),
                to: t(70_000)
            }
        );
        // Nothing of it in the range: as before.
        let tl = timeline(&[seg(0, 60_000)], open(60_030, 85_000), t(0), t(50_000));
        assert!(!tl.spans[0].in_progress);
    }

    #[test]
    fn ranges_are_checked() {
        let day = Duration::days(1);
        assert_eq!(check_range(t(1), t(1), day), Err(RangeError::Empty));
        assert!(check_range(t(0), t(0) + Duration::days(2), day).is_err());
        assert!(check_range(t(0), t(1000), day).is_ok());
    }
}
