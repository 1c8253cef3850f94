//! gridwatch's storage: the one place that holds SQL.
//!
//! A [`Store`] wraps either an SQLite pool (the embedded default: one file, WAL) or a
//! PostgreSQL pool (production). Every query is written once, in SQL both dialects accept
//! (`$1` placeholders, numbered in the order they first appear), and run on whichever pool is
//! open through the [`with_pool!`] macro; where the dialects really differ, the method matches
//! on [`Backend`]. Rows are decoded into private `…Row` structs and converted into the domain
//! types of `gridwatch-core` here, so no caller ever sees a database type.
//!
//! Migrations are embedded, one folder per dialect (`migrations/sqlite`, `migrations/postgres`
//! at the workspace root), and run by [`Store::open`].

mod busy;
mod cameras;
mod changes;
pub mod checkpoint;
mod consoles;
mod deadlines;
mod devices;
mod dewarp;
mod error;
mod events;
mod evidence;
mod false_alarms;
mod grids;
mod group_commit;
mod incidents;
mod ingest_workers;
mod leases;
mod motion;
mod notify;
mod outages;
mod posts;
mod recordings;
mod reports;
pub mod sealed;
pub mod secret;
mod sessions;
mod snapshots;
pub mod testing;
mod time;
mod users;

pub use busy::sqlite_busy_retries;
pub use changes::{Applied, Fired, RaiseOutcome, RaiseRequest, Raised};
pub use consoles::Console;
pub use deadlines::{DeadlineRow, PendingDeadline};
pub use error::StoreError;
pub use evidence::AwaitingEvidence;
pub use incidents::IncidentFilter;
pub use ingest_workers::{CameraHolder, IngestWorker, WorkerRecordings};
pub use notify::{AttemptOutcome, NewDelivery, NotifyAttempt};
pub use recordings::{
    CameraRecording, DirBytes, Inserted, RecordingDir, SegmentFence, SegmentFile, SegmentSource,
};
pub use reports::{NO_GRID, NO_POST};
pub use sessions::Session;
pub use snapshots::IncidentSnapshot;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Runs `$body` with `$p` bound to whichever pool the store has open. The body is compiled
/// once per backend, so it may only use what both sqlx drivers offer.
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use with_pool;

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Most connections an SQLite pool opens, whatever is configured: SQLite has one writer, and
/// more connections only make them queue for it in more threads (measured with the SOS intake
/// benchmark on 2 cores: 4 connections took 3,400–4,300 SOS/s where 16 took 2,000–2,800).
pub const SQLITE_MAX_CONNECTIONS: u32 = 4;

/// Creates the SQLite file readable by its owner only (`0600`), whatever the umask, before
/// SQLite opens it: it holds residents' names, phones and addresses. SQLite gives its `-wal`
/// and `-shm` files the database file's permissions. An existing file is left as it is.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Config(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// The key camera passwords are sealed with ([`sealed`]); without one they are stored
    /// as given.
    pub credential_key: Option<sealed::CredentialKey>,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            max_connections: 16,
            credential_key: None,
        }
    }
}

/// The database, open and migrated. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
    /// Group commit for raises (see `group_commit`).
    raises: group_commit::GroupCommit,
    credential_key: Option<sealed::CredentialKey>,
    /// Long reads (a console's hello and replay, the incident history, the report) hold one of
    /// these while they run: at most half the pool, so that however many consoles reconnect
    /// at once, the rest of the pool is left to what must not wait — an SOS, its session's
    /// lookup, a responder's acknowledgement (issue 15: 1,000 replays took every connection
    /// and an SOS waited 30 s).
    long_reads: std::sync::Arc<tokio::sync::Semaphore>,
    long_read_slots: usize,
    /// How to open another connection to the SQLite file (the checkpointer's).
    sqlite_options: Option<SqliteConnectOptions>,
}

/// A place among the long reads (see `Store::long_read`).
pub(crate) struct LongRead {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Store {
    /// Waits for a place among the long reads; held until the read is done.
    pub(crate) async fn long_read(&self) -> LongRead {
        let permit = self
            .long_reads
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        LongRead { _permit: permit }
    }

    /// How many long reads may run at once (half the pool, at least one).
    pub fn long_read_slots(&self) -> usize {
        self.long_read_slots
    }

    /// How many long reads run now.
    pub fn long_reads_running(&self) -> usize {
        self.long_read_slots - self.long_reads.available_permits()
    }

    /// Opens the database named by the URL, creating an SQLite file if needed, and applies
    /// every pending migration.
    pub async fn open(opts: &StoreOptions) -> Result<Store, StoreError> {
        let store = Store::connect(opts).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without touching its schema.
    pub async fn connect(opts: &StoreOptions) -> Result<Store, StoreError> {
        let url = opts.url.as_str();
        let (pool, backend, sqlite_options) = if url.starts_with("sqlite:") {
            let co = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad SQLite URL {url:?}: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before the hub answers, so an SOS answered 2xx
                // survives a power cut too, not only a crash of the process (which NORMAL
                // would survive in WAL mode). A community centre's box losing power is a
                // crash the promise must cover; the raises' group commit shares the sync.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Checkpoints are the hub's checkpointer's, not a commit's (see `checkpoint`).
                .pragma(
                    "wal_autocheckpoint",
                    checkpoint::AUTOCHECKPOINT_PAGES.to_string(),
                );
            if let Some(dir) = co.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Config(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            create_private(co.get_filename())?;
            let pool = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.clamp(1, SQLITE_MAX_CONNECTIONS))
                .after_connect(|conn, _| Box::pin(busy::install(conn)))
                .connect_with(co.clone())
                .await?;
            (Pool::Sqlite(pool), Backend::Sqlite, Some(co))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let co = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(co)
                .await?;
            (Pool::Postgres(pool), Backend::Postgres, None)
        } else {
            return Err(StoreError::Config(format!(
                "database_url must start with sqlite:// or postgres://, not {:?}",
                url.split(':').next().unwrap_or("")
            )));
        };
        let connections = match &pool {
            Pool::Sqlite(p) => p.options().get_max_connections(),
            Pool::Postgres(p) => p.options().get_max_connections(),
        } as usize;
        let long_read_slots = (connections / 2).max(1);
        Ok(Store {
            pool,
            backend,
            raises: Default::default(),
            credential_key: opts.credential_key.clone(),
            long_reads: std::sync::Arc::new(tokio::sync::Semaphore::new(long_read_slots)),
            long_read_slots,
            sqlite_options,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations this binary carries that the database lacks.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("../../migrations/sqlite").run(p).await?,
            Pool::Postgres(p) => sqlx::migrate!("../../migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Whether the database answers and has every migration this binary knows applied.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let expected = match self.backend {
            Backend::Sqlite => sqlx::migrate!("../../migrations/sqlite").iter().count(),
            Backend::Postgres => sqlx::migrate!("../../migrations/postgres").iter().count(),
        } as i64;
        let applied: i64 = with_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE",
            )
            .fetch_one(p)
            .await?
        });
        if applied < expected {
            return Err(StoreError::Config(format!(
                "{applied} of {expected} migrations applied: run `gridwatch migrate`"
            )));
        }
        Ok(())
    }

    /// Closes every connection, waiting for queries under way.
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SOS answered 2xx must survive a power cut: every SQLite connection syncs each commit.
    #[tokio::test]
    async fn sqlite_commits_are_synced_to_disk() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        let store = Store::open(&StoreOptions::new(url)).await.unwrap();
        let Pool::Sqlite(pool) = &store.pool else {
            panic!("an SQLite store");
        };
        // 2 = FULL (0 OFF, 1 NORMAL, 3 EXTRA).
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(level, 2);
    }
}
