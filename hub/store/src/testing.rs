//! Real databases for tests: a fresh SQLite file or a fresh PostgreSQL database per call.
//!
//! No mock: the store suite and the HTTP suites run on both engines. PostgreSQL is found at
//! `GRIDWATCH_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`, the trust-auth
//! server of the development and CI machines); each call creates a database with a random
//! name on it, so tests run in parallel without seeing each other.

use crate::{RaiseRequest, Store, StoreError, StoreOptions};
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

/// Runs `body` on a fresh store of the backend, then closes it.
pub async fn with_fresh_store<F, Fut>(backend: crate::Backend, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = fresh_store(backend, dir.path())
        .await
        .unwrap_or_else(|e| panic!("cannot open a fresh {backend:?} store: {e}"));
    assert_eq!(store.backend(), backend);
    body(store.clone()).await;
    store.close().await;
}

/// `on_both!(name, |store: Store| async move { … })` defines `mod name { sqlite, postgres }`:
/// the same test on a fresh SQLite file and on a fresh PostgreSQL database.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                $crate::testing::with_fresh_store($crate::Backend::Sqlite, $body).await
            }
            #[tokio::test]
            async fn postgres() {
                $crate::testing::with_fresh_store($crate::Backend::Postgres, $body).await
            }
        }
    };
}

/// An SOS from a panic button with no grid, location or cameras: the least a test needs when
/// it only wants an incident to exist (evidence clips, locks).
pub fn bare_sos(device_id: &str) -> RaiseRequest {
    use gridwatch_core::change::Raise;
    use gridwatch_core::incident::{IncidentKind, Source};
    RaiseRequest {
        raise: Raise {
            id: gridwatch_core::id::new_id(),
            kind: IncidentKind::Sos,
            source: Source::Device(device_id.into()),
            grid_id: None,
            routed_by: gridwatch_core::routing::RoutedBy::Device,
            post_chain: vec![],
            policy: gridwatch_core::response_check::ResponsePolicy::default(),
            lat: None,
            lon: None,
            note: None,
            camera_id: None,
            cameras: vec![],
            details: serde_json::Value::Null,
        },
        actor: gridwatch_core::event::Actor::device(device_id, "http"),
        repeat_window: None,
        idempotency_key: None,
    }
}
