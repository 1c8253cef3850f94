//! How a fisheye (360° panoramic) camera's picture is straightened in the browser: where the
//! image circle lies in the frame and how the camera hangs. The recording stays the raw
//! fisheye; the wall (`web/assets/js/dewarp.js`) maps it into a panorama, halves, a quad or a
//! virtual PTZ with these numbers, so a wrong circle shows as bent walls, not lost video.

use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

/// How the camera is mounted: which way its lens looks.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mount {
    /// Looking down (the usual 360° camera): the panorama runs round the circle's edge.
    #[default]
    Ceiling,
    /// Looking sideways: a 180° view, straightened like a wide lens.
    Wall,
    /// Looking up (a camera on a table or the ground): a ceiling mount upside down.
    Floor,
}

impl Mount {
    pub fn as_str(self) -> &'static str {
        match self {
            Mount::Ceiling => "ceiling",
            Mount::Wall => "wall",
            Mount::Floor => "floor",
        }
    }

    /// `ceiling`, `wall` or `floor`; anything else is an error naming `field`.
    pub fn parse(field: &str, s: &str) -> Result<Mount, ValidationError> {
        match s {
            "ceiling" => Ok(Mount::Ceiling),
            "wall" => Ok(Mount::Wall),
            "floor" => Ok(Mount::Floor),
            other => Err(ValidationError::new(
                field,
                format!("unknown mount {other:?}: expected ceiling, wall or floor"),
            )),
        }
    }
}

/// One camera's calibration. Centre and radius are fractions of the frame (x and the radius
/// of its width, y of its height), so the numbers hold for the main and the sub stream alike,
/// whatever their resolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DewarpCalibration {
    pub mount: Mount,
    /// Centre of the image circle, 0..1 of the width.
    pub center_x: f64,
    /// Centre of the image circle, 0..1 of the height.
    pub center_y: f64,
    /// Radius of the image circle, as a fraction of the width (0.05..1).
    pub radius: f64,
    /// Where the panorama starts: degrees the picture is turned, 0..360.
    pub orientation: f64,
}

impl Default for DewarpCalibration {
    /// A circle centred in a 16:9 frame and touching its top and bottom: what most 360°
    /// cameras send before anyone calibrates them.
    fn default() -> Self {
        DewarpCalibration {
            mount: Mount::Ceiling,
            center_x: 0.5,
            center_y: 0.5,
            radius: 0.28125,
            orientation: 0.0,
        }
    }
}

impl DewarpCalibration {
    /// Every number finite and in range; the error names the first field that is not.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = |field: &str, v: f64, lo: f64, hi: f64, hi_open: bool| {
            let ok = v.is_finite() && v >= lo && if hi_open { v < hi } else { v <= hi };
            match ok {
                true => Ok(()),
                false => Err(ValidationError::new(
                    field,
                    format!(
                        "must be a number in {lo}..{hi}{} (got {v})",
                        if hi_open { " (excluded)" } else { "" }
                    ),
                )),
            }
        };
        check("center_x", self.center_x, 0.0, 1.0, false)?;
        check("center_y", self.center_y, 0.0, 1.0, false)?;
        check("radius", self.radius, 0.05, 1.0, false)?;
        check("orientation", self.orientation, 0.0, 360.0, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_a_ceiling_mount() {
        let d = DewarpCalibration::default();
        assert!(d.validate().is_ok());
        assert_eq!(d.mount, Mount::Ceiling);
    }

    #[test]
    fn each_bad_number_is_named() {
        let good = DewarpCalibration::default();
        let cases: [(&str, DewarpCalibration); 7] = [
            (
                "center_x",
                DewarpCalibration {
                    center_x: -0.1,
                    ..good
                },
            ),
            (
                "center_x",
                DewarpCalibration {
                    center_x: f64::NAN,
                    ..good
                },
            ),
            (
                "center_y",
                DewarpCalibration {
                    center_y: 1.5,
                    ..good
                },
            ),
            (
                "radius",
                DewarpCalibration {
                    radius: 0.0,
                    ..good
                },
            ),
            (
                "radius",
                DewarpCalibration {
                    radius: f64::INFINITY,
                    ..good
                },
            ),
            (
                "orientation",
                DewarpCalibration {
                    orientation: 360.0,
                    ..good
                },
            ),
            (
                "orientation",
                DewarpCalibration {
                    orientation: -1.0,
                    ..good
                },
            ),
        ];
        for (field, c) in cases {
            let e = c.validate().unwrap_err();
            assert_eq!(e.field, field, "{c:?}");
            assert!(e.message.contains("must be a number"), "{e}");
        }
        let edge = DewarpCalibration {
            center_x: 1.0,
            center_y: 0.0,
            radius: 1.0,
            orientation: 359.9,
            ..good
        };
        assert!(edge.validate().is_ok());
    }

    #[test]
    fn mounts_parse_by_name_and_json() {
        for m in [Mount::Ceiling, Mount::Wall, Mount::Floor] {
            assert_eq!(Mount::parse("mount", m.as_str()).unwrap(), m);
        }
        assert_eq!(Mount::parse("mount", "desk").unwrap_err().field, "mount");
        let c: DewarpCalibration = serde_json::from_str(
            r#"{"mount":"floor","center_x":0.4,"center_y":0.6,"radius":0.3,"orientation":90}"#,
        )
        .unwrap();
        assert_eq!(c.mount, Mount::Floor);
        assert!(serde_json::from_str::<DewarpCalibration>(
            r#"{"mount":"desk","center_x":0.4,"center_y":0.6,"radius":0.3,"orientation":90}"#
        )
        .is_err());
    }
}
