//! Routing (分派): which grid an incident belongs to, and which cameras to show with it.
//!
//! - The grid comes from the location: the first grid (in the order given, the store's is by
//!   name) whose polygon covers the point. Without a location, or outside every polygon, it
//!   falls back to the grid the caller names (a duty officer's choice, a camera's, a panic
//!   button's or a resident's grid).
//! - The cameras are the nearest enabled ones: those of the incident's grid first, then the
//!   others by distance. Without a location the grid's cameras come in the order given and no
//!   other grid's camera is attached (there is no "near" without a place).

use crate::camera::Camera;
use crate::geo::distance_m;
use crate::grid::Grid;
use serde::{Deserialize, Serialize};

/// How many cameras are attached to an incident.
pub const NEAREST_CAMERAS: usize = 4;

/// Why an incident is in its grid, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutedBy {
    /// Its location lies in the grid's polygon.
    Location,
    /// A duty officer named the grid.
    Given,
    /// The grid of the camera it was raised from.
    Camera,
    /// The grid the panic button is registered in.
    Device,
    /// The grid the resident lives in.
    Resident,
    /// No grid: the duty officers must dispatch by hand.
    Unrouted,
}

/// The grid for an incident at `location` (lat, lon), else `fallback` with its reason.
pub fn route<'a>(
    grids: &'a [Grid],
    location: Option<(f64, f64)>,
    fallback: Option<(&str, RoutedBy)>,
) -> (Option<&'a Grid>, RoutedBy) {
    if let Some((lat, lon)) = location {
        if let Some(g) = grids.iter().find(|g| g.covers(lat, lon)) {
            return (Some(g), RoutedBy::Location);
        }
    }
    if let Some((id, why)) = fallback {
        if let Some(g) = grids.iter().find(|g| g.id == id) {
            return (Some(g), why);
        }
    }
    (None, RoutedBy::Unrouted)
}

/// Ids of up to `n` enabled cameras: those of `grid_id` first, then the rest; each group by
/// distance from `location` (cameras without a position last in their group, and left out of
/// the other grids' group).
pub fn nearest_cameras(
    cameras: &[Camera],
    grid_id: Option<&str>,
    location: Option<(f64, f64)>,
    n: usize,
) -> Vec<String> {
    let distance = |c: &Camera| match (location, c.lat.zip(c.lon)) {
        (Some(here), Some(there)) => Some(distance_m(here, there)),
        _ => None,
    };
    let mut ranked: Vec<(bool, f64, &Camera)> = cameras
        .iter()
        .filter(|c| c.enabled)
        .filter_map(|c| {
            let own = grid_id.is_some() && c.grid_id.as_deref() == grid_id;
            match (own, distance(c)) {
                (true, d) => Some((false, d.unwrap_or(f64::INFINITY), c)),
                (false, Some(d)) => Some((true, d, c)),
                (false, None) => None,
            }
        })
        .collect();
    // Stable: equal keys keep the order given.
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    ranked
        .into_iter()
        .take(n)
        .map(|(_, _, c)| c.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn grid(id: &str, square: Option<(f64, f64, f64, f64)>) -> Grid {
        Grid {
            id: id.into(),
            name: id.into(),
            polygon: square.map(|(x0, y0, x1, y1)| crate::geo::Polygon {
                kind: "Polygon".into(),
                coordinates: vec![vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
            }),
            post_chain: vec![],
            response_minutes: None,
            ack_minutes: None,
            at_risk_minutes: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn camera(id: &str, grid: Option<&str>, at: Option<(f64, f64)>, enabled: bool) -> Camera {
        Camera {
            id: id.into(),
            name: id.into(),
            rtsp_url: "rtsp://x".into(),
            sub_rtsp_url: None,
            grid_id: grid.map(Into::into),
            lat: at.map(|p| p.0),
            lon: at.map(|p| p.1),
            heading: None,
            panoramic: false,
            enabled,
            has_credentials: false,
            transport: Default::default(),
            quirks: vec![],
            user_agent: None,
            record: Default::default(),
            retention_days: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn location_first_then_fallback() {
        // Polygons are lon/lat; points are (lat, lon).
        let grids = [
            grid("west", Some((107.0, 26.0, 108.0, 27.0))),
            grid("east", Some((108.0, 26.0, 109.0, 27.0))),
            grid("nowhere", None),
        ];
        let (g, why) = route(
            &grids,
            Some((26.5, 108.5)),
            Some(("west", RoutedBy::Device)),
        );
        assert_eq!(
            (g.map(|g| g.id.as_str()), why),
            (Some("east"), RoutedBy::Location)
        );
        let (g, why) = route(
            &grids,
            Some((30.0, 100.0)),
            Some(("nowhere", RoutedBy::Resident)),
        );
        assert_eq!(
            (g.map(|g| g.id.as_str()), why),
            (Some("nowhere"), RoutedBy::Resident)
        );
        let (g, why) = route(&grids, None, Some(("west", RoutedBy::Device)));
        assert_eq!(
            (g.map(|g| g.id.as_str()), why),
            (Some("west"), RoutedBy::Device)
        );
        assert_eq!(route(&grids, None, None), (None, RoutedBy::Unrouted));
        assert_eq!(
            route(&grids, None, Some(("deleted", RoutedBy::Device))),
            (None, RoutedBy::Unrouted)
        );
    }

    #[test]
    fn cameras_of_the_grid_first_then_by_distance() {
        let here = (26.5, 107.5);
        let cams = [
            camera("far-own", Some("g"), Some((26.6, 107.5)), true),
            camera("near-other", Some("h"), Some((26.5001, 107.5)), true),
            camera("near-own", Some("g"), Some((26.501, 107.5)), true),
            camera("own-unplaced", Some("g"), None, true),
            camera("off", Some("g"), Some((26.5, 107.5)), false),
            camera("mid-none", None, Some((26.52, 107.5)), true),
            camera("unplaced-other", Some("h"), None, true),
            camera("farther-other", Some("h"), Some((26.55, 107.5)), true),
        ];
        assert_eq!(
            nearest_cameras(&cams, Some("g"), Some(here), 4),
            ["near-own", "far-own", "own-unplaced", "near-other"]
        );
        assert_eq!(
            nearest_cameras(&cams, Some("g"), Some(here), 10),
            [
                "near-own",
                "far-own",
                "own-unplaced",
                "near-other",
                "mid-none",
                "farther-other"
            ]
        );
        // No place: only the grid's own, in the order given.
        assert_eq!(
            nearest_cameras(&cams, Some("g"), None, 4),
            ["far-own", "near-own", "own-unplaced"]
        );
        // No grid: by distance alone.
        assert_eq!(
            nearest_cameras(&cams, None, Some(here), 2),
            ["near-other", "near-own"]
        );
        assert!(nearest_cameras(&cams, None, None, 4).is_empty());
    }
}
