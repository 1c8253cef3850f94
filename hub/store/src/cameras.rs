//! Cameras and their RTSP credentials, which are stored apart and never listed.

use crate::time::{from_ms, to_ms};
use crate::{sealed, with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::camera::{
    Camera, CameraPatch, CameraTransport, Credentials, CredentialsChange, NewCamera,
};
use gridwatch_core::id::new_id;
use gridwatch_core::recording::RecordMode;
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
struct CameraRow {
    id: String,
    name: String,
    rtsp_url: String,
    sub_rtsp_url: Option<String>,
    grid_id: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    heading: Option<f64>,
    panoramic: bool,
    enabled: bool,
    has_credentials: bool,
    transport: String,
    quirks: String,
    user_agent: Option<String>,
    record: String,
    retention_days: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<CameraRow> for Camera {
    fn from(r: CameraRow) -> Camera {
        let transport = CameraTransport::parse("transport", &r.transport).unwrap_or_else(|e| {
            tracing::warn!(camera = %r.id, error = %e, "stored transport unusable; using tcp");
            CameraTransport::Tcp
        });
        let quirks = serde_json::from_str(&r.quirks).unwrap_or_else(|e| {
            tracing::warn!(camera = %r.id, error = %e, "stored quirks unusable; using none");
            Vec::new()
        });
        let record = RecordMode::parse(&r.record).unwrap_or_else(|| {
            tracing::warn!(camera = %r.id, record = %r.record, "stored record mode unusable; recording continuously");
            RecordMode::Continuous
        });
        Camera {
            id: r.id,
            name: r.name,
            rtsp_url: r.rtsp_url,
            sub_rtsp_url: r.sub_rtsp_url,
            grid_id: r.grid_id,
            lat: r.lat,
            lon: r.lon,
            heading: r.heading,
            panoramic: r.panoramic,
            enabled: r.enabled,
            has_credentials: r.has_credentials,
            transport,
            quirks,
            user_agent: r.user_agent,
            record,
            retention_days: r.retention_days.and_then(|d| u32::try_from(d).ok()),
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        }
    }
}

const SELECT: &str = "SELECT c.id, c.name, c.rtsp_url, c.sub_rtsp_url, c.grid_id, c.lat, c.lon, \
     c.heading, c.panoramic, c.enabled, (k.camera_id IS NOT NULL) AS has_credentials, \
     c.transport, c.quirks, c.user_agent, c.record, CAST(c.retention_days AS BIGINT) AS retention_days, \
     c.created_at, c.updated_at \
     FROM cameras c LEFT JOIN camera_credentials k ON k.camera_id = c.id";

/// The quirks column: a JSON array of names.
fn quirks_json(quirks: &[String]) -> String {
    serde_json::to_string(quirks).unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub async fn create_camera(
        &self,
        new: NewCamera,
        now: DateTime<Utc>,
    ) -> Result<Camera, StoreError> {
        new.validate()?;
        let (transport, quirks) = (new.transport()?, new.quirks()?);
        let (record, retention_days) = (new.record()?, new.retention_days()?);
        if let Some(g) = &new.grid_id {
            self.check_grid_exists(g).await?;
        }
        let creds = new.credentials();
        let camera = Camera {
            id: new_id(),
            name: new.name.trim().to_string(),
            rtsp_url: new.rtsp_url,
            sub_rtsp_url: new.sub_rtsp_url,
            grid_id: new.grid_id,
            lat: new.lat,
            lon: new.lon,
            heading: new.heading,
            panoramic: new.panoramic,
            enabled: new.enabled,
            has_credentials: creds.is_some(),
            transport,
            quirks,
            user_agent: new.user_agent,
            record,
            retention_days,
            created_at: now,
            updated_at: now,
        };
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO cameras (id, name, rtsp_url, sub_rtsp_url, grid_id, lat, lon, heading, \
                 panoramic, enabled, created_at, updated_at, transport, quirks, user_agent, record, \
                 retention_days) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            )
            .bind(&camera.id)
            .bind(&camera.name)
            .bind(&camera.rtsp_url)
            .bind(&camera.sub_rtsp_url)
            .bind(&camera.grid_id)
            .bind(camera.lat)
            .bind(camera.lon)
            .bind(camera.heading)
            .bind(camera.panoramic)
            .bind(camera.enabled)
            .bind(to_ms(now))
            .bind(to_ms(now))
            .bind(camera.transport.as_str())
            .bind(quirks_json(&camera.quirks))
            .bind(&camera.user_agent)
            .bind(camera.record.as_str())
            .bind(camera.retention_days.map(|d| d as i32))
            .execute(&mut *tx)
            .await?;
            if let Some(c) = &creds {
                sqlx::query(
                    "INSERT INTO camera_credentials (camera_id, username, password) VALUES ($1, $2, $3)",
                )
                .bind(&camera.id)
                .bind(&c.username)
                .bind(self.seal_password(&c.password, &camera.id))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(camera)
    }

    pub async fn cameras(&self) -> Result<Vec<Camera>, StoreError> {
        let sql = format!("{SELECT} ORDER BY c.name, c.id");
        let rows: Vec<CameraRow> =
            with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await?);
        Ok(rows.into_iter().map(Camera::from).collect())
    }

    pub async fn camera(&self, id: &str) -> Result<Camera, StoreError> {
        let sql = format!("{SELECT} WHERE c.id = $1");
        let row: Option<CameraRow> = with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
        row.map(Camera::from)
            .ok_or_else(|| StoreError::not_found("camera", id))
    }

    /// The RTSP credentials of a camera, for the ingest only.
    pub async fn camera_credentials(&self, id: &str) -> Result<Option<Credentials>, StoreError> {
        let row: Option<(String, String)> = with_pool!(self, p => {
            sqlx::query_as("SELECT username, password FROM camera_credentials WHERE camera_id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        row.map(|(username, stored)| {
            let password = sealed::open(self.credential_key.as_ref(), &stored, id)
                .map_err(|e| StoreError::Config(format!("camera {id}'s password: {e}")))?;
            Ok(Credentials { username, password })
        })
        .transpose()
    }

    /// A password as it is stored: sealed when the store has a key.
    fn seal_password(&self, plain: &str, camera_id: &str) -> String {
        match &self.credential_key {
            Some(key) => key.seal(plain, camera_id),
            None => plain.to_string(),
        }
    }

    /// Seals the camera passwords stored before the store had a key; returns how many. Run
    /// at start-up, so that an upgrade leaves no password in clear. Fails, naming the
    /// remedy, when a password sealed earlier does not open with this key: a node started
    /// with another key than its peers' would otherwise find out camera by camera.
    pub async fn seal_plain_credentials(&self) -> Result<usize, StoreError> {
        let Some(key) = &self.credential_key else {
            return Ok(0);
        };
        let rows: Vec<(String, String)> = with_pool!(self, p => {
            sqlx::query_as("SELECT camera_id, password FROM camera_credentials")
                .fetch_all(p)
                .await?
        });
        if let Some((camera_id, _)) = rows
            .iter()
            .find(|(id, s)| sealed::is_sealed(s) && sealed::open(Some(key), s, id).is_err())
        {
            return Err(StoreError::Config(format!(
                "camera {camera_id}'s password was sealed with another secret key than this \
                 one: give every hub node the key the others use (GRIDWATCH_SECRET_KEY)"
            )));
        }
        let mut sealed_now = 0;
        for (camera_id, stored) in rows.into_iter().filter(|(_, s)| !sealed::is_sealed(s)) {
            let sealed_value = key.seal(&stored, &camera_id);
            with_pool!(self, p => {
                sqlx::query(
                    "UPDATE camera_credentials SET password = $1 WHERE camera_id = $2 AND password = $3",
                )
                .bind(&sealed_value)
                .bind(&camera_id)
                .bind(&stored)
                .execute(p)
                .await
                .map(|_| ())?
            });
            sealed_now += 1;
        }
        Ok(sealed_now)
    }

    pub async fn update_camera(
        &self,
        id: &str,
        patch: CameraPatch,
        now: DateTime<Utc>,
    ) -> Result<Camera, StoreError> {
        let (mut camera, creds) = self.camera(id).await?.patched(patch)?;
        if let Some(g) = &camera.grid_id {
            self.check_grid_exists(g).await?;
        }
        camera.updated_at = now;
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE cameras SET name = $1, rtsp_url = $2, sub_rtsp_url = $3, grid_id = $4, \
                 lat = $5, lon = $6, heading = $7, panoramic = $8, enabled = $9, updated_at = $10, \
                 transport = $11, quirks = $12, user_agent = $13, record = $14, \
                 retention_days = $15 WHERE id = $16",
            )
            .bind(&camera.name)
            .bind(&camera.rtsp_url)
            .bind(&camera.sub_rtsp_url)
            .bind(&camera.grid_id)
            .bind(camera.lat)
            .bind(camera.lon)
            .bind(camera.heading)
            .bind(camera.panoramic)
            .bind(camera.enabled)
            .bind(to_ms(now))
            .bind(camera.transport.as_str())
            .bind(quirks_json(&camera.quirks))
            .bind(&camera.user_agent)
            .bind(camera.record.as_str())
            .bind(camera.retention_days.map(|d| d as i32))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if !camera.enabled {
                // A disabled camera is not expected to work: no outage to count on to an
                // incident, nor to carry over if it is enabled again while still down.
                sqlx::query("DELETE FROM camera_outages WHERE camera_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if creds != CredentialsChange::Keep {
                sqlx::query("DELETE FROM camera_credentials WHERE camera_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let CredentialsChange::Set(c) = &creds {
                sqlx::query(
                    "INSERT INTO camera_credentials (camera_id, username, password) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(&c.username)
                .bind(self.seal_password(&c.password, id))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(camera)
    }

    pub async fn delete_camera(&self, id: &str) -> Result<(), StoreError> {
        let r = with_pool!(self, p => {
            sqlx::query("DELETE FROM cameras WHERE id = $1").bind(id).execute(p).await?.rows_affected()
        });
        if r == 0 {
            return Err(StoreError::not_found("camera", id));
        }
        Ok(())
    }
}
