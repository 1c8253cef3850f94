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
    drop_abandoned_databases(&mut conn).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Ok(format!("{base}/{name}"))
}

/// How old a test database must be before a later test run drops it.
const ABANDONED_AFTER_MS: u64 = 2 * 3600 * 1000;

/// Drops the test databases earlier runs left behind, once per process. Tests do not drop their
/// own (a failed or killed test cannot), so without this every run leaves hundreds of them.
/// A database's age is read from its name (a UUIDv7 starts with its creation time in ms); one
/// still in use cannot be dropped, and failures are ignored: this is housekeeping.
async fn drop_abandoned_databases(conn: &mut sqlx::PgConnection) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    ONCE.call_once(|| first = true);
    if !first {
        return;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'gridwatch_test_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created_ms = name
            .strip_prefix("gridwatch_test_")
            .and_then(|id| id.get(..12))
            .and_then(|ms| u64::from_str_radix(ms, 16).ok());
        let Some(created_ms) = created_ms else {
            continue;
        };
        if now_ms.saturating_sub(created_ms) > ABANDONED_AFTER_MS
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
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

impl Store {
    /// A camera's password as the database holds it (sealed or not), for tests that check
    /// what a copy of the database would give away.
    pub async fn stored_camera_password(&self, camera_id: &str) -> Option<String> {
        crate::with_pool!(self, p => {
            sqlx::query_scalar("SELECT password FROM camera_credentials WHERE camera_id = $1")
                .bind(camera_id)
                .fetch_optional(p)
                .await
                .expect("a readable camera_credentials table")
        })
    }
}

/// Makes an incident's stored row unreadable (an unknown kind), as a bug or a hand edit could:
/// every read of it fails with [`StoreError::Corrupt`], which no retry cures. Returns the kind
/// it had, for [`restore_incident_kind`].
pub async fn corrupt_incident(store: &Store, id: &str) -> Result<String, StoreError> {
    let kind: String = crate::with_pool!(store, p => {
        sqlx::query_scalar("SELECT kind FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(p)
            .await?
    });
    restore_incident_kind(store, id, "no such kind").await?;
    Ok(kind)
}

/// Writes an incident's stored kind as given (the repair of [`corrupt_incident`]).
pub async fn restore_incident_kind(store: &Store, id: &str, kind: &str) -> Result<(), StoreError> {
    crate::with_pool!(store, p => {
        sqlx::query("UPDATE incidents SET kind = $1 WHERE id = $2")
            .bind(kind)
            .bind(id)
            .execute(p)
            .await?;
    });
    Ok(())
}

/// Sets directory `dir_id`'s kept usage as given, as rows written by a binary from before the
/// counters leave it (they did not maintain them).
pub async fn set_recording_usage(
    store: &Store,
    dir_id: &str,
    bytes: i64,
    segments: i64,
) -> Result<(), StoreError> {
    crate::with_pool!(store, p => {
        sqlx::query("UPDATE recording_dir_usage SET bytes = $1, segments = $2 WHERE dir_id = $3")
            .bind(bytes)
            .bind(segments)
            .bind(dir_id)
            .execute(p)
            .await?;
    });
    Ok(())
}

/// The event log's lock, held by a transaction of its own as a change under way holds it:
/// every change (raises included) waits behind it until [`LogHold::release`].
pub struct LogHold {
    release: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Result<(), StoreError>>,
}

/// Takes the event log's lock and holds it until the [`LogHold`] is released.
pub async fn hold_event_log(store: &Store) -> Result<LogHold, StoreError> {
    hold(store, "UPDATE event_counter SET seq = seq WHERE id = 1").await
}

/// Holds the recordings index against writers, as a long transaction or a stalled database
/// would, until released: new segment rows wait (PostgreSQL: the table's EXCLUSIVE lock, which
/// lets reads through; SQLite: its one write lock, which holds every writer), reads go on.
pub async fn hold_recording_index(store: &Store) -> Result<LogHold, StoreError> {
    match store.backend() {
        crate::Backend::Postgres => {
            hold(store, "LOCK TABLE recording_segments IN EXCLUSIVE MODE").await
        }
        crate::Backend::Sqlite => {
            hold(
                store,
                "UPDATE recording_segments SET bytes = bytes WHERE id = ''",
            )
            .await
        }
    }
}

/// Runs `sql` in a transaction of its own and holds that open until the [`LogHold`] is
/// released.
async fn hold(store: &Store, sql: &'static str) -> Result<LogHold, StoreError> {
    let (locked_tx, locked) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let store = store.clone();
    let done = tokio::spawn(async move {
        crate::with_pool!(store, p => {
            let mut tx = p.begin().await?;
            sqlx::query(sql).execute(&mut *tx).await?;
            let _ = locked_tx.send(());
            let _ = released.await;
            tx.commit().await?;
        });
        Ok::<(), StoreError>(())
    });
    if locked.await.is_err() {
        return Err(match done.await {
            Ok(Err(e)) => e,
            _ => StoreError::Unavailable("the log holder ended before locking".into()),
        });
    }
    Ok(LogHold { release, done })
}

impl LogHold {
    /// Commits the holding transaction: the changes waiting behind it go on.
    pub async fn release(self) -> Result<(), StoreError> {
        let _ = self.release.send(());
        self.done
            .await
            .map_err(|e| StoreError::Unavailable(format!("the log holder failed: {e}")))?
    }
}

/// Every place among the long reads, held until dropped: what a storm of reconnecting
/// consoles does to the store, without the storm.
pub struct LongReadsHeld {
    _held: Vec<crate::LongRead>,
}

/// Takes every long-read place of `store`.
pub async fn hold_long_reads(store: &Store) -> LongReadsHeld {
    let mut held = vec![];
    for _ in 0..store.long_read_slots() {
        held.push(store.long_read().await);
    }
    LongReadsHeld { _held: held }
}
