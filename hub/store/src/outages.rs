//! Camera outages: when each camera's current outage began.
//!
//! The hub raises a `camera_offline` incident once a camera has been offline for
//! `offline_incident_seconds`. That time must count from the outage's real start, not from
//! whenever a hub process last (re)started, so the start lives here: the first node to see an
//! outage records it, later sightings (another node, a restart) read it back, and the camera's
//! return — or its being disabled (`update_camera`) — ends it.

use crate::time::{from_ms, stored, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};

impl Store {
    /// Records that `camera_id` is offline as of `now`, unless an outage of it is already
    /// recorded; returns the start of the outage it is in (the earlier one if there was).
    pub async fn camera_outage_began(
        &self,
        camera_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO camera_outages (camera_id, since, reason) VALUES ($1, $2, $3) \
                 ON CONFLICT (camera_id) DO NOTHING",
            )
            .bind(camera_id)
            .bind(to_ms(now))
            .bind(reason)
            .execute(p)
            .await?;
        });
        // Ended (or the camera deleted) in between: this sighting starts it.
        Ok(self.camera_outage(camera_id).await?.unwrap_or(stored(now)))
    }

    /// The camera is back: its outage is over.
    pub async fn camera_outage_ended(&self, camera_id: &str) -> Result<(), StoreError> {
        with_pool!(self, p => {
            sqlx::query("DELETE FROM camera_outages WHERE camera_id = $1")
                .bind(camera_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The start of the camera's current outage, if it is in one.
    pub async fn camera_outage(
        &self,
        camera_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let since: Option<i64> = with_pool!(self, p => {
            sqlx::query_scalar("SELECT since FROM camera_outages WHERE camera_id = $1")
                .bind(camera_id)
                .fetch_optional(p)
                .await?
        });
        Ok(since.map(from_ms))
    }
}
