//! Panic buttons and their tokens.

use crate::secret::{new_token, token_hash, TokenKind};
use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::device::{Device, DevicePatch, NewDevice};
use gridwatch_core::id::new_id;
use gridwatch_core::ValidationError;
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: String,
    name: String,
    grid_id: String,
    lat: Option<f64>,
    lon: Option<f64>,
    address: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<DeviceRow> for Device {
    fn from(r: DeviceRow) -> Device {
        Device {
            id: r.id,
            name: r.name,
            grid_id: r.grid_id,
            lat: r.lat,
            lon: r.lon,
            address: r.address,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        }
    }
}

const COLUMNS: &str = "id, name, grid_id, lat, lon, address, created_at, updated_at";

impl Store {
    pub(crate) async fn check_grid_exists(&self, grid_id: &str) -> Result<(), StoreError> {
        match self.grid(grid_id).await {
            Err(StoreError::NotFound { .. }) => {
                Err(ValidationError::new("grid_id", format!("no grid with id {grid_id}")).into())
            }
            r => r.map(|_| ()),
        }
    }

    /// Registers a panic button. Its token is returned here, once; only its hash is kept.
    pub async fn create_device(
        &self,
        new: NewDevice,
        now: DateTime<Utc>,
    ) -> Result<(Device, String), StoreError> {
        new.validate()?;
        self.check_grid_exists(&new.grid_id).await?;
        let token = new_token(TokenKind::Device);
        let device = Device {
            id: new_id(),
            name: new.name.trim().to_string(),
            grid_id: new.grid_id,
            lat: new.lat,
            lon: new.lon,
            address: new.address,
            created_at: now,
            updated_at: now,
        };
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO devices (id, name, grid_id, lat, lon, address, token_hash, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&device.id)
            .bind(&device.name)
            .bind(&device.grid_id)
            .bind(device.lat)
            .bind(device.lon)
            .bind(&device.address)
            .bind(token_hash(&token))
            .bind(to_ms(now))
            .bind(to_ms(now))
            .execute(p)
            .await?;
        });
        Ok((device, token))
    }

    pub async fn devices(&self) -> Result<Vec<Device>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM devices ORDER BY name, id");
        let rows: Vec<DeviceRow> =
            with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await?);
        Ok(rows.into_iter().map(Device::from).collect())
    }

    pub async fn device(&self, id: &str) -> Result<Device, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM devices WHERE id = $1");
        let row: Option<DeviceRow> = with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
        row.map(Device::from)
            .ok_or_else(|| StoreError::not_found("device", id))
    }

    /// The device a token belongs to, if any.
    pub async fn device_by_token(&self, token: &str) -> Result<Option<Device>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM devices WHERE token_hash = $1");
        let row: Option<DeviceRow> = with_pool!(self, p => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(token_hash(token)).fetch_optional(p).await?
        });
        Ok(row.map(Device::from))
    }

    /// Replaces a device's token (a button was lost or its token leaked); the old one stops
    /// working at once.
    pub async fn rotate_device_token(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let token = new_token(TokenKind::Device);
        let r = with_pool!(self, p => {
            sqlx::query("UPDATE devices SET token_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(token_hash(&token))
                .bind(to_ms(now))
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        if r == 0 {
            return Err(StoreError::not_found("device", id));
        }
        Ok(token)
    }

    pub async fn update_device(
        &self,
        id: &str,
        patch: DevicePatch,
        now: DateTime<Utc>,
    ) -> Result<Device, StoreError> {
        let mut device = self.device(id).await?.patched(patch)?;
        self.check_grid_exists(&device.grid_id).await?;
        device.updated_at = now;
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE devices SET name = $1, grid_id = $2, lat = $3, lon = $4, address = $5, \
                 updated_at = $6 WHERE id = $7",
            )
            .bind(&device.name)
            .bind(&device.grid_id)
            .bind(device.lat)
            .bind(device.lon)
            .bind(&device.address)
            .bind(to_ms(now))
            .bind(id)
            .execute(p)
            .await?;
        });
        Ok(device)
    }

    pub async fn delete_device(&self, id: &str) -> Result<(), StoreError> {
        let r = with_pool!(self, p => {
            sqlx::query("DELETE FROM devices WHERE id = $1").bind(id).execute(p).await?.rows_affected()
        });
        if r == 0 {
            return Err(StoreError::not_found("device", id));
        }
        Ok(())
    }
}
