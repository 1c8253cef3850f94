//! Pictures attached to incidents: the JPEG a camera's motion alert was raised with (see
//! `migrations/*/0021_incident_snapshots.sql`). A picture and the `incident.snapshot_taken`
//! event that announces it on the incident's timeline are written in one transaction: the
//! timeline never names a picture that is not there.

use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::event::{Actor, Event, EventDraft, EventType};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A picture of an incident, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentSnapshot {
    pub id: String,
    pub incident_id: String,
    pub camera_id: String,
    pub taken_at: DateTime<Utc>,
    pub bytes: u64,
    /// Of the JPEG, hex.
    pub sha256: String,
}

impl Store {
    /// Stores `jpeg`, taken of `camera_id` at `now`, as a picture of the incident, and records
    /// `incident.snapshot_taken` on its timeline.
    pub async fn attach_incident_snapshot(
        &self,
        incident_id: &str,
        camera_id: &str,
        jpeg: &[u8],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(IncidentSnapshot, Vec<Event>), StoreError> {
        let now = crate::time::stored(now);
        let snapshot = IncidentSnapshot {
            id: gridwatch_core::id::new_id(),
            incident_id: incident_id.to_string(),
            camera_id: camera_id.to_string(),
            taken_at: now,
            bytes: jpeg.len() as u64,
            sha256: hex::encode(Sha256::digest(jpeg)),
        };
        let draft = EventDraft::new(
            EventType::IncidentSnapshotTaken,
            json!({
                "snapshot_id": snapshot.id, "camera_id": snapshot.camera_id,
                "bytes": snapshot.bytes, "sha256": snapshot.sha256,
            }),
        );
        let events = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO incident_snapshots (id, incident_id, camera_id, taken_at, jpeg, sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&snapshot.id)
            .bind(incident_id)
            .bind(camera_id)
            .bind(to_ms(now))
            .bind(jpeg)
            .bind(&snapshot.sha256)
            .execute(&mut *tx)
            .await?;
            let events =
                crate::changes::append(&mut *tx, Some(incident_id), &[draft], actor, now).await?;
            tx.commit().await?;
            events
        });
        Ok((snapshot, events))
    }

    /// One of an incident's pictures, with its JPEG.
    pub async fn incident_snapshot(
        &self,
        incident_id: &str,
        snapshot_id: &str,
    ) -> Result<(IncidentSnapshot, Vec<u8>), StoreError> {
        type Row = (String, String, String, i64, Vec<u8>, String);
        let row: Option<Row> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, incident_id, camera_id, taken_at, jpeg, sha256 \
                 FROM incident_snapshots WHERE incident_id = $1 AND id = $2",
            )
            .bind(incident_id)
            .bind(snapshot_id)
            .fetch_optional(p)
            .await?
        });
        let (id, incident_id, camera_id, taken_at, jpeg, sha256) =
            row.ok_or_else(|| StoreError::not_found("snapshot", snapshot_id))?;
        Ok((
            IncidentSnapshot {
                id,
                incident_id,
                camera_id,
                taken_at: from_ms(taken_at),
                bytes: jpeg.len() as u64,
                sha256,
            },
            jpeg,
        ))
    }
}
