use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::geo::Polygon;
use gridwatch_core::grid::{Grid, GridPatch, NewGrid};
use gridwatch_core::id::new_id;
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
struct GridRow {
    id: String,
    name: String,
    polygon: Option<String>,
    post_chain: String,
    response_minutes: Option<i64>,
    ack_minutes: Option<i64>,
    at_risk_minutes: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<GridRow> for Grid {
    type Error = StoreError;
    fn try_from(r: GridRow) -> Result<Grid, StoreError> {
        let corrupt = |e: serde_json::Error| {
            StoreError::Corrupt(format!("grid {} has unreadable stored JSON: {e}", r.id))
        };
        let polygon: Option<Polygon> = match &r.polygon {
            Some(s) => Some(serde_json::from_str(s).map_err(corrupt)?),
            None => None,
        };
        let post_chain: Vec<String> = serde_json::from_str(&r.post_chain).map_err(corrupt)?;
        let minutes = |v: Option<i64>| v.map(|m| m.clamp(0, u32::MAX as i64) as u32);
        Ok(Grid {
            polygon,
            post_chain,
            response_minutes: minutes(r.response_minutes),
            ack_minutes: minutes(r.ack_minutes),
            at_risk_minutes: minutes(r.at_risk_minutes),
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
            id: r.id,
            name: r.name,
        })
    }
}

const COLUMNS: &str = "id, name, polygon, post_chain, response_minutes, ack_minutes, \
                       at_risk_minutes, created_at, updated_at";

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

impl Store {
    pub async fn create_grid(&self, new: NewGrid, now: DateTime<Utc>) -> Result<Grid, StoreError> {
        new.validate()?;
        self.check_posts_exist(&new.post_chain).await?;
        let grid = Grid {
            id: new_id(),
            name: new.name.trim().to_string(),
            polygon: new.polygon,
            post_chain: new.post_chain,
            response_minutes: new.response_minutes,
            ack_minutes: new.ack_minutes,
            at_risk_minutes: new.at_risk_minutes,
            created_at: now,
            updated_at: now,
        };
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO grids (id, name, polygon, post_chain, response_minutes, ack_minutes, \
                 at_risk_minutes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&grid.id)
            .bind(&grid.name)
            .bind(grid.polygon.as_ref().map(json))
            .bind(json(&grid.post_chain))
            .bind(grid.response_minutes.map(i64::from))
            .bind(grid.ack_minutes.map(i64::from))
            .bind(grid.at_risk_minutes.map(i64::from))
            .bind(to_ms(now))
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
            for (i, post) in grid.post_chain.iter().enumerate() {
                sqlx::query("INSERT INTO grid_posts (grid_id, post_id, position) VALUES ($1, $2, $3)")
                    .bind(&grid.id)
                    .bind(post)
                    .bind(i as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(grid)
    }

    pub async fn grids(&self) -> Result<Vec<Grid>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM grids ORDER BY name, id");
        let rows: Vec<GridRow> =
            with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await?);
        rows.into_iter().map(Grid::try_from).collect()
    }

    pub async fn grid(&self, id: &str) -> Result<Grid, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM grids WHERE id = $1");
        let row: Option<GridRow> = with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::not_found("grid", id))?
            .try_into()
    }

    pub async fn update_grid(
        &self,
        id: &str,
        patch: GridPatch,
        now: DateTime<Utc>,
    ) -> Result<Grid, StoreError> {
        let mut grid = self.grid(id).await?.patched(patch)?;
        self.check_posts_exist(&grid.post_chain).await?;
        grid.updated_at = now;
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE grids SET name = $1, polygon = $2, post_chain = $3, response_minutes = $4, \
                 ack_minutes = $5, at_risk_minutes = $6, updated_at = $7 WHERE id = $8",
            )
            .bind(&grid.name)
            .bind(grid.polygon.as_ref().map(json))
            .bind(json(&grid.post_chain))
            .bind(grid.response_minutes.map(i64::from))
            .bind(grid.ack_minutes.map(i64::from))
            .bind(grid.at_risk_minutes.map(i64::from))
            .bind(to_ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM grid_posts WHERE grid_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for (i, post) in grid.post_chain.iter().enumerate() {
                sqlx::query("INSERT INTO grid_posts (grid_id, post_id, position) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(post)
                    .bind(i as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(grid)
    }

    /// Deletes a grid no user, device or camera belongs to any more.
    pub async fn delete_grid(&self, id: &str) -> Result<(), StoreError> {
        let done = with_pool!(self, p => {
            sqlx::query("DELETE FROM grids WHERE id = $1").bind(id).execute(p).await.map(|r| r.rows_affected())
        });
        match done {
            Ok(0) => Err(StoreError::not_found("grid", id)),
            Ok(_) => Ok(()),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict(_) => Err(StoreError::Conflict(format!(
                    "grid {id} still has residents, devices or cameras"
                ))),
                other => Err(other),
            },
        }
    }

    /// Ids of the grids whose chain names this post.
    pub async fn grids_of_post(&self, post_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT DISTINCT grid_id FROM grid_posts WHERE post_id = $1 ORDER BY grid_id")
                .bind(post_id)
                .fetch_all(p)
                .await?
        }))
    }
}
