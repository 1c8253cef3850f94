//! Routing an incident: its grid (from the location, else the caller's grid), the grid's
//! post chain and response policy to freeze onto it, and the nearest cameras. The rules are
//! `gridwatch_core::routing`'s; this reads the grids and cameras they need.

use super::Incidents;
use gridwatch_core::response_check::ResponsePolicy;
use gridwatch_core::routing::{self, RoutedBy, NEAREST_CAMERAS};
use gridwatch_store::StoreError;

/// Where an incident goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub grid_id: Option<String>,
    pub routed_by: RoutedBy,
    /// The grid's chain now (empty without a grid): frozen onto the incident.
    pub post_chain: Vec<String>,
    /// The centre's policy with the grid's overrides: frozen onto the incident.
    pub policy: ResponsePolicy,
    pub cameras: Vec<String>,
}

/// Routes an incident at `location` (lat, lon), falling back to `fallback`'s grid.
pub async fn route(
    incidents: &Incidents,
    location: Option<(f64, f64)>,
    fallback: Option<(&str, RoutedBy)>,
) -> Result<Route, StoreError> {
    let grids = incidents.store.grids().await?;
    let cameras = incidents.store.cameras().await?;
    let (grid, routed_by) = routing::route(&grids, location, fallback);
    let centre = incidents.policy;
    let policy = match grid {
        Some(g) => centre.for_grid(g).unwrap_or_else(|e| {
            // The grid's overrides do not fit the centre's windows (the centre's changed since):
            // the promise still holds, with the centre's windows.
            tracing::warn!(grid = %g.id, error = %e, "grid response windows ignored");
            centre
        }),
        None => centre,
    };
    let grid_id = grid.map(|g| g.id.clone());
    Ok(Route {
        cameras: routing::nearest_cameras(&cameras, grid_id.as_deref(), location, NEAREST_CAMERAS),
        post_chain: grid.map(|g| g.post_chain.clone()).unwrap_or_default(),
        grid_id,
        routed_by,
        policy,
    })
}
