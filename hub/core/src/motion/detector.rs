//! The motion detector: a running-average background and frame differencing, made robust to
//! light changes, with a minimum area and duration per zone and debouncing.
//!
//! Why each piece is there:
//! - **Brightness compensation.** Clouds, dusk and street lights switching on shift the whole
//!   picture at once. Before differencing, the median of `frame − background` over the picture
//!   is subtracted: a global change moves the median, an intruder (a minority of the pixels)
//!   does not.
//! - **Threshold.** Sensor noise and compression artefacts change a pixel by a few levels; a
//!   pixel counts as changed only when it differs by more than [`DetectorTuning::threshold`].
//! - **Minimum area, per zone.** Rain and leaves change scattered pixels; a person changes a
//!   block. A zone is active when its changed pixels reach `min_area` of the zone.
//! - **Minimum duration.** A zone must stay active `min_duration_ms` (short gaps of up to
//!   [`DetectorTuning::quiet_ms`] allowed) before one detection is reported.
//! - **Debounce.** One detection while the motion lasts; after it ends (quiet for `quiet_ms`),
//!   none for `cooldown_seconds`.
//! - **Selective background update.** Unchanged pixels learn fast, changed ones slowly, so an
//!   intruder who stands still is not absorbed within seconds but a parked car is, in minutes.

use super::{polygon, MotionSettings};
use thiserror::Error;

/// One grey (GRAY8) picture, row after row without padding, and when it was taken.
#[derive(Debug, Clone, Copy)]
pub struct GrayFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
    /// Milliseconds on any monotonic scale (the stream's timestamps).
    pub at_ms: i64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {width}x{height} needs {needed} bytes, got {got}")]
    Size {
        width: u32,
        height: u32,
        needed: usize,
        got: usize,
    },
}

/// A detection's start: which zone, how much of it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub at_ms: i64,
    pub zone: String,
    /// Fraction of the zone changed in the frame that fired.
    pub area: f64,
}

/// Knobs that are the detector's, not the officer's.
#[derive(Debug, Clone, Copy)]
pub struct DetectorTuning {
    /// Grey levels a pixel must differ (after compensation) to count as changed.
    pub threshold: u8,
    /// Share of the new frame mixed into the background per frame, for unchanged pixels.
    pub learning_rate: f32,
    /// How long without activity ends a detection (and how long a gap does not break one).
    pub quiet_ms: i64,
}

impl Default for DetectorTuning {
    fn default() -> Self {
        DetectorTuning {
            threshold: 25,
            learning_rate: 0.05,
            quiet_ms: 1000,
        }
    }
}

struct ZoneMask {
    name: String,
    pixels: Vec<u32>,
}

/// Debounce state: when the current activity began and whether it has been reported.
#[derive(Debug, Default)]
struct Episode {
    active_since: Option<i64>,
    last_active: i64,
    reported: bool,
    cooldown_until: Option<i64>,
}

pub struct Detector {
    settings: MotionSettings,
    tuning: DetectorTuning,
    size: (u32, u32),
    background: Vec<f32>,
    masks: Vec<ZoneMask>,
    changed: Vec<bool>,
    episode: Episode,
}

impl Detector {
    pub fn new(settings: MotionSettings, tuning: DetectorTuning) -> Self {
        Detector {
            settings,
            tuning,
            size: (0, 0),
            background: Vec::new(),
            masks: Vec::new(),
            changed: Vec::new(),
            episode: Episode::default(),
        }
    }

    /// Whether a detection is under way (reported and not yet ended).
    pub fn in_detection(&self) -> bool {
        self.episode.reported
    }

    fn reset(&mut self, frame: &GrayFrame<'_>) {
        let (w, h) = (frame.width, frame.height);
        self.size = (w, h);
        self.background = frame.data.iter().map(|&v| f32::from(v)).collect();
        self.changed = vec![false; frame.data.len()];
        self.masks = self
            .settings
            .effective_zones()
            .into_iter()
            .map(|z| ZoneMask {
                pixels: rasterise(&z.points, w, h),
                name: z.name,
            })
            .filter(|m| !m.pixels.is_empty())
            .collect();
    }

    /// Feeds one frame; returns a detection when one starts with this frame. The first frame
    /// (and the first after a change of size) only seeds the background.
    pub fn feed(&mut self, frame: GrayFrame<'_>) -> Result<Option<Detection>, FrameError> {
        let needed = frame.width as usize * frame.height as usize;
        if frame.data.len() < needed || needed == 0 {
            return Err(FrameError::Size {
                width: frame.width,
                height: frame.height,
                needed,
                got: frame.data.len(),
            });
        }
        let frame = GrayFrame {
            data: &frame.data[..needed],
            ..frame
        };
        if self.size != (frame.width, frame.height) {
            self.reset(&frame);
            return Ok(None);
        }
        let shift = self.median_shift(frame.data);
        self.mark_changed(frame.data, shift);
        let best = self.most_active_zone();
        self.learn(frame.data);
        Ok(self.debounce(frame.at_ms, best))
    }

    /// The median of `frame − background` over a sample of the pixels: the global brightness
    /// change to take out before differencing.
    fn median_shift(&self, data: &[u8]) -> f32 {
        let mut hist = [0u32; 511];
        let mut n = 0u32;
        for (i, &v) in data.iter().enumerate().step_by(3) {
            let d = i32::from(v) - self.background[i].round() as i32;
            hist[(d + 255).clamp(0, 510) as usize] += 1;
            n += 1;
        }
        let half = n.div_ceil(2);
        let mut seen = 0;
        for (b, &c) in hist.iter().enumerate() {
            seen += c;
            if seen >= half {
                return b as f32 - 255.0;
            }
        }
        0.0
    }

    fn mark_changed(&mut self, data: &[u8], shift: f32) {
        let t = f32::from(self.tuning.threshold);
        for ((c, &v), &b) in self.changed.iter_mut().zip(data).zip(&self.background) {
            *c = (f32::from(v) - b - shift).abs() > t;
        }
    }

    /// The zone with the largest changed fraction, if it reaches `min_area`.
    fn most_active_zone(&self) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for (i, m) in self.masks.iter().enumerate() {
            let n = m
                .pixels
                .iter()
                .filter(|&&p| self.changed[p as usize])
                .count();
            let frac = n as f64 / m.pixels.len() as f64;
            if frac >= self.settings.min_area && best.is_none_or(|(_, f)| frac > f) {
                best = Some((i, frac));
            }
        }
        best
    }

    fn learn(&mut self, data: &[u8]) {
        let fast = self.tuning.learning_rate;
        let slow = fast / 20.0;
        for ((b, &v), &c) in self.background.iter_mut().zip(data).zip(&self.changed) {
            let rate = if c { slow } else { fast };
            *b += rate * (f32::from(v) - *b);
        }
    }

    fn debounce(&mut self, now: i64, active: Option<(usize, f64)>) -> Option<Detection> {
        let e = &mut self.episode;
        let Some((zone, area)) = active else {
            if e.active_since.is_some() && now - e.last_active >= self.tuning.quiet_ms {
                if e.reported {
                    e.cooldown_until = Some(now + i64::from(self.settings.cooldown_seconds) * 1000);
                }
                e.active_since = None;
                e.reported = false;
            }
            return None;
        };
        let since = *e.active_since.get_or_insert(now);
        e.last_active = now;
        let long_enough = now - since >= i64::from(self.settings.min_duration_ms);
        let cooled = e.cooldown_until.is_none_or(|until| now >= until);
        if e.reported || !long_enough || !cooled {
            return None;
        }
        e.reported = true;
        Some(Detection {
            at_ms: now,
            zone: self.masks[zone].name.clone(),
            area,
        })
    }
}

/// The pixel indices whose centres fall inside the polygon.
fn rasterise(points: &[polygon::Point], w: u32, h: u32) -> Vec<u32> {
    let (wf, hf) = (f64::from(w), f64::from(h));
    let min_x = points.iter().map(|p| p[0]).fold(1.0, f64::min);
    let max_x = points.iter().map(|p| p[0]).fold(0.0, f64::max);
    let min_y = points.iter().map(|p| p[1]).fold(1.0, f64::min);
    let max_y = points.iter().map(|p| p[1]).fold(0.0, f64::max);
    let x0 = (min_x * wf).floor().max(0.0) as u32;
    let x1 = ((max_x * wf).ceil() as u32).min(w);
    let y0 = (min_y * hf).floor().max(0.0) as u32;
    let y1 = ((max_y * hf).ceil() as u32).min(h);
    let mut out = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            let p = [(f64::from(x) + 0.5) / wf, (f64::from(y) + 0.5) / hf];
            if polygon::contains(points, p) {
                out.push(y * w + x);
            }
        }
    }
    out
}

/// Synthetic scenes for tests and benchmarks: a textured background, noise, a box.
pub mod synthetic {
    /// A small linear congruential generator: deterministic noise without a dependency.
    pub struct Lcg(pub u64);

    impl Lcg {
        pub fn next_u32(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u32
        }
        /// Uniform in `-amp..=amp`.
        pub fn noise(&mut self, amp: i32) -> i32 {
            if amp == 0 {
                return 0;
            }
            (self.next_u32() % (2 * amp as u32 + 1)) as i32 - amp
        }
    }

    /// A mid-grey textured scene plus `offset` (a global brightness change), with noise.
    pub fn scene(w: u32, h: u32, offset: i32, noise: i32, rng: &mut Lcg) -> Vec<u8> {
        let mut out = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let tex = ((x * 7 + y * 13) % 40) as i32 + 60;
                out.push((tex + offset + rng.noise(noise)).clamp(0, 255) as u8);
            }
        }
        out
    }

    /// Paints a box of grey `level` with its top left corner at (x, y).
    pub fn paint_box(
        frame: &mut [u8],
        w: u32,
        (x, y): (u32, u32),
        (bw, bh): (u32, u32),
        level: u8,
    ) {
        let h = frame.len() as u32 / w;
        for yy in y..(y + bh).min(h) {
            for xx in x..(x + bw).min(w) {
                frame[(yy * w + xx) as usize] = level;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::synthetic::{paint_box, scene, Lcg};
    use super::*;
    use crate::motion::Zone;

    const W: u32 = 160;
    const H: u32 = 90;
    const STEP: i64 = 200; // 5 fps

    fn left_half() -> MotionSettings {
        MotionSettings {
            enabled: true,
            zones: vec![Zone {
                name: "yard".into(),
                points: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
            }],
            min_area: 0.05,
            min_duration_ms: 400,
            cooldown_seconds: 10,
            ..MotionSettings::default()
        }
    }

    /// Runs `frames` frames; `make(i, rng)` builds frame i. Returns the detections.
    fn run(
        settings: MotionSettings,
        frames: i64,
        mut make: impl FnMut(i64, &mut Lcg) -> Vec<u8>,
    ) -> Vec<Detection> {
        let mut d = Detector::new(settings, DetectorTuning::default());
        let mut rng = Lcg(7);
        let mut out = Vec::new();
        for i in 0..frames {
            let data = make(i, &mut rng);
            let f = GrayFrame {
                width: W,
                height: H,
                data: &data,
                at_ms: i * STEP,
            };
            out.extend(d.feed(f).unwrap());
        }
        out
    }

    fn with_box(i: i64, rng: &mut Lcg, present: impl Fn(i64) -> bool, at: (u32, u32)) -> Vec<u8> {
        let mut f = scene(W, H, 0, 4, rng);
        if present(i) {
            paint_box(&mut f, W, at, (25, 25), 230);
        }
        f
    }

    #[test]
    fn an_object_entering_the_zone_fires_once_after_the_minimum_duration() {
        // Enters at frame 10 (2 000 ms), stays 6 s.
        let got = run(left_half(), 60, |i, r| {
            with_box(i, r, |i| (10..40).contains(&i), (20, 30))
        });
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].zone, "yard");
        assert_eq!(got[0].at_ms, 2_000 + 400);
        assert!(got[0].area > 0.05);
    }

    #[test]
    fn an_object_outside_the_zones_does_not_fire() {
        let got = run(left_half(), 40, |i, r| {
            with_box(i, r, |i| i >= 10, (110, 30))
        });
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_second_entry_fires_only_after_the_cooldown() {
        // Box at 10..20, 30..40 (gap 2 s, within the 10 s cooldown), and 100..110.
        let present =
            |i: i64| (10..20).contains(&i) || (30..40).contains(&i) || (100..110).contains(&i);
        let got = run(left_half(), 120, |i, r| with_box(i, r, present, (20, 30)));
        let at: Vec<i64> = got.iter().map(|d| d.at_ms).collect();
        assert_eq!(at, vec![2_400, 20_400]);
    }

    #[test]
    fn a_flicker_shorter_than_the_minimum_duration_does_not_fire() {
        let got = run(left_half(), 40, |i, r| {
            with_box(i, r, |i| i == 10 || i == 20, (20, 30))
        });
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_global_brightness_ramp_and_a_light_switched_on_never_fire() {
        // Dusk: +2 levels a frame for 40 frames; then a light: +40 at once, and back down.
        let got = run(left_half(), 120, |i, r| {
            let offset = match i {
                0..40 => 2 * i as i32,
                40..80 => 80 + 40,
                _ => 20,
            };
            scene(W, H, offset - 40, 4, r)
        });
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn noise_and_scattered_specks_never_fire() {
        let got = run(left_half(), 100, |_, r| {
            let mut f = scene(W, H, 0, 10, r);
            // Rain: 1 % of the pixels white at random.
            for _ in 0..(W * H / 100) {
                let p = (r.next_u32() % (W * H)) as usize;
                f[p] = 255;
            }
            f
        });
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_short_frame_is_an_error_and_a_new_size_reseeds() {
        let mut d = Detector::new(left_half(), DetectorTuning::default());
        let e = d
            .feed(GrayFrame {
                width: 4,
                height: 4,
                data: &[0; 10],
                at_ms: 0,
            })
            .unwrap_err();
        assert!(matches!(
            e,
            FrameError::Size {
                needed: 16,
                got: 10,
                ..
            }
        ));
        let a = vec![0u8; 16];
        let b = vec![255u8; 64];
        for (w, data) in [(4, &a), (8, &b)] {
            let f = GrayFrame {
                width: w,
                height: w,
                data,
                at_ms: 0,
            };
            assert_eq!(d.feed(f), Ok(None));
        }
        assert!(!d.in_detection());
    }
}
