//! Zone polygons in normalised picture coordinates (0..1 on both axes, origin top left), so a
//! zone drawn on the main stream's snapshot still fits the sub stream the detector decodes.

use crate::validate::ValidationError;

/// The most points one zone may have: a hand-drawn outline needs a dozen, not hundreds.
pub const MAX_POINTS: usize = 32;
/// The smallest zone, as a fraction of the picture: below this a zone is a slip of the mouse.
pub const MIN_ZONE_AREA: f64 = 0.0005;

/// A point `[x, y]`, both in 0..1.
pub type Point = [f64; 2];

/// Area of a simple polygon by the shoelace formula (always positive).
pub fn area(points: &[Point]) -> f64 {
    let n = points.len();
    if n < 3 {
        return 0.0;
    }
    let mut twice = 0.0;
    for i in 0..n {
        let [x1, y1] = points[i];
        let [x2, y2] = points[(i + 1) % n];
        twice += x1 * y2 - x2 * y1;
    }
    (twice / 2.0).abs()
}

/// Whether `p` lies inside the polygon (even-odd rule, edges counted once).
pub fn contains(points: &[Point], p: Point) -> bool {
    let n = points.len();
    let mut inside = false;
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let [xi, yi] = points[i];
        let [xj, yj] = points[j];
        if (yi > p[1]) != (yj > p[1]) && p[0] < (xj - xi) * (p[1] - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

/// Whether segments `ab` and `cd` touch (crossing, or one end lying on the other).
fn segments_touch(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

/// Whether two edges that are not neighbours touch: a figure eight, or an outline that runs
/// back over itself, has no inside an officer could mean.
pub fn self_crossing(points: &[Point]) -> bool {
    let n = points.len();
    for i in 0..n {
        for j in (i + 1)..n {
            // Neighbouring edges share a point by construction.
            if j == i + 1 || (i == 0 && j == n - 1) {
                continue;
            }
            let (a, b) = (points[i], points[(i + 1) % n]);
            let (c, d) = (points[j], points[(j + 1) % n]);
            if segments_touch(a, b, c, d) {
                return true;
            }
        }
    }
    false
}

/// Checks one zone's outline; `field` names it in the error (e.g. `zones[1].points`).
pub fn validate(field: &str, points: &[Point]) -> Result<(), ValidationError> {
    if points.len() < 3 {
        return Err(ValidationError::new(
            field,
            "a zone needs at least 3 points",
        ));
    }
    if points.len() > MAX_POINTS {
        return Err(ValidationError::new(
            field,
            format!("a zone may have at most {MAX_POINTS} points"),
        ));
    }
    for (i, p) in points.iter().enumerate() {
        if !p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                "coordinates must be between 0 and 1 (fractions of the picture)",
            ));
        }
    }
    if area(points) < MIN_ZONE_AREA {
        return Err(ValidationError::new(field, "the zone has (almost) no area"));
    }
    if self_crossing(points) {
        return Err(ValidationError::new(
            field,
            "the zone's outline crosses itself",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [Point; 4] = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]];

    #[test]
    fn area_and_inside() {
        assert!((area(&SQUARE) - 0.16).abs() < 1e-12);
        assert!(contains(&SQUARE, [0.3, 0.3]));
        assert!(!contains(&SQUARE, [0.6, 0.3]));
        assert!(validate("z", &SQUARE).is_ok());
    }

    #[test]
    fn bad_outlines_are_refused_naming_the_field() {
        let bow = [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]];
        assert_eq!(
            validate("zones[0].points", &bow).unwrap_err().field,
            "zones[0].points"
        );
        let line = [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]];
        assert!(validate("z", &line).unwrap_err().message.contains("area"));
        let out = [[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]];
        assert_eq!(validate("z", &out).unwrap_err().field, "z[1]");
        let nan = [[0.1, 0.1], [f64::NAN, 0.1], [0.5, 0.5]];
        assert_eq!(validate("z", &nan).unwrap_err().field, "z[1]");
        assert!(validate("z", &SQUARE[..2]).is_err());
        let many: Vec<Point> = (0..40)
            .map(|i| {
                let a = i as f64 / 40.0 * std::f64::consts::TAU;
                [0.5 + 0.3 * a.cos(), 0.5 + 0.3 * a.sin()]
            })
            .collect();
        assert!(validate("z", &many)
            .unwrap_err()
            .message
            .contains("at most"));
        assert!(validate("z", &many[..30]).is_ok());
    }
}
