//! Playback (回放): what was recorded of a camera in a time range, as spans of continuous video
//! and the gaps between them (an outage, a stopped disk, recording off).
//!
//! Pure: the store gives the segments that overlap the range, this merges them. Segments of
//! one recording follow each other closely but not exactly (a segment ends with its last
//! frame's duration, the next starts at its first frame's arrival): a hole shorter than
//! [`JOIN_WITHIN_MS`] is not a gap.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::Segment;

/// Holes between segments up to this long are not gaps.
pub const JOIN_WITHIN_MS: i64 = 2_000;

/// Longest range one request may ask for.
pub const MAX_LIST_RANGE_DAYS: i64 = 31;

/// Continuous recorded video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Segment files it is made of.
    pub segments: u32,
    pub bytes: u64,
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

/// Spans and gaps of `segments` (any order) within `[from, to)`, both clipped to it.
pub fn timeline(segments: &[Segment], from: DateTime<Utc>, to: DateTime<Utc>) -> Timeline {
    let mut sorted: Vec<&Segment> = segments
        .iter()
        .filter(|s| s.start < to && s.end > from)
        .collect();
    sorted.sort_by_key(|s| (s.start, s.end));
    let join = Duration::milliseconds(JOIN_WITHIN_MS);
    let mut spans: Vec<Span> = Vec::new();
    for s in sorted {
        let (start, end) = (s.start.max(from), s.end.min(to));
        match spans.last_mut() {
            Some(last) if start <= last.to + join => {
                last.to = last.to.max(end);
                last.segments += 1;
                last.bytes += s.bytes;
            }
            _ => spans.push(Span {
                from: start,
                to: end,
                segments: 1,
                bytes: s.bytes,
            }),
        }
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
        }
    }

    #[test]
    fn close_segments_join_and_outages_are_gaps() {
        // 0-60 s, 60.04-120 s (joined), outage, 300-360 s.
        let segments = [seg(300_000, 360_000), seg(0, 60_000), seg(60_040, 120_000)];
        let tl = timeline(&segments, t(-10_000), t(400_000));
        assert_eq!(
            tl.spans,
            [
                Span {
                    from: t(0),
                    to: t(120_000),
                    segments: 2,
                    bytes: 20
                },
                Span {
                    from: t(300_000),
                    to: t(360_000),
                    segments: 1,
                    bytes: 10
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
    fn spans_are_clipped_to_the_range_and_nothing_is_one_gap() {
        let tl = timeline(&[seg(0, 60_000)], t(30_000), t(45_000));
        assert_eq!(tl.spans.len(), 1);
        assert_eq!((tl.spans[0].from, tl.spans[0].to), (t(30_000), t(45_000)));
        assert!(tl.gaps.is_empty());
        let tl = timeline(&[seg(0, 60_000)], t(60_000), t(90_000));
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
    fn ranges_are_checked() {
        let day = Duration::days(1);
        assert_eq!(check_range(t(1), t(1), day), Err(RangeError::Empty));
        assert!(check_range(t(0), t(0) + Duration::days(2), day).is_err());
        assert!(check_range(t(0), t(1000), day).is_ok());
    }
}
