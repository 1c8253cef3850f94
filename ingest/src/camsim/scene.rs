//! Scenes for motion detection: a still, textured grey picture (a yard at night, without the
//! test pattern's moving ball) into which an object enters at a known time, or whose whole
//! picture only fades brighter and darker (clouds, dusk, a street light warming up).
//!
//! The picture is painted on the raw frames of a live `videotestsrc` (which gives the frame
//! rate and timestamps) by a pad probe, from the frame's presentation time, so the schedule
//! is the stream's own: the object is in every frame from `enter_after` after the first one.
//! The wall-clock instants of the first frame and of the first frame with the object are
//! recorded ([`SceneTimes`]), for tests to measure a detection's delay from.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use gstreamer as gst;

use super::pipeline::overlay_and_encode;
use super::{CamSimConfig, SimSource};

/// Name of the element whose output the scene is painted on.
pub(super) const SCENE_ELEMENT: &str = "scene";

/// What a scene camera shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scene {
    /// A bright box enters the lower right quarter `enter_after` after the first frame and
    /// moves about inside it.
    Intrusion { enter_after: Duration },
    /// Nothing moves; the whole picture fades by up to ±[`FADE_LEVELS`] grey levels over
    /// [`FADE_PERIOD`].
    Brightness,
}

/// Amplitude of the brightness scene's fade, in grey levels.
pub const FADE_LEVELS: f64 = 45.0;
/// Period of the brightness scene's fade.
pub const FADE_PERIOD: Duration = Duration::from_secs(8);

/// When the scene's events happened, in wall-clock time; `None` until they have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SceneTimes {
    /// The first frame of the camera's current pipeline.
    pub first_frame: Option<SystemTime>,
    /// The first frame showing the object (intrusion scenes).
    pub entered: Option<SystemTime>,
}

/// The scene of camera `index` (1-based), if it shows one.
pub(super) fn of(config: &CamSimConfig, index: usize) -> Option<Scene> {
    match &config.source {
        SimSource::Intrusion {
            cameras,
            enter_after,
        } if cameras.contains(&index) => Some(Scene::Intrusion {
            enter_after: *enter_after,
        }),
        SimSource::Brightness(cameras) if cameras.contains(&index) => Some(Scene::Brightness),
        _ => None,
    }
}

/// The `gst-launch` description of a scene camera: black raw frames at the camera's size and
/// rate (painted over by [`paint`]), then the overlay, stall valve and encoder of every camera.
pub(super) fn launch(config: &CamSimConfig, index: usize) -> String {
    let CamSimConfig {
        width, height, fps, ..
    } = *config;
    format!(
        "( videotestsrc is-live=true pattern=black \
           ! video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 \
           ! identity name={SCENE_ELEMENT} \
           ! {} )",
        overlay_and_encode(config, &format!("cam{index}"))
    )
}

/// The still background: smooth texture between 75 and 125, so that the picture has detail
/// for the detector's brightness compensation and a fade never clips.
fn background(width: usize, height: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let v = 100.0 + 25.0 * (x as f64 / 19.0).sin() * (y as f64 / 13.0).cos();
            out.push(v.round() as u8);
        }
    }
    out
}

/// The object's box at `t` after entering: a tenth of the width, a fifth of the height,
/// walking to and fro inside the lower right quarter. `(x, y, w, h)` in pixels.
pub(super) fn object_box(width: usize, height: usize, t: f64) -> (usize, usize, usize, usize) {
    let (bw, bh) = (width / 10, height / 5);
    let span = (width / 2 - bw - width / 20) as f64;
    let phase = (t / 4.0).fract();
    let tri = if phase < 0.5 {
        phase * 2.0
    } else {
        2.0 - phase * 2.0
    };
    let x = width / 2 + width / 40 + (span * tri) as usize;
    let y = height / 2 + height / 6;
    (x, y, bw, bh)
}

/// The brightness scene's offset at `t`.
pub(super) fn fade(t: f64) -> f64 {
    FADE_LEVELS * (std::f64::consts::TAU * t / FADE_PERIOD.as_secs_f64()).sin()
}

/// Paints `scene` on every frame leaving `element` (I420: the luma plane first, its rows
/// padded to 4 bytes), recording its times in `times`.
pub(super) fn paint(
    element: &gst::Element,
    scene: Scene,
    (width, height): (u32, u32),
    times: Arc<Mutex<SceneTimes>>,
) {
    use gst::prelude::*;
    let Some(pad) = element.static_pad("src") else {
        return;
    };
    *times.lock().unwrap_or_else(PoisonError::into_inner) = SceneTimes::default();
    let (w, h) = (width as usize, height as usize);
    let stride = (w + 3) & !3;
    let still = background(w, h);
    let start: Mutex<Option<gst::ClockTime>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(pts) = buffer.pts() else {
            return gst::PadProbeReturn::Ok;
        };
        let first = *start
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(pts);
        let t = pts.saturating_sub(first).nseconds() as f64 / 1e9;
        let mut times = times.lock().unwrap_or_else(PoisonError::into_inner);
        times.first_frame.get_or_insert_with(SystemTime::now);
        let buffer = buffer.make_mut();
        let Ok(mut map) = buffer.map_writable() else {
            return gst::PadProbeReturn::Ok;
        };
        let luma = map.as_mut_slice();
        if luma.len() < stride * h {
            return gst::PadProbeReturn::Ok;
        }
        let offset = match scene {
            Scene::Brightness => fade(t),
            Scene::Intrusion { .. } => 0.0,
        };
        for y in 0..h {
            let row = &mut luma[y * stride..][..w];
            for (p, &v) in row.iter_mut().zip(&still[y * w..][..w]) {
                *p = (f64::from(v) + offset).round().clamp(0.0, 255.0) as u8;
            }
        }
        if let Scene::Intrusion { enter_after } = scene {
            let since = t - enter_after.as_secs_f64();
            if since >= 0.0 {
                times.entered.get_or_insert_with(SystemTime::now);
                let (x, y, bw, bh) = object_box(w, h, since);
                for row in y..(y + bh).min(h) {
                    luma[row * stride + x..][..bw.min(w - x)].fill(230);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_stays_in_the_lower_right_quarter() {
        let (w, h) = (640, 360);
        for i in 0..100 {
            let (x, y, bw, bh) = object_box(w, h, f64::from(i) * 0.1);
            assert!(x >= w / 2 && x + bw <= w, "x {x} at {i}");
            assert!(y >= h / 2 && y + bh <= h, "y {y}");
        }
    }

    #[test]
    fn the_fade_never_clips_the_background() {
        let bg = background(64, 36);
        let (lo, hi) = (*bg.iter().min().unwrap(), *bg.iter().max().unwrap());
        assert!(f64::from(lo) - FADE_LEVELS > 0.0 && f64::from(hi) + FADE_LEVELS < 255.0);
        assert!(
            (fade(2.0) - FADE_LEVELS).abs() < 1e-9,
            "a quarter period: the top"
        );
    }

    #[test]
    fn scene_cameras_are_the_listed_ones() {
        let config = CamSimConfig {
            source: SimSource::Intrusion {
                cameras: vec![2],
                enter_after: Duration::from_secs(3),
            },
            ..CamSimConfig::default()
        };
        assert_eq!(of(&config, 1), None);
        assert!(matches!(of(&config, 2), Some(Scene::Intrusion { .. })));
        assert!(launch(&config, 2).contains("identity name=scene"));
    }
}
