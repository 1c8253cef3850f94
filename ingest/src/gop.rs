//! The latest group of pictures of one stream, kept so that a new viewer
//! starts on a keyframe at once instead of waiting up to a keyframe
//! interval for the next one.
//!
//! Segments are [`Bytes`]: handing the GOP to a viewer clones reference
//! counts, not video.

use std::sync::Arc;

use bytes::Bytes;

/// An init segment (`ftyp` + `moov`) and the MIME type it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    /// e.g. `video/mp4; codecs="avc1.42C01E"`.
    pub mime: Arc<str>,
    pub data: Bytes,
}

/// Bounds on what one GOP may hold; a camera with a very long keyframe
/// interval (or none) must not grow memory without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GopLimits {
    pub max_bytes: usize,
    pub max_segments: usize,
}

impl Default for GopLimits {
    /// 32 MiB (8 s of a 32 Mbit/s 4K stream) and 1500 frames (60 s at 25 fps).
    fn default() -> Self {
        Self {
            max_bytes: 32 << 20,
            max_segments: 1500,
        }
    }
}

/// Init segment plus the media segments from the last keyframe on.
#[derive(Debug, Clone, Default)]
pub struct Gop {
    init: Option<InitSegment>,
    /// Starts with a keyframe, or is empty.
    segments: Vec<Bytes>,
    bytes: usize,
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

    /// Adds a media segment: a keyframe starts a new GOP; other frames extend
    /// the current one, or are not kept while there is none. Returns whether
    /// the segment was kept. Past the limits the GOP is dropped (new viewers
    /// then wait for the next keyframe).
    pub fn push(&mut self, segment: Bytes, is_keyframe: bool) -> bool {
        if is_keyframe {
            self.clear();
        } else if self.segments.is_empty() {
            return false;
        }
        if self.segments.len() >= self.limits.max_segments
            || self.bytes + segment.len() > self.limits.max_bytes
        {
            self.clear();
            return false;
        }
        self.bytes += segment.len();
        self.segments.push(segment);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u8) -> Bytes {
        Bytes::from(vec![n; 10])
    }

    #[test]
    fn keyframes_start_a_new_gop() {
        let mut gop = Gop::new(GopLimits::default());
        assert!(
            !gop.push(seg(0), false),
            "nothing before the first keyframe"
        );
        assert!(gop.push(seg(1), true));
        assert!(gop.push(seg(2), false));
        assert_eq!(gop.segments(), &[seg(1), seg(2)]);
        assert!(gop.push(seg(3), true));
        assert_eq!(gop.segments(), &[seg(3)]);
        assert_eq!(gop.bytes(), 10);
    }

    #[test]
    fn new_init_drops_the_segments() {
        let mut gop = Gop::new(GopLimits::default());
        gop.push(seg(1), true);
        gop.set_init(InitSegment {
            mime: "video/mp4".into(),
            data: Bytes::from_static(b"init"),
        });
        assert!(gop.segments().is_empty());
        assert!(!gop.push(seg(2), false));
        assert_eq!(gop.init().unwrap().data, Bytes::from_static(b"init"));
    }

    #[test]
    fn limits_drop_the_gop_until_the_next_keyframe() {
        let mut gop = Gop::new(GopLimits {
            max_bytes: 1000,
            max_segments: 3,
        });
        gop.push(seg(1), true);
        gop.push(seg(2), false);
        gop.push(seg(3), false);
        assert!(!gop.push(seg(4), false));
        assert!(gop.segments().is_empty());
        assert!(!gop.push(seg(5), false));
        assert!(gop.push(seg(6), true));

        let mut gop = Gop::new(GopLimits {
            max_bytes: 15,
            max_segments: 100,
        });
        gop.push(seg(1), true);
        assert!(!gop.push(seg(2), false));
        assert_eq!(gop.bytes(), 0);
    }
}
