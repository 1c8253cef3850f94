//! The latest group of pictures of one stream, kept so that a new viewer
//! starts on a keyframe at once instead of waiting up to a keyframe
//! interval for the next one.
//!
//! Segments are [`Bytes`]: handing the GOP to a viewer clones reference
//! counts, not video.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::fmp4::TIMESCALE;

/// An init segment (`ftyp` + `moov`) and the MIME type it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    /// e.g. `video/mp4; codecs="avc1.42C01E"`.
    pub mime: Arc<str>,
    pub data: Bytes,
}

/// Bounds on what one GOP may hold. A camera with a very long keyframe interval, or one
/// whose keyframes are not recognised, must not grow memory without limit: past either
/// bound the GOP is dropped (new viewers then wait for the next keyframe) and the stream
/// reports it (see [`GopPush::Overflowed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GopLimits {
    pub max_bytes: usize,
    /// Longest span of decode time from the keyframe to the newest frame.
    pub max_duration: Duration,
}

impl Default for GopLimits {
    /// 32 MiB (8 s of a 32 Mbit/s 4K stream) and 20 s (cameras send a keyframe every 1 to
    /// 10 s; "smart" codecs stretch it, but rarely beyond 10 s).
    fn default() -> Self {
        Self {
            max_bytes: 32 << 20,
            max_duration: Duration::from_secs(20),
        }
    }
}

/// What [`Gop::push`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GopPush {
    /// Kept: it starts or extends the GOP.
    Kept,
    /// Not kept: there is no GOP to extend (none yet, or it overflowed before).
    Skipped,
    /// Not kept, and the GOP it would have extended was dropped: it outgrew the limits.
    /// Reported once per GOP; the next keyframe starts over.
    Overflowed,
}

/// Init segment plus the media segments from the last keyframe on.
#[derive(Debug, Clone, Default)]
pub struct Gop {
    init: Option<InitSegment>,
    /// Starts with a keyframe, or is empty.
    segments: Vec<Bytes>,
    bytes: usize,
    /// Decode time of the keyframe, 90 kHz.
    start: u64,
    /// Dropped for its size since the last keyframe.
    overflowed: bool,
    limits: GopLimits,
}

impl Gop {
    pub fn new(limits: GopLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    pub fn init(&self) -> Option<&InitSegment> {
        self.init.as_ref()
    }

    /// The segments from the last keyframe on (empty while waiting for one).
    pub fn segments(&self) -> &[Bytes] {
        &self.segments
    }

    /// Total size of [`Gop::segments`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the GOP outgrew its limits since the last keyframe.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// New parameters: the old segments cannot be decoded with the new init
    /// segment, so they go.
    pub fn set_init(&mut self, init: InitSegment) {
        self.init = Some(init);
        self.clear();
    }

    /// Forgets the segments (the stream was interrupted); the next keyframe
    /// starts a new GOP.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.bytes = 0;
    }

    /// Adds a media segment whose frame has decode time `decode_time` (90 kHz): a keyframe
    /// starts a new GOP; other frames extend the current one, or are not kept while there
    /// is none. Past the limits the GOP is dropped.
    pub fn push(&mut self, segment: Bytes, is_keyframe: bool, decode_time: u64) -> GopPush {
        if is_keyframe {
            self.clear();
            self.overflowed = false;
            self.start = decode_time;
        } else if self.segments.is_empty() {
            return GopPush::Skipped;
        }
        let span = decode_time.saturating_sub(self.start);
        let max_span = u64::try_from(self.limits.max_duration.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(TIMESCALE))
            / 1000;
        if self.bytes + segment.len() > self.limits.max_bytes || span > max_span {
            self.clear();
            self.overflowed = true;
            return GopPush::Overflowed;
        }
        self.bytes += segment.len();
        self.segments.push(segment);
        GopPush::Kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u8) -> Bytes {
        Bytes::from(vec![n; 10])
    }

    /// 25 fps in 90 kHz ticks.
    const FRAME: u64 = 3600;

    #[test]
    fn keyframes_start_a_new_gop() {
        let mut gop = Gop::new(GopLimits::default());
        assert_eq!(
            gop.push(seg(0), false, 0),
            GopPush::Skipped,
            "nothing before the first keyframe"
        );
        assert_eq!(gop.push(seg(1), true, FRAME), GopPush::Kept);
        assert_eq!(gop.push(seg(2), false, 2 * FRAME), GopPush::Kept);
        assert_eq!(gop.segments(), &[seg(1), seg(2)]);
        assert_eq!(gop.push(seg(3), true, 3 * FRAME), GopPush::Kept);
        assert_eq!(gop.segments(), &[seg(3)]);
        assert_eq!(gop.bytes(), 10);
    }

    #[test]
    fn new_init_drops_the_segments() {
        let mut gop = Gop::new(GopLimits::default());
        gop.push(seg(1), true, 0);
        gop.set_init(InitSegment {
            mime: "video/mp4".into(),
            data: Bytes::from_static(b"init"),
        });
        assert!(gop.segments().is_empty());
        assert_eq!(gop.push(seg(2), false, FRAME), GopPush::Skipped);
        assert_eq!(gop.init().unwrap().data, Bytes::from_static(b"init"));
    }

    #[test]
    fn the_time_limit_drops_the_gop_until_the_next_keyframe() {
        let mut gop = Gop::new(GopLimits {
            max_bytes: 1 << 20,
            max_duration: Duration::from_secs(1),
        });
        assert_eq!(gop.push(seg(0), true, 0), GopPush::Kept);
        for i in 1..=25 {
            assert_eq!(gop.push(seg(1), false, i * FRAME), GopPush::Kept, "{i}");
        }
        assert_eq!(gop.push(seg(2), false, 26 * FRAME), GopPush::Overflowed);
        assert!(gop.segments().is_empty() && gop.overflowed());
        assert_eq!(gop.push(seg(3), false, 27 * FRAME), GopPush::Skipped);
        assert_eq!(gop.push(seg(4), true, 28 * FRAME), GopPush::Kept);
        assert!(!gop.overflowed());
        assert_eq!(gop.segments(), &[seg(4)]);
    }

    #[test]
    fn the_size_limit_drops_the_gop() {
        let mut gop = Gop::new(GopLimits {
            max_bytes: 15,
            max_duration: Duration::from_secs(60),
        });
        gop.push(seg(1), true, 0);
        assert_eq!(gop.push(seg(2), false, FRAME), GopPush::Overflowed);
        assert_eq!(gop.bytes(), 0);
        // A keyframe larger than the limit is not kept either.
        let mut gop = Gop::new(GopLimits {
            max_bytes: 5,
            max_duration: Duration::from_secs(60),
        });
        assert_eq!(gop.push(seg(1), true, 0), GopPush::Overflowed);
    }
}
