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
    fn distances() {
        // One degree of latitude is about 111 km.
        let d = distance_m((26.0, 107.0), (27.0, 107.0));
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert_eq!(distance_m((26.5, 107.9), (26.5, 107.9)), 0.0);
    }
}
