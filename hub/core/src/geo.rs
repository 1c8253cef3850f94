//! Geometry of the community: GeoJSON polygons for grids, and distances between points.
//!
//! Coordinates are WGS84 `[lon, lat]`, as GeoJSON has them. A community is a few square
//! kilometres, so planar point-in-polygon and an equirectangular distance are exact enough.

use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// A GeoJSON `Polygon`: an outer ring and optional holes, each ring closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Polygon {
    #[serde(rename = "type")]
    pub kind: String,
    pub coordinates: Vec<Vec<[f64; 2]>>,
}

impl Polygon {
    /// Checks what GeoJSON requires of a polygon (RFC 7946 §3.1.6) and that every point is a
    /// longitude/latitude.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let bad = |m: &str| Err(ValidationError::new("polygon", m));
        if self.kind != "Polygon" {
            return bad("type must be \"Polygon\"");
        }
        if self.coordinates.is_empty() {
            return bad("needs an outer ring");
        }
        for ring in &self.coordinates {
            if ring.len() < 4 {
                return bad("each ring needs at least 4 positions (closed: first = last)");
            }
            if ring.first() != ring.last() {
                return bad("each ring must be closed: its first and last positions must be equal");
            }
            for [lon, lat] in ring {
                if !lon.is_finite() || !lat.is_finite() || lon.abs() > 180.0 || lat.abs() > 90.0 {
                    return bad(
                        "positions are [lon, lat] with lon in -180..180 and lat in -90..90",
                    );
                }
            }
            if ring.len() > MAX_RING_POSITIONS {
                return bad(&format!(
                    "each ring may have at most {MAX_RING_POSITIONS} positions"
                ));
            }
            // A ring that encloses nothing, or crosses itself, has no inside that a person
            // drew: point-in-polygon would answer by accident, and routing would follow.
            if all_on_one_line(ring) {
                return bad("each ring must enclose an area (its positions are all on one line)");
            }
            if let Some(at) = self_intersection(ring) {
                return bad(&format!(
                    "a ring must not cross itself (its edges cross near [{:.6}, {:.6}])",
                    at[0], at[1]
                ));
            }
            if ring_area(ring).abs() < MIN_RING_AREA {
                return bad("each ring must enclose an area (its positions are all on one line)");
            }
        }
        Ok(())
    }

    /// Whether the point lies inside the outer ring and outside every hole.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let Some((outer, holes)) = self.coordinates.split_first() else {
            return false;
        };
        ring_contains(outer, lon, lat) && !holes.iter().any(|h| ring_contains(h, lon, lat))
    }
}

/// Enough for the most detailed hand-drawn grid; bounds the quadratic crossing check.
const MAX_RING_POSITIONS: usize = 2_000;

/// In square degrees: about 1 m² at these latitudes. Smaller is a line drawn twice.
const MIN_RING_AREA: f64 = 1e-10;

/// Whether every position lies on one line (or on one point).
fn all_on_one_line(ring: &[[f64; 2]]) -> bool {
    let p0 = ring[0];
    let Some(&q) = ring.iter().find(|p| **p != p0) else {
        return true;
    };
    ring.iter().all(|&p| cross(p0, q, p).abs() < 1e-12)
}

/// The shoelace formula: signed area in square degrees.
fn ring_area(ring: &[[f64; 2]]) -> f64 {
    ring.windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum::<f64>()
        / 2.0
}

/// A point where two edges of a closed ring that are not neighbours meet, if any.
/// Neighbouring edges share an end by construction and are not compared; a ring that comes
/// back to one of its own points (a figure of eight) is found where the edges touch.
fn self_intersection(ring: &[[f64; 2]]) -> Option<[f64; 2]> {
    let edges: Vec<([f64; 2], [f64; 2])> = ring.windows(2).map(|w| (w[0], w[1])).collect();
    let n = edges.len();
    for i in 0..n {
        for j in i + 1..n {
            let neighbours = j == i + 1 || (i == 0 && j == n - 1);
            if neighbours {
                // Neighbours meet at their shared end; they overlap only when folding back.
                if folds_back(edges[i], edges[j]) {
                    return Some(if j == i + 1 { edges[i].1 } else { edges[i].0 });
                }
                continue;
            }
            if let Some(p) = segments_meet(edges[i], edges[j]) {
                return Some(p);
            }
        }
    }
    None
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Two neighbouring edges that lie on one line and point back over each other.
fn folds_back(a: ([f64; 2], [f64; 2]), b: ([f64; 2], [f64; 2])) -> bool {
    let (da, db) = (
        [a.1[0] - a.0[0], a.1[1] - a.0[1]],
        [b.1[0] - b.0[0], b.1[1] - b.0[1]],
    );
    let collinear = (da[0] * db[1] - da[1] * db[0]).abs() < f64::EPSILON;
    collinear && da[0] * db[0] + da[1] * db[1] < 0.0
}

/// Where the closed segments `a` and `b` meet (touching counts), if they do.
fn segments_meet(a: ([f64; 2], [f64; 2]), b: ([f64; 2], [f64; 2])) -> Option<[f64; 2]> {
    let (p1, p2, p3, p4) = (a.0, a.1, b.0, b.1);
    let d1 = cross(p3, p4, p1);
    let d2 = cross(p3, p4, p2);
    let d3 = cross(p1, p2, p3);
    let d4 = cross(p1, p2, p4);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        let t = d1 / (d1 - d2);
        return Some([p1[0] + t * (p2[0] - p1[0]), p1[1] + t * (p2[1] - p1[1])]);
    }
    let on = |p: [f64; 2], q: [f64; 2], r: [f64; 2]| {
        q[0] >= p[0].min(r[0])
            && q[0] <= p[0].max(r[0])
            && q[1] >= p[1].min(r[1])
            && q[1] <= p[1].max(r[1])
    };
    [
        (d1, p3, p1, p4),
        (d2, p3, p2, p4),
        (d3, p1, p3, p2),
        (d4, p1, p4, p2),
    ]
    .into_iter()
    .find(|&(d, s, q, e)| d == 0.0 && on(s, q, e))
    .map(|(_, _, q, _)| q)
}

/// Even-odd ray casting.
fn ring_contains(ring: &[[f64; 2]], x: f64, y: f64) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let [xi, yi] = ring[i];
        let [xj, yj] = ring[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Distance in metres between two points given as (lat, lon), equirectangular.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    const R: f64 = 6_371_000.0;
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let x = (lon2 - lon1) * ((lat1 + lat2) / 2.0).cos();
    let y = lat2 - lat1;
    (x * x + y * y).sqrt() * R
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    }

    fn poly(rings: Vec<Vec<[f64; 2]>>) -> Polygon {
        Polygon {
            kind: "Polygon".into(),
            coordinates: rings,
        }
    }

    #[test]
    fn point_in_square_with_hole() {
        let p = poly(vec![
            square(0.0, 0.0, 10.0, 10.0),
            square(4.0, 4.0, 6.0, 6.0),
        ]);
        assert!(p.validate().is_ok());
        assert!(p.contains(1.0, 1.0));
        assert!(!p.contains(5.0, 5.0), "inside the hole");
        assert!(!p.contains(11.0, 5.0));
        assert!(!p.contains(-0.1, 5.0));
    }

    #[test]
    fn concave_polygon() {
        // An L shape: the notch at the top right is outside.
        let p = poly(vec![vec![
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 5.0],
            [5.0, 5.0],
            [5.0, 10.0],
            [0.0, 10.0],
            [0.0, 0.0],
        ]]);
        assert!(p.contains(2.0, 8.0));
        assert!(p.contains(8.0, 2.0));
        assert!(!p.contains(8.0, 8.0));
    }

    #[test]
    fn invalid_polygons_are_refused() {
        assert!(poly(vec![]).validate().is_err());
        assert!(poly(vec![vec![[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])
            .validate()
            .is_err());
        assert!(
            poly(vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5]]])
                .validate()
                .is_err()
        );
        assert!(poly(vec![square(0.0, 0.0, 200.0, 1.0)]).validate().is_err());
        let mut p = poly(vec![square(0.0, 0.0, 1.0, 1.0)]);
        p.kind = "Point".into();
        assert!(p.validate().is_err());
    }

    #[test]
    fn a_ring_that_encloses_nothing_is_refused() {
        let line = poly(vec![vec![[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]]);
        let e = line.validate().unwrap_err();
        assert!(e.message.contains("area"), "{e}");
        let point = poly(vec![vec![[1.0, 1.0]; 4]]);
        assert!(point.validate().is_err());
    }

    #[test]
    fn a_ring_that_crosses_itself_is_refused() {
        // A bow tie: the edges (0,0)-(1,1) and (1,0)-(0,1) cross at (0.5, 0.5).
        let bow = poly(vec![vec![
            [0.0, 0.0],
            [1.0, 1.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [0.0, 0.0],
        ]]);
        let e = bow.validate().unwrap_err();
        assert!(e.message.contains("cross"), "{e}");
        assert!(e.message.contains("[0.500000, 0.500000]"), "{e}");
        // A figure of eight through one shared point.
        let eight = poly(vec![vec![
            [0.0, 0.0],
            [1.0, 1.0],
            [2.0, 0.0],
            [2.0, 2.0],
            [1.0, 1.0],
            [0.0, 2.0],
            [0.0, 0.0],
        ]]);
        assert!(eight.validate().is_err());
        // A spike that folds back on its own edge.
        let spike = poly(vec![vec![
            [0.0, 0.0],
            [2.0, 0.0],
            [2.0, 2.0],
            [2.0, 3.0],
            [2.0, 2.5],
            [0.0, 2.0],
            [0.0, 0.0],
        ]]);
        assert!(spike.validate().is_err());
        // Real grids, concave ones too, still pass.
        let l = poly(vec![vec![
            [107.0, 26.0],
            [107.01, 26.0],
            [107.01, 26.005],
            [107.005, 26.005],
            [107.005, 26.01],
            [107.0, 26.01],
            [107.0, 26.0],
        ]]);
        assert!(l.validate().is_ok(), "{:?}", l.validate());
    }

    #[test]
    fn distances() {
        // One degree of latitude is about 111 km.
        let d = distance_m((26.0, 107.0), (27.0, 107.0));
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert_eq!(distance_m((26.5, 107.9), (26.5, 107.9)), 0.0);
    }
}
