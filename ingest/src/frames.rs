//! What happens to one session's frames: only the decodable ones (see [`crate::decodable`])
//! go to the live fan-out, the others are counted; keyframes are watched for the GOP cache
//! (see [`KeyframeWatch`]); the frame rate is measured. Whatever else consumes a camera's
//! frames (recording) takes them where [`SessionFrames::frame`] passes them on.

use std::time::{Duration, Instant};

use crate::decodable::{DecodableFrames, DropReason, Verdict};
use crate::fmp4::TIMESCALE;
use crate::gop::GopPush;
use crate::live::Packaged;
use crate::session::VideoFrame;
use crate::supervisor::{secs, StreamShared};

/// One session's frame path.
pub(crate) struct SessionFrames<'a> {
    stream: &'a StreamShared,
    decodable: DecodableFrames,
    keyframes: KeyframeWatch,
    fps: FpsMeter,
}

impl<'a> SessionFrames<'a> {
    pub(crate) fn new(stream: &'a StreamShared) -> Self {
        Self {
            stream,
            decodable: DecodableFrames::default(),
            keyframes: KeyframeWatch::new(Instant::now(), stream.keyframe_within),
            fps: FpsMeter::default(),
        }
    }

    /// Retina discarded a packet and the frame it belonged to.
    pub(crate) fn packet_error(&mut self) {
        self.stream
            .metrics
            .frame_dropped(DropReason::Depacketization);
        self.decodable.damage(DropReason::Depacketization);
    }

    /// A frame that arrived at `arrived`; returns `Some(overdue)` when whether keyframes are
    /// overdue changed (the status reason is then [`SessionFrames::reason`]). Taken by value:
    /// once live video is done with it, its bytes move on to the recorder without a copy.
    pub(crate) fn frame(&mut self, owned: VideoFrame, arrived: Instant) -> Option<bool> {
        let frame = &owned;
        let mut sent = None;
        let stream = self.stream;
        if frame.loss > 0 {
            tracing::debug!("{} RTP packets lost before a frame", frame.loss);
        }
        let verdict = self.decodable.frame(frame);
        match verdict {
            Verdict::Pass => match stream.live.push_arrived(frame, arrived) {
                Ok(Packaged::Sent(sample, gop)) => {
                    sent = Some(sample);
                    if let Some(rate) = self.fps.add(sample.decode_time) {
                        stream.status.set_fps(rate);
                    }
                    if gop == GopPush::Overflowed {
                        self.keyframes.overflowed();
                    }
                }
                Ok(Packaged::Skipped) => {}
                // One bad frame is not worth a reconnection; the next keyframe
                // repairs the picture.
                Err(e) => {
                    tracing::debug!("dropping a malformed frame: {e}");
                    stream.metrics.frame_dropped(DropReason::Malformed);
                    self.decodable.damage(DropReason::Malformed);
                }
            },
            Verdict::BeforeFirstKeyframe => stream.live.skip(frame),
            Verdict::Damaged(reason) => {
                stream.metrics.frame_dropped(reason);
                stream.live.skip(frame);
            }
        }
        let change = self
            .keyframes
            .frame(arrived, frame.is_keyframe && verdict == Verdict::Pass);
        if change == Some(true) {
            stream.metrics.gop_overflowed();
        }
        // The recorder's one hook: what live video sent, recorded as sent (never waits; see
        // recording/tap.rs). Frames live video skipped still bring their parameters.
        stream.recording.offer(owned, sent);
        change
    }

    /// The status reason while keyframes are overdue.
    pub(crate) fn reason(&self) -> Option<String> {
        self.keyframes.reason()
    }
}

/// Whether keyframes come often enough for the GOP cache: a stream that goes longer
/// without one than the cache holds is reported once, with a status reason and the metric,
/// until its next keyframe. Once a keyframe has passed, the cache itself says when (it
/// overflows, in decode time or in bytes), so that a viewer told to wait indeed gets no stale
/// GOP; before the session's first keyframe there is no cache, and wall-clock time says.
#[derive(Debug)]
struct KeyframeWatch {
    /// The session's start.
    started: Instant,
    within: Duration,
    /// A keyframe has passed in this session.
    seen_keyframe: bool,
    /// The GOP cache dropped its GOP since the last keyframe.
    overflowed: bool,
    overdue: bool,
}

impl KeyframeWatch {
    fn new(now: Instant, within: Duration) -> Self {
        Self {
            started: now,
            within,
            seen_keyframe: false,
            overflowed: false,
            overdue: false,
        }
    }

    /// The GOP cache dropped its GOP for its size or span: overdue from the next frame on.
    fn overflowed(&mut self) {
        self.overflowed = true;
    }

    /// A frame arrived at `now`; returns `Some(overdue)` when that changed.
    fn frame(&mut self, now: Instant, keyframe: bool) -> Option<bool> {
        let overdue = if keyframe {
            self.seen_keyframe = true;
            self.overflowed = false;
            false
        } else if self.seen_keyframe {
            self.overflowed
        } else {
            now.saturating_duration_since(self.started) > self.within
        };
        (overdue != self.overdue).then(|| {
            self.overdue = overdue;
            overdue
        })
    }

    /// The status reason while overdue.
    fn reason(&self) -> Option<String> {
        self.overdue.then(|| {
            format!(
                "no keyframe for over {}: new viewers wait for the next one",
                secs(self.within)
            )
        })
    }
}

/// Frame rate from decode times, over windows of about a second of camera
/// time (wall-clock arrival jitters; the camera's clock does not).
#[derive(Debug, Default)]
struct FpsMeter {
    start: Option<u64>,
    frames: u32,
}

impl FpsMeter {
    const WINDOW: u64 = TIMESCALE as u64;

    /// Adds a frame; returns the rate at the end of each window.
    fn add(&mut self, decode_time: u64) -> Option<f64> {
        let Some(start) = self.start else {
            self.start = Some(decode_time);
            return None;
        };
        self.frames += 1;
        let span = decode_time.saturating_sub(start);
        if span < Self::WINDOW {
            return None;
        }
        let rate = f64::from(self.frames) * f64::from(TIMESCALE) / span as f64;
        self.start = Some(decode_time);
        self.frames = 0;
        Some(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_overdue_are_reported_once() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut w = KeyframeWatch::new(t0, Duration::from_secs(2));
        // No keyframe yet: wall-clock time says.
        assert_eq!(w.frame(at(1000), false), None);
        assert_eq!(w.reason(), None);
        assert_eq!(w.frame(at(2001), false), Some(true));
        assert!(w.reason().unwrap().contains("no keyframe for over 2.0 s"));
        assert_eq!(w.frame(at(3000), false), None, "once");
        assert_eq!(w.frame(at(3040), true), Some(false));
        assert_eq!(w.reason(), None);
        // After a keyframe, the GOP cache's overflow says, not the wall clock.
        assert_eq!(w.frame(at(9000), false), None);
        w.overflowed();
        assert_eq!(w.frame(at(9040), false), Some(true));
        assert_eq!(w.frame(at(9080), true), Some(false));
    }

    #[test]
    fn fps_meter_measures_camera_time() {
        let mut m = FpsMeter::default();
        let mut rates = Vec::new();
        for i in 0..=50u64 {
            rates.extend(m.add(i * 3600));
        }
        assert_eq!(rates, vec![25.0, 25.0]);
    }
}
