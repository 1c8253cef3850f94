//! Cameras' fisheye calibrations (`camera_dewarp`), one row per calibrated camera.

use crate::time::to_ms;
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::dewarp::{DewarpCalibration, Mount};

#[derive(sqlx::FromRow)]
struct DewarpRow {
    mount: String,
    center_x: f64,
    center_y: f64,
    radius: f64,
    orientation: f64,
}

impl Store {
    /// The camera's calibration, `None` when nobody has set one (or the camera is unknown:
    /// callers check the camera first).
    pub async fn camera_dewarp(
        &self,
        camera_id: &str,
    ) -> Result<Option<DewarpCalibration>, StoreError> {
        let row: Option<DewarpRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT mount, center_x, center_y, radius, orientation FROM camera_dewarp \
                 WHERE camera_id = $1",
            )
            .bind(camera_id)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|r| DewarpCalibration {
            mount: Mount::parse("mount", &r.mount).unwrap_or_else(|e| {
                tracing::warn!(camera = camera_id, error = %e, "stored mount unusable; using ceiling");
                Mount::Ceiling
            }),
            center_x: r.center_x,
            center_y: r.center_y,
            radius: r.radius,
            orientation: r.orientation,
        }))
    }

    /// Sets (or replaces) the camera's calibration, validated; 404 for an unknown camera.
    pub async fn set_camera_dewarp(
        &self,
        camera_id: &str,
        c: &DewarpCalibration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        c.validate()?;
        self.camera(camera_id).await?;
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO camera_dewarp (camera_id, mount, center_x, center_y, radius, \
                 orientation, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (camera_id) DO UPDATE SET mount = excluded.mount, \
                 center_x = excluded.center_x, center_y = excluded.center_y, \
                 radius = excluded.radius, orientation = excluded.orientation, \
                 updated_at = excluded.updated_at",
            )
            .bind(camera_id)
            .bind(c.mount.as_str())
            .bind(c.center_x)
            .bind(c.center_y)
            .bind(c.radius)
            .bind(c.orientation)
            .bind(to_ms(now))
            .execute(p)
            .await
            .map(|_| ())?
        });
        Ok(())
    }
}
