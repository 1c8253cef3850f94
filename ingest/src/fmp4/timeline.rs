//! Camera timestamps to a monotonic decode timeline (90 kHz units).
//!
//! Two things go wrong with camera clocks:
//!
//! * Raw RTP timestamps are 32-bit and wrap around (every ~13 h at 90 kHz,
//!   and cameras start at a random value). [`unwrap_rtp32`] and
//!   [`RtpTimestampUnwrapper`] extend them to `i64`. Retina already does this;
//!   these are for raw timestamps from elsewhere.
//! * The camera's clock jumps: it is reset or re-synchronised (NTP), the
//!   camera reboots, the stream restarts. [`Timeline`] maps timestamps onto
//!   decode times starting at 0 that follow the camera's frame intervals
//!   while those look sane, and on a jump backwards (or a repeated
//!   timestamp), or forwards by more than
//!   [`TimelineConfig::max_forward_jump`], *rebases*: the decode time
//!   advances by one nominal frame duration instead, and later frames follow
//!   the camera's intervals from there. Browsers thus never see decode time
//!   go backwards or leap ahead, which Media Source Extensions would treat as
//!   a discontinuity (dropping frames until the next keyframe, or leaving a
//!   gap in the buffered ranges).

/// Extends a raw 32-bit RTP timestamp to 64 bits, given the previous extended
/// timestamp of the same stream (`None` for the first).
///
/// The step from the previous timestamp is taken as the signed 32-bit
/// difference, so wrap-arounds (forwards through `u32::MAX`) and small steps
/// backwards both come out right; steps beyond ±2³¹ ticks (±6.6 h at 90 kHz)
/// are ambiguous and taken the short way round.
pub fn unwrap_rtp32(previous: Option<i64>, raw: u32) -> i64 {
    match previous {
        None => i64::from(raw),
        Some(prev) => {
            // Truncation intended: the low 32 bits are the previous raw timestamp.
            let delta = raw.wrapping_sub(prev as u32) as i32;
            prev.saturating_add(i64::from(delta))
        }
    }
}

/// Stateful [`unwrap_rtp32`] for one stream.
#[derive(Debug, Clone, Default)]
pub struct RtpTimestampUnwrapper {
    last: Option<i64>,
}

impl RtpTimestampUnwrapper {
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended timestamp for the next raw one.
    pub fn extend(&mut self, raw: u32) -> i64 {
        let ext = unwrap_rtp32(self.last, raw);
        self.last = Some(ext);
        ext
    }

    /// The last extended timestamp, if any.
    pub fn last(&self) -> Option<i64> {
        self.last
    }
}

/// Tuning of [`Timeline`]; all in 90 kHz ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineConfig {
    /// Frame duration assumed before two frames have shown the real one
    /// (the first frame's duration) and after a rebase when no interval has
    /// been seen yet. Default 3600 (25 fps). Zero is taken as 1.
    pub default_frame_duration: u32,
    /// Intervals up to this long count as the stream's frame duration; longer
    /// ones are gaps (lost frames, a stalled camera) that are kept on the
    /// timeline but not taken as the frame rate. Default 90 000 (1 s).
    pub max_frame_duration: u32,
    /// A step forwards larger than this is a clock jump, not a gap in the
    /// stream. Default 450 000 (5 s).
    pub max_forward_jump: u32,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        Self {
            default_frame_duration: 3600,
            max_frame_duration: super::TIMESCALE,
            max_forward_jump: 5 * super::TIMESCALE,
        }
    }
}

impl TimelineConfig {
    /// The default configuration with the default frame duration of `fps`
    /// frames per second (clamped to 1..=90 000 fps).
    pub fn for_frame_rate(fps: u32) -> Self {
        Self {
            default_frame_duration: super::TIMESCALE / fps.clamp(1, super::TIMESCALE),
            ..Self::default()
        }
    }
}

/// Where one frame landed on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelinePoint {
    /// Decode (= presentation) time, strictly greater than the previous one.
    pub decode_time: u64,
    /// Decode time minus the previous frame's; `None` for the first frame.
    pub interval: Option<u32>,
    /// This frame's timestamp was a clock jump and the timeline was rebased.
    pub rebased: bool,
}

/// Maps (extended) camera timestamps onto monotonic decode times; see the
/// module documentation.
#[derive(Debug, Clone)]
pub struct Timeline {
    config: TimelineConfig,
    /// The previous frame's camera timestamp and decode time.
    last: Option<(i64, u64)>,
    /// The last frame interval from the camera's timestamps that was no
    /// longer than `max_frame_duration`.
    frame_duration: Option<u32>,
}

impl Timeline {
    pub fn new(config: TimelineConfig) -> Self {
        Self {
            config,
            last: None,
            frame_duration: None,
        }
    }

    pub fn config(&self) -> TimelineConfig {
        self.config
    }

    /// The current frame duration estimate, which a rebase advances by: the
    /// last frame interval seen (not counting gaps longer than
    /// `max_frame_duration`), or the configured default. At least 1.
    pub fn nominal_frame_duration(&self) -> u32 {
        self.frame_duration
            .unwrap_or(self.config.default_frame_duration)
            .max(1)
    }

    /// The decode time of the previous frame, if any.
    pub fn last_decode_time(&self) -> Option<u64> {
        self.last.map(|(_, d)| d)
    }

    /// Places the frame with camera timestamp `timestamp` on the timeline.
    pub fn map(&mut self, timestamp: i64) -> TimelinePoint {
        let point = match self.last {
            None => TimelinePoint {
                decode_time: 0,
                interval: None,
                rebased: false,
            },
            Some((last_ts, last_decode)) => {
                let step = timestamp
                    .checked_sub(last_ts)
                    .filter(|&d| d > 0 && d <= i64::from(self.config.max_forward_jump))
                    .and_then(|d| u32::try_from(d).ok());
                match step {
                    Some(step) => {
                        if step <= self.config.max_frame_duration {
                            self.frame_duration = Some(step);
                        }
                        TimelinePoint {
                            decode_time: last_decode.saturating_add(u64::from(step)),
                            interval: Some(step),
                            rebased: false,
                        }
                    }
                    None => {
                        let step = self.nominal_frame_duration();
                        TimelinePoint {
                            decode_time: last_decode.saturating_add(u64::from(step)),
                            interval: Some(step),
                            rebased: true,
                        }
                    }
                }
            }
        };
        self.last = Some((timestamp, point.decode_time));
        point
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp32_wraps_forward() {
        let mut u = RtpTimestampUnwrapper::new();
        assert_eq!(u.extend(u32::MAX - 3599), i64::from(u32::MAX) - 3599);
        assert_eq!(u.extend(u32::MAX), i64::from(u32::MAX));
        assert_eq!(u.extend(3599), (1i64 << 32) + 3599);
        assert_eq!(u.extend(7199), (1i64 << 32) + 7199);
        assert_eq!(u.last(), Some((1i64 << 32) + 7199));
    }

    #[test]
    fn rtp32_small_step_back_across_wrap() {
        assert_eq!(unwrap_rtp32(Some(1i64 << 32), u32::MAX), (1i64 << 32) - 1);
        assert_eq!(unwrap_rtp32(Some(100), 40), 40);
        assert_eq!(unwrap_rtp32(Some(5), u32::MAX), -1);
    }

    #[test]
    fn rtp32_many_wraps() {
        let mut u = RtpTimestampUnwrapper::new();
        let mut raw: u32 = 4_000_000_000;
        let mut expected = i64::from(raw);
        assert_eq!(u.extend(raw), expected);
        // Over 3 wraps in steps of 10 s.
        for _ in 0..15_000 {
            raw = raw.wrapping_add(900_000);
            expected += 900_000;
            assert_eq!(u.extend(raw), expected);
        }
        assert!(expected > 3 * (1i64 << 32));
    }

    #[test]
    fn rtp32_extremes_do_not_overflow() {
        let top = i64::MAX - 5;
        assert_eq!(
            unwrap_rtp32(Some(top), (top as u32).wrapping_add(100)),
            i64::MAX
        );
        let bottom = i64::MIN + 5;
        assert_eq!(
            unwrap_rtp32(Some(bottom), (bottom as u32).wrapping_sub(100)),
            i64::MIN
        );
    }

    #[test]
    fn follows_camera_intervals() {
        let mut t = Timeline::new(TimelineConfig::default());
        let p0 = t.map(1_000_000);
        assert_eq!((p0.decode_time, p0.interval, p0.rebased), (0, None, false));
        let p1 = t.map(1_003_000);
        assert_eq!((p1.decode_time, p1.interval), (3000, Some(3000)));
        assert_eq!(t.nominal_frame_duration(), 3000);
        // A gap in the stream (lost frames) of 2 s is kept, but is no frame duration.
        let p2 = t.map(1_183_000);
        assert_eq!(
            (p2.decode_time, p2.interval, p2.rebased),
            (183_000, Some(180_000), false)
        );
        assert_eq!(t.nominal_frame_duration(), 3000);
        t.map(1_186_600);
        assert_eq!(t.nominal_frame_duration(), 3600);
    }

    #[test]
    fn backward_jump_rebases() {
        let mut t = Timeline::new(TimelineConfig::default());
        t.map(500_000);
        t.map(503_000);
        let back = t.map(10);
        assert_eq!(
            (back.decode_time, back.interval, back.rebased),
            (6000, Some(3000), true)
        );
        let next = t.map(3010);
        assert_eq!((next.decode_time, next.rebased), (9000, false));
    }

    #[test]
    fn repeated_timestamp_still_advances() {
        let mut t = Timeline::new(TimelineConfig::default());
        t.map(0);
        let p = t.map(0);
        assert_eq!(
            (p.decode_time, p.interval, p.rebased),
            (3600, Some(3600), true)
        );
    }

    #[test]
    fn forward_jump_over_limit_rebases() {
        let mut t = Timeline::new(TimelineConfig::default());
        t.map(0);
        t.map(3750);
        let exactly = t.map(3750 + 450_000);
        assert!(!exactly.rebased);
        assert_eq!(exactly.decode_time, 453_750);
        let beyond = t.map(3750 + 450_000 + 450_001);
        assert!(beyond.rebased);
        // The 5 s gap is no frame duration; a rebase advances by the last one.
        assert_eq!(beyond.decode_time, 453_750 + 3750);
    }

    #[test]
    fn forward_jump_uses_last_frame_interval() {
        let mut t = Timeline::new(TimelineConfig::for_frame_rate(30));
        t.map(0);
        t.map(4000);
        let p = t.map(4000 + 3_600_000_000);
        assert_eq!(
            (p.decode_time, p.interval, p.rebased),
            (8000, Some(4000), true)
        );
        assert_eq!(t.map(4000 + 3_600_000_000 + 4000).decode_time, 12_000);
    }

    #[test]
    fn first_rebase_uses_default_duration() {
        let mut t = Timeline::new(TimelineConfig::for_frame_rate(30));
        t.map(10);
        assert_eq!(t.map(5).decode_time, 3000);
    }

    #[test]
    fn extreme_timestamps_stay_monotonic() {
        let mut t = Timeline::new(TimelineConfig {
            default_frame_duration: 0,
            max_frame_duration: u32::MAX,
            max_forward_jump: u32::MAX,
        });
        let mut last = None;
        for ts in [i64::MIN, i64::MAX, i64::MIN, 0, -1, i64::MAX - 1, i64::MAX] {
            let d = t.map(ts).decode_time;
            if let Some(l) = last {
                assert!(d > l, "{d} after {l}");
            }
            last = Some(d);
        }
    }

    #[test]
    fn wrapped_rtp_through_timeline_is_smooth() {
        let mut u = RtpTimestampUnwrapper::new();
        let mut t = Timeline::new(TimelineConfig::default());
        let mut raw = u32::MAX - 10 * 3600;
        let mut prev = None;
        for i in 0..30u64 {
            let p = t.map(u.extend(raw));
            assert_eq!(p.decode_time, i * 3600);
            assert!(!p.rebased);
            if let Some(prev) = prev {
                assert!(p.decode_time > prev);
            }
            prev = Some(p.decode_time);
            raw = raw.wrapping_add(3600);
        }
    }
}
