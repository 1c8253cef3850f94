//! Each camera's motion settings (issue 19), stored whole as JSON.

use crate::time::to_ms;
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::motion::MotionSettings;

impl Store {
    /// The camera's motion settings; the defaults (detection off) when none were saved.
    /// `NotFound` when the camera does not exist.
    pub async fn camera_motion(&self, camera_id: &str) -> Result<MotionSettings, StoreError> {
        self.camera(camera_id).await?;
        let json: Option<String> = with_pool!(self, p => {
            sqlx::query_scalar("SELECT settings FROM camera_motion WHERE camera_id = $1")
                .bind(camera_id)
                .fetch_optional(p)
                .await?
        });
        match json {
            None => Ok(MotionSettings::default()),
            Some(j) => serde_json::from_str(&j)
                .map_err(|e| StoreError::corrupt("camera motion settings", camera_id, e)),
        }
    }

    /// Validates and saves the camera's motion settings, replacing what was there.
    pub async fn set_camera_motion(
        &self,
        camera_id: &str,
        settings: &MotionSettings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        settings.validate()?;
        self.camera(camera_id).await?;
        let json = serde_json::to_string(settings)
            .map_err(|e| StoreError::corrupt("camera motion settings", camera_id, e))?;
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO camera_motion (camera_id, settings, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (camera_id) DO UPDATE SET settings = $2, updated_at = $3",
            )
            .bind(camera_id)
            .bind(&json)
            .bind(to_ms(now))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Every camera with motion detection enabled, with its settings: what the hub starts
    /// motion workers for.
    pub async fn cameras_with_motion(&self) -> Result<Vec<(String, MotionSettings)>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(self, p => {
            sqlx::query_as("SELECT camera_id, settings FROM camera_motion ORDER BY camera_id")
                .fetch_all(p)
                .await?
        });
        let mut out = Vec::new();
        for (id, json) in rows {
            let s: MotionSettings = serde_json::from_str(&json)
                .map_err(|e| StoreError::corrupt("camera motion settings", &id, e))?;
            if s.enabled {
                out.push((id, s));
            }
        }
        Ok(out)
    }
}
