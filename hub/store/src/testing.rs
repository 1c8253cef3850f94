//! Real databases for tests: a fresh SQLite file or a fresh PostgreSQL database per call.
//!
//! No mock: the store suite and the HTTP suites run on both engines. PostgreSQL is found at
//! `GRIDWATCH_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`, the trust-auth
//! server of the development and CI machines); each call creates a database with a random
//! name on it, so tests run in parallel without seeing each other.

use crate::{Store, StoreError, StoreOptions};
use sqlx::Connection;

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The URL of a new, empty PostgreSQL database.
pub async fn fresh_postgres_url() -> Result<String, StoreError> {
    let admin =
        std::env::var("GRIDWATCH_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
    let name = format!("gridwatch_test_{}", uuid_simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Ok(format!("{base}/{name}"))
}

/// A new SQLite database in `dir`.
pub fn fresh_sqlite_url(dir: &std::path::Path) -> String {
    format!(
        "sqlite://{}",
        dir.join(format!("{}.db", uuid_simple())).display()
    )
}

/// Opens and migrates a store on a fresh database of the given backend.
pub async fn fresh_store(
    backend: crate::Backend,
    dir: &std::path::Path,
) -> Result<Store, StoreError> {
    let url = match backend {
        crate::Backend::Sqlite => fresh_sqlite_url(dir),
        crate::Backend::Postgres => fresh_postgres_url().await?,
    };
    let mut opts = StoreOptions::new(url);
    opts.max_connections = 4;
    Store::open(&opts).await
}

fn uuid_simple() -> String {
    gridwatch_core::id::new_id().replace('-', "")
}
