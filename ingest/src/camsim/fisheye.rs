//! A simulated 360° camera: a still fisheye test pattern, so the demo and the tests have a
//! panoramic camera whose dewarped picture is known. The pattern is a checkerboard in the
//! world's angles (every 22.5° of azimuth, every 15° from the lens axis) drawn through an
//! equidistant 180° lens (the model `web/assets/js/dewarp.js` inverts), in a circle centred in
//! the frame touching its top and bottom (the hub's default calibration for 16:9). The four
//! quarters clockwise from the image's +x axis are red, green, blue and yellow; within 0.3 of
//! the radius it is white. Dewarped right, the panorama is four coloured bands of straight
//! squares; dewarped wrong, the squares bend.
//!
//! The frame is computed once, written as raw RGB to the temporary directory, and played
//! with the camera's name and a clock burnt in, encoded live like the test pattern.

use std::path::PathBuf;

use super::pipeline::overlay_and_encode;
use super::CamSimConfig;

/// The four quarters' colours, clockwise from the image's +x axis.
pub const QUARTER_COLOURS: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]];

/// The pattern, `width × height` RGB bytes, row by row.
pub fn frame(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let radius = width.min(height) as f64 / 2.0;
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            let r = dx.hypot(dy) / radius;
            let px = &mut out[(y * w + x) * 3..][..3];
            if r > 1.0 {
                continue; // outside the image circle: black, as a real fisheye
            }
            if r < 0.3 {
                px.copy_from_slice(&[255, 255, 255]);
                continue;
            }
            let phi = dy.atan2(dx).to_degrees().rem_euclid(360.0);
            let theta = r * 90.0; // equidistant: the angle from the lens axis
            let quarter = ((phi / 90.0) as usize).min(3);
            let dark = ((phi / 22.5) as usize + (theta / 15.0) as usize) % 2 == 1;
            let colour = QUARTER_COLOURS[quarter];
            px.copy_from_slice(&colour.map(|c| if dark { c / 2 } else { c }));
        }
    }
    out
}

/// Where the frame for this size is kept (one per size, shared by every simulator).
pub(super) fn frame_path(width: u32, height: u32) -> PathBuf {
    std::env::temp_dir().join(format!("gridwatch-camsim-fisheye-{width}x{height}.rgb"))
}

/// Writes the frame unless a complete one is there; through a temporary file and a rename,
/// so that a simulator starting at the same time never reads half a frame.
pub(super) fn ensure_frame(width: u32, height: u32) -> std::io::Result<PathBuf> {
    let path = frame_path(width, height);
    let size = u64::from(width) * u64::from(height) * 3;
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return Ok(path);
    }
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, frame(width, height))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The `gst-launch` description of fisheye camera `index`: the still frame repeated live at
/// `fps`, then the same overlay, stall valve and encoder as the test pattern.
pub(super) fn launch(config: &CamSimConfig, index: usize) -> String {
    let CamSimConfig {
        width, height, fps, ..
    } = *config;
    let location = frame_path(width, height)
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        "( filesrc location=\"{location}\" \
           ! rawvideoparse width={width} height={height} format=rgb framerate={fps}/1 \
           ! imagefreeze is-live=true \
           ! video/x-raw,framerate={fps}/1 \
           ! videoconvert \
           ! {} )",
        overlay_and_encode(config, &format!("cam{index} 360"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The colour at angle `phi` (degrees, clockwise from +x) and `r` (fraction of the radius).
    fn at(f: &[u8], w: u32, h: u32, phi: f64, r: f64) -> [u8; 3] {
        let radius = w.min(h) as f64 / 2.0;
        let x = (w as f64 / 2.0 + r * radius * phi.to_radians().cos()) as usize;
        let y = (h as f64 / 2.0 + r * radius * phi.to_radians().sin()) as usize;
        let i = (y * w as usize + x) * 3;
        [f[i], f[i + 1], f[i + 2]]
    }

    #[test]
    fn quarters_centre_and_outside_are_where_the_model_puts_them() {
        let (w, h) = (640, 360);
        let f = frame(w, h);
        assert_eq!(f.len(), 640 * 360 * 3);
        assert_eq!(at(&f, w, h, 0.0, 0.0), [255, 255, 255]);
        assert_eq!(&f[..3], &[0, 0, 0], "the corner is outside the circle");
        // Squares 22.5° by 15°: at 11.25° from a quarter's start and 37.5° from the axis
        // (r = 37.5 / 90) a square is bright (index 0 + 2), one square further round, dim.
        for (q, colour) in QUARTER_COLOURS.iter().enumerate() {
            let phi = q as f64 * 90.0 + 11.25;
            assert_eq!(&at(&f, w, h, phi, 37.5 / 90.0), colour, "quarter {q}");
            let dim = colour.map(|c| c / 2);
            assert_eq!(at(&f, w, h, phi + 22.5, 37.5 / 90.0), dim, "quarter {q}");
            assert_eq!(
                at(&f, w, h, phi, 52.5 / 90.0),
                dim,
                "quarter {q}, next ring"
            );
        }
    }

    #[test]
    fn launch_plays_the_frame_with_a_name_and_a_valve() {
        let config = CamSimConfig::default();
        let text = launch(&config, 2);
        assert!(
            text.contains("gridwatch-camsim-fisheye-640x360.rgb"),
            "{text}"
        );
        assert!(text.contains("name=pay0") && text.contains("valve name=stall"));
        assert!(text.contains("text=\"cam2 360\""));
    }
}
