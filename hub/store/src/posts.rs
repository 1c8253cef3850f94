use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::id::new_id;
use gridwatch_core::post::{NewPost, Post, PostPatch};
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
struct PostRow {
    id: String,
    name: String,
    lat: f64,
    lon: f64,
    phone: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<PostRow> for Post {
    fn from(r: PostRow) -> Post {
        Post {
            id: r.id,
            name: r.name,
            lat: r.lat,
            lon: r.lon,
            phone: r.phone,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        }
    }
}

const COLUMNS: &str = "id, name, lat, lon, phone, created_at, updated_at";

impl Store {
    pub async fn create_post(&self, new: NewPost, now: DateTime<Utc>) -> Result<Post, StoreError> {
        new.validate()?;
        let post = Post {
            id: new_id(),
            name: new.name.trim().to_string(),
            lat: new.lat,
            lon: new.lon,
            phone: new.phone,
            created_at: now,
            updated_at: now,
        };
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO posts (id, name, lat, lon, phone, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&post.id)
            .bind(&post.name)
            .bind(post.lat)
            .bind(post.lon)
            .bind(&post.phone)
            .bind(to_ms(now))
            .bind(to_ms(now))
            .execute(p)
            .await?;
        });
        Ok(post)
    }

    pub async fn posts(&self) -> Result<Vec<Post>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM posts ORDER BY name, id");
        let rows: Vec<PostRow> =
            with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await?);
        Ok(rows.into_iter().map(Post::from).collect())
    }

    pub async fn post(&self, id: &str) -> Result<Post, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM posts WHERE id = $1");
        let row: Option<PostRow> = with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
        row.map(Post::from)
            .ok_or_else(|| StoreError::not_found("post", id))
    }

    pub async fn update_post(
        &self,
        id: &str,
        patch: PostPatch,
        now: DateTime<Utc>,
    ) -> Result<Post, StoreError> {
        let mut post = self.post(id).await?.patched(patch)?;
        post.updated_at = now;
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE posts SET name = $1, lat = $2, lon = $3, phone = $4, updated_at = $5 \
                 WHERE id = $6",
            )
            .bind(&post.name)
            .bind(post.lat)
            .bind(post.lon)
            .bind(&post.phone)
            .bind(to_ms(now))
            .bind(id)
            .execute(p)
            .await?;
        });
        Ok(post)
    }

    /// Deletes a post that no grid chain and no responder refers to any more.
    pub async fn delete_post(&self, id: &str) -> Result<(), StoreError> {
        let done = with_pool!(self, p => {
            sqlx::query("DELETE FROM posts WHERE id = $1").bind(id).execute(p).await.map(|r| r.rows_affected())
        });
        match done {
            Ok(0) => Err(StoreError::not_found("post", id)),
            Ok(_) => Ok(()),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict(_) => Err(StoreError::Conflict(format!(
                    "post {id} is still in a grid's post chain or has responders"
                ))),
                other => Err(other),
            },
        }
    }

    /// Fails with a 400-kind error naming the first id that is not a post.
    pub(crate) async fn check_posts_exist(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            match self.post(id).await {
                Err(StoreError::NotFound { .. }) => {
                    return Err(gridwatch_core::ValidationError::new(
                        "post_chain",
                        format!("no post with id {id}"),
                    )
                    .into())
                }
                r => {
                    r?;
                }
            }
        }
        Ok(())
    }
}
